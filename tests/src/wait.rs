//! Polling with deadlines: tests wait for a condition, never for a fixed time.

use std::fmt::Display;
use std::thread;
use std::time::{Duration, Instant};

/// Default patience for conditions that a healthy system reaches in well under a second.
/// Generous because CI machines are slow and run tests in parallel.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Polls `f` (1 ms, doubling to 50 ms) until it returns `Some`, or `timeout` passes.
pub fn try_wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Like [`try_wait_for`], but panics with `what` on timeout.
pub fn wait_for<T>(timeout: Duration, what: impl Display, f: impl FnMut() -> Option<T>) -> T {
    match try_wait_for(timeout, f) {
        Some(v) => v,
        None => panic!("timed out after {timeout:?} waiting for {what}"),
    }
}

/// Polls `f` until it returns true; returns false on timeout.
pub fn try_wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    try_wait_for(timeout, || f().then_some(())).is_some()
}

/// Polls `f` until it returns true; panics with `what` on timeout.
pub fn wait_until(timeout: Duration, what: impl Display, mut f: impl FnMut() -> bool) {
    wait_for(timeout, what, || f().then_some(()))
}
