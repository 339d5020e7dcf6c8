//! Printing in ovs-ofctl's syntax (what `ovs-ofctl ofp-print` and `dump-flows` show).

use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::openflow::actions::{ports, Action, Ct, CtZone, LearnDst, LearnSrc, Nat, NatAddrs, Subfield, HASH_FIELDS};
use crate::openflow::fields::{Field, FieldFormat};
use crate::openflow::flow_match::{Match, Slot};
use crate::openflow::messages::{flow_mod_command, FlowMod, FlowStats, DEFAULT_PRIORITY, NO_BUFFER, OFPP_ANY};

/// C's `%#x`: no prefix for zero.
pub(crate) fn hash_hex(v: u128) -> String {
    if v == 0 {
        "0".into()
    } else {
        format!("{v:#x}")
    }
}

/// OVS's `ds_put_hex`: `0x` plus the bytes without leading zero bytes; `0` if all zero.
pub(crate) fn put_hex(s: &mut String, b: &[u8]) {
    let mut printed = false;
    for &x in b {
        if x != 0 || printed {
            if printed {
                let _ = write!(s, "{x:02x}");
            } else {
                let _ = write!(s, "0x{x:x}");
            }
            printed = true;
        }
    }
    if !printed {
        s.push('0');
    }
}

/// OVS's `format_hex_arg`: bytes as `xx.xx.xx`.
fn put_hex_arg(s: &mut String, b: &[u8]) {
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        let _ = write!(s, "{x:02x}");
    }
}

fn eth(v: u128) -> String {
    let b = v.to_be_bytes();
    format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[10], b[11], b[12], b[13], b[14], b[15])
}

fn eth_masked(s: &mut String, v: u128, m: u128) {
    s.push_str(&eth(v));
    if m & 0xffff_ffff_ffff != 0xffff_ffff_ffff {
        s.push('/');
        s.push_str(&eth(m));
    }
}

fn cidr_len32(m: u32) -> Option<u32> {
    let n = m.leading_ones();
    (m.checked_shl(n).unwrap_or(0) == 0).then_some(n)
}

fn cidr_len128(m: u128) -> Option<u32> {
    let n = m.leading_ones();
    (m.checked_shl(n).unwrap_or(0) == 0).then_some(n)
}

fn ip_masked(s: &mut String, v: u32, m: u32) {
    let _ = write!(s, "{}", Ipv4Addr::from(v));
    if m != u32::MAX {
        match cidr_len32(m) {
            Some(n) => {
                let _ = write!(s, "/{n}");
            }
            None => {
                let _ = write!(s, "/{}", Ipv4Addr::from(m));
            }
        }
    }
}

fn ipv6_masked(s: &mut String, v: u128, m: u128) {
    let _ = write!(s, "{}", Ipv6Addr::from(v));
    if m != u128::MAX {
        match cidr_len128(m) {
            Some(n) => {
                let _ = write!(s, "/{n}");
            }
            None => {
                let _ = write!(s, "/{}", Ipv6Addr::from(m));
            }
        }
    }
}

/// Reserved port names as OVS prints them.
pub fn port_name(p: u16) -> Option<&'static str> {
    Some(match p {
        ports::UNSET => "UNSET",
        ports::IN_PORT => "IN_PORT",
        ports::TABLE => "TABLE",
        ports::NORMAL => "NORMAL",
        ports::FLOOD => "FLOOD",
        ports::ALL => "ALL",
        ports::CONTROLLER => "CONTROLLER",
        ports::LOCAL => "LOCAL",
        ports::NONE => "ANY",
        _ => return None,
    })
}

/// A port, by reserved name or number.
pub fn format_port(s: &mut String, p: u16) {
    match port_name(p) {
        Some(n) => s.push_str(n),
        None => {
            let _ = write!(s, "{p}");
        }
    }
}

fn flag_names(bit: u32, names: &[&'static str]) -> Option<&'static str> {
    names.get(bit.trailing_zeros() as usize).copied()
}

const CT_STATE_NAMES: &[&str] = &["new", "est", "rel", "rpl", "inv", "trk", "snat", "dnat"];
const TCP_FLAG_NAMES: &[&str] = &["fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr", "ns"];
const TUN_FLAG_NAMES: &[&str] = &["oam", "df", "csum", "key"];

/// OVS's `format_flags`: names joined by `del`, unknown bits as hex, `0` for none.
fn format_flags(s: &mut String, names: &[&'static str], flags: u32, del: char) {
    if flags == 0 {
        s.push('0');
        return;
    }
    let mut bad = 0u32;
    let mut f = flags;
    let start = s.len();
    while f != 0 {
        let bit = f & f.wrapping_neg();
        match flag_names(bit, names) {
            Some(n) => {
                s.push_str(n);
                s.push(del);
            }
            None => bad |= bit,
        }
        f &= !bit;
    }
    if bad != 0 {
        let _ = write!(s, "0x{bad:x}{del}");
    }
    if s.len() > start && s.ends_with(del) {
        s.pop();
    }
}

/// OVS's `format_flags_masked` (without the name).
fn format_flags_masked(s: &mut String, names: &[&'static str], flags: u32, mask: u32, max: u32) {
    if mask == max {
        format_flags(s, names, flags, '|');
        return;
    }
    if mask == 0 {
        s.push_str("0/0");
        return;
    }
    let mut m = mask;
    while m != 0 {
        let bit = m & m.wrapping_neg();
        s.push(if flags & bit != 0 { '+' } else { '-' });
        match flag_names(bit, names) {
            Some(n) => s.push_str(n),
            None => {
                let _ = write!(s, "0x{bit:x}");
            }
        }
        m &= !bit;
    }
}

/// Print a field value (OVS's `mf_format`): `mask` None means exact.
pub fn format_field_value(s: &mut String, f: Field, value: &[u8], mask: Option<&[u8]>) {
    let mask = match mask {
        Some(m) if m.iter().all(|&b| b == 0) => {
            s.push_str("ANY");
            return;
        }
        Some(m) if m.iter().all(|&b| b == 0xff) => None,
        m => m,
    };
    let v = be(value);
    let mv = mask.map(be);
    match f.def().format {
        FieldFormat::OfpPort if mask.is_none() => format_port(s, v as u16),
        FieldFormat::OfpPortOxm if mask.is_none() => {
            format_port(s, crate::openflow::flow_match::port_from_ofp11(v as u32).unwrap_or(0))
        }
        FieldFormat::Hex | FieldFormat::Decimal | FieldFormat::OfpPort | FieldFormat::OfpPortOxm => {
            if f.def().format == FieldFormat::Hex || value.len() > 8 {
                put_hex(s, value);
            } else {
                let _ = write!(s, "{v}");
            }
            if let Some(m) = mask {
                s.push('/');
                put_hex(s, m);
            }
        }
        FieldFormat::CtState => {
            format_flags_masked(s, CT_STATE_NAMES, v as u32, mv.unwrap_or(u32::MAX.into()) as u32, u32::MAX)
        }
        FieldFormat::Ethernet => eth_masked(s, v, mv.unwrap_or(u128::MAX)),
        FieldFormat::Ipv4 => ip_masked(s, v as u32, mv.unwrap_or(u32::MAX.into()) as u32),
        FieldFormat::Ipv6 => ipv6_masked(s, v, mv.unwrap_or(u128::MAX)),
        FieldFormat::Frag => s.push_str(frag_name(v as u8, mv.unwrap_or(0xff) as u8)),
        FieldFormat::TunFlags => format_flags_masked(s, TUN_FLAG_NAMES, v as u32, mv.unwrap_or(0xffff) as u32, 0xffff),
        FieldFormat::TcpFlags => format_flags_masked(s, TCP_FLAG_NAMES, v as u32, mv.unwrap_or(0xffff) as u32, 0xffff),
        FieldFormat::PacketType => {
            let _ = write!(s, "({},{:#x})", v >> 16, v & 0xffff);
        }
    }
}

fn frag_name(v: u8, m: u8) -> &'static str {
    let m = m & 3;
    let v = v & m;
    match (v, m) {
        (0, 3) | (0, 1) => "no",
        (1, 1) => "yes",
        (1, 3) => "first",
        (3, 3) => "later",
        (2, 2) => "later",
        (0, 2) => "not_later",
        (0, 0) => "any",
        _ => "<error>",
    }
}

fn be(b: &[u8]) -> u128 {
    b.iter().fold(0u128, |a, &x| (a << 8) | u128::from(x))
}

fn put_uint_masked(s: &mut String, name: &str, v: u128, m: u128, full: u128) {
    if m != 0 {
        let _ = write!(s, "{name}={}", hash_hex(v));
        if m != full {
            let _ = write!(s, "/{}", hash_hex(m));
        }
        s.push(',');
    }
}

fn put_be16_masked(s: &mut String, name: &str, v: u128, m: u128) {
    if m != 0 {
        if m == 0xffff {
            let _ = write!(s, "{name}={v},");
        } else {
            let _ = write!(s, "{name}=0x{v:x}/0x{m:x},");
        }
    }
}

fn put_be32_masked(s: &mut String, name: &str, v: u128, m: u128) {
    if m != 0 {
        if m == 0xffff_ffff {
            let _ = write!(s, "{name}={v},");
        } else {
            let _ = write!(s, "{name}=0x{v:08x}/0x{m:08x},");
        }
    }
}

fn put_ip(s: &mut String, name: &str, (v, m): (u128, u128)) {
    if m != 0 {
        let _ = write!(s, "{name}=");
        ip_masked(s, v as u32, m as u32);
        s.push(',');
    }
}

fn put_ipv6(s: &mut String, name: &str, (v, m): (u128, u128)) {
    if m != 0 {
        let _ = write!(s, "{name}=");
        ipv6_masked(s, v, m);
        s.push(',');
    }
}

fn put_eth(s: &mut String, name: &str, (v, m): (u128, u128)) {
    if m != 0 {
        let _ = write!(s, "{name}=");
        eth_masked(s, v, m);
        s.push(',');
    }
}

fn put_hex16(s: &mut String, b: u128) {
    put_hex(s, &b.to_be_bytes());
}

/// Print a match like OVS's `match_format()`, with `priority=` first unless it is the
/// default (pass `None` to never print it).
pub fn format_match(m: &Match, priority: Option<u16>) -> String {
    let mut s = String::new();
    if let Some(p) = priority.filter(|&p| p != DEFAULT_PRIORITY) {
        let _ = write!(s, "priority={p},");
    }
    let g = |slot| m.slot(slot);
    let (v, mk) = g(Slot::PktMark);
    put_uint_masked(&mut s, "pkt_mark", v, mk, 0xffff_ffff);
    let (v, mk) = g(Slot::RecircId);
    put_uint_masked(&mut s, "recirc_id", v, mk, 0xffff_ffff);
    let (v, mk) = g(Slot::DpHash);
    put_uint_masked(&mut s, "dp_hash", v, mk, 0xffff_ffff);
    let (v, mk) = g(Slot::ConjId);
    if mk != 0 {
        let _ = write!(s, "conj_id={v},");
    }
    let (v, mk) = g(Slot::ActsetOutput);
    if mk != 0 {
        s.push_str("actset_output=");
        format_port(&mut s, v as u16);
        s.push(',');
    }
    let (v, mk) = g(Slot::CtState);
    if mk != 0 {
        s.push_str("ct_state=");
        if mk & 0xff == 0xff {
            if v != 0 {
                format_flags(&mut s, CT_STATE_NAMES, v as u32, '|');
            } else {
                s.push('0');
            }
        } else {
            format_flags_masked(&mut s, CT_STATE_NAMES, v as u32, mk as u32, 0xff);
        }
        s.push(',');
    }
    let (v, mk) = g(Slot::CtZone);
    if mk != 0 {
        if mk == 0xffff {
            let _ = write!(s, "ct_zone={v},");
        } else {
            let _ = write!(s, "ct_zone=0x{v:x}/0x{mk:x},");
        }
    }
    let (v, mk) = g(Slot::CtMark);
    put_uint_masked(&mut s, "ct_mark", v, mk, 0xffff_ffff);
    let (v, mk) = g(Slot::CtLabel);
    if mk != 0 {
        s.push_str("ct_label=");
        put_hex16(&mut s, v);
        if mk != u128::MAX {
            s.push('/');
            put_hex16(&mut s, mk);
        }
        s.push(',');
    }
    put_ip(&mut s, "ct_nw_src", g(Slot::CtNwSrc));
    put_ipv6(&mut s, "ct_ipv6_src", g(Slot::CtIpv6Src));
    put_ip(&mut s, "ct_nw_dst", g(Slot::CtNwDst));
    put_ipv6(&mut s, "ct_ipv6_dst", g(Slot::CtIpv6Dst));
    let (v, mk) = g(Slot::CtNwProto);
    if mk != 0 {
        let _ = write!(s, "ct_nw_proto={v},");
        let (v, mk) = g(Slot::CtTpSrc);
        put_be16_masked(&mut s, "ct_tp_src", v, mk);
        let (v, mk) = g(Slot::CtTpDst);
        put_be16_masked(&mut s, "ct_tp_dst", v, mk);
    }
    let (pt, ptm) = g(Slot::PacketType);
    if ptm != 0 && !(pt == 0 && ptm == 0xffff_ffff) {
        let _ = write!(s, "packet_type=({},{:#x}),", pt >> 16, pt & 0xffff);
    }
    let (dl, dlm) = g(Slot::EthType);
    let dl = dl as u16;
    let (proto, protom) = g(Slot::NwProto);
    let mut skip_type = false;
    let mut skip_proto = false;
    if dlm != 0 {
        skip_type = true;
        let name = match (dl, protom != 0, proto) {
            (0x0800, true, 1) => Some("icmp"),
            (0x0800, true, 6) => Some("tcp"),
            (0x0800, true, 17) => Some("udp"),
            (0x0800, true, 132) => Some("sctp"),
            (0x0800, _, _) => None,
            (0x86dd, true, 58) => Some("icmp6"),
            (0x86dd, true, 6) => Some("tcp6"),
            (0x86dd, true, 17) => Some("udp6"),
            (0x86dd, true, 132) => Some("sctp6"),
            _ => None,
        };
        match (dl, name) {
            (_, Some(n)) => {
                skip_proto = true;
                let _ = write!(s, "{n},");
            }
            (0x0800, None) => s.push_str("ip,"),
            (0x86dd, None) => s.push_str("ipv6,"),
            (0x0806, _) => s.push_str("arp,"),
            (0x8035, _) => s.push_str("rarp,"),
            (0x8847, _) => s.push_str("mpls,"),
            (0x8848, _) => s.push_str("mplsm,"),
            _ => skip_type = false,
        }
    }
    for i in 0..16u8 {
        let (v, mk) = g(Slot::Reg(i));
        put_uint_masked(&mut s, &format!("reg{i}"), v, mk, 0xffff_ffff);
    }
    // Tunnel.
    let (v, mk) = g(Slot::TunId);
    put_uint_masked(&mut s, "tun_id", v, mk, u64::MAX.into());
    put_ip(&mut s, "tun_src", g(Slot::TunSrc));
    put_ip(&mut s, "tun_dst", g(Slot::TunDst));
    put_ipv6(&mut s, "tun_ipv6_src", g(Slot::TunIpv6Src));
    put_ipv6(&mut s, "tun_ipv6_dst", g(Slot::TunIpv6Dst));
    let (v, mk) = g(Slot::TunGbpId);
    put_be16_masked(&mut s, "tun_gbp_id", v, mk);
    let (v, mk) = g(Slot::TunGbpFlags);
    if mk != 0 {
        let _ = write!(s, "tun_gbp_flags={},", hash_hex(v));
    }
    let (v, mk) = g(Slot::TunFlags);
    if mk & 0xf != 0 {
        s.push_str("tun_flags=");
        format_flags_masked(&mut s, TUN_FLAG_NAMES, (v & 0xf) as u32, (mk & 0xf) as u32, 0xf);
        s.push(',');
    }
    for t in m.tun_metadata() {
        let _ = write!(s, "tun_metadata{}", t.index);
        // Without the switch's TLV table, OVS sizes the option by dropping leading bytes
        // that are zero in both value and mask.
        let skip = t
            .value
            .iter()
            .zip(&t.mask)
            .take(t.value.len().saturating_sub(1))
            .take_while(|(v, m)| **v == 0 && **m == 0)
            .count();
        let value = t.value.get(skip..).unwrap_or_default();
        let mask = t.mask.get(skip..).unwrap_or_default();
        if !mask.iter().all(|&b| b == 0) {
            s.push('=');
            put_hex(&mut s, value);
            if !mask.iter().all(|&b| b == 0xff) {
                s.push('/');
                put_hex(&mut s, mask);
            }
        }
        s.push(',');
    }
    let (v, mk) = g(Slot::Metadata);
    put_uint_masked(&mut s, "metadata", v, mk, u64::MAX.into());
    let (v, mk) = g(Slot::InPort);
    if mk != 0 {
        s.push_str("in_port=");
        format_port(&mut s, v as u16);
        s.push(',');
    }
    let (tci, tcim) = g(Slot::VlanTci);
    if tcim != 0 {
        let vid_m = tcim & 0x0fff;
        let pcp_m = tcim & 0xe000;
        let cfi = tcim & 0x1000;
        if cfi != 0
            && tci & 0x1000 != 0
            && (vid_m == 0 || vid_m == 0x0fff)
            && (pcp_m == 0 || pcp_m == 0xe000)
            && (vid_m != 0 || pcp_m != 0)
        {
            if vid_m != 0 {
                let _ = write!(s, "dl_vlan={},", tci & 0xfff);
            }
            if pcp_m != 0 {
                let _ = write!(s, "dl_vlan_pcp={},", tci >> 13);
            }
        } else if tcim == 0xffff {
            let _ = write!(s, "vlan_tci=0x{tci:04x},");
        } else {
            let _ = write!(s, "vlan_tci=0x{tci:04x}/0x{tcim:04x},");
        }
    }
    put_eth(&mut s, "dl_src", g(Slot::EthSrc));
    put_eth(&mut s, "dl_dst", g(Slot::EthDst));
    if !skip_type && dlm != 0 {
        let _ = write!(s, "dl_type=0x{dl:04x},");
    }
    // Fields below depend on the ethertype the match implies, which an L3 packet type
    // carries by itself (as OVS's get_dl_type()).
    let dl = m.dl_type();
    let is_arp = dl == 0x0806 || dl == 0x8035;
    if dl == 0x86dd {
        put_ipv6(&mut s, "ipv6_src", g(Slot::Ipv6Src));
        put_ipv6(&mut s, "ipv6_dst", g(Slot::Ipv6Dst));
        let (v, mk) = g(Slot::Ipv6Label);
        if mk != 0 {
            if mk == 0xffff_ffff || mk == 0xfffff {
                let _ = write!(s, "ipv6_label=0x{v:05x},");
            } else {
                let _ = write!(s, "ipv6_label=0x{v:05x}/0x{mk:05x},");
            }
        }
    } else if is_arp {
        put_ip(&mut s, "arp_spa", g(Slot::NwSrc));
        put_ip(&mut s, "arp_tpa", g(Slot::NwDst));
    } else {
        put_ip(&mut s, "nw_src", g(Slot::NwSrc));
        put_ip(&mut s, "nw_dst", g(Slot::NwDst));
    }
    if !skip_proto && protom != 0 {
        if is_arp {
            let _ = write!(s, "arp_op={proto},");
        } else {
            let _ = write!(s, "nw_proto={proto},");
        }
    }
    if is_arp {
        put_eth(&mut s, "arp_sha", g(Slot::ArpSha));
        put_eth(&mut s, "arp_tha", g(Slot::ArpTha));
    }
    let (tos, tosm) = g(Slot::NwTos);
    if tosm & 0xfc != 0 {
        let _ = write!(s, "nw_tos={},", tos & 0xfc);
    }
    if tosm & 0x03 != 0 {
        let _ = write!(s, "nw_ecn={},", tos & 0x03);
    }
    let (v, mk) = g(Slot::NwTtl);
    if mk != 0 {
        let _ = write!(s, "nw_ttl={v},");
    }
    let (lse, lsem) = g(Slot::MplsLse);
    if lsem & 0xffff_f000 != 0 {
        let _ = write!(s, "mpls_label={},", lse >> 12);
    }
    if lsem & 0x0e00 != 0 {
        let _ = write!(s, "mpls_tc={},", (lse >> 9) & 7);
    }
    if lsem & 0xff != 0 {
        let _ = write!(s, "mpls_ttl={},", lse & 0xff);
    }
    if lsem & 0x100 != 0 {
        let _ = write!(s, "mpls_bos={},", (lse >> 8) & 1);
    }
    let (fv, fm) = g(Slot::NwFrag);
    match fm & 3 {
        3 => {
            let n = match fv & 3 {
                0 => "no",
                1 => "first",
                3 => "later",
                _ => "<error>",
            };
            let _ = write!(s, "nw_frag={n},");
        }
        1 => {
            let _ = write!(s, "nw_frag={},", if fv & 1 != 0 { "yes" } else { "no" });
        }
        2 => {
            let _ = write!(s, "nw_frag={},", if fv & 2 != 0 { "later" } else { "not_later" });
        }
        _ => {}
    }
    let (ts, tsm) = g(Slot::TpSrc);
    let (td, tdm) = g(Slot::TpDst);
    if dl == 0x0800 && proto == 1 {
        put_be16_masked(&mut s, "icmp_type", ts, tsm);
        put_be16_masked(&mut s, "icmp_code", td, tdm);
    } else if dl == 0x86dd && proto == 58 {
        put_be16_masked(&mut s, "icmp_type", ts, tsm);
        put_be16_masked(&mut s, "icmp_code", td, tdm);
        put_ipv6(&mut s, "nd_target", g(Slot::NdTarget));
        put_eth(&mut s, "nd_sll", g(Slot::ArpSha));
        put_eth(&mut s, "nd_tll", g(Slot::ArpTha));
        let (v, mk) = g(Slot::NdReserved);
        put_be32_masked(&mut s, "nd_reserved", v, mk);
        let (v, mk) = g(Slot::TcpFlags);
        put_be16_masked(&mut s, "nd_options_type", v, mk);
    } else {
        put_be16_masked(&mut s, "tp_src", ts, tsm);
        put_be16_masked(&mut s, "tp_dst", td, tdm);
    }
    let (tf, tfm) = g(Slot::TcpFlags);
    if (dl == 0x0800 || dl == 0x86dd) && proto == 6 && tfm != 0 {
        s.push_str("tcp_flags=");
        format_flags_masked(&mut s, TCP_FLAG_NAMES, (tf & 0xfff) as u32, (tfm & 0xfff) as u32, 0xfff);
        s.push(',');
    }
    if s.ends_with(',') {
        s.pop();
    }
    s
}

/// A subfield as OVS prints it (`NXM_NX_REG0[0..15]`, `NXM_NX_REG0[]`, `NXM_NX_REG0[3]`).
pub fn format_subfield(s: &mut String, sf: &Subfield) {
    match sf.field.nxm_name() {
        Some(n) => s.push_str(&n),
        None => s.push_str(sf.field.name()),
    }
    if sf.ofs == 0 && usize::from(sf.n_bits) == sf.field.n_bits() {
        s.push_str("[]");
    } else if sf.n_bits == 1 {
        let _ = write!(s, "[{}]", sf.ofs);
    } else {
        let _ = write!(s, "[{}..{}]", sf.ofs, (u32::from(sf.ofs) + u32::from(sf.n_bits)).saturating_sub(1));
    }
}

/// An action list as OVS prints it (`drop` when empty).
pub fn format_actions(actions: &[Action]) -> String {
    let mut s = String::new();
    put_actions(&mut s, actions);
    s
}

fn put_actions(s: &mut String, actions: &[Action]) {
    if actions.is_empty() {
        s.push_str("drop");
        return;
    }
    for (i, a) in actions.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        put_action(s, a);
    }
}

fn reason_name(r: u8) -> String {
    match r {
        0 => "no_match".into(),
        1 => "action".into(),
        2 => "invalid_ttl".into(),
        3 => "action_set".into(),
        4 => "group".into(),
        5 => "packet_out".into(),
        n => n.to_string(),
    }
}

fn put_nat(s: &mut String, n: &Nat) {
    s.push_str("nat");
    if n.flags & 3 == 0 {
        return;
    }
    s.push('(');
    s.push_str(if n.flags & 1 != 0 { "src" } else { "dst" });
    if let Some(addrs) = n.addrs {
        s.push('=');
        match addrs {
            NatAddrs::V4(min, max) => {
                let _ = write!(s, "{}", Ipv4Addr::from(min));
                if max != 0 && max != min {
                    let _ = write!(s, "-{}", Ipv4Addr::from(max));
                }
            }
            NatAddrs::V6(min, max) => {
                let br = n.proto_min != 0;
                let f = |a: u128| {
                    if br {
                        format!("[{}]", Ipv6Addr::from(a))
                    } else {
                        Ipv6Addr::from(a).to_string()
                    }
                };
                s.push_str(&f(min));
                if max != 0 && max != min {
                    s.push('-');
                    s.push_str(&f(max));
                }
            }
        }
        if n.proto_min != 0 {
            let _ = write!(s, ":{}", n.proto_min);
            if n.proto_max != 0 && n.proto_max != n.proto_min {
                let _ = write!(s, "-{}", n.proto_max);
            }
        }
        s.push(',');
        if n.flags & 4 != 0 {
            s.push_str("persistent,");
        }
        if n.flags & 8 != 0 {
            s.push_str("hash,");
        }
        if n.flags & 16 != 0 {
            s.push_str("random,");
        }
    }
    if s.ends_with(',') {
        s.pop();
    }
    s.push(')');
}

fn put_ct(s: &mut String, ct: &Ct) {
    s.push_str("ct(");
    if ct.flags & 1 != 0 {
        s.push_str("commit,");
    }
    if ct.flags & 2 != 0 {
        s.push_str("force,");
    }
    if ct.table != 255 {
        let _ = write!(s, "table={},", ct.table);
    }
    match ct.zone {
        CtZone::Field(sf) => {
            s.push_str("zone=");
            format_subfield(s, &sf);
            s.push(',');
        }
        CtZone::Imm(0) => {}
        CtZone::Imm(z) => {
            let _ = write!(s, "zone={z},");
        }
    }
    let mut rest: &[Action] = &ct.actions;
    if let Some((Action::Nat(n), tail)) = rest.split_first() {
        put_nat(s, n);
        s.push(',');
        rest = tail;
    }
    if !rest.is_empty() {
        s.push_str("exec(");
        put_actions(s, rest);
        s.push_str("),");
    }
    match ct.alg {
        0 => {}
        21 => s.push_str("alg=ftp,"),
        69 => s.push_str("alg=tftp,"),
        p => {
            let _ = write!(s, "alg={p},");
        }
    }
    if s.ends_with(',') {
        s.pop();
    }
    s.push(')');
}

fn put_action(s: &mut String, a: &Action) {
    match a {
        Action::Output { port, max_len } => {
            if *port < ports::MAX {
                s.push_str("output:");
            }
            format_port(s, *port);
            if *port == ports::CONTROLLER {
                let _ = write!(s, ":{max_len}");
            }
        }
        Action::Resubmit { in_port, table, ct } => {
            if *in_port != ports::IN_PORT && *table == 255 && !ct {
                s.push_str("resubmit:");
                format_port(s, *in_port);
            } else {
                s.push_str("resubmit(");
                if *in_port != ports::IN_PORT {
                    format_port(s, *in_port);
                }
                s.push(',');
                if *table != 255 {
                    let _ = write!(s, "{table}");
                }
                if *ct {
                    s.push_str(",ct");
                }
                s.push(')');
            }
        }
        Action::SetField { field, value, mask } => {
            s.push_str("set_field:");
            format_field_value(s, *field, value, mask.as_deref());
            let _ = write!(s, "->{}", field.name());
        }
        Action::Move { src, dst } => {
            s.push_str("move:");
            format_subfield(s, src);
            s.push_str("->");
            format_subfield(s, dst);
        }
        Action::Ct(ct) => put_ct(s, ct),
        Action::Nat(n) => put_nat(s, n),
        Action::CtClear => s.push_str("ct_clear"),
        Action::Controller(c) => {
            if c.reason == 1 && c.controller_id == 0 && c.userdata.is_empty() && !c.pause && c.meter_id == 0 {
                let _ = write!(s, "CONTROLLER:{}", c.max_len);
            } else {
                s.push_str("controller(");
                if c.reason != 1 {
                    let _ = write!(s, "reason={},", reason_name(c.reason));
                }
                if c.max_len != u16::MAX {
                    let _ = write!(s, "max_len={},", c.max_len);
                }
                if c.controller_id != 0 {
                    let _ = write!(s, "id={},", c.controller_id);
                }
                if !c.userdata.is_empty() {
                    s.push_str("userdata=");
                    put_hex_arg(s, &c.userdata);
                    s.push(',');
                }
                if c.pause {
                    s.push_str("pause,");
                }
                if c.meter_id != 0 {
                    let _ = write!(s, "meter_id={},", c.meter_id);
                }
                if s.ends_with(',') {
                    s.pop();
                }
                s.push(')');
            }
        }
        Action::Conjunction { id, clause, n_clauses } => {
            let _ = write!(s, "conjunction({id},{}/{n_clauses})", u16::from(*clause) + 1);
        }
        Action::Group(g) => {
            let _ = write!(s, "group:{g}");
        }
        Action::Meter(m) => {
            let _ = write!(s, "meter:{m}");
        }
        Action::Note(n) => {
            s.push_str("note:");
            put_hex_arg(s, n);
        }
        Action::DecTtl(None) => s.push_str("dec_ttl"),
        Action::DecTtl(Some(ids)) => {
            s.push_str("dec_ttl(");
            let v: Vec<String> = ids.iter().map(u16::to_string).collect();
            s.push_str(&v.join(","));
            s.push(')');
        }
        Action::PushVlan(t) => {
            let _ = write!(s, "push_vlan:{}", hash_hex((*t).into()));
        }
        Action::PopVlan => s.push_str("pop_vlan"),
        Action::PushMpls(t) => {
            let _ = write!(s, "push_mpls:{t:#06x}");
        }
        Action::PopMpls(t) => {
            let _ = write!(s, "pop_mpls:{t:#06x}");
        }
        Action::SetMplsTtl(t) => {
            let _ = write!(s, "set_mpls_ttl({t})");
        }
        Action::DecMplsTtl => s.push_str("dec_mpls_ttl"),
        Action::Clone(acts) => {
            s.push_str("clone(");
            // An empty nested list prints as nothing, not "drop".
            if !acts.is_empty() {
                put_actions(s, acts);
            }
            s.push(')');
        }
        Action::CheckPktLarger { pkt_len, dst } => {
            let _ = write!(s, "check_pkt_larger({pkt_len})->");
            format_subfield(s, dst);
        }
        Action::FinTimeout { idle, hard } => {
            s.push_str("fin_timeout(");
            if *idle != 0 {
                let _ = write!(s, "idle_timeout={idle},");
            }
            if *hard != 0 {
                let _ = write!(s, "hard_timeout={hard},");
            }
            if s.ends_with(',') {
                s.pop();
            }
            s.push(')');
        }
        Action::StackPush(sf) => {
            s.push_str("push:");
            format_subfield(s, sf);
        }
        Action::StackPop(sf) => {
            s.push_str("pop:");
            format_subfield(s, sf);
        }
        Action::Sample(sm) => {
            let _ = write!(
                s,
                "sample(probability={},collector_set_id={},obs_domain_id={},obs_point_id={}",
                sm.probability, sm.collector_set_id, sm.obs_domain_id, sm.obs_point_id
            );
            if sm.sampling_port != ports::NONE {
                s.push_str(",sampling_port=");
                format_port(s, sm.sampling_port);
            }
            match sm.direction {
                1 => s.push_str(",ingress"),
                2 => s.push_str(",egress"),
                _ => {}
            }
            s.push(')');
        }
        Action::Learn(l) => {
            let _ = write!(s, "learn(table={}", l.table_id);
            if l.idle_timeout != 0 {
                let _ = write!(s, ",idle_timeout={}", l.idle_timeout);
            }
            if l.hard_timeout != 0 {
                let _ = write!(s, ",hard_timeout={}", l.hard_timeout);
            }
            if l.fin_idle_timeout != 0 {
                let _ = write!(s, ",fin_idle_timeout={}", l.fin_idle_timeout);
            }
            if l.fin_hard_timeout != 0 {
                let _ = write!(s, ",fin_hard_timeout={}", l.fin_hard_timeout);
            }
            if l.priority != DEFAULT_PRIORITY {
                let _ = write!(s, ",priority={}", l.priority);
            }
            if l.flags & 1 != 0 {
                s.push_str(",send_flow_rem");
            }
            if l.flags & 2 != 0 {
                s.push_str(",delete_learned");
            }
            if l.cookie != 0 {
                let _ = write!(s, ",cookie={:#x}", l.cookie);
            }
            if l.limit != 0 {
                let _ = write!(s, ",limit={}", l.limit);
            }
            if let (true, Some(d)) = (l.flags & 4 != 0, l.result_dst) {
                s.push_str(",result_dst=");
                format_subfield(s, &d);
            }
            for sp in &l.specs {
                s.push(',');
                let n_bytes = usize::from(sp.n_bits).div_ceil(8);
                let imm = |b: &Vec<u8>| b.get(b.len().saturating_sub(n_bytes)..).unwrap_or_default().to_vec();
                match (&sp.src, sp.dst) {
                    (LearnSrc::Imm(b), LearnDst::Match(d)) => {
                        let v = imm(b);
                        if d.ofs == 0 && usize::from(d.n_bits) == d.field.n_bits() {
                            let mut full = vec![0u8; d.field.n_bytes().saturating_sub(v.len())];
                            full.extend_from_slice(&v);
                            let _ = write!(s, "{}=", d.field.name());
                            format_field_value(s, d.field, &full, None);
                        } else {
                            format_subfield(s, &d);
                            s.push('=');
                            put_hex(s, &v);
                        }
                    }
                    (LearnSrc::Field(src), LearnDst::Match(d)) => {
                        format_subfield(s, &d);
                        if src.field != d.field || src.ofs != d.ofs {
                            s.push('=');
                            format_subfield(s, src);
                        }
                    }
                    (LearnSrc::Imm(b), LearnDst::Load(d)) => {
                        s.push_str("load:");
                        put_hex(s, &imm(b));
                        s.push_str("->");
                        format_subfield(s, &d);
                    }
                    (LearnSrc::Field(src), LearnDst::Load(d)) => {
                        s.push_str("load:");
                        format_subfield(s, src);
                        s.push_str("->");
                        format_subfield(s, &d);
                    }
                    (LearnSrc::Field(src), LearnDst::Output) => {
                        s.push_str("output:");
                        format_subfield(s, src);
                    }
                    (LearnSrc::Imm(_), LearnDst::Output) => s.push_str("output:<imm>"),
                }
            }
            s.push(')');
        }
        Action::Exit => s.push_str("exit"),
        Action::SetQueue(q) => {
            let _ = write!(s, "set_queue:{q}");
        }
        Action::PopQueue => s.push_str("pop_queue"),
        Action::OutputReg { src, max_len } => {
            s.push_str("output:");
            format_subfield(s, src);
            if *max_len != 0 && *max_len != u16::MAX {
                let _ = write!(s, ",max_len={max_len}");
            }
        }
        Action::Multipath(m) => {
            let alg = ["modulo_n", "hash_threshold", "hrw", "iter_hash"].get(usize::from(m.algorithm)).copied();
            let _ = write!(
                s,
                "multipath({},{},{},{},{},",
                HASH_FIELDS.get(usize::from(m.fields)).copied().unwrap_or("<unknown>"),
                m.basis,
                alg.unwrap_or("<unknown>"),
                u32::from(m.max_link) + 1,
                m.arg
            );
            format_subfield(s, &m.dst);
            s.push(')');
        }
        Action::Bundle(b) => {
            let alg = if b.algorithm == 1 {
                "hrw"
            } else if b.algorithm == 0 {
                "active_backup"
            } else {
                "<unknown>"
            };
            let _ = write!(
                s,
                "{}({},{},{},ofport,",
                if b.dst.is_some() { "bundle_load" } else { "bundle" },
                HASH_FIELDS.get(usize::from(b.fields)).copied().unwrap_or("<unknown>"),
                b.basis,
                alg
            );
            if let Some(d) = &b.dst {
                format_subfield(s, d);
                s.push(',');
            }
            s.push_str("members:");
            for (i, m) in b.members.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                format_port(s, *m);
            }
            s.push(')');
        }
        Action::Unknown(raw) => {
            s.push_str("unknown(");
            put_hex_arg(s, raw);
            s.push(')');
        }
        Action::GotoTable(t) => {
            let _ = write!(s, "goto_table:{t}");
        }
        Action::WriteMetadata { value, mask } => {
            let _ = write!(s, "write_metadata:{}", hash_hex((*value).into()));
            if *mask != u64::MAX {
                let _ = write!(s, "/{}", hash_hex((*mask).into()));
            }
        }
        Action::ClearActions => s.push_str("clear_actions"),
        Action::WriteActions(acts) => {
            s.push_str("write_actions(");
            put_actions(s, acts);
            s.push(')');
        }
    }
}

fn flags_text(flags: u16) -> String {
    let mut s = String::new();
    for (bit, name) in [
        (1, "send_flow_rem "),
        (2, "check_overlap "),
        (4, "reset_counts "),
        (8, "no_packet_counts "),
        (16, "no_byte_counts "),
    ] {
        if flags & bit != 0 {
            s.push_str(name);
        }
    }
    s
}

/// A flow mod as `ovs-ofctl ofp-print` shows it after the message header
/// (`ADD table:3 priority=100,ip actions=drop`).
pub fn format_flow_mod(fm: &FlowMod) -> String {
    let mut s = String::new();
    s.push_str(match fm.command {
        flow_mod_command::ADD => "ADD",
        flow_mod_command::MODIFY => "MOD",
        flow_mod_command::MODIFY_STRICT => "MOD_STRICT",
        flow_mod_command::DELETE => "DEL",
        flow_mod_command::DELETE_STRICT => "DEL_STRICT",
        _ => "cmd:?",
    });
    if fm.table_id != 0 {
        let _ = write!(s, " table:{}", fm.table_id);
    }
    s.push(' ');
    s.push_str(&format_match(&fm.matches, Some(fm.priority)));
    if !s.ends_with(' ') {
        s.push(' ');
    }
    let (new_cookie, cookie, mask) =
        if fm.command == flow_mod_command::ADD { (Some(fm.cookie), 0, 0) } else { (None, fm.cookie, fm.cookie_mask) };
    if let Some(c) = new_cookie.filter(|&c| c != 0 && c != u64::MAX) {
        let _ = write!(s, "cookie:0x{c:x} ");
    }
    if mask != 0 {
        let _ = write!(s, "cookie:0x{cookie:x}/0x{mask:x} ");
    }
    if fm.idle_timeout != 0 {
        let _ = write!(s, "idle:{} ", fm.idle_timeout);
    }
    if fm.hard_timeout != 0 {
        let _ = write!(s, "hard:{} ", fm.hard_timeout);
    }
    if fm.importance != 0 {
        let _ = write!(s, "importance:{} ", fm.importance);
    }
    if fm.buffer_id != NO_BUFFER {
        let _ = write!(s, "buf:0x{:x} ", fm.buffer_id);
    }
    if fm.out_port != OFPP_ANY {
        s.push_str("out_port:");
        format_port(&mut s, crate::openflow::flow_match::port_from_ofp11(fm.out_port).unwrap_or(0));
        s.push(' ');
    }
    s.push_str(&flags_text(fm.flags));
    s.push_str("actions=");
    put_actions(&mut s, &fm.actions);
    s
}

/// A flow as `ovs-ofctl dump-flows --no-stats` prints it (stats omitted, since they vary).
pub fn format_flow_stats_no_stats(fs: &FlowStats) -> String {
    let mut s = String::new();
    if fs.cookie != 0 {
        let _ = write!(s, "cookie=0x{:x}, ", fs.cookie);
    }
    if fs.table_id != 0 {
        let _ = write!(s, "table={}, ", fs.table_id);
    }
    if fs.idle_timeout != 0 {
        let _ = write!(s, "idle_timeout={}, ", fs.idle_timeout);
    }
    if fs.hard_timeout != 0 {
        let _ = write!(s, "hard_timeout={}, ", fs.hard_timeout);
    }
    s.push_str(&flags_text(fs.flags));
    if fs.importance != 0 {
        let _ = write!(s, "importance={}, ", fs.importance);
    }
    let m = format_match(&fs.matches, Some(fs.priority));
    if !m.is_empty() {
        s.push_str(&m);
        s.push(' ');
    }
    s.push_str("actions=");
    put_actions(&mut s, &fs.actions);
    s
}
