//! fork+exec of a child with its channel: the child's end of a socketpair is the only fd it
//! inherits besides stdio; it dies with us (PR_SET_PDEATHSIG, armed on the supervisor's main
//! thread, which lives as long as the process); it runs in its own process group, and without
//! the systemd variables that belong to the supervisor alone.

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::PathBuf;
use std::process::Stdio;

use shared::child::ChildArgs;
use shared::ipc::{FromChild, Role};
use tokio::sync::mpsc;

use crate::slot::Slot;

/// What the event loop hears about a child.
#[derive(Debug)]
pub enum ChildEvent {
    Message { role: Role, generation: u64, msg: FromChild },
    Exited { role: Role, generation: u64, status: std::process::ExitStatus },
}

/// Settings every child gets on its command line.
pub struct Launch {
    pub ovs_remote: String,
    pub log_file: Option<PathBuf>,
    pub vlog: Vec<String>,
    pub heartbeat: std::time::Duration,
    /// Detached: the children's stdio goes nowhere, like the supervisor's once it is ready.
    pub detached: bool,
    pub options: std::collections::BTreeMap<String, String>,
    /// pinctrl's nice value (flowctl keeps the supervisor's).
    pub pinctrl_nice: i32,
}

const SYSTEMD_ONLY_ENV: &[&str] =
    &["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"];

/// The binary for a role: `CHASSISD_FLOWCTL_BIN`/`CHASSISD_PINCTRL_BIN`, else next to chassisd.
pub fn binary(role: Role) -> PathBuf {
    let var = format!("CHASSISD_{}_BIN", role.name().to_uppercase());
    if let Some(path) = std::env::var_os(var) {
        return PathBuf::from(path);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(role.name())))
        .unwrap_or_else(|| PathBuf::from(role.name()))
}

/// Starts the child for `slot` and wires its events into `events`.
pub fn spawn(slot: &mut Slot, launch: &Launch, events: &mpsc::Sender<ChildEvent>) -> std::io::Result<()> {
    let (ours, theirs) = StdUnixStream::pair()?;
    let child_fd = theirs.as_raw_fd();
    let parent = std::process::id() as libc::pid_t;
    let args = ChildArgs {
        channel_fd: child_fd,
        supervisor_pid: parent,
        heartbeat: launch.heartbeat,
        log_file: launch.log_file.clone(),
        vlog: launch.vlog.clone(),
        ovs_remote: launch.ovs_remote.clone(),
        options: launch.options.clone(),
    };
    let mut cmd = tokio::process::Command::new(binary(slot.role));
    cmd.args(args.to_args()).stdin(Stdio::null()).process_group(0).kill_on_drop(false);
    if launch.detached {
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
    }
    for var in SYSTEMD_ONLY_ENV {
        cmd.env_remove(var);
    }
    let nice = (slot.role == Role::Pinctrl).then_some(launch.pinctrl_nice);
    // SAFETY: only async-signal-safe calls (prctl, getppid, fcntl, setpriority, _exit) between
    // fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // We may have died between fork and prctl: then nobody would ever signal us.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            // The channel fd was opened close-on-exec like every other fd; keep this one.
            if libc::fcntl(child_fd, libc::F_SETFD, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Without the privilege the child runs at our priority: checked after the spawn.
            if let Some(n) = nice {
                libc::setpriority(libc::PRIO_PROCESS, 0, n);
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    drop(theirs);
    let pid = child.id().map(|p| p as i32);
    if let (Some(want), Some(p)) = (nice, pid) {
        // SAFETY: plain syscalls on a pid we just spawned; errno is cleared to tell -1 apart.
        let got = unsafe {
            *libc::__errno_location() = 0;
            libc::getpriority(libc::PRIO_PROCESS, p as libc::id_t)
        };
        if got != want {
            tracing::warn!("{}: runs at nice {got}, not {want} (CAP_SYS_NICE needed below 0)", slot.name());
        }
    }

    ours.set_nonblocking(true)?;
    let stream = tokio::net::UnixStream::from_std(ours)?;
    let (sender, mut inbox) = shared::channel::open::<FromChild>(stream, slot.name());

    slot.generation += 1;
    let (role, generation) = (slot.role, slot.generation);
    let to_loop = events.clone();
    tokio::spawn(async move {
        while let Some(msg) = inbox.recv().await {
            if to_loop.send(ChildEvent::Message { role, generation, msg }).await.is_err() {
                return;
            }
        }
    });
    let to_loop = events.clone();
    tokio::spawn(async move {
        // Reaps the child (tokio waits on SIGCHLD), so no zombie outlives a generation.
        let status = child.wait().await.unwrap_or_else(|e| {
            tracing::error!("{}: wait failed: {e}", role.name());
            // Report it as a failure exit, so the slot still restarts.
            std::os::unix::process::ExitStatusExt::from_raw(255 << 8)
        });
        let _ = to_loop.send(ChildEvent::Exited { role, generation, status }).await;
    });

    slot.pid = pid;
    slot.sender = Some(sender);
    Ok(())
}
