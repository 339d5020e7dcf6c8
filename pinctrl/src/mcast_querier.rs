//! The IGMP/MLD querier (23.03's ip_mcast_snoop_cfg_load querier part, ip_mcast_querier_run,
//! ip_mcast_querier_send_igmp / _mld): on every local datapath whose IP_Multicast row has
//! snooping and the querier on, with a valid Ethernet source and an IPv4 and/or IPv6
//! source, a general query every query interval, the first one at once. Each is injected
//! into the datapath's local output stage for the flood group, so every local port of the
//! switch gets it. Sans-IO.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use shared::openflow::actions::ports;
use shared::openflow::flow_match::Match;
use shared::openflow::messages::{PacketOut, NO_BUFFER};
use shared::openflow::{Action, Field, Message};
use shared::ovn::tables;
use shared::pinctrl_link::{McastQuerier, Record, State};

use crate::compose::{self, csum};
use crate::mcast::IPPROTO_IGMP;

/// OVN_MCAST_FLOOD_TUNNEL_KEY (lib/mcast-group-index.h).
const FLOOD_KEY: u32 = 32768;
/// OVN_MCAST_DEFAULT_IDLE_TIMEOUT_S, OVN_MCAST_MIN_QUERY_INTERVAL_S,
/// OVN_MCAST_DEFAULT_QUERY_MAX_RESPONSE_S.
const DEFAULT_IDLE_TIMEOUT_S: u32 = 300;
const MIN_QUERY_INTERVAL_S: u32 = 1;
const DEFAULT_QUERY_MAX_RESPONSE_S: u32 = 1;
/// The bit of reg10 23.03's queries set: put_load(1, MFF_LOG_FLAGS, MLF_LOCAL_ONLY, 1) passes
/// the flag's value (1 << 4) as the bit offset. No flow tests bit 16; the resubmit to the
/// local output stage is what keeps the queries local.
const QUERY_FLAG_BIT: u32 = 1 << 16;
const IGMP_QUERY: u8 = 0x11;
const MLD_QUERY: u8 = 130;
const IPPROTO_HOPOPTS: u8 = 0;
/// MLD router-alert hop-by-hop option.
const MLD_ROUTER_ALERT: [u8; 4] = [0x05, 0x02, 0x00, 0x00];

#[derive(Debug, Clone, PartialEq, Eq)]
struct Cfg {
    eth_src: [u8; 6],
    ip4_src: Option<Ipv4Addr>,
    ip6_src: Option<Ipv6Addr>,
    interval_s: u32,
    max_resp_s: u32,
}

#[derive(Debug)]
struct Querier {
    cfg: Cfg,
    next: Instant,
}

/// The queriers of this chassis's datapaths.
#[derive(Debug, Default)]
pub struct Queriers {
    dps: BTreeMap<u32, Querier>,
    pub sent: u64,
    /// The settings last warned about per datapath, so a bad row is logged once.
    warned: BTreeMap<u32, McastQuerier>,
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut out {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// The querier configuration of one IP_Multicast record, or None (querier off, or its
/// settings invalid, which 23.03 logs and treats as off).
fn load(r: &Record) -> Option<(u32, Cfg, bool)> {
    let Record::IpMulticast { datapath_key, enabled, idle_timeout, querier: Some(q), .. } = r else { return None };
    if !enabled {
        return None;
    }
    let idle = if *idle_timeout == 0 { DEFAULT_IDLE_TIMEOUT_S } else { *idle_timeout };
    let interval_s = q.query_interval.unwrap_or((idle / 2).max(MIN_QUERY_INTERVAL_S));
    let max_resp_s = q.query_max_resp.unwrap_or(DEFAULT_QUERY_MAX_RESPONSE_S);
    let ip4_src = q.ip4_src.parse().ok();
    let ip6_src = q.ip6_src.parse().ok();
    let mut valid = (q.ip4_src.is_empty() || ip4_src.is_some()) && (q.ip6_src.is_empty() || ip6_src.is_some());
    let eth_src = parse_mac(&q.eth_src);
    valid &= eth_src.is_some() && (ip4_src.is_some() || ip6_src.is_some());
    let cfg = Cfg { eth_src: eth_src?, ip4_src, ip6_src, interval_s, max_resp_s };
    (cfg.ip4_src.is_some() || cfg.ip6_src.is_some()).then_some((*datapath_key, cfg, valid))
}

/// The packet-out that injects `packet` into `dp`'s local output stage for the flood group.
fn inject(dp: u32, packet: Vec<u8>) -> Message {
    let mut metadata = Match::new();
    let _ = metadata.set_u128(Field::IN_PORT, u128::from(ports::CONTROLLER));
    let actions = vec![
        Action::SetField { field: Field::METADATA, value: u64::from(dp).to_be_bytes().to_vec(), mask: None },
        Action::SetField { field: Field::REG15, value: FLOOD_KEY.to_be_bytes().to_vec(), mask: None },
        Action::SetField {
            field: Field::REG10,
            value: QUERY_FLAG_BIT.to_be_bytes().to_vec(),
            mask: Some(QUERY_FLAG_BIT.to_be_bytes().to_vec()),
        },
        Action::Resubmit { in_port: ports::CONTROLLER, table: tables::LOCAL_OUTPUT, ct: false },
    ];
    Message::PacketOut(PacketOut { buffer_id: NO_BUFFER, metadata, actions, data: packet })
}

/// An IGMPv3 general query to 224.0.0.1, TTL 1; max response and QQIC in tenths of a
/// second, truncated to 8 bits as 23.03 does.
fn igmp_query(c: &Cfg, src: Ipv4Addr) -> Vec<u8> {
    let max_resp = c.max_resp_s.wrapping_mul(10) as u8;
    let mut igmp = vec![IGMP_QUERY, max_resp, 0, 0, 0, 0, 0, 0, 0, max_resp, 0, 0];
    let sum = csum(&igmp);
    igmp[2..4].copy_from_slice(&sum.to_be_bytes());
    let dst = Ipv4Addr::new(224, 0, 0, 1);
    compose::ipv4(c.eth_src, [0x01, 0x00, 0x5e, 0, 0, 1], src, dst, IPPROTO_IGMP, 1, &igmp)
}

/// An MLD general query to ff02::1 (Ethernet 33:33:00:00:00:00, as 23.03 sends it), hop
/// limit 1, behind a hop-by-hop header with router alert; maximum response delay in
/// milliseconds, QQIC in seconds, both truncated as 23.03 does.
fn mld_query(c: &Cfg, src: Ipv6Addr) -> Vec<u8> {
    let dst = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    let mut body = vec![crate::flow::IPPROTO_ICMPV6, 0];
    body.extend_from_slice(&MLD_ROUTER_ALERT);
    body.extend_from_slice(&[0, 0]);
    let mut mld = vec![MLD_QUERY, 0, 0, 0];
    mld.extend_from_slice(&(c.max_resp_s.wrapping_mul(1000) as u16).to_be_bytes());
    mld.extend_from_slice(&[0; 18]);
    mld.extend_from_slice(&[0, c.max_resp_s as u8, 0, 0]);
    let sum = compose::icmp6_checksum(src, dst, &mld);
    mld[2..4].copy_from_slice(&sum.to_be_bytes());
    body.extend_from_slice(&mld);
    compose::ipv6(c.eth_src, [0x33, 0x33, 0, 0, 0, 0], src, dst, IPPROTO_HOPOPTS, 1, &body)
}

impl Queriers {
    pub fn len(&self) -> usize {
        self.dps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dps.is_empty()
    }

    /// Follows the IP_Multicast records in `state` (ip_mcast_snoop_configure): a new querier
    /// queries at once; a shorter interval brings the next query forward; a querier whose
    /// row went away or turned off stops. Invalid settings are logged once per change.
    pub fn sync(&mut self, state: &State, now: Instant) {
        let mut seen = Vec::new();
        for r in state.records() {
            let Record::IpMulticast { datapath_key, querier: Some(raw), enabled: true, .. } = r else { continue };
            let loaded = load(r);
            if !loaded.as_ref().is_some_and(|(_, _, valid)| *valid) && self.warned.get(datapath_key) != Some(raw) {
                tracing::warn!(
                    "IGMP Querier of datapath {datapath_key} enabled with invalid or missing addresses \
                     (eth_src {:?}, ip4_src {:?}, ip6_src {:?})",
                    raw.eth_src,
                    raw.ip4_src,
                    raw.ip6_src
                );
                self.warned.insert(*datapath_key, raw.clone());
            }
            let Some((dp, cfg, _)) = loaded else { continue };
            seen.push(dp);
            match self.dps.get_mut(&dp) {
                Some(q) if q.cfg == cfg => {}
                Some(q) => {
                    if q.cfg.interval_s != cfg.interval_s
                        && q.next > now + Duration::from_secs(u64::from(cfg.interval_s))
                    {
                        q.next = now;
                    }
                    q.cfg = cfg;
                }
                None => {
                    self.dps.insert(dp, Querier { cfg, next: now });
                }
            }
        }
        self.dps.retain(|dp, _| seen.contains(dp));
    }

    /// The queries due at `now` (ip_mcast_querier_send), each datapath's next one scheduled
    /// an interval later (at least a second).
    pub fn due(&mut self, now: Instant) -> Vec<Message> {
        let mut out = Vec::new();
        for (dp, q) in &mut self.dps {
            if q.next > now {
                continue;
            }
            if let Some(src) = q.cfg.ip4_src {
                out.push(inject(*dp, igmp_query(&q.cfg, src)));
            }
            if let Some(src) = q.cfg.ip6_src {
                out.push(inject(*dp, mld_query(&q.cfg, src)));
            }
            q.next = now + Duration::from_secs(u64::from(q.cfg.interval_s.max(MIN_QUERY_INTERVAL_S)));
        }
        self.sent += out.len() as u64;
        out
    }

    /// When the next query is due.
    pub fn deadline(&self) -> Option<Instant> {
        self.dps.values().map(|q| q.next).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(querier: Option<McastQuerier>, enabled: bool) -> State {
        State::from_records([Record::IpMulticast {
            datapath_key: 1,
            enabled,
            table_size: 0,
            idle_timeout: 300,
            seq_no: 0,
            querier,
        }])
    }

    fn q(ip4: &str, ip6: &str, interval: Option<u32>) -> McastQuerier {
        McastQuerier {
            eth_src: "00:00:00:00:00:fe".into(),
            ip4_src: ip4.into(),
            ip6_src: ip6.into(),
            query_interval: interval,
            query_max_resp: Some(2),
        }
    }

    fn data(m: &Message) -> &[u8] {
        match m {
            Message::PacketOut(p) => &p.data,
            _ => panic!("{m:?}"),
        }
    }

    /// The bytes 23.03.1 sent for this configuration (recorded from its tx pcap).
    #[test]
    fn queries_are_the_bytes_23_03_sends() {
        let mut qs = Queriers::default();
        let now = Instant::now();
        qs.sync(&state(Some(q("10.0.0.254", "fe80::fe", Some(1))), true), now);
        let out = qs.due(now);
        assert_eq!(out.len(), 2);
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(
            hex(data(&out[0])),
            "01005e0000010000000000fe0800450000200000400001028edd0a0000fee00000011114eed70000000000140000"
        );
        assert_eq!(
            hex(data(&out[1])),
            "3333000000000000000000fe86dd6000000000240001fe8000000000000000000000000000feff02000000000000\
             00000000000000013a000502000000008200775407d000000000000000000000000000000000000000020000"
        );
        let Message::PacketOut(po) = &out[0] else { panic!() };
        assert_eq!(po.actions.last(), Some(&Action::Resubmit { in_port: ports::CONTROLLER, table: 40, ct: false }));
        assert!(shared::openflow::OfMessage::new(1, out[0].clone()).try_encode().is_ok());
    }

    #[test]
    fn periodic_and_following_the_configuration() {
        let mut qs = Queriers::default();
        let now = Instant::now();
        // Interval from the idle timeout (300 / 2), IPv4 only.
        qs.sync(&state(Some(q("10.0.0.254", "", None)), true), now);
        assert_eq!(qs.deadline(), Some(now));
        assert_eq!(qs.due(now).len(), 1);
        assert_eq!(qs.deadline(), Some(now + Duration::from_secs(150)));
        assert!(qs.due(now + Duration::from_secs(149)).is_empty());
        // A shorter interval brings the next query forward.
        let later = now + Duration::from_secs(10);
        qs.sync(&state(Some(q("10.0.0.254", "", Some(5))), true), later);
        assert_eq!(qs.deadline(), Some(later));
        // Off, snooping off, or invalid: no querier.
        for st in [
            state(None, true),
            state(Some(q("10.0.0.254", "", None)), false),
            state(Some(q("bad", "", None)), true),
            state(Some(q("", "", None)), true),
        ] {
            let mut qs = Queriers::default();
            qs.sync(&st, now);
            assert!(qs.is_empty() && qs.due(now).is_empty());
        }
        let mut bad_mac = q("10.0.0.254", "", None);
        bad_mac.eth_src = "00:00:00:00:00".into();
        qs.sync(&state(Some(bad_mac), true), now);
        assert!(qs.is_empty());
    }
}
