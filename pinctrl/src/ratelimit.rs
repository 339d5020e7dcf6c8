//! Token buckets: per-opcode packet-in limits and rate-limited logging (OVS's
//! VLOG_RATE_LIMIT_INIT(rate, burst) in spirit).

use std::time::{Duration, Instant};

/// `rate` tokens per second, at most `burst` saved.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: u32,
    burst: u32,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(rate: u32, burst: u32, now: Instant) -> TokenBucket {
        TokenBucket { rate, burst, tokens: f64::from(burst), last: now }
    }

    /// Takes a token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now.max(self.last);
        self.tokens = (self.tokens + dt * f64::from(self.rate)).min(f64::from(self.burst));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// At most `n` messages per `period`.
#[derive(Debug, Clone)]
pub struct LogLimiter {
    n: u32,
    period: Duration,
    start: Option<Instant>,
    used: u32,
    pub suppressed: u64,
}

impl LogLimiter {
    pub fn new(n: u32, period: Duration) -> LogLimiter {
        LogLimiter { n, period, start: None, used: 0, suppressed: 0 }
    }

    pub fn allow(&mut self, now: Instant) -> bool {
        match self.start {
            Some(s) if now.saturating_duration_since(s) < self.period => {}
            _ => {
                self.start = Some(now);
                self.used = 0;
            }
        }
        if self.used < self.n {
            self.used += 1;
            true
        } else {
            self.suppressed += 1;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_limits_and_refills() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10, 5, t0);
        assert_eq!((0..20).filter(|_| b.take(t0)).count(), 5);
        assert!(b.take(t0 + Duration::from_millis(100)));
        assert!(!b.take(t0 + Duration::from_millis(100)));
    }

    #[test]
    fn log_limiter() {
        let t0 = Instant::now();
        let mut l = LogLimiter::new(2, Duration::from_secs(1));
        assert!(l.allow(t0) && l.allow(t0) && !l.allow(t0));
        assert!(l.allow(t0 + Duration::from_secs(2)));
        assert_eq!(l.suppressed, 1);
    }
}
