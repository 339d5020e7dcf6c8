//! Restart policy, pure: how long to wait before the next start, and when deaths are frequent
//! enough to call it a crash loop. Time and randomness come in as arguments.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::Tuning;

#[derive(Debug, Default)]
pub struct RestartPolicy {
    /// Deaths since the child was last healthy for `restart_reset`.
    consecutive: u32,
    /// Death times inside the crash-loop window.
    recent: VecDeque<Instant>,
}

/// What to do after a death.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    RestartAfter(Duration),
    CrashLoop,
}

impl RestartPolicy {
    /// Records a death at `now`. `healthy_for` is how long the child had been ready; `jitter`
    /// is uniform in [0, 1) and spreads restarts by ±20% so children do not move in lockstep.
    pub fn on_death(&mut self, t: &Tuning, now: Instant, healthy_for: Duration, jitter: f64) -> Verdict {
        if healthy_for >= t.restart_reset {
            self.consecutive = 0;
        }
        self.consecutive = self.consecutive.saturating_add(1);
        self.recent.push_back(now);
        self.forget_before(now, t.crash_loop_window);
        if self.recent.len() > t.crash_loop_deaths {
            return Verdict::CrashLoop;
        }
        let doublings = self.consecutive.saturating_sub(1).min(30);
        let raw = t.restart_base.saturating_mul(1u32 << doublings).min(t.restart_max);
        let spread = raw.mul_f64(0.8 + 0.4 * jitter.clamp(0.0, 1.0));
        Verdict::RestartAfter(spread.min(t.restart_max))
    }

    /// Deaths inside the window ending at `now`.
    pub fn deaths_in_window(&mut self, now: Instant, window: Duration) -> usize {
        self.forget_before(now, window);
        self.recent.len()
    }

    fn forget_before(&mut self, now: Instant, window: Duration) {
        while self.recent.front().is_some_and(|&d| now.duration_since(d) > window) {
            self.recent.pop_front();
        }
    }
}

/// A small xorshift generator for jitter: no need for a crate to spread restart times.
pub struct Jitter(u64);

impl Jitter {
    pub fn seeded() -> Jitter {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        Jitter(nanos ^ (u64::from(std::process::id()) << 32) | 1)
    }

    pub fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuning() -> Tuning {
        Tuning {
            restart_base: Duration::from_millis(100),
            restart_max: Duration::from_secs(10),
            restart_reset: Duration::from_secs(60),
            crash_loop_deaths: 10,
            crash_loop_window: Duration::from_secs(60),
            ..Tuning::default()
        }
    }

    #[test]
    fn delay_doubles_to_the_cap() {
        let t = tuning();
        let mut p = RestartPolicy::default();
        let start = Instant::now();
        let delays: Vec<Duration> = (0..9)
            .map(|i| match p.on_death(&t, start + Duration::from_secs(i * 10), Duration::ZERO, 0.5) {
                Verdict::RestartAfter(d) => d,
                Verdict::CrashLoop => panic!("not a crash loop yet"),
            })
            .collect();
        let ms: Vec<u128> = delays.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, vec![100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000]);
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let t = tuning();
        for j in [0.0, 0.25, 0.999] {
            let mut p = RestartPolicy::default();
            let Verdict::RestartAfter(d) = p.on_death(&t, Instant::now(), Duration::ZERO, j) else { panic!() };
            assert!(d >= Duration::from_millis(80) && d < Duration::from_millis(120), "{d:?}");
        }
        let mut j = Jitter::seeded();
        assert!((0..1000).map(|_| j.next()).all(|x| (0.0..1.0).contains(&x)));
    }

    #[test]
    fn a_healthy_period_resets_the_backoff() {
        let t = tuning();
        let mut p = RestartPolicy::default();
        let now = Instant::now();
        for i in 0..4 {
            p.on_death(&t, now + Duration::from_secs(i * 20), Duration::ZERO, 0.5);
        }
        let v = p.on_death(&t, now + Duration::from_secs(200), Duration::from_secs(61), 0.5);
        assert_eq!(v, Verdict::RestartAfter(Duration::from_millis(100)));
    }

    #[test]
    fn too_many_deaths_in_the_window_is_a_crash_loop() {
        let t = tuning();
        let mut p = RestartPolicy::default();
        let now = Instant::now();
        for i in 0..10 {
            assert!(matches!(
                p.on_death(&t, now + Duration::from_secs(i), Duration::ZERO, 0.5),
                Verdict::RestartAfter(_)
            ));
        }
        assert_eq!(p.on_death(&t, now + Duration::from_secs(10), Duration::ZERO, 0.5), Verdict::CrashLoop);
        // Spread out over more than the window, the same count is fine.
        let mut p = RestartPolicy::default();
        for i in 0..30 {
            assert!(matches!(
                p.on_death(&t, now + Duration::from_secs(i * 7), Duration::ZERO, 0.5),
                Verdict::RestartAfter(_)
            ));
        }
        assert_eq!(p.deaths_in_window(now + Duration::from_secs(210), t.crash_loop_window), 8);
    }
}
