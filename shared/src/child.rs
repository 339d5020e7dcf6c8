//! What flowctl and pinctrl share as supervised children: their command line, the checks that
//! tie them to their supervisor, the channel with hello and heartbeat, and the messages every
//! child handles the same way (log levels, log reopen, signals).

use std::collections::BTreeMap;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::Duration;

use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc;

use crate::channel;
use crate::ipc::{FromChild, Role, ToChild, PROTOCOL_VERSION};
use crate::vlog;

/// Exit code for "my configuration is wrong: restarting me will not help".
pub const EXIT_CONFIG: i32 = 78;

/// A child's command line, written by the supervisor.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildArgs {
    pub channel_fd: i32,
    pub supervisor_pid: i32,
    pub heartbeat: Duration,
    pub log_file: Option<PathBuf>,
    pub vlog: Vec<String>,
    pub ovs_remote: String,
    /// ovn-controller options the supervisor takes but flowctl applies (see
    /// [`PASSTHROUGH_OPTIONS`]), by long name.
    pub options: BTreeMap<String, String>,
}

/// ovn-controller's options that chassisd accepts and hands to its children unchanged.
pub const PASSTHROUGH_OPTIONS: &[&str] = &[
    "chassis",
    "private-key",
    "certificate",
    "ca-cert",
    "bootstrap-ca-cert",
    "peer-ca-cert",
    "ssl-protocols",
    "ssl-ciphers",
];

impl ChildArgs {
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<ChildArgs, String> {
        let mut channel_fd = None;
        let mut supervisor_pid = None;
        let mut heartbeat = Duration::from_secs(1);
        let mut log_file = None;
        let mut vlog = Vec::new();
        let mut ovs_remote = None;
        let mut options = BTreeMap::new();
        for arg in args {
            if let Some(v) = arg.strip_prefix("--channel-fd=") {
                channel_fd = Some(v.parse().map_err(|_| format!("bad --channel-fd: {v}"))?);
            } else if let Some(v) = arg.strip_prefix("--supervisor-pid=") {
                supervisor_pid = Some(v.parse().map_err(|_| format!("bad --supervisor-pid: {v}"))?);
            } else if let Some(v) = arg.strip_prefix("--heartbeat-ms=") {
                heartbeat = Duration::from_millis(v.parse().map_err(|_| format!("bad --heartbeat-ms: {v}"))?);
            } else if let Some(v) = arg.strip_prefix("--log-file=") {
                log_file = Some(PathBuf::from(v));
            } else if let Some(opt) = arg.strip_prefix("--option:") {
                let (name, value) = opt.split_once('=').ok_or_else(|| format!("bad option {arg}"))?;
                if !PASSTHROUGH_OPTIONS.contains(&name) {
                    return Err(format!("unknown option {arg}"));
                }
                options.insert(name.to_string(), value.to_string());
            } else if let Some(v) = arg.strip_prefix("-v") {
                vlog.push(v.to_string());
            } else if arg.starts_with('-') {
                return Err(format!("unknown option {arg}"));
            } else if ovs_remote.replace(arg).is_some() {
                return Err("more than one OVS database remote".to_string());
            }
        }
        Ok(ChildArgs {
            channel_fd: channel_fd.ok_or("--channel-fd is required (started by chassisd)")?,
            supervisor_pid: supervisor_pid.ok_or("--supervisor-pid is required (started by chassisd)")?,
            heartbeat,
            log_file,
            vlog,
            ovs_remote: ovs_remote.ok_or("the OVS database remote is required")?,
            options,
        })
    }

    pub fn to_args(&self) -> Vec<String> {
        let mut out = vec![
            format!("--channel-fd={}", self.channel_fd),
            format!("--supervisor-pid={}", self.supervisor_pid),
            format!("--heartbeat-ms={}", self.heartbeat.as_millis()),
        ];
        if let Some(f) = &self.log_file {
            out.push(format!("--log-file={}", f.display()));
        }
        out.extend(self.vlog.iter().map(|s| format!("-v{s}")));
        out.extend(self.options.iter().map(|(k, v)| format!("--option:{k}={v}")));
        out.push(self.ovs_remote.clone());
        out
    }
}

/// Parses the command line, checks the supervisor, starts logging. Exits on failure: a child
/// that cannot start must say why once and stop.
pub fn start(role: Role, modules: &[&str]) -> ChildArgs {
    let args = match ChildArgs::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{}: {e}", role.name());
            std::process::exit(EXIT_CONFIG);
        }
    };
    // The supervisor armed PR_SET_PDEATHSIG before exec; if it died before that, we were
    // re-parented already and must not run unsupervised.
    if nix::unistd::getppid().as_raw() != args.supervisor_pid {
        eprintln!("{}: supervisor {} is gone, exiting", role.name(), args.supervisor_pid);
        std::process::exit(1);
    }
    if let Err(e) = vlog::init(role.name(), modules, args.log_file.as_deref(), &args.vlog) {
        eprintln!("{}: {e}", role.name());
        std::process::exit(EXIT_CONFIG);
    }
    // A detached child's stderr goes nowhere: put panics in the log file too.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        tracing::error!("panic: {info}");
        default_hook(info);
    }));
    args
}

/// A child's whole life: command line, logging, a current-thread runtime (so the heartbeat
/// stops when the child's loop does), the supervisor link, then `body`; exits with its code.
pub fn run<F, Fut>(role: Role, modules: &[&str], body: F) -> !
where
    F: FnOnce(ChildArgs, Link) -> Fut,
    Fut: std::future::Future<Output = i32>,
{
    let args = start(role, modules);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{}: cannot start runtime: {e}", role.name());
            std::process::exit(1)
        }
    };
    let code = runtime.block_on(async move {
        match Link::connect(role, &args) {
            Ok(link) => body(args, link).await,
            Err(e) => {
                tracing::error!("cannot open the supervisor channel: {e}");
                1
            }
        }
    });
    std::process::exit(code)
}

/// What a child's own loop must act on; everything else the link handles.
#[derive(Debug)]
pub enum Event {
    Command { id: u64, name: String, args: Vec<String> },
    Shutdown { cleanup: bool },
}

/// The child's end of the supervisor channel.
pub struct Link {
    sender: channel::Sender,
    inbox: mpsc::Receiver<ToChild>,
    sigterm: Signal,
    sigint: Signal,
    sighup: Signal,
}

impl Link {
    /// Takes over the inherited channel fd, says hello and starts the heartbeat. Must run
    /// inside the child's (current-thread) runtime, so the heartbeat stops when its loop does.
    pub fn connect(role: Role, args: &ChildArgs) -> std::io::Result<Link> {
        // SAFETY: the supervisor passed this fd for us alone; nothing else in this process
        // owns it, and it is taken exactly once.
        let fd = unsafe { OwnedFd::from_raw_fd(args.channel_fd) };
        let std_stream = std::os::unix::net::UnixStream::from(fd);
        std_stream.set_nonblocking(true)?;
        let stream = tokio::net::UnixStream::from_std(std_stream)?;
        let (sender, inbox) = channel::open::<ToChild>(stream, "supervisor channel");
        let hello = FromChild::Hello { version: PROTOCOL_VERSION, role, pid: std::process::id() };
        sender.send(&hello);
        let beat = sender.clone();
        let period = args.heartbeat;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tick.tick().await;
                beat.send(&FromChild::Heartbeat);
            }
        });
        Ok(Link {
            sender,
            inbox,
            sigterm: signal(SignalKind::terminate())?,
            sigint: signal(SignalKind::interrupt())?,
            sighup: signal(SignalKind::hangup())?,
        })
    }

    pub fn sender(&self) -> &channel::Sender {
        &self.sender
    }

    pub fn ready(&self) {
        self.sender.send(&FromChild::Ready);
    }

    pub fn status(&self, line: impl Into<String>) {
        self.sender.send(&FromChild::Status { line: line.into() });
    }

    pub fn reply(&self, id: u64, result: Result<String, String>) {
        self.sender.send(&FromChild::Reply { id, result });
    }

    /// The next event for the child's loop. A closed channel means the supervisor is gone:
    /// that is a shutdown without cleanup.
    pub async fn next_event(&mut self) -> Event {
        loop {
            let msg = tokio::select! {
                msg = self.inbox.recv() => msg,
                _ = self.sigterm.recv() => return Event::Shutdown { cleanup: false },
                _ = self.sigint.recv() => return Event::Shutdown { cleanup: false },
                _ = self.sighup.recv() => {
                    reopen_log();
                    continue;
                }
            };
            match msg {
                None => {
                    tracing::warn!("supervisor channel closed, exiting");
                    return Event::Shutdown { cleanup: false };
                }
                Some(ToChild::Hello { version }) if version != PROTOCOL_VERSION => {
                    tracing::error!("supervisor speaks protocol {version}, this child {PROTOCOL_VERSION}");
                    std::process::exit(EXIT_CONFIG);
                }
                Some(ToChild::Hello { .. }) => {}
                Some(ToChild::SetLogLevels { specs }) => {
                    if let Err(e) = vlog::set(&specs) {
                        tracing::warn!("vlog/set {specs:?}: {e}");
                    }
                }
                Some(ToChild::ReopenLog) => reopen_log(),
                Some(ToChild::Command { id, name, args }) => {
                    tracing::debug!("control command {id}: {name} {args:?}");
                    return Event::Command { id, name, args };
                }
                Some(ToChild::Shutdown { cleanup }) => return Event::Shutdown { cleanup },
            }
        }
    }
}

fn reopen_log() {
    if let Err(e) = vlog::reopen() {
        tracing::warn!("cannot reopen log file: {e}");
    }
}

/// Resident set size in kB, from /proc; for memory/show.
pub fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_round_trip() {
        let args = ChildArgs {
            channel_fd: 5,
            supervisor_pid: 100,
            heartbeat: Duration::from_millis(250),
            log_file: Some("/tmp/x.log".into()),
            vlog: vec!["console:off".into(), "file:dbg".into()],
            ovs_remote: "unix:/tmp/db.sock".into(),
            options: BTreeMap::from([("chassis".to_string(), "hv9".to_string())]),
        };
        assert_eq!(ChildArgs::parse(args.to_args()).unwrap(), args);
        assert!(ChildArgs::parse(vec!["--bogus".to_string()]).is_err());
        assert!(ChildArgs::parse(vec!["--option:nope=1".to_string()]).is_err());
        assert!(ChildArgs::parse(vec!["unix:/x".to_string()]).is_err());
    }
}
