//! CPU time and peak memory of a controller and all its descendants (chassisd's flowctl and
//! pinctrl), from /proc. A sampler thread re-reads every process it has seen every 100 ms and
//! keeps the last values per process identity (pid + start time), so a child that exited or
//! was restarted in between still counts with what it had used when last seen.

use std::collections::HashMap;
use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use chassisd_tests::ProcId;

#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    /// utime + stime, seconds.
    pub cpu_s: f64,
    /// VmHWM, bytes.
    pub hwm: u64,
    /// VmRSS, bytes.
    pub rss: u64,
}

fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf with a constant argument.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// Usage of one process now, if it is still `id` (not a recycled pid) and not a zombie.
fn read(id: &ProcId, tps: f64) -> Option<Usage> {
    let stat = fs::read_to_string(format!("/proc/{}/stat", id.pid)).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state is field 3 (index 0 here); utime 14, stime 15, starttime 22.
    if f.get(19)?.parse::<u64>().ok()? != id.start_time() || matches!(f.first(), Some(&"Z") | Some(&"X")) {
        return None;
    }
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let status = fs::read_to_string(format!("/proc/{}/status", id.pid)).ok()?;
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    Some(Usage { cpu_s: ticks as f64 / tps, hwm: kb("VmHWM:"), rss: kb("VmRSS:") })
}

#[derive(Default)]
struct Seen {
    last: HashMap<ProcId, Usage>,
}

impl Seen {
    fn sample(&mut self, root: &ProcId, tps: f64) {
        let mut ids = vec![*root];
        ids.extend(root.descendants());
        ids.extend(self.last.keys().copied());
        ids.sort_by_key(|p| p.pid);
        ids.dedup();
        for id in ids {
            if let Some(mut u) = read(&id, tps) {
                // The kernel updates its high-water mark lazily, so a later VmHWM can read a
                // little lower than an earlier one; keep the highest seen.
                if let Some(old) = self.last.get(&id) {
                    u.hwm = u.hwm.max(old.hwm);
                }
                self.last.insert(id, u);
            }
        }
    }
    fn total(&self) -> Usage {
        self.last.values().fold(Usage::default(), |a, u| Usage {
            cpu_s: a.cpu_s + u.cpu_s,
            hwm: a.hwm + u.hwm,
            rss: a.rss + u.rss,
        })
    }
}

/// Samples a controller's process tree until dropped.
pub struct Sampler {
    root: ProcId,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    tps: f64,
}

impl Sampler {
    pub fn start(root: ProcId) -> Sampler {
        let tps = ticks_per_sec();
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        seen.lock().unwrap().sample(&root, tps);
        let (s2, stop2) = (seen.clone(), stop.clone());
        let thread = thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(100));
                s2.lock().unwrap().sample(&root, tps);
            }
        });
        Sampler { root, seen, stop, thread: Some(thread), tps }
    }

    /// Samples now and returns the sums over every process seen so far (CPU, peak RSS) and
    /// the number of processes.
    pub fn now(&self) -> (Usage, usize) {
        let mut s = self.seen.lock().unwrap();
        s.sample(&self.root, self.tps);
        (s.total(), s.last.len())
    }

    /// Names (comm) of the processes seen, for the report.
    pub fn names(&self) -> Vec<String> {
        let s = self.seen.lock().unwrap();
        let mut v: Vec<(i32, String)> = s
            .last
            .keys()
            .map(|id| {
                let comm = fs::read_to_string(format!("/proc/{}/comm", id.pid)).unwrap_or_default();
                (id.pid, comm.trim().to_string())
            })
            .collect();
        v.sort();
        v.into_iter().map(|(p, c)| format!("{c}[{p}]")).collect()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
