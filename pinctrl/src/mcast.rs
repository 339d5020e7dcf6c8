//! `igmp`: IGMP/MLD snooping (23.03's pinctrl_ip_mcast_handle + ip_mcast_snoop_run +
//! ip_mcast_sync, over OVS's lib/mcast-snooping.c): reports and leaves update per-datapath
//! group tables whose ports expire after the datapath's idle timeout, queries record
//! multicast routers; reports are reinjected towards the mrouters and queries flooded to
//! the L2 domain; the result becomes IGMP_Group intents for this chassis. Sans-IO; every
//! packet is untrusted.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use shared::openflow::actions::ports;
use shared::openflow::flow_match::Match;
use shared::openflow::messages::{PacketOut, NO_BUFFER};
use shared::openflow::{Action, Field, Message};
use shared::ovn::tables;
use shared::pinctrl_link::{IntentKind, Record, State};

use crate::compose::csum;
use crate::flow::{Headers, Net, IPPROTO_ICMPV6, L4};
use crate::handlers::Refused;

pub const IPPROTO_IGMP: u8 = 2;
/// OVN_MCAST_MROUTER_FLOOD_TUNNEL_KEY and OVN_MCAST_FLOOD_L2_TUNNEL_KEY (lib/mcast-group-index.h).
pub const MROUTER_FLOOD_KEY: u32 = 32770;
pub const FLOOD_L2_KEY: u32 = 32772;
/// OVN_IGMP_GROUP_MROUTERS.
pub const MROUTERS: &str = "mrouters";
/// lib/mcast-snooping.h MCAST_MROUTER_PORT_IDLE_TIME.
const MROUTER_IDLE: Duration = Duration::from_secs(180);
const DEFAULT_TABLE_SIZE: u32 = 2048;
const DEFAULT_IDLE_TIMEOUT_S: u32 = 300;

const IGMP_QUERY: u8 = 0x11;
const IGMPV1_REPORT: u8 = 0x12;
const IGMPV2_REPORT: u8 = 0x16;
const IGMP_LEAVE: u8 = 0x17;
const IGMPV3_REPORT: u8 = 0x22;
const MLD_QUERY: u8 = 130;
const MLD_REPORT: u8 = 131;
const MLD_DONE: u8 = 132;
const MLD2_REPORT: u8 = 143;
/// IGMPv3 / MLDv2 record types that, with no sources, mean "leave".
const MODE_IS_INCLUDE: u8 = 1;
const CHANGE_TO_INCLUDE: u8 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cfg {
    enabled: bool,
    table_size: u32,
    idle: Duration,
    seq_no: i64,
}

#[derive(Debug, Default)]
struct Group {
    /// Port tunnel key -> when its membership expires.
    ports: BTreeMap<u32, Instant>,
    used: Option<Instant>,
}

#[derive(Debug)]
struct Snoop {
    cfg: Cfg,
    /// Groups by address (IPv4 as mapped IPv6, as OVS keys them).
    groups: BTreeMap<Ipv6Addr, Group>,
    mrouters: BTreeMap<u32, Instant>,
}

impl Snoop {
    fn flush(&mut self) {
        self.groups.clear();
        self.mrouters.clear();
    }

    /// mcast_snooping_add_group: true if the port is new in the group.
    fn add(&mut self, addr: Ipv6Addr, port: u32, now: Instant) -> bool {
        if !self.groups.contains_key(&addr) && self.groups.len() >= self.cfg.table_size.max(1) as usize {
            // Full: the least recently used group makes room (group_get_lru).
            let lru = self.groups.iter().min_by_key(|(_, g)| g.used).map(|(a, _)| *a);
            if let Some(a) = lru {
                self.groups.remove(&a);
            }
        }
        let g = self.groups.entry(addr).or_default();
        g.used = Some(now);
        g.ports.insert(port, now + self.cfg.idle).is_none()
    }

    /// mcast_snooping_leave_group: true if the port was a member.
    fn leave(&mut self, addr: Ipv6Addr, port: u32) -> bool {
        let Some(g) = self.groups.get_mut(&addr) else { return false };
        let removed = g.ports.remove(&port).is_some();
        if g.ports.is_empty() {
            self.groups.remove(&addr);
        }
        removed
    }

    fn add_mrouter(&mut self, port: u32, now: Instant) -> bool {
        self.mrouters.insert(port, now + MROUTER_IDLE).is_none()
    }
}

/// What one `igmp` packet-in did.
#[derive(Debug, Default)]
pub struct Handled {
    /// The group tables changed: sync the IGMP_Group rows.
    pub changed: bool,
    pub messages: Vec<Message>,
}

/// The per-datapath snooping state of this chassis.
#[derive(Debug, Default)]
pub struct Snooping {
    dps: BTreeMap<u32, Snoop>,
}

fn v4_mapped(a: Ipv4Addr) -> Ipv6Addr {
    a.to_ipv6_mapped()
}

/// The group address as 23.03 writes IGMP_Group.address (ipv6_string_mapped).
pub fn address_string(a: &Ipv6Addr) -> String {
    match a.to_ipv4_mapped() {
        Some(v4) => v4.to_string(),
        None => a.to_string(),
    }
}

fn parse_address(s: &str) -> Option<Ipv6Addr> {
    match s.parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => Some(v4_mapped(a)),
        IpAddr::V6(a) => Some(a),
    }
}

/// The L4 bytes of `h` bounded by the IP length (OVS drops the Ethernet padding).
fn l4_bounded<'a>(h: &Headers<'a>) -> Option<&'a [u8]> {
    let l4_ofs = h.l4_ofs?;
    let ip_hdr = l4_ofs.checked_sub(h.l3_ofs)?;
    let ip_len = match h.net {
        Net::Ipv4 { total_len, .. } => usize::from(total_len),
        Net::Ipv6 { payload_len, .. } => 40 + usize::from(payload_len),
        _ => return None,
    };
    let _ = ip_len.checked_sub(ip_hdr)?;
    let end = h.l3_ofs.checked_add(ip_len)?.min(h.data.len());
    h.data.get(l4_ofs..end)
}

fn mld_checksum_ok(src: Ipv6Addr, dst: Ipv6Addr, body: &[u8]) -> bool {
    let Ok(len) = u32::try_from(body.len()) else { return false };
    let mut pseudo = Vec::with_capacity(40 + body.len());
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&len.to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, IPPROTO_ICMPV6]);
    pseudo.extend_from_slice(body);
    csum(&pseudo) == 0
}

fn ipv6_at(b: &[u8], at: usize) -> Option<Ipv6Addr> {
    let o: [u8; 16] = b.get(at..at.checked_add(16)?)?.try_into().ok()?;
    Some(Ipv6Addr::from(o))
}

fn be16_at(b: &[u8], at: usize) -> Option<usize> {
    Some(usize::from(u16::from_be_bytes([*b.get(at)?, *b.get(at.checked_add(1)?)?])))
}

/// ip_is_multicast && !ip_is_local_multicast (224.0.0.0/24 is never snooped).
fn snoopable_v4(a: Ipv4Addr) -> bool {
    a.is_multicast() && a.octets()[..3] != [224, 0, 0]
}

/// OVS skips the all-hosts group (ff02::1) in MLD reports.
fn snoopable_v6(a: &Ipv6Addr) -> bool {
    a.is_multicast() && *a != Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1)
}

impl Snooping {
    pub fn datapaths(&self) -> usize {
        self.dps.len()
    }

    pub fn groups(&self) -> usize {
        self.dps.values().map(|s| s.groups.len()).sum()
    }

    /// Loads the IP_Multicast configuration of the local datapaths from `state`
    /// (ip_mcast_snoop_cfg_load + ip_mcast_snoop_configure): a new seq_no or snooping
    /// turned off flushes the learnt groups; datapaths that left are forgotten.
    fn configure(&mut self, state: &State) {
        let mut seen = Vec::new();
        for r in state.records() {
            let Record::IpMulticast { datapath_key, enabled, table_size, idle_timeout, seq_no, .. } = r else {
                continue;
            };
            seen.push(*datapath_key);
            let cfg = Cfg {
                enabled: *enabled,
                table_size: if *table_size == 0 { DEFAULT_TABLE_SIZE } else { *table_size },
                idle: Duration::from_secs(u64::from(if *idle_timeout == 0 {
                    DEFAULT_IDLE_TIMEOUT_S
                } else {
                    *idle_timeout
                })),
                seq_no: *seq_no,
            };
            match self.dps.get_mut(datapath_key) {
                None => {
                    self.dps.insert(*datapath_key, Snoop { cfg, groups: BTreeMap::new(), mrouters: BTreeMap::new() });
                }
                Some(s) if s.cfg != cfg => {
                    if !cfg.enabled || s.cfg.seq_no != cfg.seq_no {
                        s.flush();
                    }
                    s.cfg = cfg;
                }
                Some(_) => {}
            }
        }
        self.dps.retain(|k, _| seen.contains(k));
    }

    /// Expires memberships and mrouters whose time is up (mcast_snooping_run). True if
    /// anything expired.
    pub fn run(&mut self, now: Instant) -> bool {
        let mut changed = false;
        for s in self.dps.values_mut() {
            for g in s.groups.values_mut() {
                let before = g.ports.len();
                g.ports.retain(|_, exp| *exp > now);
                changed |= g.ports.len() != before;
            }
            s.groups.retain(|_, g| !g.ports.is_empty());
            let before = s.mrouters.len();
            s.mrouters.retain(|_, exp| *exp > now);
            changed |= s.mrouters.len() != before;
        }
        changed
    }

    /// When [`Snooping::run`] next has something to expire.
    pub fn deadline(&self) -> Option<Instant> {
        self.dps
            .values()
            .flat_map(|s| s.groups.values().flat_map(|g| g.ports.values()).chain(s.mrouters.values()))
            .min()
            .copied()
    }

    /// The IGMP_Group writes that bring this chassis's rows in `state` to the snooping
    /// state (ip_mcast_sync): a row per group with members and an "mrouters" row per
    /// snooping datapath; rows of groups that are gone, or of datapaths where snooping is
    /// off, deleted. Nothing for a row that is already right.
    pub fn sync(&mut self, state: &State) -> Vec<IntentKind> {
        self.configure(state);
        let mut want: BTreeMap<(u32, String), Vec<u32>> = BTreeMap::new();
        for (dp, s) in &self.dps {
            if !s.cfg.enabled {
                continue;
            }
            for (addr, g) in &s.groups {
                want.insert((*dp, address_string(addr)), g.ports.keys().copied().collect());
            }
            want.insert((*dp, MROUTERS.to_string()), s.mrouters.keys().copied().collect());
        }
        let mut have: BTreeMap<(u32, String), Vec<u32>> = BTreeMap::new();
        for r in state.records() {
            if let Record::IgmpGroup { datapath_key, address, ports } = r {
                let mut p = ports.clone();
                p.sort_unstable();
                have.insert((*datapath_key, address.clone()), p);
            }
        }
        let local: Vec<u32> = state
            .records()
            .filter_map(|r| match r {
                Record::Datapath { key, .. } => Some(*key),
                _ => None,
            })
            .collect();
        let mut out = Vec::new();
        for ((dp, address), ports) in &have {
            // Rows of datapaths that are not local are left alone, as 23.03 does.
            if !local.contains(dp) || want.contains_key(&(*dp, address.clone())) {
                continue;
            }
            // The mrouters row goes only with snooping (ip_mcast_sync skips it otherwise).
            let snooping = self.dps.get(dp).is_some_and(|s| s.cfg.enabled);
            if address == MROUTERS && snooping {
                continue;
            }
            if address != MROUTERS && parse_address(address).is_none() {
                continue;
            }
            let _ = ports;
            out.push(IntentKind::IgmpGroup { datapath_key: *dp, address: address.clone(), ports: None });
        }
        for ((dp, address), ports) in want {
            if have.get(&(dp, address.clone())) != Some(&ports) {
                out.push(IntentKind::IgmpGroup { datapath_key: dp, address, ports: Some(ports) });
            }
        }
        out
    }

    /// One `igmp` packet-in from port `in_port` of datapath `dp`.
    pub fn handle(&mut self, h: &Headers<'_>, dp: u32, in_port: u32, now: Instant) -> Result<Handled, Refused> {
        if !matches!(h.net, Net::Ipv4 { .. } | Net::Ipv6 { .. }) {
            return Err(Refused("IGMP action on non-IP packet"));
        }
        let Some(s) = self.dps.get_mut(&dp).filter(|s| s.cfg.enabled) else {
            // Snooping is not configured or disabled here.
            return Ok(Handled::default());
        };
        let mut out = Handled::default();
        let forward_to = match h.net {
            Net::Ipv4 { proto: IPPROTO_IGMP, .. } => {
                let b = l4_bounded(h).ok_or(Refused("multicast snooping received a truncated IGMP packet"))?;
                if b.len() < 8 || csum(b) != 0 {
                    return Err(Refused("multicast snooping received bad IGMP checksum"));
                }
                let ty = b.first().copied().unwrap_or(0);
                let group = b.get(4..8).and_then(|g| <[u8; 4]>::try_from(g).ok()).map(Ipv4Addr::from);
                match (ty, group) {
                    (IGMPV1_REPORT | IGMPV2_REPORT, Some(g)) if snoopable_v4(g) => {
                        out.changed = s.add(v4_mapped(g), in_port, now)
                    }
                    (IGMP_LEAVE, Some(g)) if snoopable_v4(g) => out.changed = s.leave(v4_mapped(g), in_port),
                    (IGMP_QUERY, _) => out.changed = s.add_mrouter(in_port, now),
                    (IGMPV3_REPORT, _) => out.changed = v3_report(s, b, in_port, now),
                    _ => {}
                }
                match ty {
                    IGMPV1_REPORT | IGMPV2_REPORT | IGMPV3_REPORT | IGMP_LEAVE => Some(MROUTER_FLOOD_KEY),
                    IGMP_QUERY => Some(FLOOD_L2_KEY),
                    _ => None,
                }
            }
            Net::Ipv6 { src, dst, .. } => {
                let L4::Icmpv6 { ty, .. } = h.l4 else { return Err(Refused("IGMP action on a non-MLD packet")) };
                let b = l4_bounded(h).ok_or(Refused("multicast snooping received a truncated MLD packet"))?;
                if b.len() < 24 || !mld_checksum_ok(src, dst, b) {
                    return Err(Refused("multicast snooping received bad MLD checksum"));
                }
                match ty {
                    MLD_QUERY if !src.is_unspecified() => out.changed = s.add_mrouter(in_port, now),
                    MLD_REPORT => {
                        if let Some(g) = ipv6_at(b, 8).filter(snoopable_v6) {
                            out.changed = s.add(g, in_port, now);
                        }
                    }
                    MLD_DONE => {
                        if let Some(g) = ipv6_at(b, 8).filter(snoopable_v6) {
                            out.changed = s.leave(g, in_port);
                        }
                    }
                    MLD2_REPORT => out.changed = mld2_report(s, b, in_port, now),
                    _ => {}
                }
                match ty {
                    MLD_REPORT | MLD_DONE | MLD2_REPORT => Some(MROUTER_FLOOD_KEY),
                    MLD_QUERY => Some(FLOOD_L2_KEY),
                    _ => None,
                }
            }
            _ => return Err(Refused("IGMP action on a non-IGMP packet")),
        };
        if let Some(out_key) = forward_to {
            out.messages.push(forward(h.data.to_vec(), dp, in_port, out_key));
        }
        Ok(out)
    }
}

/// mcast_snooping_add_report: each group record joins, or leaves when it is an
/// include-mode record without sources.
fn v3_report(s: &mut Snoop, b: &[u8], port: u32, now: Instant) -> bool {
    let Some(n) = be16_at(b, 6) else { return false };
    let mut at = 8usize;
    let mut changed = false;
    for _ in 0..n {
        let (Some(&ty), Some(&aux), Some(nsrcs)) = (b.get(at), b.get(at + 1), be16_at(b, at + 2)) else { break };
        let Some(g) = b.get(at + 4..at + 8).and_then(|g| <[u8; 4]>::try_from(g).ok()).map(Ipv4Addr::from) else {
            break;
        };
        if snoopable_v4(g) {
            changed |= if (ty == MODE_IS_INCLUDE || ty == CHANGE_TO_INCLUDE) && nsrcs == 0 {
                s.leave(v4_mapped(g), port)
            } else {
                s.add(v4_mapped(g), port, now)
            };
        }
        at += 8 + 4 * nsrcs + 4 * usize::from(aux);
    }
    changed
}

/// mcast_snooping_add_mld for MLDv2 reports.
fn mld2_report(s: &mut Snoop, b: &[u8], port: u32, now: Instant) -> bool {
    let Some(n) = be16_at(b, 6) else { return false };
    let mut at = 8usize;
    let mut changed = false;
    for _ in 0..n {
        let (Some(&ty), Some(&aux), Some(nsrcs)) = (b.get(at), b.get(at + 1), be16_at(b, at + 2)) else { break };
        let Some(g) = ipv6_at(b, at + 4) else { break };
        if snoopable_v6(&g) {
            changed |= if (ty == MODE_IS_INCLUDE || ty == CHANGE_TO_INCLUDE) && nsrcs == 0 {
                s.leave(g, port)
            } else {
                s.add(g, port, now)
            };
        }
        at += 20 + 16 * nsrcs + 4 * usize::from(aux);
    }
    changed
}

/// pinctrl_forward_pkt: the packet back into the pipeline's output stage, from `in_port`
/// to the multicast group `out_key` of datapath `dp`.
pub fn forward(packet: Vec<u8>, dp: u32, in_port: u32, out_key: u32) -> Message {
    let mut metadata = Match::new();
    let _ = metadata.set_u128(Field::IN_PORT, u128::from(ports::CONTROLLER));
    let actions = vec![
        Action::SetField { field: Field::METADATA, value: u64::from(dp).to_be_bytes().to_vec(), mask: None },
        Action::SetField { field: Field::REG14, value: in_port.to_be_bytes().to_vec(), mask: None },
        Action::SetField { field: Field::REG15, value: out_key.to_be_bytes().to_vec(), mask: None },
        Action::Resubmit { in_port: ports::CONTROLLER, table: tables::OUTPUT_INIT, ct: false },
    ];
    Message::PacketOut(PacketOut { buffer_id: NO_BUFFER, metadata, actions, data: packet })
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub fn state(enabled: bool, seq_no: i64) -> State {
        State::from_records([
            Record::Datapath { key: 1, uuid: String::new(), name: "ls".into() },
            Record::IpMulticast { datapath_key: 1, enabled, table_size: 2, idle_timeout: 30, seq_no, querier: None },
        ])
    }

    /// An IGMP message of type `ty` for `group` (IPv4, router alert option).
    pub fn igmp(ty: u8, group: [u8; 4]) -> Vec<u8> {
        let mut m = vec![ty, 0, 0, 0];
        m.extend_from_slice(&group);
        let c = csum(&m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        let mut ip = vec![0x46, 0xc0, 0, 32, 0, 0, 0x40, 0, 1, IPPROTO_IGMP, 0, 0, 10, 0, 0, 2];
        ip.extend_from_slice(&group);
        ip.extend_from_slice(&[0x94, 4, 0, 0]);
        let c = csum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let mut p = crate::compose::eth_header([1, 0, 0x5e, 0, 0, 1], [0x50, 0x54, 0, 0, 0, 1], 0x0800);
        p.extend_from_slice(&ip);
        p.extend_from_slice(&m);
        p.resize(60, 0);
        p
    }

    fn h(p: &[u8]) -> Headers<'_> {
        Headers::parse(p).unwrap()
    }

    #[test]
    fn a_join_becomes_an_igmp_group_row_and_a_leave_removes_it() {
        let st = state(true, 0);
        let mut m = Snooping::default();
        // mrouters row first, empty.
        assert_eq!(
            m.sync(&st),
            vec![IntentKind::IgmpGroup { datapath_key: 1, address: MROUTERS.into(), ports: Some(vec![]) }]
        );
        let now = Instant::now();
        let join = igmp(IGMPV2_REPORT, [239, 1, 1, 1]);
        let r = m.handle(&h(&join), 1, 5, now).unwrap();
        assert!(r.changed);
        let [Message::PacketOut(po)] = r.messages.as_slice() else { panic!() };
        assert!(po.actions.contains(&Action::SetField {
            field: Field::REG15,
            value: MROUTER_FLOOD_KEY.to_be_bytes().to_vec(),
            mask: None
        }));
        let intents = m.sync(&st);
        assert!(intents.contains(&IntentKind::IgmpGroup {
            datapath_key: 1,
            address: "239.1.1.1".into(),
            ports: Some(vec![5])
        }));
        // Once the row is there, nothing more to write.
        let mut recs: Vec<Record> = st.records().cloned().collect();
        recs.push(Record::IgmpGroup { datapath_key: 1, address: "239.1.1.1".into(), ports: vec![5] });
        recs.push(Record::IgmpGroup { datapath_key: 1, address: MROUTERS.into(), ports: vec![] });
        let st2 = State::from_records(recs);
        assert!(m.sync(&st2).is_empty());
        // A repeat refreshes without a change; a leave deletes.
        assert!(!m.handle(&h(&join), 1, 5, now).unwrap().changed);
        assert!(m.handle(&h(&igmp(IGMP_LEAVE, [239, 1, 1, 1])), 1, 5, now).unwrap().changed);
        assert_eq!(
            m.sync(&st2),
            vec![IntentKind::IgmpGroup { datapath_key: 1, address: "239.1.1.1".into(), ports: None }]
        );
    }

    #[test]
    fn groups_expire_after_the_idle_timeout_and_flush_on_seq_no() {
        let mut m = Snooping::default();
        m.sync(&state(true, 0));
        let now = Instant::now();
        m.handle(&h(&igmp(IGMPV2_REPORT, [239, 1, 1, 1])), 1, 5, now).unwrap();
        assert_eq!(m.deadline(), Some(now + Duration::from_secs(30)));
        assert!(!m.run(now + Duration::from_secs(29)));
        assert!(m.run(now + Duration::from_secs(31)));
        assert_eq!(m.groups(), 0);
        m.handle(&h(&igmp(IGMPV2_REPORT, [239, 1, 1, 2])), 1, 5, now).unwrap();
        m.sync(&state(true, 1));
        assert_eq!(m.groups(), 0);
    }

    #[test]
    fn table_size_evicts_and_bad_packets_are_refused() {
        let mut m = Snooping::default();
        m.sync(&state(true, 0));
        let now = Instant::now();
        for (i, g) in [[239, 1, 1, 1], [239, 1, 1, 2], [239, 1, 1, 3]].into_iter().enumerate() {
            m.handle(&h(&igmp(IGMPV2_REPORT, g)), 1, 5, now + Duration::from_secs(i as u64)).unwrap();
        }
        assert_eq!(m.groups(), 2);
        // Local-scope groups are not snooped.
        assert!(!m.handle(&h(&igmp(IGMPV2_REPORT, [224, 0, 0, 5])), 1, 5, now).unwrap().changed);
        let mut bad = igmp(IGMPV2_REPORT, [239, 1, 1, 9]);
        bad[14 + 24 + 2] ^= 0xff;
        assert!(m.handle(&h(&bad), 1, 5, now).is_err());
        for n in 14..bad.len() {
            if let Ok(hh) = Headers::parse(&bad[..n]) {
                let _ = m.handle(&hh, 1, 5, now);
            }
        }
        // Disabled: no snooping, and the rows go.
        let mut off = Snooping::default();
        let mut recs: Vec<Record> = state(false, 0).records().cloned().collect();
        recs.push(Record::IgmpGroup { datapath_key: 1, address: "239.1.1.1".into(), ports: vec![5] });
        let st = State::from_records(recs);
        assert_eq!(
            off.sync(&st),
            vec![IntentKind::IgmpGroup { datapath_key: 1, address: "239.1.1.1".into(), ports: None }]
        );
        assert!(off.handle(&h(&igmp(IGMPV2_REPORT, [239, 1, 1, 1])), 1, 5, now).unwrap().messages.is_empty());
    }

    #[test]
    fn igmpv3_and_mld_reports() {
        let mut m = Snooping::default();
        m.sync(&state(true, 0));
        let now = Instant::now();
        // IGMPv3: two records, EXCLUDE{} (join) 239.2.2.2 and TO_IN{} (leave) 239.1.1.1.
        let mut v3 = vec![IGMPV3_REPORT, 0, 0, 0, 0, 0, 0, 2, 4, 0, 0, 0, 239, 2, 2, 2, 3, 0, 0, 0, 239, 1, 1, 1];
        let c = csum(&v3);
        v3[2..4].copy_from_slice(&c.to_be_bytes());
        let mut ip = vec![0x45, 0xc0, 0, 44, 0, 0, 0x40, 0, 1, IPPROTO_IGMP, 0, 0, 10, 0, 0, 2, 224, 0, 0, 22];
        let c = csum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let mut p = crate::compose::eth_header([1, 0, 0x5e, 0, 0, 22], [0x50, 0x54, 0, 0, 0, 1], 0x0800);
        p.extend_from_slice(&ip);
        p.extend_from_slice(&v3);
        assert!(m.handle(&h(&p), 1, 7, now).unwrap().changed);
        assert_eq!(m.groups(), 1);
        // MLDv1 report for ff0e::1.
        let g: Ipv6Addr = "ff0e::1".parse().unwrap();
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let mut mld = vec![MLD_REPORT, 0, 0, 0, 0, 0, 0, 0];
        mld.extend_from_slice(&g.octets());
        let mut pseudo = src.octets().to_vec();
        pseudo.extend_from_slice(&g.octets());
        pseudo.extend_from_slice(&24u32.to_be_bytes());
        pseudo.extend_from_slice(&[0, 0, 0, IPPROTO_ICMPV6]);
        pseudo.extend_from_slice(&mld);
        let c = csum(&pseudo);
        mld[2..4].copy_from_slice(&c.to_be_bytes());
        let p6 =
            crate::compose::ipv6([0x50, 0x54, 0, 0, 0, 1], [0x33, 0x33, 0, 0, 0, 1], src, g, IPPROTO_ICMPV6, 1, &mld);
        assert!(m.handle(&h(&p6), 1, 7, now).unwrap().changed);
        let intents = m.sync(&state(true, 0));
        assert!(intents.contains(&IntentKind::IgmpGroup {
            datapath_key: 1,
            address: "ff0e::1".into(),
            ports: Some(vec![7])
        }));
    }
}
