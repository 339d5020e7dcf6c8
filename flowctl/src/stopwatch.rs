//! Per-stage timings with OVS's `stopwatch/show` output (lib/stopwatch.c of OVS 3.1): sample
//! count, max, min, 95th percentile (P-square after 50 samples), short-term (alpha 0.5) and
//! long-term (alpha 0.01) moving averages, in milliseconds.
//!
//! One process-wide registry, as in OVS: the installer task and the main loop both record.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

/// 23.03's stopwatches (controller/ovn-controller.c), in creation order, plus flowctl's own
/// database transaction timings.
pub const FLOW_GENERATION: &str = "flow-generation";
pub const FLOW_INSTALLATION: &str = "flow-installation";
pub const SB_TXN: &str = "sb-txn";
pub const OVS_TXN: &str = "ovs-txn";
/// Stages 23.03 times that flowctl has no separate step for (pinctrl runs in its own process;
/// patch ports, ct-zone commits, interface status are part of the single planning pass): they
/// are listed, with no samples, so that scripts reading them find them.
const UNSAMPLED: &[&str] = &[
    "pinctrl-run",
    "patch-run",
    "ct-zone-commit",
    "if-status-mgr-run",
    "if-status-mgr-update",
    "ofctrl-seqno-run",
    "bfd-run",
    "vif-plug-run",
];

const P: f64 = 0.95;
const MARKERS: usize = 5;
const P_SQUARE_MIN: u64 = 50;

#[derive(Clone, Debug, Default)]
struct Percentile {
    n: [f64; MARKERS],
    n_prime: [f64; MARKERS],
    q: [f64; MARKERS],
    dn: [f64; MARKERS],
    samples: Vec<u64>,
    percentile: f64,
}

#[derive(Clone, Debug)]
pub struct Stopwatch {
    n_samples: u64,
    max: u64,
    min: u64,
    pctl: Percentile,
    short_term: f64,
    long_term: f64,
}

impl Default for Stopwatch {
    fn default() -> Self {
        Stopwatch { n_samples: 0, max: 0, min: 0, pctl: Percentile::default(), short_term: 0.0, long_term: 0.0 }
    }
}

fn sort_f64(v: &mut [f64]) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
}

impl Percentile {
    /// OVS's `calc_percentile` (P-square), `n_samples` counting the new one.
    fn add(&mut self, n_samples: u64, new: u64) {
        if n_samples < P_SQUARE_MIN {
            // OVS's array starts zeroed and the first sample never reaches it: slot 0 is 0.
            if self.samples.is_empty() {
                self.samples.push(0);
            }
            self.samples.push(new);
        }
        let x = new as f64;
        if n_samples <= MARKERS as u64 {
            let n = n_samples as usize;
            if let Some(slot) = self.q.get_mut(n - 1) {
                *slot = x;
            }
            sort_f64(&mut self.q[..n]);
            if n == MARKERS {
                self.n = [0.0, 1.0, 2.0, 3.0, 4.0];
                self.n_prime = [0.0, 2.0 * P, 4.0 * P, 2.0 + 2.0 * P, 4.0];
                self.dn = [0.0, P / 2.0, P, (1.0 + P) / 2.0, 1.0];
            }
            // C: q[(int) P * n_samples], i.e. q[0 * n]: the smallest so far.
            self.percentile = self.q[0];
            return;
        }
        let k = if x < self.q[0] {
            self.q[0] = x;
            0
        } else if x < self.q[1] {
            0
        } else if x < self.q[2] {
            1
        } else if x < self.q[3] {
            2
        } else if x <= self.q[4] {
            3
        } else {
            self.q[4] = x;
            3
        };
        for i in k + 1..MARKERS {
            self.n[i] += 1.0;
        }
        for i in 0..MARKERS {
            self.n_prime[i] += self.dn[i];
        }
        for i in 1..MARKERS - 1 {
            let mut d = self.n_prime[i] - self.n[i];
            if (d >= 1.0 && self.n[i + 1] - self.n[i] > 1.0) || (d <= -1.0 && self.n[i - 1] - self.n[i] < -1.0) {
                d = if d >= 0.0 { 1.0 } else { -1.0 };
                let a = d / (self.n[i + 1] - self.n[i - 1]);
                let b = (self.n[i] - self.n[i - 1] + d) * (self.q[i + 1] - self.q[i]) / (self.n[i + 1] - self.n[i]);
                let c = (self.n[i + 1] - self.n[i] - d) * (self.q[i] - self.q[i - 1]) / (self.n[i] - self.n[i - 1]);
                let candidate = self.q[i] + a * (b + c);
                if self.q[i - 1] < candidate && candidate < self.q[i + 1] {
                    self.q[i] = candidate;
                } else {
                    let j = if d > 0.0 { i + 1 } else { i - 1 };
                    self.q[i] += d * (self.q[j] - self.q[i]) / (self.n[j] - self.n[i]);
                }
                self.n[i] += d;
            }
        }
        if n_samples < P_SQUARE_MIN {
            self.samples.sort_unstable();
            let idx = (P * n_samples as f64) as usize;
            self.percentile = self.samples.get(idx).copied().unwrap_or(0) as f64;
        } else {
            self.percentile = self.q[2];
        }
    }
}

impl Stopwatch {
    pub fn add_sample(&mut self, ms: u64) {
        self.max = self.max.max(ms);
        if ms < self.min || self.n_samples == 0 {
            self.min = ms;
        }
        self.n_samples += 1;
        if self.n_samples == 1 {
            self.short_term = ms as f64;
            self.long_term = ms as f64;
            return;
        }
        self.pctl.add(self.n_samples, ms);
        self.short_term = ms as f64 * 0.5 + 0.5 * self.short_term;
        self.long_term = ms as f64 * 0.01 + 0.99 * self.long_term;
    }

    fn print(&self, name: &str, s: &mut String) {
        s.push_str(&format!("Statistics for '{name}'\n"));
        s.push_str(&format!("  Total samples: {}\n", self.n_samples));
        s.push_str(&format!("  Maximum: {} msec\n", self.max));
        s.push_str(&format!("  Minimum: {} msec\n", self.min));
        s.push_str(&format!("  95th percentile: {:.6} msec\n", self.pctl.percentile));
        s.push_str(&format!("  Short term average: {:.6} msec\n", self.short_term));
        s.push_str(&format!("  Long term average: {:.6} msec\n", self.long_term));
    }
}

static REGISTRY: Mutex<BTreeMap<&'static str, Stopwatch>> = Mutex::new(BTreeMap::new());

fn with<T>(f: impl FnOnce(&mut BTreeMap<&'static str, Stopwatch>) -> T) -> T {
    let mut g = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    if g.is_empty() {
        for name in [FLOW_GENERATION, FLOW_INSTALLATION, SB_TXN, OVS_TXN].iter().chain(UNSAMPLED) {
            g.insert(name, Stopwatch::default());
        }
    }
    f(&mut g)
}

/// Record one sample of `name` that started at `start`.
pub fn record(name: &'static str, start: Instant) {
    let ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    with(|g| g.entry(name).or_default().add_sample(ms));
}

/// `stopwatch/show [NAME]`.
pub fn show(args: &[String]) -> Result<String, String> {
    with(|g| {
        let mut s = String::new();
        match args.first() {
            Some(name) => match g.get(name.as_str()) {
                Some(sw) => sw.print(name, &mut s),
                None => return Err("No such stopwatch".to_string()),
            },
            None => g.iter().for_each(|(name, sw)| sw.print(name, &mut s)),
        }
        Ok(s)
    })
}

/// `stopwatch/reset [NAME]`.
pub fn reset(args: &[String]) -> String {
    with(|g| match args.first() {
        Some(name) => {
            if let Some(sw) = g.get_mut(name.as_str()) {
                *sw = Stopwatch::default();
            }
        }
        None => g.values_mut().for_each(|sw| *sw = Stopwatch::default()),
    });
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_as_ovs_computes_them() {
        let mut sw = Stopwatch::default();
        for ms in 1..=100 {
            sw.add_sample(ms);
        }
        assert_eq!((sw.n_samples, sw.min, sw.max), (100, 1, 100));
        assert!((90.0..=100.0).contains(&sw.pctl.percentile), "{}", sw.pctl.percentile);
        assert!((99.0..=100.0).contains(&sw.short_term));
        let mut s = String::new();
        sw.print("x", &mut s);
        assert!(s.starts_with("Statistics for 'x'\n  Total samples: 100\n  Maximum: 100 msec\n  Minimum: 1 msec\n"));
        assert!(s.contains("  95th percentile: ") && s.ends_with(" msec\n"), "{s}");
    }

    #[test]
    fn few_samples_and_unknown_names() {
        let mut sw = Stopwatch::default();
        for ms in [5, 3, 9] {
            sw.add_sample(ms);
        }
        assert_eq!((sw.min, sw.max), (3, 9));
        assert_eq!(show(&["nope".into()]), Err("No such stopwatch".into()));
        assert!(show(&[]).unwrap().contains("Statistics for 'flow-generation'"));
    }
}
