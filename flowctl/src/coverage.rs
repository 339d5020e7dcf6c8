//! Event counters with OVS's `coverage/show` output (lib/coverage.c of OVS 3.1): per counter
//! the average rate over the last 5 s, the last minute and the last hour, and the total;
//! counters never hit are only counted.
//!
//! Process-wide, as in OVS. [`start`] spawns the 5-second sampler (`coverage_run`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// A counter: `static X: Counter = Counter::new("name");` then `X.inc()`.
pub struct Counter {
    pub name: &'static str,
    total: AtomicU64,
}

impl Counter {
    pub const fn new(name: &'static str) -> Counter {
        Counter { name, total: AtomicU64::new(0) }
    }

    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.total.fetch_add(n, Ordering::Relaxed);
    }

    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

pub static FLOW_GENERATION_RUN: Counter = Counter::new("flow_generation_run");
pub static RECOMPUTE: Counter = Counter::new("engine_recompute");
pub static OFCTRL_BATCH: Counter = Counter::new("ofctrl_batch");
pub static OFCTRL_FLOW_ADD: Counter = Counter::new("ofctrl_flow_add");
pub static OFCTRL_FLOW_MODIFY: Counter = Counter::new("ofctrl_flow_modify");
pub static OFCTRL_FLOW_DELETE: Counter = Counter::new("ofctrl_flow_delete");
pub static OFCTRL_GROUP_MOD: Counter = Counter::new("ofctrl_group_mod");
pub static OFCTRL_METER_MOD: Counter = Counter::new("ofctrl_meter_mod");
pub static OFCTRL_ERROR: Counter = Counter::new("ofctrl_error");
pub static OFCTRL_CONNECT: Counter = Counter::new("ofctrl_connect");
pub static OFCTRL_DUMP: Counter = Counter::new("ofctrl_dump");
pub static CT_FLUSH_ZONE: Counter = Counter::new("ct_flush_zone");
pub static INJECT_PKT: Counter = Counter::new("inject_pkt");
pub static SB_TXN: Counter = Counter::new("sb_txn");
pub static OVS_TXN: Counter = Counter::new("ovs_txn");
pub static TXN_ERROR: Counter = Counter::new("txn_error");
/// Whole-table computations, and the (logical flow, datapath) translations they reused or
/// made (23.03: `lflow_run`, lflow cache hits and misses).
pub static LFLOW_RUN: Counter = Counter::new("lflow_run");
pub static LFLOW_CACHE_HIT: Counter = Counter::new("lflow_cache_hit");
pub static LFLOW_CACHE_MISS: Counter = Counter::new("lflow_cache_miss");

static ALL: &[&Counter] = &[
    &FLOW_GENERATION_RUN,
    &RECOMPUTE,
    &OFCTRL_BATCH,
    &OFCTRL_FLOW_ADD,
    &OFCTRL_FLOW_MODIFY,
    &OFCTRL_FLOW_DELETE,
    &OFCTRL_GROUP_MOD,
    &OFCTRL_METER_MOD,
    &OFCTRL_ERROR,
    &OFCTRL_CONNECT,
    &OFCTRL_DUMP,
    &CT_FLUSH_ZONE,
    &INJECT_PKT,
    &SB_TXN,
    &OVS_TXN,
    &TXN_ERROR,
    &LFLOW_RUN,
    &LFLOW_CACHE_HIT,
    &LFLOW_CACHE_MISS,
];

const RUN_INTERVAL: Duration = Duration::from_secs(5);
const MIN_AVG_LEN: usize = 12; // 60 s / 5 s
const HR_AVG_LEN: usize = 60;

#[derive(Clone)]
struct History {
    last_total: u64,
    min: [u64; MIN_AVG_LEN],
    hr: [u64; HR_AVG_LEN],
}

impl Default for History {
    fn default() -> Self {
        History { last_total: 0, min: [0; MIN_AVG_LEN], hr: [0; HR_AVG_LEN] }
    }
}

#[derive(Default)]
struct Rates {
    /// Number of 5-second intervals sampled so far.
    idx: usize,
    by_name: BTreeMap<&'static str, History>,
}

static RATES: Mutex<Rates> = Mutex::new(Rates { idx: 0, by_name: BTreeMap::new() });

fn rates<T>(f: impl FnOnce(&mut Rates) -> T) -> T {
    f(&mut RATES.lock().unwrap_or_else(|e| e.into_inner()))
}

/// One `coverage_run`: the last 5 s of every counter into the minute ring, and each full
/// minute into the hour ring.
fn run_once() {
    rates(|r| {
        let slot = r.idx % MIN_AVG_LEN;
        let minute_done = slot == MIN_AVG_LEN - 1;
        let hr_slot = (r.idx / MIN_AVG_LEN) % HR_AVG_LEN;
        for c in ALL {
            let h = r.by_name.entry(c.name).or_default();
            let total = c.total();
            h.min[slot] = total.saturating_sub(h.last_total);
            h.last_total = total;
            if minute_done {
                h.hr[hr_slot] = h.min.iter().sum();
            }
        }
        r.idx += 1;
    });
}

/// Spawn the sampler on the current tokio runtime.
pub fn start() {
    tokio::spawn(async {
        let mut tick = tokio::time::interval(RUN_INTERVAL);
        tick.tick().await;
        loop {
            tick.tick().await;
            run_once();
        }
    });
}

/// A stable digest of which counters are hit how often (OVS prints one so that two outputs
/// can be compared at a glance; this is FNV-1a over the same inputs, not OVS's hash).
fn digest(totals: &[(&str, u64)]) -> u32 {
    let mut sorted: Vec<&(&str, u64)> = totals.iter().filter(|(_, t)| *t > 0).collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut h: u32 = 0x811c_9dc5;
    for (name, total) in sorted {
        for b in name.bytes().chain(total.to_be_bytes()) {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
    }
    h
}

/// `coverage/show`.
pub fn show() -> String {
    let mut names: Vec<(&str, u64)> = ALL.iter().map(|c| (c.name, c.total())).collect();
    names.sort();
    let mut lines = vec![format!(
        "Event coverage, avg rate over last: {} seconds, last minute, last hour,  hash={:08x}:",
        RUN_INTERVAL.as_secs(),
        digest(&names)
    )];
    let mut never = 0;
    rates(|r| {
        let last = (r.idx + MIN_AVG_LEN - 1) % MIN_AVG_LEN;
        for (name, total) in &names {
            if *total == 0 {
                never += 1;
                continue;
            }
            let h = r.by_name.get(name).cloned().unwrap_or_default();
            let min_sum: u64 = h.min.iter().sum();
            let hr_sum: u64 = h.hr.iter().sum();
            lines.push(format!(
                "{:<24} {:5.1}/sec {:9.3}/sec {:13.4}/sec   total: {}",
                name,
                h.min[last] as f64 * 1000.0 / RUN_INTERVAL.as_millis() as f64,
                min_sum as f64 / 60.0,
                hr_sum as f64 / 3600.0,
                total
            ));
        }
    });
    lines.push(format!("{never} events never hit"));
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

/// `coverage/read-counter COUNTER`: the total, or "No such counter".
pub fn read_counter(name: &str) -> Result<String, String> {
    ALL.iter().find(|c| c.name == name).map(|c| format!("{}\n", c.total())).ok_or_else(|| "No such counter".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_and_rates() {
        INJECT_PKT.add(10);
        run_once();
        let s = show();
        assert!(s.starts_with("Event coverage, avg rate over last: 5 seconds, last minute, last hour,  hash="));
        let line = s.lines().find(|l| l.starts_with("inject_pkt ")).unwrap();
        assert!(line.starts_with("inject_pkt                 "), "{line:?}");
        assert!(line.contains("  2.0/sec     0.167/sec        0.0000/sec   total: 10"), "{line:?}");
        assert!(s.trim_end().ends_with("events never hit"));
        assert_eq!(read_counter("inject_pkt"), Ok("10\n".into()));
    }
}
