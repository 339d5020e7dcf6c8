//! Supervisor tuning, from the environment (systemd's EnvironmentFile, /etc/default/chassisd):
//! the OVS database holds OVN's configuration, but the supervisor never talks to it.

use std::time::Duration;

#[derive(Clone, Debug, PartialEq)]
pub struct Tuning {
    /// First restart delay; doubles per consecutive death.
    pub restart_base: Duration,
    pub restart_max: Duration,
    /// Ready this long and the backoff starts again from the base.
    pub restart_reset: Duration,
    /// More deaths than this within the window: stop everything and exit for systemd.
    pub crash_loop_deaths: usize,
    pub crash_loop_window: Duration,
    pub heartbeat_interval: Duration,
    pub heartbeat_timeout: Duration,
    /// After the watchdog's SIGABRT, how long to wait for the core before SIGKILL.
    pub abort_timeout: Duration,
    /// Per child on shutdown, before SIGKILL.
    pub stop_timeout: Duration,
    /// How long a forwarded command may take before the client gets an error.
    pub command_timeout: Duration,
    /// Nice value of pinctrl (-20..19): above flowctl's by default, so that a packet-in is
    /// answered while a recompute keeps the CPUs busy. Needs CAP_SYS_NICE to go below 0.
    pub pinctrl_nice: i32,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            restart_base: Duration::from_millis(100),
            restart_max: Duration::from_secs(10),
            restart_reset: Duration::from_secs(60),
            crash_loop_deaths: 10,
            crash_loop_window: Duration::from_secs(60),
            heartbeat_interval: Duration::from_secs(1),
            heartbeat_timeout: Duration::from_secs(30),
            abort_timeout: Duration::from_secs(5),
            stop_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(30),
            pinctrl_nice: -5,
        }
    }
}

impl Tuning {
    pub fn from_env() -> Result<Tuning, String> {
        Tuning::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Tuning, String> {
        let mut t = Tuning::default();
        let ms = |key: &str, slot: &mut Duration| -> Result<(), String> {
            if let Some(v) = get(key) {
                *slot = Duration::from_millis(
                    v.trim().parse().map_err(|_| format!("{key}={v}: not a number of milliseconds"))?,
                );
            }
            Ok(())
        };
        ms("CHASSISD_RESTART_BASE_MS", &mut t.restart_base)?;
        ms("CHASSISD_RESTART_MAX_MS", &mut t.restart_max)?;
        ms("CHASSISD_HEARTBEAT_INTERVAL_MS", &mut t.heartbeat_interval)?;
        ms("CHASSISD_HEARTBEAT_TIMEOUT_MS", &mut t.heartbeat_timeout)?;
        ms("CHASSISD_ABORT_TIMEOUT_MS", &mut t.abort_timeout)?;
        ms("CHASSISD_STOP_TIMEOUT_MS", &mut t.stop_timeout)?;
        ms("CHASSISD_COMMAND_TIMEOUT_MS", &mut t.command_timeout)?;
        let secs = |key: &str, slot: &mut Duration| -> Result<(), String> {
            if let Some(v) = get(key) {
                *slot =
                    Duration::from_secs(v.trim().parse().map_err(|_| format!("{key}={v}: not a number of seconds"))?);
            }
            Ok(())
        };
        secs("CHASSISD_RESTART_RESET_S", &mut t.restart_reset)?;
        secs("CHASSISD_CRASH_LOOP_WINDOW_S", &mut t.crash_loop_window)?;
        if let Some(v) = get("CHASSISD_PINCTRL_NICE") {
            t.pinctrl_nice = v
                .trim()
                .parse()
                .ok()
                .filter(|n| (-20..=19).contains(n))
                .ok_or_else(|| format!("CHASSISD_PINCTRL_NICE={v}: not a nice value (-20..19)"))?;
        }
        if let Some(v) = get("CHASSISD_CRASH_LOOP_DEATHS") {
            t.crash_loop_deaths =
                v.trim().parse().map_err(|_| format!("CHASSISD_CRASH_LOOP_DEATHS={v}: not a count"))?;
        }
        if t.restart_base.is_zero() || t.restart_max < t.restart_base {
            return Err("CHASSISD_RESTART_MAX_MS must be at least CHASSISD_RESTART_BASE_MS, which must be > 0".into());
        }
        if t.heartbeat_interval.is_zero() || t.heartbeat_timeout <= t.heartbeat_interval {
            return Err("CHASSISD_HEARTBEAT_TIMEOUT_MS must exceed CHASSISD_HEARTBEAT_INTERVAL_MS (> 0)".into());
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_defaults() {
        let t = Tuning::from_lookup(|k| match k {
            "CHASSISD_RESTART_BASE_MS" => Some("20".into()),
            "CHASSISD_CRASH_LOOP_DEATHS" => Some("1000".into()),
            "CHASSISD_CRASH_LOOP_WINDOW_S" => Some("5".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(t.restart_base, Duration::from_millis(20));
        assert_eq!(t.crash_loop_deaths, 1000);
        assert_eq!(t.crash_loop_window, Duration::from_secs(5));
        assert_eq!(t.restart_max, Tuning::default().restart_max);
    }

    #[test]
    fn nonsense_is_rejected() {
        assert!(Tuning::from_lookup(|k| (k == "CHASSISD_RESTART_BASE_MS").then(|| "x".into())).is_err());
        assert!(Tuning::from_lookup(|k| (k == "CHASSISD_HEARTBEAT_TIMEOUT_MS").then(|| "10".into())).is_err());
        assert!(Tuning::from_lookup(|k| (k == "CHASSISD_PINCTRL_NICE").then(|| "-21".into())).is_err());
        let nice = Tuning::from_lookup(|k| (k == "CHASSISD_PINCTRL_NICE").then(|| "3".into()));
        assert_eq!(nice.map(|t| t.pinctrl_nice), Ok(3));
    }
}
