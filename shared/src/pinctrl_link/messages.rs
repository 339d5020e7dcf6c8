//! Messages of the flowctl <-> pinctrl channel. JSON in the same length-prefixed frames as
//! the supervisor channel ([`crate::frame`]), versioned by the hello.

use serde::{Deserialize, Serialize};

use super::state::{Record, RecordKey};

/// Bumped on any incompatible change below.
/// 2: DNS and RA-port records.
/// 3: IP_Multicast, IGMP_Group and announcement records; IGMP group, controller event and
///    virtual port intents.
pub const PROTOCOL_VERSION: u32 = 3;

/// An intent's identity: pinctrl's session (random per pinctrl start) and a sequence number
/// within it, so a replay after either side restarts is recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IntentId {
    pub session: u64,
    pub seq: u64,
}

/// A Southbound write pinctrl needs. Each is an idempotent upsert, so committing one twice
/// writes the row once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IntentKind {
    /// put_arp / put_nd: MAC_Binding(logical_port, ip) = mac.
    MacBinding { datapath_key: u32, logical_port: String, ip: String, mac: String },
    /// put_fdb: FDB(dp_key, mac) = port_key.
    Fdb { datapath_key: u32, port_key: u32, mac: String },
    /// IGMP/MLD snooping: this chassis's IGMP_Group(address, datapath) holds the ports with
    /// these tunnel keys (23.03's ip_mcast_sync); `None` deletes the row. `address` is the
    /// group as 23.03 writes it (IPv4 dotted, IPv6) or "mrouters".
    IgmpGroup { datapath_key: u32, address: String, ports: Option<Vec<u32>> },
    /// trigger_event: a Controller_Event row of this chassis, unless one with the same
    /// type and info exists (23.03's controller_event_run).
    ControllerEvent { event_type: String, info: std::collections::BTreeMap<String, String> },
    /// bind_vport: claim virtual port `vport_key` for this chassis with the port
    /// `parent_key` as its virtual_parent (23.03's run_put_vport_binding).
    BindVport { datapath_key: u32, vport_key: u32, parent_key: u32 },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    pub id: IntentId,
    #[serde(flatten)]
    pub kind: IntentKind,
}

/// flowctl to pinctrl.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromFlowctl {
    Hello {
        version: u32,
    },
    /// Everything, replacing pinctrl's state; `seq` numbers the deltas that follow.
    Snapshot {
        seq: u64,
        records: Vec<Record>,
    },
    /// Changes since `seq - 1`, in order.
    Delta {
        seq: u64,
        upserts: Vec<Record>,
        removals: Vec<RecordKey>,
    },
    /// These intents are committed (or were already): pinctrl forgets them.
    Ack {
        ids: Vec<IntentId>,
    },
}

/// pinctrl to flowctl.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromPinctrl {
    Hello {
        version: u32,
    },
    Intents {
        intents: Vec<Intent>,
    },
    /// A delta did not follow the last sequence number: send a snapshot.
    Resync,
}
