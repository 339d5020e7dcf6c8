//! `put_dhcpv6_opts`: the DHCPv6 reply, as 23.03's pinctrl_handle_put_dhcpv6_opts() and
//! compose_out_dhcpv6_opts() frame it. The request is parsed with dhcproto; the reply keeps
//! the request's L2/L3 headers and UDP header (the logical flows that follow swap the
//! addresses and ports), its transaction id, then the client's Client Identifier option and
//! the options northd encoded in the userdata, in their order:
//! - server_id (a MAC): a DUID-LL Server Identifier;
//! - ia_addr: an IA_NA with the client's IAID (T1/T2 infinite) holding that IA Address
//!   (lifetimes infinite); left out for an INFORMATION-REQUEST (stateless);
//! - dns_server: DNS Recursive Name Server, as given;
//! - domain_search: the Domain Search List, as 23.03 writes it (one length byte, the
//!   string, a zero byte).
//!
//! SOLICIT gets an ADVERTISE; REQUEST, CONFIRM, DECLINE and INFORMATION-REQUEST a REPLY.

use dhcproto::v6::{DhcpOption, Message};
use dhcproto::Decodable;

use crate::flow::{Headers, Net};

const MSG_SOLICIT: u8 = 1;
const MSG_ADVERTISE: u8 = 2;
const MSG_REQUEST: u8 = 3;
const MSG_CONFIRM: u8 = 4;
const MSG_REPLY: u8 = 7;
const MSG_DECLINE: u8 = 9;
const MSG_INFO_REQ: u8 = 11;

const OPT_CLIENT_ID: u16 = 1;
const OPT_SERVER_ID: u16 = 2;
const OPT_IA_NA: u16 = 3;
const OPT_IA_ADDR: u16 = 5;
const OPT_DNS_SERVER: u16 = 23;
const OPT_DOMAIN_SEARCH: u16 = 24;

const DUID_LL: u16 = 3;
const HW_TYPE_ETH: u16 = 1;

/// What became of a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The reply to resume with (result bit 1).
    Reply(Vec<u8>),
    /// An unsupported message type: result bit 0, silently (as 23.03).
    NoReply,
}

/// Why the request was not answered (result bit 0, logged rate-limited).
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid(pub String);

fn opt(out: &mut Vec<u8>, code: u16, len: usize) {
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
}

/// `compose_out_dhcpv6_opts()`: the reply's options from the userdata's, for `iaid` (0: an
/// INFORMATION-REQUEST, no IA_NA). None for an option 23.03 refuses ("Invalid userdata").
pub fn compose_options(userdata: &[(u16, Vec<u8>)], iaid: u32) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for (code, data) in userdata {
        let size = data.len();
        match *code {
            OPT_SERVER_ID => {
                let mac = data.get(..6)?;
                if size != 6 {
                    return None;
                }
                opt(&mut out, OPT_SERVER_ID, size + 4);
                out.extend_from_slice(&DUID_LL.to_be_bytes());
                out.extend_from_slice(&HW_TYPE_ETH.to_be_bytes());
                out.extend_from_slice(mac);
            }
            OPT_IA_ADDR => {
                if size != 16 {
                    return None;
                }
                if iaid == 0 {
                    continue;
                }
                // IA_NA: IAID, T1, T2, then the IA Address option (4 + 16 + 4 + 4 bytes).
                opt(&mut out, OPT_IA_NA, 12 + 28);
                out.extend_from_slice(&iaid.to_be_bytes());
                out.extend_from_slice(&u32::MAX.to_be_bytes());
                out.extend_from_slice(&u32::MAX.to_be_bytes());
                opt(&mut out, OPT_IA_ADDR, size + 8);
                out.extend_from_slice(data);
                out.extend_from_slice(&u32::MAX.to_be_bytes());
                out.extend_from_slice(&u32::MAX.to_be_bytes());
            }
            OPT_DNS_SERVER => {
                opt(&mut out, OPT_DNS_SERVER, size);
                out.extend_from_slice(data);
            }
            OPT_DOMAIN_SEARCH => {
                opt(&mut out, OPT_DOMAIN_SEARCH, size + 2);
                out.push(u8::try_from(size).unwrap_or(u8::MAX));
                out.extend_from_slice(data);
                out.push(0);
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Answers the DHCPv6 request in `h` with the userdata's options.
pub fn handle(h: &Headers<'_>, userdata: &[(u16, Vec<u8>)]) -> Result<Outcome, Invalid> {
    if userdata.is_empty() {
        return Err(Invalid("DHCPv6 options not present in the userdata".into()));
    }
    let (Net::Ipv6 { src, dst, .. }, Some(l4_ofs), Some(payload)) = (&h.net, h.l4_ofs, h.udp_payload()) else {
        return Err(Invalid("truncated dhcpv6 packet".into()));
    };
    let Some(&in_type) = payload.first() else { return Err(Invalid("truncated dhcpv6 packet".into())) };
    let out_type = match in_type {
        MSG_SOLICIT => MSG_ADVERTISE,
        MSG_REQUEST | MSG_CONFIRM | MSG_DECLINE | MSG_INFO_REQ => MSG_REPLY,
        _ => return Ok(Outcome::NoReply),
    };
    let msg = Message::from_bytes(payload).map_err(|e| Invalid(format!("malformed DHCPv6 request: {e}")))?;
    // The last IA_NA's IAID and the last Client Identifier, as 23.03's scan finds them.
    let mut iaid = 0;
    let mut client_id = None;
    for o in msg.opts().iter() {
        match o {
            DhcpOption::IANA(ia) => iaid = ia.id,
            DhcpOption::ClientId(duid) => client_id = Some(duid),
            _ => {}
        }
    }
    let Some(client_id) = client_id else {
        return Err(Invalid("DHCPv6 option - Client id not present in the DHCPv6 packet".into()));
    };
    if iaid == 0 && in_type != MSG_INFO_REQ {
        return Err(Invalid("DHCPv6 option - IA NA not present in the DHCPv6 packet".into()));
    }
    let opts = compose_options(userdata, iaid).ok_or_else(|| Invalid("Invalid userdata".into()))?;

    let (Some(head), Some(udp), Some(xid)) = (h.data.get(..l4_ofs), h.data.get(l4_ofs..l4_ofs + 8), payload.get(1..4))
    else {
        return Err(Invalid("truncated dhcpv6 packet".into()));
    };
    let mut out = head.to_vec();
    let udp_ofs = out.len();
    out.extend_from_slice(udp);
    out.push(out_type);
    out.extend_from_slice(xid);
    opt(&mut out, OPT_CLIENT_ID, client_id.len());
    out.extend_from_slice(client_id);
    out.extend_from_slice(&opts);
    let l4_len = u16::try_from(out.len() - udp_ofs).map_err(|_| Invalid("DHCPv6 reply too long".into()))?;
    if let Some(u) = out.get_mut(udp_ofs + 4..udp_ofs + 8) {
        u[..2].copy_from_slice(&l4_len.to_be_bytes());
        u[2..].copy_from_slice(&[0, 0]);
    }
    if let Some(ip) = out.get_mut(h.l3_ofs + 4..h.l3_ofs + 6) {
        ip.copy_from_slice(&l4_len.to_be_bytes());
    }
    let c = crate::dns::udp6_checksum(*src, *dst, out.get(udp_ofs..).unwrap_or_default());
    if let Some(u) = out.get_mut(udp_ofs + 6..udp_ofs + 8) {
        u.copy_from_slice(&c.to_be_bytes());
    }
    Ok(Outcome::Reply(out))
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use dhcproto::v6::{self, MessageType, IANA};
    use dhcproto::Encodable;
    use std::net::Ipv6Addr;

    pub fn request(ty: MessageType, with_iana: bool) -> Vec<u8> {
        let mut m = v6::Message::new_with_id(ty, [0xab, 0xcd, 0xef]);
        m.opts_mut().insert(DhcpOption::ClientId(vec![0, 3, 0, 1, 0x50, 0x54, 0, 0, 0, 1]));
        if with_iana {
            m.opts_mut().insert(DhcpOption::IANA(IANA { id: 0x0102_0304, t1: 0, t2: 0, opts: Default::default() }));
        }
        let payload = m.to_vec().unwrap();
        let src = Ipv6Addr::new(0xfe80, 0, 0, 0, 0x5254, 0xff, 0xfe00, 1);
        let dst: Ipv6Addr = "ff02::1:2".parse().unwrap();
        let mut out = Vec::new();
        etherparse::PacketBuilder::ethernet2([0x50, 0x54, 0, 0, 0, 1], [0x33, 0x33, 0, 1, 0, 2])
            .ipv6(src.octets(), dst.octets(), 255)
            .udp(546, 547)
            .write(&mut out, &payload)
            .unwrap();
        out
    }

    pub fn ovn_opts() -> Vec<(u16, Vec<u8>)> {
        vec![
            (OPT_SERVER_ID, vec![0xc0, 0xff, 0xee, 0, 0, 1]),
            (OPT_IA_ADDR, "aef0::5".parse::<Ipv6Addr>().unwrap().octets().to_vec()),
            (OPT_DNS_SERVER, "aef0::1".parse::<Ipv6Addr>().unwrap().octets().to_vec()),
            (OPT_DOMAIN_SEARCH, b"ovn.org".to_vec()),
        ]
    }

    fn reply(pkt: &[u8]) -> Vec<u8> {
        match handle(&Headers::parse(pkt).unwrap(), &ovn_opts()).unwrap() {
            Outcome::Reply(p) => p,
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn solicit_gets_an_advertise_with_the_address() {
        let out = reply(&request(MessageType::Solicit, true));
        let h = Headers::parse(&out).unwrap();
        let Net::Ipv6 { src, dst, payload_len, .. } = h.net else { panic!() };
        assert_eq!(usize::from(payload_len), h.l4().len());
        assert_eq!(crate::dns::udp6_checksum(src, dst, h.l4()), 0xffff);
        let d = h.udp_payload().unwrap();
        assert_eq!(&d[..4], &[MSG_ADVERTISE, 0xab, 0xcd, 0xef]);
        // Client id first, as the client sent it, then the userdata's options in order.
        assert_eq!(&d[4..18], &[0, 1, 0, 10, 0, 3, 0, 1, 0x50, 0x54, 0, 0, 0, 1]);
        assert_eq!(&d[18..32], &[0, 2, 0, 10, 0, 3, 0, 1, 0xc0, 0xff, 0xee, 0, 0, 1]);
        let m = Message::from_bytes(d).unwrap();
        assert_eq!(m.msg_type(), MessageType::Advertise);
        let Some(DhcpOption::IANA(ia)) = m.opts().get(v6::OptionCode::IANA) else { panic!() };
        assert_eq!((ia.id, ia.t1, ia.t2), (0x0102_0304, u32::MAX, u32::MAX));
        let Some(DhcpOption::IAAddr(a)) = ia.opts.get(v6::OptionCode::IAAddr) else { panic!() };
        assert_eq!(a.addr, "aef0::5".parse::<Ipv6Addr>().unwrap());
        assert_eq!(
            m.opts().get(v6::OptionCode::DomainNameServers),
            Some(&DhcpOption::DomainNameServers(vec!["aef0::1".parse().unwrap()]))
        );
        // Domain search as 23.03 writes it.
        assert_eq!(&d[d.len() - 13..], b"\x00\x18\x00\x09\x07ovn.org\x00");
    }

    #[test]
    fn request_gets_a_reply_and_information_request_no_address() {
        let out = reply(&request(MessageType::Request, true));
        let h = Headers::parse(&out).unwrap();
        assert_eq!(h.udp_payload().unwrap()[0], MSG_REPLY);
        let out = reply(&request(MessageType::InformationRequest, false));
        let h = Headers::parse(&out).unwrap();
        let m = Message::from_bytes(h.udp_payload().unwrap()).unwrap();
        assert_eq!(m.msg_type(), MessageType::Reply);
        assert!(m.opts().get(v6::OptionCode::IANA).is_none());
        assert!(m.opts().get(v6::OptionCode::DomainNameServers).is_some());
    }

    #[test]
    fn refusals() {
        let solicit = request(MessageType::Solicit, false);
        let h = Headers::parse(&solicit).unwrap();
        assert!(handle(&h, &ovn_opts()).is_err(), "no IA_NA");
        let renew = request(MessageType::Renew, true);
        assert_eq!(handle(&Headers::parse(&renew).unwrap(), &ovn_opts()), Ok(Outcome::NoReply));
        let s = request(MessageType::Solicit, true);
        let h = Headers::parse(&s).unwrap();
        assert!(handle(&h, &[(99, vec![1])]).is_err(), "unknown userdata option");
        assert!(handle(&h, &[]).is_err());
        for n in 0..s.len() {
            if let Ok(h) = Headers::parse(&s[..n]) {
                let _ = handle(&h, &ovn_opts());
            }
        }
    }
}
