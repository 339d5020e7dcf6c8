//! pinctrl: the packet-in process, with its own OpenFlow connection to the integration bridge.
//! Its state comes from flowctl over the pinctrl channel; its Southbound writes go back the
//! same way as intents.

mod flowctl_link;

use std::path::PathBuf;
use std::time::Instant;

use pinctrl::Engine;
use shared::child::{self, Event};
use shared::ipc::Role;
use shared::openflow::messages::{SwitchConfig as OfSwitchConfig, NXPIF_NXT_PACKET_IN2};
use shared::openflow::{Message, OfMessage};
use shared::pinctrl_link::{Record, RecordKey};
use shared::switch::{Switch, SwitchConfig, SwitchEvent};
use tokio::sync::mpsc;

use crate::flowctl_link::{spawn_connector, FlowctlLink};

const LOG_MODULES: &[&str] = &["pinctrl", "channel", "child", "flowctl_link", "acl_log", "engine", "dhcp", "switch"];

/// The bridge pinctrl connects to before flowctl has said which one (23.03's default).
const DEFAULT_BRIDGE: &str = "br-int";

/// OVS sends asynchronous messages only to connections with a non-zero miss_send_len; 23.03's
/// pinctrl sets UINT16_MAX (so only it, not flowctl's connection, gets packet-ins).
const MISS_SEND_LEN: u16 = u16::MAX;

struct OfConn {
    bridge: String,
    switch: Switch,
    events: mpsc::Receiver<SwitchEvent>,
    conn: Option<u64>,
    connects: u64,
}

fn mgmt_path(bridge: &str) -> PathBuf {
    let rundir = std::env::var("OVS_RUNDIR").unwrap_or_else(|_| "/var/run/openvswitch".into());
    PathBuf::from(rundir).join(format!("{bridge}.mgmt"))
}

impl OfConn {
    fn start(bridge: &str) -> OfConn {
        let path = mgmt_path(bridge);
        tracing::info!("unix:{}: connecting to switch", path.display());
        let mut config = SwitchConfig::new(path);
        config.queue_chunks = 256;
        let (switch, events) = Switch::start(config);
        OfConn { bridge: bridge.to_string(), switch, events, conn: None, connects: 0 }
    }

    fn encode(&self, msgs: Vec<Message>) -> Vec<u8> {
        let mut out = Vec::new();
        for m in msgs {
            match OfMessage::new(self.switch.next_xid(), m).try_encode() {
                Ok(b) => out.extend_from_slice(&b),
                Err(e) => tracing::warn!("not sending: {e}"),
            }
        }
        out
    }

    async fn send(&self, msgs: Vec<Message>) {
        if msgs.is_empty() {
            return;
        }
        if let Some(conn) = self.conn {
            let bytes = self.encode(msgs);
            self.switch.send(conn, bytes).await;
        }
    }
}

struct Pinctrl {
    started: Instant,
    flowctl: FlowctlLink,
    engine: Engine,
    packet_ins: u64,
    ras: pinctrl::nd_ra::RaScheduler,
    garps: pinctrl::garp::GarpScheduler,
    queriers: pinctrl::mcast_querier::Queriers,
}

impl Pinctrl {
    fn command(&mut self, name: &str, _args: &[String], of: &OfConn) -> Result<String, String> {
        match name {
            "pinctrl/status" => Ok(self.status(of)),
            "debug/dump-mac-bindings" => {
                Ok(pinctrl::mac_bindings::dump(&self.flowctl.state, &self.flowctl.intents.unacked()))
            }
            other => Err(format!("\"{other}\" is not a pinctrl command")),
        }
    }

    fn bridge(&self) -> String {
        match self.flowctl.state.get(&RecordKey::Chassis) {
            Some(Record::Chassis { bridge, .. }) if !bridge.is_empty() => bridge.clone(),
            _ => DEFAULT_BRIDGE.to_string(),
        }
    }

    fn status(&self, of: &OfConn) -> String {
        let chassis = match self.flowctl.state.get(&RecordKey::Chassis) {
            Some(Record::Chassis { name, .. }) => name.as_str(),
            _ => "(unknown)",
        };
        let count = |f: fn(&Record) -> bool| self.flowctl.state.records().filter(|r| f(r)).count();
        let mut s = format!(
            "pid: {}\nuptime: {} s\nflowctl channel: {}\nchassis: {chassis}\nintegration bridge: {}\n\
             state: {} datapaths, {} ports, {} records in all ({} snapshots received)\n\
             intents waiting for acknowledgement: {}\nintents sent: {}\nintents dropped (queue full): {}\n\
             openflow connection: {} ({}, {} connects)\nopenflow send queue: {}\n\
             packet-ins: {}\npacket-ins ignored (not an action): {}\nbad userdata: {}\nbad packets: {}\n\
             unsupported opcodes: {}\nperiodic router advertisements: {} ports, {} sent\n\
             multicast snooping: {} datapaths, {} groups\n\
             multicast queriers: {} datapaths, {} queries sent\n\
             gratuitous ARP/RARP announcements: {} listed, {} sent\n\
             service monitors: {}, {} probes sent\n\
             buffered packets: {} waiting for {} next hops, {} buffered, {} sent, {} dropped, {} expired\n",
            std::process::id(),
            self.started.elapsed().as_secs(),
            if self.flowctl.connected() { "connected" } else { "not connected" },
            of.bridge,
            count(|r| matches!(r, Record::Datapath { .. })),
            count(|r| matches!(r, Record::Port { .. })),
            self.flowctl.state.len(),
            self.flowctl.snapshots,
            self.flowctl.intents.len(),
            self.flowctl.intents_sent,
            self.flowctl.intents_dropped,
            if of.conn.is_some() { "connected" } else { "not connected" },
            mgmt_path(&of.bridge).display(),
            of.connects,
            of.switch.pending(),
            self.packet_ins,
            self.engine.ignored,
            self.engine.bad_userdata,
            self.engine.bad_packets,
            self.engine.unsupported,
            self.ras.len(),
            self.ras.sent,
            self.engine.mcast.datapaths(),
            self.engine.mcast.groups(),
            self.queriers.len(),
            self.queriers.sent,
            self.garps.len(),
            self.garps.sent,
            self.engine.svc.len(),
            self.engine.svc.probes_sent,
            self.engine.buffered.packets(),
            self.engine.buffered.len(),
            self.engine.buffered.buffered,
            self.engine.buffered.sent,
            self.engine.buffered.dropped,
            self.engine.buffered.expired,
        );
        s.push_str("opcode: received handled errors rate-limited\n");
        for (op, st) in &self.engine.stats {
            s.push_str(&format!("  {op:?}: {} {} {} {}\n", st.received, st.handled, st.errors, st.rate_limited));
        }
        s
    }
}

/// A pinctrl session id: distinct per start, so flowctl tells replays from new intents.
fn session_id() -> u64 {
    let mut b = [0u8; 8];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b));
    if random.is_ok() {
        return u64::from_le_bytes(b);
    }
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    t ^ (u64::from(std::process::id()) << 40)
}

/// Fires at the next periodic router advertisement; never without one.
async fn ra_timer(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

fn main() {
    child::run(Role::Pinctrl, LOG_MODULES, |_args, mut link| async move {
        let mut pinctrl = Pinctrl {
            started: Instant::now(),
            flowctl: FlowctlLink::new(session_id()),
            engine: Engine::default(),
            packet_ins: 0,
            ras: pinctrl::nd_ra::RaScheduler::with_seed(session_id()),
            garps: pinctrl::garp::GarpScheduler::default(),
            queriers: pinctrl::mcast_querier::Queriers::default(),
        };
        // Probe sequence numbers and source ports must not be guessable.
        pinctrl.engine.svc = pinctrl::svc_monitor::SvcMonitors::with_seed(session_id());
        let (tx, mut from_flowctl) = mpsc::channel(1024);
        spawn_connector(tx);
        let mut of = OfConn::start(DEFAULT_BRIDGE);
        tracing::info!("pinctrl {} started", env!("CARGO_PKG_VERSION"));
        link.ready();
        loop {
            tokio::select! {
                event = link.next_event() => match event {
                    Event::Command { id, name, args } => {
                        let result = pinctrl.command(&name, &args, &of);
                        link.reply(id, result);
                    }
                    Event::Shutdown { .. } => {
                        tracing::info!("pinctrl stopping");
                        return 0;
                    }
                },
                () = ra_timer(pinctrl.engine.mcast.deadline()) => {
                    if pinctrl.engine.mcast.run(Instant::now()) {
                        for i in pinctrl.engine.mcast.sync(&pinctrl.flowctl.state) {
                            pinctrl.flowctl.push_intent(i);
                        }
                        for i in pinctrl.engine.svc.sync(&pinctrl.flowctl.state, Instant::now()) {
                            pinctrl.flowctl.push_intent(i);
                        }
                    }
                }
                () = ra_timer(pinctrl.engine.svc.deadline()) => {
                    let msgs = pinctrl.engine.svc.run(Instant::now());
                    of.send(msgs).await;
                    for i in pinctrl.engine.svc.status_intents() {
                        pinctrl.flowctl.push_intent(i);
                    }
                }
                () = ra_timer(pinctrl.engine.buffered.deadline()) => {
                    pinctrl.engine.buffered.expire(Instant::now());
                }
                () = ra_timer(pinctrl.queriers.deadline()) => {
                    let msgs = pinctrl.queriers.due(Instant::now());
                    of.send(msgs).await;
                }
                () = ra_timer(pinctrl.garps.deadline()) => {
                    let msgs = pinctrl.garps.due(Instant::now());
                    of.send(msgs).await;
                }
                () = ra_timer(pinctrl.ras.deadline()) => {
                    let msgs = pinctrl.ras.due(Instant::now());
                    of.send(msgs).await;
                }
                Some(ev) = from_flowctl.recv() => {
                    pinctrl.flowctl.on_event(ev);
                    pinctrl.ras.sync(&pinctrl.flowctl.state, Instant::now());
                    pinctrl.garps.sync(&pinctrl.flowctl.state, Instant::now());
                    pinctrl.queriers.sync(&pinctrl.flowctl.state, Instant::now());
                    // IGMP_Group rows follow the snooping state (23.03's ip_mcast_sync).
                    if pinctrl.flowctl.has_state() {
                        for i in pinctrl.engine.mcast.sync(&pinctrl.flowctl.state) {
                            pinctrl.flowctl.push_intent(i);
                        }
                        for i in pinctrl.engine.svc.sync(&pinctrl.flowctl.state, Instant::now()) {
                            pinctrl.flowctl.push_intent(i);
                        }
                    }
                    // Next hops whose MAC_Binding arrived (run_buffered_binding).
                    let msgs = pinctrl.engine.buffered.release_known(&pinctrl.flowctl.state);
                    of.send(msgs).await;
                    let bridge = pinctrl.bridge();
                    if bridge != of.bridge {
                        of = OfConn::start(&bridge);
                    }
                }
                ev = of.events.recv() => match ev {
                    None => {
                        tracing::error!("switch connection task ended; restarting it");
                        of = OfConn::start(&pinctrl.bridge());
                    }
                    Some(SwitchEvent::Connected { conn, .. }) => {
                        of.conn = Some(conn);
                        of.connects += 1;
                        // As pinctrl_setup(): fetch the config (the reply sets miss_send_len),
                        // and ask for NXT_PACKET_IN2, which carries userdata and continuations.
                        of.send(vec![Message::GetConfigRequest, Message::SetPacketInFormat(NXPIF_NXT_PACKET_IN2)]).await;
                    }
                    Some(SwitchEvent::Disconnected { reason }) => {
                        tracing::info!("{}: disconnected: {reason}", of.bridge);
                        of.conn = None;
                    }
                    Some(SwitchEvent::Message(m)) => match m.body {
                        Message::GetConfigReply(cfg) => {
                            let cfg = OfSwitchConfig { flags: cfg.flags, miss_send_len: MISS_SEND_LEN };
                            of.send(vec![Message::SetConfig(cfg)]).await;
                        }
                        Message::PacketIn2(pin) => {
                            pinctrl.packet_ins += 1;
                            let fx = pinctrl.engine.packet_in(&pin, &pinctrl.flowctl.state, Instant::now());
                            of.send(fx.messages).await;
                            for i in fx.intents {
                                pinctrl.flowctl.push_intent(i);
                            }
                        }
                        Message::Error(e) => tracing::warn!("switch reported an error: {e:?}"),
                        other => tracing::debug!("OpenFlow message ignored: {other:?}"),
                    },
                },
            }
        }
    })
}
