//! Service_Monitor health checks and `handle_svc_check` (23.03's sync_svc_monitors,
//! svc_monitors_run, svc_monitor_send_*_health_check, pinctrl_handle_svc_check): a TCP SYN
//! (online on SYN+ACK, answered with RST+ACK; offline on RST or no answer within the
//! timeout) or a UDP datagram (offline on ICMP port unreachable, online otherwise) to each
//! backend bound here, every `interval` seconds; a changed verdict becomes a
//! Service_Monitor status intent. Sans-IO; replies are untrusted.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use shared::openflow::actions::ports;
use shared::openflow::flow_match::Match;
use shared::openflow::messages::{PacketOut, NO_BUFFER};
use shared::openflow::{Action, Field, Message};
use shared::ovn::logical_fields::flags;
use shared::ovn::tables;
use shared::pinctrl_link::{IntentKind, Record, State};

use crate::compose::{self, csum};
use crate::flow::{Headers, Net, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, L4};
use crate::handlers::Refused;

const TCP_FIN_SYN_RST_ACK: (u16, u16, u16) = (0x02, 0x04, 0x10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Proto {
    Tcp,
    Udp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Init,
    Waiting,
    Online,
    Offline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Unknown,
    Online,
    Offline,
}

type Key = (u32, u32, IpAddr, u16, Proto);

#[derive(Debug)]
struct Mon {
    uuid: String,
    ea: [u8; 6],
    src_mac: [u8; 6],
    src_ip: Option<IpAddr>,
    interval: Duration,
    timeout: Duration,
    success_count: u32,
    failure_count: u32,
    n_success: u32,
    n_failures: u32,
    state: St,
    status: Status,
    seq_no: u32,
    tp_src: u16,
    wait_time: Instant,
    next_send_time: Instant,
}

/// The service monitors of this chassis.
#[derive(Debug)]
pub struct SvcMonitors {
    mons: BTreeMap<Key, Mon>,
    rng: u64,
    /// SB status as last seen per row, to write only what differs.
    sb_status: BTreeMap<String, String>,
    pub probes_sent: u64,
}

impl Default for SvcMonitors {
    fn default() -> Self {
        SvcMonitors::with_seed(0x9e37_79b9_7f4a_7c15)
    }
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut m = [0u8; 6];
    let mut it = s.split(':');
    for b in &mut m {
        *b = u8::from_str_radix(it.next()?, 16).ok()?;
    }
    it.next().is_none().then_some(m)
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl SvcMonitors {
    pub fn with_seed(seed: u64) -> SvcMonitors {
        SvcMonitors { mons: BTreeMap::new(), rng: seed | 1, sb_status: BTreeMap::new(), probes_sent: 0 }
    }

    pub fn len(&self) -> usize {
        self.mons.len()
    }

    pub fn is_empty(&self) -> bool {
        self.mons.is_empty()
    }

    fn random(&mut self) -> u32 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }

    /// get_random_src_port: at least 1024.
    fn random_port(&mut self) -> u16 {
        loop {
            let p = (self.random() & 0xffff) as u16;
            if p >= 1024 {
                return p;
            }
        }
    }

    /// Follows flowctl's Service_Monitor records: new ones start unknown and are probed at
    /// once, options changes apply, gone ones stop. Returns the status writes that differ
    /// from the Southbound rows.
    pub fn sync(&mut self, state: &State, now: Instant) -> Vec<IntentKind> {
        let mut seen = Vec::new();
        self.sb_status.clear();
        for r in state.records() {
            let Record::ServiceMonitor {
                uuid,
                ip,
                port,
                protocol,
                datapath_key,
                port_key,
                mac,
                src_mac,
                src_ip,
                options,
                status,
            } = r
            else {
                continue;
            };
            let (Ok(ip), Some(ea)) = (ip.parse::<IpAddr>(), parse_mac(mac)) else { continue };
            let proto = if protocol == "udp" { Proto::Udp } else { Proto::Tcp };
            let key = (*datapath_key, *port_key, canonical(ip), *port, proto);
            let int = |k: &str, d: u64| options.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(d);
            let m = self.mons.entry(key).or_insert_with(|| Mon {
                uuid: uuid.clone(),
                ea,
                src_mac: [0; 6],
                src_ip: None,
                interval: Duration::ZERO,
                timeout: Duration::ZERO,
                success_count: 1,
                failure_count: 1,
                n_success: 0,
                n_failures: 0,
                state: St::Init,
                status: Status::Unknown,
                seq_no: 0,
                tp_src: 0,
                wait_time: now,
                next_send_time: now,
            });
            m.uuid = uuid.clone();
            m.ea = ea;
            m.src_mac = parse_mac(src_mac).unwrap_or([0; 6]);
            m.src_ip = src_ip.parse().ok();
            m.interval = Duration::from_secs(int("interval", 5));
            m.timeout = Duration::from_secs(int("timeout", 3));
            m.success_count = u32::try_from(int("success_count", 1)).unwrap_or(1);
            m.failure_count = u32::try_from(int("failure_count", 1)).unwrap_or(1);
            seen.push(key);
            self.sb_status.insert(uuid.clone(), status.clone());
        }
        self.mons.retain(|k, _| seen.contains(k));
        self.status_intents()
    }

    /// A status write for every monitor with a verdict the Southbound row lacks.
    pub fn status_intents(&self) -> Vec<IntentKind> {
        let mut out = Vec::new();
        for m in self.mons.values() {
            let status = match m.status {
                Status::Unknown => continue,
                Status::Online => "online",
                Status::Offline => "offline",
            };
            if self.sb_status.get(&m.uuid).map(String::as_str) != Some(status) {
                out.push(IntentKind::ServiceMonitorStatus { uuid: m.uuid.clone(), status: status.into() });
            }
        }
        out
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.mons
            .values()
            .map(|m| match m.state {
                St::Init => m.wait_time.min(m.next_send_time),
                St::Waiting => m.wait_time + Duration::from_millis(1),
                St::Online | St::Offline => m.next_send_time,
            })
            .min()
    }

    /// svc_monitors_run: probes that are due, timeouts, verdicts.
    pub fn run(&mut self, now: Instant) -> Vec<Message> {
        let mut out = Vec::new();
        let keys: Vec<Key> = self.mons.keys().copied().collect();
        for key in keys {
            let Some(state) = self.mons.get(&key).map(|m| m.state) else { continue };
            match state {
                St::Init => out.extend(self.send(key, now)),
                St::Waiting => {
                    if let Some(m) = self.mons.get_mut(&key) {
                        if now > m.wait_time {
                            if key.4 == Proto::Tcp {
                                m.n_failures += 1;
                                m.state = St::Offline;
                            } else {
                                m.n_success += 1;
                                m.state = St::Online;
                            }
                            m.next_send_time = now + m.interval;
                        }
                    }
                }
                St::Online | St::Offline => {
                    let due = match self.mons.get_mut(&key) {
                        Some(m) => {
                            if m.state == St::Online && m.n_success >= m.success_count {
                                m.status = Status::Online;
                                m.n_success = 0;
                            }
                            if m.state == St::Offline && m.n_failures >= m.failure_count {
                                m.status = Status::Offline;
                                m.n_failures = 0;
                            }
                            now >= m.next_send_time
                        }
                        None => false,
                    };
                    if due {
                        out.extend(self.send(key, now));
                    }
                }
            }
        }
        out
    }

    /// svc_monitor_send_health_check.
    fn send(&mut self, key: Key, now: Instant) -> Option<Message> {
        let (seq, port) = (self.random(), self.random_port());
        let m = self.mons.get_mut(&key)?;
        let (_, port_key, ip, proto_port, proto) = key;
        let pkt = match proto {
            Proto::Tcp => {
                m.seq_no = seq;
                m.tp_src = port;
                probe_tcp(m, ip, proto_port, TCP_FIN_SYN_RST_ACK.0, seq, 0, port)
            }
            Proto::Udp => {
                if m.tp_src == 0 {
                    m.tp_src = port;
                }
                probe_udp(m, ip, proto_port)
            }
        };
        m.wait_time = now + m.timeout;
        m.state = St::Waiting;
        self.probes_sent += 1;
        pkt.map(|p| to_port(p, key.0, port_key))
    }

    /// `handle_svc_check`: a backend's answer from port `port_key` of datapath `dp`.
    pub fn handle(&mut self, h: &Headers<'_>, dp: u32, port_key: u32, now: Instant) -> Result<Vec<Message>, Refused> {
        let src = match h.net {
            Net::Ipv4 { src, total_len, .. } => {
                if total_len < 20 {
                    return Err(Refused("IP packet with invalid length"));
                }
                IpAddr::V4(src)
            }
            Net::Ipv6 { src, .. } => canonical(IpAddr::V6(src)),
            _ => return Err(Refused("handle service check: not IP")),
        };
        match (h.nw_proto(), h.l4) {
            (Some(IPPROTO_TCP), L4::Tcp { src: sport, dst: dport, seq, flags }) => {
                let key = (dp, port_key, src, sport, Proto::Tcp);
                let Some(m) = self.mons.get_mut(&key) else {
                    return Err(Refused("handle service check: Service monitor not found"));
                };
                let ack = h.l4().get(8..12).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(u32::from_be_bytes);
                if dport != m.tp_src || ack != Some(m.seq_no.wrapping_add(1)) {
                    return Ok(Vec::new());
                }
                let (syn, rst, ackf) = TCP_FIN_SYN_RST_ACK;
                if flags & (syn | ackf) == syn | ackf {
                    m.n_success += 1;
                    m.state = St::Online;
                    m.next_send_time = now + m.interval;
                    let ack = m.seq_no.wrapping_add(1);
                    let rst_ack = probe_tcp(m, src, sport, rst | ackf, ack.wrapping_add(1), seq.wrapping_add(1), dport);
                    return Ok(rst_ack.map(|p| to_port(p, dp, port_key)).into_iter().collect());
                }
                if flags & rst != 0 {
                    m.n_failures += 1;
                    m.state = St::Offline;
                    m.next_send_time = now + m.interval;
                }
                Ok(Vec::new())
            }
            (Some(IPPROTO_ICMP), L4::Icmp { ty, code }) | (Some(IPPROTO_ICMPV6), L4::Icmpv6 { ty, code }) => {
                let v4 = h.nw_proto() == Some(IPPROTO_ICMP);
                if (v4 && (ty, code) != (3, 3)) || (!v4 && (ty, code) != (1, 4)) {
                    return Ok(Vec::new());
                }
                let inner = h.l4().get(8..).ok_or(Refused("Original IP datagram not present in ICMP packet"))?;
                let udp = if v4 {
                    let ihl = usize::from(inner.first().ok_or(Refused("ICMP packet with invalid header"))? & 0x0f) * 4;
                    let tot = inner.get(2..4).map(|b| u16::from_be_bytes([b[0], b[1]]));
                    if tot != Some(20 + 8 + 8) {
                        return Err(Refused("Invalid original IP datagram length present in ICMP packet"));
                    }
                    inner.get(ihl..ihl + 8)
                } else {
                    inner.get(40..48)
                }
                .ok_or(Refused("Invalid UDP header in the original IP datagram"))?;
                let (usrc, udst) = (u16::from_be_bytes([udp[0], udp[1]]), u16::from_be_bytes([udp[2], udp[3]]));
                let key = (dp, port_key, src, udst, Proto::Udp);
                let Some(m) = self.mons.get_mut(&key) else {
                    return Err(Refused("handle service check: Service monitor not found for ICMP packet"));
                };
                if usrc != m.tp_src {
                    return Err(Refused("handle service check: UDP src port doesn't match"));
                }
                m.n_failures += 1;
                m.state = St::Offline;
                m.next_send_time = now + m.interval;
                Ok(Vec::new())
            }
            _ => Err(Refused("handle service check: Unsupported protocol")),
        }
    }
}

fn src_pair(m: &Mon, dst: IpAddr) -> Option<(IpAddr, IpAddr)> {
    match (m.src_ip?, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => Some((IpAddr::V4(s), IpAddr::V4(d))),
        (IpAddr::V6(s), IpAddr::V6(d)) => Some((IpAddr::V6(s), IpAddr::V6(d))),
        (IpAddr::V6(s), IpAddr::V4(d)) => Some((IpAddr::V6(s), IpAddr::V6(d.to_ipv6_mapped()))),
        (IpAddr::V4(s), IpAddr::V6(d)) => Some((IpAddr::V6(s.to_ipv6_mapped()), IpAddr::V6(d))),
    }
}

fn ip_packet(m: &Mon, s: IpAddr, d: IpAddr, proto: u8, l4: &[u8]) -> Vec<u8> {
    match (s, d) {
        (IpAddr::V4(s), IpAddr::V4(d)) => compose::ipv4(m.src_mac, m.ea, s, d, proto, 63, l4),
        (IpAddr::V6(s), IpAddr::V6(d)) => compose::ipv6(m.src_mac, m.ea, s, d, proto, 63, l4),
        _ => Vec::new(),
    }
}

fn l4_checksum(s: IpAddr, d: IpAddr, proto: u8, l4: &[u8]) -> u16 {
    let mut p = Vec::with_capacity(40 + l4.len());
    match (s, d) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p.extend_from_slice(&[0, proto]);
            p.extend_from_slice(&(l4.len() as u16).to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p.extend_from_slice(&(l4.len() as u32).to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, proto]);
        }
        _ => {}
    }
    p.extend_from_slice(l4);
    csum(&p)
}

/// svc_monitor_send_tcp_health_check__: a TCP segment (no options, window 65160).
fn probe_tcp(m: &Mon, dst: IpAddr, dport: u16, flags: u16, seq: u32, ack: u32, sport: u16) -> Option<Vec<u8>> {
    let (s, d) = src_pair(m, dst)?;
    let mut t = sport.to_be_bytes().to_vec();
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&((5u16 << 12) | flags).to_be_bytes());
    t.extend_from_slice(&65160u16.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 0]);
    let c = l4_checksum(s, d, IPPROTO_TCP, &t);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    Some(ip_packet(m, s, d, IPPROTO_TCP, &t))
}

/// svc_monitor_send_udp_health_check: 8 zero bytes; checksummed over IPv6 only, as 23.03.
fn probe_udp(m: &Mon, dst: IpAddr, dport: u16) -> Option<Vec<u8>> {
    let (s, d) = src_pair(m, dst)?;
    let mut u = m.tp_src.to_be_bytes().to_vec();
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&16u16.to_be_bytes());
    u.extend_from_slice(&[0; 10]);
    if d.is_ipv6() {
        let c = match l4_checksum(s, d, IPPROTO_UDP, &u) {
            0 => 0xffff,
            c => c,
        };
        u[6..8].copy_from_slice(&c.to_be_bytes());
    }
    Some(ip_packet(m, s, d, IPPROTO_UDP, &u))
}

/// Straight to the backend's port: output stage, local only.
fn to_port(packet: Vec<u8>, dp: u32, port_key: u32) -> Message {
    let bit = flags::LOCAL_ONLY;
    let actions = vec![
        Action::SetField { field: Field::METADATA, value: u64::from(dp).to_be_bytes().to_vec(), mask: None },
        Action::SetField { field: Field::REG15, value: port_key.to_be_bytes().to_vec(), mask: None },
        Action::SetField {
            field: Field::REG10,
            value: bit.to_be_bytes().to_vec(),
            mask: Some(bit.to_be_bytes().to_vec()),
        },
        Action::Resubmit { in_port: ports::CONTROLLER, table: tables::LOCAL_OUTPUT, ct: false },
    ];
    let mut metadata = Match::new();
    let _ = metadata.set_u128(Field::IN_PORT, u128::from(ports::CONTROLLER));
    Message::PacketOut(PacketOut { buffer_id: NO_BUFFER, metadata, actions, data: packet })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(protocol: &str, status: &str) -> State {
        State::from_records([Record::ServiceMonitor {
            uuid: "u1".into(),
            ip: "10.0.0.5".into(),
            port: 80,
            protocol: protocol.into(),
            datapath_key: 1,
            port_key: 2,
            mac: "50:54:00:00:00:01".into(),
            src_mac: "0a:00:00:00:00:01".into(),
            src_ip: "10.0.0.254".into(),
            options: [("interval".to_string(), "2".to_string())].into_iter().collect(),
            status: status.into(),
        }])
    }

    fn probe(msgs: &[Message]) -> Vec<u8> {
        let [Message::PacketOut(po)] = msgs else { panic!("{msgs:?}") };
        po.data.clone()
    }

    /// The backend's answer to a SYN `p` with `flags`.
    fn answer(p: &[u8], flags: u8) -> Vec<u8> {
        let h = Headers::parse(p).unwrap();
        let L4::Tcp { src, dst, seq, .. } = h.l4 else { panic!() };
        let mut t = dst.to_be_bytes().to_vec();
        t.extend_from_slice(&src.to_be_bytes());
        t.extend_from_slice(&777u32.to_be_bytes());
        t.extend_from_slice(&seq.wrapping_add(1).to_be_bytes());
        t.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        compose::ipv4(h.dl_dst, h.dl_src, [10, 0, 0, 5].into(), [10, 0, 0, 254].into(), IPPROTO_TCP, 64, &t)
    }

    #[test]
    fn tcp_syn_ack_is_online_and_answered_with_rst() {
        let mut s = SvcMonitors::with_seed(7);
        let t0 = Instant::now();
        assert!(s.sync(&state("tcp", ""), t0).is_empty());
        let syn = probe(&s.run(t0));
        let h = Headers::parse(&syn).unwrap();
        assert!(matches!(h.l4, L4::Tcp { dst: 80, flags: 0x02, .. }));
        assert_eq!(
            compose::csum(&{
                let mut p = vec![10, 0, 0, 254, 10, 0, 0, 5, 0, 6, 0, 20];
                p.extend_from_slice(h.l4());
                p
            }),
            0
        );
        let out = s.handle(&Headers::parse(&answer(&syn, 0x12)).unwrap(), 1, 2, t0).unwrap();
        let rst = Headers::parse(&probe(&out)).unwrap().l4;
        assert!(matches!(rst, L4::Tcp { dst: 80, flags: 0x14, .. }));
        s.run(t0);
        assert_eq!(
            s.status_intents(),
            vec![IntentKind::ServiceMonitorStatus { uuid: "u1".into(), status: "online".into() }]
        );
        // Written: nothing more to say; next probe after the interval.
        assert!(s.sync(&state("tcp", "online"), t0).is_empty());
        assert_eq!(s.deadline(), Some(t0 + Duration::from_secs(2)));
    }

    #[test]
    fn tcp_rst_or_silence_is_offline_and_udp_unreachable_is_offline() {
        let mut s = SvcMonitors::with_seed(9);
        let t0 = Instant::now();
        s.sync(&state("tcp", "online"), t0);
        let syn = probe(&s.run(t0));
        s.handle(&Headers::parse(&answer(&syn, 0x14)).unwrap(), 1, 2, t0).unwrap();
        s.run(t0);
        assert_eq!(
            s.status_intents(),
            vec![IntentKind::ServiceMonitorStatus { uuid: "u1".into(), status: "offline".into() }]
        );
        // Silence: offline after the timeout.
        let mut s = SvcMonitors::with_seed(9);
        s.sync(&state("tcp", ""), t0);
        s.run(t0);
        s.run(t0 + Duration::from_secs(4));
        s.run(t0 + Duration::from_secs(4));
        assert_eq!(s.status_intents().len(), 1);
        // UDP: online without an answer, offline with a port unreachable quoting the probe.
        let mut u = SvcMonitors::with_seed(3);
        u.sync(&state("udp", ""), t0);
        let probe_pkt = probe(&u.run(t0));
        u.run(t0 + Duration::from_secs(4));
        u.run(t0 + Duration::from_secs(4));
        assert_eq!(
            u.status_intents()[0],
            IntentKind::ServiceMonitorStatus { uuid: "u1".into(), status: "online".into() }
        );
        let ph = Headers::parse(&probe_pkt).unwrap();
        let quoted = ph.l3().get(..36).unwrap();
        let icmp = compose::icmp4_unreach(3, quoted);
        let unreach =
            compose::ipv4(ph.dl_dst, ph.dl_src, [10, 0, 0, 5].into(), [10, 0, 0, 254].into(), IPPROTO_ICMP, 64, &icmp);
        u.handle(&Headers::parse(&unreach).unwrap(), 1, 2, t0 + Duration::from_secs(5)).unwrap();
        u.run(t0 + Duration::from_secs(5));
        assert_eq!(
            u.status_intents()[0],
            IntentKind::ServiceMonitorStatus { uuid: "u1".into(), status: "offline".into() }
        );
        // Garbage is refused, never a verdict.
        for n in 14..unreach.len() {
            if let Ok(h) = Headers::parse(&unreach[..n]) {
                let _ = u.handle(&h, 1, 2, t0);
            }
        }
    }
}
