//! flowctl: owns the OVS and Southbound database connections, computes the flow table and
//! installs it. This is the process entry: supervisor link, then the main loop.

mod binding;
mod bridge;
mod chassis;
mod config;
mod controller;
mod coverage;
mod ctzone;
mod db;
mod desired;
mod flows;
mod inject;
mod lflow;
mod monitor;
#[allow(dead_code)] // wired into the main loop by controller.rs
mod ofctrl;
mod patch;
mod physical;
mod physical_input;
mod pinctrl_server;
mod stopwatch;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use shared::child;
use shared::ipc::Role;

const LOG_MODULES: &[&str] = &["flowctl", "channel", "child", "ovsdb", "controller", "binding", "chassis", "bridge"];

/// `-n CHASSIS`, else the first line of `$OVN_SYSCONFDIR/system-id-override` (23.03's order).
fn chassis_override(args: &child::ChildArgs) -> Option<String> {
    if let Some(name) = args.options.get("chassis") {
        return Some(name.clone());
    }
    let dir = std::env::var("OVN_SYSCONFDIR").unwrap_or_else(|_| "/etc/ovn".to_string());
    let text = std::fs::read_to_string(std::path::Path::new(&dir).join("system-id-override")).ok()?;
    text.lines().next().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string)
}

fn main() {
    child::run(Role::Flowctl, LOG_MODULES, |args, link| async move {
        let tls = match shared::ovsdb::TlsConfig::from_options(&args.options) {
            Ok(tls) => tls,
            Err(e) => {
                tracing::error!("{e}");
                return child::EXIT_CONFIG;
            }
        };
        let flowctl = match controller::Flowctl::new(&args.ovs_remote, chassis_override(&args), tls) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!("{e}");
                return child::EXIT_CONFIG;
            }
        };
        tracing::info!("flowctl {} started, OVS database {}", env!("CARGO_PKG_VERSION"), args.ovs_remote);
        flowctl.run(link).await
    })
}
