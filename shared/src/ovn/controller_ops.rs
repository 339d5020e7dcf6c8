//! The `controller(userdata=...)` bytes that flowctl's action encoder puts in flows and
//! pinctrl decodes from packet-ins, laid out as OVN 23.03 lays them out
//! (include/ovn/actions.h `struct action_header`, `enum action_opcode`; lib/acl-log.h
//! `struct log_pin_header`; lib/actions.c `encode_*`).
//!
//! Layout: `be32 opcode`, 4 zero bytes, then the opcode's payload:
//! - nested-action opcodes (`arp{}`, `nd_na{}`, `icmp4{}`, `reject{}`, ...): the nested
//!   actions in their OpenFlow 1.5 encoding;
//! - `LOG`: `u8 verdict`, `u8 severity`, then the ACL name (no terminator);
//! - `PUT_DHCP_OPTS`: the destination field's NXM/OXM header, `be32` bit offset, the
//!   offered IPv4 address, then DHCP option TLVs (`u8 code`, `u8 len`, value);
//! - `PUT_DHCPV6_OPTS`: header and offset as above, then options (`be16 code`, `be16 len`,
//!   value);
//! - `PUT_ND_RA_OPTS`, `DNS_LOOKUP`: header and offset, then (RA) option bytes;
//! - everything else: an opcode-specific payload that is kept raw.
//!
//! [`decode`] takes arbitrary bytes and never panics.

use crate::openflow::actions::{decode_actions, encode_actions};
use crate::openflow::{Action, Field};

/// `enum action_opcode` of 23.03. The wire values are stable across OVN releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum Opcode {
    Arp = 0,
    PutArp = 1,
    PutDhcpOpts = 2,
    NdNa = 3,
    PutNd = 4,
    PutDhcpv6Opts = 5,
    DnsLookup = 6,
    Log = 7,
    PutNdRaOpts = 8,
    NdNs = 9,
    Icmp = 10,
    TcpReset = 11,
    NdNaRouter = 12,
    PutIcmp4FragMtu = 13,
    Icmp4Error = 14,
    Event = 15,
    Igmp = 16,
    BindVport = 17,
    HandleSvcCheck = 18,
    Dhcp6Server = 19,
    Icmp6Error = 20,
    PutIcmp6FragMtu = 21,
    Reject = 22,
    BfdMsg = 23,
    SctpAbort = 24,
    PutFdb = 25,
    ActivationStrategyRarp = 26,
}

impl Opcode {
    pub const ALL: [Opcode; 27] = [
        Opcode::Arp,
        Opcode::PutArp,
        Opcode::PutDhcpOpts,
        Opcode::NdNa,
        Opcode::PutNd,
        Opcode::PutDhcpv6Opts,
        Opcode::DnsLookup,
        Opcode::Log,
        Opcode::PutNdRaOpts,
        Opcode::NdNs,
        Opcode::Icmp,
        Opcode::TcpReset,
        Opcode::NdNaRouter,
        Opcode::PutIcmp4FragMtu,
        Opcode::Icmp4Error,
        Opcode::Event,
        Opcode::Igmp,
        Opcode::BindVport,
        Opcode::HandleSvcCheck,
        Opcode::Dhcp6Server,
        Opcode::Icmp6Error,
        Opcode::PutIcmp6FragMtu,
        Opcode::Reject,
        Opcode::BfdMsg,
        Opcode::SctpAbort,
        Opcode::PutFdb,
        Opcode::ActivationStrategyRarp,
    ];

    pub fn from_u32(v: u32) -> Option<Opcode> {
        Opcode::ALL.get(usize::try_from(v).ok()?).copied()
    }

    /// Opcodes whose payload is a nested OpenFlow action list (`encode_nested_actions`).
    pub fn has_nested_actions(self) -> bool {
        matches!(
            self,
            Opcode::Arp
                | Opcode::NdNa
                | Opcode::NdNs
                | Opcode::Icmp
                | Opcode::TcpReset
                | Opcode::NdNaRouter
                | Opcode::Icmp4Error
                | Opcode::Icmp6Error
                | Opcode::Reject
                | Opcode::SctpAbort
        )
    }
}

/// `LOG_VERDICT_*` (lib/acl-log.h).
pub mod verdict {
    pub const ALLOW: u8 = 0;
    pub const DROP: u8 = 1;
    pub const REJECT: u8 = 2;
}

/// `LOG_SEVERITY_*` (syslog levels).
pub mod severity {
    pub const ALERT: u8 = 1;
    pub const WARNING: u8 = 4;
    pub const NOTICE: u8 = 5;
    pub const INFO: u8 = 6;
    pub const DEBUG: u8 = 7;
}

/// The payload of one controller operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Nothing after the header.
    Empty,
    /// Nested OpenFlow actions (see [`Opcode::has_nested_actions`]).
    Nested(Vec<Action>),
    /// `log(...)`.
    Log { verdict: u8, severity: u8, name: Vec<u8> },
    /// `put_dhcp_opts`: result field header (raw NXM/OXM header bytes), bit offset, offered
    /// address, options in order.
    PutDhcpOpts { dst_header: Vec<u8>, dst_ofs: u32, offer_ip: [u8; 4], options: Vec<(u8, Vec<u8>)> },
    /// `put_dhcpv6_opts`: result field header and offset, options in order.
    PutDhcpv6Opts { dst_header: Vec<u8>, dst_ofs: u32, options: Vec<(u16, Vec<u8>)> },
    /// Any other payload, raw.
    Raw(Vec<u8>),
}

/// A decoded userdata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerOp {
    pub opcode: Opcode,
    pub payload: Payload,
}

/// Why userdata did not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserdataError {
    /// Fewer than the 8 header bytes.
    Short(usize),
    UnknownOpcode(u32),
    /// The payload of `opcode` is malformed.
    BadPayload {
        opcode: Opcode,
        what: &'static str,
    },
}

impl std::fmt::Display for UserdataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UserdataError::Short(n) => write!(f, "controller userdata too short ({n} bytes, header is 8)"),
            UserdataError::UnknownOpcode(o) => write!(f, "unknown controller opcode {o}"),
            UserdataError::BadPayload { opcode, what } => write!(f, "bad {opcode:?} payload: {what}"),
        }
    }
}

impl std::error::Error for UserdataError {}

/// The 8-byte `action_header` for `opcode`.
pub fn header(opcode: Opcode) -> Vec<u8> {
    let mut v = (opcode as u32).to_be_bytes().to_vec();
    v.extend_from_slice(&[0; 4]);
    v
}

/// The NXM/OXM header of `f` (OpenFlow 1.5 code point, unmasked, payload the field's
/// width), as `nx_put_header` writes it for the result field of `put_dhcp_opts`,
/// `dns_lookup`, ...
pub fn field_header(f: Field) -> Vec<u8> {
    let Some(h) = f.of15_header() else { return Vec::new() };
    let exp = if h.class == 0xffff { 4 } else { 0 };
    let mut v = h.class.to_be_bytes().to_vec();
    v.push(h.field << 1);
    v.push(u8::try_from(f.n_bytes() + exp).unwrap_or(u8::MAX));
    if h.class == 0xffff {
        v.extend_from_slice(&h.vendor.to_be_bytes());
    }
    v
}

/// Length of an NXM/OXM header at the start of `b` (8 for experimenter OXM, else 4).
fn nxm_header_len(b: &[u8]) -> Option<usize> {
    let class = u16::from_be_bytes([*b.first()?, *b.get(1)?]);
    let len = if class == 0xffff { 8 } else { 4 };
    (b.len() >= len).then_some(len)
}

/// The result field of a paused action's payload kept raw (`dns_lookup`, `put_nd_ra_opts`):
/// (NXM/OXM header, bit offset, the bytes after them).
pub fn result_field(payload: &[u8]) -> Option<(&[u8], u32, &[u8])> {
    let hl = nxm_header_len(payload)?;
    let (header, r) = payload.split_at(hl);
    Some((header, be32(r)?, r.get(4..)?))
}

fn be32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?))
}

impl ControllerOp {
    pub fn new(opcode: Opcode, payload: Payload) -> ControllerOp {
        ControllerOp { opcode, payload }
    }

    /// The userdata bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = header(self.opcode);
        match &self.payload {
            Payload::Empty => {}
            Payload::Nested(acts) => encode_actions(acts, &mut out),
            Payload::Log { verdict, severity, name } => {
                out.push(*verdict);
                out.push(*severity);
                out.extend_from_slice(name);
            }
            Payload::PutDhcpOpts { dst_header, dst_ofs, offer_ip, options } => {
                out.extend_from_slice(dst_header);
                out.extend_from_slice(&dst_ofs.to_be_bytes());
                out.extend_from_slice(offer_ip);
                for (code, val) in options {
                    out.push(*code);
                    out.push(u8::try_from(val.len()).unwrap_or(u8::MAX));
                    out.extend_from_slice(val.get(..usize::from(u8::MAX)).unwrap_or(val));
                }
            }
            Payload::PutDhcpv6Opts { dst_header, dst_ofs, options } => {
                out.extend_from_slice(dst_header);
                out.extend_from_slice(&dst_ofs.to_be_bytes());
                for (code, val) in options {
                    out.extend_from_slice(&code.to_be_bytes());
                    let n = u16::try_from(val.len()).unwrap_or(u16::MAX);
                    out.extend_from_slice(&n.to_be_bytes());
                    out.extend_from_slice(val.get(..usize::from(n)).unwrap_or(val));
                }
            }
            Payload::Raw(b) => out.extend_from_slice(b),
        }
        out
    }

    /// Decodes userdata from a packet-in. Never panics.
    pub fn decode(b: &[u8]) -> Result<ControllerOp, UserdataError> {
        let code = be32(b).ok_or(UserdataError::Short(b.len()))?;
        let rest = b.get(8..).ok_or(UserdataError::Short(b.len()))?;
        let opcode = Opcode::from_u32(code).ok_or(UserdataError::UnknownOpcode(code))?;
        let bad = |what| UserdataError::BadPayload { opcode, what };
        let payload = if opcode.has_nested_actions() {
            Payload::Nested(decode_actions(rest).map_err(|_| bad("nested actions"))?)
        } else {
            match opcode {
                Opcode::Log => match rest {
                    [verdict, severity, name @ ..] => {
                        Payload::Log { verdict: *verdict, severity: *severity, name: name.to_vec() }
                    }
                    _ => return Err(bad("log header")),
                },
                Opcode::PutDhcpOpts => {
                    let hl = nxm_header_len(rest).ok_or(bad("field header"))?;
                    let (dst_header, r) = rest.split_at(hl);
                    let dst_ofs = be32(r).ok_or(bad("offset"))?;
                    let offer_ip: [u8; 4] = r.get(4..8).and_then(|s| s.try_into().ok()).ok_or(bad("offer address"))?;
                    let mut r = r.get(8..).unwrap_or(&[]);
                    let mut options = Vec::new();
                    while let [code, len, tail @ ..] = r {
                        let val = tail.get(..usize::from(*len)).ok_or(bad("option length"))?;
                        options.push((*code, val.to_vec()));
                        r = tail.get(usize::from(*len)..).unwrap_or(&[]);
                    }
                    if !r.is_empty() {
                        return Err(bad("trailing option byte"));
                    }
                    Payload::PutDhcpOpts { dst_header: dst_header.to_vec(), dst_ofs, offer_ip, options }
                }
                Opcode::PutDhcpv6Opts => {
                    let hl = nxm_header_len(rest).ok_or(bad("field header"))?;
                    let (dst_header, r) = rest.split_at(hl);
                    let dst_ofs = be32(r).ok_or(bad("offset"))?;
                    let mut r = r.get(4..).unwrap_or(&[]);
                    let mut options = Vec::new();
                    while !r.is_empty() {
                        let be16 = |b: Option<&[u8]>| b.and_then(|b| b.try_into().ok()).map(u16::from_be_bytes);
                        let code = be16(r.get(..2)).ok_or(bad("option header"))?;
                        let len = usize::from(be16(r.get(2..4)).ok_or(bad("option header"))?);
                        let val = r.get(4..4 + len).ok_or(bad("option length"))?;
                        options.push((code, val.to_vec()));
                        r = r.get(4 + len..).unwrap_or(&[]);
                    }
                    Payload::PutDhcpv6Opts { dst_header: dst_header.to_vec(), dst_ofs, options }
                }
                _ if rest.is_empty() => Payload::Empty,
                _ => Payload::Raw(rest.to_vec()),
            }
        };
        Ok(ControllerOp { opcode, payload })
    }
}

/// The fuzz target's body (replayed by a unit test): decoding never panics, and what
/// decodes re-encodes to bytes that decode to the same value. For nested actions that
/// depends on the OpenFlow codec's own round trip, which is not exact for every action OVS
/// accepts (a legacy `NXAST_REG_LOAD` decodes to a masked `set_field` that may not encode
/// back, e.g. on a non-maskable field): there only a successful re-decode is compared.
#[doc(hidden)]
pub fn fuzz_one(data: &[u8]) {
    if let Ok(op) = ControllerOp::decode(data) {
        let again = ControllerOp::decode(&op.encode());
        if matches!(op.payload, Payload::Nested(_)) && again.is_err() {
            return;
        }
        assert_eq!(again.as_ref(), Ok(&op), "re-decoded userdata differs");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::actions::Subfield;

    #[test]
    fn opcodes_keep_their_wire_values() {
        for (i, op) in Opcode::ALL.iter().enumerate() {
            assert_eq!(*op as u32 as usize, i);
            assert_eq!(Opcode::from_u32(i as u32), Some(*op));
        }
        assert_eq!(Opcode::ActivationStrategyRarp as u32, 26);
        assert_eq!(Opcode::from_u32(27), None);
    }

    #[test]
    fn field_headers_as_nx_put_header() {
        // reg0[3] resolves to xxreg0: NXM_NX_XXREG0, 16 bytes (23.03's put_dhcp_opts).
        assert_eq!(field_header(Field::XXREG0), [0x00, 0x01, 0xde, 0x10]);
    }

    #[test]
    fn header_is_opcode_and_pad() {
        assert_eq!(header(Opcode::Reject), [0, 0, 0, 22, 0, 0, 0, 0]);
    }

    #[test]
    fn round_trips() {
        let ops = [
            ControllerOp::new(Opcode::PutArp, Payload::Empty),
            ControllerOp::new(
                Opcode::Arp,
                Payload::Nested(vec![
                    Action::Move { src: Subfield::whole(Field::REG0), dst: Subfield::whole(Field::REG1) },
                    Action::Resubmit { in_port: 0xfff8, table: 37, ct: false },
                ]),
            ),
            ControllerOp::new(Opcode::Log, Payload::Log { verdict: 1, severity: 6, name: b"acl1".to_vec() }),
            ControllerOp::new(
                Opcode::PutDhcpOpts,
                Payload::PutDhcpOpts {
                    dst_header: vec![0, 1, 0x1e, 4],
                    dst_ofs: 3,
                    offer_ip: [10, 0, 0, 5],
                    options: vec![(1, vec![255, 255, 255, 0]), (51, vec![0, 0, 14, 16])],
                },
            ),
            ControllerOp::new(
                Opcode::PutDhcpv6Opts,
                Payload::PutDhcpv6Opts { dst_header: vec![0, 1, 0x1e, 4], dst_ofs: 3, options: vec![(2, vec![1; 6])] },
            ),
            ControllerOp::new(Opcode::Event, Payload::Raw(vec![0, 0, 0, 0, 1, 2])),
        ];
        for op in ops {
            let b = op.encode();
            assert_eq!(ControllerOp::decode(&b), Ok(op.clone()));
            fuzz_one(&b);
        }
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        assert_eq!(ControllerOp::decode(&[0, 0, 0]), Err(UserdataError::Short(3)));
        assert_eq!(ControllerOp::decode(&[0, 0, 0, 99, 0, 0, 0, 0]), Err(UserdataError::UnknownOpcode(99)));
        assert!(ControllerOp::decode(&[0, 0, 0, 7, 0, 0, 0, 0, 1]).is_err());
        assert!(ControllerOp::decode(&[0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x1e, 4, 0, 0, 0, 0, 1, 2, 3, 4, 9, 200]).is_err());
        assert!(ControllerOp::decode(&[0, 0, 0, 5, 0, 0, 0, 0, 0xff, 0xff]).is_err());
        for n in 0..64u8 {
            let b: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            fuzz_one(&b);
            let mut h = header(Opcode::Arp);
            h.extend_from_slice(&b);
            fuzz_one(&h);
        }
    }

    #[test]
    fn corpus_replays() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/controller_userdata");
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                if let Ok(b) = std::fs::read(e.path()) {
                    fuzz_one(&b);
                }
            }
        }
    }
}
