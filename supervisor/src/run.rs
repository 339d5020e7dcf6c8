//! The supervisor's event loop: child events, control requests, signals and timers, all on one
//! thread. Nothing here blocks: restarts, watchdog escalations and command timeouts are
//! deadlines the loop sleeps towards, so the control socket answers during any restart storm.

use std::fs::File;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use shared::ipc::{FromChild, Role, ToChild, PROTOCOL_VERSION};
use shared::unixctl::Incoming;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use crate::backoff::{Jitter, Verdict};
use crate::config::Tuning;
use crate::notify::Notifier;
use crate::slot::{ExitCause, Slot, State};
use crate::spawn::{spawn, ChildEvent, Launch};

/// Exit codes, shared with the unit file.
pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILURE: i32 = 1;
pub const EXIT_CRASH_LOOP: i32 = 69;
pub use shared::child::EXIT_CONFIG;

/// A child's status line is one line for humans and systemd; longer ones are cut.
const MAX_STATUS_CHARS: usize = 200;

pub struct Supervisor {
    pub tuning: Tuning,
    pub launch: Launch,
    pub slots: [Slot; 2],
    pub started: Instant,
    pub notifier: Notifier,
    events_tx: mpsc::Sender<ChildEvent>,
    events_rx: mpsc::Receiver<ChildEvent>,
    jitter: Jitter,
    next_command_id: u64,
    /// The --detach parent waits on this until both children are ready.
    detach_pipe: Option<(File, bool)>,
    ready_announced: bool,
    /// Set when the loop must end: (exit code, remove chassis registration?).
    pub exit_request: Option<(i32, bool)>,
}

fn slot_index(role: Role) -> usize {
    match role {
        Role::Flowctl => 0,
        Role::Pinctrl => 1,
    }
}

impl Supervisor {
    pub fn new(tuning: Tuning, launch: Launch, detach_pipe: Option<(File, bool)>) -> Supervisor {
        // Bounded: a child flooding its channel is slowed down by its own socket, not buffered here.
        let (events_tx, events_rx) = mpsc::channel(1024);
        Supervisor {
            tuning,
            launch,
            slots: [Slot::new(Role::Flowctl), Slot::new(Role::Pinctrl)],
            started: Instant::now(),
            notifier: Notifier::from_env(),
            events_tx,
            events_rx,
            jitter: Jitter::seeded(),
            next_command_id: 1,
            detach_pipe,
            ready_announced: false,
            exit_request: None,
        }
    }

    pub fn slot(&self, role: Role) -> &Slot {
        &self.slots[slot_index(role)]
    }

    fn slot_mut(&mut self, role: Role) -> &mut Slot {
        &mut self.slots[slot_index(role)]
    }

    /// Runs until a signal, `exit` or a crash loop; returns the process exit code.
    pub async fn run(mut self, mut control: mpsc::Receiver<Incoming>) -> i32 {
        let (mut sigterm, mut sigint, mut sighup) =
            match (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup())) {
                (Ok(t), Ok(i), Ok(h)) => (t, i, h),
                _ => {
                    tracing::error!("cannot install signal handlers");
                    return EXIT_FAILURE;
                }
            };
        // Children start in a known order: flowctl owns the databases pinctrl's state comes from.
        for role in Role::ALL {
            self.start(role);
        }
        loop {
            let wake = self.next_deadline();
            tokio::select! {
                Some(event) = self.events_rx.recv() => self.on_child_event(event),
                Some(request) = control.recv() => self.on_control(request),
                _ = sigterm.recv() => self.request_exit(EXIT_OK, false),
                _ = sigint.recv() => self.request_exit(EXIT_OK, false),
                _ = sighup.recv() => self.reopen_logs(),
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
            self.on_timers(Instant::now());
            self.publish_status();
            if let Some((code, cleanup)) = self.exit_request {
                self.shutdown(cleanup).await;
                return code;
            }
        }
    }

    pub fn request_exit(&mut self, code: i32, cleanup: bool) {
        if self.exit_request.is_none() {
            self.exit_request = Some((code, cleanup));
        }
    }

    fn start(&mut self, role: Role) {
        let now = Instant::now();
        let index = slot_index(role);
        let slot = &mut self.slots[index];
        slot.restart_at = None;
        slot.escalation = None;
        slot.watchdog_fired = false;
        slot.ready_since = None;
        slot.last_heartbeat = now;
        match spawn(slot, &self.launch, &self.events_tx) {
            Ok(()) => {
                slot.state = State::Starting;
                slot.started_at = Some(now);
                tracing::info!("{}: started, pid {}", slot.name(), slot.pid.unwrap_or(0));
            }
            Err(e) => {
                // A failed spawn is a death like any other: it backs off and counts.
                tracing::error!("{}: cannot start {}: {e}", slot.name(), crate::spawn::binary(role).display());
                self.after_death(role, now);
            }
        }
    }

    fn on_child_event(&mut self, event: ChildEvent) {
        match event {
            ChildEvent::Message { role, generation, msg } if generation == self.slot(role).generation => {
                self.on_message(role, msg)
            }
            ChildEvent::Exited { role, generation, status } if generation == self.slot(role).generation => {
                let exiting = self.exit_request.is_some();
                let slot = self.slot_mut(role);
                let cause = ExitCause::from_status(status, slot.watchdog_fired);
                tracing::warn!("{}: pid {} died, {}", slot.name(), slot.pid.unwrap_or(0), cause.describe());
                slot.pid = None;
                slot.sender = None;
                slot.escalation = None;
                slot.fail_pending(&format!("{} exited before answering", role.name()));
                let config_error = cause.code == Some(EXIT_CONFIG);
                slot.last_exit = Some(cause);
                if exiting || slot.state == State::Stopped {
                    slot.state = State::Stopped;
                } else if config_error {
                    tracing::error!("{}: configuration error, stopping chassisd", role.name());
                    slot.state = State::Stopped;
                    self.request_exit(EXIT_CONFIG, false);
                } else if std::mem::take(&mut slot.restart_requested) {
                    self.start(role);
                } else {
                    self.after_death(role, Instant::now());
                }
            }
            // An event from a generation that is already gone.
            _ => {}
        }
    }

    fn after_death(&mut self, role: Role, now: Instant) {
        let jitter = self.jitter.next();
        let tuning = self.tuning.clone();
        let slot = self.slot_mut(role);
        let healthy_for = slot.ready_since.map_or(Duration::ZERO, |t| now.duration_since(t));
        slot.ready_since = None;
        match slot.policy.on_death(&tuning, now, healthy_for, jitter) {
            Verdict::RestartAfter(delay) => {
                slot.restarts += 1;
                slot.state = State::Backoff;
                slot.restart_at = Some(now + delay);
                tracing::info!("{}: restarting in {} ms", slot.name(), delay.as_millis());
            }
            Verdict::CrashLoop => {
                tracing::error!(
                    "{}: more than {} deaths in {} s: crash loop, stopping chassisd",
                    slot.name(),
                    tuning.crash_loop_deaths,
                    tuning.crash_loop_window.as_secs()
                );
                slot.state = State::Stopped;
                self.request_exit(EXIT_CRASH_LOOP, false);
            }
        }
    }

    fn on_message(&mut self, role: Role, msg: FromChild) {
        let now = Instant::now();
        let slot = self.slot_mut(role);
        match msg {
            FromChild::Hello { version, role: said, pid } => {
                if version != PROTOCOL_VERSION || said != role {
                    tracing::error!("{}: pid {pid} says it is {said:?} speaking v{version}: killing it", role.name());
                    signal_child(slot, Signal::SIGKILL);
                    return;
                }
                if let Some(sender) = &slot.sender {
                    sender.send(&ToChild::Hello { version: PROTOCOL_VERSION });
                }
                slot.last_heartbeat = now;
            }
            FromChild::Ready => {
                if slot.state == State::Starting {
                    slot.state = State::Ready;
                    slot.ready_since = Some(now);
                    slot.last_heartbeat = now;
                    tracing::info!("{}: ready", slot.name());
                }
                self.announce_ready_once();
            }
            FromChild::Heartbeat => slot.last_heartbeat = now,
            FromChild::Status { line } => slot.status_line = line.chars().take(MAX_STATUS_CHARS).collect(),
            FromChild::Reply { id, result } => match slot.pending.remove(&id) {
                Some(p) => p.answer(result),
                None => tracing::debug!("{}: late reply {id} dropped", slot.name()),
            },
        }
    }

    fn announce_ready_once(&mut self) {
        if self.ready_announced || !self.slots.iter().all(|s| s.state == State::Ready) {
            return;
        }
        self.ready_announced = true;
        tracing::info!("chassisd ready");
        self.notifier.ready();
        if let Some((pipe, chdir)) = self.detach_pipe.take() {
            shared::vlog::disable_console();
            crate::daemon::complete(pipe, chdir);
        }
    }

    /// Forwards a command to the child that owns it, or answers why it cannot.
    pub fn forward(&mut self, role: Role, request: Incoming) {
        self.forward_with(role, request, None);
    }

    /// Forwards with the supervisor's own part of the answer (see [`crate::slot::PendingCommand`]).
    pub fn forward_with(&mut self, role: Role, request: Incoming, prefix: Option<String>) {
        let id = self.next_command_id;
        self.next_command_id += 1;
        let deadline = Instant::now() + self.tuning.command_timeout;
        let slot = self.slot_mut(role);
        let sender = match (&slot.sender, slot.state) {
            (Some(sender), State::Ready | State::Starting) => sender,
            _ => {
                let when = slot
                    .restart_at
                    .map(|t| format!(", restart in {:.1} s", t.saturating_duration_since(Instant::now()).as_secs_f64()))
                    .unwrap_or_default();
                let why = format!("{} is not running ({}{when})", role.name(), slot.state.name());
                crate::slot::PendingCommand { request, deadline, prefix }.answer(Err(why));
                return;
            }
        };
        let msg = ToChild::Command { id, name: request.method.clone(), args: request.args.clone() };
        if sender.send(&msg) {
            slot.pending.insert(id, crate::slot::PendingCommand { request, deadline, prefix });
        } else {
            let why = format!("{} is not accepting commands (queue full)", role.name());
            crate::slot::PendingCommand { request, deadline, prefix }.answer(Err(why));
        }
    }

    /// Sends to every running child (log levels, log reopen).
    pub fn broadcast(&self, msg: &ToChild) {
        for slot in &self.slots {
            if let Some(sender) = &slot.sender {
                sender.send(msg);
            }
        }
    }

    pub fn reopen_logs(&mut self) {
        if let Err(e) = shared::vlog::reopen() {
            tracing::warn!("cannot reopen log file: {e}");
        }
        self.broadcast(&ToChild::ReopenLog);
    }

    /// supervisor/restart: a graceful stop, then an immediate start that is not counted as a crash.
    pub fn restart(&mut self, role: Role) -> String {
        let stop_timeout = self.tuning.stop_timeout;
        let slot = self.slot_mut(role);
        match slot.state {
            State::Backoff => {
                self.start(role);
                format!("{}: started", role.name())
            }
            State::Starting | State::Ready => {
                slot.restart_requested = true;
                ask_to_stop(slot, false, stop_timeout);
                format!("{}: restarting", role.name())
            }
            State::Stopping | State::Stopped => format!("{}: already {}", role.name(), slot.state.name()),
        }
    }

    fn next_deadline(&self) -> Instant {
        let mut next = Instant::now() + Duration::from_secs(3600);
        let hb = self.tuning.heartbeat_timeout;
        for slot in &self.slots {
            let candidates = [
                slot.restart_at,
                slot.escalation.map(|(t, _)| t),
                (slot.is_running() && slot.escalation.is_none()).then(|| slot.last_heartbeat + hb),
                slot.pending.values().map(|p| p.deadline).min(),
            ];
            for t in candidates.into_iter().flatten() {
                next = next.min(t);
            }
        }
        if let Some(ping) = self.notifier.next_ping() {
            next = next.min(ping);
        }
        next
    }

    fn on_timers(&mut self, now: Instant) {
        let tuning = self.tuning.clone();
        for role in Role::ALL {
            let slot = self.slot_mut(role);
            if slot.restart_at.is_some_and(|t| now >= t) && slot.state == State::Backoff {
                self.start(role);
                continue;
            }
            let slot = self.slot_mut(role);
            if let Some((at, sig)) = slot.escalation {
                if now >= at {
                    tracing::warn!(
                        "{}: pid {} still alive, sending {}",
                        slot.name(),
                        slot.pid.unwrap_or(0),
                        sig.as_str()
                    );
                    signal_child(slot, sig);
                    slot.escalation = (sig != Signal::SIGKILL).then_some((now + tuning.abort_timeout, Signal::SIGKILL));
                }
            } else if slot.is_running() && now.duration_since(slot.last_heartbeat) >= tuning.heartbeat_timeout {
                tracing::error!(
                    "{}: pid {} sent no heartbeat for {} ms: aborting it",
                    slot.name(),
                    slot.pid.unwrap_or(0),
                    now.duration_since(slot.last_heartbeat).as_millis()
                );
                slot.watchdog_fired = true;
                // SIGCONT too: a stopped process would otherwise never act on the SIGABRT.
                signal_child(slot, Signal::SIGABRT);
                signal_child(slot, Signal::SIGCONT);
                slot.escalation = Some((now + tuning.abort_timeout, Signal::SIGKILL));
            }
            let expired: Vec<u64> = slot.pending.iter().filter(|(_, p)| now >= p.deadline).map(|(id, _)| *id).collect();
            for id in expired {
                if let Some(p) = slot.pending.remove(&id) {
                    p.answer(Err(format!(
                        "{} did not answer within {} ms",
                        role.name(),
                        tuning.command_timeout.as_millis()
                    )));
                }
            }
        }
        let healthy = self.slots.iter().all(|s| s.heartbeating(now, tuning.heartbeat_timeout));
        self.notifier.maybe_ping(now, healthy);
    }

    fn publish_status(&mut self) {
        let line = crate::status::summary(self);
        self.notifier.status(&line);
    }

    /// Ordered stop: pinctrl, then flowctl, each asked nicely, then killed after the grace period.
    async fn shutdown(&mut self, cleanup: bool) {
        self.notifier.stopping();
        tracing::info!("chassisd stopping");
        for role in [Role::Pinctrl, Role::Flowctl] {
            let stop_timeout = self.tuning.stop_timeout;
            let slot = self.slot_mut(role);
            slot.restart_at = None;
            if slot.pid.is_none() {
                slot.state = State::Stopped;
                continue;
            }
            ask_to_stop(slot, cleanup, stop_timeout);
            slot.state = State::Stopped;
            let kill_at = Instant::now() + stop_timeout;
            let mut killed = false;
            while self.slot(role).pid.is_some() {
                let wait_until = if killed { Instant::now() + Duration::from_secs(2) } else { kill_at };
                match tokio::time::timeout_at(wait_until.into(), self.events_rx.recv()).await {
                    Ok(Some(event)) => self.on_child_event(event),
                    Ok(None) => break,
                    Err(_) if !killed => {
                        let slot = self.slot_mut(role);
                        tracing::warn!("{}: did not stop in time, killing pid {}", slot.name(), slot.pid.unwrap_or(0));
                        signal_child(slot, Signal::SIGKILL);
                        killed = true;
                    }
                    Err(_) => {
                        tracing::error!("{}: pid survived SIGKILL", role.name());
                        break;
                    }
                }
            }
        }
        tracing::info!("chassisd stopped");
    }
}

/// Asks a child to stop over its channel; SIGCONT wakes it if stopped; a deadline follows.
fn ask_to_stop(slot: &mut Slot, cleanup: bool, grace: Duration) {
    if let Some(sender) = &slot.sender {
        sender.send(&ToChild::Shutdown { cleanup });
    }
    signal_child(slot, Signal::SIGCONT);
    slot.state = State::Stopping;
    slot.escalation = Some((Instant::now() + grace, Signal::SIGKILL));
}

fn signal_child(slot: &Slot, sig: Signal) {
    if let Some(pid) = slot.pid {
        if let Err(e) = kill(Pid::from_raw(pid), sig) {
            tracing::warn!("{}: kill({pid}, {}) failed: {e}", slot.name(), sig.as_str());
        }
    }
}
