//! IPv6 router advertisements and neighbor advertisements, after 23.03's pinctrl.c:
//! `put_nd_ra_opts` (pinctrl_handle_put_nd_ra_opts: a router solicitation answered with the
//! RA northd encoded in the userdata), `nd_na{}` / `nd_na_router{}` (pinctrl_handle_nd_na,
//! OVS's compose_nd_na), and periodic RAs (ipv6_ra_update_config, ipv6_ra_send,
//! send_ipv6_ras) for router ports with `ipv6_ra_send_periodic`. Sans-IO: the scheduler
//! takes the time and returns packet-outs.

use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use shared::openflow::actions::ports;
use shared::openflow::flow_match::Match;
use shared::openflow::messages::{PacketOut, NO_BUFFER};
use shared::openflow::{Action, Field, Message};
use shared::ovn::logical_fields::flags;
use shared::ovn::tables;
use shared::pinctrl_link::{Record, State};

use crate::compose::{self, icmp6_checksum};
use crate::flow::{Headers, Net, IPPROTO_ICMPV6, L4};

const ND_ROUTER_SOLICIT: u8 = 133;
const ND_ROUTER_ADVERT: u8 = 134;
const ND_NEIGHBOR_SOLICIT: u8 = 135;
const ND_NEIGHBOR_ADVERT: u8 = 136;
const ND_OPT_SOURCE_LINKADDR: u8 = 1;
const ND_OPT_TARGET_LINKADDR: u8 = 2;
const ND_OPT_PREFIX_INFORMATION: u8 = 3;
const ND_OPT_MTU: u8 = 5;
const ND_OPT_RDNSS: u8 = 25;

const MO_MANAGED: u8 = 0x80;
const MO_OTHER: u8 = 0x40;
const PRF_HIGH: u8 = 0x08;
const PRF_LOW: u8 = 0x18;
const LA_ON_LINK: u8 = 0x80;
const LA_AUTONOMOUS: u8 = 0x40;
const RA_LIFETIME: u16 = 0xffff;

const RSO_ROUTER: u32 = 0x8000_0000;
const RSO_SOLICITED: u32 = 0x4000_0000;
const RSO_OVERRIDE: u32 = 0x2000_0000;

/// `ND_RA_MAX_INTERVAL_DEFAULT` (s).
const MAX_INTERVAL_DEFAULT: u64 = 600;

/// An ICMPv6 packet with hop limit 255 around `icmp`, whose checksum this fills in.
fn icmp6_packet(eth_src: [u8; 6], eth_dst: [u8; 6], src: Ipv6Addr, dst: Ipv6Addr, mut icmp: Vec<u8>) -> Vec<u8> {
    let c = icmp6_checksum(src, dst, &icmp);
    if let Some(b) = icmp.get_mut(2..4) {
        b.copy_from_slice(&c.to_be_bytes());
    }
    compose::ipv6(eth_src, eth_dst, src, dst, IPPROTO_ICMPV6, 255, &icmp)
}

/// `put_nd_ra_opts`: the router solicitation in `h` becomes the advertisement `ra` (the
/// ICMPv6 message northd encoded), with the request's L2/L3 headers (the logical flows that
/// follow set the addresses).
pub fn put_nd_ra_opts(h: &Headers<'_>, ra: &[u8]) -> Result<Vec<u8>, &'static str> {
    if ra.is_empty() {
        return Err("IPv6 ND RA options not present in the userdata");
    }
    let (Net::Ipv6 { src, dst, .. }, L4::Icmpv6 { ty: ND_ROUTER_SOLICIT, code: 0 }, Some(l4_ofs)) =
        (&h.net, h.l4, h.l4_ofs)
    else {
        return Err("put_nd_ra action on invalid or unsupported packet");
    };
    if ra.first() != Some(&ND_ROUTER_ADVERT) || ra.len() < 4 {
        return Err("put_nd_ra_opts: userdata is not a router advertisement");
    }
    let plen = u16::try_from(ra.len()).map_err(|_| "RA too long")?;
    let head = h.data.get(..l4_ofs).ok_or("truncated packet")?;
    let mut out = head.to_vec();
    if let Some(b) = out.get_mut(h.l3_ofs + 4..h.l3_ofs + 6) {
        b.copy_from_slice(&plen.to_be_bytes());
    }
    let mut icmp = ra.to_vec();
    icmp[2..4].copy_from_slice(&[0, 0]);
    let c = icmp6_checksum(*src, *dst, &icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    out.extend_from_slice(&icmp);
    Ok(out)
}

/// `nd_na{}` (`router`: `nd_na_router{}`): a neighbor advertisement answering the
/// solicitation in `h`, from its target, with the target link-layer address option set to
/// the request's Ethernet destination (the nested actions set the real values).
pub fn nd_na(h: &Headers<'_>, router: bool) -> Result<Vec<u8>, &'static str> {
    let (Net::Ipv6 { src, .. }, L4::Icmpv6 { ty: ND_NEIGHBOR_SOLICIT | ND_NEIGHBOR_ADVERT, code: 0 }) = (&h.net, h.l4)
    else {
        return Err("NA action on non-ND packet");
    };
    let target: [u8; 16] = h.l4().get(8..24).and_then(|b| b.try_into().ok()).ok_or("NA action on non-ND packet")?;
    let target = Ipv6Addr::from(target);
    let mut rso = RSO_SOLICITED | RSO_OVERRIDE;
    if router {
        rso |= RSO_ROUTER;
    }
    let mut icmp = vec![ND_NEIGHBOR_ADVERT, 0, 0, 0];
    icmp.extend_from_slice(&rso.to_be_bytes());
    icmp.extend_from_slice(&target.octets());
    icmp.extend_from_slice(&[ND_OPT_TARGET_LINKADDR, 1]);
    icmp.extend_from_slice(&h.dl_dst);
    Ok(icmp6_packet(h.dl_dst, h.dl_src, target, *src, icmp))
}

/// A port's periodic RA configuration (`ipv6_ra_update_config`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaConfig {
    pub min_interval: u64,
    pub max_interval: u64,
    pub eth_src: [u8; 6],
    pub ipv6_src: Ipv6Addr,
    pub mtu: u32,
    pub mo_flags: u8,
    pub la_flags: u8,
    pub prefixes: Vec<(Ipv6Addr, u8)>,
    pub rdnss: Option<Ipv6Addr>,
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut m = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut m {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(m)
}

impl RaConfig {
    /// From the Port_Binding's `ipv6_ra_*` options; None where 23.03 gives up ("No address
    /// mode specified", invalid prefixes or sources).
    pub fn from_options(o: &BTreeMap<String, String>) -> Option<RaConfig> {
        let int = |k: &str| o.get(k).and_then(|v| v.trim().parse::<i64>().ok());
        let max_interval = int("ipv6_ra_max_interval").map_or(MAX_INTERVAL_DEFAULT, |v| v.max(0) as u64);
        let min_default = if max_interval >= 9 { max_interval / 3 } else { max_interval * 3 / 4 };
        let min_interval = int("ipv6_ra_min_interval").map_or(min_default, |v| v.max(0) as u64);
        let mtu = int("ipv6_ra_mtu").map_or(0, |v| u32::try_from(v).unwrap_or(0));
        let (mut mo_flags, mut la_flags) = (0u8, LA_ON_LINK);
        match o.get("ipv6_ra_address_mode").map(String::as_str)? {
            "dhcpv6_stateless" => {
                mo_flags |= MO_OTHER;
                la_flags |= LA_AUTONOMOUS;
            }
            "dhcpv6_stateful" => mo_flags |= MO_MANAGED,
            "slaac" => la_flags |= LA_AUTONOMOUS,
            _ => return None,
        }
        match o.get("ipv6_ra_prf").map(String::as_str) {
            Some("HIGH") => mo_flags |= PRF_HIGH,
            Some("LOW") => mo_flags |= PRF_LOW,
            _ => {}
        }
        let mut prefixes = Vec::new();
        if let Some(p) = o.get("ipv6_ra_prefixes") {
            for tok in p.split_whitespace() {
                let (addr, plen) = tok.split_once('/').unwrap_or((tok, "128"));
                match addr.parse::<std::net::IpAddr>().ok()? {
                    std::net::IpAddr::V6(a) => prefixes.push((a, plen.parse::<u8>().ok().filter(|p| *p <= 128)?)),
                    std::net::IpAddr::V4(_) => {}
                }
            }
        }
        let eth_src = parse_mac(o.get("ipv6_ra_src_eth")?)?;
        let ipv6_src = o.get("ipv6_ra_src_addr")?.parse().ok()?;
        let rdnss = match o.get("ipv6_ra_rdnss") {
            Some(r) => Some(r.parse().ok()?),
            None => None,
        };
        Some(RaConfig { min_interval, max_interval, eth_src, ipv6_src, mtu, mo_flags, la_flags, prefixes, rdnss })
    }

    /// The advertisement `ipv6_ra_send` composes: to all nodes, hop limit 255, router
    /// lifetime 0xffff, SLL, MTU (if set), prefixes (infinite lifetimes), RDNSS.
    pub fn packet(&self) -> Vec<u8> {
        let mut icmp = vec![ND_ROUTER_ADVERT, 0, 0, 0, 255, self.mo_flags];
        icmp.extend_from_slice(&RA_LIFETIME.to_be_bytes());
        icmp.extend_from_slice(&[0; 8]); // reachable time, retrans timer
        icmp.extend_from_slice(&[ND_OPT_SOURCE_LINKADDR, 1]);
        icmp.extend_from_slice(&self.eth_src);
        if self.mtu != 0 {
            icmp.extend_from_slice(&[ND_OPT_MTU, 1, 0, 0]);
            icmp.extend_from_slice(&self.mtu.to_be_bytes());
        }
        for (prefix, plen) in &self.prefixes {
            icmp.extend_from_slice(&[ND_OPT_PREFIX_INFORMATION, 4, *plen, self.la_flags]);
            icmp.extend_from_slice(&u32::MAX.to_be_bytes());
            icmp.extend_from_slice(&u32::MAX.to_be_bytes());
            icmp.extend_from_slice(&[0; 4]);
            icmp.extend_from_slice(&prefix.octets());
        }
        if let Some(dns) = self.rdnss {
            icmp.extend_from_slice(&[ND_OPT_RDNSS, 3, 0, 0]);
            icmp.extend_from_slice(&u32::MAX.to_be_bytes());
            icmp.extend_from_slice(&dns.octets());
        }
        let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
        icmp6_packet(self.eth_src, [0x33, 0x33, 0, 0, 0, 1], self.ipv6_src, all_nodes, icmp)
    }
}

struct RaState {
    config: RaConfig,
    datapath_key: u32,
    port_key: u32,
    next: Instant,
}

/// The periodic advertisements (`prepare_ipv6_ras` + `send_ipv6_ras`).
#[derive(Default)]
pub struct RaScheduler {
    ras: BTreeMap<String, RaState>,
    seed: u64,
    pub sent: u64,
}

impl RaScheduler {
    /// A scheduler whose random intervals start from `seed`.
    pub fn with_seed(seed: u64) -> RaScheduler {
        RaScheduler { seed: seed | 1, ..RaScheduler::default() }
    }

    /// A pseudo-random offset in `[0, span)` (23.03's random_range), from a xorshift.
    fn jitter(&mut self, span_ms: u64) -> Duration {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        if self.seed == 0 {
            self.seed = 0x9e37_79b9_7f4a_7c15;
        }
        Duration::from_millis(if span_ms == 0 { 0 } else { self.seed % span_ms })
    }

    fn next_announce(&mut self, now: Instant, c: &RaConfig) -> Instant {
        let span = c.max_interval.saturating_sub(c.min_interval).saturating_mul(1000);
        now + Duration::from_secs(c.min_interval) + self.jitter(span)
    }

    /// Follows the RaPort records of `state`: new ports first announce after a random
    /// interval, as 23.03's do; a changed interval reschedules.
    pub fn sync(&mut self, state: &State, now: Instant) {
        let mut keep = BTreeMap::new();
        for r in state.records() {
            let Record::RaPort { name, datapath_key, port_key, options } = r else { continue };
            let Some(config) = RaConfig::from_options(options) else { continue };
            let next = match self.ras.remove(name) {
                Some(old)
                    if old.config.min_interval == config.min_interval
                        && old.config.max_interval == config.max_interval =>
                {
                    old.next
                }
                _ => self.next_announce(now, &config),
            };
            keep.insert(name.clone(), RaState { config, datapath_key: *datapath_key, port_key: *port_key, next });
        }
        self.ras = keep;
    }

    /// The earliest time an advertisement is due, if any port sends them.
    pub fn deadline(&self) -> Option<Instant> {
        self.ras.values().map(|r| r.next).min()
    }

    /// The advertisements due at `now`, as packet-outs into the peer switch's ingress
    /// pipeline (inport the peer port, flags.local_only).
    pub fn due(&mut self, now: Instant) -> Vec<Message> {
        let mut out = Vec::new();
        let names: Vec<String> = self.ras.iter().filter(|(_, r)| r.next <= now).map(|(n, _)| n.clone()).collect();
        for name in names {
            let Some(r) = self.ras.get(&name) else { continue };
            let (packet, dp, port, config) = (r.config.packet(), r.datapath_key, r.port_key, r.config.clone());
            out.push(packet_out_to_pipeline(packet, dp, port));
            let next = self.next_announce(now, &config);
            if let Some(r) = self.ras.get_mut(&name) {
                r.next = next;
            }
            self.sent += 1;
        }
        out
    }

    pub fn len(&self) -> usize {
        self.ras.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ras.is_empty()
    }
}

/// A packet-out that runs `packet` through the logical ingress pipeline of datapath `dp` as
/// if it came in on port `port`, local only (ipv6_ra_send's actions).
pub fn packet_out_to_pipeline(packet: Vec<u8>, dp: u32, port: u32) -> Message {
    let bit = flags::LOCAL_ONLY;
    let actions = vec![
        Action::SetField { field: Field::METADATA, value: u64::from(dp).to_be_bytes().to_vec(), mask: None },
        Action::SetField { field: Field::REG14, value: port.to_be_bytes().to_vec(), mask: None },
        Action::SetField {
            field: Field::REG10,
            value: bit.to_be_bytes().to_vec(),
            mask: Some(bit.to_be_bytes().to_vec()),
        },
        Action::Resubmit { in_port: ports::CONTROLLER, table: tables::LOG_INGRESS_PIPELINE, ct: false },
    ];
    let mut metadata = Match::new();
    let _ = metadata.set_u128(Field::IN_PORT, u128::from(ports::CONTROLLER));
    Message::PacketOut(PacketOut { buffer_id: NO_BUFFER, metadata, actions, data: packet })
}

#[cfg(test)]
pub mod tests {
    use super::*;

    fn options() -> BTreeMap<String, String> {
        [
            ("ipv6_ra_address_mode", "slaac"),
            ("ipv6_ra_max_interval", "4"),
            ("ipv6_ra_min_interval", "3"),
            ("ipv6_ra_mtu", "1400"),
            ("ipv6_ra_prefixes", "aef0::/64"),
            ("ipv6_ra_src_eth", "00:00:00:00:ff:01"),
            ("ipv6_ra_src_addr", "fe80::200:ff:fe00:ff01"),
            ("ipv6_ra_rdnss", "aef0::1"),
            ("ipv6_ra_prf", "HIGH"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    pub fn rs() -> Vec<u8> {
        let src: Ipv6Addr = "fe80::5054:ff:fe00:1".parse().unwrap();
        let dst: Ipv6Addr = "ff02::2".parse().unwrap();
        let mut icmp = vec![ND_ROUTER_SOLICIT, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0x50, 0x54, 0, 0, 0, 1];
        let c = icmp6_checksum(src, dst, &icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        compose::ipv6([0x50, 0x54, 0, 0, 0, 1], [0x33, 0x33, 0, 0, 0, 2], src, dst, IPPROTO_ICMPV6, 255, &icmp)
    }

    #[test]
    fn solicitation_is_answered_with_the_userdata_ra() {
        let p = rs();
        let h = Headers::parse(&p).unwrap();
        let ra = vec![
            ND_ROUTER_ADVERT,
            0,
            0xaa,
            0xbb,
            255,
            0,
            0xff,
            0xff,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            1,
            1,
            0,
            0,
            0,
            0,
            0xff,
            1,
        ];
        let out = put_nd_ra_opts(&h, &ra).unwrap();
        let o = Headers::parse(&out).unwrap();
        assert_eq!(o.l4, L4::Icmpv6 { ty: ND_ROUTER_ADVERT, code: 0 });
        let Net::Ipv6 { src, dst, payload_len, .. } = o.net else { panic!() };
        assert_eq!(usize::from(payload_len), ra.len());
        assert_eq!(icmp6_checksum(src, dst, o.l4()), 0);
        assert_eq!(&o.l4()[4..], &ra[4..]);
        // Not a solicitation: refused.
        let na = nd_na(&h, false);
        assert!(na.is_err());
        let u = crate::handlers::tests::udp4();
        assert!(put_nd_ra_opts(&Headers::parse(&u).unwrap(), &ra).is_err());
    }

    #[test]
    fn neighbor_advertisement_for_the_target() {
        let vm = [0x50, 0x54, 0, 0, 0, 1];
        let src: Ipv6Addr = "aef0::5".parse().unwrap();
        let target: Ipv6Addr = "aef0::1".parse().unwrap();
        let mut icmp = vec![ND_NEIGHBOR_SOLICIT, 0, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&target.octets());
        icmp.extend_from_slice(&[1, 1]);
        icmp.extend_from_slice(&vm);
        let ns = icmp6_packet(vm, [0x33, 0x33, 0xff, 0, 0, 1], src, "ff02::1:ff00:1".parse().unwrap(), icmp);
        let h = Headers::parse(&ns).unwrap();
        let out = nd_na(&h, true).unwrap();
        let o = Headers::parse(&out).unwrap();
        assert_eq!(o.dl_dst, vm);
        let Net::Ipv6 { src: s, dst: d, hlim, .. } = o.net else { panic!() };
        assert_eq!((s, d, hlim), (target, src, 255));
        assert_eq!(o.l4, L4::Icmpv6 { ty: ND_NEIGHBOR_ADVERT, code: 0 });
        assert_eq!(&o.l4()[4..8], &(RSO_ROUTER | RSO_SOLICITED | RSO_OVERRIDE).to_be_bytes());
        assert_eq!(icmp6_checksum(s, d, o.l4()), 0);
    }

    #[test]
    fn periodic_ra_config_packet_and_schedule() {
        let c = RaConfig::from_options(&options()).unwrap();
        assert_eq!((c.min_interval, c.max_interval, c.mtu, c.mo_flags, c.la_flags), (3, 4, 1400, PRF_HIGH, 0xc0));
        let p = c.packet();
        let h = Headers::parse(&p).unwrap();
        assert_eq!(h.dl_dst, [0x33, 0x33, 0, 0, 0, 1]);
        let Net::Ipv6 { src, dst, .. } = h.net else { panic!() };
        assert_eq!(icmp6_checksum(src, dst, h.l4()), 0);
        // RA header 16, SLL 8, MTU 8, prefix 32, RDNSS 24.
        assert_eq!(h.l4().len(), 16 + 8 + 8 + 32 + 24);
        let mut o = options();
        o.remove("ipv6_ra_address_mode");
        assert!(RaConfig::from_options(&o).is_none());

        let state = State::from_records([Record::RaPort {
            name: "lrp0".into(),
            datapath_key: 1,
            port_key: 2,
            options: options(),
        }]);
        let mut s = RaScheduler::default();
        let t0 = Instant::now();
        s.sync(&state, t0);
        let d = s.deadline().unwrap();
        assert!(d >= t0 + Duration::from_secs(3) && d <= t0 + Duration::from_secs(4));
        assert!(s.due(t0).is_empty());
        let msgs = s.due(d);
        assert_eq!(msgs.len(), 1);
        let Message::PacketOut(po) = &msgs[0] else { panic!() };
        assert!(matches!(po.actions.last(), Some(Action::Resubmit { table: 8, .. })));
        assert!(s.deadline().unwrap() >= d + Duration::from_secs(3));
        s.sync(&State::default(), d);
        assert!(s.deadline().is_none());
    }
}
