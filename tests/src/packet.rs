//! Just enough packet building and hex handling for the harness's own tests and for
//! `netdev-dummy/receive`. Scenario tests that need more should grow this module.

use std::net::Ipv4Addr;

/// Parses "aa:bb:cc:dd:ee:ff". Panics on bad input (test code).
pub fn mac(s: &str) -> [u8; 6] {
    let v: Vec<u8> =
        s.split(':').map(|b| u8::from_str_radix(b, 16).unwrap_or_else(|_| panic!("bad MAC {s:?}"))).collect();
    v.try_into().unwrap_or_else(|_| panic!("bad MAC {s:?}"))
}

/// Lower-case hex, no separators: the format `ovs-appctl netdev-dummy/receive` accepts.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Inverse of [`to_hex`]; ignores whitespace. Panics on bad input (test code).
pub fn from_hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let pairs = digits.chunks_exact(2);
    assert!(pairs.remainder().is_empty(), "odd-length hex {s:?}");
    pairs
        .map(|p| {
            let p = std::str::from_utf8(p).unwrap_or("zz");
            u8::from_str_radix(p, 16).unwrap_or_else(|_| panic!("bad hex {s:?}"))
        })
        .collect()
}

/// A broadcast ARP request "who has `target_ip`, tell `src_ip`" from `src_mac` (42 bytes).
pub fn arp_request(src_mac: [u8; 6], src_ip: Ipv4Addr, target_ip: Ipv4Addr) -> Vec<u8> {
    let mut p = Vec::with_capacity(42);
    p.extend_from_slice(&[0xff; 6]);
    p.extend_from_slice(&src_mac);
    p.extend_from_slice(&[0x08, 0x06]); // ethertype ARP
    p.extend_from_slice(&[0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01]); // Ethernet/IPv4, request
    p.extend_from_slice(&src_mac);
    p.extend_from_slice(&src_ip.octets());
    p.extend_from_slice(&[0; 6]);
    p.extend_from_slice(&target_ip.octets());
    p
}

/// The ARP reply a responder for `ip`/`mac` sends back to the asker of an [`arp_request`].
pub fn arp_reply(mac: [u8; 6], ip: Ipv4Addr, to_mac: [u8; 6], to_ip: Ipv4Addr) -> Vec<u8> {
    let mut p = Vec::with_capacity(42);
    p.extend_from_slice(&to_mac);
    p.extend_from_slice(&mac);
    p.extend_from_slice(&[0x08, 0x06]);
    p.extend_from_slice(&[0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x02]); // reply
    p.extend_from_slice(&mac);
    p.extend_from_slice(&ip.octets());
    p.extend_from_slice(&to_mac);
    p.extend_from_slice(&to_ip.octets());
    p
}

/// The Internet checksum of `data` with `initial` already summed in (ones' complement).
pub fn checksum(data: &[u8], initial: u32) -> u16 {
    let mut sum = initial;
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The TCP/UDP checksum of `segment` (checksum field zero): over the IPv4 pseudo-header and
/// `segment`.
pub fn transport_checksum(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, segment: &[u8]) -> u16 {
    let mut pseudo = Vec::with_capacity(12);
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&[0, proto]);
    pseudo.extend_from_slice(&(segment.len() as u16).to_be_bytes());
    let partial = !checksum(&pseudo, 0);
    checksum(segment, u32::from(partial))
}

/// An IPv4 packet (no options, DF, TTL 64) of `proto` around `payload`.
pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload: &[u8]) -> Vec<u8> {
    let len = (20 + payload.len()) as u16;
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&len.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0]);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    let c = checksum(&h, 0);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

/// An IPv4 UDP packet, checksums filled in.
pub fn ipv4_udp(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut u = sport.to_be_bytes().to_vec();
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(data);
    let c = transport_checksum(src, dst, 17, &u);
    u[6..8].copy_from_slice(&c.to_be_bytes());
    ipv4(src, dst, 17, &u)
}

/// A broadcast DHCPDISCOVER frame from `chaddr` (UDP checksum 0, which IPv4 allows).
pub fn dhcp_discover(chaddr: [u8; 6], xid: u32) -> Vec<u8> {
    let mut d = vec![1, 1, 6, 0];
    d.extend_from_slice(&xid.to_be_bytes());
    d.extend_from_slice(&[0; 20]);
    d.extend_from_slice(&chaddr);
    d.extend_from_slice(&[0; 10 + 64 + 128]);
    d.extend_from_slice(&[99, 130, 83, 99, 53, 1, 1, 255]);
    let mut u = 68u16.to_be_bytes().to_vec();
    u.extend_from_slice(&67u16.to_be_bytes());
    u.extend_from_slice(&((8 + d.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(&d);
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&((20 + u.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255]);
    let c = checksum(&ip, 0);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&u);
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&chaddr);
    f.extend_from_slice(&[8, 0]);
    f.extend_from_slice(&ip);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arp_request_matches_known_bytes() {
        let p = arp_request(mac("00:00:00:00:00:01"), "10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        assert_eq!(to_hex(&p), "ffffffffffff000000000001080600010800060400010000000000010a0000010000000000000a000002");
        assert_eq!(from_hex(&to_hex(&p)), p);
    }
}
