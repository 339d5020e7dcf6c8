//! pinctrl: the packet-in process, with its own OpenFlow connection to the integration bridge.
//! This is its process shell: supervisor link, control commands, main loop.

use std::time::Instant;

use shared::child::{self, Event};
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
    child::run(Role::Pinctrl, LOG_MODULES, |_args, mut link| async move {
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
    })
}
