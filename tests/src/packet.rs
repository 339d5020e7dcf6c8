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
