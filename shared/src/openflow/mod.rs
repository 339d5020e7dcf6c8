//! OpenFlow 1.5 codec with the Nicira (OVS) extensions that ovn-controller 23.03 uses.
//!
//! Sans-IO: bytes in, typed messages out, and back. Text printing and parsing follow
//! `ovs-ofctl` syntax so that tests, logs and dumps read the same as OVS's.
//!
//! - [`wire`]: checked big-endian reader and writer helpers.
//! - [`header`]: the OpenFlow header, type numbers and stream framing.
//! - [`fields`]: the field catalogue (names, widths, NXM/OXM code points).
//! - [`flow_match`]: matches and their OXM encoding.
//! - [`actions`]: actions and instructions.
//! - [`messages`]: the message types.
//! - [`errors`]: error messages and their names.
//! - [`text`]: ovs-ofctl compatible text for matches, actions and flow mods.

pub mod actions;
pub mod errors;
pub mod fields;
pub mod flow_match;
pub mod header;
pub mod messages;
pub mod props;
pub mod text;
pub mod wire;

pub use actions::Action;
pub use fields::Field;
pub use flow_match::Match;
pub use header::Header;
pub use messages::{Message, OfMessage};
pub use wire::DecodeError;

/// The fuzz target's body, shared with the corpus-replay test: decoding arbitrary bytes
/// must not panic, and whatever decodes must re-encode to bytes that decode to the same
/// value (so the encoder and decoder agree).
#[doc(hidden)]
pub fn fuzz_one(data: &[u8]) {
    let mut buf = data;
    while let Ok(Some((msg, rest))) = header::split_frame(buf) {
        if let Ok(m) = OfMessage::decode(msg) {
            let Ok(again) = m.try_encode() else {
                buf = rest;
                continue;
            };
            let m2 = OfMessage::decode(&again);
            assert_eq!(m2.as_ref(), Ok(&m), "re-decode of {}", wire::to_hex(&again));
            let _ = format!("{m:?}");
            if let Message::FlowMod(fm) = &m.body {
                let _ = text::format_flow_mod(fm);
            }
        }
        buf = rest;
    }
    if let Ok(m) = Match::decode_oxm(data) {
        let mut out = Vec::new();
        m.encode_oxm(&mut out);
        let _ = text::format_match(&m, None);
    }
    if let Ok(a) = actions::decode_actions(data) {
        let s = text::format_actions(&a);
        let mut out = Vec::new();
        actions::encode_actions(&a, &mut out);
        let _ = s;
    }
    let _ = actions::decode_instructions(data);
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(fm) = text::parse_flow(s) {
            let _ = OfMessage::new(0, Message::FlowMod(fm)).encode();
        }
    }
}
