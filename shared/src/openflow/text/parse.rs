//! Parsing ovs-ofctl flow, match and action syntax.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::openflow::actions::{
    ports, Action, Bundle, Controller, Ct, CtZone, Learn, LearnDst, LearnSpec, LearnSrc, Multipath, Nat, NatAddrs,
    Sample, Subfield, HASH_FIELDS,
};
use crate::openflow::fields::{Field, FieldFormat, Prereq};
use crate::openflow::flow_match::{Match, MatchError, Slot};
use crate::openflow::messages::{FlowMod, DEFAULT_PRIORITY};

/// A parse failure, with a message in the spirit of ovs-ofctl's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for ParseError {}

impl From<MatchError> for ParseError {
    fn from(e: MatchError) -> Self {
        ParseError(e.to_string())
    }
}

type Result<T> = std::result::Result<T, ParseError>;

fn err<T>(msg: impl Into<String>) -> Result<T> {
    Err(ParseError(msg.into()))
}

/// Split the next `key[=:(]value` pair the way OVS's `ofputil_parse_key_value` does.
/// Returns (key, value); value is "" for a bare key.
pub(crate) fn next_kv<'a>(s: &mut &'a str) -> Option<(&'a str, &'a str)> {
    let is_sep = |c: char| c == ',' || c.is_ascii_whitespace();
    *s = s.trim_start_matches(is_sep);
    if s.is_empty() {
        return None;
    }
    let key_len = s.find(|c: char| ":=(, \t\r\n".contains(c)).unwrap_or(s.len());
    let key = s.get(..key_len).unwrap_or_default();
    let delim = s.get(key_len..).and_then(|r| r.chars().next());
    let rest = s.get(key_len + delim.map_or(0, char::len_utf8)..).unwrap_or_default();
    let value_delims: &str = match delim {
        Some(':') | Some('=') => ", \t\r\n",
        Some('(') => ")",
        _ => {
            *s = rest;
            return Some((key, ""));
        }
    };
    let mut n = value_len(rest, value_delims);
    if delim == Some('(') && rest.get(n..).is_some_and(|t| t.starts_with(")->")) {
        n += value_len(rest.get(n..).unwrap_or_default(), ", \t\r\n");
    }
    let value = rest.get(..n).unwrap_or_default();
    let after = rest.get(n..).unwrap_or_default();
    *s = after.strip_prefix(|c: char| value_delims.contains(c)).unwrap_or(after);
    Some((key, value))
}

fn value_len(s: &str, delims: &str) -> usize {
    let b = s.as_bytes();
    let mut n = 0;
    while let Some(&c) = b.get(n) {
        if delims.as_bytes().contains(&c) {
            break;
        }
        if c == b'(' {
            let mut level = 0i32;
            loop {
                match b.get(n) {
                    None => return n,
                    Some(b'(') => level += 1,
                    Some(b')') => level -= 1,
                    _ => {}
                }
                n += 1;
                if level <= 0 {
                    break;
                }
            }
        } else {
            n += 1;
        }
    }
    n
}

/// Unsigned integer in C `strtoull(.., 0)` style: `0x` hex, leading-zero octal, or decimal.
pub(crate) fn parse_uint(s: &str) -> Result<u128> {
    let r = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u128::from_str_radix(h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        u128::from_str_radix(s.get(1..).unwrap_or_default(), 8)
    } else {
        s.parse::<u128>()
    };
    r.or_else(|_| err(format!("{s}: invalid numeric format")))
}

fn parse_u16(s: &str) -> Result<u16> {
    u16::try_from(parse_uint(s)?).or_else(|_| err(format!("{s}: value out of range")))
}
fn parse_u32(s: &str) -> Result<u32> {
    u32::try_from(parse_uint(s)?).or_else(|_| err(format!("{s}: value out of range")))
}
fn parse_u8(s: &str) -> Result<u8> {
    u8::try_from(parse_uint(s)?).or_else(|_| err(format!("{s}: value out of range")))
}

/// A port by reserved name (case-insensitive) or number.
pub fn parse_port(s: &str) -> Option<u16> {
    let names = [
        ("unset", ports::UNSET),
        ("in_port", ports::IN_PORT),
        ("table", ports::TABLE),
        ("normal", ports::NORMAL),
        ("flood", ports::FLOOD),
        ("all", ports::ALL),
        ("controller", ports::CONTROLLER),
        ("local", ports::LOCAL),
        ("any", ports::NONE),
        ("none", ports::NONE),
    ];
    if let Some(&(_, p)) = names.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
        return Some(p);
    }
    let v = parse_uint(s).ok()?;
    if v < u128::from(ports::MAX) {
        Some(v as u16)
    } else if (0xffff_ff00..=0xffff_ffff).contains(&v) {
        crate::openflow::flow_match::port_from_ofp11(v as u32)
    } else {
        None
    }
}

fn to_be(v: u128, n: usize) -> Vec<u8> {
    let b = v.to_be_bytes();
    b.get(16usize.saturating_sub(n)..).unwrap_or_default().to_vec()
}

fn parse_mac(s: &str) -> Result<u128> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return err(format!("{s}: invalid Ethernet address"));
    }
    let mut v = 0u128;
    for p in parts {
        let b = u8::from_str_radix(p, 16).or_else(|_| err(format!("{s}: invalid Ethernet address")))?;
        v = (v << 8) | u128::from(b);
    }
    Ok(v)
}

const CT_STATE_NAMES: &[&str] = &["new", "est", "rel", "rpl", "inv", "trk", "snat", "dnat"];
const TCP_FLAG_NAMES: &[&str] = &["fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr", "ns"];
const TUN_FLAG_NAMES: &[&str] = &["oam", "df", "csum", "key"];

/// `+a-b`, `a|b`, or numeric `v[/m]` flags.
fn parse_flags(s: &str, names: &[&str], all: u128) -> Result<(u128, u128)> {
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        return parse_int_masked(s, all);
    }
    let bit = |n: &str| -> Result<u128> {
        names.iter().position(|x| *x == n).map(|i| 1u128 << i).ok_or_else(|| ParseError(format!("{n}: unknown flag")))
    };
    if s.starts_with(['+', '-']) {
        let (mut v, mut m) = (0u128, 0u128);
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            let body = rest.get(1..).unwrap_or_default();
            let end = body.find(['+', '-']).unwrap_or(body.len());
            let b = bit(body.get(..end).unwrap_or_default())?;
            m |= b;
            if c == '+' {
                v |= b;
            }
            rest = body.get(end..).unwrap_or_default();
        }
        return Ok((v, m));
    }
    let mut v = 0u128;
    for n in s.split('|') {
        v |= bit(n)?;
    }
    Ok((v, all))
}

fn parse_int_masked(s: &str, all: u128) -> Result<(u128, u128)> {
    match s.split_once('/') {
        Some((v, m)) => Ok((parse_uint(v)?, parse_uint(m)?)),
        None => Ok((parse_uint(s)?, all)),
    }
}

/// Parse a field value (`mf_parse`): returns big-endian value and mask of the field width.
pub fn parse_field_value(f: Field, s: &str) -> Result<(Vec<u8>, Option<Vec<u8>>)> {
    let def = f.def();
    let n = def.n_bytes;
    if def.variable {
        // tun_metadata: hex of any length up to the field width.
        let (v, m) = match s.split_once('/') {
            Some((v, m)) => (v, Some(m)),
            None => (s, None),
        };
        let hex = |x: &str| -> Result<Vec<u8>> {
            let h = x.strip_prefix("0x").unwrap_or(x);
            let h = if h.len() % 2 == 1 { format!("0{h}") } else { h.to_string() };
            crate::openflow::wire::from_hex(&h)
                .filter(|b| !b.is_empty() && b.len() <= def.n_bytes)
                .ok_or_else(|| ParseError(format!("{x}: bad hex")))
        };
        let v = hex(v)?;
        let m = m.map(hex).transpose()?;
        // As OVS sizes an option from text: right-align value and mask, then drop leading
        // bytes that are zero in both (an unmasked value counts as its own mask).
        let len = v.len().max(m.as_ref().map_or(0, Vec::len));
        let align = |b: &[u8]| {
            let mut x = vec![0u8; len - b.len()];
            x.extend_from_slice(b);
            x
        };
        let mm = m.as_deref().map(align);
        let v: Vec<u8> = match &mm {
            Some(m) => align(&v).iter().zip(m).map(|(a, b)| a & b).collect(),
            None => align(&v),
        };
        let skip = (0..len.saturating_sub(1))
            .take_while(|&i| v.get(i) == Some(&0) && mm.as_ref().is_none_or(|m| m.get(i) == Some(&0)))
            .count();
        let v = v.get(skip..).unwrap_or_default().to_vec();
        let mm = mm.map(|m| m.get(skip..).unwrap_or_default().to_vec());
        return Ok((v, mm));
    }
    let full = if n >= 16 { u128::MAX } else { (1u128 << (8 * n)) - 1 };
    let (v, m) = match def.format {
        FieldFormat::Decimal | FieldFormat::Hex => parse_int_masked(s, full)?,
        FieldFormat::OfpPort | FieldFormat::OfpPortOxm => {
            let p = parse_port(s).ok_or_else(|| ParseError(format!("{s}: port value out of range")))?;
            let v = if def.format == FieldFormat::OfpPortOxm {
                u128::from(crate::openflow::flow_match::port_to_ofp11(p))
            } else {
                p.into()
            };
            (v, full)
        }
        FieldFormat::Ethernet => match s.split_once('/') {
            Some((v, m)) => (parse_mac(v)?, parse_mac(m)?),
            None => (parse_mac(s)?, full),
        },
        FieldFormat::Ipv4 => {
            let (a, m) = s.split_once('/').map_or((s, None), |(a, m)| (a, Some(m)));
            let v: Ipv4Addr = a.parse().or_else(|_| err(format!("{s}: invalid IP address")))?;
            let mask = match m {
                None => u32::MAX,
                Some(m) if m.contains('.') => {
                    u32::from(m.parse::<Ipv4Addr>().or_else(|_| err(format!("{s}: invalid IP mask")))?)
                }
                Some(m) => {
                    let bits: u32 = m.parse().or_else(|_| err(format!("{s}: invalid prefix")))?;
                    if bits > 32 {
                        return err(format!("{s}: invalid prefix"));
                    }
                    u32::MAX.checked_shl(32 - bits).unwrap_or(0)
                }
            };
            (u128::from(u32::from(v)), u128::from(mask))
        }
        FieldFormat::Ipv6 => {
            let (a, m) = s.split_once('/').map_or((s, None), |(a, m)| (a, Some(m)));
            let v: Ipv6Addr = a.parse().or_else(|_| err(format!("{s}: invalid IPv6 address")))?;
            let mask = match m {
                None => u128::MAX,
                Some(m) if m.contains(':') => {
                    u128::from(m.parse::<Ipv6Addr>().or_else(|_| err(format!("{s}: invalid IPv6 mask")))?)
                }
                Some(m) => {
                    let bits: u32 = m.parse().or_else(|_| err(format!("{s}: invalid prefix")))?;
                    if bits > 128 {
                        return err(format!("{s}: invalid prefix"));
                    }
                    u128::MAX.checked_shl(128 - bits).unwrap_or(0)
                }
            };
            (u128::from(v), mask)
        }
        FieldFormat::CtState => parse_flags(s, CT_STATE_NAMES, full)?,
        FieldFormat::TcpFlags => parse_flags(s, TCP_FLAG_NAMES, full)?,
        FieldFormat::TunFlags => parse_flags(s, TUN_FLAG_NAMES, full)?,
        FieldFormat::Frag => {
            let (v, m) = match s {
                "no" => (0, 3),
                "yes" => (1, 1),
                "first" => (1, 3),
                "later" => (3, 3),
                "not_later" => (0, 2),
                "any" => (0, 0),
                _ => return err(format!("{s}: unknown fragment type")),
            };
            (v, if m == 3 { full } else { m })
        }
        FieldFormat::PacketType => {
            let inner = s.trim_start_matches('(').trim_end_matches(')');
            let (ns, t) = inner.split_once(',').ok_or_else(|| ParseError(format!("{s}: bad packet_type")))?;
            ((parse_uint(ns)? << 16) | parse_uint(t)?, full)
        }
    };
    if v > full || m > full {
        return err(format!("{s}: value too large for {}", def.name));
    }
    let mask = if m == full { None } else { Some(to_be(m, n)) };
    Ok((to_be(v & m, n), mask))
}

fn set_from_text(m: &mut Match, f: Field, value: &str) -> Result<()> {
    let value = if value.is_empty() { "0/0" } else { value };
    let (v, mask) = parse_field_value(f, value)?;
    // packet_type=(0,0) is the default OVS implies: ovs-ofctl encodes the same bytes with
    // or without it and never prints it, so keep it out of the match.
    if f == Field::PACKET_TYPE && mask.is_none() && v == [0, 0, 0, 0] {
        return Ok(());
    }
    match mask {
        Some(mk) => m.set_masked(f, &v, &mk)?,
        None => m.set(f, &v)?,
    }
    Ok(())
}

fn protocol_shorthand(m: &mut Match, key: &str) -> Result<bool> {
    let (dl, proto): (u16, Option<u8>) = match key {
        "ip" | "ipv4" => (0x0800, None),
        "ipv6" => (0x86dd, None),
        "icmp" => (0x0800, Some(1)),
        "icmp6" => (0x86dd, Some(58)),
        "tcp" => (0x0800, Some(6)),
        "tcp6" => (0x86dd, Some(6)),
        "udp" => (0x0800, Some(17)),
        "udp6" => (0x86dd, Some(17)),
        "sctp" => (0x0800, Some(132)),
        "sctp6" => (0x86dd, Some(132)),
        "arp" => (0x0806, None),
        "rarp" => (0x8035, None),
        "mpls" => (0x8847, None),
        "mplsm" => (0x8848, None),
        _ => return Ok(false),
    };
    m.set_u128(Field::ETH_TYPE, dl.into())?;
    if let Some(p) = proto {
        m.set_u128(Field::IP_PROTO, p.into())?;
    }
    Ok(true)
}

fn match_key(m: &mut Match, key: &str, value: &str) -> Result<()> {
    if value.is_empty() && protocol_shorthand(m, key)? {
        return Ok(());
    }
    // Names OVS accepts that alias a differently named field.
    let f = match key {
        "tp_src" => Some(Field::TCP_SRC),
        "tp_dst" => Some(Field::TCP_DST),
        "nw_proto" => Some(Field::IP_PROTO),
        "nw_ttl" => Some(Field::IP_TTL),
        "nw_tos" => Some(Field::IP_DSCP),
        "icmpv4_type" => Some(Field::ICMPV4_TYPE),
        _ => Field::from_name(key),
    };
    let f = f.ok_or_else(|| ParseError(format!("unknown keyword {key}")))?;
    if f == Field::IN_PORT {
        let p = parse_port(value).ok_or_else(|| ParseError(format!("{value}: port value out of range")))?;
        m.set_u128(Field::IN_PORT, p.into())?;
        return Ok(());
    }
    set_from_text(m, f, value)
}

/// Parse a match (no `actions=`), e.g. `ip,reg0=0x5/0xff,nw_src=10.0.0.0/8`.
pub fn parse_match(s: &str) -> Result<Match> {
    let mut m = Match::new();
    let mut rest = s;
    while let Some((k, v)) = next_kv(&mut rest) {
        match_key(&mut m, k, v)?;
    }
    check_prereqs(&m)?;
    Ok(m)
}

fn check_prereqs(m: &Match) -> Result<()> {
    m.check_ct_tp().map_err(|e| ParseError(e.into()))?;
    // tp_src/tp_dst under ICMP are the (8-bit, unmaskable) type and code.
    let icmp = matches!((m.eth_type(), m.nw_proto()), (Some(0x0800), Some(1)) | (Some(0x86dd), Some(58)));
    if icmp {
        for slot in [Slot::TpSrc, Slot::TpDst] {
            let (v, mk) = m.slot(slot);
            if (mk != 0 && mk != 0xffff) || v > 0xff {
                return err("ICMP type and code are 8-bit values that cannot be masked");
            }
        }
    }
    for f in Field::all() {
        // ovs-ofctl leaves the conntrack-validity prerequisite to the switch.
        let p = f.def().prereq;
        if m.get(f).is_some() && f != Field::IP_DSCP && p != Prereq::CtValid && !m.prereq_ok(p) {
            // Shared slots (tp_src for tcp/udp/icmp...) are checked through any alias that
            // fits, as OVS stores them once.
            let alias_ok =
                Field::all().any(|g| g != f && m.get(g).is_some() && same_slot(f, g) && m.prereq_ok(g.def().prereq));
            if !alias_ok {
                return err(format!("{}: prerequisites not met", f.name()));
            }
        }
    }
    Ok(())
}

fn same_slot(a: Field, b: Field) -> bool {
    let mut ma = Match::new();
    let probe = vec![0xffu8; a.n_bytes().min(16)];
    if ma.set(a, &probe).is_err() {
        return false;
    }
    ma.get(b).is_some()
}

/// A parsed `ovs-ofctl add-flow` style flow.
pub type ParsedFlow = FlowMod;

/// Parse a flow as `ovs-ofctl add-flow` does: match fields, `table=`, `priority=`,
/// `cookie=`, timeouts, flags, and `actions=...`.
pub fn parse_flow(s: &str) -> Result<ParsedFlow> {
    let (head, acts) = match s.find("action") {
        Some(i) => {
            let tail = s.get(i..).unwrap_or_default();
            let eq = tail.find('=').ok_or_else(|| ParseError("actions: missing '='".into()))?;
            let kw = tail.get(..eq).unwrap_or_default().trim();
            if kw != "actions" && kw != "action" {
                return err(format!("{kw}: unknown keyword"));
            }
            (s.get(..i).unwrap_or_default(), Some(tail.get(eq + 1..).unwrap_or_default()))
        }
        None => (s, None),
    };
    let mut fm = FlowMod { priority: DEFAULT_PRIORITY, ..FlowMod::default() };
    let mut rest = head;
    while let Some((k, v)) = next_kv(&mut rest) {
        match k {
            "table" => fm.table_id = parse_u8(v)?,
            "priority" => fm.priority = parse_u16(v)?,
            "idle_timeout" => fm.idle_timeout = parse_u16(v)?,
            "hard_timeout" => fm.hard_timeout = parse_u16(v)?,
            "importance" => fm.importance = parse_u16(v)?,
            "cookie" => match v.split_once('/') {
                Some((c, mk)) => {
                    fm.cookie = parse_uint(c)? as u64;
                    fm.cookie_mask = parse_uint(mk)? as u64;
                }
                None => fm.cookie = parse_uint(v)? as u64,
            },
            "out_port" => {
                let p = parse_port(v).ok_or_else(|| ParseError(format!("{v}: bad port")))?;
                fm.out_port = crate::openflow::flow_match::port_to_ofp11(p);
            }
            "out_group" => fm.out_group = parse_u32(v)?,
            "buffer_id" => fm.buffer_id = parse_u32(v)?,
            "send_flow_rem" => fm.flags |= 1,
            "check_overlap" => fm.flags |= 2,
            "reset_counts" => fm.flags |= 4,
            "no_packet_counts" => fm.flags |= 8,
            "no_byte_counts" => fm.flags |= 16,
            "duration" | "n_packets" | "n_bytes" | "idle_age" | "hard_age" => {}
            _ => match_key(&mut fm.matches, k, v)?,
        }
    }
    check_prereqs(&fm.matches)?;
    if let Some(a) = acts {
        fm.actions = parse_actions(a)?;
    }
    Ok(fm)
}

/// Parse a subfield: `NXM_NX_REG0[0..15]`, `reg0[]`, `NXM_NX_REG0[3]`, or a bare field name.
pub fn parse_subfield(s: &str) -> Result<Subfield> {
    let (name, range) = match s.find('[') {
        Some(i) => (s.get(..i).unwrap_or_default(), Some(s.get(i..).unwrap_or_default())),
        None => (s, None),
    };
    let field = Field::from_nxm_name(name)
        .or_else(|| Field::from_name(name))
        .ok_or_else(|| ParseError(format!("{s}: unknown field `{name}'")))?;
    let w = field.n_bits() as u16;
    let sf = match range {
        None | Some("[]") => Subfield { field, ofs: 0, n_bits: w },
        Some(r) => {
            let inner = r
                .strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .ok_or_else(|| ParseError(format!("{s}: syntax error")))?;
            match inner.split_once("..") {
                Some((a, b)) => {
                    let a: u16 = a.parse().or_else(|_| err(format!("{s}: bad range")))?;
                    let b: u16 = b.parse().or_else(|_| err(format!("{s}: bad range")))?;
                    if b < a {
                        return err(format!("{s}: bad range"));
                    }
                    Subfield { field, ofs: a, n_bits: b.saturating_sub(a).saturating_add(1) }
                }
                None => {
                    let a: u16 = inner.parse().or_else(|_| err(format!("{s}: bad bit")))?;
                    Subfield { field, ofs: a, n_bits: 1 }
                }
            }
        }
    };
    if usize::from(sf.ofs) + usize::from(sf.n_bits) > field.n_bits() {
        return err(format!(
            "{s}: starts at bit {} and ends at bit {} but is only {} bits wide",
            sf.ofs,
            u32::from(sf.ofs) + u32::from(sf.n_bits),
            w
        ));
    }
    Ok(sf)
}

fn split_arrow(s: &str) -> Result<(&str, &str)> {
    s.split_once("->").ok_or_else(|| ParseError(format!("{s}: missing `->'")))
}

fn bits_mask(ofs: u16, n: u16) -> u128 {
    let w = if n >= 128 { u128::MAX } else { (1u128 << n) - 1 };
    w << ofs
}

fn load_action(value: u128, dst: Subfield) -> Result<Action> {
    if dst.field.n_bytes() > 16 {
        return err(format!("load into {} is not supported", dst.field.name()));
    }
    if dst.n_bits < 128 && value >> dst.n_bits != 0 {
        return err(format!("value {value:#x} does not fit into {} bits", dst.n_bits));
    }
    let n = dst.field.n_bytes().min(16);
    let mask = bits_mask(dst.ofs, dst.n_bits);
    let full = if n >= 16 { u128::MAX } else { (1u128 << (8 * n)) - 1 };
    Ok(Action::SetField {
        field: dst.field,
        value: to_be(value << dst.ofs, n),
        mask: if mask == full { None } else { Some(to_be(mask, n)) },
    })
}

fn parse_hex_dotted(s: &str) -> Result<Vec<u8>> {
    let digits: String = s.chars().filter(|c| *c != '.' && !c.is_ascii_whitespace()).collect();
    crate::openflow::wire::from_hex(&digits).ok_or_else(|| ParseError(format!("{s}: bad hex digit")))
}

/// Parse an action list (`actions=` value), e.g. `ct(commit,zone=NXM_NX_REG13[0..15]),resubmit(,8)`.
pub fn parse_actions(s: &str) -> Result<Vec<Action>> {
    let mut out = Vec::new();
    let mut rest = s;
    let mut drop = false;
    while let Some((k, v)) = next_kv(&mut rest) {
        let lk = k.to_ascii_lowercase();
        match lk.as_str() {
            "drop" => drop = true,
            // As OVS does for OpenFlow 1.2+: push a tag, then set its VID.
            "mod_vlan_vid" => {
                out.push(Action::PushVlan(0x8100));
                let vid = parse_u16(v)?;
                if vid > 0xfff {
                    return err(format!("{v}: not a valid VLAN VID"));
                }
                out.push(Action::SetField {
                    field: Field::VLAN_VID,
                    value: to_be(u128::from(vid | 0x1000), 2),
                    mask: None,
                });
            }
            _ => out.push(parse_action(&lk, v)?),
        }
    }
    if drop && !out.is_empty() {
        return err("\"drop\" must not be accompanied by any other action or instruction");
    }
    Ok(out)
}

fn parse_action(k: &str, v: &str) -> Result<Action> {
    Ok(match k {
        "output" => {
            if let Some(p) = parse_port(v) {
                Action::Output { port: p, max_len: if p == ports::CONTROLLER { u16::MAX } else { 0 } }
            } else {
                Action::OutputReg { src: parse_subfield(v)?, max_len: u16::MAX }
            }
        }
        "resubmit" => {
            let parts: Vec<&str> = v.split(',').collect();
            let port = match parts.first() {
                Some(p) if !p.is_empty() => {
                    parse_port(p).ok_or_else(|| ParseError(format!("{p}: resubmit to unknown port")))?
                }
                _ => ports::IN_PORT,
            };
            let table = match parts.get(1) {
                Some(t) if !t.is_empty() => parse_u8(t)?,
                _ => 255,
            };
            let ct = match parts.get(2) {
                Some(&"ct") => true,
                Some(x) if !x.is_empty() => return err(format!("{x}: unknown parameter")),
                _ => false,
            };
            if port == ports::IN_PORT && table == 255 {
                return err("at least one \"in_port\" or \"table\" must be specified on resubmit");
            }
            Action::Resubmit { in_port: port, table, ct }
        }
        "set_field" => {
            let (val, dst) = split_arrow(v)?;
            let f = Field::from_name(dst).ok_or_else(|| ParseError(format!("{dst} is not a valid OXM field name")))?;
            if !f.def().writable {
                return err(format!("{dst} is read-only"));
            }
            let (value, mask) = parse_field_value(f, val)?;
            Action::SetField { field: f, value, mask }
        }
        "load" => {
            let (val, dst) = split_arrow(v)?;
            load_action(parse_uint(val)?, parse_subfield(dst)?)?
        }
        "set_tunnel" | "set_tunnel64" => load_action(parse_uint(v)?, Subfield::whole(Field::TUN_ID))?,
        "mod_dl_src" => Action::SetField { field: Field::ETH_SRC, value: to_be(parse_mac(v)?, 6), mask: None },
        "mod_dl_dst" => Action::SetField { field: Field::ETH_DST, value: to_be(parse_mac(v)?, 6), mask: None },
        "move" => {
            let (a, b) = split_arrow(v)?;
            let src = parse_subfield(a)?;
            let dst = parse_subfield(b)?;
            if src.n_bits != dst.n_bits {
                return err(format!(
                    "source field is {} bits wide but destination is {} bits wide",
                    src.n_bits, dst.n_bits
                ));
            }
            Action::Move { src, dst }
        }
        "ct" => Action::Ct(parse_ct(v)?),
        "nat" => Action::Nat(parse_nat(v)?),
        "ct_clear" => Action::CtClear,
        "controller" => parse_controller(v)?,
        "conjunction" => {
            let (id, cl) = v.split_once(',').ok_or_else(|| ParseError(format!("{v}: bad conjunction")))?;
            let (k, n) = cl.split_once('/').ok_or_else(|| ParseError(format!("{v}: bad conjunction")))?;
            let id = parse_u32(id.trim())?;
            let k = parse_u8(k.trim())?;
            let n = parse_u8(n.trim())?;
            if !(2..=64).contains(&n) || k == 0 || k > n {
                return err("conjunction must have between 2 and 64 clauses");
            }
            Action::Conjunction { id, clause: k - 1, n_clauses: n }
        }
        "group" => Action::Group(parse_u32(v)?),
        "meter" => Action::Meter(parse_u32(v)?),
        "note" => Action::Note(parse_hex_dotted(v)?),
        "dec_ttl" => {
            if v.is_empty() {
                Action::DecTtl(None)
            } else {
                Action::DecTtl(Some(v.split(',').map(|x| parse_u16(x.trim())).collect::<Result<_>>()?))
            }
        }
        "push_vlan" => Action::PushVlan(parse_u16(v)?),
        "pop_vlan" | "strip_vlan" => Action::PopVlan,
        "push_mpls" => {
            let t = parse_u16(v)?;
            if t != 0x8847 && t != 0x8848 {
                return err(format!("{v}: not a valid MPLS ethertype"));
            }
            Action::PushMpls(t)
        }
        "pop_mpls" => Action::PopMpls(parse_u16(v)?),
        "set_mpls_ttl" => {
            let t = v.strip_prefix('(').and_then(|x| x.strip_suffix(')')).unwrap_or(v);
            let t = parse_u16(t)?;
            Action::SetMplsTtl(u8::try_from(t).map_err(|_| ParseError(format!("{v}: not a valid TTL")))?)
        }
        "dec_mpls_ttl" => Action::DecMplsTtl,
        "set_mpls_label" => {
            let l = parse_u32(v)?;
            if l > 0xfffff {
                return err(format!("{v}: not a valid MPLS label"));
            }
            Action::SetField { field: Field::MPLS_LABEL, value: l.to_be_bytes().to_vec(), mask: None }
        }
        "set_mpls_tc" => {
            let t = parse_u16(v)?;
            if t > 7 {
                return err(format!("{v}: not a valid MPLS TC"));
            }
            Action::SetField { field: Field::MPLS_TC, value: vec![t as u8], mask: None }
        }
        "clone" => Action::Clone(parse_actions(v)?),
        "check_pkt_larger" => {
            let inner = v.strip_prefix('(').unwrap_or(v);
            let (n, dst) = inner.split_once(")->").ok_or_else(|| ParseError(format!("{v}: bad check_pkt_larger")))?;
            let dst = parse_subfield(dst)?;
            if dst.n_bits != 1 {
                return err("check_pkt_larger destination must be one bit");
            }
            Action::CheckPktLarger { pkt_len: parse_u16(n)?, dst }
        }
        "fin_timeout" => {
            let (mut idle, mut hard) = (0, 0);
            let mut r = v;
            while let Some((kk, vv)) = next_kv(&mut r) {
                match kk {
                    "idle_timeout" => idle = parse_u16(vv)?,
                    "hard_timeout" => hard = parse_u16(vv)?,
                    _ => return err(format!("invalid key '{kk}' in 'fin_timeout' argument")),
                }
            }
            Action::FinTimeout { idle, hard }
        }
        "push" => Action::StackPush(parse_subfield(v)?),
        "pop" => Action::StackPop(parse_subfield(v)?),
        "sample" => {
            let mut sm = Sample {
                probability: 0,
                collector_set_id: 0,
                obs_domain_id: 0,
                obs_point_id: 0,
                sampling_port: ports::NONE,
                direction: 0,
            };
            let mut r = v;
            while let Some((kk, vv)) = next_kv(&mut r) {
                match kk {
                    "probability" => sm.probability = parse_u16(vv)?,
                    "collector_set_id" => sm.collector_set_id = parse_u32(vv)?,
                    "obs_domain_id" => sm.obs_domain_id = parse_u32(vv)?,
                    "obs_point_id" => sm.obs_point_id = parse_u32(vv)?,
                    "sampling_port" => {
                        sm.sampling_port = parse_port(vv).ok_or_else(|| ParseError(format!("{vv}: unknown port")))?
                    }
                    "ingress" => sm.direction = 1,
                    "egress" => sm.direction = 2,
                    _ => return err(format!("invalid key \"{kk}\" in \"sample\" argument")),
                }
            }
            if sm.probability == 0 {
                return err("non-zero \"probability\" must be specified on sample");
            }
            Action::Sample(sm)
        }
        "learn" => Action::Learn(parse_learn(v)?),
        "multipath" => {
            let a: Vec<&str> = v.split([',', ' ']).filter(|x| !x.is_empty()).collect();
            let [fields, basis, alg, n_links, arg, dst] = a.as_slice() else {
                return err(format!("{v}: not enough arguments to multipath action"));
            };
            let fields = hash_fields(fields)?;
            let algorithm = ["modulo_n", "hash_threshold", "hrw", "iter_hash"]
                .iter()
                .position(|x| x.eq_ignore_ascii_case(alg))
                .ok_or_else(|| ParseError(format!("{v}: unknown algorithm `{alg}'")))?
                as u16;
            let n: u32 = n_links.parse().or_else(|_| err(format!("{v}: bad n_links")))?;
            if !(1..=65536).contains(&n) {
                return err(format!("{v}: n_links {n} is not in valid range 1 to 65536"));
            }
            let dst = parse_subfield(dst)?;
            Action::Multipath(Multipath {
                fields,
                basis: parse_u16(basis)?,
                algorithm,
                max_link: (n - 1) as u16,
                arg: parse_u32(arg)?,
                dst,
            })
        }
        "bundle" | "bundle_load" => {
            let a: Vec<&str> = v.split([',', ' ']).filter(|x| !x.is_empty()).collect();
            let load = k == "bundle_load";
            let (fields, basis, alg, mtype, rest) = match a.as_slice() {
                [f, b, al, t, rest @ ..] if rest.len() > usize::from(load) => (*f, *b, *al, *t, rest),
                _ => return err(format!("{v}: not enough arguments to bundle action")),
            };
            let fields = hash_fields(fields)?;
            let basis = parse_u16(basis)?;
            let algorithm = match alg {
                x if x.eq_ignore_ascii_case("hrw") => 1,
                x if x.eq_ignore_ascii_case("active_backup") => 0,
                x => return err(format!("{v}: unknown algorithm `{x}'")),
            };
            if !mtype.eq_ignore_ascii_case("ofport") {
                return err(format!("{v}: unknown member_type `{mtype}'"));
            }
            let (dst, member_list) = match (load, rest) {
                (true, [d, tail @ ..]) => (Some(parse_subfield(d)?), tail),
                _ => (None, rest),
            };
            let mut members = Vec::new();
            for (i, m) in member_list.iter().enumerate() {
                let m = if i == 0 {
                    m.strip_prefix("members:")
                        .or_else(|| m.strip_prefix("slaves:"))
                        .ok_or_else(|| ParseError(format!("{v}: missing member delimiter")))?
                } else {
                    m
                };
                members.push(parse_port(m).ok_or_else(|| ParseError(format!("{m}: bad port number")))?);
            }
            Action::Bundle(Bundle { algorithm, fields, basis, dst, members })
        }
        "exit" => Action::Exit,
        "set_queue" => Action::SetQueue(parse_u32(v)?),
        "pop_queue" => Action::PopQueue,
        "goto_table" => Action::GotoTable(parse_u8(v)?),
        "clear_actions" => Action::ClearActions,
        "write_actions" => Action::WriteActions(parse_actions(v)?),
        "write_metadata" => {
            let (val, mask) = parse_int_masked(v, u64::MAX.into())?;
            Action::WriteMetadata { value: val as u64, mask: mask as u64 }
        }
        _ => match parse_port(k) {
            Some(p) if v.is_empty() => Action::Output { port: p, max_len: 0 },
            _ => return err(format!("unknown action {k}")),
        },
    })
}

fn hash_fields(s: &str) -> Result<u16> {
    HASH_FIELDS
        .iter()
        .position(|x| x.eq_ignore_ascii_case(s))
        .map(|i| i as u16)
        .ok_or_else(|| ParseError(format!("unknown fields `{s}'")))
}

fn parse_controller(v: &str) -> Result<Action> {
    let mut c = Controller::default();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        c.max_len = parse_u16(v)?;
    } else {
        let mut r = v;
        while let Some((k, val)) = next_kv(&mut r) {
            match k {
                "reason" => {
                    c.reason = match val {
                        "no_match" => 0,
                        "action" => 1,
                        "invalid_ttl" => 2,
                        "action_set" => 3,
                        "group" => 4,
                        "packet_out" => 5,
                        _ => return err(format!("unknown reason \"{val}\"")),
                    }
                }
                "max_len" => c.max_len = parse_u16(val)?,
                "id" => c.controller_id = parse_u16(val)?,
                "userdata" => c.userdata = parse_hex_dotted(val)?,
                "pause" => c.pause = true,
                "meter_id" => c.meter_id = parse_u32(val)?,
                _ => return err(format!("unknown key \"{k}\" parsing controller action")),
            }
        }
    }
    // Like OVS: a controller action with nothing special is an output to CONTROLLER.
    Ok(if c.reason == 1 && c.controller_id == 0 && c.userdata.is_empty() && !c.pause && c.meter_id == 0 {
        Action::Output { port: ports::CONTROLLER, max_len: c.max_len }
    } else {
        Action::Controller(c)
    })
}

fn parse_ct(v: &str) -> Result<Ct> {
    let mut ct = Ct { flags: 0, zone: CtZone::Imm(0), table: 255, alg: 0, actions: Vec::new() };
    let mut r = v;
    while let Some((k, val)) = next_kv(&mut r) {
        match k {
            "commit" => ct.flags |= 1,
            "force" => ct.flags |= 2,
            "table" => ct.table = parse_u8(val)?,
            "zone" => {
                ct.zone = if val.starts_with(|c: char| c.is_ascii_digit()) {
                    CtZone::Imm(parse_u16(val)?)
                } else {
                    let sf = parse_subfield(val)?;
                    if sf.n_bits != 16 {
                        return err(format!("{val}: zone field must be 16 bits"));
                    }
                    CtZone::Field(sf)
                }
            }
            "alg" => {
                ct.alg = match val {
                    "ftp" => 21,
                    "tftp" => 69,
                    _ => parse_u16(val)?,
                }
            }
            "nat" => ct.actions.push(Action::Nat(parse_nat(val)?)),
            "exec" => ct.actions.extend(parse_actions(val)?),
            _ => return err(format!("invalid argument to \"ct\" action: `{k}'")),
        }
    }
    if ct.flags & 2 != 0 && ct.flags & 1 == 0 {
        return err("\"force\" flag requires \"commit\" flag");
    }
    Ok(ct)
}

fn parse_nat(v: &str) -> Result<Nat> {
    let mut nat = Nat { flags: 0, addrs: None, proto_min: 0, proto_max: 0 };
    let mut r = v;
    while let Some((k, val)) = next_kv(&mut r) {
        match k {
            "src" | "dst" => {
                if nat.flags & 3 != 0 {
                    return err("May only specify one of \"src\" or \"dst\".");
                }
                nat.flags |= if k == "src" { 1 } else { 2 };
                if !val.is_empty() {
                    parse_nat_range(&mut nat, val)?;
                }
            }
            "persistent" => nat.flags |= 4,
            "hash" => nat.flags |= 8,
            "random" => nat.flags |= 16,
            _ => return err(format!("invalid key \"{k}\" in \"nat\" argument")),
        }
    }
    // OVS only prints these with an address range, so only accept them with one.
    if nat.flags & 0x1c != 0 && nat.addrs.is_none() {
        return err("nat flags persistent/hash/random need src= or dst= with a range");
    }
    if nat.flags & 0x18 == 0x18 {
        return err("Both \"hash\" and \"random\" are specified.");
    }
    Ok(nat)
}

fn parse_nat_range(nat: &mut Nat, s: &str) -> Result<()> {
    let bad = || ParseError(format!("{s}: bad nat range"));
    let (addrs, ports) = if let Some(rest) = s.strip_prefix('[') {
        // [v6]-[v6]:port-port
        let close = rest.find(']').ok_or_else(bad)?;
        let min: Ipv6Addr = rest.get(..close).unwrap_or_default().parse().map_err(|_| bad())?;
        let mut tail = rest.get(close + 1..).unwrap_or_default();
        let mut max = 0u128;
        if let Some(t) = tail.strip_prefix("-[") {
            let c2 = t.find(']').ok_or_else(bad)?;
            max = u128::from(t.get(..c2).unwrap_or_default().parse::<Ipv6Addr>().map_err(|_| bad())?);
            tail = t.get(c2 + 1..).unwrap_or_default();
        }
        (NatAddrs::V6(u128::from(min), max), tail.strip_prefix(':'))
    } else if s.matches(':').count() >= 2 {
        let (a, b) = s.split_once('-').map_or((s, None), |(a, b)| (a, Some(b)));
        let min: Ipv6Addr = a.parse().map_err(|_| bad())?;
        let max = b.map(|b| b.parse::<Ipv6Addr>().map_err(|_| bad())).transpose()?.map_or(0, u128::from);
        (NatAddrs::V6(u128::from(min), max), None)
    } else {
        let (ip, ports) = s.split_once(':').map_or((s, None), |(a, b)| (a, Some(b)));
        let (a, b) = ip.split_once('-').map_or((ip, None), |(a, b)| (a, Some(b)));
        let min: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let max = b.map(|b| b.parse::<Ipv4Addr>().map_err(|_| bad())).transpose()?.map_or(0, u32::from);
        (NatAddrs::V4(u32::from(min), max), ports)
    };
    nat.addrs = Some(addrs);
    if let Some(p) = ports {
        let (a, b) = p.split_once('-').map_or((p, None), |(a, b)| (a, Some(b)));
        nat.proto_min = parse_u16(a)?;
        nat.proto_max = b.map(parse_u16).transpose()?.unwrap_or(0);
    }
    // What OVS's decoder would reject (so it could not round-trip): empty or reversed ranges.
    let reversed = match addrs {
        NatAddrs::V4(min, max) => min == 0 || (max != 0 && max < min),
        NatAddrs::V6(min, max) => min == 0 || (max != 0 && max < min),
    };
    if reversed || (nat.proto_min == 0 && nat.proto_max != 0) || (nat.proto_max != 0 && nat.proto_max < nat.proto_min) {
        return err(format!("{s}: invalid nat range"));
    }
    Ok(())
}

fn parse_learn(v: &str) -> Result<Learn> {
    let mut l = Learn {
        idle_timeout: 0,
        hard_timeout: 0,
        priority: DEFAULT_PRIORITY,
        cookie: 0,
        flags: 0,
        table_id: 1,
        fin_idle_timeout: 0,
        fin_hard_timeout: 0,
        limit: 0,
        result_dst: None,
        specs: Vec::new(),
    };
    let mut r = v;
    while let Some((k, val)) = next_kv(&mut r) {
        match k {
            "table" => l.table_id = parse_u8(val)?,
            "priority" => l.priority = parse_u16(val)?,
            "idle_timeout" => l.idle_timeout = parse_u16(val)?,
            "hard_timeout" => l.hard_timeout = parse_u16(val)?,
            "fin_idle_timeout" => l.fin_idle_timeout = parse_u16(val)?,
            "fin_hard_timeout" => l.fin_hard_timeout = parse_u16(val)?,
            "cookie" => l.cookie = parse_uint(val)? as u64,
            "send_flow_rem" => l.flags |= 1,
            "delete_learned" => l.flags |= 2,
            "limit" => l.limit = parse_u32(val)?,
            "result_dst" => {
                l.flags |= 4;
                l.result_dst = Some(parse_subfield(val)?);
            }
            "load" => {
                let (src, dst) = split_arrow(val)?;
                let dst = parse_subfield(dst)?;
                let spec = if src.starts_with(|c: char| c.is_ascii_digit()) {
                    let imm = imm_bytes(parse_uint(src)?, dst.n_bits);
                    LearnSpec { src: LearnSrc::Imm(imm), dst: LearnDst::Load(dst), n_bits: dst.n_bits }
                } else {
                    let src = parse_subfield(src)?;
                    LearnSpec { src: LearnSrc::Field(src), dst: LearnDst::Load(dst), n_bits: dst.n_bits }
                };
                l.specs.push(spec);
            }
            "output" => {
                let src = parse_subfield(val)?;
                l.specs.push(LearnSpec { src: LearnSrc::Field(src), dst: LearnDst::Output, n_bits: src.n_bits });
            }
            _ => {
                // A match spec: FIELD=VALUE, DST[..]=SRC[..], or SRC[..].
                let dst = parse_subfield(k)?;
                if val.is_empty() {
                    l.specs.push(LearnSpec {
                        src: LearnSrc::Field(dst),
                        dst: LearnDst::Match(dst),
                        n_bits: dst.n_bits,
                    });
                } else if k.contains('[') || !val.starts_with(|c: char| c.is_ascii_digit()) && val.contains('[') {
                    let src = parse_subfield(val)?;
                    if src.n_bits != dst.n_bits {
                        return err(format!("{k}={val}: widths differ"));
                    }
                    l.specs.push(LearnSpec {
                        src: LearnSrc::Field(src),
                        dst: LearnDst::Match(dst),
                        n_bits: dst.n_bits,
                    });
                } else {
                    let (value, mask) = parse_field_value(dst.field, val)?;
                    if mask.is_some() {
                        return err(format!("{k}={val}: masks are not allowed in learn"));
                    }
                    let n = usize::from(dst.n_bits).div_ceil(16) * 2;
                    let mut imm = vec![0u8; n.saturating_sub(value.len())];
                    imm.extend_from_slice(value.get(value.len().saturating_sub(n)..).unwrap_or_default());
                    l.specs.push(LearnSpec { src: LearnSrc::Imm(imm), dst: LearnDst::Match(dst), n_bits: dst.n_bits });
                }
            }
        }
    }
    Ok(l)
}

fn imm_bytes(v: u128, n_bits: u16) -> Vec<u8> {
    let n = usize::from(n_bits).div_ceil(16) * 2;
    to_be(v, n.min(16))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_an_error_not_a_panic() {
        for s in
            ["reg0[0..65535]", "NXM_NX_TUN_METADATA0[900..910]", "tun_metadata0[0..991]", "reg0[65535]", "reg0[5..1]"]
        {
            let _ = parse_subfield(s);
            let _ = parse_actions(&format!("load:0x1->{s}"));
            let _ = parse_actions(&format!("move:{s}->reg1[]"));
        }
        for s in [
            "actions=((((",
            "ct(exec(ct(exec(",
            "reg0=0x/",
            "in_port=99999999999",
            "nw_src=1.2.3.4/99",
            "=,=,",
            "actions=resubmit(,,,)",
        ] {
            let _ = parse_flow(s);
        }
        assert!(parse_actions("load:0x1->NXM_NX_TUN_METADATA0[900..910]").is_err());
    }
}
