//! pinctrl: the packet-in process, with its own OpenFlow connection to the integration bridge.
//! This is its process shell: supervisor link, control commands, main loop.

use std::time::Instant;

use shared::child::{self, Event, Link};
use shared::ipc::Role;

const LOG_MODULES: &[&str] = &["pinctrl", "channel", "child"];

struct Pinctrl {
    started: Instant,
}

impl Pinctrl {
    fn command(&mut self, name: &str, _args: &[String]) -> Result<String, String> {
        match name {
            "pinctrl/status" => Ok(format!(
                "pid: {}\nuptime: {} s\nopenflow connection: none (packet-in handling is not built yet)\n",
                std::process::id(),
                self.started.elapsed().as_secs()
            )),
            other => Err(format!("\"{other}\" is not a pinctrl command")),
        }
    }
}

fn main() {
    let args = child::start(Role::Pinctrl, LOG_MODULES);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pinctrl: cannot start runtime: {e}");
            std::process::exit(1)
        }
    };
    let code = runtime.block_on(async move {
        let mut link = match Link::connect(Role::Pinctrl, &args) {
            Ok(link) => link,
            Err(e) => {
                tracing::error!("cannot open the supervisor channel: {e}");
                return 1;
            }
        };
        let mut pinctrl = Pinctrl { started: Instant::now() };
        tracing::info!("pinctrl {} started", env!("CARGO_PKG_VERSION"));
        link.ready();
        loop {
            match link.next_event().await {
                Event::Command { id, name, args } => {
                    let result = pinctrl.command(&name, &args);
                    link.reply(id, result);
                }
                Event::Shutdown { .. } => {
                    tracing::info!("pinctrl stopping");
                    return 0;
                }
            }
        }
    });
    std::process::exit(code);
}
