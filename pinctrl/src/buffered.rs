//! Packets waiting for a next hop's MAC (23.03's buffered_packets_map,
//! pinctrl_handle_buffered_packets, buffered_send_packets, run_buffered_binding): when
//! `arp{}` / `nd_ns{}` asks for a routed packet's next hop, the packet is kept, with the
//! registers of its packet-in, under (datapath, output port, next-hop IP). Once the MAC is
//! known — pinctrl learnt it (`put_arp` / `put_nd`) or a MAC_Binding record arrived from
//! flowctl — the packets go back into the pipeline at the output stage with that MAC as
//! their destination. Bounded: at most [`QUEUE_DEPTH`] packets per next hop (the oldest
//! makes room), [`MAX_NEXT_HOPS`] next hops and [`MAX_BYTES`] in all (new ones are dropped
//! and counted), each next hop forgotten [`TIMEOUT`] after its last packet. Sans-IO.

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use shared::openflow::actions::ports;
use shared::openflow::flow_match::Match;
use shared::openflow::messages::{PacketOut, NO_BUFFER};
use shared::openflow::{Action, Field, Message};
use shared::ovn::tables;
use shared::pinctrl_link::{Record, RecordKey, State};

/// Packets kept per next hop: 23.03's ring of BUFFER_QUEUE_DEPTH (4) slots holds 3.
pub const QUEUE_DEPTH: usize = 3;
/// Next hops waiting at once (23.03 refuses the 1000th new one).
pub const MAX_NEXT_HOPS: usize = 1000;
/// A next hop without a new packet for this long is forgotten (BUFFER_MAP_TIMEOUT).
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of packets kept in all; 23.03 has no such bound (up to 3000 packets of 64 kB).
pub const MAX_BYTES: usize = 16 << 20;

/// Where a buffered packet waits: its datapath, logical output port and next-hop IP
/// (IPv4 as IPv4-mapped IPv6, as 23.03 keys them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NextHop {
    pub dp_key: u64,
    pub port_key: u32,
    pub ip: Ipv6Addr,
}

impl NextHop {
    pub fn new(dp_key: u64, port_key: u32, ip: IpAddr) -> NextHop {
        let ip = match ip {
            IpAddr::V4(a) => a.to_ipv6_mapped(),
            IpAddr::V6(a) => a,
        };
        NextHop { dp_key, port_key, ip }
    }
}

struct Waiting {
    /// (packet, actions that restore its registers and resubmit it to the output stage).
    packets: VecDeque<(Vec<u8>, Vec<Action>)>,
    last: Instant,
}

/// The buffered packets of this chassis, with counters for `pinctrl/status`.
#[derive(Default)]
pub struct Buffered {
    hops: BTreeMap<NextHop, Waiting>,
    bytes: usize,
    pub buffered: u64,
    pub sent: u64,
    pub dropped: u64,
    pub expired: u64,
}

/// The actions 23.03's buffered_push_packet stores: every register and the metadata of
/// the packet-in, its pkt_mark, then a resubmit to the output stage (OFTABLE_OUTPUT_INIT).
fn reinject_actions(md: &Match) -> Vec<Action> {
    let mut acts = crate::engine::reload_metadata(md);
    let mark = md.get(Field::PKT_MARK).map_or_else(|| vec![0; 4], |(v, _)| v);
    acts.push(Action::SetField { field: Field::PKT_MARK, value: mark, mask: None });
    acts.push(Action::Resubmit { in_port: ports::CONTROLLER, table: tables::OUTPUT_INIT, ct: false });
    acts
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut out {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

impl Buffered {
    /// Next hops waiting.
    pub fn len(&self) -> usize {
        self.hops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hops.is_empty()
    }

    /// Packets waiting.
    pub fn packets(&self) -> usize {
        self.hops.values().map(|w| w.packets.len()).sum()
    }

    /// Keeps `packet` (with the packet-in's registers `md`) until `hop`'s MAC is known.
    /// False if it was dropped because the buffer is full.
    pub fn push(&mut self, hop: NextHop, packet: Vec<u8>, md: &Match, now: Instant) -> bool {
        if !self.hops.contains_key(&hop) && self.hops.len() >= MAX_NEXT_HOPS
            || self.bytes.saturating_add(packet.len()) > MAX_BYTES
        {
            self.dropped += 1;
            return false;
        }
        let w = self.hops.entry(hop).or_insert_with(|| Waiting { packets: VecDeque::new(), last: now });
        w.last = now;
        if w.packets.len() >= QUEUE_DEPTH {
            if let Some((old, _)) = w.packets.pop_front() {
                self.bytes = self.bytes.saturating_sub(old.len());
                self.dropped += 1;
            }
        }
        self.bytes += packet.len();
        w.packets.push_back((packet, reinject_actions(md)));
        self.buffered += 1;
        true
    }

    /// `hop`'s MAC is `mac`: its packets, oldest first, as packet-outs with that
    /// destination (buffered_send_packets).
    pub fn release(&mut self, hop: &NextHop, mac: [u8; 6]) -> Vec<Message> {
        let Some(w) = self.hops.remove(hop) else { return Vec::new() };
        let mut out = Vec::with_capacity(w.packets.len());
        for (mut data, actions) in w.packets {
            self.bytes = self.bytes.saturating_sub(data.len());
            if let Some(dst) = data.get_mut(..6) {
                dst.copy_from_slice(&mac);
            }
            let mut metadata = Match::new();
            let _ = metadata.set_u128(Field::IN_PORT, u128::from(ports::CONTROLLER));
            out.push(Message::PacketOut(PacketOut { buffer_id: NO_BUFFER, metadata, actions, data }));
            self.sent += 1;
        }
        out
    }

    /// Releases the next hops that the MAC_Binding records in `state` resolve
    /// (run_buffered_binding): the record's port and IP, or, for a distributed gateway
    /// port, its chassisredirect port "cr-<port>".
    pub fn release_known(&mut self, state: &State) -> Vec<Message> {
        if self.hops.is_empty() {
            return Vec::new();
        }
        let port_keys = |name: &str| match state.get(&RecordKey::Port { name: name.to_string() }) {
            Some(Record::Port { datapath_key, key, kind, .. }) => Some((*datapath_key, *key, kind.clone())),
            _ => None,
        };
        let mut found = Vec::new();
        for r in state.records() {
            let Record::MacBinding { logical_port, ip, mac, .. } = r else { continue };
            let (Ok(ip), Some(mac)) = (ip.parse::<IpAddr>(), parse_mac(mac)) else { continue };
            let Some((dp, key, _)) = port_keys(logical_port) else { continue };
            let hop = NextHop::new(u64::from(dp), key, ip);
            if self.hops.contains_key(&hop) {
                found.push((hop, mac));
                continue;
            }
            if let Some((dp, key, kind)) = port_keys(&format!("cr-{logical_port}")) {
                let hop = NextHop::new(u64::from(dp), key, IpAddr::V6(hop.ip));
                if kind == "chassisredirect" && self.hops.contains_key(&hop) {
                    found.push((hop, mac));
                }
            }
        }
        found.into_iter().flat_map(|(hop, mac)| self.release(&hop, mac)).collect()
    }

    /// Forgets the next hops whose last packet is older than [`TIMEOUT`]
    /// (buffered_packets_map_gc).
    pub fn expire(&mut self, now: Instant) {
        let before = self.packets();
        let mut bytes = self.bytes;
        self.hops.retain(|_, w| {
            let keep = now.saturating_duration_since(w.last) <= TIMEOUT;
            if !keep {
                bytes = bytes.saturating_sub(w.packets.iter().map(|(p, _)| p.len()).sum());
            }
            keep
        });
        self.bytes = bytes;
        self.expired += (before - self.packets()) as u64;
    }

    /// When [`Buffered::expire`] next has something to do.
    pub fn deadline(&self) -> Option<Instant> {
        self.hops.values().map(|w| w.last + TIMEOUT + Duration::from_millis(1)).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md() -> Match {
        let mut m = Match::new();
        m.set_u128(Field::METADATA, 3).unwrap();
        m.set_u128(Field::REG15, 2).unwrap();
        m.set_u128(Field::REG0, 0x0a00_0132).unwrap();
        m
    }

    fn hop() -> NextHop {
        NextHop::new(3, 2, IpAddr::V4([10, 0, 1, 50].into()))
    }

    #[test]
    fn released_with_the_mac_registers_and_a_resubmit_to_the_output_stage() {
        let mut b = Buffered::default();
        let now = Instant::now();
        assert!(b.push(hop(), vec![0xff; 60], &md(), now));
        assert!(b.release(&NextHop::new(3, 2, IpAddr::V4([10, 0, 1, 51].into())), [1; 6]).is_empty());
        let out = b.release(&hop(), [0, 0, 0, 0, 0, 0x50]);
        let [Message::PacketOut(po)] = out.as_slice() else { panic!("{out:?}") };
        assert_eq!(&po.data[..6], &[0, 0, 0, 0, 0, 0x50]);
        assert_eq!(&po.data[6..], &[0xff; 54][..]);
        assert!(po.actions.contains(&Action::SetField { field: Field::REG15, value: vec![0, 0, 0, 2], mask: None }));
        assert!(po.actions.contains(&Action::SetField { field: Field::PKT_MARK, value: vec![0; 4], mask: None }));
        assert_eq!(po.actions.last(), Some(&Action::Resubmit { in_port: ports::CONTROLLER, table: 37, ct: false }));
        assert_eq!(po.metadata.get(Field::IN_PORT).map(|v| v.0), Some(vec![0xff, 0xfd]));
        assert!(shared::openflow::OfMessage::new(1, out[0].clone()).try_encode().is_ok());
        assert!(b.is_empty());
        assert_eq!((b.buffered, b.sent, b.bytes), (1, 1, 0));
    }

    #[test]
    fn bounded_per_hop_in_hops_and_in_bytes_and_expired() {
        let mut b = Buffered::default();
        let now = Instant::now();
        for i in 0..5u8 {
            b.push(hop(), vec![i; 20], &md(), now);
        }
        assert_eq!((b.packets(), b.dropped), (3, 2));
        for i in 0..(MAX_NEXT_HOPS as u32 + 5) {
            b.push(NextHop::new(1, i, IpAddr::V4([10, 0, 0, 1].into())), vec![0; 20], &md(), now);
        }
        assert_eq!(b.len(), MAX_NEXT_HOPS);
        let out = b.release(&hop(), [2; 6]);
        let firsts: Vec<u8> = out
            .iter()
            .filter_map(|m| match m {
                Message::PacketOut(p) => p.data.get(6).copied(),
                _ => None,
            })
            .collect();
        assert_eq!(firsts, vec![2, 3, 4], "the newest three, in order");
        assert!(!b.push(NextHop::new(9, 9, IpAddr::V4([10, 0, 0, 9].into())), vec![0; MAX_BYTES], &md(), now));
        assert_eq!(b.deadline(), Some(now + TIMEOUT + Duration::from_millis(1)));
        b.expire(now + TIMEOUT);
        assert!(!b.is_empty());
        b.expire(now + TIMEOUT + Duration::from_millis(1));
        assert!(b.is_empty() && b.bytes == 0);
        assert_eq!(b.deadline(), None);
    }

    #[test]
    fn mac_binding_records_release_their_next_hop_also_through_cr_ports() {
        let port = |name: &str, key: u32, kind: &str| Record::Port {
            name: name.into(),
            datapath_key: 3,
            key,
            kind: kind.into(),
            macs: vec![],
            local: false,
        };
        let binding = |ip: &str| Record::MacBinding {
            datapath_key: 3,
            logical_port: "lr0-pub".into(),
            ip: ip.into(),
            mac: "00:00:00:00:00:50".into(),
        };
        let mut b = Buffered::default();
        let now = Instant::now();
        b.push(NextHop::new(3, 7, "fd01::50".parse().unwrap()), vec![0; 60], &md(), now);
        let st = State::from_records([port("lr0-pub", 5, "patch"), port("cr-lr0-pub", 7, "chassisredirect")]);
        assert!(b.release_known(&st).is_empty());
        let mut recs: Vec<Record> = st.records().cloned().collect();
        recs.push(binding("10.0.1.50"));
        recs.push(binding("fd01::50"));
        let out = b.release_known(&State::from_records(recs));
        assert_eq!(out.len(), 1);
        assert!(b.is_empty());
    }
}
