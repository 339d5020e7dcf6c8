//! The supervisor <-> child channel: message types and their wire form (JSON in length-prefixed
//! frames, see [`crate::frame`]). A hello carrying [`PROTOCOL_VERSION`] goes first both ways.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::frame;

/// Bumped on any incompatible change to the messages below.
pub const PROTOCOL_VERSION: u32 = 1;

/// The two supervised processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Flowctl,
    Pinctrl,
}

impl Role {
    pub const ALL: [Role; 2] = [Role::Flowctl, Role::Pinctrl];

    pub fn name(self) -> &'static str {
        match self {
            Role::Flowctl => "flowctl",
            Role::Pinctrl => "pinctrl",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// Supervisor to child.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToChild {
    Hello {
        version: u32,
    },
    /// A control command this child owns; answer with [`FromChild::Reply`] and the same id.
    Command {
        id: u64,
        name: String,
        args: Vec<String>,
    },
    /// vlog/set, applied by every process.
    SetLogLevels {
        specs: Vec<String>,
    },
    /// vlog/reopen or SIGHUP.
    ReopenLog,
    /// Orderly stop. `cleanup` is `exit` without `--restart`: remove what this chassis
    /// registered, as ovn-controller does; SIGTERM and `exit --restart` keep it.
    Shutdown {
        cleanup: bool,
    },
}

/// Child to supervisor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromChild {
    Hello {
        version: u32,
        role: Role,
        pid: u32,
    },
    /// Initialised and serving.
    Ready,
    /// Sent from the child's main loop: its absence means the loop is stuck.
    Heartbeat,
    /// One-line state for `supervisor/status` and systemd's STATUS=.
    Status {
        line: String,
    },
    Reply {
        id: u64,
        result: Result<String, String>,
    },
}

#[derive(Debug)]
pub enum DecodeError {
    Frame(frame::FrameError),
    Json(serde_json::Error),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Frame(e) => write!(f, "bad frame: {e}"),
            DecodeError::Json(e) => write!(f, "bad message: {e}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// One message as a frame on the wire.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, DecodeError> {
    let json = serde_json::to_vec(msg).map_err(DecodeError::Json)?;
    frame::encode(&json).map_err(DecodeError::Frame)
}

pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, DecodeError> {
    serde_json::from_slice(payload).map_err(DecodeError::Json)
}

/// A control command: its name, usage text and argument bounds, as `list-commands` shows
/// them and as the server checks them before anything runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandSpec {
    pub name: &'static str,
    pub usage: &'static str,
    pub min_args: usize,
    pub max_args: usize,
}

impl CommandSpec {
    pub const fn new(name: &'static str, usage: &'static str, min_args: usize, max_args: usize) -> CommandSpec {
        CommandSpec { name, usage, min_args, max_args }
    }
}

/// Commands flowctl answers. One table, read by the supervisor (to list and forward them,
/// even while flowctl is down) and by flowctl (to dispatch them).
pub const FLOWCTL_COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("connection-status", "", 0, 0),
    CommandSpec::new("ct-zone-list", "", 0, 0),
    CommandSpec::new("debug/dump-local-bindings", "", 0, 0),
    CommandSpec::new("sb-cluster-state-reset", "", 0, 0),
    CommandSpec::new("debug/pause", "", 0, 0),
    CommandSpec::new("debug/resume", "", 0, 0),
    CommandSpec::new("debug/status", "", 0, 0),
    CommandSpec::new("group-table-list", "", 0, 0),
    CommandSpec::new("meter-table-list", "", 0, 0),
    CommandSpec::new("recompute", "[deprecated]", 0, 0),
    CommandSpec::new("inc-engine/recompute", "", 0, 0),
    CommandSpec::new("inject-pkt", "MICROFLOW", 1, 1),
    CommandSpec::new("stopwatch/show", "[NAME]", 0, 1),
    CommandSpec::new("stopwatch/reset", "[NAME]", 0, 1),
    CommandSpec::new("coverage/show", "", 0, 0),
    CommandSpec::new("coverage/read-counter", "COUNTER", 1, 1),
];

/// Commands pinctrl answers.
pub const PINCTRL_COMMANDS: &[CommandSpec] =
    &[CommandSpec::new("pinctrl/status", "", 0, 0), CommandSpec::new("debug/dump-mac-bindings", "", 0, 0)];

pub fn commands_of(role: Role) -> &'static [CommandSpec] {
    match role {
        Role::Flowctl => FLOWCTL_COMMANDS,
        Role::Pinctrl => PINCTRL_COMMANDS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::FrameDecoder;

    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(msg: T) {
        let bytes = encode(&msg).unwrap();
        let mut dec = FrameDecoder::default();
        dec.push(&bytes);
        let payload = dec.next_frame().unwrap().unwrap();
        assert_eq!(decode::<T>(&payload).unwrap(), msg);
    }

    #[test]
    fn every_message_round_trips() {
        round_trip(ToChild::Hello { version: PROTOCOL_VERSION });
        round_trip(ToChild::Command { id: 7, name: "debug/status".into(), args: vec!["a".into()] });
        round_trip(ToChild::SetLogLevels { specs: vec!["console:off".into()] });
        round_trip(ToChild::ReopenLog);
        round_trip(ToChild::Shutdown { cleanup: true });
        round_trip(FromChild::Hello { version: 1, role: Role::Pinctrl, pid: 42 });
        round_trip(FromChild::Ready);
        round_trip(FromChild::Heartbeat);
        round_trip(FromChild::Status { line: "ok".into() });
        round_trip(FromChild::Reply { id: 1, result: Ok("x\n".into()) });
        round_trip(FromChild::Reply { id: 2, result: Err("no".into()) });
    }

    #[test]
    fn wire_form_is_stable() {
        // Both ends of a mixed-version pair read this: keep it as it is, or bump the version.
        let bytes = encode(&FromChild::Hello { version: 1, role: Role::Flowctl, pid: 9 }).unwrap();
        assert_eq!(&bytes[4..], br#"{"type":"hello","version":1,"role":"flowctl","pid":9}"#);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(decode::<ToChild>(b"{\"type\":\"nonsense\"}").is_err());
        assert!(decode::<FromChild>(b"\xff\x00").is_err());
    }

    #[test]
    fn command_tables_do_not_overlap() {
        for a in FLOWCTL_COMMANDS {
            assert!(!PINCTRL_COMMANDS.iter().any(|b| b.name == a.name), "{}", a.name);
        }
    }
}
