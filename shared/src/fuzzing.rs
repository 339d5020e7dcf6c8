//! Bodies of the fuzz targets for the parsers of local channels and OVSDB, shared by the
//! cargo-fuzz targets (fuzz/) and the tests that replay their corpora. None may panic.

use crate::frame::FrameDecoder;
use crate::ipc::{self, CommandSpec, FromChild, ToChild};
use crate::ovsdb::jsonrpc::{Framer, Message};
use crate::ovsdb::schema::DatabaseSchema;
use crate::ovsdb::update::{parse_update2_params, parse_update3_params, TableUpdates};
use crate::pinctrl_link::{FromFlowctl, FromPinctrl};
use crate::unixctl::codec::{check_request, JsonStream};

const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("version", "", 0, 0),
    CommandSpec::new("vlog/set", "", 0, usize::MAX),
    CommandSpec::new("x", "", 1, 2),
];

/// The control socket and the framed channels (supervisor <-> child, flowctl <-> pinctrl).
pub fn channels(data: &[u8]) {
    let mut stream = JsonStream::default();
    stream.push(data);
    while let Ok(Some(v)) = stream.next_value() {
        let _ = check_request(v, COMMANDS);
    }
    let mut frames = FrameDecoder::default();
    frames.push(data);
    while let Ok(Some(frame)) = frames.next_frame() {
        let _ = ipc::decode::<ToChild>(&frame);
        let _ = ipc::decode::<FromChild>(&frame);
        let _ = ipc::decode::<FromFlowctl>(&frame);
        let _ = ipc::decode::<FromPinctrl>(&frame);
    }
}

/// What an OVSDB server may send: framing, JSON-RPC, and update2/update3 bodies checked
/// against a small schema.
pub fn ovsdb(data: &[u8]) {
    let schema = serde_json::json!({
        "name": "F", "version": "1.0.0",
        "tables": {"T": {"columns": {
            "s": {"type": "string"},
            "m": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}},
            "u": {"type": {"key": "uuid", "min": 0, "max": "unlimited"}},
            "i": {"type": {"key": {"type": "integer", "minInteger": 0, "maxInteger": 10}}}
        }}}
    });
    let Ok(schema) = DatabaseSchema::parse(&schema) else { return };
    let mut framer = Framer::new(1 << 20);
    framer.push(data);
    while let Ok(Some(msg)) = framer.next_message() {
        let Message::Notification { method, params } = msg else { continue };
        let updates = match method.as_str() {
            "update2" => parse_update2_params(&params).map(|(_, u)| u),
            "update3" => parse_update3_params(&params).map(|(_, _, u)| u),
            _ => continue,
        };
        if let Ok(u) = updates {
            let _ = TableUpdates::parse(u, &schema);
        }
    }
}
