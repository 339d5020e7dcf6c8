//! systemd notifications. Only the supervisor talks to systemd; children never see
//! NOTIFY_SOCKET. Without systemd every call is a no-op.

use std::time::{Duration, Instant};

use sd_notify::NotifyState;

pub struct Notifier {
    enabled: bool,
    /// Half of WATCHDOG_USEC, when systemd asked for pings.
    watchdog_every: Option<Duration>,
    last_ping: Instant,
    last_status: String,
}

impl Notifier {
    pub fn from_env() -> Notifier {
        // As sd_watchdog_enabled(3): WATCHDOG_PID, when set, must name this process.
        let usec = std::env::var("WATCHDOG_USEC").ok().and_then(|v| v.parse::<u64>().ok());
        let for_us = std::env::var("WATCHDOG_PID").map_or(true, |p| p.parse::<u32>() == Ok(std::process::id()));
        Notifier {
            enabled: std::env::var_os("NOTIFY_SOCKET").is_some(),
            watchdog_every: usec.filter(|_| for_us).map(|u| Duration::from_micros(u / 2)).filter(|d| !d.is_zero()),
            last_ping: Instant::now(),
            last_status: String::new(),
        }
    }

    fn send(&self, states: &[NotifyState]) {
        if self.enabled {
            if let Err(e) = sd_notify::notify(false, states) {
                tracing::warn!("systemd notify failed: {e}");
            }
        }
    }

    pub fn ready(&self) {
        self.send(&[NotifyState::Ready]);
    }

    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping]);
    }

    pub fn status(&mut self, line: &str) {
        if line != self.last_status {
            self.send(&[NotifyState::Status(line)]);
            self.last_status = line.to_string();
        }
    }

    /// When the next watchdog ping is due, if systemd wants them.
    pub fn next_ping(&self) -> Option<Instant> {
        self.watchdog_every.map(|every| self.last_ping + every)
    }

    /// Pings if due and `healthy`; an unhealthy process lets systemd's watchdog fire.
    pub fn maybe_ping(&mut self, now: Instant, healthy: bool) {
        if self.next_ping().is_some_and(|due| now >= due) {
            self.last_ping = now;
            if healthy {
                self.send(&[NotifyState::Watchdog]);
            }
        }
    }
}
