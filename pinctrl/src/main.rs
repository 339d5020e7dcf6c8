//! pinctrl: the packet-in process, with its own OpenFlow connection to the integration bridge.
//! Its state comes from flowctl over the pinctrl channel; its Southbound writes go back the
//! same way as intents.

mod flowctl_link;

use std::time::Instant;

use shared::child::{self, Event};
use shared::ipc::Role;
use shared::pinctrl_link::{Record, RecordKey};
use tokio::sync::mpsc;

use crate::flowctl_link::{spawn_connector, FlowctlLink};

const LOG_MODULES: &[&str] = &["pinctrl", "channel", "child", "flowctl_link"];

struct Pinctrl {
    started: Instant,
    flowctl: FlowctlLink,
}

impl Pinctrl {
    fn command(&mut self, name: &str, _args: &[String]) -> Result<String, String> {
        match name {
            "pinctrl/status" => Ok(self.status()),
            other => Err(format!("\"{other}\" is not a pinctrl command")),
        }
    }

    fn status(&self) -> String {
        let (chassis, bridge) = match self.flowctl.state.get(&RecordKey::Chassis) {
            Some(Record::Chassis { name, bridge }) => (name.as_str(), bridge.as_str()),
            _ => ("(unknown)", "(unknown)"),
        };
        let count = |f: fn(&Record) -> bool| self.flowctl.state.records().filter(|r| f(r)).count();
        format!(
            "pid: {}\nuptime: {} s\nflowctl channel: {}\nchassis: {chassis}\nintegration bridge: {bridge}\n\
             state: {} datapaths, {} ports, {} records in all ({} snapshots received)\n\
             intents waiting for acknowledgement: {}\nopenflow connection: none (packet-in handling is not built yet)\n",
            std::process::id(),
            self.started.elapsed().as_secs(),
            if self.flowctl.connected() { "connected" } else { "not connected" },
            count(|r| matches!(r, Record::Datapath { .. })),
            count(|r| matches!(r, Record::Port { .. })),
            self.flowctl.state.len(),
            self.flowctl.snapshots,
            self.flowctl.intents.len(),
        )
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

fn main() {
    child::run(Role::Pinctrl, LOG_MODULES, |_args, mut link| async move {
        let mut pinctrl = Pinctrl { started: Instant::now(), flowctl: FlowctlLink::new(session_id()) };
        let (tx, mut from_flowctl) = mpsc::channel(1024);
        spawn_connector(tx);
        tracing::info!("pinctrl {} started", env!("CARGO_PKG_VERSION"));
        link.ready();
        loop {
            tokio::select! {
                event = link.next_event() => match event {
                    Event::Command { id, name, args } => {
                        let result = pinctrl.command(&name, &args);
                        link.reply(id, result);
                    }
                    Event::Shutdown { .. } => {
                        tracing::info!("pinctrl stopping");
                        return 0;
                    }
                },
                Some(ev) = from_flowctl.recv() => pinctrl.flowctl.on_event(ev),
            }
        }
    })
}
