//! The flowctl <-> pinctrl channel (DESIGN.md, "Channels"): flowctl sends pinctrl a full
//! snapshot of what its handlers need on every (re)connect, then ordered deltas; pinctrl sends
//! Southbound write intents, which flowctl commits on its single Southbound connection and
//! acknowledges. Pure data and state machines here; the sockets live in the processes.

pub mod intents;
pub mod messages;
pub mod state;

pub use intents::{IntentLedger, IntentQueue};
pub use messages::{FromFlowctl, FromPinctrl, Intent, IntentId, IntentKind, PROTOCOL_VERSION};
pub use state::{McastQuerier, Record, RecordKey, State};

/// The socket flowctl listens on, in OVN_RUNDIR.
pub const SOCKET_NAME: &str = "chassisd-pinctrl.sock";

/// Where both ends find the socket: `$OVN_RUNDIR` (default /var/run/ovn) / [`SOCKET_NAME`].
pub fn socket_path() -> std::path::PathBuf {
    let dir = std::env::var_os("OVN_RUNDIR").map_or_else(|| std::path::PathBuf::from("/var/run/ovn"), Into::into);
    dir.join(SOCKET_NAME)
}
