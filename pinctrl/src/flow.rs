//! What a packet-in's packet is: the header fields pinctrl's handlers use, as OVS's
//! `flow_extract()` gives them to 23.03's pinctrl, parsed with etherparse from untrusted
//! bytes. Parsing never panics; a packet etherparse rejects is an error the caller counts.

use std::net::{Ipv4Addr, Ipv6Addr};

use etherparse::{LinkExtSlice, NetSlice, SlicedPacket, TransportSlice};

pub const ETH_TYPE_IP: u16 = 0x0800;
pub const ETH_TYPE_ARP: u16 = 0x0806;
pub const ETH_TYPE_IPV6: u16 = 0x86dd;
pub const ETH_TYPE_VLAN: u16 = 0x8100;

pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_ICMPV6: u8 = 58;
pub const IPPROTO_SCTP: u8 = 132;

/// The network layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Net {
    None,
    Ipv4 { src: Ipv4Addr, dst: Ipv4Addr, proto: u8, ttl: u8, tos: u8, fragment: bool, total_len: u16 },
    Ipv6 { src: Ipv6Addr, dst: Ipv6Addr, proto: u8, hlim: u8, tclass: u8, flow_label: u32, payload_len: u16 },
    Arp { op: u16, sha: [u8; 6], spa: Ipv4Addr, tha: [u8; 6], tpa: Ipv4Addr },
}

/// The transport layer (ports or ICMP type/code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4 {
    None,
    Tcp { src: u16, dst: u16, seq: u32, flags: u16 },
    Udp { src: u16, dst: u16 },
    Sctp { src: u16, dst: u16 },
    Icmp { ty: u8, code: u8 },
    Icmpv6 { ty: u8, code: u8 },
}

/// A parsed packet.
#[derive(Debug, Clone)]
pub struct Headers<'a> {
    pub data: &'a [u8],
    pub dl_dst: [u8; 6],
    pub dl_src: [u8; 6],
    /// The outer VLAN's TCI (with the CFI/DEI bit set, as OVS keeps it), if tagged.
    pub vlan_tci: Option<u16>,
    pub dl_type: u16,
    /// Offset of the network header.
    pub l3_ofs: usize,
    /// Offset of the transport header, if there is one.
    pub l4_ofs: Option<usize>,
    pub net: Net,
    pub l4: L4,
}

/// Why a packet did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed packet: {}", self.0)
    }
}

fn offset(base: &[u8], part: &[u8]) -> Option<usize> {
    let b = base.as_ptr() as usize;
    let p = part.as_ptr() as usize;
    (p >= b && p + part.len() <= b + base.len()).then(|| p - b)
}

impl<'a> Headers<'a> {
    pub fn parse(data: &'a [u8]) -> Result<Headers<'a>, ParseError> {
        let sp = SlicedPacket::from_ethernet(data).map_err(|e| ParseError(e.to_string()))?;
        let eth = match &sp.link {
            Some(etherparse::LinkSlice::Ethernet2(e)) => e,
            _ => return Err(ParseError("not Ethernet II".into())),
        };
        let vlan_tci = sp.link_exts.iter().find_map(|x| match x {
            LinkExtSlice::Vlan(v) => {
                let h = v.to_header();
                Some((u16::from(h.pcp.value()) << 13) | 0x1000 | h.vlan_id.value())
            }
            _ => None,
        });
        let payload = sp.ether_payload().ok_or_else(|| ParseError("no ethernet payload".into()))?;
        let dl_type = payload.ether_type.0;
        let l3_ofs = offset(data, payload.payload).ok_or_else(|| ParseError("layout".into()))?;
        let mut l4_ofs = None;
        let net = match &sp.net {
            None => Net::None,
            Some(NetSlice::Ipv4(v4)) => {
                let h = v4.header();
                l4_ofs = offset(data, v4.payload().payload);
                Net::Ipv4 {
                    src: h.source_addr(),
                    dst: h.destination_addr(),
                    proto: h.protocol().0,
                    ttl: h.ttl(),
                    tos: (h.dcp().value() << 2) | h.ecn().value(),
                    fragment: h.is_fragmenting_payload(),
                    total_len: h.total_len(),
                }
            }
            Some(NetSlice::Ipv6(v6)) => {
                let h = v6.header();
                l4_ofs = offset(data, v6.payload().payload);
                Net::Ipv6 {
                    src: h.source_addr(),
                    dst: h.destination_addr(),
                    proto: v6.payload().ip_number.0,
                    hlim: h.hop_limit(),
                    tclass: h.traffic_class(),
                    flow_label: h.flow_label().value(),
                    payload_len: h.payload_length(),
                }
            }
            Some(NetSlice::Arp(a)) => {
                let ip4 = |b: &[u8]| <[u8; 4]>::try_from(b).map(Ipv4Addr::from).ok();
                let mac = |b: &[u8]| <[u8; 6]>::try_from(b).ok();
                match (
                    mac(a.sender_hw_addr()),
                    ip4(a.sender_protocol_addr()),
                    mac(a.target_hw_addr()),
                    ip4(a.target_protocol_addr()),
                ) {
                    (Some(sha), Some(spa), Some(tha), Some(tpa)) => {
                        Net::Arp { op: a.operation().0, sha, spa, tha, tpa }
                    }
                    _ => return Err(ParseError("ARP for other than Ethernet/IPv4".into())),
                }
            }
        };
        let l4 = match &sp.transport {
            None => match &net {
                Net::Ipv4 { proto: IPPROTO_SCTP, .. } | Net::Ipv6 { proto: IPPROTO_SCTP, .. } => {
                    let b = l4_ofs.and_then(|o| data.get(o..o + 4));
                    match b {
                        Some([a, b, c, d]) => {
                            L4::Sctp { src: u16::from_be_bytes([*a, *b]), dst: u16::from_be_bytes([*c, *d]) }
                        }
                        _ => L4::None,
                    }
                }
                _ => L4::None,
            },
            Some(TransportSlice::Tcp(t)) => L4::Tcp {
                src: t.source_port(),
                dst: t.destination_port(),
                seq: t.sequence_number(),
                flags: u16::from_be_bytes([
                    t.slice().get(12).copied().unwrap_or(0) & 0x0f,
                    t.slice().get(13).copied().unwrap_or(0),
                ]),
            },
            Some(TransportSlice::Udp(u)) => L4::Udp { src: u.source_port(), dst: u.destination_port() },
            Some(TransportSlice::Icmpv4(i)) => L4::Icmp { ty: i.type_u8(), code: i.code_u8() },
            Some(TransportSlice::Icmpv6(i)) => L4::Icmpv6 { ty: i.type_u8(), code: i.code_u8() },
            Some(_) => L4::None,
        };
        Ok(Headers {
            data,
            dl_dst: eth.destination(),
            dl_src: eth.source(),
            vlan_tci,
            dl_type,
            l3_ofs,
            l4_ofs,
            net,
            l4,
        })
    }

    pub fn nw_proto(&self) -> Option<u8> {
        match self.net {
            Net::Ipv4 { proto, .. } | Net::Ipv6 { proto, .. } => Some(proto),
            _ => None,
        }
    }

    /// The L3 header and everything after it.
    pub fn l3(&self) -> &'a [u8] {
        self.data.get(self.l3_ofs..).unwrap_or_default()
    }

    /// The L4 header and everything after it (up to the end of the frame).
    pub fn l4(&self) -> &'a [u8] {
        self.l4_ofs.and_then(|o| self.data.get(o..)).unwrap_or_default()
    }

    /// The UDP payload, bounded by the UDP length.
    pub fn udp_payload(&self) -> Option<&'a [u8]> {
        if !matches!(self.l4, L4::Udp { .. }) {
            return None;
        }
        let l4 = self.l4();
        let len = usize::from(u16::from_be_bytes([*l4.get(4)?, *l4.get(5)?]));
        l4.get(8..len.max(8).min(l4.len()))
    }
}

pub fn mac_to_string(m: &[u8; 6]) -> String {
    format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
}

pub fn is_multicast(m: &[u8; 6]) -> bool {
    m[0] & 1 == 1
}
