//! The flow table flowctl wants on the integration bridge: what the physical-flow builder and
//! the logical-flow translator produce and the installer keeps installed.

use std::collections::BTreeMap;

use shared::openflow::{Action, Match};

/// One OpenFlow flow. Its identity on the switch is (table, priority, match); cookie and
/// actions are what may change in place.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredFlow {
    pub table: u8,
    pub priority: u16,
    pub m: Match,
    /// First 32 bits of the Logical_Flow UUID for logical flows, 0 for physical flows (23.03).
    pub cookie: u64,
    pub actions: Vec<Action>,
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
