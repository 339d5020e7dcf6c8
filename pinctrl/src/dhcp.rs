//! `put_dhcp_opts`: the DHCPv4 reply, as 23.03's pinctrl_handle_put_dhcp_opts() frames it.
//! The request is parsed with dhcproto; the reply keeps the request's L2/L3/UDP and DHCP
//! fixed headers (the logical flows that follow swap the addresses), sets op, yiaddr,
//! siaddr, then the message type option, the options northd encoded in the userdata
//! verbatim, 4 bytes of padding and END, as 23.03 lays them out byte for byte.

use std::net::Ipv4Addr;

use dhcproto::v4::{DhcpOption, Message, MessageType, OptionCode};
use dhcproto::Decodable;

use crate::compose::csum;
use crate::flow::{mac_to_string, Headers, Net};

pub const DHCP_HEADER_LEN: usize = 236;
const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
const OPT_MSG_TYPE: u8 = 53;
const OPT_END: u8 = 255;
const OPT_NETMASK: u8 = 1;
const OPT_LEASE_TIME: u8 = 51;
const OPT_T1: u8 = 58;
const OPT_T2: u8 = 59;
const OPT_BOOTFILE: u8 = 67;
const OPT_BOOTFILE_ALT: u8 = 254;
const OPT_NEXT_SERVER: u8 = 253;
const OPT_ETHERBOOT: u8 = 175;

const MSG_OFFER: u8 = 2;
const MSG_ACK: u8 = 5;
const MSG_NAK: u8 = 6;

/// What became of a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A reply (OFFER, ACK or NAK): the packet to resume with and a log line.
    Reply { packet: Vec<u8>, log: String },
    /// Nothing to answer (RELEASE, DECLINE): resume with the result bit 0, an info line.
    NoReply(String),
}

/// Why the request was not answered (resumed with the result bit 0, logged rate-limited).
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid(pub String);

fn invalid<T>(s: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid(s.into()))
}

/// The option TLVs, in order; a truncated last one ends the list (as 23.03's loops do).
fn tlvs(mut b: &[u8]) -> Vec<(u8, &[u8])> {
    let mut v = Vec::new();
    while let [code, len, rest @ ..] = b {
        let n = usize::from(*len);
        let Some(val) = rest.get(..n) else { break };
        v.push((*code, val));
        b = rest.get(n..).unwrap_or_default();
    }
    v
}

/// The options to send: 23.03's INFORM filtering, then its bootfile/next-server handling.
/// DHCP options as (code, value), in order.
pub type Options = Vec<(u8, Vec<u8>)>;

fn reply_options(userdata_opts: &[(u8, Vec<u8>)], inform: bool, ipxe: bool) -> (Options, Option<[u8; 4]>) {
    let mut opts: Vec<(u8, Vec<u8>)> = userdata_opts
        .iter()
        .filter(|(c, _)| !(inform && matches!(*c, OPT_NETMASK | OPT_LEASE_TIME | OPT_T1 | OPT_T2)))
        .cloned()
        .collect();
    let mut next_server = None;
    let mut bootfile_set = false;
    let mut i = 0;
    while i < opts.len() {
        let code = opts.get(i).map_or(0, |o| o.0);
        match code {
            OPT_NEXT_SERVER => {
                next_server = opts.get(i).and_then(|o| o.1.get(..4)).and_then(|b| b.try_into().ok());
            }
            OPT_BOOTFILE => {
                if opts.get(i + 1).is_some_and(|o| o.0 == OPT_BOOTFILE_ALT) {
                    if ipxe {
                        // iPXE: keep bootfile_name, drop the alternative.
                        opts.remove(i + 1);
                    } else {
                        // Others: the alternative, as bootfile_name.
                        opts.remove(i);
                        if let Some(o) = opts.get_mut(i) {
                            o.0 = OPT_BOOTFILE;
                        }
                    }
                }
                bootfile_set = true;
            }
            OPT_BOOTFILE_ALT if !bootfile_set => {
                if let Some(o) = opts.get_mut(i) {
                    o.0 = OPT_BOOTFILE;
                }
            }
            _ => {}
        }
        i += 1;
    }
    (opts, next_server)
}

/// Answers the DHCP request in `h` with `offer_ip` and the userdata's options.
pub fn handle(h: &Headers<'_>, offer_ip: [u8; 4], userdata_opts: &[(u8, Vec<u8>)]) -> Result<Outcome, Invalid> {
    if userdata_opts.is_empty() {
        return invalid("DHCP options not present in the userdata");
    }
    if !matches!(h.net, Net::Ipv4 { .. }) {
        return invalid("put_dhcp_opts on a non-IPv4 packet");
    }
    let Some(l4_ofs) = h.l4_ofs else { return invalid("Invalid or incomplete DHCP packet received") };
    let Some(dhcp) = h.udp_payload() else { return invalid("Invalid or incomplete DHCP packet received") };
    if dhcp.len() < DHCP_HEADER_LEN {
        return invalid("Invalid or incomplete DHCP packet received, bad data length");
    }
    if dhcp.first() != Some(&1) {
        return invalid(format!("Invalid opcode in the DHCP packet: {}", dhcp.first().copied().unwrap_or(0)));
    }
    if dhcp.get(DHCP_HEADER_LEN..DHCP_HEADER_LEN + 4) != Some(&MAGIC_COOKIE[..]) {
        return invalid("DHCP magic cookie not present in the DHCP packet");
    }
    let msg = Message::from_bytes(dhcp).map_err(|e| Invalid(format!("malformed DHCP request: {e}")))?;
    let ipxe = msg.opts().get(OptionCode::from(OPT_ETHERBOOT)).is_some();
    let request_ip = match msg.opts().get(OptionCode::RequestedIpAddress) {
        Some(DhcpOption::RequestedIpAddress(ip)) => *ip,
        _ => msg.ciaddr(),
    };
    let offer = Ipv4Addr::from(offer_ip);
    let mac = mac_to_string(&h.dl_src);
    let Some(DhcpOption::MessageType(in_type)) = msg.opts().get(OptionCode::MessageType) else {
        return invalid("Missing DHCP message type");
    };
    let (msg_type, inform) = match in_type {
        MessageType::Discover => (MSG_OFFER, false),
        MessageType::Request if request_ip == offer => (MSG_ACK, false),
        MessageType::Request => {
            tracing::warn!("DHCPREQUEST requested IP {request_ip} does not match offer {offer}");
            (MSG_NAK, false)
        }
        MessageType::Release => return Ok(Outcome::NoReply(format!("DHCPRELEASE {mac} {}", msg.ciaddr()))),
        MessageType::Inform => (MSG_ACK, true),
        MessageType::Decline => {
            let line =
                if request_ip == offer { format!("DHCPDECLINE from {mac}, {offer} duplicated") } else { String::new() };
            return Ok(Outcome::NoReply(line));
        }
        other => return invalid(format!("Invalid DHCP message type: {}", u8::from(*other))),
    };
    let (opts, next_server) = reply_options(userdata_opts, inform, ipxe);
    let mut opt_bytes = Vec::new();
    for (c, v) in &opts {
        opt_bytes.push(*c);
        opt_bytes.push(u8::try_from(v.len()).unwrap_or(u8::MAX));
        opt_bytes.extend_from_slice(v.get(..255).unwrap_or(v));
    }
    // Copy L2, L3, the UDP header and the DHCP fixed header.
    let (Some(head), Some(udp), Some(fixed)) =
        (h.data.get(..l4_ofs), h.data.get(l4_ofs..l4_ofs + 8), dhcp.get(..DHCP_HEADER_LEN))
    else {
        return invalid("Invalid or incomplete DHCP packet received");
    };
    let mut out = head.to_vec();
    let udp_ofs = out.len();
    out.extend_from_slice(udp);
    let dhcp_ofs = out.len();
    out.extend_from_slice(fixed);
    let nak = msg_type == MSG_NAK;
    let siaddr_in: [u8; 4] = fixed.get(20..24).and_then(|b| b.try_into().ok()).unwrap_or([0; 4]);
    let yiaddr = if inform || nak { [0; 4] } else { offer_ip };
    let siaddr = if inform {
        siaddr_in
    } else if nak {
        [0; 4]
    } else {
        next_server.unwrap_or(siaddr_in)
    };
    if let Some(d) = out.get_mut(dhcp_ofs..dhcp_ofs + 24) {
        d[0] = 2;
        d[16..20].copy_from_slice(&yiaddr);
        d[20..24].copy_from_slice(&siaddr);
    }
    let broadcast = fixed.get(10).is_some_and(|f| f & 0x80 != 0);
    out.extend_from_slice(&MAGIC_COOKIE);
    out.extend_from_slice(&[OPT_MSG_TYPE, 1, msg_type]);
    if !nak {
        out.extend_from_slice(&opt_bytes);
    }
    out.extend_from_slice(&[0, 0, 0, 0, OPT_END, 0, 0, 0, 0]);
    let new_l4 = out.len() - udp_ofs;
    let l4_len = u16::try_from(new_l4).map_err(|_| Invalid("DHCP reply too long".into()))?;
    if let Some(u) = out.get_mut(udp_ofs + 4..udp_ofs + 8) {
        u[..2].copy_from_slice(&l4_len.to_be_bytes());
        u[2..].copy_from_slice(&[0, 0]);
    }
    let l3 = h.l3_ofs;
    let tot = u16::try_from(l4_ofs - l3 + new_l4).unwrap_or(u16::MAX);
    let ip_dst = if broadcast { [255; 4] } else { offer_ip };
    if let Some(ip) = out.get_mut(l3..l3 + 20) {
        ip[2..4].copy_from_slice(&tot.to_be_bytes());
        ip[16..20].copy_from_slice(&ip_dst);
        ip[10..12].copy_from_slice(&[0, 0]);
        let c = csum(ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
    }
    let name = match msg_type {
        MSG_OFFER => "OFFER",
        MSG_ACK => "ACK",
        _ => "NAK",
    };
    let log = format!("DHCP{name} {} {offer}", mac_to_string(&h.dl_src));
    Ok(Outcome::Reply { packet: out, log })
}

#[doc(hidden)]
pub fn option_tlvs(b: &[u8]) -> Vec<(u8, Vec<u8>)> {
    tlvs(b).into_iter().map(|(c, v)| (c, v.to_vec())).collect()
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use dhcproto::{v4, Encodable};

    pub fn request(ty: MessageType, requested: Option<Ipv4Addr>, flags_broadcast: bool) -> Vec<u8> {
        let mut m = v4::Message::default();
        m.set_opcode(v4::Opcode::BootRequest);
        m.set_chaddr(&[0x50, 0x54, 0, 0, 0, 1]);
        m.set_xid(0x1234_5678);
        if flags_broadcast {
            m.set_flags(v4::Flags::default().set_broadcast());
        }
        m.opts_mut().insert(DhcpOption::MessageType(ty));
        if let Some(ip) = requested {
            m.opts_mut().insert(DhcpOption::RequestedIpAddress(ip));
        }
        let payload = m.to_vec().unwrap();
        let udp = etherparse::PacketBuilder::ethernet2([0x50, 0x54, 0, 0, 0, 1], [0xff; 6])
            .ipv4([0, 0, 0, 0], [255, 255, 255, 255], 64)
            .udp(68, 67);
        let mut out = Vec::new();
        udp.write(&mut out, &payload).unwrap();
        out
    }

    pub fn ovn_opts() -> Vec<(u8, Vec<u8>)> {
        vec![
            (1, vec![255, 255, 255, 0]),
            (3, vec![10, 0, 0, 1]),
            (54, vec![10, 0, 0, 1]),
            (51, 3600u32.to_be_bytes().to_vec()),
            (6, vec![8, 8, 8, 8]),
            (15, b"ovn.org".to_vec()),
            (121, vec![24, 10, 0, 1, 10, 0, 0, 1, 0, 10, 0, 0, 1]),
            (26, 1400u16.to_be_bytes().to_vec()),
        ]
    }

    fn reply(pkt: &[u8], offer: [u8; 4]) -> Vec<u8> {
        let h = Headers::parse(pkt).unwrap();
        match handle(&h, offer, &ovn_opts()).unwrap() {
            Outcome::Reply { packet, .. } => packet,
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn discover_gets_an_offer_with_every_option() {
        let out = reply(&request(MessageType::Discover, None, false), [10, 0, 0, 5]);
        let h = Headers::parse(&out).unwrap();
        assert!(matches!(h.net, Net::Ipv4 { dst, .. } if dst == Ipv4Addr::new(10, 0, 0, 5)));
        assert_eq!(csum(&out[14..34]), 0);
        let m = Message::from_bytes(h.udp_payload().unwrap()).unwrap();
        assert_eq!(m.opcode(), v4::Opcode::BootReply);
        assert_eq!(m.yiaddr(), Ipv4Addr::new(10, 0, 0, 5));
        assert_eq!(m.xid(), 0x1234_5678);
        assert_eq!(m.opts().msg_type(), Some(MessageType::Offer));
        assert_eq!(m.opts().get(OptionCode::Router), Some(&DhcpOption::Router(vec![[10, 0, 0, 1].into()])));
        assert_eq!(m.opts().get(OptionCode::AddressLeaseTime), Some(&DhcpOption::AddressLeaseTime(3600)));
        assert_eq!(m.opts().get(OptionCode::InterfaceMtu), Some(&DhcpOption::InterfaceMtu(1400)));
        // The tail as 23.03 writes it: msg type first, options in userdata order, 4 pad, END, 4 pad.
        let dhcp = h.udp_payload().unwrap();
        assert_eq!(&dhcp[240..243], &[53, 1, 2]);
        assert_eq!(&dhcp[243..249], &[1, 4, 255, 255, 255, 0]);
        assert_eq!(&dhcp[dhcp.len() - 9..], &[0, 0, 0, 0, 255, 0, 0, 0, 0]);
    }

    #[test]
    fn request_for_the_offer_is_acked_and_others_nakked() {
        let ack = reply(&request(MessageType::Request, Some([10, 0, 0, 5].into()), false), [10, 0, 0, 5]);
        let h = Headers::parse(&ack).unwrap();
        let m = Message::from_bytes(h.udp_payload().unwrap()).unwrap();
        assert_eq!(m.opts().msg_type(), Some(MessageType::Ack));
        let nak = reply(&request(MessageType::Request, Some([10, 0, 0, 6].into()), true), [10, 0, 0, 5]);
        let h = Headers::parse(&nak).unwrap();
        assert!(matches!(h.net, Net::Ipv4 { dst, .. } if dst == Ipv4Addr::BROADCAST));
        let m = Message::from_bytes(h.udp_payload().unwrap()).unwrap();
        assert_eq!(m.opts().msg_type(), Some(MessageType::Nak));
        assert_eq!(m.yiaddr(), Ipv4Addr::UNSPECIFIED);
        assert!(m.opts().get(OptionCode::Router).is_none());
    }

    #[test]
    fn inform_drops_address_options_and_release_is_not_answered() {
        let pkt = request(MessageType::Inform, None, false);
        let h = Headers::parse(&pkt).unwrap();
        let Outcome::Reply { packet, .. } = handle(&h, [10, 0, 0, 5], &ovn_opts()).unwrap() else { panic!() };
        let h2 = Headers::parse(&packet).unwrap();
        let m = Message::from_bytes(h2.udp_payload().unwrap()).unwrap();
        assert!(m.opts().get(OptionCode::SubnetMask).is_none());
        assert!(m.opts().get(OptionCode::AddressLeaseTime).is_none());
        assert_eq!(m.yiaddr(), Ipv4Addr::UNSPECIFIED);
        let rel = request(MessageType::Release, None, false);
        let h = Headers::parse(&rel).unwrap();
        assert!(matches!(handle(&h, [10, 0, 0, 5], &ovn_opts()), Ok(Outcome::NoReply(_))));
    }

    #[test]
    fn bootfile_alternative_for_non_ipxe_and_next_server() {
        let opts = vec![(67, b"a.efi".to_vec()), (254, b"b.ipxe".to_vec()), (253, vec![10, 0, 0, 9])];
        let (o, ns) = reply_options(&opts, false, false);
        assert_eq!(o, vec![(67, b"b.ipxe".to_vec()), (253, vec![10, 0, 0, 9])]);
        assert_eq!(ns, Some([10, 0, 0, 9]));
        let (o, _) = reply_options(&opts, false, true);
        assert_eq!(o[0], (67, b"a.efi".to_vec()));
        assert_eq!(o.len(), 2);
    }

    #[test]
    fn garbage_is_invalid_not_a_panic() {
        let mut pkt = request(MessageType::Discover, None, false);
        let h = Headers::parse(&pkt).unwrap();
        assert!(handle(&h, [1, 2, 3, 4], &[]).is_err());
        pkt.truncate(14 + 20 + 8 + 100);
        if let Ok(h) = Headers::parse(&pkt) {
            assert!(handle(&h, [1, 2, 3, 4], &ovn_opts()).is_err());
        }
    }
}
