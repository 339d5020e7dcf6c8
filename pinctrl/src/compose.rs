//! Packets pinctrl builds, laid out as 23.03's pinctrl.c builds them (compose_arp__,
//! pinctrl_compose_ipv4/ipv6, the ICMP and TCP reset handlers), with etherparse's headers,
//! lengths and checksums.

use std::net::{Ipv4Addr, Ipv6Addr};

use etherparse::{Icmpv4Header, Icmpv4Type, Icmpv6Header, Icmpv6Type, IpNumber, Ipv4Header, Ipv6Header, TcpHeader};

use crate::flow::{ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6, ETH_TYPE_VLAN, IPPROTO_ICMPV6};

pub fn eth_header(dst: [u8; 6], src: [u8; 6], ether_type: u16) -> Vec<u8> {
    let mut v = Vec::with_capacity(64);
    v.extend_from_slice(&dst);
    v.extend_from_slice(&src);
    v.extend_from_slice(&ether_type.to_be_bytes());
    v
}

/// `eth_push_vlan()`: an 802.1Q tag with `tci` after the addresses.
pub fn push_vlan(pkt: &mut Vec<u8>, tci: u16) {
    if pkt.len() < 12 {
        return;
    }
    let mut tag = ETH_TYPE_VLAN.to_be_bytes().to_vec();
    tag.extend_from_slice(&tci.to_be_bytes());
    pkt.splice(12..12, tag);
}

/// An ARP request from `sha`/`spa` for `tpa`, sent to `eth_dst` (compose_arp__ + the
/// fields pinctrl_handle_arp sets).
pub fn arp_request(eth_src: [u8; 6], eth_dst: [u8; 6], spa: Ipv4Addr, tpa: Ipv4Addr) -> Vec<u8> {
    let mut p = eth_header(eth_dst, eth_src, ETH_TYPE_ARP);
    let arp = etherparse::ArpPacket::new(
        etherparse::ArpHardwareId::ETHERNET,
        etherparse::EtherType::IPV4,
        etherparse::ArpOperation::REQUEST,
        &eth_src,
        &spa.octets(),
        &[0; 6],
        &tpa.octets(),
    );
    match arp {
        Ok(a) => p.extend_from_slice(&a.to_bytes()),
        Err(_) => p.extend_from_slice(&[0; 28]),
    }
    p
}

/// `pinctrl_compose_ipv4`: IPv4 header (tos 0, DF, id 0) around `payload`, whose checksum
/// the caller has filled. 23.03 sets tos IP_DSCP_CS6 first, but its packet_set_ipv4(...,
/// tos 0, ...) call right after puts 0 back: its packets leave with tos 0.
pub fn ipv4(
    eth_src: [u8; 6],
    eth_dst: [u8; 6],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    ttl: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut p = eth_header(eth_dst, eth_src, ETH_TYPE_IP);
    let len = u16::try_from(payload.len()).unwrap_or(u16::MAX - 20);
    let Ok(mut h) = Ipv4Header::new(len, ttl, IpNumber(proto), src.octets(), dst.octets()) else {
        return p;
    };
    h.dont_fragment = true;
    h.identification = 0;
    h.header_checksum = h.calc_header_checksum();
    p.extend_from_slice(&h.to_bytes());
    p.extend_from_slice(payload);
    p
}

/// `pinctrl_compose_ipv6`: IPv6 header (traffic class and flow label 0) around `payload`.
pub fn ipv6(
    eth_src: [u8; 6],
    eth_dst: [u8; 6],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    proto: u8,
    hlim: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut p = eth_header(eth_dst, eth_src, ETH_TYPE_IPV6);
    let h = Ipv6Header {
        traffic_class: 0,
        flow_label: Default::default(),
        payload_length: u16::try_from(payload.len()).unwrap_or(u16::MAX),
        next_header: IpNumber(proto),
        hop_limit: hlim,
        source: src.octets(),
        destination: dst.octets(),
    };
    p.extend_from_slice(&h.to_bytes());
    p.extend_from_slice(payload);
    p
}

/// ICMPv4 destination unreachable (`code`) quoting `quoted`.
pub fn icmp4_unreach(code: u8, quoted: &[u8]) -> Vec<u8> {
    let ty = Icmpv4Type::Unknown { type_u8: 3, code_u8: code, bytes5to8: [0; 4] };
    let h = Icmpv4Header::with_checksum(ty, quoted);
    let mut v = h.to_bytes().to_vec();
    v.extend_from_slice(quoted);
    v
}

/// ICMPv6 destination unreachable (`code`) quoting `quoted`, checksummed for src/dst.
pub fn icmp6_unreach(code: u8, src: Ipv6Addr, dst: Ipv6Addr, quoted: &[u8]) -> Vec<u8> {
    let ty = Icmpv6Type::Unknown { type_u8: 1, code_u8: code, bytes5to8: [0; 4] };
    match Icmpv6Header::with_checksum(ty, src.octets(), dst.octets(), quoted) {
        Ok(h) => {
            let mut v = h.to_bytes().to_vec();
            v.extend_from_slice(quoted);
            v
        }
        Err(_) => Vec::new(),
    }
}

/// A TCP RST+ACK from `src_port` to `dst_port` acknowledging `ack`, seq 0, window 0.
pub fn tcp_rst(src_port: u16, dst_port: u16, ack: u32, ip: &IpPair) -> Vec<u8> {
    let mut h = TcpHeader::new(src_port, dst_port, 0, 0);
    h.rst = true;
    h.ack = true;
    h.acknowledgment_number = ack;
    h.checksum = match ip {
        IpPair::V4(s, d) => h.calc_checksum_ipv4_raw(s.octets(), d.octets(), &[]).unwrap_or(0),
        IpPair::V6(s, d) => h.calc_checksum_ipv6_raw(s.octets(), d.octets(), &[]).unwrap_or(0),
    };
    h.to_bytes().to_vec()
}

pub enum IpPair {
    V4(Ipv4Addr, Ipv4Addr),
    V6(Ipv6Addr, Ipv6Addr),
}

/// The Internet checksum of `b` (RFC 1071).
pub fn csum(b: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in b.chunks(2) {
        let w = match c {
            [a, b] => u16::from_be_bytes([*a, *b]),
            [a] => u16::from_be_bytes([*a, 0]),
            _ => 0,
        };
        sum += u32::from(w);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The ICMPv6 checksum of `body` (checksum field zero) from `src` to `dst`: over the IPv6
/// pseudo-header and `body`.
pub fn icmp6_checksum(src: Ipv6Addr, dst: Ipv6Addr, body: &[u8]) -> u16 {
    let mut pseudo = Vec::with_capacity(40 + body.len());
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&u32::try_from(body.len()).unwrap_or(0).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, IPPROTO_ICMPV6]);
    pseudo.extend_from_slice(body);
    csum(&pseudo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_header_as_23_03() {
        let p = ipv4([1; 6], [2; 6], [10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 6, 63, &[0; 20]);
        let ip = &p[14..34];
        assert_eq!(ip[0], 0x45);
        assert_eq!(ip[1], 0);
        assert_eq!(&ip[2..4], &[0, 40]);
        assert_eq!(&ip[4..8], &[0, 0, 0x40, 0]);
        assert_eq!(ip[8], 63);
        assert_eq!(csum(ip), 0);
    }

    #[test]
    fn vlan_push() {
        let mut p = eth_header([2; 6], [1; 6], ETH_TYPE_ARP);
        push_vlan(&mut p, 0x1005);
        assert_eq!(&p[12..18], &[0x81, 0, 0x10, 5, 0x08, 0x06]);
    }
}
