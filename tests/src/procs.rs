//! Process bookkeeping by pid *and* start time, so that a recycled pid is never signalled.
//!
//! Daemons started with `--detach` are not our children: their parent exits and they are
//! re-parented. We make the test process a child subreaper so they are re-parented to us and we
//! can reap them; otherwise (pid 1 in a container often does not reap) they would linger as
//! zombies. A zombie counts as dead everywhere here.

use std::fs;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// A process identity that survives pid reuse: the pid plus its start time (clock ticks since
/// boot, field 22 of `/proc/<pid>/stat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProcId {
    pub pid: i32,
    start: u64,
}

struct Stat {
    state: char,
    ppid: i32,
    start: u64,
}

fn stat(pid: i32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and ')'; everything after the last ')' is
    // space separated: state is field 3, ppid field 4, starttime field 22.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

static SUBREAPER: OnceLock<bool> = OnceLock::new();

/// Makes this (test) process the subreaper of everything it starts, once per process.
/// Returns whether that worked.
pub fn become_subreaper() -> bool {
    // SAFETY: prctl with integer arguments only.
    *SUBREAPER.get_or_init(|| unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } == 0)
}

impl ProcId {
    /// The process currently running as `pid`, if any (zombies included).
    pub fn of(pid: i32) -> Option<ProcId> {
        stat(pid).map(|s| ProcId { pid, start: s.start })
    }

    /// True while the same process (not a recycled pid) exists and is not a zombie.
    /// Reaps it if it is a zombie we are the parent of.
    pub fn is_alive(&self) -> bool {
        match stat(self.pid) {
            Some(s) if s.start == self.start => {
                // A zombie thread-group leader whose other threads are still exiting cannot be
                // reaped yet (waitpid says StillAlive): count it as alive until it can, so
                // that "stopped" means "gone from /proc" for our own children.
                !matches!(s.state, 'Z' | 'X') || self.reap_pending()
            }
            _ => false,
        }
    }

    /// Rebuilds an identity recorded elsewhere (e.g. by another test process).
    pub fn from_parts(pid: i32, start_time: u64) -> ProcId {
        ProcId { pid, start: start_time }
    }

    /// Start time in clock ticks since boot (field 22 of `/proc/<pid>/stat`).
    pub fn start_time(&self) -> u64 {
        self.start
    }

    /// True while `/proc/<pid>` shows this very process, zombie included. Once a stopped
    /// daemon has been reaped (we are its subreaper) this is false.
    pub fn exists(&self) -> bool {
        stat(self.pid).is_some_and(|s| s.start == self.start)
    }

    /// Reaps the zombie if it is our (possibly adopted) child. True if it is our child but not
    /// reapable yet; false once reaped, or if it is someone else's zombie.
    fn reap_pending(&self) -> bool {
        matches!(waitpid(Pid::from_raw(self.pid), Some(WaitPidFlag::WNOHANG)), Ok(WaitStatus::StillAlive))
    }

    /// Sends `sig` if the process is still the one we recorded. Returns whether it was sent.
    pub fn signal(&self, sig: Signal) -> bool {
        self.is_alive() && kill(Pid::from_raw(self.pid), sig).is_ok()
    }

    /// All live descendants (children, grandchildren, ...), found by walking /proc.
    pub fn descendants(&self) -> Vec<ProcId> {
        let all = all_procs();
        let mut out: Vec<ProcId> = Vec::new();
        let mut frontier = vec![self.pid];
        while let Some(parent) = frontier.pop() {
            for (id, st) in &all {
                if st.ppid == parent && !out.contains(id) && !matches!(st.state, 'Z' | 'X') {
                    out.push(*id);
                    frontier.push(id.pid);
                }
            }
        }
        out
    }
}

fn all_procs() -> Vec<(ProcId, Stat)> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let st = stat(pid)?;
            Some((ProcId { pid, start: st.start }, st))
        })
        .collect()
}

/// Live processes with an environment entry starting with `prefix` (e.g.
/// `OVN_RUNDIR=/tmp/cz.abc/`). A sandbox's directory is unique, so this finds everything a
/// sandbox started, including grandchildren it never heard of.
pub fn with_env_prefix(prefix: &str) -> Vec<ProcId> {
    let me = std::process::id() as i32;
    all_procs()
        .into_iter()
        .filter(|(id, st)| id.pid != me && !matches!(st.state, 'Z' | 'X'))
        .filter(|(id, _)| {
            fs::read(format!("/proc/{}/environ", id.pid))
                .map(|env| env.split(|b| *b == 0).any(|e| e.starts_with(prefix.as_bytes())))
                .unwrap_or(false)
        })
        .map(|(id, _)| id)
        .collect()
}

/// Waits until none of `procs` is alive or `timeout` passes; returns those still alive.
pub fn wait_gone(procs: &[ProcId], timeout: Duration) -> Vec<ProcId> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        let alive: Vec<ProcId> = procs.iter().copied().filter(|p| p.is_alive()).collect();
        if alive.is_empty() || Instant::now() >= deadline {
            return alive;
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// SIGTERM, then SIGKILL for whatever is left after `grace`. Returns the processes that needed
/// SIGKILL and, separately, any that survived even that (should never happen).
pub fn terminate(procs: &[ProcId], grace: Duration) -> (Vec<ProcId>, Vec<ProcId>) {
    for p in procs {
        p.signal(Signal::SIGTERM);
    }
    let stubborn = wait_gone(procs, grace);
    for p in &stubborn {
        p.signal(Signal::SIGKILL);
    }
    let survivors = wait_gone(&stubborn, Duration::from_secs(5));
    (stubborn, survivors)
}
