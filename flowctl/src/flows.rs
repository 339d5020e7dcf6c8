//! The flow table flowctl wants on the integration bridge: what the physical-flow builder and
//! the logical-flow translator produce and the installer keeps installed.

use std::collections::BTreeMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::Arc;

use shared::openflow::{Action, Match};

/// FxHash (rustc's): the flow maps hold hundreds of thousands of keys that come from
/// flowctl and the switch, not from an attacker; SipHash was a tenth of the install time.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut it = bytes.chunks_exact(8);
        for c in &mut it {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
        for &b in it.remainder() {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(i.into());
    }
    fn write_u16(&mut self, i: u16) {
        self.write_u64(i.into());
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(i.into());
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u128(&mut self, i: u128) {
        self.write_u64(i as u64);
        self.write_u64((i >> 64) as u64);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Hash maps of flow keys: [`FlowKey`] hashes as its cached 64-bit hash.
pub type FxBuild = BuildHasherDefault<FxHasher>;

/// A flow's identity on the switch, as ovn-controller keys it: table, priority, match. Its
/// hash is computed once: the installer hashes every key of the table at each computation.
#[derive(Clone, Debug)]
pub struct FlowKey {
    pub table: u8,
    pub priority: u16,
    pub m: Match,
    hash: u64,
}

impl FlowKey {
    pub fn new(table: u8, priority: u16, mut m: Match) -> FlowKey {
        // Kept as long as the flow is wanted, in a table of hundreds of thousands.
        m.shrink_to_fit();
        let mut h = FxHasher::default();
        (table, priority, &m).hash(&mut h);
        FlowKey { table, priority, m, hash: h.finish() }
    }
}

impl PartialEq for FlowKey {
    fn eq(&self, other: &FlowKey) -> bool {
        self.hash == other.hash && self.table == other.table && self.priority == other.priority && self.m == other.m
    }
}

impl Eq for FlowKey {}

impl Hash for FlowKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// What may change in place for a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowBody {
    /// First 32 bits of the Logical_Flow UUID for logical flows, 0 for physical flows (23.03).
    pub cookie: u64,
    pub actions: Vec<Action>,
}

/// One OpenFlow flow. Cheap to clone: the translation cache, the desired table and the
/// installer's desired and installed tables all hold the same key and body, so a flow's
/// match and actions exist once in memory however many tables list it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredFlow {
    pub key: Arc<FlowKey>,
    pub body: Arc<FlowBody>,
}

impl DesiredFlow {
    pub fn new(table: u8, priority: u16, m: Match, cookie: u64, mut actions: Vec<Action>) -> DesiredFlow {
        actions.shrink_to_fit();
        DesiredFlow { key: Arc::new(FlowKey::new(table, priority, m)), body: Arc::new(FlowBody { cookie, actions }) }
    }
    #[cfg(test)]
    pub fn table(&self) -> u8 {
        self.key.table
    }
    #[cfg(test)]
    pub fn priority(&self) -> u16 {
        self.key.priority
    }
    #[cfg(test)]
    pub fn m(&self) -> &Match {
        &self.key.m
    }
    #[cfg(test)]
    pub fn cookie(&self) -> u64 {
        self.body.cookie
    }
    #[cfg(test)]
    pub fn actions(&self) -> &[Action] {
        &self.body.actions
    }
}

/// A group flowctl needs (select / fwd_group / multicast), by the name it was allocated for.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredGroup {
    pub id: u32,
    /// ovs-ofctl text of the group body after `group_id=N,` (e.g. `type=select,bucket=...`),
    /// as 23.03 builds it; the installer encodes it. Also the name `group-table-list` shows.
    /// Text rather than a typed GroupMod: it is 23.03's identity of a group, and the builders
    /// produce text anyway.
    pub spec: String,
}

/// A meter flowctl needs, by id.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredMeter {
    pub id: u32,
    /// The name `meter-table-list` shows (the SB Meter name, or 23.03's `__string: ...`).
    pub name: String,
    /// ovs-ofctl text of the meter after `meter=N,` (e.g. `pktps burst stats bands=...`).
    pub spec: String,
}

/// Everything flowctl wants installed, replaced as a whole on each computation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DesiredState {
    pub flows: Vec<DesiredFlow>,
    pub groups: BTreeMap<u32, DesiredGroup>,
    pub meters: BTreeMap<u32, DesiredMeter>,
}

/// `match_set_*()` of an exact value, for the flow builders: they only set fields at widths
/// the codec accepts, so an error is a bug in the builder, not bad input.
pub fn set(m: &mut Match, f: shared::openflow::Field, v: u128) {
    let r = m.set_u128(f, v);
    debug_assert!(r.is_ok(), "{f:?}");
}

/// `match_set_*_masked()`, as [`set`].
pub fn set_masked(m: &mut Match, f: shared::openflow::Field, v: u128, mask: u128) {
    let r = m.set_u128_masked(f, v, mask);
    debug_assert!(r.is_ok(), "{f:?}");
}
