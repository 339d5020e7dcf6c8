//! The packet-in handlers other than DHCP, after 23.03's pinctrl.c: each takes the parsed
//! packet (and the packet-in's metadata) and returns the packet to send with the nested
//! actions, or an intent for flowctl. Sans-IO.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::compose::{self, icmp6_checksum, IpPair};
use crate::flow::{
    mac_to_string, Headers, Net, ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP,
    IPPROTO_UDP, L4,
};

/// A handler declined the packet (logged rate-limited and counted as an error).
#[derive(Debug, PartialEq, Eq)]
pub struct Refused(pub &'static str);

/// `arp{}`: an ARP request for the packet's IPv4 destination (pinctrl_handle_arp).
pub fn arp(h: &Headers<'_>) -> Result<Vec<u8>, Refused> {
    let Net::Ipv4 { src, dst, .. } = h.net else { return Err(Refused("ARP action on non-IP packet")) };
    let mut p = compose::arp_request(h.dl_src, h.dl_dst, src, dst);
    if let Some(tci) = h.vlan_tci {
        compose::push_vlan(&mut p, tci);
    }
    Ok(p)
}

/// `nd_ns{}`: a neighbor solicitation for the packet's IPv6 destination, to its
/// solicited-node address (pinctrl_handle_nd_ns / compose_nd_ns).
pub fn nd_ns(h: &Headers<'_>) -> Result<Vec<u8>, Refused> {
    let Net::Ipv6 { src, dst, .. } = h.net else { return Err(Refused("NS action on non-IPv6 packet")) };
    let t = dst.octets();
    let sn = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00 | u16::from(t[13]), u16::from_be_bytes([t[14], t[15]]));
    let eth_dst = [0x33, 0x33, 0xff, t[13], t[14], t[15]];
    // type 135, code 0, checksum, reserved, target, SLL option (type 1, len 1, MAC).
    let mut icmp = vec![135, 0, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&t);
    icmp.extend_from_slice(&[1, 1]);
    icmp.extend_from_slice(&h.dl_src);
    let c = icmp6_checksum(src, sn, &icmp);
    if let Some(b) = icmp.get_mut(2..4) {
        b.copy_from_slice(&c.to_be_bytes());
    }
    Ok(compose::ipv6(h.dl_src, eth_dst, src, sn, IPPROTO_ICMPV6, 255, &icmp))
}

/// `icmp4{}`, `icmp6{}`, `icmp4_error{}`, `icmp6_error{}` and the ICMP part of `reject{}`
/// (pinctrl_handle_icmp): destination unreachable quoting the packet, code 1 (host
/// unreachable / address unreachable), or port unreachable for UDP when `set_code`; from
/// and to the packet's own addresses, swapped when `loopback`.
pub fn icmp(h: &Headers<'_>, set_code: bool, loopback: bool) -> Result<Vec<u8>, Refused> {
    let (eth_src, eth_dst) = if loopback { (h.dl_dst, h.dl_src) } else { (h.dl_src, h.dl_dst) };
    let mut p = match h.net {
        Net::Ipv4 { src, dst, proto, total_len, .. } => {
            let in_len = usize::from(total_len);
            if in_len < 20 {
                return Err(Refused("ICMP action on IP packet with invalid length"));
            }
            let (s, d) = if loopback { (dst, src) } else { (src, dst) };
            let room = 576 - (14 + 20 + 8);
            let quoted = h.l3().get(..in_len.min(room)).unwrap_or(h.l3());
            let code = if set_code && proto == IPPROTO_UDP { 3 } else { 1 };
            compose::ipv4(eth_src, eth_dst, s, d, IPPROTO_ICMP, 255, &compose::icmp4_unreach(code, quoted))
        }
        Net::Ipv6 { src, dst, proto, payload_len, .. } => {
            let in_len = 40 + usize::from(payload_len);
            let (s, d) = if loopback { (dst, src) } else { (src, dst) };
            let room = 1280 - (14 + 40 + 8);
            let quoted = h.l3().get(..in_len.min(room)).unwrap_or(h.l3());
            let code = if set_code && proto == IPPROTO_UDP { 4 } else { 1 };
            compose::ipv6(eth_src, eth_dst, s, d, IPPROTO_ICMPV6, 255, &compose::icmp6_unreach(code, s, d, quoted))
        }
        _ => return Err(Refused("ICMP action on non-IP packet")),
    };
    if let Some(tci) = h.vlan_tci {
        compose::push_vlan(&mut p, tci);
    }
    Ok(p)
}

/// `tcp_reset{}` (pinctrl_handle_tcp_reset): RST+ACK acknowledging seq+1, TTL 63. Unlike
/// ICMP, 23.03 pushes no VLAN tag here.
pub fn tcp_reset(h: &Headers<'_>, loopback: bool) -> Result<Vec<u8>, Refused> {
    let L4::Tcp { src: sport, dst: dport, seq, .. } = h.l4 else {
        return Err(Refused("TCP_RESET action on non-TCP packet"));
    };
    let (eth_src, eth_dst) = if loopback { (h.dl_dst, h.dl_src) } else { (h.dl_src, h.dl_dst) };
    let ack = seq.wrapping_add(1);
    Ok(match h.net {
        Net::Ipv4 { src, dst, .. } => {
            let (s, d) = if loopback { (dst, src) } else { (src, dst) };
            let tcp = compose::tcp_rst(dport, sport, ack, &IpPair::V4(s, d));
            compose::ipv4(eth_src, eth_dst, s, d, IPPROTO_TCP, 63, &tcp)
        }
        Net::Ipv6 { src, dst, .. } => {
            let (s, d) = if loopback { (dst, src) } else { (src, dst) };
            let tcp = compose::tcp_rst(dport, sport, ack, &IpPair::V6(s, d));
            compose::ipv6(eth_src, eth_dst, s, d, IPPROTO_TCP, 63, &tcp)
        }
        _ => return Err(Refused("TCP_RESET action on non-IP packet")),
    })
}

/// `reject{}` (pinctrl_handle_reject): TCP reset for TCP, ICMP unreachable otherwise, both
/// looped back to the sender; never in answer to a reset or an unreachable.
pub fn reject(h: &Headers<'_>) -> Result<Option<Vec<u8>>, Refused> {
    match h.l4 {
        L4::Tcp { flags, .. } if flags & 0x04 != 0 => return Ok(None),
        L4::Icmp { ty: 3, .. } | L4::Icmpv6 { ty: 1, .. } => return Ok(None),
        _ => {}
    }
    match (h.nw_proto(), h.l4) {
        (Some(IPPROTO_TCP), L4::Tcp { .. }) => tcp_reset(h, true).map(Some),
        (Some(IPPROTO_TCP), _) => Ok(None),
        (Some(crate::flow::IPPROTO_SCTP), _) => crate::sctp::sctp_abort(h, true),
        _ => icmp(h, true, true).map(Some),
    }
}

/// What `put_arp` / `put_nd` learned: (IP as 23.03 writes it, MAC).
pub fn learned_binding(ip: IpKey, h: &Headers<'_>) -> (String, String) {
    let ip = match ip {
        IpKey::V4(a) => a.to_string(),
        IpKey::V6(a) => a.to_ipv4_mapped().map_or_else(|| a.to_string(), |v4| v4.to_string()),
    };
    (ip, mac_to_string(&h.dl_src))
}

#[derive(Debug, Clone, Copy)]
pub enum IpKey {
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

/// `log(...)`'s line in lib/acl-log.c's format (module acl_log).
pub fn acl_log_line(h: &Headers<'_>, verdict: u8, severity: u8, name: &[u8], direction: &str) -> String {
    let verdict = match verdict {
        0 => "allow",
        1 => "drop",
        2 => "reject",
        _ => "<unknown>",
    };
    let severity = match severity {
        1 => "alert",
        4 => "warning",
        5 => "notice",
        6 => "info",
        7 => "debug",
        _ => "<unknown>",
    };
    let name = if name.is_empty() { "<unnamed>".to_string() } else { String::from_utf8_lossy(name).into_owned() };
    let name = serde_json_escape(&name);
    format!("name={name}, verdict={verdict}, severity={severity}, direction={direction}: {}", flow_format(h))
}

fn serde_json_escape(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn tcp_flags_str(f: u16) -> String {
    if f == 0 {
        return "0".into();
    }
    const NAMES: [&str; 12] = ["fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr", "ns", "[200]", "[400]", "[800]"];
    let names: Vec<&str> = NAMES.iter().enumerate().filter(|(i, _)| f & (1 << i) != 0).map(|(_, n)| *n).collect();
    names.join("|")
}

/// OVS's `flow_format()` of a packet's headers (no metadata), for the common protocols.
pub fn flow_format(h: &Headers<'_>) -> String {
    let proto_name = match (&h.net, h.l4) {
        (Net::Arp { .. }, _) => "arp",
        (Net::Ipv4 { .. }, L4::Tcp { .. }) => "tcp",
        (Net::Ipv4 { .. }, L4::Udp { .. }) => "udp",
        (Net::Ipv4 { .. }, L4::Sctp { .. }) => "sctp",
        (Net::Ipv4 { .. }, L4::Icmp { .. }) => "icmp",
        (Net::Ipv4 { .. }, _) => "ip",
        (Net::Ipv6 { .. }, L4::Tcp { .. }) => "tcp6",
        (Net::Ipv6 { .. }, L4::Udp { .. }) => "udp6",
        (Net::Ipv6 { .. }, L4::Sctp { .. }) => "sctp6",
        (Net::Ipv6 { .. }, L4::Icmpv6 { .. }) => "icmp6",
        (Net::Ipv6 { .. }, _) => "ipv6",
        (Net::None, _) => "",
    };
    let mut s = String::new();
    if !proto_name.is_empty() {
        s.push_str(proto_name);
        s.push(',');
    }
    s.push_str(&format!("vlan_tci=0x{:04x},", h.vlan_tci.unwrap_or(0)));
    s.push_str(&format!("dl_src={},dl_dst={}", mac_to_string(&h.dl_src), mac_to_string(&h.dl_dst)));
    if proto_name.is_empty() {
        s.push_str(&format!(",dl_type=0x{:04x}", h.dl_type));
    }
    match &h.net {
        Net::Arp { op, sha, spa, tha, tpa } => {
            s.push_str(&format!(
                ",arp_spa={spa},arp_tpa={tpa},arp_op={op},arp_sha={},arp_tha={}",
                mac_to_string(sha),
                mac_to_string(tha)
            ));
        }
        Net::Ipv4 { src, dst, ttl, tos, fragment, .. } => {
            s.push_str(&format!(
                ",nw_src={src},nw_dst={dst},nw_tos={},nw_ecn={},nw_ttl={ttl},nw_frag={}",
                tos & 0xfc,
                tos & 3,
                if *fragment { "first" } else { "no" }
            ));
        }
        Net::Ipv6 { src, dst, hlim, tclass, flow_label, .. } => {
            s.push_str(&format!(
                ",ipv6_src={src},ipv6_dst={dst},ipv6_label=0x{flow_label:05x},nw_tos={},nw_ecn={},nw_ttl={hlim},nw_frag=no",
                tclass & 0xfc,
                tclass & 3
            ));
        }
        Net::None => {}
    }
    match h.l4 {
        L4::Tcp { src, dst, flags, .. } => {
            s.push_str(&format!(",tp_src={src},tp_dst={dst},tcp_flags={}", tcp_flags_str(flags)))
        }
        L4::Udp { src, dst } | L4::Sctp { src, dst } => s.push_str(&format!(",tp_src={src},tp_dst={dst}")),
        L4::Icmp { ty, code } => s.push_str(&format!(",icmp_type={ty},icmp_code={code}")),
        L4::Icmpv6 { ty, code } => s.push_str(&format!(",icmp_type={ty},icmp_code={code}")),
        L4::None => {}
    }
    s
}

/// The Ethertype a handler needs, for error messages.
pub fn is_ip(h: &Headers<'_>) -> bool {
    h.dl_type == ETH_TYPE_IP || h.dl_type == ETH_TYPE_IPV6
}

pub fn is_arp(h: &Headers<'_>) -> bool {
    h.dl_type == ETH_TYPE_ARP
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    pub fn udp4() -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ethernet2([0x50, 0x54, 0, 0, 0, 1], [0x50, 0x54, 0, 0, 0, 2])
            .ipv4([10, 0, 0, 2], [10, 0, 0, 3], 64)
            .udp(1000, 1000)
            .write(&mut v, b"hello")
            .unwrap();
        v
    }

    pub fn tcp4(flags_rst: bool) -> Vec<u8> {
        let mut v = Vec::new();
        let b = PacketBuilder::ethernet2([0x50, 0x54, 0, 0, 0, 1], [0x50, 0x54, 0, 0, 0, 2])
            .ipv4([10, 0, 0, 2], [10, 0, 0, 3], 64)
            .tcp(7777, 80, 1000, 4096)
            .syn();
        let b = if flags_rst { b.rst() } else { b };
        b.write(&mut v, &[]).unwrap();
        v
    }

    #[test]
    fn arp_request_for_the_destination() {
        let p = udp4();
        let h = Headers::parse(&p).unwrap();
        let out = arp(&h).unwrap();
        let a = Headers::parse(&out).unwrap();
        assert_eq!(out.len(), 42);
        assert_eq!(
            a.net,
            Net::Arp { op: 1, sha: h.dl_src, spa: [10, 0, 0, 2].into(), tha: [0; 6], tpa: [10, 0, 0, 3].into() }
        );
        assert_eq!(a.dl_dst, h.dl_dst);
    }

    #[test]
    fn reject_udp_is_port_unreachable_looped_back() {
        let p = udp4();
        let h = Headers::parse(&p).unwrap();
        let out = reject(&h).unwrap().unwrap();
        let r = Headers::parse(&out).unwrap();
        assert_eq!(r.dl_dst, h.dl_src);
        assert!(
            matches!(r.net, Net::Ipv4 { src, dst, ttl: 255, .. } if src == Ipv4Addr::new(10,0,0,3) && dst == Ipv4Addr::new(10,0,0,2))
        );
        assert_eq!(r.l4, L4::Icmp { ty: 3, code: 3 });
        assert_eq!(compose::csum(r.l4()), 0);
        assert_eq!(&r.l4()[8..], h.l3());
    }

    #[test]
    fn tcp_reset_acks_seq_plus_one_and_resets_are_not_answered() {
        let p = tcp4(false);
        let h = Headers::parse(&p).unwrap();
        let out = reject(&h).unwrap().unwrap();
        let r = Headers::parse(&out).unwrap();
        assert!(matches!(r.l4, L4::Tcp { src: 80, dst: 7777, seq: 0, flags: 0x14 }));
        assert_eq!(&r.l4()[8..12], &1001u32.to_be_bytes());
        let rst = tcp4(true);
        assert_eq!(reject(&Headers::parse(&rst).unwrap()), Ok(None));
    }

    #[test]
    fn icmp6_and_ns() {
        let mut v = Vec::new();
        PacketBuilder::ethernet2([0x50, 0x54, 0, 0, 0, 1], [0x50, 0x54, 0, 0, 0, 2])
            .ipv6([0xfd; 16], [0xfe; 16], 64)
            .udp(1, 2)
            .write(&mut v, b"x")
            .unwrap();
        let h = Headers::parse(&v).unwrap();
        let out = icmp(&h, true, false).unwrap();
        let r = Headers::parse(&out).unwrap();
        assert_eq!(r.l4, L4::Icmpv6 { ty: 1, code: 4 });
        let ns = nd_ns(&h).unwrap();
        let n = Headers::parse(&ns).unwrap();
        assert_eq!(n.dl_dst, [0x33, 0x33, 0xff, 0xfe, 0xfe, 0xfe]);
        assert_eq!(n.l4, L4::Icmpv6 { ty: 135, code: 0 });
        let Net::Ipv6 { src, dst, .. } = n.net else { panic!() };
        assert_eq!(icmp6_checksum(src, dst, n.l4()), 0);
    }

    #[test]
    fn acl_log_format() {
        let p = udp4();
        let h = Headers::parse(&p).unwrap();
        assert_eq!(
            acl_log_line(&h, 1, 1, b"drop-flow", "to-lport"),
            "name=\"drop-flow\", verdict=drop, severity=alert, direction=to-lport: udp,vlan_tci=0x0000,\
             dl_src=50:54:00:00:00:01,dl_dst=50:54:00:00:00:02,nw_src=10.0.0.2,nw_dst=10.0.0.3,nw_tos=0,\
             nw_ecn=0,nw_ttl=64,nw_frag=no,tp_src=1000,tp_dst=1000"
        );
        let t = tcp4(false);
        assert!(flow_format(&Headers::parse(&t).unwrap()).ends_with("tp_src=7777,tp_dst=80,tcp_flags=syn"));
    }
}
