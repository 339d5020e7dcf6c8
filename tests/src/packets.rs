//! IPv4 packets for the end-to-end data-plane scenarios (`tests/tests/dataplane_*.rs`): one
//! struct, [`Ip4`], both builds the frames injected with `netdev-dummy/receive` and parses what
//! the dummy ports captured, so a test asserts on fields (addresses, TTL, ports, flags) and on
//! checksums after NAT instead of on hex. Plus [`Net`]: a switch's VIFs by name, with "sent
//! here, arrived exactly there" checks.
//!
//! Negative checks ("nothing arrived on vif3") need a barrier: ovs-vswitchd's userspace
//! datapath handles a dummy port's receive queue in order, upcalls and conntrack
//! recirculations inline, so once a later packet injected on the same port has come out,
//! everything injected before it on that port has been processed. Only packets the pipeline
//! sends to the controller (pinctrl) come back later; tests wait for those positively.

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;

use crate::hv::Hv;
use crate::packet::{checksum, mac, to_hex, transport_checksum};
use crate::wait::{self, TIMEOUT};

pub const ETH_IP4: u16 = 0x0800;
pub const ETH_ARP: u16 = 0x0806;
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;

pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_PSH: u8 = 0x08;
pub const TCP_ACK: u8 = 0x10;

/// Broadcast MAC.
pub const BROADCAST: [u8; 6] = [0xff; 6];

/// The transport part of an [`Ip4`] packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum L4 {
    Udp {
        sport: u16,
        dport: u16,
        payload: Vec<u8>,
    },
    Tcp {
        sport: u16,
        dport: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: Vec<u8>,
    },
    /// ICMP echo request (type 8) / reply (type 0), or any other type with `rest` as the
    /// 4 bytes after the checksum (id, seq for echo) and `payload` after them.
    Icmp {
        ty: u8,
        code: u8,
        rest: [u8; 4],
        payload: Vec<u8>,
    },
    /// Another protocol: its number and bytes.
    Other {
        proto: u8,
        bytes: Vec<u8>,
    },
}

impl L4 {
    pub fn proto(&self) -> u8 {
        match self {
            L4::Udp { .. } => PROTO_UDP,
            L4::Tcp { .. } => PROTO_TCP,
            L4::Icmp { .. } => PROTO_ICMP,
            L4::Other { proto, .. } => *proto,
        }
    }
    /// Source and destination port (TCP, UDP).
    pub fn ports(&self) -> Option<(u16, u16)> {
        match self {
            L4::Udp { sport, dport, .. } | L4::Tcp { sport, dport, .. } => Some((*sport, *dport)),
            _ => None,
        }
    }
    pub fn payload(&self) -> &[u8] {
        match self {
            L4::Udp { payload, .. } | L4::Tcp { payload, .. } | L4::Icmp { payload, .. } => payload,
            L4::Other { bytes, .. } => bytes,
        }
    }
}

/// An Ethernet + IPv4 packet (no options, no fragments).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ip4 {
    pub eth_src: [u8; 6],
    pub eth_dst: [u8; 6],
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub l4: L4,
}

impl Ip4 {
    fn new(eth_src: &str, eth_dst: &str, src: &str, dst: &str, l4: L4) -> Ip4 {
        Ip4 {
            eth_src: mac(eth_src),
            eth_dst: mac(eth_dst),
            src: src.parse().unwrap_or_else(|_| panic!("bad IPv4 {src:?}")),
            dst: dst.parse().unwrap_or_else(|_| panic!("bad IPv4 {dst:?}")),
            ttl: 64,
            l4,
        }
    }
    /// A UDP datagram; `tag` is its payload, so that a test can recognise it downstream.
    pub fn udp(eth_src: &str, eth_dst: &str, src: &str, dst: &str, sport: u16, dport: u16, tag: &str) -> Ip4 {
        Ip4::new(eth_src, eth_dst, src, dst, L4::Udp { sport, dport, payload: tag.as_bytes().to_vec() })
    }
    /// A TCP segment without payload.
    #[allow(clippy::too_many_arguments)]
    pub fn tcp(
        eth_src: &str,
        eth_dst: &str,
        src: &str,
        dst: &str,
        sport: u16,
        dport: u16,
        flags: u8,
        seq: u32,
        ack: u32,
    ) -> Ip4 {
        Ip4::new(eth_src, eth_dst, src, dst, L4::Tcp { sport, dport, seq, ack, flags, payload: Vec::new() })
    }
    /// An ICMP echo request with identifier `id` and sequence number `seq`.
    pub fn ping(eth_src: &str, eth_dst: &str, src: &str, dst: &str, id: u16, seq: u16) -> Ip4 {
        let [a, b] = id.to_be_bytes();
        let [c, d] = seq.to_be_bytes();
        Ip4::new(eth_src, eth_dst, src, dst, L4::Icmp { ty: 8, code: 0, rest: [a, b, c, d], payload: b"ping".to_vec() })
    }
    pub fn with_ttl(mut self, ttl: u8) -> Ip4 {
        self.ttl = ttl;
        self
    }

    /// The TCP flags, if TCP.
    pub fn tcp_flags(&self) -> Option<u8> {
        match self.l4 {
            L4::Tcp { flags, .. } => Some(flags),
            _ => None,
        }
    }

    /// The TCP answer to this segment as its peer would send it (addresses and ports
    /// swapped; `eth_src`/`eth_dst` given), acknowledging it: e.g. the SYN-ACK to a SYN.
    pub fn tcp_answer(&self, eth_src: &str, eth_dst: &str, flags: u8, seq: u32) -> Ip4 {
        let L4::Tcp { sport, dport, seq: their_seq, flags: their_flags, ref payload, .. } = self.l4 else {
            panic!("tcp_answer to a non-TCP packet {self}");
        };
        let consumed = payload.len() as u32 + u32::from(their_flags & (TCP_SYN | TCP_FIN) != 0);
        Ip4 {
            eth_src: mac(eth_src),
            eth_dst: mac(eth_dst),
            src: self.dst,
            dst: self.src,
            ttl: 64,
            l4: L4::Tcp {
                sport: dport,
                dport: sport,
                seq,
                ack: their_seq.wrapping_add(consumed),
                flags,
                payload: vec![],
            },
        }
    }

    /// The Ethernet frame, with correct IPv4 and transport checksums.
    pub fn to_bytes(&self) -> Vec<u8> {
        let l4 = match &self.l4 {
            L4::Udp { sport, dport, payload } => {
                let mut s = Vec::with_capacity(8 + payload.len());
                s.extend_from_slice(&sport.to_be_bytes());
                s.extend_from_slice(&dport.to_be_bytes());
                s.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
                s.extend_from_slice(&[0, 0]);
                s.extend_from_slice(payload);
                let c = transport_checksum(self.src, self.dst, PROTO_UDP, &s);
                s[6..8].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_be_bytes());
                s
            }
            L4::Tcp { sport, dport, seq, ack, flags, payload } => {
                let mut s = Vec::with_capacity(20 + payload.len());
                s.extend_from_slice(&sport.to_be_bytes());
                s.extend_from_slice(&dport.to_be_bytes());
                s.extend_from_slice(&seq.to_be_bytes());
                s.extend_from_slice(&ack.to_be_bytes());
                s.extend_from_slice(&[5 << 4, *flags]);
                s.extend_from_slice(&65535u16.to_be_bytes()); // window
                s.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
                s.extend_from_slice(payload);
                let c = transport_checksum(self.src, self.dst, PROTO_TCP, &s);
                s[16..18].copy_from_slice(&c.to_be_bytes());
                s
            }
            L4::Icmp { ty, code, rest, payload } => {
                let mut s = vec![*ty, *code, 0, 0];
                s.extend_from_slice(rest);
                s.extend_from_slice(payload);
                let c = checksum(&s, 0);
                s[2..4].copy_from_slice(&c.to_be_bytes());
                s
            }
            L4::Other { bytes, .. } => bytes.clone(),
        };
        let mut ip = Vec::with_capacity(20 + l4.len());
        ip.extend_from_slice(&[0x45, 0]);
        ip.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 1, 0x40, 0]); // id 1, DF
        ip.extend_from_slice(&[self.ttl, self.l4.proto(), 0, 0]);
        ip.extend_from_slice(&self.src.octets());
        ip.extend_from_slice(&self.dst.octets());
        let c = checksum(&ip, 0);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        ip.extend_from_slice(&l4);
        eth_frame(self.eth_dst, self.eth_src, ETH_IP4, &ip)
    }

    /// Hex for `netdev-dummy/receive`.
    pub fn hex(&self) -> String {
        to_hex(&self.to_bytes())
    }

    /// Parses an Ethernet frame carrying IPv4 (untagged or one 802.1Q tag). None for
    /// anything else. Padding after the IP total length is ignored.
    pub fn parse(frame: &[u8]) -> Option<Ip4> {
        let (ethertype, l3) = ethertype_and_l3(frame)?;
        if ethertype != ETH_IP4 || l3.len() < 20 || l3[0] >> 4 != 4 {
            return None;
        }
        let ihl = usize::from(l3[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([l3[2], l3[3]]));
        if ihl < 20 || total < ihl || total > l3.len() {
            return None;
        }
        let (src, dst) = (ip_at(l3, 12), ip_at(l3, 16));
        let (proto, s) = (l3[9], &l3[ihl..total]);
        let be16 = |o: usize| u16::from_be_bytes([s[o], s[o + 1]]);
        let be32 = |o: usize| u32::from_be_bytes([s[o], s[o + 1], s[o + 2], s[o + 3]]);
        let l4 = match proto {
            PROTO_UDP if s.len() >= 8 => L4::Udp { sport: be16(0), dport: be16(2), payload: s[8..].to_vec() },
            PROTO_TCP if s.len() >= 20 => {
                let off = usize::from(s[12] >> 4) * 4;
                L4::Tcp {
                    sport: be16(0),
                    dport: be16(2),
                    seq: be32(4),
                    ack: be32(8),
                    flags: s[13],
                    payload: s.get(off..).unwrap_or_default().to_vec(),
                }
            }
            PROTO_ICMP if s.len() >= 8 => {
                L4::Icmp { ty: s[0], code: s[1], rest: [s[4], s[5], s[6], s[7]], payload: s[8..].to_vec() }
            }
            _ => L4::Other { proto, bytes: s.to_vec() },
        };
        Some(Ip4 { eth_src: mac_at(frame, 6), eth_dst: mac_at(frame, 0), src, dst, ttl: l3[8], l4 })
    }
}

impl fmt::Display for Ip4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} > {} {} > {} ttl {} ",
            fmt_mac(&self.eth_src),
            fmt_mac(&self.eth_dst),
            self.src,
            self.dst,
            self.ttl
        )?;
        match &self.l4 {
            L4::Udp { sport, dport, payload } => {
                write!(f, "udp {sport} > {dport} {:?}", String::from_utf8_lossy(payload))
            }
            L4::Tcp { sport, dport, seq, ack, flags, .. } => {
                write!(f, "tcp {sport} > {dport} flags {flags:#04x} seq {seq} ack {ack}")
            }
            L4::Icmp { ty, code, rest, .. } => write!(f, "icmp type {ty} code {code} {rest:02x?}"),
            L4::Other { proto, bytes } => write!(f, "proto {proto} ({} bytes)", bytes.len()),
        }
    }
}

/// Whether the IPv4 header checksum and the TCP/UDP/ICMP checksum of `frame` are right (true
/// for frames that are not IPv4). A UDP checksum of 0 means none and is accepted.
pub fn checksums_ok(frame: &[u8]) -> bool {
    let Some((ETH_IP4, l3)) = ethertype_and_l3(frame) else { return true };
    if l3.len() < 20 {
        return false;
    }
    let ihl = usize::from(l3[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([l3[2], l3[3]]));
    if ihl < 20 || total < ihl || total > l3.len() || checksum(&l3[..ihl], 0) != 0 {
        return false;
    }
    let (src, dst, proto, s) = (ip_at(l3, 12), ip_at(l3, 16), l3[9], &l3[ihl..total]);
    match proto {
        PROTO_UDP if s.len() >= 8 && s[6..8] == [0, 0] => true,
        PROTO_UDP | PROTO_TCP => transport_checksum(src, dst, proto, s) == 0,
        PROTO_ICMP => checksum(s, 0) == 0,
        _ => true,
    }
}

/// An ARP packet, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arp {
    pub eth_src: [u8; 6],
    pub eth_dst: [u8; 6],
    /// 1 request, 2 reply.
    pub op: u16,
    pub sha: [u8; 6],
    pub spa: Ipv4Addr,
    pub tha: [u8; 6],
    pub tpa: Ipv4Addr,
}

impl Arp {
    pub fn parse(frame: &[u8]) -> Option<Arp> {
        let (ethertype, a) = ethertype_and_l3(frame)?;
        if ethertype != ETH_ARP || a.len() < 28 || a[..6] != [0, 1, 8, 0, 6, 4] {
            return None;
        }
        Some(Arp {
            eth_src: mac_at(frame, 6),
            eth_dst: mac_at(frame, 0),
            op: u16::from_be_bytes([a[6], a[7]]),
            sha: mac_at(a, 8),
            spa: ip_at(a, 14),
            tha: mac_at(a, 18),
            tpa: ip_at(a, 24),
        })
    }
}

/// `dst`, `src`, `ethertype`, `payload` as an Ethernet frame (no FCS).
pub fn eth_frame(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// "aa:bb:cc:dd:ee:ff".
pub fn fmt_mac(m: &[u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// One line per captured frame, for failure messages.
pub fn describe(frame: &[u8]) -> String {
    if let Some(p) = Ip4::parse(frame) {
        return p.to_string();
    }
    if let Some(a) = Arp::parse(frame) {
        return format!("arp op {} {} {} > {} {}", a.op, fmt_mac(&a.sha), a.spa, fmt_mac(&a.tha), a.tpa);
    }
    format!("{} bytes {}", frame.len(), to_hex(&frame[..frame.len().min(40)]))
}

fn mac_at(b: &[u8], off: usize) -> [u8; 6] {
    let mut m = [0; 6];
    m.copy_from_slice(&b[off..off + 6]);
    m
}

fn ip_at(b: &[u8], off: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[off], b[off + 1], b[off + 2], b[off + 3])
}

fn ethertype_and_l3(frame: &[u8]) -> Option<(u16, &[u8])> {
    if frame.len() < 14 {
        return None;
    }
    let t = u16::from_be_bytes([frame[12], frame[13]]);
    if t == 0x8100 {
        if frame.len() < 18 {
            return None;
        }
        return Some((u16::from_be_bytes([frame[16], frame[17]]), &frame[18..]));
    }
    Some((t, &frame[14..]))
}

/// The VIFs of a scenario, by name, with what was captured on them so far, to tell the
/// packets one step of a test caused from earlier ones.
pub struct Net<'a> {
    hv: &'a Hv,
    vifs: Vec<String>,
    seen: HashMap<String, usize>,
}

impl<'a> Net<'a> {
    /// `vifs`: the dummy interfaces (as given to [`Hv::add_vif`], or any port with a tx pcap)
    /// whose output the scenario checks.
    pub fn new(hv: &'a Hv, vifs: &[&str]) -> Net<'a> {
        let mut n = Net { hv, vifs: vifs.iter().map(|v| v.to_string()).collect(), seen: HashMap::new() };
        n.mark();
        n
    }

    /// Forgets everything captured so far: later calls see only what comes after.
    pub fn mark(&mut self) {
        for v in &self.vifs {
            self.seen.insert(v.clone(), self.hv.tx_packets(v).len());
        }
    }

    /// Frames `vif` transmitted since the last [`Net::mark`].
    pub fn new_frames(&self, vif: &str) -> Vec<Vec<u8>> {
        let from = self.seen.get(vif).copied().unwrap_or(0);
        self.hv.tx_packets(vif).into_iter().skip(from).map(|r| r.data).collect()
    }

    /// Injects `frame` on `vif` (the VM behind it sends it).
    pub fn send(&self, vif: &str, frame: &[u8]) {
        self.hv.inject(vif, &to_hex(frame));
    }

    /// Waits until `vif` transmitted (since the mark) a frame for which `f` gives Some, and
    /// returns that.
    pub fn wait_for<T>(&self, vif: &str, what: &str, f: impl Fn(&[u8]) -> Option<T>) -> T {
        let found = wait::try_wait_for(TIMEOUT, || self.new_frames(vif).iter().find_map(|p| f(p)));
        found.unwrap_or_else(|| panic!("timed out waiting on {vif} for {what}; {}", self.report()))
    }

    /// Waits for an IPv4 packet on `vif` whose UDP/TCP/ICMP payload is `tag`.
    pub fn wait_tagged(&self, vif: &str, tag: &str) -> Ip4 {
        self.wait_for(vif, &format!("a packet tagged {tag:?}"), |f| {
            Ip4::parse(f).filter(|p| p.l4.payload() == tag.as_bytes())
        })
    }

    /// Sends `frame` on `from` and then `barrier` (a frame that must come out of `barrier_to`
    /// and is tagged `barrier_tag`) on the same VIF; returns once the barrier came out, i.e.
    /// once `frame` has been fully processed.
    pub fn send_with_barrier(&self, from: &str, frame: &[u8], barrier: &Ip4, barrier_to: &str) {
        self.send(from, frame);
        self.send(from, &barrier.to_bytes());
        let L4::Udp { payload, .. } = &barrier.l4 else { panic!("barrier must be UDP") };
        self.wait_tagged(barrier_to, &String::from_utf8_lossy(payload));
    }

    /// Every frame transmitted since the mark, per VIF, excluding frames for which `ignore`
    /// is true. For "exactly these came out" assertions.
    pub fn outputs(&self, ignore: impl Fn(&[u8]) -> bool) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for v in &self.vifs {
            for f in self.new_frames(v) {
                if !ignore(&f) {
                    out.push((v.clone(), f));
                }
            }
        }
        out
    }

    /// Where the frames tagged `tag` (UDP/TCP/ICMP payload) came out since the mark, sorted.
    pub fn tagged_on(&self, tag: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .outputs(|_| false)
            .into_iter()
            .filter(|(_, f)| Ip4::parse(f).is_some_and(|p| p.l4.payload() == tag.as_bytes()))
            .map(|(v, _)| v)
            .collect();
        v.sort();
        v
    }

    /// Everything captured since the mark, one line per frame, for failure messages.
    pub fn report(&self) -> String {
        let mut s = String::from("captured since the mark:");
        for v in &self.vifs {
            for f in self.new_frames(v) {
                s.push_str(&format!("\n  {v}: {}", describe(&f)));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_round_trip_and_checksums() {
        let p = Ip4::udp("00:00:00:00:00:01", "00:00:00:00:00:02", "10.0.0.1", "10.0.0.2", 1234, 53, "hello");
        let b = p.to_bytes();
        assert!(checksums_ok(&b));
        assert_eq!(Ip4::parse(&b), Some(p));
        let mut bad = b.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(!checksums_ok(&bad));
    }

    #[test]
    fn tcp_and_icmp_round_trip() {
        let syn =
            Ip4::tcp("00:00:00:00:00:01", "00:00:00:00:00:02", "10.0.0.1", "10.0.0.2", 40000, 80, TCP_SYN, 1000, 0);
        assert!(checksums_ok(&syn.to_bytes()));
        assert_eq!(Ip4::parse(&syn.to_bytes()), Some(syn.clone()));
        let synack = syn.tcp_answer("00:00:00:00:00:02", "00:00:00:00:00:01", TCP_SYN | TCP_ACK, 5000);
        assert_eq!(synack.l4, L4::Tcp { sport: 80, dport: 40000, seq: 5000, ack: 1001, flags: 0x12, payload: vec![] });
        let ping = Ip4::ping("00:00:00:00:00:01", "00:00:00:00:00:02", "10.0.0.1", "10.0.0.2", 7, 1).with_ttl(9);
        assert!(checksums_ok(&ping.to_bytes()));
        assert_eq!(Ip4::parse(&ping.to_bytes()), Some(ping));
    }

    #[test]
    fn known_ipv4_header_checksum() {
        // The classic example header (Wikipedia, "IPv4 header checksum").
        let h = from_hex_str("450000730000400040110000c0a80001c0a800c7");
        assert_eq!(checksum(&h, 0), 0xb861);
    }

    fn from_hex_str(s: &str) -> Vec<u8> {
        crate::packet::from_hex(s)
    }

    #[test]
    fn arp_parses() {
        let req = crate::packet::arp_request(mac("00:00:00:00:00:01"), [10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let a = Arp::parse(&req).unwrap();
        assert_eq!((a.op, a.spa, a.tpa), (1, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!(a.eth_dst, BROADCAST);
        assert!(Ip4::parse(&req).is_none());
    }
}
