//! flowctl's end of the pinctrl channel: a Unix socket in OVN_RUNDIR. Every connected pinctrl
//! gets a snapshot of the shared state, then deltas; its intents become Southbound writes in
//! flowctl's own transactions and are acknowledged once committed.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use shared::channel;
use shared::ovsdb::{Condition, Datum, Operation};
use shared::pinctrl_link::{FromFlowctl, FromPinctrl, IntentKind, IntentLedger, Record, State, PROTOCOL_VERSION};
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

    /// Sends what changed since the last call to every peer.
    pub fn publish(&mut self, next: State) {
        let (upserts, removals) = self.state.diff(&next);
        if upserts.is_empty() && removals.is_empty() {
            return;
        }
        self.seq += 1;
        let delta = FromFlowctl::Delta { seq: self.seq, upserts, removals };
        self.peers.retain(|_, s| s.send(&delta));
        self.state = next;
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
        for (n, intent) in batch.iter().enumerate() {
            match &intent.kind {
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

fn datapath_by_key(sb: &Db, key: u32) -> Option<shared::ovsdb::Uuid> {
    sb.rows("Datapath_Binding").find(|(_, r)| r.get_i64("tunnel_key") == Some(i64::from(key))).map(|(u, _)| *u)
}

/// The state pinctrl's handlers need, from the replicas.
pub fn shared_state(
    sb: &Db,
    chassis: &str,
    bridge: &str,
    local_dps: &std::collections::BTreeSet<shared::ovsdb::Uuid>,
    chassis_uuid: Option<shared::ovsdb::Uuid>,
) -> State {
    let mut records = vec![Record::Chassis { name: chassis.to_string(), bridge: bridge.to_string() }];
    let mut keys = BTreeMap::new();
    for dp in local_dps {
        let Some(row) = sb.row("Datapath_Binding", dp) else { continue };
        let Some(key) = row.get_i64("tunnel_key").and_then(|k| u32::try_from(k).ok()) else { continue };
        keys.insert(*dp, key);
        let name = row.get_map_str("external_ids", "name").unwrap_or("").to_string();
        records.push(Record::Datapath { key, uuid: dp.to_string(), name });
    }
    for (_, pb) in sb.rows("Port_Binding") {
        let (Some(name), Some(dp)) = (pb.get_str("logical_port"), pb.get_uuid("datapath")) else { continue };
        let (Some(dp_key), Some(key)) = (keys.get(&dp), pb.get_i64("tunnel_key").and_then(|k| u32::try_from(k).ok()))
        else {
            continue;
        };
        let macs = pb.get_set("mac").filter_map(|a| a.as_str().map(String::from)).collect();
        let local = chassis_uuid.is_some() && pb.get_uuid("chassis") == chassis_uuid;
        records.push(Record::Port {
            name: name.to_string(),
            datapath_key: *dp_key,
            key,
            kind: pb.get_str("type").unwrap_or("").to_string(),
            macs,
            local,
        });
    }
    records.extend(dns_records(sb, &keys));
    records.extend(ra_ports(sb, &keys));
    if let Some((_, g)) = sb.rows("SB_Global").next() {
        for (key, value) in crate::db::string_map(g, "options") {
            records.push(Record::SbOption { key, value });
        }
    }
    State::from_records(records)
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
        let peer_key = peer_pb.get_i64("tunnel_key").and_then(|k| u32::try_from(k).ok());
        let (Some(datapath_key), Some(port_key)) = (peer_dp_key, peer_key) else { continue };
        let options =
            crate::db::string_map(pb, "options").into_iter().filter(|(k, _)| k.starts_with("ipv6_ra_")).collect();
        out.push(Record::RaPort { name: name.to_string(), datapath_key, port_key, options });
    }
    out
}
