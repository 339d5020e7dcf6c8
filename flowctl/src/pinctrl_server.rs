//! flowctl's end of the pinctrl channel: a Unix socket in OVN_RUNDIR. Every connected pinctrl
//! gets a snapshot of the shared state, then deltas; its intents become Southbound writes in
//! flowctl's own transactions and are acknowledged once committed.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use shared::channel;
use shared::ovsdb::{Condition, Datum, Operation, Uuid};
use shared::pinctrl_link::{
    FromFlowctl, FromPinctrl, IntentKind, IntentLedger, McastQuerier, Record, RecordKey, State, PROTOCOL_VERSION,
};
use tokio::net::UnixListener;
use tokio::sync::mpsc;

use crate::db::{insert, update, Db};

/// Intents per Southbound transaction.
const BATCH: usize = 256;

/// An event from a connected pinctrl, tagged with its connection.
pub enum PeerEvent {
    Connected { peer: u64, sender: channel::Sender },
    Message { peer: u64, msg: FromPinctrl },
    Closed { peer: u64 },
}

pub struct PinctrlServer {
    pub path: PathBuf,
    peers: BTreeMap<u64, channel::Sender>,
    /// What every peer has been told, and the sequence number of the last delta.
    state: State,
    seq: u64,
    pub ledger: IntentLedger,
    /// The current Southbound transaction carries the in-flight batch.
    pub batch_in_txn: bool,
}

impl Drop for PinctrlServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Listens and forwards peer events to `events`.
pub fn listen(events: mpsc::Sender<PeerEvent>) -> std::io::Result<PinctrlServer> {
    let path = shared::pinctrl_link::socket_path();
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    // Only this user (root) may speak for pinctrl.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    tokio::spawn(async move {
        let mut next_peer = 0u64;
        loop {
            let stream = match listener.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!("pinctrl channel: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let same_user = stream.peer_cred().is_ok_and(|c| c.uid() == nix::unistd::geteuid().as_raw());
            if !same_user {
                tracing::warn!("pinctrl channel: refusing a peer of another user");
                continue;
            }
            next_peer += 1;
            let peer = next_peer;
            let (sender, mut inbox) = channel::open::<FromPinctrl>(stream, "pinctrl channel");
            if events.send(PeerEvent::Connected { peer, sender }).await.is_err() {
                return;
            }
            let to_loop = events.clone();
            tokio::spawn(async move {
                while let Some(msg) = inbox.recv().await {
                    if to_loop.send(PeerEvent::Message { peer, msg }).await.is_err() {
                        return;
                    }
                }
                let _ = to_loop.send(PeerEvent::Closed { peer }).await;
            });
        }
    });
    Ok(PinctrlServer {
        path,
        peers: BTreeMap::new(),
        state: State::default(),
        seq: 0,
        ledger: IntentLedger::default(),
        batch_in_txn: false,
    })
}

impl PinctrlServer {
    pub fn connected(&self) -> usize {
        self.peers.len()
    }

    pub fn on_event(&mut self, event: PeerEvent) {
        match event {
            PeerEvent::Connected { peer, sender } => {
                tracing::info!("pinctrl connected");
                sender.send(&FromFlowctl::Hello { version: PROTOCOL_VERSION });
                self.send_snapshot(&sender);
                self.peers.insert(peer, sender);
            }
            PeerEvent::Closed { peer } => {
                if self.peers.remove(&peer).is_some() {
                    tracing::info!("pinctrl disconnected");
                }
            }
            PeerEvent::Message { peer, msg } => match msg {
                FromPinctrl::Hello { version } if version != PROTOCOL_VERSION => {
                    tracing::error!(
                        "pinctrl speaks channel protocol {version}, flowctl {PROTOCOL_VERSION}: dropping it"
                    );
                    self.peers.remove(&peer);
                }
                FromPinctrl::Hello { .. } => {}
                FromPinctrl::Resync => {
                    if let Some(sender) = self.peers.get(&peer) {
                        self.send_snapshot(sender);
                    }
                }
                FromPinctrl::Intents { intents } => {
                    let ack = self.ledger.receive(intents);
                    if !ack.is_empty() {
                        if let Some(sender) = self.peers.get(&peer) {
                            sender.send(&FromFlowctl::Ack { ids: ack });
                        }
                    }
                }
            },
        }
    }

    fn send_snapshot(&self, sender: &channel::Sender) {
        sender.send(&FromFlowctl::Snapshot { seq: self.seq, records: self.state.records().cloned().collect() });
    }

    /// Sends a change of the state to every peer and applies it to the state kept for the
    /// snapshots of peers that connect later.
    pub fn publish(&mut self, (upserts, removals): (Vec<Record>, Vec<RecordKey>)) {
        if upserts.is_empty() && removals.is_empty() {
            return;
        }
        self.seq += 1;
        let delta = FromFlowctl::Delta { seq: self.seq, upserts, removals };
        self.peers.retain(|_, s| s.send(&delta));
        if let FromFlowctl::Delta { upserts, removals, .. } = delta {
            self.state.apply(upserts, removals);
        }
    }

    /// The Southbound transaction carrying the batch committed or failed.
    pub fn batch_done(&mut self, ok: bool) {
        if !std::mem::take(&mut self.batch_in_txn) {
            return;
        }
        if ok {
            let ids = self.ledger.committed();
            let ack = FromFlowctl::Ack { ids };
            for s in self.peers.values() {
                s.send(&ack);
            }
        } else {
            self.ledger.failed();
        }
    }

    /// Operations for the next batch of intents, as idempotent upserts against what the
    /// replica holds. Call only when a Southbound transaction is about to be sent.
    pub fn batch_ops(&mut self, sb: &Db, now_ms: i64) -> Vec<Operation> {
        let batch = self.ledger.take_batch(BATCH);
        if batch.is_empty() {
            return Vec::new();
        }
        self.batch_in_txn = true;
        let mut ops = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        let chassis = self.chassis_uuid(sb);
        // Newest first: when a batch holds two writes of one row, the later one wins.
        for (n, intent) in batch.iter().enumerate().rev() {
            match &intent.kind {
                IntentKind::IgmpGroup { datapath_key, address, ports } => {
                    if !seen.insert(("igmp", datapath_key.to_string(), address.clone())) {
                        continue;
                    }
                    let (Some(ch), Some(dp)) = (chassis, datapath_by_key(sb, *datapath_key)) else { continue };
                    ops.extend(igmp_group_ops(sb, ch, dp, address, ports.as_deref(), n));
                }
                IntentKind::ControllerEvent { event_type, info } => {
                    let Some(ch) = chassis else { continue };
                    let key: String = info.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
                    if !seen.insert(("event", event_type.clone(), key)) {
                        continue;
                    }
                    ops.extend(controller_event_ops(sb, ch, event_type, info, n));
                }
                IntentKind::ServiceMonitorStatus { uuid, status } => {
                    if !seen.insert(("svc", uuid.clone(), String::new())) {
                        continue;
                    }
                    let Ok(u) = uuid.parse::<shared::ovsdb::Uuid>() else { continue };
                    if let Some(row) = sb.row("Service_Monitor", &u) {
                        if row.get_str("status") != Some(status) {
                            ops.push(update(
                                "Service_Monitor",
                                u,
                                BTreeMap::from([("status".into(), status.as_str().into())]),
                            ));
                        }
                    }
                }
                IntentKind::BindVport { datapath_key, vport_key, parent_key } => {
                    if !seen.insert(("vport", datapath_key.to_string(), vport_key.to_string())) {
                        continue;
                    }
                    let Some(ch) = chassis else { continue };
                    ops.extend(bind_vport_ops(sb, ch, *datapath_key, *vport_key, *parent_key));
                }
                IntentKind::MacBinding { datapath_key, logical_port, ip, mac } => {
                    if !seen.insert(("mb", logical_port.clone(), ip.clone())) {
                        continue;
                    }
                    let Some(dp) = datapath_by_key(sb, *datapath_key) else {
                        tracing::debug!(
                            "MAC binding for {logical_port} {ip}: datapath {datapath_key} not local, dropped"
                        );
                        continue;
                    };
                    let existing = sb
                        .rows("MAC_Binding")
                        .find(|(_, r)| r.get_str("logical_port") == Some(logical_port) && r.get_str("ip") == Some(ip));
                    match existing {
                        Some((_, r)) if r.get_str("mac") == Some(mac) => {}
                        Some((uuid, _)) => ops.push(update(
                            "MAC_Binding",
                            *uuid,
                            BTreeMap::from([("mac".into(), mac.as_str().into()), ("timestamp".into(), now_ms.into())]),
                        )),
                        None => ops.push(insert(
                            "MAC_Binding",
                            BTreeMap::from([
                                ("logical_port".into(), logical_port.as_str().into()),
                                ("ip".into(), ip.as_str().into()),
                                ("mac".into(), mac.as_str().into()),
                                ("datapath".into(), Datum::scalar(dp)),
                                ("timestamp".into(), now_ms.into()),
                            ]),
                            &format!("mb{n}"),
                        )),
                    }
                }
                IntentKind::Fdb { datapath_key, port_key, mac } => {
                    if !seen.insert(("fdb", datapath_key.to_string(), mac.clone())) {
                        continue;
                    }
                    let existing = sb.rows("FDB").find(|(_, r)| {
                        r.get_i64("dp_key") == Some(i64::from(*datapath_key)) && r.get_str("mac") == Some(mac)
                    });
                    match existing {
                        Some((_, r)) if r.get_i64("port_key") == Some(i64::from(*port_key)) => {}
                        Some((uuid, _)) => ops.push(Operation::Update {
                            table: "FDB".into(),
                            conditions: vec![Condition::uuid(*uuid)],
                            row: BTreeMap::from([("port_key".into(), i64::from(*port_key).into())]),
                        }),
                        None => ops.push(insert(
                            "FDB",
                            BTreeMap::from([
                                ("mac".into(), mac.as_str().into()),
                                ("dp_key".into(), i64::from(*datapath_key).into()),
                                ("port_key".into(), i64::from(*port_key).into()),
                            ]),
                            &format!("fdb{n}"),
                        )),
                    }
                }
            }
        }
        ops
    }
}

impl PinctrlServer {
    /// This chassis's row, by the name in the shared state.
    fn chassis_uuid(&self, sb: &Db) -> Option<shared::ovsdb::Uuid> {
        let Some(Record::Chassis { name, .. }) = self.state.get(&shared::pinctrl_link::RecordKey::Chassis) else {
            return None;
        };
        sb.rows("Chassis").find(|(_, r)| r.get_str("name") == Some(name)).map(|(u, _)| *u)
    }
}

fn port_by_key(sb: &Db, dp: shared::ovsdb::Uuid, key: u32) -> Option<(&shared::ovsdb::Uuid, &shared::ovsdb::Row)> {
    sb.rows("Port_Binding")
        .find(|(_, r)| r.get_uuid("datapath") == Some(dp) && r.get_i64("tunnel_key") == Some(i64::from(key)))
}

/// IGMP_Group(address, datapath, chassis) with these ports, or deleted (23.03's
/// igmp_group_create / igmp_group_update_ports / igmp_group_delete). Ports that are not
/// in the replica are left out, as 23.03's lookup by key skips them.
fn igmp_group_ops(
    sb: &Db,
    chassis: shared::ovsdb::Uuid,
    dp: shared::ovsdb::Uuid,
    address: &str,
    ports: Option<&[u32]>,
    n: usize,
) -> Vec<Operation> {
    let existing = sb.rows("IGMP_Group").find(|(_, r)| {
        r.get_str("address") == Some(address)
            && r.get_uuid("datapath") == Some(dp)
            && r.get_uuid("chassis") == Some(chassis)
    });
    let Some(ports) = ports else {
        return existing
            .map(|(u, _)| Operation::Delete { table: "IGMP_Group".into(), conditions: vec![Condition::uuid(*u)] })
            .into_iter()
            .collect();
    };
    let want: std::collections::BTreeSet<shared::ovsdb::Uuid> =
        ports.iter().filter_map(|k| port_by_key(sb, dp, *k)).map(|(u, _)| *u).collect();
    match existing {
        Some((_, r))
            if crate::db::uuid_set(r, "ports").into_iter().collect::<std::collections::BTreeSet<_>>() == want =>
        {
            Vec::new()
        }
        Some((u, _)) => vec![update("IGMP_Group", *u, BTreeMap::from([("ports".into(), Datum::set(want))]))],
        None => vec![insert(
            "IGMP_Group",
            BTreeMap::from([
                ("address".into(), address.into()),
                ("datapath".into(), Datum::scalar(dp)),
                ("chassis".into(), Datum::scalar(chassis)),
                ("ports".into(), Datum::set(want)),
            ]),
            &format!("igmp{n}"),
        )],
    }
}

/// A Controller_Event row of this chassis unless one with the same type and info exists
/// (23.03's controller_event_run). 23.03 numbers them with a per-process counter; flowctl
/// continues after the highest seq_num of this chassis's rows, so a restart does not
/// reuse numbers still in the table.
fn controller_event_ops(
    sb: &Db,
    chassis: shared::ovsdb::Uuid,
    event_type: &str,
    info: &BTreeMap<String, String>,
    n: usize,
) -> Vec<Operation> {
    let mine = || sb.rows("Controller_Event").filter(|(_, r)| r.get_uuid("chassis") == Some(chassis));
    if mine()
        .any(|(_, r)| r.get_str("event_type") == Some(event_type) && crate::db::string_map(r, "event_info") == *info)
    {
        return Vec::new();
    }
    let seq = mine().filter_map(|(_, r)| r.get_i64("seq_num")).max().unwrap_or(0) + 1 + n as i64;
    vec![insert(
        "Controller_Event",
        BTreeMap::from([
            ("event_type".into(), event_type.into()),
            ("event_info".into(), crate::db::string_map_datum(info)),
            ("chassis".into(), Datum::scalar(chassis)),
            ("seq_num".into(), seq.into()),
        ]),
        &format!("ev{n}"),
    )]
}

/// Claims virtual port `vport_key` for this chassis with `parent_key` as its parent, only
/// for a port of type "virtual" whose parent exists (23.03's run_put_vport_binding).
fn bind_vport_ops(
    sb: &Db,
    chassis: shared::ovsdb::Uuid,
    dp_key: u32,
    vport_key: u32,
    parent_key: u32,
) -> Vec<Operation> {
    let Some(dp) = datapath_by_key(sb, dp_key) else { return Vec::new() };
    let Some((vp_uuid, vp)) = port_by_key(sb, dp, vport_key) else {
        tracing::warn!("unknown logical port with datapath {dp_key} and port {vport_key}");
        return Vec::new();
    };
    if vp.get_str("type") != Some("virtual") {
        return Vec::new();
    }
    let Some(parent) = port_by_key(sb, dp, parent_key).and_then(|(_, p)| p.get_str("logical_port")) else {
        return Vec::new();
    };
    let name = vp.get_str("logical_port").unwrap_or("");
    if vp.get_uuid("chassis") == Some(chassis) && vp.get_set("virtual_parent").any(|a| a.as_str() == Some(parent)) {
        return Vec::new();
    }
    tracing::info!("Claiming virtual lport {name} for this chassis with the virtual parent {parent}");
    vec![update(
        "Port_Binding",
        *vp_uuid,
        BTreeMap::from([("chassis".into(), Datum::scalar(chassis)), ("virtual_parent".into(), parent.into())]),
    )]
}

fn datapath_by_key(sb: &Db, key: u32) -> Option<shared::ovsdb::Uuid> {
    sb.rows("Datapath_Binding").find(|(_, r)| r.get_i64("tunnel_key") == Some(i64::from(key))).map(|(u, _)| *u)
}

/// What pinctrl's state is made of besides the Southbound rows: this chassis, its bridge,
/// the local datapaths and their keys' table.
type BaseKey = (String, String, BTreeSet<Uuid>, Option<Uuid>, Revisions);

/// The inputs of every section of pinctrl's state.
struct Inputs<'a> {
    sb: &'a Db,
    chassis: &'a str,
    bridge: &'a str,
    keys: BTreeMap<Uuid, u32>,
    chassis_uuid: Option<Uuid>,
}

type Section = fn(&Inputs<'_>) -> Vec<Record>;

/// A connection epoch and table revisions ([`Db::revisions`]).
type Revisions = (u64, Vec<u64>);

/// pinctrl's state in sections, each with the Southbound tables it reads: a change rebuilds
/// only the sections of the tables it touched (a MAC binding does not walk every port).
/// Every section also depends on the base inputs; no two make records of the same kind.
const SECTIONS: [(&[&str], Section); 8] = [
    (&["SB_Global"], base_records),
    (&["Port_Binding"], port_records),
    (&["DNS"], |i| dns_records(i.sb, &i.keys)),
    (&["Port_Binding"], |i| ra_ports(i.sb, &i.keys)),
    (&["IP_Multicast", "IGMP_Group", "Port_Binding"], |i| ip_multicast(i.sb, &i.keys, i.chassis_uuid)),
    (&["Port_Binding", "Chassis"], |i| announcements(i.sb, &i.keys, i.chassis_uuid)),
    (&["Service_Monitor", "Port_Binding"], |i| service_monitors(i.sb, &i.keys, i.chassis_uuid)),
    (&["MAC_Binding"], |i| mac_bindings(i.sb, &i.keys)),
];

/// Builds pinctrl's state section by section and tells what changed.
#[derive(Default)]
pub struct StateBuilder {
    base: Option<BaseKey>,
    /// Each section's records and the revisions of its tables they were built from.
    sections: Vec<Option<(Revisions, State)>>,
}

impl StateBuilder {
    /// The records that changed since the last call: upserts and removals.
    pub fn update(
        &mut self,
        sb: &Db,
        chassis: &str,
        bridge: &str,
        local_dps: &BTreeSet<Uuid>,
        chassis_uuid: Option<Uuid>,
    ) -> (Vec<Record>, Vec<RecordKey>) {
        let base: BaseKey = (
            chassis.to_string(),
            bridge.to_string(),
            local_dps.clone(),
            chassis_uuid,
            sb.revisions(&["Datapath_Binding"]),
        );
        let all = self.base.as_ref() != Some(&base);
        self.base = Some(base);
        self.sections.resize_with(SECTIONS.len(), || None);
        let mut inputs: Option<Inputs<'_>> = None;
        let (mut upserts, mut removals) = (Vec::new(), Vec::new());
        for ((tables, build), slot) in SECTIONS.iter().zip(self.sections.iter_mut()) {
            let revs = sb.revisions(tables);
            if !all && slot.as_ref().is_some_and(|(r, _)| *r == revs) {
                continue;
            }
            let inputs = inputs.get_or_insert_with(|| Inputs {
                sb,
                chassis,
                bridge,
                keys: datapath_keys(sb, local_dps),
                chassis_uuid,
            });
            let next = State::from_records(build(inputs));
            let (u, r) = slot.as_ref().map_or_else(|| State::default().diff(&next), |(_, old)| old.diff(&next));
            upserts.extend(u);
            removals.extend(r);
            *slot = Some((revs, next));
        }
        (upserts, removals)
    }
}

fn datapath_keys(sb: &Db, local_dps: &BTreeSet<Uuid>) -> BTreeMap<Uuid, u32> {
    local_dps
        .iter()
        .filter_map(|dp| {
            let key = crate::db::tunnel_key(sb.row("Datapath_Binding", dp)?)?;
            Some((*dp, key))
        })
        .collect()
}

/// This chassis, the local datapaths and the Southbound options.
fn base_records(i: &Inputs<'_>) -> Vec<Record> {
    let mut records = vec![Record::Chassis { name: i.chassis.to_string(), bridge: i.bridge.to_string() }];
    for (dp, key) in &i.keys {
        let name = i.sb.row("Datapath_Binding", dp).and_then(|r| r.get_map_str("external_ids", "name"));
        records.push(Record::Datapath { key: *key, uuid: dp.to_string(), name: name.unwrap_or("").to_string() });
    }
    if let Some((_, g)) = i.sb.rows("SB_Global").next() {
        for (key, value) in crate::db::string_map(g, "options") {
            records.push(Record::SbOption { key, value });
        }
    }
    records
}

/// The ports of the local datapaths.
fn port_records(i: &Inputs<'_>) -> Vec<Record> {
    let mut records = Vec::new();
    for (_, pb) in i.sb.rows("Port_Binding") {
        let (Some(name), Some(dp)) = (pb.get_str("logical_port"), pb.get_uuid("datapath")) else { continue };
        let (Some(dp_key), Some(key)) = (i.keys.get(&dp), crate::db::tunnel_key(pb)) else {
            continue;
        };
        let macs = pb.get_set("mac").filter_map(|a| a.as_str().map(String::from)).collect();
        let local = i.chassis_uuid.is_some() && pb.get_uuid("chassis") == i.chassis_uuid;
        records.push(Record::Port {
            name: name.to_string(),
            datapath_key: *dp_key,
            key,
            kind: pb.get_str("type").unwrap_or("").to_string(),
            macs,
            local,
        });
    }
    records
}

/// The DNS rows `dns_lookup` answers from (23.03's `sync_dns_cache`: keyed by
/// `external_ids:dns_id`, rows without one skipped), limited to the local datapaths: the
/// lookup is by the packet's datapath, and packet-ins come only from local ones.
fn dns_records(sb: &Db, keys: &BTreeMap<shared::ovsdb::Uuid, u32>) -> Vec<Record> {
    let mut out = Vec::new();
    for (_, row) in sb.rows("DNS") {
        let Some(id) = row.get_map_str("external_ids", "dns_id") else { continue };
        let datapaths: Vec<u32> =
            crate::db::uuid_set(row, "datapaths").iter().filter_map(|u| keys.get(u)).copied().collect();
        if datapaths.is_empty() {
            continue;
        }
        out.push(Record::Dns { id: id.to_string(), datapaths, records: crate::db::string_map(row, "records") });
    }
    out
}

/// "MAC [IP...] [is_chassis_resident(\"PORT\")]": the MAC, its IPv4 addresses, and the
/// resident port if named (extract_addresses_with_port); None if it does not parse.
fn parse_nat_address(s: &str) -> Option<(String, Vec<String>, Option<String>)> {
    let (addrs, lport) = match s.find("is_chassis_resident") {
        Some(i) => {
            let rest = s.get(i + "is_chassis_resident".len()..)?.trim();
            let inner = rest.strip_prefix('(')?.trim().strip_suffix(')')?.trim();
            let name = inner.strip_prefix('"')?.strip_suffix('"')?;
            (s.get(..i)?, Some(name.to_string()))
        }
        None => (s, None),
    };
    let mut words = addrs.split_whitespace();
    let mac = words.next()?;
    if mac.split(':').count() != 6 || !mac.split(':').all(|b| u8::from_str_radix(b, 16).is_ok()) {
        return None;
    }
    let mut v4 = Vec::new();
    for w in words {
        let ip = w.split('/').next().unwrap_or(w);
        if let Ok(a) = ip.parse::<std::net::Ipv4Addr>() {
            v4.push(a.to_string());
        } else if ip.parse::<std::net::Ipv6Addr>().is_err() {
            return None;
        }
    }
    Some((mac.to_ascii_lowercase(), v4, lport))
}

/// What this chassis announces with GARPs/RARPs (23.03's send_garp_rarp_prepare): on
/// local datapaths with a localnet port, the VIFs bound here (their first MAC and its
/// first IPv4), and the NAT addresses of l3gateway ports bound here and of patch ports
/// whose `is_chassis_resident` port is bound here.
fn announcements(
    sb: &Db,
    keys: &BTreeMap<shared::ovsdb::Uuid, u32>,
    chassis: Option<shared::ovsdb::Uuid>,
) -> Vec<Record> {
    let Some(chassis) = chassis else { return Vec::new() };
    let with_localnet: std::collections::BTreeSet<shared::ovsdb::Uuid> = sb
        .rows("Port_Binding")
        .filter(|(_, p)| p.get_str("type") == Some("localnet"))
        .filter_map(|(_, p)| p.get_uuid("datapath"))
        .filter(|d| keys.contains_key(d))
        .collect();
    let resident = |name: &str| {
        sb.rows("Port_Binding")
            .any(|(_, p)| p.get_str("logical_port") == Some(name) && p.get_uuid("chassis") == Some(chassis))
    };
    let mut out = Vec::new();
    for (_, pb) in sb.rows("Port_Binding") {
        let Some(dp) = pb.get_uuid("datapath").filter(|d| with_localnet.contains(d)) else { continue };
        let (Some(&datapath_key), Some(port_key), Some(name)) =
            (keys.get(&dp), crate::db::tunnel_key(pb), pb.get_str("logical_port"))
        else {
            continue;
        };
        let ty = pb.get_str("type").unwrap_or("");
        let mine = pb.get_uuid("chassis") == Some(chassis);
        if ty == "l3gateway" && mine || ty == "patch" {
            let mut nat: Vec<String> =
                pb.get_set("nat_addresses").filter_map(|a| a.as_str().map(String::from)).collect();
            if nat.is_empty() {
                nat.extend(pb.get_map_str("options", "nat-addresses").map(String::from));
            }
            for n in nat {
                let Some((mac, v4, lport)) = parse_nat_address(&n) else { continue };
                match &lport {
                    None if ty == "patch" => continue,
                    Some(l) if !resident(l) => continue,
                    _ => {}
                }
                if v4.is_empty() {
                    out.push(Record::Announce {
                        name: format!("{name}-noip"),
                        datapath_key,
                        port_key,
                        mac: mac.clone(),
                        ipv4: None,
                    });
                }
                for ip in v4 {
                    out.push(Record::Announce {
                        name: format!("{name}-{ip}"),
                        datapath_key,
                        port_key,
                        mac: mac.clone(),
                        ipv4: Some(ip),
                    });
                }
            }
        } else if ty.is_empty() && mine {
            let first = pb.get_set("mac").filter_map(|a| a.as_str()).find_map(parse_nat_address);
            if let Some((mac, v4, _)) = first {
                out.push(Record::Announce {
                    name: name.to_string(),
                    datapath_key,
                    port_key,
                    mac,
                    ipv4: v4.into_iter().next(),
                });
            }
        }
    }
    out
}

/// Service_Monitor rows whose logical port is bound here, with the MAC that 23.03's
/// sync_svc_monitors picks: the port's MAC that carries the monitored IP, or the first MAC
/// of an address entry without IPs.
fn service_monitors(
    sb: &Db,
    keys: &BTreeMap<shared::ovsdb::Uuid, u32>,
    chassis: Option<shared::ovsdb::Uuid>,
) -> Vec<Record> {
    let Some(chassis) = chassis else { return Vec::new() };
    let mut out = Vec::new();
    for (uuid, sm) in sb.rows("Service_Monitor") {
        let Some(lport) = sm.get_str("logical_port") else { continue };
        let Some((_, pb)) = sb.rows("Port_Binding").find(|(_, p)| p.get_str("logical_port") == Some(lport)) else {
            continue;
        };
        if pb.get_uuid("chassis") != Some(chassis) {
            continue;
        }
        let (Some(&datapath_key), Some(port_key)) =
            (pb.get_uuid("datapath").and_then(|d| keys.get(&d)), crate::db::tunnel_key(pb))
        else {
            continue;
        };
        let Some(ip) = sm.get_str("ip").and_then(|i| i.parse::<std::net::IpAddr>().ok()) else { continue };
        let mut mac = None;
        for entry in pb.get_set("mac").filter_map(|a| a.as_str()) {
            let mut words = entry.split_whitespace();
            let Some(m) = words.next().filter(|m| m.split(':').count() == 6) else { continue };
            let ips: Vec<std::net::IpAddr> =
                words.filter_map(|w| w.split('/').next().and_then(|a| a.parse().ok())).collect();
            if ips.contains(&ip) || ips.is_empty() {
                mac = Some(m.to_ascii_lowercase());
                break;
            }
        }
        let Some(mac) = mac else { continue };
        out.push(Record::ServiceMonitor {
            uuid: uuid.to_string(),
            ip: ip.to_string(),
            port: sm.get_i64("port").and_then(|p| u16::try_from(p).ok()).unwrap_or(0),
            protocol: sm.get_set("protocol").next().and_then(|a| a.as_str()).unwrap_or("tcp").to_string(),
            datapath_key,
            port_key,
            mac,
            src_mac: sm.get_str("src_mac").unwrap_or("").to_string(),
            src_ip: sm.get_str("src_ip").unwrap_or("").to_string(),
            options: crate::db::string_map(sm, "options"),
            status: sm.get_set("status").next().and_then(|a| a.as_str()).unwrap_or("").to_string(),
        });
    }
    out
}

/// IP_Multicast of the local datapaths, and the IGMP_Group rows this chassis owns on them
/// (what 23.03's ip_mcast_sync reads).
fn ip_multicast(
    sb: &Db,
    keys: &BTreeMap<shared::ovsdb::Uuid, u32>,
    chassis: Option<shared::ovsdb::Uuid>,
) -> Vec<Record> {
    let mut out = Vec::new();
    let opt_u32 = |r: &shared::ovsdb::Row, c: &str| {
        r.get_set(c).next().and_then(|a| a.as_i64()).and_then(|v| u32::try_from(v).ok()).unwrap_or(0)
    };
    let opt = |r: &shared::ovsdb::Row, c: &str| {
        r.get_set(c).next().and_then(|a| a.as_i64()).and_then(|v| u32::try_from(v).ok())
    };
    let flag = |r: &shared::ovsdb::Row, c: &str| r.get_set(c).next().and_then(|a| a.as_bool()).unwrap_or(false);
    for (_, row) in sb.rows("IP_Multicast") {
        let Some(datapath_key) = row.get_uuid("datapath").and_then(|d| keys.get(&d)).copied() else { continue };
        let text = |c: &str| row.get_set(c).next().and_then(|a| a.as_str()).unwrap_or("").to_string();
        let querier = flag(row, "querier").then(|| McastQuerier {
            eth_src: text("eth_src"),
            ip4_src: text("ip4_src"),
            ip6_src: text("ip6_src"),
            query_interval: opt(row, "query_interval"),
            query_max_resp: opt(row, "query_max_resp"),
        });
        out.push(Record::IpMulticast {
            datapath_key,
            enabled: flag(row, "enabled"),
            table_size: opt_u32(row, "table_size"),
            idle_timeout: opt_u32(row, "idle_timeout"),
            seq_no: row.get_i64("seq_no").unwrap_or(0),
            querier,
        });
    }
    let Some(chassis) = chassis else { return out };
    for (_, row) in sb.rows("IGMP_Group") {
        if row.get_uuid("chassis") != Some(chassis) {
            continue;
        }
        let Some(datapath_key) = row.get_uuid("datapath").and_then(|d| keys.get(&d)).copied() else { continue };
        let ports = crate::db::uuid_set(row, "ports")
            .iter()
            .filter_map(|u| sb.row("Port_Binding", u))
            .filter_map(crate::db::tunnel_key)
            .collect();
        let address = row.get_str("address").unwrap_or("").to_string();
        out.push(Record::IgmpGroup { datapath_key, address, ports });
    }
    out
}

/// MAC_Binding rows of the local datapaths (what 23.03's run_buffered_binding looks the
/// buffered packets' next hops up in, and what `debug/dump-mac-bindings` lists).
fn mac_bindings(sb: &Db, keys: &BTreeMap<shared::ovsdb::Uuid, u32>) -> Vec<Record> {
    let mut out = Vec::new();
    for (_, row) in sb.rows("MAC_Binding") {
        let Some(&datapath_key) = row.get_uuid("datapath").and_then(|d| keys.get(&d)) else { continue };
        let (Some(logical_port), Some(ip), Some(mac)) =
            (row.get_str("logical_port"), row.get_str("ip"), row.get_str("mac"))
        else {
            continue;
        };
        out.push(Record::MacBinding {
            datapath_key,
            logical_port: logical_port.to_string(),
            ip: ip.to_string(),
            mac: mac.to_string(),
        });
    }
    out
}

/// Router ports of local datapaths that send periodic router advertisements (23.03's
/// `local_active_ports_ras` + `prepare_ipv6_ras`): `options:ipv6_ra_send_periodic=true` and
/// a `peer` port, into whose switch the advertisements are injected.
fn ra_ports(sb: &Db, keys: &BTreeMap<shared::ovsdb::Uuid, u32>) -> Vec<Record> {
    let mut out = Vec::new();
    for (_, pb) in sb.rows("Port_Binding") {
        let Some(dp) = pb.get_uuid("datapath") else { continue };
        if !keys.contains_key(&dp) || pb.get_map_str("options", "ipv6_ra_send_periodic") != Some("true") {
            continue;
        }
        let (Some(name), Some(peer)) = (pb.get_str("logical_port"), pb.get_map_str("options", "peer")) else {
            continue;
        };
        let Some((_, peer_pb)) = sb.rows("Port_Binding").find(|(_, p)| p.get_str("logical_port") == Some(peer)) else {
            continue;
        };
        let peer_dp_key = peer_pb
            .get_uuid("datapath")
            .and_then(|u| sb.row("Datapath_Binding", &u))
            .and_then(|d| d.get_i64("tunnel_key"))
            .and_then(|k| u32::try_from(k).ok());
        let peer_key = crate::db::tunnel_key(peer_pb);
        let (Some(datapath_key), Some(port_key)) = (peer_dp_key, peer_key) else { continue };
        let options =
            crate::db::string_map(pb, "options").into_iter().filter(|(k, _)| k.starts_with("ipv6_ra_")).collect();
        out.push(Record::RaPort { name: name.to_string(), datapath_key, port_key, options });
    }
    out
}
