//! Gratuitous ARP / RARP announcements (23.03's send_garp_rarp_update, send_garp_rarp and
//! send_garp_rarp_run): for every announcement flowctl lists ([`Record::Announce`]), a GARP
//! (or RARP without an IPv4 address) injected into the logical ingress pipeline 1 s after
//! it appears, then after 2, 4, 8 and 16 s more: five in all. Sans-IO: the scheduler
//! returns the packet-outs that are due.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use shared::openflow::actions::ports;
use shared::openflow::flow_match::Match;
use shared::openflow::messages::{PacketOut, NO_BUFFER};
use shared::openflow::{Action, Field, Message};
use shared::ovn::tables;
use shared::pinctrl_link::{Record, State};

use crate::compose;

const ETH_TYPE_RARP: u16 = 0x8035;
const BROADCAST: [u8; 6] = [0xff; 6];
/// The backoff after which 23.03 stops announcing (`backoff < 16`).
const MAX_BACKOFF: u32 = 16;

#[derive(Debug, Clone)]
struct Entry {
    mac: [u8; 6],
    ipv4: Option<Ipv4Addr>,
    dp_key: u32,
    port_key: u32,
    /// None: all five sent.
    next: Option<Instant>,
    backoff: u32,
}

/// The announcements and their schedule.
#[derive(Debug, Default)]
pub struct GarpScheduler {
    entries: BTreeMap<String, Entry>,
    pub sent: u64,
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut m = [0u8; 6];
    let mut it = s.split(':');
    for b in &mut m {
        *b = u8::from_str_radix(it.next()?, 16).ok()?;
    }
    it.next().is_none().then_some(m)
}

/// compose_arp(ARP_OP_REQUEST, ea, zero, broadcast, ip, ip): a gratuitous ARP request.
pub fn garp(mac: [u8; 6], ip: Ipv4Addr) -> Vec<u8> {
    compose::arp_request(mac, BROADCAST, ip, ip)
}

/// compose_rarp: a reverse ARP request for `mac`.
pub fn rarp(mac: [u8; 6]) -> Vec<u8> {
    let mut p = compose::eth_header(BROADCAST, mac, ETH_TYPE_RARP);
    // htype Ethernet, ptype IPv4, hlen 6, plen 4, op 3 (request reverse).
    p.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 3]);
    p.extend_from_slice(&mac);
    p.extend_from_slice(&[0; 4]);
    p.extend_from_slice(&mac);
    p.extend_from_slice(&[0; 4]);
    p
}

impl GarpScheduler {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Follows flowctl's list: new announcements start their schedule (first one in 1 s),
    /// existing ones only take the new datapath and port, gone ones stop.
    pub fn sync(&mut self, state: &State, now: Instant) {
        let mut seen = Vec::new();
        for r in state.records() {
            let Record::Announce { name, datapath_key, port_key, mac, ipv4 } = r else { continue };
            let Some(mac) = parse_mac(mac) else { continue };
            seen.push(name.as_str());
            match self.entries.get_mut(name) {
                Some(e) => {
                    e.dp_key = *datapath_key;
                    e.port_key = *port_key;
                }
                None => {
                    let ipv4 = ipv4.as_deref().and_then(|s| s.parse().ok());
                    self.entries.insert(
                        name.clone(),
                        Entry {
                            mac,
                            ipv4,
                            dp_key: *datapath_key,
                            port_key: *port_key,
                            next: Some(now + Duration::from_secs(1)),
                            backoff: 1,
                        },
                    );
                }
            }
        }
        self.entries.retain(|n, _| seen.contains(&n.as_str()));
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.entries.values().filter_map(|e| e.next).min()
    }

    /// The announcements due at `now`, as packet-outs into the ingress pipeline.
    pub fn due(&mut self, now: Instant) -> Vec<Message> {
        let mut out = Vec::new();
        for e in self.entries.values_mut() {
            if e.next.is_none_or(|t| t > now) {
                continue;
            }
            let packet = match e.ipv4 {
                Some(ip) if !ip.is_unspecified() => garp(e.mac, ip),
                _ => rarp(e.mac),
            };
            out.push(inject(packet, e.dp_key, e.port_key));
            self.sent += 1;
            if e.backoff < MAX_BACKOFF {
                e.backoff *= 2;
                e.next = Some(now + Duration::from_secs(u64::from(e.backoff)));
            } else {
                e.next = None;
            }
        }
        out
    }
}

/// The packet into the logical ingress pipeline of `dp` as if it came in on `port`.
fn inject(packet: Vec<u8>, dp: u32, port: u32) -> Message {
    let mut metadata = Match::new();
    let _ = metadata.set_u128(Field::IN_PORT, u128::from(ports::CONTROLLER));
    let actions = vec![
        Action::SetField { field: Field::METADATA, value: u64::from(dp).to_be_bytes().to_vec(), mask: None },
        Action::SetField { field: Field::REG14, value: port.to_be_bytes().to_vec(), mask: None },
        Action::Resubmit { in_port: ports::CONTROLLER, table: tables::LOG_INGRESS_PIPELINE, ct: false },
    ];
    Message::PacketOut(PacketOut { buffer_id: NO_BUFFER, metadata, actions, data: packet })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{Headers, Net};

    fn state(names: &[(&str, Option<&str>)]) -> State {
        State::from_records(names.iter().map(|(n, ip)| Record::Announce {
            name: n.to_string(),
            datapath_key: 1,
            port_key: 2,
            mac: "50:54:00:00:00:01".into(),
            ipv4: ip.map(String::from),
        }))
    }

    #[test]
    fn five_announcements_at_1_3_7_15_31_seconds() {
        let mut g = GarpScheduler::default();
        let t0 = Instant::now();
        g.sync(&state(&[("lp1", Some("10.0.0.5"))]), t0);
        let mut at = Vec::new();
        let mut t = t0;
        while let Some(d) = g.deadline() {
            t = d;
            let msgs = g.due(t);
            assert_eq!(msgs.len(), 1);
            at.push((t - t0).as_secs());
            let Message::PacketOut(po) = &msgs[0] else { panic!() };
            let h = Headers::parse(&po.data).unwrap();
            assert_eq!(h.dl_dst, BROADCAST);
            assert!(
                matches!(h.net, Net::Arp { op: 1, spa, tpa, .. } if spa == tpa && spa == Ipv4Addr::new(10, 0, 0, 5))
            );
        }
        assert_eq!(at, vec![1, 3, 7, 15, 31]);
        assert!(g.due(t + Duration::from_secs(100)).is_empty());
        // Still listed: not announced again; listed anew after removal: announced again.
        g.sync(&state(&[("lp1", Some("10.0.0.5"))]), t);
        assert_eq!(g.deadline(), None);
        g.sync(&state(&[]), t);
        assert!(g.is_empty());
    }

    #[test]
    fn no_ipv4_is_a_rarp() {
        let mut g = GarpScheduler::default();
        let t0 = Instant::now();
        g.sync(&state(&[("lrp-noip", None)]), t0);
        let msgs = g.due(t0 + Duration::from_secs(1));
        let [Message::PacketOut(po)] = msgs.as_slice() else { panic!() };
        assert_eq!(&po.data[12..14], &[0x80, 0x35]);
        assert_eq!(po.data.len(), 42);
        assert_eq!(po.actions.last(), Some(&Action::Resubmit { in_port: ports::CONTROLLER, table: 8, ct: false }));
    }
}
