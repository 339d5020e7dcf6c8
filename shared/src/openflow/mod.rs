//! OpenFlow 1.5 codec with the Nicira (OVS) extensions that ovn-controller 23.03 uses.
//!
//! Sans-IO: bytes in, typed messages out, and back. Text printing and parsing follow
//! `ovs-ofctl` syntax so that tests, logs and dumps read the same as OVS's. Everything is
//! checked against OVS 3.1 itself (see `shared/tests/openflow_*.rs`): flows parsed from text
//! encode to the same bytes as `ovs-ofctl add-flow`, OVS's bytes decode and print as
//! `ovs-ofctl ofp-print`, and a real `ovs-vswitchd` accepts what we send.
//!
//! - [`wire`]: checked big-endian reader and writer helpers; [`wire::DecodeError`].
//! - [`header`]: the OpenFlow header, type numbers, stream framing, version negotiation.
//! - [`fields`]: the field catalogue (names, widths, NXM/OXM code points, from OVS's
//!   `meta-flow.h`).
//! - [`flow_match`]: [`Match`] and its OXM encoding (in OVS's field order).
//! - [`actions`]: [`Action`], instructions, and their OpenFlow 1.5 encoding.
//! - [`messages`]: [`OfMessage`] / [`Message`] and the message bodies.
//! - [`errors`]: error messages and their OVS names.
//! - [`props`]: OpenFlow TLV properties.
//! - [`stats`]: multipart statistics bodies (aggregate, port, group, meter).
//! - [`text`]: ovs-ofctl compatible text for matches, actions and flow mods.
//!
//! ```
//! use shared::openflow::messages::{Message, OfMessage};
//! use shared::openflow::text::{format_flow_mod, parse_flow};
//!
//! let fm = parse_flow("table=8,priority=100,ip,reg14=0x1,metadata=0x1,\
//!                      actions=ct(table=9,zone=NXM_NX_REG13[0..15])").unwrap();
//! let bytes = OfMessage::new(7, Message::FlowMod(fm)).try_encode().unwrap();
//! let back = OfMessage::decode(&bytes).unwrap();
//! let Message::FlowMod(fm) = back.body else { unreachable!() };
//! assert_eq!(
//!     format_flow_mod(&fm),
//!     "ADD table:8 priority=100,ip,reg14=0x1,metadata=0x1 \
//!      actions=ct(table=9,zone=NXM_NX_REG13[0..15])"
//! );
//! ```
//!
//! Reading a stream: split frames with [`header::split_frame`], then decode each one. A
//! decode error never panics; it names the structure that was wrong.
//!
//! ```
//! use shared::openflow::header::split_frame;
//! use shared::openflow::messages::{Message, OfMessage};
//!
//! let mut buf = OfMessage::new(1, Message::EchoRequest(vec![1, 2])).encode();
//! buf.extend_from_slice(&[6, 0, 0]); // start of the next message
//! let (frame, rest) = split_frame(&buf).unwrap().unwrap();
//! assert_eq!(OfMessage::decode(frame).unwrap().body, Message::EchoRequest(vec![1, 2]));
//! assert_eq!(rest, [6, 0, 0]);
//! ```

pub mod actions;
pub mod errors;
pub mod fields;
pub mod flow_match;
pub mod header;
pub mod messages;
pub mod props;
pub mod stats;
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

/// The text fuzz target's body: parsing arbitrary text must not panic, and whatever parses
/// must print back to text that parses to the same flow.
#[doc(hidden)]
pub fn fuzz_text_one(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(fm) = text::parse_flow(s) {
        let m = text::format_match(&fm.matches, None);
        let a = text::format_actions(&fm.actions);
        let m2 = text::parse_match(&m);
        assert_eq!(m2.as_ref(), Ok(&fm.matches), "match text {m:?} from {s:?}");
        // Actions may have several encodings of one meaning (e.g. a port range 80-80 and
        // 80), so require that printing is a fixpoint rather than structural equality.
        let a2 = text::parse_actions(&a).map(|x| text::format_actions(&x));
        assert_eq!(a2.as_ref(), Ok(&a), "actions text {a:?} from {s:?}");
        let _ = OfMessage::new(0, Message::FlowMod(fm)).try_encode();
    }
    let _ = text::parse_group_mod(0, s).map(|g| text::format_group_mod(&g));
    let _ = text::parse_meter_mod(0, s).map(|m| text::format_meter_mod(&m));
}
