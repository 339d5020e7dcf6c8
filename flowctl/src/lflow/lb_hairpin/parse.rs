//! Southbound Load_Balancer rows as 23.03's ovn_controller_lb_create() reads them
//! (lib/lb.c, lib/ovn-util.c, OVS's socket-util.c and packets.c parsers).
//!
//! Addresses are kept as `in6_addr`s like 23.03 does: IPv4 ones IPv4-mapped.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

/// IPPROTO_* numbers.
pub const TCP: u8 = 6;
pub const UDP: u8 = 17;
pub const SCTP: u8 = 132;

/// One backend (ovn_lb_backend): port 0 when the VIP has none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backend {
    pub ip: Ipv6Addr,
    pub port: u16,
}

/// One VIP (ovn_lb_vip): port 0 when it has none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vip {
    pub ip: Ipv6Addr,
    pub port: u16,
    pub backends: Vec<Backend>,
}

/// What the hairpin flows need of one Load_Balancer row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lb {
    pub proto: u8,
    pub vips: Vec<Vip>,
    /// options:hairpin_orig_tuple: northd stores the original destination in registers.
    pub orig_tuple: bool,
    /// options:hairpin_snat_ip (at most one address of each family).
    pub snat_v4: Option<Ipv4Addr>,
    pub snat_v6: Option<Ipv6Addr>,
}

/// Something of a row that 23.03 ignores (it logs a bad hairpin_snat_ip, not bad VIPs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    BadVip(String),
    BadSnatIp(String),
}

/// Address family of a parsed address, as `ss_family` says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

/// smap_get_bool(): with default false only "true" counts, with default true only "false".
pub fn smap_bool(value: Option<&str>, default: bool) -> bool {
    let v = value.unwrap_or("");
    if default {
        !v.eq_ignore_ascii_case("false")
    } else {
        v.eq_ignore_ascii_case("true")
    }
}

/// The IPv4 address inside an IPv4-mapped one, 0.0.0.0 otherwise (in6_addr_get_mapped_ipv4).
pub fn mapped_v4(ip: &Ipv6Addr) -> Option<Ipv4Addr> {
    ip.to_ipv4_mapped()
}

/// ovn_controller_lb_create() minus the row plumbing: `vips` in any order, `options` the
/// row's options, `protocol` its protocol column, `templates` this chassis' template
/// variables. VIPs that do not parse are dropped, as 23.03 drops them.
pub fn lb_from_columns(
    vips: &BTreeMap<String, String>,
    protocol: Option<&str>,
    options: &BTreeMap<String, String>,
    templates: &BTreeMap<String, String>,
) -> (Lb, Vec<Problem>) {
    let mut errors = Vec::new();
    let template = smap_bool(options.get("template").map(String::as_str), false);
    let mut lb = Lb::default();
    for (key, value) in vips {
        // 23.03 expands templates in both key and value, then parses them as explicit ones.
        let (key, value) = if template {
            (expand_templates(key, templates), expand_templates(value, templates))
        } else {
            (key.clone(), value.clone())
        };
        match parse_vip(&key, &value) {
            Ok(vip) => lb.vips.push(vip),
            Err(e) => errors.push(Problem::BadVip(e)),
        }
    }
    lb.proto = match protocol {
        Some("udp") => UDP,
        Some("sctp") => SCTP,
        _ => TCP,
    };
    lb.orig_tuple = smap_bool(options.get("hairpin_orig_tuple").map(String::as_str), false);
    if let Some(addrs) = options.get("hairpin_snat_ip") {
        match extract_ip_address(addrs) {
            Some((v4, v6)) => {
                lb.snat_v4 = v4;
                lb.snat_v6 = v6;
            }
            None => errors.push(Problem::BadSnatIp(addrs.clone())),
        }
    }
    (lb, errors)
}

/// lexer_parse_template_string() for the forms a VIP can take: every `^name` (a lexer
/// identifier) is replaced by its value, or by `name` itself when it has none. The lexer
/// re-prints the other tokens; for addresses, ports, ':' and ',' that is the same text.
pub fn expand_templates(s: &str, vars: &BTreeMap<String, String>) -> String {
    if !s.contains('^') {
        return s.to_string();
    }
    let id1 = |c: char| c.is_ascii_alphabetic() || c == '_' || c == '.';
    let idn = |c: char| id1(c) || c.is_ascii_digit();
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('^') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if !after.starts_with(id1) {
            // A lexer error token; the VIP will not parse either way.
            out.push('^');
            rest = after;
            continue;
        }
        let end = after.find(|c: char| !idn(c)).unwrap_or(after.len());
        let name = &after[..end];
        out.push_str(vars.get(name).map_or(name, String::as_str));
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// ovn_lb_vip_init_explicit(): a VIP key and its comma-separated backends. A backend that
/// does not parse, has the other address family, or has a port when the VIP has none (or
/// the reverse) makes the whole VIP invalid.
pub fn parse_vip(key: &str, value: &str) -> Result<Vip, String> {
    let (ip, port, family) = parse_lb_key(key).ok_or_else(|| {
        format!("{key}: should be an IP address (or an IP address and a port number with : as a separator).")
    })?;
    let mut vip = Vip { ip, port, backends: Vec::new() };
    let mut bad = Vec::new();
    for token in value.split(',').filter(|t| !t.is_empty()) {
        match parse_lb_key(token) {
            None => bad.push(format!("{token}: not an IP address (and port)")),
            Some((_, _, f)) if f != family => {
                bad.push(format!("{token}: IP address family is different from VIP {key}"))
            }
            Some((_, p, _)) if (p == 0) != (port == 0) => bad.push(format!("{token}: port does not match VIP {key}")),
            Some((ip, port, _)) => vip.backends.push(Backend { ip, port }),
        }
    }
    if bad.is_empty() {
        Ok(vip)
    } else {
        Err(bad.join(", "))
    }
}

/// ip_address_and_port_from_lb_key() = inet_parse_active(key, 0, ..): `IP`, `IP:port`,
/// `[IPv6]:port`, `[IPv6]` or a bare IPv6 address (more than one ':' outside brackets means
/// no port). Port 0 stands for "none".
fn parse_lb_key(key: &str) -> Option<(Ipv6Addr, u16, Family)> {
    let (host, port) = split_host_port(key);
    let port = match port {
        Some(p) if !p.is_empty() => {
            // str_to_int(): strtoll semantics, leading blanks and a sign allowed.
            let n: i64 = p.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']).parse().ok()?;
            u16::try_from(n).ok()?
        }
        _ => 0,
    };
    if host.contains(':') {
        let mut parts = host.splitn(2, '%');
        let addr: Ipv6Addr = parts.next().filter(|a| !a.is_empty())?.parse().ok()?;
        // A scope id: numeric ones are taken as is; an interface name would need
        // if_nametoindex() on this host, which a VIP never means, so it is refused.
        if let Some(scope) = parts.next() {
            if !scope.is_empty() && !scope.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
        }
        Some((addr, port, Family::V6))
    } else {
        let addr: Ipv4Addr = host.parse().ok()?;
        Some((addr.to_ipv6_mapped(), port, Family::V4))
    }
}

/// inet_parse_host_port_tokens().
fn split_host_port(s: &str) -> (&str, Option<&str>) {
    let mut in_brackets = false;
    let mut colons = 0;
    let mut last = None;
    for (i, c) in s.char_indices() {
        match c {
            '[' => in_brackets = true,
            ']' => in_brackets = false,
            ':' if !in_brackets => {
                colons += 1;
                last = Some(i);
            }
            _ => {}
        }
    }
    if colons > 1 {
        return (s, None);
    }
    match last {
        Some(i) => (unbracket(&s[..i]), Some(unbracket(&s[i + 1..]))),
        None => (unbracket(s), None),
    }
}

fn unbracket(s: &str) -> &str {
    match s.strip_prefix('[') {
        Some(inner) => inner.strip_suffix(']').unwrap_or(inner),
        None => s,
    }
}

/// extract_ip_address(): blank-separated addresses (an optional /prefix each), read until
/// the first thing that is not one; at least one, at most one per family, host addresses
/// only. `None` when that does not hold.
pub fn extract_ip_address(s: &str) -> Option<(Option<Ipv4Addr>, Option<Ipv6Addr>)> {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    let mut rest = s;
    loop {
        let trimmed = rest.trim_start();
        if trimmed.is_empty() {
            break;
        }
        if let Some((ip, plen, tail)) = scan_ipv4_cidr(trimmed) {
            v4.push((ip, plen));
            rest = tail;
        } else if let Some((ip, plen, tail)) = scan_ipv6_cidr(trimmed) {
            v6.push((ip, plen));
            rest = tail;
        } else {
            break;
        }
    }
    if v4.len() + v6.len() == 0 || v4.len() > 1 || v6.len() > 1 {
        return None;
    }
    let v4 = match v4.first() {
        Some(&(ip, 32)) => Some(ip),
        Some(_) => return None,
        None => None,
    };
    let v6 = match v6.first() {
        Some(&(ip, 128)) => Some(ip),
        Some(_) => return None,
        None => None,
    };
    Some((v4, v6))
}

/// Leading decimal number of at most `max`, and the rest.
fn scan_decimal(s: &str, max: u32) -> Option<(u32, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: u32 = s.get(..end).filter(|d| !d.is_empty())?.parse().ok()?;
    (n <= max).then_some((n, &s[end..]))
}

fn scan_dotted_quad(s: &str) -> Option<(Ipv4Addr, &str)> {
    let mut octets = [0u8; 4];
    let mut rest = s;
    for (i, o) in octets.iter_mut().enumerate() {
        if i > 0 {
            rest = rest.strip_prefix('.')?;
        }
        let (n, tail) = scan_decimal(rest, 255)?;
        *o = n as u8;
        rest = tail;
    }
    Some((Ipv4Addr::from(octets), rest))
}

/// ip_parse_cidr_len(): `A.B.C.D`, `A.B.C.D/N` or `A.B.C.D/MASK` (a CIDR mask).
fn scan_ipv4_cidr(s: &str) -> Option<(Ipv4Addr, u32, &str)> {
    let (ip, rest) = scan_dotted_quad(s)?;
    let Some(after) = rest.strip_prefix('/') else { return Some((ip, 32, rest)) };
    if let Some((mask, tail)) = scan_dotted_quad(after) {
        let m = u32::from(mask);
        // Not a CIDR mask: an error, which ends the list.
        return (m.leading_ones() + m.trailing_zeros() == 32).then_some((ip, m.leading_ones(), tail));
    }
    match scan_decimal(after, u32::MAX) {
        // A prefix over 32 is an error, which ends the list.
        Some((plen, tail)) => (plen <= 32).then_some((ip, plen, tail)),
        // "A.B.C.D/" followed by junk: the bare address was read.
        None => Some((ip, 32, rest)),
    }
}

/// ipv6_parse_cidr_len(): an address of `[0-9a-fA-F:.]` characters, optionally `/N`.
fn scan_ipv6_cidr(s: &str) -> Option<(Ipv6Addr, u32, &str)> {
    let is_v6 = |c: char| c.is_ascii_hexdigit() || c == ':' || c == '.';
    let end = s.find(|c: char| !is_v6(c)).unwrap_or(s.len());
    let ip: Ipv6Addr = s.get(..end)?.parse().ok()?;
    let rest = &s[end..];
    let Some(after) = rest.strip_prefix('/') else { return Some((ip, 128, rest)) };
    match scan_decimal(after, u32::MAX) {
        Some((plen, tail)) => (plen <= 128).then_some((ip, plen, tail)),
        None => {
            let mend = after.find(|c: char| !is_v6(c)).unwrap_or(after.len());
            if mend == 0 {
                // "ADDR/" followed by junk: the bare address was read.
                return Some((ip, 128, rest));
            }
            let mask: Ipv6Addr = after.get(..mend)?.parse().ok()?;
            let m = u128::from(mask);
            (m.leading_ones() + m.trailing_zeros() == 128).then_some((ip, m.leading_ones(), &after[mend..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Ipv6Addr {
        s.parse::<Ipv4Addr>().unwrap().to_ipv6_mapped()
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn ipv4_vip_with_port() {
        let vip = parse_vip("10.0.0.10:80", "10.0.0.2:8080,10.0.0.3:8080").unwrap();
        assert_eq!(vip.ip, v4("10.0.0.10"));
        assert_eq!(vip.port, 80);
        assert_eq!(
            vip.backends,
            [Backend { ip: v4("10.0.0.2"), port: 8080 }, Backend { ip: v4("10.0.0.3"), port: 8080 }]
        );
    }

    #[test]
    fn portless_vips() {
        let vip = parse_vip("10.0.0.20", "10.0.0.2,10.0.0.3").unwrap();
        assert_eq!((vip.port, vip.backends.len()), (0, 2));
        let vip = parse_vip("fd00::20", "fd00::2").unwrap();
        assert_eq!(vip.ip, "fd00::20".parse::<Ipv6Addr>().unwrap());
        assert_eq!((vip.port, vip.backends[0].port), (0, 0));
        // Port 0 and an empty port are no port.
        assert_eq!(parse_vip("10.0.0.20:0", "10.0.0.2:").unwrap().port, 0);
    }

    #[test]
    fn ipv6_vips_need_brackets_for_a_port() {
        let vip = parse_vip("[fd00::10]:8080", "[fd00::2]:80,[fd00::3]:80").unwrap();
        assert_eq!(vip.ip, "fd00::10".parse::<Ipv6Addr>().unwrap());
        assert_eq!(vip.port, 8080);
        assert_eq!(vip.backends[1], Backend { ip: "fd00::3".parse().unwrap(), port: 80 });
        // Unbracketed, the last group is part of the address.
        let vip = parse_vip("fd00::10:80", "fd00::2").unwrap();
        assert_eq!((vip.ip, vip.port), ("fd00::10:80".parse().unwrap(), 0));
        assert_eq!(parse_vip("[fd00::10]", "fd00::2").unwrap().port, 0);
    }

    #[test]
    fn bad_backends_invalidate_the_vip() {
        assert!(parse_vip("10.0.0.10:80", "10.0.0.2").is_err(), "VIP has a port, backend none");
        assert!(parse_vip("10.0.0.10", "10.0.0.2:80").is_err(), "backend has a port, VIP none");
        assert!(parse_vip("10.0.0.10", "fd00::2").is_err(), "family");
        assert!(parse_vip("10.0.0.10:80", "10.0.0.2:80,junk:80").is_err());
        assert!(parse_vip("10.0.0.10:70000", "10.0.0.2:80").is_err(), "port range");
        assert!(parse_vip("10.0.0.256", "").is_err());
        assert!(parse_vip("", "").is_err());
        assert!(parse_vip("10.0.0.10:http", "10.0.0.2:80").is_err());
        // Empty tokens are skipped; no backends at all is fine.
        assert_eq!(parse_vip("10.0.0.10:80", ",10.0.0.2:80,,").unwrap().backends.len(), 1);
        assert!(parse_vip("10.0.0.10:80", "").unwrap().backends.is_empty());
    }

    #[test]
    fn protocol_options_and_dropped_vips() {
        let vips = map(&[("10.0.0.10:80", "10.0.0.2:80"), ("bogus", "10.0.0.2"), ("[fd00::1]:53", "[fd00::2]:53")]);
        let opts = map(&[("hairpin_orig_tuple", "true"), ("hairpin_snat_ip", "42.42.42.1 fd42::1")]);
        let (lb, errors) = lb_from_columns(&vips, Some("udp"), &opts, &BTreeMap::new());
        assert_eq!(lb.proto, UDP);
        assert_eq!(lb.vips.len(), 2);
        assert_eq!(errors.len(), 1);
        assert!(lb.orig_tuple);
        assert_eq!(lb.snat_v4, Some(Ipv4Addr::new(42, 42, 42, 1)));
        assert_eq!(lb.snat_v6, "fd42::1".parse().ok());
        let (lb, _) = lb_from_columns(&vips, None, &BTreeMap::new(), &BTreeMap::new());
        assert_eq!((lb.proto, lb.orig_tuple, lb.snat_v4, lb.snat_v6), (TCP, false, None, None));
        assert_eq!(lb_from_columns(&vips, Some("sctp"), &BTreeMap::new(), &BTreeMap::new()).0.proto, SCTP);
    }

    #[test]
    fn hairpin_snat_ip() {
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(extract_ip_address("42.42.42.1"), Some((Some(ip("42.42.42.1")), None)));
        assert_eq!(extract_ip_address("  fd42::1  "), Some((None, "fd42::1".parse().ok())));
        assert_eq!(extract_ip_address("42.42.42.1/32"), Some((Some(ip("42.42.42.1")), None)));
        assert_eq!(extract_ip_address("fd42::1/128 42.42.42.1").map(|a| a.0), Some(Some(ip("42.42.42.1"))));
        // Reading stops at the first non-address.
        assert_eq!(extract_ip_address("42.42.42.1 junk 10.0.0.1"), Some((Some(ip("42.42.42.1")), None)));
        assert_eq!(extract_ip_address("42.42.42.1 10.0.0.1"), None, "two IPv4");
        assert_eq!(extract_ip_address("fd42::1 fd42::2"), None, "two IPv6");
        assert_eq!(extract_ip_address("42.42.42.0/24"), None, "a network");
        assert_eq!(extract_ip_address("fd42::/64"), None, "a network");
        assert_eq!(extract_ip_address("42.42.42.1/33"), None, "bad prefix");
        assert_eq!(extract_ip_address("junk"), None);
        assert_eq!(extract_ip_address(""), None);
    }

    #[test]
    fn templates_expand_in_keys_and_values() {
        let vars = map(&[("vip", "10.0.0.100"), ("vport", "8080"), ("backends", "10.0.0.2:80,10.0.0.3:80")]);
        assert_eq!(expand_templates("^vip:^vport", &vars), "10.0.0.100:8080");
        assert_eq!(expand_templates("^backends", &vars), "10.0.0.2:80,10.0.0.3:80");
        assert_eq!(expand_templates("^missing:80", &vars), "missing:80");
        assert_eq!(expand_templates("10.0.0.1:80", &vars), "10.0.0.1:80");
        let vips = map(&[("^vip:^vport", "^backends")]);
        let opts = map(&[("template", "true")]);
        let (lb, errors) = lb_from_columns(&vips, None, &opts, &vars);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!((lb.vips[0].ip, lb.vips[0].port, lb.vips[0].backends.len()), (v4("10.0.0.100"), 8080, 2));
        // Without options:template the key is taken literally, and does not parse.
        assert!(lb_from_columns(&vips, None, &BTreeMap::new(), &vars).0.vips.is_empty());
        // A variable this chassis lacks leaves a VIP that does not parse.
        assert!(lb_from_columns(&vips, None, &opts, &BTreeMap::new()).0.vips.is_empty());
    }

    #[test]
    fn smap_get_bool() {
        assert!(smap_bool(None, true));
        assert!(smap_bool(Some("yes"), true));
        assert!(!smap_bool(Some("FALSE"), true));
        assert!(!smap_bool(None, false));
        assert!(!smap_bool(Some("yes"), false));
        assert!(smap_bool(Some("True"), false));
    }
}
