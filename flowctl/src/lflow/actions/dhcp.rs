//! DHCPv4/DHCPv6 options of `put_dhcp_opts` / `put_dhcpv6_opts`: the option tables (from
//! the Southbound DHCP_Options / DHCPv6_Options rows, or 23.03's built-in list in
//! lib/ovn-l7.h that ovn-northd writes there) and the option value encodings of
//! lib/actions.c `encode_put_dhcpv4_option` / `encode_put_dhcpv6_option`.

use std::collections::HashMap;

use super::super::expr::lexer::Number;
use super::{ActionError, Const, R};

/// One option: code and OVN type name (`ipv4`, `str`, `uint8`, `static_routes`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptDef {
    pub code: u16,
    pub typ: String,
}

/// Option tables by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OptionTables {
    pub dhcpv4: HashMap<String, OptDef>,
    pub dhcpv6: HashMap<String, OptDef>,
    /// `put_nd_ra_opts` options (built in, lib/ovn-l7.h `nd_ra_opts_init`).
    pub nd_ra: HashMap<String, OptDef>,
}

/// ND RA option codes (lib/ovn-l7.h): two pseudo-options for RA header flags, then ND
/// option types.
pub mod nd_ra {
    pub const ADDR_MODE: u16 = 0;
    pub const PRF: u16 = 255;
    pub const SLLA: u16 = 1;
    pub const PREFIX: u16 = 3;
    pub const MTU: u16 = 5;
    pub const ROUTE_INFO: u16 = 24;
    pub const RDNSS: u16 = 25;
    pub const DNSSL: u16 = 31;
}

const ND_RA: [(&str, u16, &str); 8] = [
    ("addr_mode", nd_ra::ADDR_MODE, "str"),
    ("router_preference", nd_ra::PRF, "str"),
    ("slla", nd_ra::SLLA, "mac"),
    ("prefix", nd_ra::PREFIX, "ipv6"),
    ("mtu", nd_ra::MTU, "uint32"),
    ("rdnss", nd_ra::RDNSS, "ipv6"),
    ("dnssl", nd_ra::DNSSL, "str"),
    ("route_info", nd_ra::ROUTE_INFO, "str"),
];

/// 23.03's DHCPv4 options (lib/ovn-l7.h), as ovn-northd writes them to DHCP_Options.
const DHCPV4: [(&str, u16, &str); 38] = [
    ("offerip", 0, "ipv4"),
    ("netmask", 1, "ipv4"),
    ("router", 3, "ipv4"),
    ("dns_server", 6, "ipv4"),
    ("log_server", 7, "ipv4"),
    ("lpr_server", 9, "ipv4"),
    ("hostname", 12, "str"),
    ("domain_name", 15, "str"),
    ("swap_server", 16, "ipv4"),
    ("policy_filter", 21, "ipv4"),
    ("router_solicitation", 32, "ipv4"),
    ("nis_server", 41, "ipv4"),
    ("ntp_server", 42, "ipv4"),
    ("server_id", 54, "ipv4"),
    ("tftp_server", 66, "host_id"),
    ("classless_static_route", 121, "static_routes"),
    ("ms_classless_static_route", 249, "static_routes"),
    ("ip_forward_enable", 19, "bool"),
    ("router_discovery", 31, "bool"),
    ("ethernet_encap", 36, "bool"),
    ("default_ttl", 23, "uint8"),
    ("tcp_ttl", 37, "uint8"),
    ("mtu", 26, "uint16"),
    ("lease_time", 51, "uint32"),
    ("T1", 58, "uint32"),
    ("T2", 59, "uint32"),
    ("bootfile_name", 67, "str"),
    ("wpad", 252, "str"),
    ("path_prefix", 210, "str"),
    ("tftp_server_address", 150, "ipv4"),
    ("domain_search_list", 119, "domains"),
    ("broadcast_address", 28, "ipv4"),
    ("netbios_name_server", 44, "ipv4"),
    ("netbios_node_type", 46, "uint8"),
    ("arp_cache_timeout", 35, "uint32"),
    ("tcp_keepalive_interval", 38, "uint32"),
    ("bootfile_name_alt", 254, "str"),
    ("next_server", 253, "ipv4"),
];

/// 23.03's DHCPv6 options.
const DHCPV6: [(&str, u16, &str); 4] =
    [("server_id", 2, "mac"), ("ia_addr", 5, "ipv6"), ("dns_server", 23, "ipv6"), ("domain_search", 24, "str")];

impl OptionTables {
    /// 23.03's built-in options (what the Southbound tables hold unless edited).
    pub fn ovn_23_03() -> OptionTables {
        let table = |l: &[(&str, u16, &str)]| {
            l.iter().map(|(n, c, t)| (n.to_string(), OptDef { code: *c, typ: t.to_string() })).collect()
        };
        OptionTables { dhcpv4: table(&DHCPV4), dhcpv6: table(&DHCPV6), nd_ra: table(&ND_RA) }
    }
}

/// A parsed option: its definition and its value (one constant or a `{...}` set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenOption {
    pub name: String,
    pub def: OptDef,
    pub values: Vec<Const>,
}

/// Checks a value set against the option type (`parse_gen_opt`).
pub fn check_values(kind: &str, o: &GenOption) -> R<()> {
    if o.def.typ == "host_id" {
        return Ok(());
    }
    let strings = o.values.iter().all(|v| matches!(v, Const::Str(_)));
    let ints = o.values.iter().all(|v| matches!(v, Const::Num(_)));
    if o.def.typ == "str" || o.def.typ == "domains" {
        if !strings {
            return Err(ActionError(format!("{kind} option {} requires string value.", o.name)));
        }
    } else if !ints {
        return Err(ActionError(format!("{kind} option {} requires numeric value.", o.name)));
    }
    Ok(())
}

fn low_bytes(v: u128, n: usize) -> Vec<u8> {
    let b = v.to_be_bytes();
    b.get(16usize.saturating_sub(n)..).unwrap_or(&b).to_vec()
}

fn nums(o: &GenOption) -> impl Iterator<Item = &Number> {
    o.values.iter().filter_map(|v| match v {
        Const::Num(n) => Some(n),
        Const::Str(_) => None,
    })
}

fn first_str(o: &GenOption) -> &str {
    o.values
        .iter()
        .find_map(|v| match v {
            Const::Str(s) => Some(s.as_str()),
            Const::Num(_) => None,
        })
        .unwrap_or("")
}

/// DHCPv4 value bytes (`encode_put_dhcpv4_option`, without the code/length header).
pub fn dhcpv4_value(o: &GenOption) -> Vec<u8> {
    let first = nums(o).next().map_or(0, |n| n.value);
    match o.def.typ.as_str() {
        "bool" | "uint8" => low_bytes(first, 1),
        "uint16" => low_bytes(first, 2),
        "uint32" => low_bytes(first, 4),
        "ipv4" => nums(o).flat_map(|n| low_bytes(n.value, 4)).collect(),
        "static_routes" => {
            let v: Vec<&Number> = nums(o).collect();
            let mut out = Vec::new();
            for pair in v.chunks_exact(2) {
                let (net, gw) = match pair {
                    [a, b] => (a, b),
                    _ => continue,
                };
                let plen = net.mask.map_or(32, |m| (m as u32).count_ones().min(32)) as u8;
                out.push(plen);
                let addr = low_bytes(net.value, 4);
                out.extend_from_slice(addr.get(..usize::from(plen).div_ceil(8)).unwrap_or(&addr));
                out.extend(low_bytes(gw.value, 4));
            }
            out
        }
        "str" => first_str(o).as_bytes().to_vec(),
        "host_id" => match o.values.first() {
            Some(Const::Str(s)) => s.as_bytes().to_vec(),
            _ => low_bytes(first, 4),
        },
        "domains" => encode_domains(first_str(o)),
        _ => Vec::new(),
    }
}

/// DHCPv6 value bytes (`encode_put_dhcpv6_option`).
pub fn dhcpv6_value(o: &GenOption) -> Vec<u8> {
    match o.def.typ.as_str() {
        "ipv6" => nums(o).flat_map(|n| n.value.to_be_bytes()).collect(),
        "mac" => low_bytes(nums(o).next().map_or(0, |n| n.value), 6),
        "str" => first_str(o).as_bytes().to_vec(),
        _ => Vec::new(),
    }
}

/// The ICMPv6 Router Advertisement (type 134, from the ICMPv6 header on) that
/// `put_nd_ra_opts` puts in the userdata for pinctrl to copy (`encode_PUT_ND_RA_OPTS`).
pub fn nd_ra_message(options: &[GenOption]) -> Vec<u8> {
    // icmp6 type, code, checksum; cur_hop_limit 255; M/O flags; router lifetime 0xffff;
    // reachable time and retransmit timer 0.
    let mut ra = vec![134, 0, 0, 0, 255, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0];
    let mut flags = 0u8;
    for o in options {
        let s = first_str(o);
        let n = nums(o).next().copied();
        match o.def.code {
            nd_ra::ADDR_MODE => {
                flags |= match s {
                    "dhcpv6_stateful" => 0x80,
                    "dhcpv6_stateless" => 0x40,
                    _ => 0,
                }
            }
            nd_ra::PRF => {
                flags |= match s {
                    "LOW" => 0x18,
                    "HIGH" => 0x08,
                    _ => 0,
                }
            }
            nd_ra::SLLA => {
                ra.extend_from_slice(&[nd_ra::SLLA as u8, 1]);
                ra.extend(low_bytes(n.map_or(0, |n| n.value), 6));
            }
            nd_ra::MTU => {
                ra.extend_from_slice(&[nd_ra::MTU as u8, 1, 0, 0]);
                ra.extend(low_bytes(n.map_or(0, |n| n.value), 4));
            }
            nd_ra::PREFIX => {
                let plen = n.and_then(|n| n.mask).map_or(0, |m| m.leading_ones()) as u8;
                // On-link; autonomous unless addresses come from stateful DHCPv6.
                let la = if flags & 0x80 == 0 { 0x80 | 0x40 } else { 0x80 };
                ra.extend_from_slice(&[nd_ra::PREFIX as u8, 4, plen, la]);
                ra.extend_from_slice(&[0xff; 8]);
                ra.extend_from_slice(&[0; 4]);
                ra.extend(n.map_or(0, |n| n.value).to_be_bytes());
            }
            nd_ra::RDNSS => {
                ra.extend_from_slice(&[nd_ra::RDNSS as u8, 3, 0, 0, 0xff, 0xff, 0xff, 0xff]);
                ra.extend(n.map_or(0, |n| n.value).to_be_bytes());
            }
            nd_ra::DNSSL => {
                if let Some(body) = dnssl_body(s) {
                    let len = u8::try_from((body.len() + 8) / 8).unwrap_or(u8::MAX);
                    ra.extend_from_slice(&[nd_ra::DNSSL as u8, len, 0, 0, 0xff, 0xff, 0xff, 0xff]);
                    ra.extend(body);
                }
            }
            nd_ra::ROUTE_INFO => route_info(s, &mut ra),
            _ => {}
        }
        if let Some(f) = ra.get_mut(5) {
            *f = flags;
        }
    }
    ra
}

/// The DNSSL option after its 8-byte header (`encode_ra_dnssl_opt`): each comma-separated
/// name as RFC 1035 labels, zero-padded so that the option is a multiple of 8 bytes;
/// `None` when the option would exceed 255 bytes (23.03 then leaves it out).
fn dnssl_body(list: &str) -> Option<Vec<u8>> {
    let mut size = 8usize;
    let mut out = Vec::new();
    for name in list.split(',').filter(|n| !n.is_empty()) {
        size += name.len() + 2;
        if size > 255 {
            return None;
        }
        for label in name.split('.').filter(|l| !l.is_empty()) {
            let l = label.get(..label.len().min(255)).unwrap_or(label);
            out.push(u8::try_from(l.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(l.as_bytes());
        }
        out.push(0);
    }
    out.resize(size.div_ceil(8) * 8 - 8, 0);
    Some(out)
}

/// Route Information options (`encode_ra_route_info_opt`): `PRF-prefix/len,...`. As in
/// 23.03, a route that does not parse as an IPv6 prefix ends the list.
fn route_info(list: &str, out: &mut Vec<u8>) {
    for route in list.split(',').filter(|r| !r.is_empty()) {
        let mut flags = 0u8;
        for (index, part) in route.split('-').filter(|p| !p.is_empty()).enumerate() {
            if index % 2 == 0 {
                flags = match part {
                    "HIGH" => 0x08,
                    "LOW" => 0x18,
                    _ => 0,
                };
                continue;
            }
            let Some((addr, plen)) = parse_v6_prefix(part) else { return };
            let words = usize::from(plen).div_ceil(64);
            out.extend_from_slice(&[nd_ra::ROUTE_INFO as u8, 1 + words as u8, plen, flags, 0xff, 0xff, 0xff, 0xff]);
            let net = addr & if plen == 0 { 0 } else { u128::MAX << (128 - u32::from(plen)) };
            let b = net.to_be_bytes();
            out.extend_from_slice(b.get(..words * 8).unwrap_or(&b));
        }
    }
}

fn parse_v6_prefix(s: &str) -> Option<(u128, u8)> {
    let (a, p) = match s.split_once('/') {
        Some((a, p)) => (a, p.parse::<u8>().ok().filter(|p| *p <= 128)?),
        None => (s, 128),
    };
    Some((u128::from(a.parse::<std::net::Ipv6Addr>().ok()?), p))
}

/// Domain search list (`domains`): comma-separated names in RFC 1035 form with suffix
/// compression, exactly as 23.03 builds it. 23.03 keys its suffix table with each
/// remaining suffix minus its last character (`ovs_strlcpy(suffix, domain, strlen(domain))`);
/// that is kept, since the bytes must match.
pub fn encode_domains(list: &str) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::new();
    let mut offsets: HashMap<String, u16> = HashMap::new();
    for domain in list.split(',').filter(|d| !d.is_empty()) {
        if domain.len() > 255 {
            // 23.03 stops encoding (and logs) at a name that is too long.
            break;
        }
        let chop = |s: &str| {
            let mut t = s.to_string();
            t.pop();
            t
        };
        let mut suffix = chop(domain);
        let mut rest = domain;
        let mut ended_by_pointer = false;
        loop {
            let trimmed = rest.trim_start_matches('.');
            if trimmed.is_empty() {
                break;
            }
            let (label, after) = match trimmed.find('.') {
                Some(i) => (trimmed.get(..i).unwrap_or(""), trimmed.get(i + 1..).unwrap_or("")),
                None => (trimmed, ""),
            };
            if let Some(off) = offsets.get(&suffix) {
                out.extend_from_slice(&(0xc000u16 | off).to_be_bytes());
                ended_by_pointer = true;
                break;
            }
            offsets.insert(suffix.clone(), u16::try_from(out.len()).unwrap_or(u16::MAX));
            out.push(u8::try_from(label.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(label.as_bytes());
            if !after.is_empty() {
                suffix = chop(after);
            }
            rest = after;
        }
        if !ended_by_pointer {
            out.push(0);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dnssl_as_23_03_example() {
        // "a.b.c,www.ovn.org": 01 61 01 62 01 63 00 03 77 77 77 03 6f 76 6e 03 6f 72 67 00
        let b = dnssl_body("a.b.c,www.ovn.org").unwrap_or_default();
        assert_eq!(b.get(..20), Some(&b"\x01a\x01b\x01c\x00\x03www\x03ovn\x03org\x00"[..]));
        assert_eq!((b.len() + 8) % 8, 0);
    }

    #[test]
    fn route_info_options() {
        let mut v = Vec::new();
        route_info("HIGH-fd00:1::/64,LOW-fd00:2::/48", &mut v);
        assert_eq!(v.len(), 32);
        assert_eq!(v.get(..8), Some(&[24u8, 2, 64, 0x08, 0xff, 0xff, 0xff, 0xff][..]));
    }

    #[test]
    fn domain_list_as_rfc_1035_example() {
        assert_eq!(
            encode_domains("abc.com,xyz.abc.com"),
            [3, b'a', b'b', b'c', 3, b'c', b'o', b'm', 0, 3, b'x', b'y', b'z', 0xc0, 0]
        );
    }
}
