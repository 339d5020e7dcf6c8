//! The installer state machine (sans-IO): what the switch has vs. what flowctl wants, and the
//! OpenFlow messages that turn one into the other.
//!
//! Per connection: TLV table (OVN's Geneve option), then a dump of flows, groups and meters;
//! from then on the installed table is what the switch has, and every batch is the difference
//! only, in ONE atomic ordered bundle followed by a barrier. Nothing is ever deleted wholesale,
//! so neither a restart nor a reconnect dips the flow table. One batch at a time: the next one
//! is computed when the previous barrier reply arrives (23.03 waits for an empty tx queue).
//!
//! Errors are attributed by xid to the flow, group or meter they concern (bundle adds carry the
//! inner message's xid, which OVS echoes), logged, and that entry is remembered as failing: an
//! identical mod is not sent again, so a bad flow costs one retry of its batch without it, never
//! a reconnect (23.03 reconnects on any error).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use shared::openflow::errors::ErrorMsg;
use shared::openflow::messages::{
    bundle, flow_mod_command, group_command, meter, mp, BundleAdd, BundleControl, FlowMod, FlowStatsRequest, GroupMod,
    MeterMod, MultipartReplyBody, MultipartRequest, MultipartRequestBody, TlvMap, TlvTableMod, OFPG_ANY, OFPP_ANY,
    OFPTT_ALL,
};
use shared::openflow::text::{format_flow_mod, parse_group_mod, parse_meter_mod};
use shared::openflow::{Match, Message, OfMessage};

use crate::desired::FlowChange;
use crate::flows::{DesiredGroup, DesiredMeter, DesiredState, FxBuild};

/// OVN's Geneve option (class 0x0102, type 0x80, 4 bytes), mapped to a `tun_metadata` field.
pub const OVN_GENEVE_CLASS: u16 = 0x0102;
pub const OVN_GENEVE_TYPE: u8 = 0x80;
pub const OVN_GENEVE_LEN: u8 = 4;

/// Chunks of encoded messages handed to the connection (one write each).
const CHUNK: usize = 1 << 16;

pub use crate::flows::{FlowBody, FlowKey};

/// What the owner learns.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// Everything desired up to this generation is on the switch (barrier acknowledged),
    /// except entries that the switch rejected.
    Installed { generation: u64 },
    /// The tun_metadata index of OVN's Geneve option (None: Geneve unavailable).
    Geneve(Option<u16>),
}

/// Counters of what was sent, for tests and `ofctrl` statistics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    pub connections: u64,
    pub batches: u64,
    pub flow_adds: u64,
    pub flow_modifies: u64,
    pub flow_deletes: u64,
    pub group_mods: u64,
    pub meter_mods: u64,
    pub errors: u64,
    /// Flows found on the switch by the last dump.
    pub dumped_flows: u64,
}

impl Stats {
    pub fn flow_mods(&self) -> u64 {
        self.flow_adds + self.flow_modifies + self.flow_deletes
    }
}

type HashMap<K, V> = std::collections::HashMap<K, V, FxBuild>;
type FxHashSet<K> = std::collections::HashSet<K, FxBuild>;

/// Output of one step: messages to send (in order) and events. Messages are encoded by
/// [`encode_chunks`] as they are written, so that encoding a large batch overlaps with the
/// switch processing its start.
#[derive(Debug, Default)]
pub struct Out {
    pub msgs: Vec<OfMessage>,
    pub events: Vec<Event>,
}

impl Out {
    fn push(&mut self, m: OfMessage) {
        self.msgs.push(m);
    }

    /// Append another step's output.
    pub fn extend(&mut self, o: Out) {
        self.msgs.extend(o.msgs);
        self.events.extend(o.events);
    }
}

/// Encode messages into chunks of about 64 KiB; `too_long` gets the xid of each message that
/// OpenFlow cannot carry (report it with [`Installer::unsendable`]).
pub fn encode_chunks<'a>(
    msgs: impl IntoIterator<Item = OfMessage> + 'a,
    mut too_long: impl FnMut(u32) + 'a,
) -> impl Iterator<Item = Vec<u8>> + 'a {
    let mut msgs = msgs.into_iter();
    std::iter::from_fn(move || {
        let mut c = Vec::with_capacity(CHUNK + 512);
        while c.len() < CHUNK {
            let Some(m) = msgs.next() else { break };
            // (The codec has no encode-into-buffer; one copy per message.)
            match m.try_encode() {
                Ok(b) => c.extend_from_slice(&b),
                Err(_) => too_long(m.xid),
            }
        }
        (!c.is_empty()).then_some(c)
    })
}

#[derive(Debug)]
enum Phase {
    Disconnected,
    TlvRequested { xid: u32 },
    TlvModSent { modx: u32, barrier: u32, index: u16, failed: bool, retry: bool },
    Dumping { flows: Option<u32>, groups: Option<u32>, meters: Option<u32> },
    Ready,
}

#[derive(Debug)]
enum Target {
    Flow(Arc<FlowKey>, Option<Arc<FlowBody>>),
    Group(u32, Option<String>),
    Meter(u32, Option<String>),
    BundleCommit,
    /// Bundle open, barrier.
    None,
}

impl Target {
    fn describe(&self) -> String {
        match self {
            Target::Flow(k, b) => flow_text(k, b.as_deref()),
            Target::Group(id, s) => format!("group {id} {}", s.as_deref().unwrap_or("delete")),
            Target::Meter(id, s) => format!("meter {id} {}", s.as_deref().unwrap_or("delete")),
            Target::BundleCommit => "bundle commit".into(),
            Target::None => "control message".into(),
        }
    }
}

/// A batch's requests by xid: they are consecutive from `first`.
struct Targets {
    first: u32,
    v: Vec<Target>,
}

impl Targets {
    /// Allocate the next xid for `t`.
    fn add(&mut self, xid: &mut u32, t: Target) -> u32 {
        *xid = xid.wrapping_add(1).max(1);
        self.v.push(t);
        *xid
    }

    fn get(&self, xid: u32) -> Option<&Target> {
        self.v.get(usize::try_from(xid.wrapping_sub(self.first)).ok()?)
    }
}

/// The batch on the wire, until its barrier reply.
struct Batch {
    barrier: u32,
    generation: u64,
    targets: Targets,
    failed: HashSet<u32>,
    commit_failed: bool,
}

/// The installer.
pub struct Installer {
    phase: Phase,
    xid: u32,
    bundle_id: u32,
    // Shared between desired, installed and the batch: a flow is deep-copied only into its
    // flow mod.
    installed: HashMap<Arc<FlowKey>, Arc<FlowBody>>,
    /// Installed groups/meters by id, with the spec we installed ("" when learnt from a dump).
    groups: BTreeMap<u32, String>,
    meters: BTreeMap<u32, String>,
    desired: HashMap<Arc<FlowKey>, Arc<FlowBody>>,
    /// Keys changed by deltas since the last batch: all a batch needs to look at, unless
    /// `full_diff` (a new connection, a resync, a whole new desired table, a failed commit).
    dirty: FxHashSet<Arc<FlowKey>>,
    full_diff: bool,
    desired_groups: BTreeMap<u32, String>,
    desired_meters: BTreeMap<u32, (String, String)>,
    generation: u64,
    /// The generation whose difference has been sent (and, without a batch, acknowledged).
    sent: Option<u64>,
    retry: bool,
    batch: Option<Batch>,
    failed_flows: HashMap<Arc<FlowKey>, Arc<FlowBody>>,
    failed_groups: HashMap<u32, String>,
    failed_meters: HashMap<u32, String>,
    /// Flows read from the switch, shared with the desired ones where equal.
    dump: Vec<(Arc<FlowKey>, Arc<FlowBody>)>,
    geneve: Option<u16>,
    /// Conntrack zones to flush (NXT_CT_FLUSH_ZONE) once connected.
    flush_zones: Vec<u16>,
    /// A re-read of the switch's tables was asked for while a batch was out.
    resync: bool,
    pub stats: Stats,
}

impl Default for Installer {
    fn default() -> Self {
        Installer::new()
    }
}

fn flow_text(key: &FlowKey, body: Option<&FlowBody>) -> String {
    format_flow_mod(&FlowMod {
        table_id: key.table,
        priority: key.priority,
        matches: key.m.clone(),
        cookie: body.map_or(0, |b| b.cookie),
        actions: body.map(|b| b.actions.clone()).unwrap_or_default(),
        ..FlowMod::default()
    })
}

/// Group or meter ids in a group-desc / meter-config multipart body: entries start with a
/// 16-bit length, the id is at byte 4.
fn entry_ids(body: &[u8]) -> Vec<u32> {
    let mut ids = Vec::new();
    let mut rest = body;
    while let (Some(l), Some(id)) = (rest.get(..2), rest.get(4..8)) {
        let len = usize::from(u16::from_be_bytes([l[0], l[1]]));
        ids.push(u32::from_be_bytes([id[0], id[1], id[2], id[3]]));
        if len < 8 || len > rest.len() {
            break;
        }
        rest = rest.get(len..).unwrap_or_default();
    }
    ids
}

impl Installer {
    pub fn new() -> Installer {
        Installer {
            phase: Phase::Disconnected,
            xid: 0,
            bundle_id: 0,
            installed: HashMap::default(),
            groups: BTreeMap::new(),
            meters: BTreeMap::new(),
            desired: HashMap::default(),
            dirty: FxHashSet::default(),
            full_diff: true,
            desired_groups: BTreeMap::new(),
            desired_meters: BTreeMap::new(),
            generation: 0,
            sent: None,
            retry: false,
            batch: None,
            failed_flows: HashMap::default(),
            failed_groups: HashMap::default(),
            failed_meters: HashMap::default(),
            dump: Vec::new(),
            geneve: None,
            flush_zones: Vec::new(),
            resync: false,
            stats: Stats::default(),
        }
    }

    fn next_xid(&mut self) -> u32 {
        self.xid = self.xid.wrapping_add(1).max(1);
        self.xid
    }

    /// Flows believed installed (what the switch has).
    pub fn installed_len(&self) -> usize {
        self.installed.len()
    }

    /// The last xid used (a batch ends with its barrier).
    pub fn last_xid(&self) -> u32 {
        self.xid
    }

    /// True while a batch awaits its barrier reply.
    pub fn busy(&self) -> bool {
        self.batch.is_some()
    }

    /// A new connection: start over from the TLV table; the installed state is re-read.
    pub fn on_connected(&mut self) -> Out {
        self.stats.connections += 1;
        self.batch = None;
        self.sent = None;
        crate::coverage::OFCTRL_CONNECT.inc();
        let mut out = Out::default();
        let xid = self.next_xid();
        out.push(OfMessage::new(xid, Message::TlvTableRequest));
        self.phase = Phase::TlvRequested { xid };
        // Flushes asked for while disconnected (as 23.03 resends the unacknowledged ones).
        for zone in std::mem::take(&mut self.flush_zones) {
            out.extend(self.flush_ct_zone(zone));
        }
        out
    }

    /// Flush conntrack zone `zone` (a zone newly given to a port or datapath, so that it
    /// starts empty, as 23.03's `add_ct_flush_zone`): sent at once when connected, else on
    /// the next connection. Messages on one connection are processed in order, so the flush
    /// precedes any flow sent after it.
    pub fn flush_ct_zone(&mut self, zone: u16) -> Out {
        let mut out = Out::default();
        if matches!(self.phase, Phase::Disconnected) {
            if !self.flush_zones.contains(&zone) {
                self.flush_zones.push(zone);
            }
            return out;
        }
        let xid = self.next_xid();
        out.push(OfMessage::new(xid, Message::CtFlushZone(zone)));
        crate::coverage::CT_FLUSH_ZONE.inc();
        out
    }

    /// A packet_out on this connection (`inject-pkt`), or 23.03's error when not connected.
    pub fn packet_out(&mut self, po: shared::openflow::messages::PacketOut) -> Result<Out, String> {
        if matches!(self.phase, Phase::Disconnected) {
            return Err("OpenFlow channel not ready.".into());
        }
        let mut out = Out::default();
        let xid = self.next_xid();
        out.push(OfMessage::new(xid, Message::PacketOut(po)));
        Ok(out)
    }

    /// Read the switch's flows, groups and meters again and send whatever differs from the
    /// desired state (`recompute`): repairs changes made behind the installer's back. Waits
    /// for the batch on the wire, if any; nothing is deleted first.
    pub fn resync(&mut self) -> Out {
        if !matches!(self.phase, Phase::Ready) || self.batch.is_some() {
            // Not ready: the dump that readiness needs does this anyway.
            self.resync = matches!(self.phase, Phase::Ready);
            return Out::default();
        }
        self.resync = false;
        self.sent = None;
        self.start_dump(Out::default())
    }

    pub fn on_disconnected(&mut self) {
        self.phase = Phase::Disconnected;
        self.batch = None;
    }

    /// Replace the desired state; sent at once if the switch is ready and idle.
    pub fn set_desired(&mut self, state: &DesiredState, generation: u64) -> Out {
        self.desired.clear();
        self.desired.reserve(state.flows.len());
        for f in &state.flows {
            // The same key and body as the caller's: nothing deep-copied.
            if let Some(prev) = self.desired.get(&f.key) {
                if **prev != *f.body {
                    tracing::debug!("duplicate desired flow, keeping the first: {}", flow_text(&f.key, Some(&f.body)));
                }
                continue;
            }
            self.desired.insert(Arc::clone(&f.key), Arc::clone(&f.body));
        }
        self.full_diff = true;
        self.dirty.clear();
        // Failures of entries no longer wanted are forgotten; changed ones are retried.
        let d = &self.desired;
        self.failed_flows.retain(|k, b| d.get(k) == Some(b));
        self.set_groups_and_meters(&state.groups, &state.meters);
        self.generation = generation;
        self.maybe_send()
    }

    /// Apply the changes made to the desired table since the last update; sent at once if
    /// the switch is ready and idle. Only the changed keys are compared with the switch.
    pub fn apply_delta(
        &mut self,
        flows: &[FlowChange],
        groups: &BTreeMap<u32, DesiredGroup>,
        meters: &BTreeMap<u32, DesiredMeter>,
        generation: u64,
    ) -> Out {
        for (key, body) in flows {
            match body {
                Some(b) => self.desired.insert(Arc::clone(key), Arc::clone(b)),
                None => self.desired.remove(key),
            };
            if self.failed_flows.get(key) != body.as_ref() {
                self.failed_flows.remove(key);
            }
            self.dirty.insert(Arc::clone(key));
        }
        self.set_groups_and_meters(groups, meters);
        self.generation = generation;
        self.maybe_send()
    }

    fn set_groups_and_meters(&mut self, groups: &BTreeMap<u32, DesiredGroup>, meters: &BTreeMap<u32, DesiredMeter>) {
        self.desired_groups = groups.iter().map(|(id, g)| (*id, g.spec.clone())).collect();
        self.desired_meters = meters.iter().map(|(id, m)| (*id, (m.name.clone(), m.spec.clone()))).collect();
        let dg = &self.desired_groups;
        self.failed_groups.retain(|k, s| dg.get(k) == Some(s));
        let dm = &self.desired_meters;
        self.failed_meters.retain(|k, s| dm.get(k).map(|m| &m.1) == Some(s));
    }

    /// A message from the switch.
    pub fn on_message(&mut self, msg: &OfMessage) -> Out {
        if let Message::Error(e) = &msg.body {
            return self.on_error(e);
        }
        match (&mut self.phase, &msg.body) {
            (Phase::TlvRequested { xid }, Message::TlvTableReply(r)) if *xid == msg.xid => {
                let mapped = r.maps.iter().find(|m| {
                    m.option_class == OVN_GENEVE_CLASS
                        && m.option_type == OVN_GENEVE_TYPE
                        && m.option_len == OVN_GENEVE_LEN
                });
                if let Some(m) = mapped {
                    return self.geneve_done(Some(m.index));
                }
                let used: HashSet<u16> = r.maps.iter().map(|m| m.index).collect();
                let Some(index) = (0..r.max_fields.max(1)).find(|i| !used.contains(i)) else {
                    tracing::warn!("no free tun_metadata field for OVN's Geneve option");
                    return self.geneve_done(None);
                };
                let mut out = Out::default();
                let modx = self.next_xid();
                let barrier = self.next_xid();
                let map = TlvMap {
                    option_class: OVN_GENEVE_CLASS,
                    option_type: OVN_GENEVE_TYPE,
                    option_len: OVN_GENEVE_LEN,
                    index,
                };
                out.push(OfMessage::new(
                    modx,
                    Message::TlvTableMod(TlvTableMod {
                        command: shared::openflow::messages::tlv_command::ADD,
                        maps: vec![map],
                    }),
                ));
                out.push(OfMessage::new(barrier, Message::BarrierRequest));
                self.phase = Phase::TlvModSent { modx, barrier, index, failed: false, retry: false };
                out
            }
            (Phase::TlvModSent { barrier, index, failed, retry, .. }, Message::BarrierReply) if *barrier == msg.xid => {
                if *retry {
                    return self.on_connected_again();
                }
                let idx = (!*failed).then_some(*index);
                self.geneve_done(idx)
            }
            (Phase::Dumping { .. }, Message::MultipartReply(r)) => {
                let more = r.flags & mp::MORE != 0;
                let Phase::Dumping { flows, groups, meters } = &mut self.phase else {
                    return Out::default();
                };
                match &r.body {
                    MultipartReplyBody::Flow(fs) if *flows == Some(msg.xid) => {
                        for f in fs {
                            let key = FlowKey::new(f.table_id, f.priority, f.matches.clone());
                            let body = FlowBody { cookie: f.cookie, actions: f.actions.clone() };
                            // A re-read switch (reconnect, recompute) costs no second copy of
                            // the flows it has as desired.
                            let entry = match self.desired.get_key_value(&key) {
                                Some((k, b)) if **b == body => (Arc::clone(k), Arc::clone(b)),
                                Some((k, _)) => (Arc::clone(k), Arc::new(body)),
                                None => (Arc::new(key), Arc::new(body)),
                            };
                            self.dump.push(entry);
                        }
                        if !more {
                            *flows = None;
                        }
                    }
                    MultipartReplyBody::GroupDesc(gs) if *groups == Some(msg.xid) => {
                        for g in gs {
                            self.groups.insert(g.group_id, String::new());
                        }
                        if !more {
                            *groups = None;
                        }
                    }
                    MultipartReplyBody::MeterConfig(ms) if *meters == Some(msg.xid) => {
                        for m in ms {
                            self.meters.insert(m.meter_id, String::new());
                        }
                        if !more {
                            *meters = None;
                        }
                    }
                    // A reply the codec could not type (it keeps the bytes): take the ids.
                    MultipartReplyBody::Other { mp_type: mp::GROUP_DESC, body } if *groups == Some(msg.xid) => {
                        for id in entry_ids(body) {
                            self.groups.insert(id, String::new());
                        }
                        if !more {
                            *groups = None;
                        }
                    }
                    MultipartReplyBody::Other { mp_type: mp::METER_CONFIG, body } if *meters == Some(msg.xid) => {
                        for id in entry_ids(body) {
                            self.meters.insert(id, String::new());
                        }
                        if !more {
                            *meters = None;
                        }
                    }
                    _ => return Out::default(),
                }
                if matches!(self.phase, Phase::Dumping { flows: None, groups: None, meters: None }) {
                    self.installed.clear();
                    self.installed.extend(self.dump.drain(..));
                    self.dump.shrink_to_fit();
                    self.stats.dumped_flows = self.installed.len() as u64;
                    tracing::info!(
                        "switch has {} flows, {} groups, {} meters",
                        self.installed.len(),
                        self.groups.len(),
                        self.meters.len()
                    );
                    self.phase = Phase::Ready;
                    return self.maybe_send();
                }
                Out::default()
            }
            (Phase::Ready, Message::BarrierReply) if self.batch.as_ref().is_some_and(|b| b.barrier == msg.xid) => {
                self.batch_done()
            }
            _ => Out::default(),
        }
    }

    fn on_connected_again(&mut self) -> Out {
        self.stats.connections = self.stats.connections.saturating_sub(1);
        self.on_connected()
    }

    fn geneve_done(&mut self, index: Option<u16>) -> Out {
        self.geneve = index;
        let mut out = Out::default();
        out.events.push(Event::Geneve(index));
        self.start_dump(out)
    }

    /// Ask for every flow, group and meter; [`Phase::Ready`] once all three are in.
    fn start_dump(&mut self, mut out: Out) -> Out {
        crate::coverage::OFCTRL_DUMP.inc();
        // The installed table is re-read: every key may differ.
        self.full_diff = true;
        let flows = self.next_xid();
        let groups = self.next_xid();
        let meters = self.next_xid();
        let req = FlowStatsRequest {
            table_id: OFPTT_ALL,
            out_port: OFPP_ANY,
            out_group: OFPG_ANY,
            cookie: 0,
            cookie_mask: 0,
            matches: Match::new(),
        };
        out.push(OfMessage::new(
            flows,
            Message::MultipartRequest(MultipartRequest { flags: 0, body: MultipartRequestBody::Flow(req) }),
        ));
        // All groups / all meters.
        out.push(OfMessage::new(groups, Message::MultipartRequest(MultipartRequest::simple(mp::GROUP_DESC))));
        out.push(OfMessage::new(meters, Message::MultipartRequest(MultipartRequest::simple(mp::METER_CONFIG))));
        self.groups.clear();
        self.meters.clear();
        self.dump.clear();
        self.phase = Phase::Dumping { flows: Some(flows), groups: Some(groups), meters: Some(meters) };
        out
    }

    fn on_error(&mut self, e: &ErrorMsg) -> Out {
        self.stats.errors += 1;
        crate::coverage::OFCTRL_ERROR.inc();
        let name = e.name().unwrap_or("unknown error");
        let Some(xid) = e.request_header().map(|h| h.xid) else {
            tracing::warn!("OpenFlow error {name} without the request it concerns");
            return Out::default();
        };
        match &mut self.phase {
            Phase::TlvModSent { modx, failed, retry, .. } if *modx == xid => {
                if matches!(name, "NXTTMFC_ALREADY_MAPPED" | "NXTTMFC_DUP_ENTRY") {
                    *retry = true; // raced with another controller: read the table again
                } else {
                    tracing::warn!("cannot map OVN's Geneve option: {name}; Geneve disabled");
                    *failed = true;
                }
                return Out::default();
            }
            Phase::Dumping { flows, groups, meters } if [*flows, *groups, *meters].contains(&Some(xid)) => {
                // An OVS without groups or meters support: treat as empty.
                tracing::warn!("dump request failed: {name}");
                for x in [flows, groups, meters] {
                    if *x == Some(xid) {
                        *x = None;
                    }
                }
                return Out::default();
            }
            _ => {}
        }
        let Some(batch) = self.batch.as_mut() else {
            tracing::warn!("OpenFlow error {name} for unknown request xid {xid}");
            return Out::default();
        };
        match batch.targets.get(xid) {
            None | Some(Target::None) => {
                tracing::warn!("OpenFlow error {name} for request xid {xid} (not a flow, group or meter)")
            }
            Some(Target::BundleCommit) => {
                tracing::warn!("bundle commit failed ({name}); nothing of this batch was installed");
                batch.commit_failed = true;
            }
            Some(Target::Flow(key, body)) => {
                tracing::warn!("switch rejected flow ({name}): {}", flow_text(key, body.as_deref()));
                batch.failed.insert(xid);
            }
            Some(Target::Group(id, spec)) => {
                tracing::warn!("switch rejected group {id} ({name}): {}", spec.as_deref().unwrap_or("delete"));
                batch.failed.insert(xid);
            }
            Some(Target::Meter(id, spec)) => {
                tracing::warn!("switch rejected meter {id} ({name}): {}", spec.as_deref().unwrap_or("delete"));
                batch.failed.insert(xid);
            }
        }
        Out::default()
    }

    /// The barrier of the batch came back: everything before it was processed.
    fn batch_done(&mut self) -> Out {
        let Some(batch) = self.batch.take() else {
            return Out::default();
        };
        let mut culprits = 0;
        let first = batch.targets.first;
        for (i, t) in batch.targets.v.into_iter().enumerate() {
            let failed = batch.failed.contains(&first.wrapping_add(i as u32));
            // A failed commit leaves the bundle's flows and groups as they were; meters were
            // sent outside the bundle and stand on their own.
            let applied = !failed && (!batch.commit_failed || matches!(t, Target::Meter(..)));
            match t {
                Target::Flow(key, body) => {
                    if failed {
                        culprits += 1;
                        if let Some(b) = body {
                            self.failed_flows.insert(key, b);
                        }
                    } else if applied {
                        match body {
                            Some(b) => self.installed.insert(key, b),
                            None => self.installed.remove(&key),
                        };
                    }
                }
                Target::Group(id, spec) => {
                    if failed {
                        culprits += 1;
                        if let Some(s) = spec {
                            self.failed_groups.insert(id, s);
                        }
                    } else if applied {
                        match spec {
                            Some(s) => self.groups.insert(id, s),
                            None => self.groups.remove(&id),
                        };
                    }
                }
                Target::Meter(id, spec) => {
                    if failed {
                        if let Some(s) = spec {
                            self.failed_meters.insert(id, s);
                        }
                    } else {
                        match spec {
                            Some(s) => self.meters.insert(id, s),
                            None => self.meters.remove(&id),
                        };
                    }
                }
                Target::BundleCommit | Target::None => {}
            }
        }
        let mut out = Out::default();
        if self.resync {
            out.extend(self.resync());
        }
        if batch.commit_failed {
            // Nothing of the bundle was applied: compare everything again.
            self.full_diff = true;
            // Retry without the entries the switch named; if it named none, wait for new input
            // instead of looping on the same failure.
            self.retry = culprits > 0;
            if !self.retry {
                tracing::warn!("bundle failed without a culprit; waiting for the next change");
            }
        } else {
            self.retry = false;
            out.events.push(Event::Installed { generation: batch.generation });
        }
        out.extend(self.maybe_send());
        out
    }

    /// Send the difference if ready, idle and there is something new.
    fn maybe_send(&mut self) -> Out {
        if !matches!(self.phase, Phase::Ready) || self.batch.is_some() {
            return Out::default();
        }
        if self.sent == Some(self.generation) && !self.retry {
            return Out::default();
        }
        self.retry = false;
        self.sent = Some(self.generation);
        self.build_batch()
    }

    fn build_batch(&mut self) -> Out {
        let mut out = Out::default();
        // Targets are indexed by xid offset (a batch's xids are consecutive); restart the
        // counter well before it wraps.
        if self.xid > 0xf000_0000 {
            self.xid = 0;
        }
        let mut targets = Targets { first: self.xid.wrapping_add(1), v: Vec::new() };
        self.bundle_id = self.bundle_id.wrapping_add(1);
        let bundle_id = self.bundle_id;
        let flags = bundle::ATOMIC | bundle::ORDERED;
        let ctl =
            |ctrl_type| Message::BundleControl(BundleControl { bundle_id, ctrl_type, flags, properties: Vec::new() });

        // Meters first (OVS does not bundle meter mods); deletes after the commit, once no
        // flow uses them (OVS removes flows that use a deleted meter).
        for (id, (_, spec)) in &self.desired_meters {
            if self.meters.get(id) == Some(spec) || self.failed_meters.get(id) == Some(spec) {
                continue;
            }
            let command = if self.meters.contains_key(id) { meter::MODIFY } else { meter::ADD };
            match parse_meter_mod(command, &format!("meter={id},{spec}")) {
                Ok(mut mm) => {
                    mm.meter_id = *id;
                    let xid = targets.add(&mut self.xid, Target::Meter(*id, Some(spec.clone())));
                    out.push(OfMessage::new(xid, Message::MeterMod(mm)));
                    self.stats.meter_mods += 1;
                    crate::coverage::OFCTRL_METER_MOD.inc();
                }
                Err(e) => {
                    tracing::warn!("meter {id}: cannot parse {spec:?}: {e}");
                    self.failed_meters.insert(*id, spec.clone());
                }
            }
        }
        let meter_dels: Vec<u32> =
            self.meters.keys().filter(|id| !self.desired_meters.contains_key(id)).copied().collect();

        let open_at = out.msgs.len();
        let open = targets.add(&mut self.xid, Target::None);
        out.push(OfMessage::new(open, ctl(bundle::OPEN_REQUEST)));
        let add = |out: &mut Out, xid: u32, body: Message| {
            let inner = OfMessage::new(xid, body);
            out.push(OfMessage::new(xid, Message::BundleAdd(BundleAdd { bundle_id, flags, message: Box::new(inner) })));
        };

        // Groups before the flows that use them, group deletes after the flows that used them.
        for (id, spec) in &self.desired_groups {
            if self.groups.get(id) == Some(spec) || self.failed_groups.get(id) == Some(spec) {
                continue;
            }
            let command = if self.groups.contains_key(id) { group_command::MODIFY } else { group_command::ADD };
            match parse_group_mod(command, &format!("group_id={id},{spec}")) {
                Ok(mut gm) => {
                    gm.group_id = *id;
                    gm.command = command;
                    let xid = targets.add(&mut self.xid, Target::Group(*id, Some(spec.clone())));
                    add(&mut out, xid, Message::GroupMod(gm));
                    self.stats.group_mods += 1;
                    crate::coverage::OFCTRL_GROUP_MOD.inc();
                }
                Err(e) => {
                    tracing::warn!("group {id}: cannot parse {spec:?}: {e}");
                    self.failed_groups.insert(*id, spec.clone());
                }
            }
        }
        let group_dels: Vec<u32> =
            self.groups.keys().filter(|id| !self.desired_groups.contains_key(id)).copied().collect();

        let keys: Vec<Arc<FlowKey>> = if std::mem::take(&mut self.full_diff) {
            self.dirty.clear();
            let gone = self.installed.keys().filter(|k| !self.desired.contains_key(*k));
            self.desired.keys().chain(gone).cloned().collect()
        } else {
            self.dirty.drain().collect()
        };
        for key in keys {
            let body = self.desired.get(&key);
            let command = match (self.installed.get(&key), body) {
                (None, None) => continue,
                (Some(_), None) => flow_mod_command::DELETE_STRICT,
                (Some(b), Some(body)) if b == body => continue,
                (_, Some(body)) if self.failed_flows.get(&key) == Some(body) => continue,
                (Some(b), Some(body)) if b.cookie == body.cookie => flow_mod_command::MODIFY_STRICT,
                // New, or a cookie change (MODIFY keeps the old cookie): ADD replaces.
                (_, Some(_)) => flow_mod_command::ADD,
            };
            match command {
                flow_mod_command::ADD => {
                    self.stats.flow_adds += 1;
                    crate::coverage::OFCTRL_FLOW_ADD.inc();
                }
                flow_mod_command::MODIFY_STRICT => {
                    self.stats.flow_modifies += 1;
                    crate::coverage::OFCTRL_FLOW_MODIFY.inc();
                }
                _ => {
                    self.stats.flow_deletes += 1;
                    crate::coverage::OFCTRL_FLOW_DELETE.inc();
                }
            }
            let fm = FlowMod {
                cookie: body.map_or(0, |b| b.cookie),
                table_id: key.table,
                command,
                priority: key.priority,
                matches: key.m.clone(),
                actions: body.map(|b| b.actions.clone()).unwrap_or_default(),
                ..FlowMod::default()
            };
            let xid = targets.add(&mut self.xid, Target::Flow(Arc::clone(&key), body.cloned()));
            add(&mut out, xid, Message::FlowMod(fm));
        }
        for id in group_dels {
            let gm = GroupMod {
                command: group_command::DELETE,
                group_type: 0,
                group_id: id,
                command_bucket_id: 0xffff_ffff,
                buckets: Vec::new(),
                properties: Vec::new(),
            };
            let xid = targets.add(&mut self.xid, Target::Group(id, None));
            add(&mut out, xid, Message::GroupMod(gm));
            self.stats.group_mods += 1;
            crate::coverage::OFCTRL_GROUP_MOD.inc();
        }

        if out.msgs.len() == open_at + 1 {
            // Nothing for the bundle: no bundle at all.
            out.msgs.truncate(open_at);
        } else {
            let commit = targets.add(&mut self.xid, Target::BundleCommit);
            out.push(OfMessage::new(commit, ctl(bundle::COMMIT_REQUEST)));
        }
        for id in meter_dels {
            let mm = MeterMod { command: meter::DELETE, flags: 0, meter_id: id, bands: Vec::new() };
            let xid = targets.add(&mut self.xid, Target::Meter(id, None));
            out.push(OfMessage::new(xid, Message::MeterMod(mm)));
            self.stats.meter_mods += 1;
            crate::coverage::OFCTRL_METER_MOD.inc();
        }
        let barrier = targets.add(&mut self.xid, Target::None);
        out.push(OfMessage::new(barrier, Message::BarrierRequest));
        self.stats.batches += 1;
        crate::coverage::OFCTRL_BATCH.inc();
        self.batch =
            Some(Batch { barrier, generation: self.generation, targets, failed: HashSet::new(), commit_failed: false });
        out
    }

    /// A message of the current batch could not be encoded (too long for OpenFlow): it counts
    /// as rejected.
    pub fn unsendable(&mut self, xid: u32) {
        if let Some(b) = self.batch.as_mut() {
            if let Some(t) = b.targets.get(xid) {
                tracing::warn!("message too long for OpenFlow, not sent: {}", t.describe());
            }
            b.failed.insert(xid);
        }
    }

    /// `group-table-list` as 23.03 prints it: "<name>: <id>" per installed group (the name of
    /// a group is its spec).
    pub fn group_table_list(&self) -> String {
        let names = self.desired_groups.iter().filter(|(id, _)| self.groups.contains_key(id));
        sorted_list(names.map(|(id, spec)| (spec.as_str(), *id)))
    }

    /// `meter-table-list`: "<name>: <id>" per installed meter.
    pub fn meter_table_list(&self) -> String {
        let names = self.desired_meters.iter().filter(|(id, _)| self.meters.contains_key(id));
        sorted_list(names.map(|(id, (name, _))| (name.as_str(), *id)))
    }
}

/// "<name>: <id>" lines sorted by name, as 23.03's `extend_table_list` (simap_sort).
fn sorted_list<'a>(items: impl Iterator<Item = (&'a str, u32)>) -> String {
    let mut v: Vec<(&str, u32)> = items.collect();
    v.sort();
    v.iter().map(|(name, id)| format!("{name}: {id}\n")).collect()
}
