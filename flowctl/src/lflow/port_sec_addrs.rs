//! Address parsing as 23.03 does it for port security, MAC_Binding and FDB rows:
//! `eth_addr_from_string()` and `extract_lsp_addresses()` (lib/ovn-util.c), which sit on
//! OVS's own `ovs_scan()` (lib/util.c) rather than on libc's sscanf. The quirks matter because
//! they decide which flows exist for odd Southbound strings, so they are reproduced:
//! - every numeric conversion skips leading white space and takes an optional sign;
//! - `%hhx` / `%hhu` keep the low 8 bits of any number of digits (`%hhx` also takes `0x`);
//! - an IPv4 prefix like `/33` is an error *after* the scanner moved past it, so the IPv6
//!   attempt that follows starts behind it (`ip_parse_cidr_len()` then
//!   `ipv6_parse_cidr_len()` share one offset in `parse_and_store_addresses()`);
//! - C strings end at the first NUL.

use std::net::Ipv6Addr;

/// One IPv4 address of a port-security entry (`struct ipv4_netaddr`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Net {
    pub addr: u32,
    pub plen: u32,
}

impl Ipv4Net {
    pub fn mask(&self) -> u32 {
        prefix_mask32(self.plen)
    }
    /// `addr | ~mask`.
    pub fn bcast(&self) -> u32 {
        self.addr | !self.mask()
    }
    /// 23.03 matches the exact address for a /32 or when host bits are set, else the subnet.
    pub fn exact(&self) -> bool {
        self.plen == 32 || self.addr & !self.mask() != 0
    }
}

/// One IPv6 address of a port-security entry (`struct ipv6_netaddr`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Net {
    pub addr: u128,
    pub plen: u32,
}

impl Ipv6Net {
    pub fn mask(&self) -> u128 {
        prefix_mask128(self.plen)
    }
    pub fn network(&self) -> u128 {
        self.addr & self.mask()
    }
    /// `plen == 128 || !ipv6_addr_is_host_zero()`.
    pub fn exact(&self) -> bool {
        self.plen == 128 || self.addr & !self.mask() != 0
    }
}

/// `struct lport_addresses`: a MAC and the IPs that follow it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LportAddresses {
    pub ea: [u8; 6],
    pub ipv4: Vec<Ipv4Net>,
    pub ipv6: Vec<Ipv6Net>,
}

fn prefix_mask32(plen: u32) -> u32 {
    match plen {
        0 => 0,
        p if p >= 32 => u32::MAX,
        p => u32::MAX << (32 - p),
    }
}

fn prefix_mask128(plen: u32) -> u128 {
    match plen {
        0 => 0,
        p if p >= 128 => u128::MAX,
        p => u128::MAX << (128 - p),
    }
}

/// The part of `s` a C function sees.
fn c_str(s: &str) -> &[u8] {
    let b = s.as_bytes();
    b.iter().position(|&c| c == 0).and_then(|n| b.get(..n)).unwrap_or(b)
}

/// isspace() in the C locale.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// A cursor with the conversions of OVS's `ovs_scan()` that these formats use. A failed
/// composite scan leaves the caller's offset alone (`ovs_scan_len()`), which callers get by
/// scanning on a copy.
#[derive(Clone, Copy)]
struct Scan<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Scan<'a> {
    fn new(s: &'a [u8], pos: usize) -> Scan<'a> {
        Scan { s, pos }
    }

    fn peek(&self, k: usize) -> u8 {
        self.s.get(self.pos + k).copied().unwrap_or(0)
    }

    fn at_end(&self) -> bool {
        self.peek(0) == 0
    }

    fn skip_spaces(&mut self) {
        while is_space(self.peek(0)) {
            self.pos += 1;
        }
    }

    /// A literal character of the format.
    fn lit(&mut self, c: u8) -> Option<()> {
        if self.peek(0) != c {
            return None;
        }
        self.pos += 1;
        Some(())
    }

    /// `%x` / `%u` / `%d` (scan_int()): the value modulo 2^64, to be truncated by the caller.
    fn int(&mut self, base: u64) -> Option<u64> {
        self.skip_spaces();
        let negative = self.peek(0) == b'-';
        if matches!(self.peek(0), b'-' | b'+') {
            self.pos += 1;
        }
        if base == 16 && self.peek(0) == b'0' && matches!(self.peek(1), b'x' | b'X') {
            self.pos += 2;
        }
        let mut value: u64 = 0;
        let mut digits = 0;
        while let Some(d) = (self.peek(0) as char).to_digit(16).map(u64::from).filter(|&d| d < base) {
            value = value.wrapping_mul(base).wrapping_add(d);
            digits += 1;
            self.pos += 1;
        }
        if digits == 0 {
            return None;
        }
        Some(if negative { value.wrapping_neg() } else { value })
    }

    fn hhx(&mut self) -> Option<u8> {
        self.int(16).map(|v| v as u8)
    }

    fn hhu(&mut self) -> Option<u8> {
        self.int(10).map(|v| v as u8)
    }

    fn d(&mut self) -> Option<i32> {
        self.int(10).map(|v| v as i32)
    }

    /// `%46[0123456789abcdefABCDEF:.]` (no leading white space skipped).
    fn ipv6_chars(&mut self) -> Option<&'a str> {
        let start = self.pos;
        while self.pos - start < 46 && (self.peek(0).is_ascii_hexdigit() || matches!(self.peek(0), b':' | b'.')) {
            self.pos += 1;
        }
        if self.pos == start {
            return None;
        }
        self.s.get(start..self.pos).and_then(|b| std::str::from_utf8(b).ok())
    }

    /// ETH_ADDR_SCAN_FMT.
    fn eth(&mut self) -> Option<[u8; 6]> {
        let mut ea = [0u8; 6];
        for (i, b) in ea.iter_mut().enumerate() {
            if i > 0 {
                self.lit(b':')?;
            }
            *b = self.hhx()?;
        }
        Some(ea)
    }

    /// IP_SCAN_FMT.
    fn ip(&mut self) -> Option<u32> {
        let mut ip = 0u32;
        for i in 0..4 {
            if i > 0 {
                self.lit(b'.')?;
            }
            ip = (ip << 8) | u32::from(self.hhu()?);
        }
        Some(ip)
    }
}

/// `eth_addr_from_string()`: a MAC and nothing after it.
pub fn eth_addr_from_string(s: &str) -> Option<[u8; 6]> {
    let mut sc = Scan::new(c_str(s), 0);
    let ea = sc.eth()?;
    sc.at_end().then_some(ea)
}

/// `inet_pton(AF_INET, ...)`: a strict dotted quad (no leading zeros, as glibc).
pub fn ipv4_from_string(s: &str) -> Option<u32> {
    std::str::from_utf8(c_str(s)).ok()?.parse::<std::net::Ipv4Addr>().ok().map(u32::from)
}

/// `inet_pton(AF_INET6, ...)`.
pub fn ipv6_from_string(s: &str) -> Option<u128> {
    std::str::from_utf8(c_str(s)).ok()?.parse::<Ipv6Addr>().ok().map(u128::from)
}

/// `ip_is_cidr()`.
fn ip_is_cidr(mask: u32) -> bool {
    let x = !mask;
    x & x.wrapping_add(1) == 0
}

fn ipv6_is_cidr(mask: u128) -> bool {
    let x = !mask;
    x & x.wrapping_add(1) == 0
}

/// `ip_parse_cidr_len()` at `s[*pos..]`. As in C, `*pos` moves whenever a scan matched, even if
/// the result is then rejected.
fn ip_parse_cidr_len(s: &[u8], pos: &mut usize) -> Option<Ipv4Net> {
    let mask = {
        let mut sc = Scan::new(s, *pos);
        let masked = sc.ip().and_then(|ip| sc.lit(b'/').and_then(|()| sc.ip()).map(|m| (ip, m)));
        if let Some(v) = masked {
            *pos = sc.pos;
            Some(v)
        } else {
            let mut sc = Scan::new(s, *pos);
            if let Some((ip, prefix)) = sc.ip().and_then(|ip| sc.lit(b'/').and_then(|()| sc.d()).map(|p| (ip, p))) {
                *pos = sc.pos;
                if !(0..=32).contains(&prefix) {
                    return None;
                }
                Some((ip, prefix_mask32(prefix as u32)))
            } else {
                let mut sc = Scan::new(s, *pos);
                let ip = sc.ip()?;
                *pos = sc.pos;
                Some((ip, u32::MAX))
            }
        }
    };
    let (addr, mask) = mask?;
    if !ip_is_cidr(mask) {
        return None;
    }
    Some(Ipv4Net { addr, plen: 32 - mask.trailing_zeros().min(32) })
}

/// `ipv6_parse_cidr_len()` at `s[*pos..]`, with the same offset behaviour.
fn ipv6_parse_cidr_len(s: &[u8], pos: &mut usize) -> Option<Ipv6Net> {
    let mut sc = Scan::new(s, *pos);
    sc.skip_spaces();
    let text = sc.ipv6_chars()?;
    *pos = sc.pos;
    let addr = ipv6_from_string(text)?;
    let mut sc = Scan::new(s, *pos);
    let mask = if let Some(prefix) = sc.lit(b'/').and_then(|()| sc.d()) {
        *pos = sc.pos;
        if !(0..=128).contains(&prefix) {
            return None;
        }
        prefix_mask128(prefix as u32)
    } else {
        let mut sc = Scan::new(s, *pos);
        if let Some(text) = sc.lit(b'/').and_then(|()| sc.ipv6_chars()) {
            *pos = sc.pos;
            ipv6_from_string(text)?
        } else {
            u128::MAX
        }
    };
    if !ipv6_is_cidr(mask) {
        return None;
    }
    Some(Ipv6Net { addr, plen: 128 - mask.trailing_zeros().min(128) })
}

/// `extract_lsp_addresses()`: "MAC [IP[/plen]]..."; `None` without a leading MAC. Whatever
/// follows the first thing that is not an address is ignored (23.03 only logs it).
pub fn extract_lsp_addresses(address: &str) -> Option<LportAddresses> {
    let s = c_str(address);
    let mut sc = Scan::new(s, 0);
    let ea = sc.eth()?;
    let mut out = LportAddresses { ea, ..LportAddresses::default() };
    let mut buf = sc.pos;
    while buf < s.len() {
        // One offset for both attempts, as in parse_and_store_addresses().
        let mut n = buf;
        if let Some(a) = ip_parse_cidr_len(s, &mut n) {
            out.ipv4.push(a);
            buf = n;
            continue;
        }
        match ipv6_parse_cidr_len(s, &mut n) {
            Some(a) => out.ipv6.push(a),
            None => break,
        }
        buf = n;
    }
    Some(out)
}

/// `in6_generate_lla()`: the EUI-64 link-local address of a MAC.
pub fn lla(ea: [u8; 6]) -> u128 {
    let [a, b, c, d, e, f] = ea;
    let iid = u64::from_be_bytes([a ^ 0x02, b, c, 0xff, 0xfe, d, e, f]);
    (0xfe80u128 << 112) | u128::from(iid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> u32 {
        ipv4_from_string(s).unwrap()
    }
    fn v6(s: &str) -> u128 {
        ipv6_from_string(s).unwrap()
    }

    #[test]
    fn macs_scan_as_ovs_scan_does() {
        assert_eq!(eth_addr_from_string("00:00:00:00:00:01"), Some([0, 0, 0, 0, 0, 1]));
        assert_eq!(eth_addr_from_string("a:B:c:d:e:f"), Some([0xa, 0xb, 0xc, 0xd, 0xe, 0xf]));
        // Leading blanks, a sign, 0x and long numbers (low 8 bits) are all accepted.
        assert_eq!(eth_addr_from_string(" 0x1: +2:3:4:5:1ff"), Some([1, 2, 3, 4, 5, 0xff]));
        assert_eq!(eth_addr_from_string("-1:0:0:0:0:0"), Some([0xff, 0, 0, 0, 0, 0]));
        assert_eq!(eth_addr_from_string("00:00:00:00:00:01 "), None);
        assert_eq!(eth_addr_from_string("00:00:00:00:00"), None);
        assert_eq!(eth_addr_from_string("zz:00:00:00:00:00"), None);
        assert_eq!(eth_addr_from_string(""), None);
        // A NUL ends the C string.
        assert_eq!(eth_addr_from_string("00:00:00:00:00:01\0junk"), Some([0, 0, 0, 0, 0, 1]));
    }

    #[test]
    fn port_security_entries() {
        let a = extract_lsp_addresses("00:00:00:00:00:01 10.0.0.4/24 fd00::4/64 10.0.1.1").unwrap();
        assert_eq!(a.ea, [0, 0, 0, 0, 0, 1]);
        assert_eq!(
            a.ipv4,
            vec![Ipv4Net { addr: v4("10.0.0.4"), plen: 24 }, Ipv4Net { addr: v4("10.0.1.1"), plen: 32 }]
        );
        assert_eq!(a.ipv6, vec![Ipv6Net { addr: v6("fd00::4"), plen: 64 }]);

        let mac_only = extract_lsp_addresses("00:00:00:00:00:02").unwrap();
        assert!(mac_only.ipv4.is_empty() && mac_only.ipv6.is_empty());

        // Dotted masks must be CIDR.
        let a = extract_lsp_addresses("00:00:00:00:00:01 10.0.0.0/255.255.0.0").unwrap();
        assert_eq!(a.ipv4, vec![Ipv4Net { addr: v4("10.0.0.0"), plen: 16 }]);
        let a = extract_lsp_addresses("00:00:00:00:00:01 10.0.0.0/255.0.255.0 fd00::1").unwrap();
        assert_eq!(a.ipv4, vec![]);
        // ... and the rejected IPv4 was consumed, so the IPv6 scan starts behind it.
        assert_eq!(a.ipv6, vec![Ipv6Net { addr: v6("fd00::1"), plen: 128 }]);
        let a = extract_lsp_addresses("00:00:00:00:00:01 10.0.0.1/33 fd00::1 10.0.0.2").unwrap();
        assert_eq!((a.ipv4.len(), a.ipv6.len()), (1, 1));
        assert_eq!(a.ipv4[0].addr, v4("10.0.0.2"));

        // The first thing that is no address ends the list.
        let a = extract_lsp_addresses("00:00:00:00:00:01 10.0.0.1 garbage 10.0.0.2").unwrap();
        assert_eq!(a.ipv4.len(), 1);
        let a = extract_lsp_addresses("00:00:00:00:00:01 fd00::/129 10.0.0.2").unwrap();
        assert!(a.ipv4.is_empty() && a.ipv6.is_empty());
        // IPv6 masks may be written out, and must be CIDR too.
        let a = extract_lsp_addresses("00:00:00:00:00:01 fd00::1/ffff:ffff:: 10.0.0.2").unwrap();
        assert_eq!(a.ipv6, vec![Ipv6Net { addr: v6("fd00::1"), plen: 32 }]);
        assert_eq!(a.ipv4.len(), 1);
        // %hhu keeps the low 8 bits: 300 is 44.
        let a = extract_lsp_addresses("00:00:00:00:00:01 300.0.0.1").unwrap();
        assert_eq!(a.ipv4[0].addr, v4("44.0.0.1"));

        assert_eq!(extract_lsp_addresses("unknown"), None);
        assert_eq!(extract_lsp_addresses("10.0.0.1"), None);
        assert_eq!(extract_lsp_addresses(""), None);
    }

    #[test]
    fn netaddr_helpers() {
        let n = Ipv4Net { addr: v4("10.0.0.4"), plen: 24 };
        assert!(n.exact());
        assert_eq!(n.bcast(), v4("10.0.0.255"));
        assert!(!Ipv4Net { addr: v4("10.0.0.0"), plen: 24 }.exact());
        assert!(Ipv4Net { addr: v4("10.0.0.0"), plen: 32 }.exact());
        assert_eq!(Ipv4Net { addr: 0, plen: 0 }.mask(), 0);
        let n = Ipv6Net { addr: v6("fd00::"), plen: 64 };
        assert!(!n.exact());
        assert_eq!(n.network(), v6("fd00::"));
        assert!(Ipv6Net { addr: v6("fd00::5"), plen: 64 }.exact());
        assert_eq!(lla([0, 0, 0, 0, 0, 1]), v6("fe80::200:ff:fe00:1"));
        assert_eq!(lla([0x52, 0x54, 0, 0x12, 0x34, 0x56]), v6("fe80::5054:ff:fe12:3456"));
    }

    #[test]
    fn strict_ip_strings() {
        assert_eq!(ipv4_from_string("10.0.0.1"), Some(0x0a00_0001));
        assert_eq!(ipv4_from_string("10.0.0.01"), None);
        assert_eq!(ipv4_from_string(" 10.0.0.1"), None);
        assert_eq!(ipv6_from_string("fd00::1"), Some(0xfd00_u128 << 112 | 1));
        assert_eq!(ipv6_from_string("fd00::1/64"), None);
    }
}
