//! flowctl: owns the OVS and Southbound database connections, computes the flow table and
//! installs it. This is its process shell: supervisor link, control commands, main loop.

use std::time::Instant;

use shared::child::{self, Event, Link};
use shared::ipc::Role;

const LOG_MODULES: &[&str] = &["flowctl", "channel", "child"];

struct Flowctl {
    started: Instant,
    /// debug/pause: stop processing database and switch events, keep answering commands.
    paused: bool,
}

impl Flowctl {
    fn command(&mut self, name: &str, _args: &[String]) -> Result<String, String> {
        match name {
            "debug/pause" => {
                self.paused = true;
                Ok(String::new())
            }
            "debug/resume" => {
                self.paused = false;
                Ok(String::new())
            }
            "debug/status" => Ok(if self.paused { "paused" } else { "running" }.to_string()),
            other => Err(format!("\"{other}\" is not a flowctl command")),
        }
    }
}

fn main() {
    let args = child::start(Role::Flowctl, LOG_MODULES);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("flowctl: cannot start runtime: {e}");
            std::process::exit(1)
        }
    };
    let code = runtime.block_on(async move {
        let mut link = match Link::connect(Role::Flowctl, &args) {
            Ok(link) => link,
            Err(e) => {
                tracing::error!("cannot open the supervisor channel: {e}");
                return 1;
            }
        };
        let mut flowctl = Flowctl { started: Instant::now(), paused: false };
        tracing::info!("flowctl {} started, OVS database {}", env!("CARGO_PKG_VERSION"), args.ovs_remote);
        link.ready();
        loop {
            match link.next_event().await {
                Event::Command { id, name, args } => {
                    let result = flowctl.command(&name, &args);
                    link.reply(id, result);
                }
                Event::Shutdown { cleanup } => {
                    tracing::info!(
                        "flowctl stopping after {} s (cleanup: {cleanup})",
                        flowctl.started.elapsed().as_secs()
                    );
                    return 0;
                }
            }
        }
    });
    std::process::exit(code);
}
