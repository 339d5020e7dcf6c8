//! Messages of the flowctl <-> pinctrl channel. JSON in the same length-prefixed frames as
//! the supervisor channel ([`crate::frame`]), versioned by the hello.

use serde::{Deserialize, Serialize};

use super::state::{Record, RecordKey};

/// Bumped on any incompatible change below.
/// 2: DNS and RA-port records.
pub const PROTOCOL_VERSION: u32 = 2;

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
