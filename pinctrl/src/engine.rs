//! Packet-in dispatch, sans-IO: a packet-in (and the state flowctl shared) in, OpenFlow
//! messages and Southbound intents out. Decodes the controller userdata with the shared
//! definition (shared::ovn::controller_ops), counts every packet-in per opcode, limits each
//! opcode's rate, and never panics on what the switch sent: bad bytes are counted, logged
//! rate-limited and dropped.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use shared::openflow::actions::ports;
use shared::openflow::flow_match::Match;
use shared::openflow::messages::{PacketIn2, PacketOut, NO_BUFFER};
use shared::openflow::{Action, Field, Message};
use shared::ovn::controller_ops::{result_field, ControllerOp, Opcode, Payload};
use shared::ovn::tables;
use shared::pinctrl_link::{IntentKind, Record, State};

use crate::buffered::NextHop;
use crate::dhcp;
use crate::dhcpv6;
use crate::dns;
use crate::flow::Headers;
use crate::handlers::{self, IpKey};
use crate::nd_ra;
use crate::ratelimit::{LogLimiter, TokenBucket};

/// What handling one packet-in produced.
#[derive(Debug, Default, PartialEq)]
pub struct Effects {
    pub messages: Vec<Message>,
    pub intents: Vec<IntentKind>,
}

/// Counters for one opcode.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OpStats {
    pub received: u64,
    pub handled: u64,
    pub errors: u64,
    pub rate_limited: u64,
}

/// Packet-ins per second each opcode may use before the excess is dropped, and the burst.
pub const RATE_PER_SEC: u32 = 2000;
pub const RATE_BURST: u32 = 4000;

pub struct Engine {
    pub stats: BTreeMap<Opcode, OpStats>,
    buckets: BTreeMap<Opcode, TokenBucket>,
    /// Packet-ins that were not for an action (reason), or did not decode.
    pub ignored: u64,
    pub bad_userdata: u64,
    pub bad_packets: u64,
    pub unsupported: u64,
    log_rl: LogLimiter,
    dhcp_log_rl: LogLimiter,
    rate: (u32, u32),
    /// IGMP/MLD snooping state (`igmp`).
    pub mcast: crate::mcast::Snooping,
    /// Service_Monitor health checks (`handle_svc_check`).
    pub svc: crate::svc_monitor::SvcMonitors,
    /// Packets waiting for their next hop's MAC (`arp{}`, `nd_ns{}`).
    pub buffered: crate::buffered::Buffered,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new(RATE_PER_SEC, RATE_BURST)
    }
}

/// `OFPR_APPLY_ACTION`, `OFPR_ACTION_SET`, `OFPR_GROUP`: what OVS calls OFPR_ACTION.
fn is_action_reason(r: Option<u8>) -> bool {
    matches!(r, None | Some(1) | Some(3) | Some(4))
}

fn reg(md: &Match, f: Field) -> u128 {
    md.get(f).map_or(0, |(v, _)| v.iter().fold(0u128, |a, b| (a << 8) | u128::from(*b)))
}

/// `reload_metadata()`: set_field for every register and metadata present in the packet-in.
pub(crate) fn reload_metadata(md: &Match) -> Vec<Action> {
    let mut acts = Vec::new();
    let regs = Field::REGS.into_iter().chain([Field::METADATA]);
    for f in regs {
        if let Some((value, _)) = md.get(f) {
            acts.push(Action::SetField { field: f, value, mask: None });
        }
    }
    acts
}

/// A packet-out of `packet` through the metadata and the nested `actions`, from
/// OFPP_CONTROLLER (set_actions_and_enqueue_msg).
pub fn packet_out(packet: Vec<u8>, md: &Match, actions: &[Action]) -> Message {
    let mut acts = reload_metadata(md);
    acts.extend_from_slice(actions);
    let mut metadata = Match::new();
    let _ = metadata.set_u128(Field::IN_PORT, u128::from(ports::CONTROLLER));
    Message::PacketOut(PacketOut { buffer_id: NO_BUFFER, metadata, actions: acts, data: packet })
}

/// Sets or clears bit `ofs` of the field whose NXM/OXM header is `header` in `md`.
fn write_result_bit(md: &mut Match, header: &[u8], ofs: u32, value: bool) -> Result<(), &'static str> {
    let (class, field, vendor) = match header {
        [0xff, 0xff, f, _, v0, v1, v2, v3, ..] => (0xffffu16, *f >> 1, u32::from_be_bytes([*v0, *v1, *v2, *v3])),
        [c0, c1, f, _, ..] => (u16::from_be_bytes([*c0, *c1]), *f >> 1, 0),
        _ => return Err("bad result field header"),
    };
    let f = Field::from_header(vendor, class, field).ok_or("unknown result field")?;
    let n_bits = f.n_bits();
    let ofs = usize::try_from(ofs).map_err(|_| "bad result bit")?;
    if ofs >= n_bits || n_bits > 128 {
        return Err("bad result bit");
    }
    let (v, m) = md.get(f).unwrap_or_else(|| (vec![0; f.n_bytes()], vec![0; f.n_bytes()]));
    let be = |b: &[u8]| b.iter().fold(0u128, |a, x| (a << 8) | u128::from(*x));
    let bit = 1u128 << ofs;
    let v = if value { be(&v) | bit } else { be(&v) & !bit };
    let m = be(&m) | bit;
    let full = if n_bits == 128 { u128::MAX } else { (1u128 << n_bits) - 1 };
    let r = if m == full { md.set_u128(f, v) } else { md.set_u128_masked(f, v, m) };
    r.map_err(|_| "result field not writable")
}

fn resume(pin: &PacketIn2, packet: Option<Vec<u8>>, md: Match) -> Message {
    let mut p = pin.clone();
    if let Some(packet) = packet {
        p.packet = packet;
        p.full_len = None;
    }
    p.metadata = Some(md);
    Message::Resume(p)
}

impl Engine {
    pub fn new(rate: u32, burst: u32) -> Engine {
        Engine {
            stats: BTreeMap::new(),
            buckets: BTreeMap::new(),
            ignored: 0,
            bad_userdata: 0,
            bad_packets: 0,
            unsupported: 0,
            log_rl: LogLimiter::new(5, Duration::from_secs(1)),
            dhcp_log_rl: LogLimiter::new(40, Duration::from_secs(1)),
            rate: (rate, burst),
            mcast: crate::mcast::Snooping::default(),
            svc: crate::svc_monitor::SvcMonitors::default(),
            buffered: crate::buffered::Buffered::default(),
        }
    }

    fn warn(&mut self, now: Instant, msg: &str) {
        if self.log_rl.allow(now) {
            tracing::warn!("{msg}");
        }
    }

    /// Handles one packet-in.
    pub fn packet_in(&mut self, pin: &PacketIn2, state: &State, now: Instant) -> Effects {
        let mut fx = Effects::default();
        if !is_action_reason(pin.reason) {
            self.ignored += 1;
            return fx;
        }
        let Some(userdata) = pin.userdata.as_deref() else {
            self.bad_userdata += 1;
            self.warn(now, "packet-in userdata lacks action header");
            return fx;
        };
        let op = match ControllerOp::decode(userdata) {
            Ok(op) => op,
            Err(e) => {
                self.bad_userdata += 1;
                self.warn(now, &format!("bad packet-in userdata: {e}"));
                return fx;
            }
        };
        let (rate, burst) = self.rate;
        let bucket = self.buckets.entry(op.opcode).or_insert_with(|| TokenBucket::new(rate, burst, now));
        let allowed = bucket.take(now);
        let stats = self.stats.entry(op.opcode).or_default();
        stats.received += 1;
        if !allowed {
            stats.rate_limited += 1;
            return fx;
        }
        let md = pin.metadata.clone().unwrap_or_default();
        let h = match Headers::parse(&pin.packet) {
            Ok(h) => h,
            Err(e) => {
                self.bad_packets += 1;
                self.count_error(op.opcode);
                self.warn(now, &format!("{:?}: {e}", op.opcode));
                // Paused pipelines still resume, with the result bit clear, as 23.03 does.
                self.resume_failed(pin, &op, md, &mut fx);
                return fx;
            }
        };
        match self.dispatch(pin, &op, &h, md, state, now, &mut fx) {
            Ok(()) => {
                if let Some(s) = self.stats.get_mut(&op.opcode) {
                    s.handled += 1;
                }
            }
            Err(e) => {
                self.count_error(op.opcode);
                self.warn(now, &format!("{:?}: {e}", op.opcode));
            }
        }
        fx
    }

    fn count_error(&mut self, op: Opcode) {
        self.stats.entry(op).or_default().errors += 1;
    }

    fn resume_failed(&mut self, pin: &PacketIn2, op: &ControllerOp, mut md: Match, fx: &mut Effects) {
        if pin.continuation.is_none() {
            return;
        }
        if matches!(op.opcode, Opcode::PutIcmp4FragMtu | Opcode::PutIcmp6FragMtu) {
            // The packet goes on unchanged, as in 23.03.
            fx.messages.push(resume(pin, None, md));
            return;
        }
        let (hdr, ofs) = match &op.payload {
            Payload::PutDhcpOpts { dst_header, dst_ofs, .. } | Payload::PutDhcpv6Opts { dst_header, dst_ofs, .. } => {
                (dst_header.clone(), *dst_ofs)
            }
            Payload::Raw(raw) if matches!(op.opcode, Opcode::DnsLookup | Opcode::PutNdRaOpts) => {
                match result_field(raw) {
                    Some((h, o, _)) => (h.to_vec(), o),
                    None => return,
                }
            }
            _ => return,
        };
        if write_result_bit(&mut md, &hdr, ofs, false).is_ok() {
            fx.messages.push(resume(pin, None, md));
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn dispatch(
        &mut self,
        pin: &PacketIn2,
        op: &ControllerOp,
        h: &Headers<'_>,
        mut md: Match,
        state: &State,
        now: Instant,
        fx: &mut Effects,
    ) -> Result<(), String> {
        let nested = |p: &Payload| match p {
            Payload::Nested(a) => a.clone(),
            _ => Vec::new(),
        };
        let refused = |r: handlers::Refused| r.0.to_string();
        match op.opcode {
            Opcode::Arp | Opcode::NdNs => {
                let (p, ip) = if op.opcode == Opcode::Arp {
                    (handlers::arp(h).map_err(refused)?, IpAddr::V4(Ipv4Addr::from(reg(&md, Field::REG0) as u32)))
                } else {
                    (handlers::nd_ns(h).map_err(refused)?, IpAddr::V6(Ipv6Addr::from(reg(&md, Field::XXREG0))))
                };
                // The packet waits for the answer (pinctrl_handle_buffered_packets).
                let hop = NextHop::new(reg(&md, Field::METADATA) as u64, reg(&md, Field::REG15) as u32, ip);
                self.buffered.push(hop, pin.packet.clone(), &md, now);
                fx.messages.push(packet_out(p, &md, &nested(&op.payload)));
            }
            Opcode::PutIcmp4FragMtu | Opcode::PutIcmp6FragMtu => {
                let Payload::Raw(raw) = &op.payload else { return Err("bad frag_mtu payload".into()) };
                if pin.continuation.is_none() {
                    return Err("put_icmp_frag_mtu packet-in without continuation".into());
                }
                // Whatever happens, the pipeline resumes (unchanged if refused), as 23.03's.
                let (packet, res) = match crate::icmp_frag::set_frag_mtu(h, raw) {
                    Ok(p) => (Some(p), Ok(())),
                    Err(e) => (None, Err(e.0.to_string())),
                };
                fx.messages.push(resume(pin, packet, md));
                return res;
            }
            Opcode::Icmp => {
                let p = handlers::icmp(h, true, false).map_err(refused)?;
                fx.messages.push(packet_out(p, &md, &nested(&op.payload)));
            }
            Opcode::Icmp4Error | Opcode::Icmp6Error => {
                let p = handlers::icmp(h, false, false).map_err(refused)?;
                fx.messages.push(packet_out(p, &md, &nested(&op.payload)));
            }
            Opcode::TcpReset => {
                let p = handlers::tcp_reset(h, false).map_err(refused)?;
                fx.messages.push(packet_out(p, &md, &nested(&op.payload)));
            }
            Opcode::Reject => {
                if let Some(p) = handlers::reject(h).map_err(refused)? {
                    fx.messages.push(packet_out(p, &md, &nested(&op.payload)));
                }
            }
            Opcode::SctpAbort => {
                if let Some(p) = crate::sctp::sctp_abort(h, false).map_err(refused)? {
                    fx.messages.push(packet_out(p, &md, &nested(&op.payload)));
                }
            }
            Opcode::Igmp => {
                let dp = u32::try_from(reg(&md, Field::METADATA)).map_err(|_| "datapath key".to_string())?;
                let port = reg(&md, Field::REG14) as u32;
                let out = self.mcast.handle(h, dp, port, now).map_err(refused)?;
                fx.messages.extend(out.messages);
                if out.changed {
                    fx.intents.extend(self.mcast.sync(state));
                }
            }
            Opcode::HandleSvcCheck => {
                let dp = u32::try_from(reg(&md, Field::METADATA)).map_err(|_| "datapath key".to_string())?;
                let port = reg(&md, Field::REG14) as u32;
                fx.messages.extend(self.svc.handle(h, dp, port, now).map_err(refused)?);
                fx.messages.extend(self.svc.run(now));
                fx.intents.extend(self.svc.status_intents());
            }
            Opcode::Event => {
                let raw = match &op.payload {
                    Payload::Raw(r) => r.as_slice(),
                    _ => &[],
                };
                fx.intents.push(crate::events::trigger_event(raw).map_err(refused)?);
            }
            Opcode::BindVport => {
                let raw = match &op.payload {
                    Payload::Raw(r) => r.as_slice(),
                    _ => &[],
                };
                let dp = u32::try_from(reg(&md, Field::METADATA)).map_err(|_| "datapath key".to_string())?;
                let parent = reg(&md, Field::REG14) as u32;
                fx.intents.push(crate::events::bind_vport(raw, dp, parent).map_err(refused)?);
            }
            Opcode::PutArp | Opcode::PutNd => {
                let dp_key = reg(&md, Field::METADATA);
                let port_key = reg(&md, Field::REG14);
                let ip = if op.opcode == Opcode::PutArp {
                    IpKey::V4(Ipv4Addr::from(reg(&md, Field::REG0) as u32))
                } else {
                    IpKey::V6(Ipv6Addr::from(reg(&md, Field::XXREG0)))
                };
                let port = find_port(state, dp_key, port_key)
                    .ok_or_else(|| format!("put_arp/put_nd: no port {port_key} in datapath {dp_key}"))?;
                let hop_ip = match ip {
                    IpKey::V4(a) => IpAddr::V4(a),
                    IpKey::V6(a) => IpAddr::V6(a),
                };
                let (ip, mac) = handlers::learned_binding(ip, h);
                let datapath_key = u32::try_from(dp_key).map_err(|_| "datapath key out of range".to_string())?;
                fx.intents.push(IntentKind::MacBinding { datapath_key, logical_port: port, ip, mac });
                // Packets waiting for this next hop go now, without waiting for the
                // MAC_Binding row (23.03 waits for it; the packets are the same).
                if !crate::flow::is_multicast(&h.dl_src) {
                    let hop = NextHop::new(dp_key as u64, port_key as u32, hop_ip);
                    fx.messages.extend(self.buffered.release(&hop, h.dl_src));
                }
            }
            Opcode::PutFdb => {
                let dp_key = u32::try_from(reg(&md, Field::METADATA)).map_err(|_| "datapath key".to_string())?;
                let port_key = reg(&md, Field::REG14) as u32;
                let mac = crate::flow::mac_to_string(&h.dl_src);
                fx.intents.push(IntentKind::Fdb { datapath_key: dp_key, port_key, mac });
            }
            Opcode::Log => {
                let Payload::Log { verdict, severity, name } = &op.payload else {
                    return Err("log data missing".into());
                };
                let dir =
                    if pin.table_id.unwrap_or(0) < tables::LOG_EGRESS_PIPELINE { "from-lport" } else { "to-lport" };
                let line = handlers::acl_log_line(h, *verdict, *severity, name, dir);
                tracing::info!(target: "pinctrl::acl_log", "{line}");
            }
            Opcode::PutDhcpOpts => {
                let Payload::PutDhcpOpts { dst_header, dst_ofs, offer_ip, options } = &op.payload else {
                    return Err("bad put_dhcp_opts payload".into());
                };
                if pin.continuation.is_none() {
                    return Err("put_dhcp_opts packet-in without continuation".into());
                }
                let (ok, packet, res) = match dhcp::handle(h, *offer_ip, options) {
                    Ok(dhcp::Outcome::Reply { packet, log }) => {
                        if self.dhcp_log_rl.allow(now) {
                            tracing::info!("{log}");
                        }
                        (true, Some(packet), Ok(()))
                    }
                    Ok(dhcp::Outcome::NoReply(line)) => {
                        if !line.is_empty() && self.dhcp_log_rl.allow(now) {
                            tracing::info!("{line}");
                        }
                        (false, None, Ok(()))
                    }
                    Err(dhcp::Invalid(e)) => (false, None, Err(e)),
                };
                write_result_bit(&mut md, dst_header, *dst_ofs, ok)?;
                fx.messages.push(resume(pin, packet, md));
                return res;
            }
            Opcode::PutDhcpv6Opts => {
                let Payload::PutDhcpv6Opts { dst_header, dst_ofs, options } = &op.payload else {
                    return Err("bad put_dhcpv6_opts payload".into());
                };
                if pin.continuation.is_none() {
                    return Err("put_dhcpv6_opts packet-in without continuation".into());
                }
                let (packet, res) = match dhcpv6::handle(h, options) {
                    Ok(dhcpv6::Outcome::Reply(p)) => (Some(p), Ok(())),
                    Ok(dhcpv6::Outcome::NoReply) => (None, Ok(())),
                    Err(dhcpv6::Invalid(e)) => (None, Err(e)),
                };
                write_result_bit(&mut md, dst_header, *dst_ofs, packet.is_some())?;
                fx.messages.push(resume(pin, packet, md));
                return res;
            }
            Opcode::NdNa | Opcode::NdNaRouter => {
                let p = nd_ra::nd_na(h, op.opcode == Opcode::NdNaRouter)?;
                fx.messages.push(packet_out(p, &md, &nested(&op.payload)));
            }
            Opcode::PutNdRaOpts => {
                let Payload::Raw(raw) = &op.payload else { return Err("bad put_nd_ra_opts payload".into()) };
                let (hdr, ofs, ra) = result_field(raw).ok_or("put_nd_ra_opts: bad result field")?;
                if pin.continuation.is_none() {
                    return Err("put_nd_ra_opts packet-in without continuation".into());
                }
                let (packet, res) = match nd_ra::put_nd_ra_opts(h, ra) {
                    Ok(p) => (Some(p), Ok(())),
                    Err(e) => (None, Err(e.to_string())),
                };
                write_result_bit(&mut md, hdr, ofs, packet.is_some())?;
                fx.messages.push(resume(pin, packet, md));
                return res;
            }
            Opcode::DnsLookup => {
                let Payload::Raw(raw) = &op.payload else { return Err("bad dns_lookup payload".into()) };
                let (hdr, ofs, _) = result_field(raw).ok_or("dns_lookup: bad result field")?;
                if pin.continuation.is_none() {
                    return Err("dns_lookup packet-in without continuation".into());
                }
                let (packet, res) = match dns::handle(h, reg(&md, Field::METADATA) as u64, state) {
                    Ok(dns::Outcome::Answer(p)) => (Some(p), Ok(())),
                    Ok(dns::Outcome::NoAnswer) => (None, Ok(())),
                    Err(dns::Invalid(e)) => (None, Err(e.to_string())),
                };
                write_result_bit(&mut md, hdr, ofs, packet.is_some())?;
                fx.messages.push(resume(pin, packet, md));
                return res;
            }
            _ => {
                self.unsupported += 1;
                self.resume_failed(pin, op, md, fx);
                return Err(format!("opcode {:?} is not handled yet", op.opcode));
            }
        }
        Ok(())
    }
}

/// The name of port `port_key` of datapath `dp_key`.
fn find_port(state: &State, dp_key: u128, port_key: u128) -> Option<String> {
    state.records().find_map(|r| match r {
        Record::Port { name, datapath_key, key, .. }
            if u128::from(*datapath_key) == dp_key && u128::from(*key) == port_key =>
        {
            Some(name.clone())
        }
        _ => None,
    })
}

/// The fuzz target's body (replayed by a unit test): a packet-in message body of arbitrary
/// bytes through the decoder and the handlers never panics.
#[doc(hidden)]
pub fn fuzz_one(data: &[u8]) {
    let state = State::from_records([
        Record::Port { name: "lp1".into(), datapath_key: 1, key: 1, kind: String::new(), macs: vec![], local: true },
        Record::Dns {
            id: "d1".into(),
            datapaths: vec![1],
            records: [("vm1.ovn.org".to_string(), "10.0.0.5 aef0::5".to_string())].into_iter().collect(),
        },
        Record::Datapath { key: 1, uuid: String::new(), name: "ls".into() },
        Record::IpMulticast {
            datapath_key: 1,
            enabled: true,
            table_size: 4,
            idle_timeout: 30,
            seq_no: 0,
            querier: None,
        },
    ]);
    let mut e = Engine::default();
    let _ = e.mcast.sync(&state);
    let now = Instant::now();
    // As a whole OpenFlow message...
    if let Ok(m) = shared::openflow::OfMessage::decode(data) {
        if let Message::PacketIn2(pin) = m.body {
            let _ = e.packet_in(&pin, &state, now);
        }
    }
    // ...and as userdata + packet, split at the first byte's value.
    let (Some(&n), Some(rest)) = (data.first(), data.get(1..)) else { return };
    let n = usize::from(n).min(rest.len());
    let (ud, pkt) = rest.split_at(n);
    let mut md = Match::new();
    let _ = md.set_u128(Field::METADATA, 1);
    let _ = md.set_u128(Field::REG14, 1);
    let _ = md.set_u128(Field::REG0, 0x0a00_0001);
    for cont in [None, Some(vec![0u8; 8])] {
        let pin = PacketIn2 {
            packet: pkt.to_vec(),
            userdata: Some(ud.to_vec()),
            metadata: Some(md.clone()),
            reason: Some(1),
            table_id: Some(10),
            continuation: cont,
            ..Default::default()
        };
        let _ = e.packet_in(&pin, &state, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::openflow::actions::Subfield;

    fn state() -> State {
        State::from_records([Record::Port {
            name: "lrp0".into(),
            datapath_key: 3,
            key: 2,
            kind: "patch".into(),
            macs: vec![],
            local: false,
        }])
    }

    fn md() -> Match {
        let mut m = Match::new();
        m.set_u128(Field::METADATA, 3).unwrap();
        m.set_u128(Field::REG14, 2).unwrap();
        m.set_u128(Field::REG0, 0x0a00_0009).unwrap();
        m
    }

    fn pin(op: ControllerOp, packet: Vec<u8>, cont: bool) -> PacketIn2 {
        PacketIn2 {
            packet,
            userdata: Some(op.encode()),
            metadata: Some(md()),
            reason: Some(1),
            table_id: Some(20),
            continuation: cont.then(|| vec![0, 1, 2, 3, 4, 5, 6, 7]),
            ..Default::default()
        }
    }

    #[test]
    fn arp_is_a_packet_out_with_metadata_then_nested_actions() {
        let nested = vec![Action::Resubmit { in_port: ports::IN_PORT, table: 37, ct: false }];
        let op = ControllerOp::new(Opcode::Arp, Payload::Nested(nested.clone()));
        let mut e = Engine::default();
        let fx = e.packet_in(&pin(op, crate::handlers::tests::udp4(), false), &state(), Instant::now());
        let [Message::PacketOut(po)] = fx.messages.as_slice() else { panic!("{fx:?}") };
        assert_eq!(po.metadata.get(Field::IN_PORT).map(|v| v.0), Some(vec![0xff, 0xfd]));
        assert_eq!(po.actions.last(), nested.last());
        assert!(po.actions.contains(&Action::SetField { field: Field::REG14, value: vec![0, 0, 0, 2], mask: None }));
        assert_eq!(e.stats[&Opcode::Arp].handled, 1);
        // It re-encodes as OpenFlow.
        assert!(shared::openflow::OfMessage::new(1, fx.messages[0].clone()).try_encode().is_ok());
    }

    #[test]
    fn put_arp_becomes_a_mac_binding_intent() {
        let op = ControllerOp::new(Opcode::PutArp, Payload::Empty);
        let mut e = Engine::default();
        let fx = e.packet_in(&pin(op, crate::handlers::tests::udp4(), false), &state(), Instant::now());
        assert_eq!(
            fx.intents,
            vec![IntentKind::MacBinding {
                datapath_key: 3,
                logical_port: "lrp0".into(),
                ip: "10.0.0.9".into(),
                mac: "50:54:00:00:00:01".into()
            }]
        );
    }

    /// `put_dhcp_opts` of 10.0.0.5 with the usual options, result into bit 99 of xxreg0.
    pub(super) fn put_dhcp_opts_op() -> ControllerOp {
        ControllerOp::new(
            Opcode::PutDhcpOpts,
            Payload::PutDhcpOpts {
                dst_header: shared::ovn::controller_ops::field_header(Field::XXREG0),
                dst_ofs: 99,
                offer_ip: [10, 0, 0, 5],
                options: crate::dhcp::tests::ovn_opts(),
            },
        )
    }

    #[test]
    fn put_dhcp_opts_resumes_with_the_result_bit() {
        let op = put_dhcp_opts_op();
        let req = crate::dhcp::tests::request(dhcproto::v4::MessageType::Discover, None, false);
        let mut e = Engine::default();
        let fx = e.packet_in(&pin(op.clone(), req, true), &state(), Instant::now());
        let [Message::Resume(r)] = fx.messages.as_slice() else { panic!("{fx:?}") };
        let (v, _) = r.metadata.as_ref().unwrap().get(Field::XXREG0).unwrap();
        assert_eq!(v[16 - 1 - 99 / 8] & (1 << (99 % 8)), 1 << (99 % 8));
        assert_eq!(r.continuation.as_deref(), Some(&[0, 1, 2, 3, 4, 5, 6, 7][..]));
        assert!(r.packet.len() > 300);
        // A bad packet still resumes, with the bit clear.
        let fx = e.packet_in(&pin(op, vec![1, 2, 3], true), &state(), Instant::now());
        let [Message::Resume(r)] = fx.messages.as_slice() else { panic!("{fx:?}") };
        let (v, m) = r.metadata.as_ref().unwrap().get(Field::XXREG0).unwrap();
        assert_eq!(v[16 - 1 - 99 / 8] & (1 << (99 % 8)), 0);
        assert_ne!(m[16 - 1 - 99 / 8], 0);
        assert_eq!(e.stats[&Opcode::PutDhcpOpts].errors, 1);
    }

    #[test]
    fn floods_are_rate_limited_per_opcode() {
        let mut e = Engine::new(10, 10);
        let now = Instant::now();
        let op = ControllerOp::new(Opcode::PutFdb, Payload::Empty);
        let p = pin(op, crate::handlers::tests::udp4(), false);
        for _ in 0..1000 {
            e.packet_in(&p, &state(), now);
        }
        let s = e.stats[&Opcode::PutFdb];
        assert_eq!((s.received, s.handled, s.rate_limited), (1000, 10, 990));
        // Another opcode has its own budget.
        let op = ControllerOp::new(Opcode::PutArp, Payload::Empty);
        assert_eq!(e.packet_in(&pin(op, crate::handlers::tests::udp4(), false), &state(), now).intents.len(), 1);
    }

    #[test]
    fn garbage_is_counted_not_panicked_on() {
        let mut e = Engine::default();
        let mut p = pin(ControllerOp::new(Opcode::Arp, Payload::Nested(vec![])), vec![0; 3], false);
        e.packet_in(&p, &state(), Instant::now());
        p.userdata = Some(vec![0, 0, 0, 99, 0, 0, 0, 0]);
        e.packet_in(&p, &state(), Instant::now());
        assert_eq!((e.bad_packets, e.bad_userdata), (1, 1));
        let _ = Subfield::whole(Field::REG0);
        for n in 0..200u8 {
            let b: Vec<u8> = (0..n).map(|i| i.wrapping_mul(31).wrapping_add(n)).collect();
            fuzz_one(&b);
        }
    }

    #[test]
    fn dns_lookup_resumes_with_the_answer_and_the_result_bit() {
        let mut raw = shared::ovn::controller_ops::field_header(Field::REG0);
        raw.extend_from_slice(&5u32.to_be_bytes());
        let op = ControllerOp::new(Opcode::DnsLookup, Payload::Raw(raw));
        let st = crate::dns::tests::state();
        let q = crate::dns::tests::query("vm1.ovn.org", simple_dns::TYPE::A, false);
        let mut p = pin(op.clone(), q.clone(), true);
        let mut m = md();
        let _ = m.set_u128(Field::METADATA, 1);
        p.metadata = Some(m.clone());
        let mut e = Engine::default();
        let fx = e.packet_in(&p, &st, Instant::now());
        let [Message::Resume(r)] = fx.messages.as_slice() else { panic!("{fx:?}") };
        assert!(r.packet.len() > q.len());
        assert_eq!(reg(r.metadata.as_ref().unwrap(), Field::REG0) & (1 << 5), 1 << 5);
        // Another datapath: resumed unchanged, bit clear.
        let _ = m.set_u128(Field::METADATA, 7);
        p.metadata = Some(m);
        let fx = e.packet_in(&p, &st, Instant::now());
        let [Message::Resume(r)] = fx.messages.as_slice() else { panic!("{fx:?}") };
        assert_eq!(r.packet, q);
        assert_eq!(reg(r.metadata.as_ref().unwrap(), Field::REG0) & (1 << 5), 0);
        assert_eq!(e.stats[&Opcode::DnsLookup].handled, 2);
    }

    #[test]
    fn corpus_replays() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/pinctrl_packet_in");
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                if let Ok(b) = std::fs::read(e.path()) {
                    fuzz_one(&b);
                }
            }
        }
    }
}

#[cfg(test)]
mod seeds {
    use super::*;

    /// Writes the seed corpus (run with PINCTRL_WRITE_SEEDS=1).
    #[test]
    fn write_seed_corpus() {
        if std::env::var_os("PINCTRL_WRITE_SEEDS").is_none() {
            return;
        }
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/pinctrl_packet_in");
        let udp = crate::handlers::tests::udp4();
        let tcp = crate::handlers::tests::tcp4(false);
        let dhcp = crate::dhcp::tests::request(dhcproto::v4::MessageType::Discover, None, false);
        let dhcp_op = tests::put_dhcp_opts_op();
        let result = |raw: &[u8]| {
            let mut p = shared::ovn::controller_ops::field_header(Field::REG0);
            p.extend_from_slice(&5u32.to_be_bytes());
            p.extend_from_slice(raw);
            Payload::Raw(p)
        };
        let dns_op = ControllerOp::new(Opcode::DnsLookup, result(&[]));
        let dns_op6 = dns_op.clone();
        let dhcpv6_op = ControllerOp::new(
            Opcode::PutDhcpv6Opts,
            Payload::PutDhcpv6Opts {
                dst_header: shared::ovn::controller_ops::field_header(Field::REG0),
                dst_ofs: 3,
                options: crate::dhcpv6::tests::ovn_opts(),
            },
        );
        let ra = [134, 0, 0, 0, 255, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0xff, 1];
        let ra_op = ControllerOp::new(Opcode::PutNdRaOpts, result(&ra));
        let cases = [
            ("arp", ControllerOp::new(Opcode::Arp, Payload::Nested(vec![])), udp.clone()),
            ("reject_udp", ControllerOp::new(Opcode::Reject, Payload::Nested(vec![])), udp.clone()),
            ("reject_tcp", ControllerOp::new(Opcode::Reject, Payload::Nested(vec![])), tcp.clone()),
            ("tcp_reset", ControllerOp::new(Opcode::TcpReset, Payload::Nested(vec![])), tcp),
            ("put_arp", ControllerOp::new(Opcode::PutArp, Payload::Empty), udp.clone()),
            ("log", ControllerOp::new(Opcode::Log, Payload::Log { verdict: 1, severity: 4, name: b"a".to_vec() }), udp),
            ("dhcp", dhcp_op, dhcp),
            ("dns_lookup", dns_op, crate::dns::tests::query("vm1.ovn.org", simple_dns::TYPE::A, false)),
            ("dns_lookup_v6", dns_op6, crate::dns::tests::query("vm1.ovn.org", simple_dns::TYPE::AAAA, true)),
            ("dhcpv6", dhcpv6_op, crate::dhcpv6::tests::request(dhcproto::v6::MessageType::Solicit, true)),
            ("put_nd_ra_opts", ra_op, crate::nd_ra::tests::rs()),
            ("nd_na_router", ControllerOp::new(Opcode::NdNaRouter, Payload::Nested(vec![])), crate::nd_ra::tests::rs()),
        ];
        for (name, op, pkt) in cases {
            let ud = op.encode();
            let mut b = vec![u8::try_from(ud.len()).unwrap()];
            b.extend_from_slice(&ud);
            b.extend_from_slice(&pkt);
            std::fs::write(dir.join(name), b).unwrap();
        }
    }
}
