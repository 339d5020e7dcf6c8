//! `dns_lookup`: answers A, AAAA, ANY and PTR queries from the Southbound DNS records of
//! the packet's datapath, as 23.03's pinctrl_handle_dns_lookup() does. The query is parsed
//! with simple-dns, the answer records are built with it; the reply keeps the request's
//! L2/L3/UDP headers (the logical flows that follow swap the addresses), its DNS header
//! with QR set, ANCOUNT the answers and ARCOUNT 0, the question section as it came, then
//! the answers (uncompressed names, class IN, TTL 3600), as 23.03 lays them out.

use std::net::IpAddr;

use simple_dns::rdata::{RData, A, AAAA, PTR};
use simple_dns::{Name, Packet, PacketFlag, ResourceRecord, CLASS};

use shared::pinctrl_link::{Record, State};

use crate::compose::csum;
use crate::flow::{Headers, Net};

const TYPE_A: u16 = 1;
const TYPE_PTR: u16 = 12;
const TYPE_AAAA: u16 = 28;
const TYPE_ANY: u16 = 255;
/// `DNS_DEFAULT_RR_TTL`.
const TTL: u32 = 3600;
const UDP_HEADER_LEN: usize = 8;
const DNS_HEADER_LEN: usize = 12;

/// What became of a query.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The reply to resume with (result bit 1).
    Answer(Vec<u8>),
    /// Nothing to answer (not a query, unsupported type, no record): result bit 0, silently.
    NoAnswer,
}

/// A query 23.03 also refuses with a warning (truncated): result bit 0, logged rate-limited.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid(pub &'static str);

/// The record for `name` (lowercased) among the DNS rows serving datapath `dp_key`.
pub fn find_record<'s>(state: &'s State, dp_key: u64, name: &str) -> Option<&'s str> {
    let name = name.to_ascii_lowercase();
    state.records().find_map(|r| match r {
        Record::Dns { datapaths, records, .. } if datapaths.iter().any(|d| u64::from(*d) == dp_key) => {
            records.get(&name).map(String::as_str)
        }
        _ => None,
    })
}

/// `extract_ip_addresses()`: every whitespace-separated token an IPv4 or IPv6 address (an
/// optional `/plen` ignored), IPv4 first as 23.03 answers them; None if any token is not.
fn addresses(s: &str) -> Option<(Vec<std::net::Ipv4Addr>, Vec<std::net::Ipv6Addr>)> {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for tok in s.split_whitespace() {
        let addr = tok.split('/').next().unwrap_or(tok);
        match addr.parse::<IpAddr>().ok()? {
            IpAddr::V4(a) => v4.push(a),
            IpAddr::V6(a) => v6.push(a),
        }
    }
    Some((v4, v6))
}

/// The answer records for a query of `qtype` for `qname` whose record is `data`, encoded.
fn answers(qname: &Name<'_>, qtype: u16, data: &str) -> Option<(u16, Vec<u8>)> {
    let mut rrs = Vec::new();
    if qtype == TYPE_PTR {
        let target = Name::new(data.trim_end_matches('.')).ok()?;
        rrs.push(ResourceRecord::new(qname.clone(), CLASS::IN, TTL, RData::PTR(PTR(target))));
    } else {
        let (v4, v6) = addresses(data)?;
        if qtype == TYPE_A || qtype == TYPE_ANY {
            for a in v4 {
                rrs.push(ResourceRecord::new(qname.clone(), CLASS::IN, TTL, RData::A(A::from(a))));
            }
        }
        if qtype == TYPE_AAAA || qtype == TYPE_ANY {
            for a in v6 {
                rrs.push(ResourceRecord::new(qname.clone(), CLASS::IN, TTL, RData::AAAA(AAAA::from(a))));
            }
        }
    }
    if rrs.is_empty() {
        return None;
    }
    let n = u16::try_from(rrs.len()).ok()?;
    // A packet of only these answers, uncompressed: its bytes after the 12-byte header are
    // the answer section.
    let mut p = Packet::new_reply(0);
    p.answers = rrs;
    let bytes = p.build_bytes_vec().ok()?;
    Some((n, bytes.get(DNS_HEADER_LEN..)?.to_vec()))
}

/// Answers the DNS query in `h`, a packet of datapath `dp_key`.
pub fn handle(h: &Headers<'_>, dp_key: u64, state: &State) -> Result<Outcome, Invalid> {
    let (Some(l4_ofs), Some(payload)) = (h.l4_ofs, h.udp_payload()) else {
        return Err(Invalid("truncated dns packet"));
    };
    if payload.len() < DNS_HEADER_LEN {
        return Err(Invalid("truncated dns packet"));
    }
    // 23.03's checks, on the raw header: a response, no question, or additional records
    // (EDNS included) are not answered.
    let (Some(flags_hi), Some(qdcount), Some(arcount)) = (payload.get(2), payload.get(4..6), payload.get(10..12))
    else {
        return Err(Invalid("truncated dns packet"));
    };
    if flags_hi & 0x80 != 0 || qdcount == [0, 0] || arcount != [0, 0] {
        return Ok(Outcome::NoAnswer);
    }
    let Ok(query) = Packet::parse(payload) else { return Ok(Outcome::NoAnswer) };
    if query.has_flags(PacketFlag::RESPONSE) {
        return Ok(Outcome::NoAnswer);
    }
    let Some(q) = query.questions.first() else { return Ok(Outcome::NoAnswer) };
    let qtype = u16::from(q.qtype);
    if ![TYPE_A, TYPE_AAAA, TYPE_ANY, TYPE_PTR].contains(&qtype) {
        return Ok(Outcome::NoAnswer);
    }
    let Some(data) = find_record(state, dp_key, &q.qname.to_string()) else { return Ok(Outcome::NoAnswer) };
    let Some((ancount, answer_bytes)) = answers(&q.qname, qtype, data) else { return Ok(Outcome::NoAnswer) };

    // L2, L3, UDP header, DNS header, the rest of the query as it came, the answers.
    let (Some(head), Some(udp), Some(dns_hdr), Some(rest)) = (
        h.data.get(..l4_ofs),
        h.data.get(l4_ofs..l4_ofs + UDP_HEADER_LEN),
        payload.get(..DNS_HEADER_LEN),
        payload.get(DNS_HEADER_LEN..),
    ) else {
        return Err(Invalid("truncated dns packet"));
    };
    let mut out = head.to_vec();
    let udp_ofs = out.len();
    out.extend_from_slice(udp);
    let dns_ofs = out.len();
    out.extend_from_slice(dns_hdr);
    out.extend_from_slice(rest);
    out.extend_from_slice(&answer_bytes);
    let new_l4 = out.len() - udp_ofs;
    let Ok(l4_len) = u16::try_from(new_l4) else { return Err(Invalid("DNS reply too long")) };
    if let Some(d) = out.get_mut(dns_ofs..dns_ofs + DNS_HEADER_LEN) {
        d[2] |= 0x80;
        d[6..8].copy_from_slice(&ancount.to_be_bytes());
        d[10..12].copy_from_slice(&[0, 0]);
    }
    if let Some(u) = out.get_mut(udp_ofs + 4..udp_ofs + 8) {
        u[..2].copy_from_slice(&l4_len.to_be_bytes());
        u[2..].copy_from_slice(&[0, 0]);
    }
    let l3 = h.l3_ofs;
    match h.net {
        Net::Ipv4 { .. } => {
            let ihl = out.get(l3).map_or(20, |b| usize::from(b & 0x0f) * 4);
            let tot = u16::try_from(l4_ofs - l3 + new_l4).unwrap_or(u16::MAX);
            if let Some(ip) = out.get_mut(l3..l3 + ihl) {
                ip[2..4].copy_from_slice(&tot.to_be_bytes());
                ip[10..12].copy_from_slice(&[0, 0]);
                let c = csum(ip);
                ip[10..12].copy_from_slice(&c.to_be_bytes());
            }
        }
        Net::Ipv6 { src, dst, .. } => {
            if let Some(ip) = out.get_mut(l3 + 4..l3 + 6) {
                ip.copy_from_slice(&l4_len.to_be_bytes());
            }
            let c = udp6_checksum(src, dst, out.get(udp_ofs..).unwrap_or_default());
            if let Some(u) = out.get_mut(udp_ofs + 6..udp_ofs + 8) {
                u.copy_from_slice(&c.to_be_bytes());
            }
        }
        _ => return Err(Invalid("dns_lookup on a non-IP packet")),
    }
    Ok(Outcome::Answer(out))
}

/// The UDP checksum over IPv6 (0 sent as 0xffff).
pub fn udp6_checksum(src: std::net::Ipv6Addr, dst: std::net::Ipv6Addr, udp: &[u8]) -> u16 {
    let mut pseudo = Vec::with_capacity(40 + udp.len());
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&u32::try_from(udp.len()).unwrap_or(0).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, crate::flow::IPPROTO_UDP]);
    pseudo.extend_from_slice(udp);
    match csum(&pseudo) {
        0 => 0xffff,
        c => c,
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use simple_dns::{Question, QCLASS, QTYPE, TYPE};
    use std::collections::BTreeMap;

    pub fn state() -> State {
        State::from_records([Record::Dns {
            id: "d1".into(),
            datapaths: vec![1],
            records: BTreeMap::from([
                ("vm1.ovn.org".to_string(), "10.0.0.5 aef0::5".to_string()),
                ("5.0.0.10.in-addr.arpa".to_string(), "vm1.ovn.org".to_string()),
            ]),
        }])
    }

    pub fn query(name: &str, ty: TYPE, v6: bool) -> Vec<u8> {
        query_q(name, QTYPE::TYPE(ty), v6)
    }

    pub fn query_q(name: &str, qtype: QTYPE, v6: bool) -> Vec<u8> {
        let mut q = Packet::new_query(0x4242);
        q.set_flags(PacketFlag::RECURSION_DESIRED);
        q.questions.push(Question::new(Name::new_unchecked(name), qtype, QCLASS::CLASS(CLASS::IN), false));
        let payload = q.build_bytes_vec().unwrap();
        let mut out = Vec::new();
        let b = etherparse::PacketBuilder::ethernet2([0x50, 0x54, 0, 0, 0, 1], [0x50, 0x54, 0, 0, 0, 9]);
        if v6 {
            b.ipv6([0xfd; 16], [0xfe; 16], 64).udp(5353, 53).write(&mut out, &payload).unwrap();
        } else {
            b.ipv4([10, 0, 0, 5], [10, 0, 0, 1], 64).udp(5353, 53).write(&mut out, &payload).unwrap();
        }
        out
    }

    fn answer(pkt: &[u8], dp: u64) -> Outcome {
        handle(&Headers::parse(pkt).unwrap(), dp, &state()).unwrap()
    }

    fn reply(pkt: &[u8]) -> Vec<u8> {
        match answer(pkt, 1) {
            Outcome::Answer(p) => p,
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn a_query_is_answered_with_the_ipv4_addresses() {
        let out = reply(&query("VM1.ovn.org", TYPE::A, false));
        let h = Headers::parse(&out).unwrap();
        assert_eq!(csum(&out[14..34]), 0);
        let p = Packet::parse(h.udp_payload().unwrap()).unwrap();
        assert!(p.has_flags(PacketFlag::RESPONSE | PacketFlag::RECURSION_DESIRED));
        assert_eq!(p.id(), 0x4242);
        assert_eq!(p.questions.len(), 1);
        assert_eq!(p.answers.len(), 1);
        assert_eq!(p.answers[0].ttl, 3600);
        assert_eq!(p.answers[0].rdata, RData::A(A::from(std::net::Ipv4Addr::new(10, 0, 0, 5))));
        // The answer's name is the question's, uncompressed, case kept.
        let dns = h.udp_payload().unwrap();
        assert_eq!(&dns[12..25], b"\x03VM1\x03ovn\x03org\x00");
        assert_eq!(&dns[29..42], &dns[12..25]);
    }

    #[test]
    fn aaaa_any_and_ptr() {
        let out = reply(&query("vm1.ovn.org", TYPE::AAAA, true));
        let h = Headers::parse(&out).unwrap();
        let Net::Ipv6 { src, dst, payload_len, .. } = h.net else { panic!() };
        assert_eq!(usize::from(payload_len), h.l4().len());
        let mut pseudo = src.octets().to_vec();
        pseudo.extend_from_slice(&dst.octets());
        pseudo.extend_from_slice(&(h.l4().len() as u32).to_be_bytes());
        pseudo.extend_from_slice(&[0, 0, 0, 17]);
        pseudo.extend_from_slice(h.l4());
        assert_eq!(csum(&pseudo), 0);
        let p = Packet::parse(h.udp_payload().unwrap()).unwrap();
        assert_eq!(p.answers.len(), 1);
        assert!(matches!(p.answers[0].rdata, RData::AAAA(_)));

        let out = reply(&query_q("vm1.ovn.org", QTYPE::ANY, false));
        let h = Headers::parse(&out).unwrap();
        let p = Packet::parse(h.udp_payload().unwrap()).unwrap();
        assert_eq!(p.answers.len(), 2);

        let out = reply(&query("5.0.0.10.in-addr.arpa", TYPE::PTR, false));
        let h = Headers::parse(&out).unwrap();
        let p = Packet::parse(h.udp_payload().unwrap()).unwrap();
        assert_eq!(p.answers[0].rdata, RData::PTR(PTR(Name::new_unchecked("vm1.ovn.org"))));
    }

    #[test]
    fn unknown_names_other_datapaths_and_other_types_are_not_answered() {
        assert_eq!(answer(&query("vm2.ovn.org", TYPE::A, false), 1), Outcome::NoAnswer);
        assert_eq!(answer(&query("vm1.ovn.org", TYPE::A, false), 2), Outcome::NoAnswer);
        assert_eq!(answer(&query("vm1.ovn.org", TYPE::MX, false), 1), Outcome::NoAnswer);
        // An AAAA query for a name with no IPv6 address.
        let s = State::from_records([Record::Dns {
            id: "x".into(),
            datapaths: vec![1],
            records: BTreeMap::from([("a.b".to_string(), "10.0.0.1".to_string())]),
        }]);
        let q = query("a.b", TYPE::AAAA, false);
        assert_eq!(handle(&Headers::parse(&q).unwrap(), 1, &s), Ok(Outcome::NoAnswer));
    }

    #[test]
    fn responses_and_garbage_are_not_answered() {
        let mut q = query("vm1.ovn.org", TYPE::A, false);
        q[42 + 2] |= 0x80;
        assert_eq!(answer(&q, 1), Outcome::NoAnswer);
        let mut q = query("vm1.ovn.org", TYPE::A, false);
        q[42 + 11] = 1; // ARCOUNT
        assert_eq!(answer(&q, 1), Outcome::NoAnswer);
        let q = query("vm1.ovn.org", TYPE::A, false);
        for n in 0..q.len() {
            if let Ok(h) = Headers::parse(&q[..n]) {
                let _ = handle(&h, 1, &state());
            }
        }
    }
}
