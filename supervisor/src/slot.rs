//! One supervised child: its state, its history, and how its deaths are described.

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::Signal;
use shared::channel;
use shared::ipc::Role;
use shared::unixctl::Incoming;

use crate::backoff::RestartPolicy;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Spawned, no hello or no ready yet.
    Starting,
    Ready,
    /// Dead, restart scheduled.
    Backoff,
    /// Asked to stop (shutdown or supervisor/restart), waiting for it to exit.
    Stopping,
    /// Stopped for good (shutdown, crash loop).
    Stopped,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Ready => "ready",
            State::Backoff => "backoff",
            State::Stopping => "stopping",
            State::Stopped => "stopped",
        }
    }
}

/// How a child ended.
#[derive(Clone, Debug, PartialEq)]
pub struct ExitCause {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub core_dumped: bool,
    /// Killed by us because it stopped heartbeating.
    pub watchdog: bool,
    pub at: SystemTime,
}

impl ExitCause {
    pub fn from_status(status: ExitStatus, watchdog: bool) -> ExitCause {
        ExitCause {
            code: status.code(),
            signal: status.signal(),
            core_dumped: status.core_dumped(),
            watchdog,
            at: SystemTime::now(),
        }
    }

    pub fn signal_name(&self) -> Option<String> {
        self.signal.map(|s| Signal::try_from(s).map_or_else(|_| format!("signal {s}"), |sig| sig.as_str().to_string()))
    }

    /// "killed by SIGKILL", "exit code 1", "killed by SIGABRT, core dumped, watchdog".
    pub fn describe(&self) -> String {
        let mut text = match (self.code, self.signal_name()) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(sig)) => format!("killed by {sig}"),
            (None, None) => "unknown exit".to_string(),
        };
        if self.core_dumped {
            text.push_str(", core dumped");
        }
        if self.watchdog {
            text.push_str(", watchdog");
        }
        text
    }
}

/// A forwarded control command waiting for the child's reply.
pub struct PendingCommand {
    pub request: Incoming,
    pub deadline: Instant,
    /// The supervisor's own part of a combined answer (memory/show), put before the child's;
    /// if the child cannot answer, this part alone is the answer.
    pub prefix: Option<String>,
}

impl PendingCommand {
    pub fn answer(self, result: Result<String, String>) {
        let result = match (self.prefix, result) {
            (Some(own), Ok(child)) if child.trim().is_empty() => Ok(own),
            (Some(own), Ok(child)) => Ok(format!("{own} {}", child.trim_end())),
            (Some(own), Err(_)) => Ok(own),
            (None, r) => r,
        };
        self.request.respond(result);
    }
}

pub struct Slot {
    pub role: Role,
    pub state: State,
    /// Bumped per spawn; events from older generations are ignored.
    pub generation: u64,
    pub pid: Option<i32>,
    pub sender: Option<channel::Sender>,
    pub started_at: Option<Instant>,
    pub ready_since: Option<Instant>,
    pub last_heartbeat: Instant,
    pub status_line: String,
    pub restarts: u64,
    pub policy: RestartPolicy,
    pub last_exit: Option<ExitCause>,
    pub restart_at: Option<Instant>,
    /// Next escalation: at this instant, send this signal (watchdog or stop timeouts).
    pub escalation: Option<(Instant, Signal)>,
    pub watchdog_fired: bool,
    /// supervisor/restart: respawn at once when it exits, without counting a crash.
    pub restart_requested: bool,
    pub pending: HashMap<u64, PendingCommand>,
}

impl Slot {
    pub fn new(role: Role) -> Slot {
        Slot {
            role,
            state: State::Stopped,
            generation: 0,
            pid: None,
            sender: None,
            started_at: None,
            ready_since: None,
            last_heartbeat: Instant::now(),
            status_line: String::new(),
            restarts: 0,
            policy: RestartPolicy::default(),
            last_exit: None,
            restart_at: None,
            escalation: None,
            watchdog_fired: false,
            restart_requested: false,
            pending: HashMap::new(),
        }
    }

    pub fn name(&self) -> &'static str {
        self.role.name()
    }

    pub fn is_running(&self) -> bool {
        matches!(self.state, State::Starting | State::Ready | State::Stopping)
    }

    pub fn heartbeating(&self, now: Instant, timeout: Duration) -> bool {
        self.state == State::Ready && now.duration_since(self.last_heartbeat) < timeout
    }

    /// Answers every forwarded command still waiting on this child.
    pub fn fail_pending(&mut self, why: &str) {
        for (_, p) in self.pending.drain() {
            p.answer(Err(why.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_read_like_a_person_would_say_them() {
        let killed = ExitCause::from_status(ExitStatus::from_raw(9), false);
        assert_eq!(killed.describe(), "killed by SIGKILL");
        let aborted = ExitCause::from_status(ExitStatus::from_raw(6 | 0x80), true);
        assert_eq!(aborted.describe(), "killed by SIGABRT, core dumped, watchdog");
        let exited = ExitCause::from_status(ExitStatus::from_raw(3 << 8), false);
        assert_eq!(exited.describe(), "exit code 3");
    }
}
