//! `inject-pkt MICROFLOW`, as 23.03's `ofctrl_inject_pkt`: the microflow is a logical match
//! expression (`inport == "lp1" && eth.src == ... && ip4.dst == ...`) that must narrow to one
//! flow; the port names resolve to the OpenFlow port of the interface with that `iface-id` on
//! the integration bridge. The packet is built as OVS's `flow_compose` builds it (64 bytes of
//! 0, 1, 2, ... as payload where the protocol takes one) and sent with a packet_out whose
//! in_port is that port and whose action is `resubmit(,0)`: it goes through the whole
//! pipeline as if it had arrived on the port.

use std::collections::HashMap;

use shared::openflow::messages::PacketOut;
use shared::openflow::{Action, Field, Match};

use crate::lflow::expr::{self, Lookups, Number};

/// OFPP_IN_PORT (resubmit's "the packet's in_port") and the packet_out buffer "none".
const OFPP_IN_PORT: u16 = 0xfff8;
const NO_BUFFER: u32 = u32::MAX;
/// 23.03: `flow_compose(&packet, &uflow, NULL, 64)`.
const L7_LEN: usize = 64;

/// What the microflow may name: port names → OpenFlow ports, address sets, port groups.
#[derive(Default)]
pub struct MicroflowLookups {
    pub ofports: HashMap<String, u32>,
    pub address_sets: HashMap<String, Vec<Number>>,
    pub port_groups: HashMap<String, Vec<String>>,
}

impl Lookups for MicroflowLookups {
    fn address_set(&self, name: &str) -> Option<&[Number]> {
        self.address_sets.get(name).map(Vec::as_slice)
    }
    fn port_group(&self, name: &str) -> Option<&[String]> {
        self.port_groups.get(name).map(Vec::as_slice)
    }
    fn port_key(&self, name: &str) -> Option<u32> {
        // 23.03's constrain_match leaves an unknown port unset (0), which then fails as
        // "ingress port not found on hypervisor".
        Some(self.ofports.get(name).copied().unwrap_or(0))
    }
    fn is_chassis_resident(&self, _: &str) -> bool {
        // microflow_is_chassis_resident_cb: always true.
        true
    }
}

/// The packet_out for `microflow`, or 23.03's error text.
pub fn packet_out(microflow: &str, lookups: &MicroflowLookups) -> Result<PacketOut, String> {
    let compiled = expr::compile(microflow, lookups).map_err(|e| e.to_string())?;
    let m = match compiled.matches.as_slice() {
        [] => return Err("Constraints are contradictory.".into()),
        [one] if one.conjunctions.is_empty() => &one.m,
        _ => return Err(format!("Constraints are ambiguous: {microflow}.")),
    };
    let in_port = field(m, "reg14");
    let in_port = u16::try_from(in_port).ok().filter(|p| *p != 0 && *p <= 0xff00);
    let Some(in_port) = in_port else {
        return Err("ingress port not found on hypervisor.".into());
    };
    let mut metadata = Match::new();
    metadata.set_u128(Field::IN_PORT, u128::from(in_port)).map_err(|e| format!("{e:?}"))?;
    Ok(PacketOut {
        buffer_id: NO_BUFFER,
        metadata,
        actions: vec![Action::Resubmit { in_port: OFPP_IN_PORT, table: 0, ct: false }],
        data: compose(m),
    })
}

/// The matched bits of a field (0 where wildcarded), as `match.flow` holds them.
fn field(m: &Match, name: &str) -> u128 {
    let Some(f) = Field::from_name(name) else { return 0 };
    let Some((v, mask)) = m.get(f) else { return 0 };
    let be = |b: &[u8]| b.iter().take(16).fold(0u128, |acc, x| (acc << 8) | u128::from(*x));
    be(&v) & be(&mask)
}

fn bytes<const N: usize>(m: &Match, name: &str) -> [u8; N] {
    let v = field(m, name).to_be_bytes();
    let mut out = [0u8; N];
    out.copy_from_slice(&v[16 - N..]);
    out
}

/// Internet checksum of `data` continuing from `sum`.
fn csum_add(mut sum: u32, data: &[u8]) -> u32 {
    let mut it = data.chunks_exact(2);
    for c in &mut it {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = it.remainder() {
        sum += u32::from(*b) << 8;
    }
    sum
}

fn csum_finish(mut sum: u32) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn put16(buf: &mut [u8], at: usize, v: u16) {
    if let Some(s) = buf.get_mut(at..at + 2) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

/// OVS's `flow_compose(p, flow, NULL, 64)` for the fields OVN's symbol table can set.
pub fn compose(m: &Match) -> Vec<u8> {
    let dl_type = field(m, "eth_type") as u16;
    let mut p = Vec::with_capacity(128);
    p.extend_from_slice(&bytes::<6>(m, "eth_dst"));
    p.extend_from_slice(&bytes::<6>(m, "eth_src"));
    let tci = field(m, "vlan_tci") as u16;
    if tci & 0x1000 != 0 {
        p.extend_from_slice(&0x8100u16.to_be_bytes());
        p.extend_from_slice(&tci.to_be_bytes());
    }
    p.extend_from_slice(&dl_type.to_be_bytes());
    let l3 = p.len();
    let nw_proto = field(m, "nw_proto") as u8;
    let nw_tos = (field(m, "nw_tos") as u8 & 0xfc) | (field(m, "nw_ecn") as u8 & 3);
    let nw_ttl = field(m, "nw_ttl") as u8;
    let ip_frag = field(m, "ip_frag") as u8;
    let later = ip_frag & 2 != 0;
    match dl_type {
        0x0800 => {
            let mut ip = [0u8; 20];
            ip[0] = 0x45;
            ip[1] = nw_tos;
            if ip_frag & 1 != 0 {
                ip[6] |= 0x20;
                if later {
                    put16(&mut ip, 6, 0x2000 | 100);
                }
            }
            ip[8] = nw_ttl;
            ip[9] = nw_proto;
            ip[12..16].copy_from_slice(&bytes::<4>(m, "ip_src"));
            ip[16..20].copy_from_slice(&bytes::<4>(m, "ip_dst"));
            p.extend_from_slice(&ip);
            let l4 = p.len();
            if !later {
                compose_l4(&mut p, m, nw_proto);
            }
            let tot = (p.len() - l3) as u16;
            put16(&mut p, l3 + 2, tot);
            let c = csum_finish(csum_add(0, p.get(l3..l3 + 20).unwrap_or_default()));
            put16(&mut p, l3 + 10, c);
            let l4_len = (p.len() - l4) as u32;
            let pseudo = csum_add(csum_add(0, p.get(l3 + 12..l3 + 20).unwrap_or_default()), &[0, nw_proto]) + l4_len;
            if !later {
                l4_csum(&mut p, l4, nw_proto, pseudo);
            }
        }
        0x86dd => {
            let mut ip = [0u8; 40];
            let flow = (6u32 << 28) | (u32::from(nw_tos) << 20) | (field(m, "ipv6_label") as u32 & 0xf_ffff);
            ip[0..4].copy_from_slice(&flow.to_be_bytes());
            ip[6] = nw_proto;
            ip[7] = nw_ttl;
            ip[8..24].copy_from_slice(&bytes::<16>(m, "ipv6_src"));
            ip[24..40].copy_from_slice(&bytes::<16>(m, "ipv6_dst"));
            p.extend_from_slice(&ip);
            let l4 = p.len();
            if !later {
                compose_l4(&mut p, m, nw_proto);
            }
            let l4_len = (p.len() - l4) as u16;
            put16(&mut p, l3 + 4, l4_len);
            let pseudo =
                csum_add(csum_add(0, p.get(l3 + 8..l3 + 40).unwrap_or_default()), &[0, nw_proto]) + u32::from(l4_len);
            if !later {
                l4_csum(&mut p, l4, nw_proto, pseudo);
            }
        }
        0x0806 | 0x8035 => {
            let op = field(m, "arp_op") as u16;
            p.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4]);
            p.extend_from_slice(&op.to_be_bytes());
            if op == 1 || op == 2 {
                p.extend_from_slice(&bytes::<6>(m, "arp_sha"));
                p.extend_from_slice(&bytes::<4>(m, "arp_spa"));
                p.extend_from_slice(&bytes::<6>(m, "arp_tha"));
                p.extend_from_slice(&bytes::<4>(m, "arp_tpa"));
            } else {
                p.extend_from_slice(&[0; 20]);
            }
        }
        _ => {}
    }
    p
}

fn l7(p: &mut Vec<u8>) {
    p.extend((0..L7_LEN).map(|i| i as u8));
}

fn compose_l4(p: &mut Vec<u8>, m: &Match, nw_proto: u8) {
    match nw_proto {
        6 => {
            let flags = field(m, "tcp_flags") as u16 & 0x0fff;
            p.extend_from_slice(&bytes::<2>(m, "tcp_src"));
            p.extend_from_slice(&bytes::<2>(m, "tcp_dst"));
            p.extend_from_slice(&[0; 8]);
            p.extend_from_slice(&((5u16 << 12) | flags).to_be_bytes());
            p.extend_from_slice(&[0; 6]);
            if flags & 0x07 == 0 {
                l7(p);
            }
        }
        17 => {
            p.extend_from_slice(&bytes::<2>(m, "udp_src"));
            p.extend_from_slice(&bytes::<2>(m, "udp_dst"));
            p.extend_from_slice(&((8 + L7_LEN) as u16).to_be_bytes());
            p.extend_from_slice(&[0, 0]);
            l7(p);
        }
        132 => {
            p.extend_from_slice(&bytes::<2>(m, "sctp_src"));
            p.extend_from_slice(&bytes::<2>(m, "sctp_dst"));
            p.extend_from_slice(&[0; 8]);
        }
        1 => {
            let (t, c) = (field(m, "icmp_type") as u8, field(m, "icmp_code") as u8);
            p.extend_from_slice(&[t, c, 0, 0, 0, 0, 0, 0]);
            if (t == 8 || t == 0) && c == 0 {
                l7(p);
            }
        }
        58 => {
            let (t, c) = (field(m, "icmpv6_type") as u8, field(m, "icmpv6_code") as u8);
            p.extend_from_slice(&[t, c, 0, 0, 0, 0, 0, 0]);
            if c == 0 && (t == 135 || t == 136) {
                p.extend_from_slice(&bytes::<16>(m, "nd_target"));
                let sll = bytes::<6>(m, "nd_sll");
                if sll != [0; 6] {
                    p.extend_from_slice(&[1, 1]);
                    p.extend_from_slice(&sll);
                }
                let tll = bytes::<6>(m, "nd_tll");
                if tll != [0; 6] {
                    p.extend_from_slice(&[2, 1]);
                    p.extend_from_slice(&tll);
                }
            } else if c == 0 && (t == 128 || t == 129) {
                l7(p);
            }
        }
        _ => {}
    }
}

fn l4_csum(p: &mut [u8], l4: usize, nw_proto: u8, pseudo: u32) {
    let body = p.get(l4..).unwrap_or_default();
    match nw_proto {
        6 => {
            let c = csum_finish(csum_add(pseudo, body));
            put16(p, l4 + 16, c);
        }
        17 => {
            let c = match csum_finish(csum_add(pseudo, body)) {
                0 => 0xffff,
                c => c,
            };
            put16(p, l4 + 6, c);
        }
        1 => {
            let c = csum_finish(csum_add(0, body));
            put16(p, l4 + 2, c);
        }
        58 => {
            let c = csum_finish(csum_add(pseudo, body));
            put16(p, l4 + 2, c);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookups() -> MicroflowLookups {
        MicroflowLookups { ofports: HashMap::from([("lp1".to_string(), 3)]), ..Default::default() }
    }

    #[test]
    fn udp_packet_as_flow_compose_builds_it() {
        let po = packet_out(
            r#"inport == "lp1" && eth.src == 00:00:00:00:00:01 && eth.dst == 00:00:00:00:00:02 && ip4.src == 10.0.0.1 && ip4.dst == 10.0.0.2 && ip.ttl == 64 && udp.src == 53 && udp.dst == 4369"#,
            &lookups(),
        )
        .unwrap();
        let d = &po.data;
        assert_eq!(d.len(), 14 + 20 + 8 + 64);
        assert_eq!(&d[..14], &[0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 8, 0]);
        assert_eq!(&d[14..24], &[0x45, 0, 0, 92, 0, 0, 0, 0, 64, 17]);
        // IPv4 header checksum verifies to zero.
        assert_eq!(csum_finish(csum_add(0, &d[14..34])), 0);
        assert_eq!(&d[34..40], &[0, 53, 0x11, 0x11, 0, 72]);
        assert_eq!(d[42..].to_vec(), (0..64u8).collect::<Vec<_>>());
        assert_eq!(po.actions, vec![Action::Resubmit { in_port: OFPP_IN_PORT, table: 0, ct: false }]);
        assert_eq!(po.metadata.get(Field::IN_PORT).map(|(v, _)| v), Some(vec![0, 3]));
    }

    #[test]
    fn errors_as_23_03_words_them() {
        let l = lookups();
        assert_eq!(
            packet_out(r#"inport == "nope" && eth.src == 00:00:00:00:00:01"#, &l).unwrap_err(),
            "ingress port not found on hypervisor."
        );
        assert_eq!(packet_out(r#"inport == "lp1" && ip4 && ip6"#, &l).unwrap_err(), "Constraints are contradictory.");
        assert!(packet_out(r#"inport == "lp1" && (tcp || udp)"#, &l)
            .unwrap_err()
            .starts_with("Constraints are ambiguous"));
        assert!(packet_out("inport == ", &l).is_err());
    }

    #[test]
    fn arp_request() {
        let po = packet_out(
            r#"inport == "lp1" && eth.src == 00:00:00:00:00:01 && eth.dst == ff:ff:ff:ff:ff:ff && arp.op == 1 && arp.sha == 00:00:00:00:00:01 && arp.spa == 10.0.0.1 && arp.tpa == 10.0.0.2"#,
            &lookups(),
        )
        .unwrap();
        assert_eq!(po.data.len(), 42);
        assert_eq!(&po.data[12..22], &[8, 6, 0, 1, 8, 0, 6, 4, 0, 1]);
        assert_eq!(&po.data[38..42], &[10, 0, 0, 2]);
    }
}
