//! chassisd: the supervisor. It owns the pidfile and the control socket, starts flowctl and
//! pinctrl, restarts each alone when it dies, and speaks to systemd. No OVSDB, no OpenFlow.

mod backoff;
mod cli;
mod config;
mod control;
mod daemon;
mod notify;
mod run;
mod slot;
mod spawn;
mod status;

use clap::Parser;

use crate::run::{EXIT_CONFIG, EXIT_FAILURE};

/// Modules this process logs from, for `vlog/set` before they have logged.
const LOG_MODULES: &[&str] = &["chassisd", "run", "spawn", "control", "unixctl", "channel", "notify"];

fn config_error(msg: &str) -> ! {
    eprintln!("chassisd: {msg}");
    std::process::exit(EXIT_CONFIG)
}

fn main() {
    let cli = match cli::Cli::try_parse_from(cli::normalize_args(std::env::args())) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            std::process::exit(0)
        }
        Err(e) => config_error(e.to_string().lines().next().unwrap_or("invalid command line")),
    };
    if cli.version {
        print!("{}", control::version_text());
        return;
    }
    if let Err(e) = cli.check() {
        config_error(&e);
    }
    let tuning = config::Tuning::from_env().unwrap_or_else(|e| config_error(&e));
    if let Err(e) = shared::ovsdb::TlsConfig::from_options(&cli.passthrough()) {
        config_error(&e.to_string());
    }
    let known = shared::vlog::known_modules();
    let mut scratch = shared::vlog::Levels::default();
    for spec in &cli.verbose {
        if let Err(e) = scratch.apply_spec(spec, &known) {
            config_error(&e);
        }
    }

    // Fork before any thread exists.
    let detach_pipe =
        if cli.detach { Some((daemon::detach().unwrap_or_else(|e| config_error(&e)), !cli.no_chdir)) } else { None };
    let pidfile = match cli.pidfile_path().map(|p| daemon::create_pidfile(&p, cli.overwrite_pidfile)) {
        Some(Err(e)) => {
            eprintln!("chassisd: {e}");
            std::process::exit(EXIT_FAILURE)
        }
        Some(Ok(p)) => Some(p),
        None => None,
    };
    if let Err(e) = shared::vlog::init("chassisd", LOG_MODULES, cli.log_file_path().as_deref(), &cli.verbose) {
        eprintln!("chassisd: {e}");
        std::process::exit(EXIT_CONFIG)
    }

    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("chassisd: cannot start runtime: {e}");
            std::process::exit(EXIT_FAILURE)
        }
    };
    let code = runtime.block_on(async move {
        let ctl_path = cli::ovn_rundir().join(format!("ovn-controller.{}.ctl", std::process::id()));
        let (server, control) = match shared::unixctl::serve(&ctl_path, control::all_commands()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("{}: cannot listen: {e}", ctl_path.display());
                eprintln!("chassisd: {}: cannot listen: {e}", ctl_path.display());
                return EXIT_FAILURE;
            }
        };
        tracing::info!("chassisd {} starting, control socket {}", env!("CARGO_PKG_VERSION"), ctl_path.display());
        let launch = spawn::Launch {
            ovs_remote: cli.ovs_remote(),
            log_file: shared::vlog::log_file(),
            vlog: cli.verbose.clone(),
            heartbeat: tuning.heartbeat_interval,
            detached: cli.detach,
            options: cli.passthrough(),
            pinctrl_nice: tuning.pinctrl_nice,
        };
        let code = run::Supervisor::new(tuning, launch, detach_pipe).run(control).await;
        drop(server);
        code
    });
    drop(pidfile);
    std::process::exit(code);
}
