//! No flow-table dip across a restart: with more than 10,000 flows installed, flowctl (then
//! the whole chassisd) is killed with SIGKILL while the installed flow count is sampled every
//! 10 ms and a packet stream runs from one VIF to another on the same switch. The minimum
//! count must equal the steady count, the table after the restart must equal the one before,
//! and no packet may be lost.
//!
//! The sampler is an OpenFlow connection of the test's own to `br-int.mgmt` sending
//! aggregate-stats requests (spawning `ovs-ofctl dump-aggregate` takes 15-20 ms a sample,
//! too slow for a 10 ms period).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chassisd_tests::ofclient::OfClient;
use chassisd_tests::packet::{mac, to_hex};
use chassisd_tests::procs::wait_gone;
use chassisd_tests::{find_bin, require_ovn, wait_until, Controller, ProcId, Sandbox};
use nix::sys::signal::Signal;

/// Flows from the address sets alone (two ACLs, one flow per address each).
const ADDRESSES: usize = 5500;

fn child_pid(sb: &Sandbox, name: &str) -> i32 {
    let st: serde_json::Value =
        serde_json::from_str(&sb.ovn_appctl(["supervisor/status", "--format", "json"])).unwrap();
    let child = st["children"].as_array().unwrap().iter().find(|c| c["name"] == name).cloned().unwrap_or_default();
    child["pid"].as_i64().unwrap_or(0) as i32
}

/// The sampling period the issue asks for.
const PERIOD: Duration = Duration::from_millis(10);

fn mgmt(sb: &Sandbox) -> PathBuf {
    sb.ovs_dir().join("br-int.mgmt")
}

fn flow_count(sb: &Sandbox) -> Option<u64> {
    OfClient::connect(&mgmt(sb)).ok()?.flow_count().ok()
}

fn topology(c: Controller) -> Sandbox {
    let sb = Sandbox::builder().infra().controller(c).cmd_timeout(Duration::from_secs(120)).start();
    sb.wait_chassis_registered();
    sb.nbctl(["ls-add", "sw0"]);
    for (p, m, ip) in [("lp1", "00:00:00:00:00:01", "10.0.0.2"), ("lp2", "00:00:00:00:00:02", "10.0.0.3")] {
        sb.nbctl(["lsp-add", "sw0", p, "--", "lsp-set-addresses", p, &format!("{m} {ip}")]);
    }
    let addrs: Vec<String> = (0..ADDRESSES).map(|i| format!("\"172.16.{}.{}\"", i / 250, i % 250 + 1)).collect();
    sb.nbctl(["create", "Address_Set", "name=big", &format!("addresses=[{}]", addrs.join(","))]);
    sb.nbctl(["acl-add", "sw0", "from-lport", "1000", "ip4.src == $big && tcp.dst == 22", "drop"]);
    sb.nbctl(["acl-add", "sw0", "to-lport", "1000", "ip4.src == $big && tcp.dst == 23", "drop"]);
    sb.add_vif("vif1", "lp1");
    sb.add_vif("vif2", "lp2");
    sb.wait_port_up("lp1");
    sb.wait_port_up("lp2");
    sb.ovn_nbctl_wait_hv_sync();
    sb
}

/// A UDP frame from lp1 to lp2.
fn frame() -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&mac("00:00:00:00:00:02"));
    f.extend_from_slice(&mac("00:00:00:00:00:01"));
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&[0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 2, 10, 0, 0, 3]);
    let mut s: u32 = f[14..34].chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))).sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    f[24..26].copy_from_slice(&(!(s as u16)).to_be_bytes());
    f.extend_from_slice(&[0x30, 0x39, 0x30, 0x3a, 0, 8, 0, 0]);
    f
}

struct Figures {
    steady: u64,
    min: u64,
    max: u64,
    samples: usize,
    failed_samples: usize,
    sampled_for: Duration,
    median_interval: Duration,
    max_interval: Duration,
    sent: usize,
    received: usize,
    restart: Duration,
}

/// Owned means to run a tool of this hypervisor from another thread.
#[derive(Clone)]
struct Tool {
    bin: PathBuf,
    env: Vec<(OsString, OsString)>,
    dir: PathBuf,
}

impl Tool {
    fn new(sb: &Sandbox, name: &str) -> Tool {
        let bin = find_bin(name).unwrap_or_else(|| panic!("{name} not found"));
        Tool { bin, env: sb.env().to_vec(), dir: sb.hv_dir().to_path_buf() }
    }

    fn run(&self, args: &[&str]) -> Option<String> {
        let out = Command::new(&self.bin)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.dir)
            .args(args)
            .output()
            .ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// What the sampler saw: one count per period, when each was taken, and the failures.
struct Samples {
    counts: Vec<u64>,
    at: Vec<Instant>,
    failed: usize,
    sampled_for: Duration,
}

/// Sample the installed flow count every [`PERIOD`] over one OpenFlow connection (reopened
/// if it fails), on a fixed schedule so that a slow reply does not shift later samples.
fn sample(path: PathBuf, stop: Arc<AtomicBool>) -> Samples {
    let started = Instant::now();
    let mut s = Samples { counts: Vec::new(), at: Vec::new(), failed: 0, sampled_for: Duration::ZERO };
    let mut conn: Option<OfClient> = None;
    let mut next = started;
    while !stop.load(Ordering::Relaxed) {
        if conn.is_none() {
            conn = OfClient::connect(&path).ok();
        }
        match conn.as_mut().map(OfClient::flow_count) {
            Some(Ok(n)) => {
                s.counts.push(n);
                s.at.push(Instant::now());
            }
            _ => {
                s.failed += 1;
                conn = None;
            }
        }
        next += PERIOD;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            // Overran a whole period: take the next sample now, not a burst of catch-ups.
            next = now;
        }
    }
    s.sampled_for = started.elapsed();
    s
}

/// Runs `kill` (which also starts what must come back) while sampling the flow count and
/// streaming packets, waits until the controller has reported a new nb_cfg, and checks the
/// table and the stream.
fn through_restart(sb: &mut Sandbox, what: &str, kill: impl FnOnce(&mut Sandbox)) -> Figures {
    let steady = flow_count(sb).expect("flow count");
    assert!(steady >= 10_000, "only {steady} flows installed");
    let before = sb.dump_flows("br-int");
    let count_frames = |sb: &Sandbox| sb.tx_packets("vif2").iter().filter(|p| p.data == frame()).count();
    let tx_before = count_frames(sb);
    let hex = to_hex(&frame());
    let stop = Arc::new(AtomicBool::new(false));
    let appctl = Tool::new(sb, "ovs-appctl");
    let sampler = {
        let stop = stop.clone();
        let path = mgmt(sb);
        std::thread::spawn(move || sample(path, stop))
    };
    let streamer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut sent = 0;
            while !stop.load(Ordering::Relaxed) {
                if appctl.run(&["netdev-dummy/receive", "vif1", &hex]).is_some() {
                    sent += 1;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            sent
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let killed = Instant::now();
    kill(sb);
    // Back: the new flowctl has read the switch, computed the same table and reported the
    // current nb_cfg (a bumped nb_cfg proves the report comes from the new process).
    sb.nbctl(["--wait=hv", "--timeout=120", "sync"]);
    let restart = killed.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let samples = sampler.join().expect("sampler");
    let counts = &samples.counts;
    let mut intervals: Vec<Duration> = samples.at.windows(2).map(|w| w[1] - w[0]).collect();
    intervals.sort();
    let sent = streamer.join().expect("streamer");
    // Let the last packets through the datapath into the pcap.
    let mut received = 0;
    wait_until(Duration::from_secs(10), "stream delivered", || {
        received = count_frames(sb) - tx_before;
        received >= sent
    });
    let f = Figures {
        steady,
        min: counts.iter().copied().min().unwrap_or(0),
        max: counts.iter().copied().max().unwrap_or(0),
        samples: counts.len(),
        failed_samples: samples.failed,
        sampled_for: samples.sampled_for,
        median_interval: intervals.get(intervals.len() / 2).copied().unwrap_or_default(),
        max_interval: intervals.last().copied().unwrap_or_default(),
        sent,
        received,
        restart,
    };
    eprintln!(
        "{what}: steady {} flows, min {} max {} over {} samples ({} failed) in {:?} (one per {:?}; interval median \
         {:?}, max {:?}); packets sent {} received {}; back and synced after {:?}",
        f.steady,
        f.min,
        f.max,
        f.samples,
        f.failed_samples,
        f.sampled_for,
        f.sampled_for / u32::try_from(f.samples.max(1)).unwrap_or(u32::MAX),
        f.median_interval,
        f.max_interval,
        f.sent,
        f.received,
        f.restart
    );
    assert!(f.samples > 50, "too few samples: {}", f.samples);
    assert_eq!(f.failed_samples, 0, "{what}: samples failed (vswitchd did not answer)");
    assert!(
        f.median_interval <= PERIOD + Duration::from_millis(2),
        "{what}: sampled every {:?} (median), not every {PERIOD:?}",
        f.median_interval
    );
    assert_eq!(f.min, steady, "{what}: the flow table dipped");
    assert_eq!(f.max, steady, "{what}: the flow table grew");
    assert_eq!(sb.dump_flows("br-int"), before, "{what}: the table after differs");
    assert_eq!(f.received, f.sent, "{what}: packets lost");
    f
}

#[test]
fn flowctl_sigkill_keeps_every_flow_and_packet() {
    require_ovn!();
    let mut sb = topology(Controller::Chassisd);
    let old = child_pid(&sb, "flowctl");
    assert!(old > 0);
    through_restart(&mut sb, "flowctl SIGKILL", |sb| {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(old), Signal::SIGKILL).expect("kill flowctl");
        wait_until(Duration::from_secs(30), "flowctl restarted", || {
            let p = child_pid(sb, "flowctl");
            p > 0 && p != old
        });
        // A change after the restart: its nb_cfg can only be reported by the new flowctl.
        sb.nbctl(["set", "Logical_Switch", "sw0", "external_ids:restarted=flowctl"]);
    });
}

#[test]
fn chassisd_sigkill_keeps_every_flow_and_packet() {
    require_ovn!();
    let mut sb = topology(Controller::Chassisd);
    through_restart(&mut sb, "chassisd SIGKILL", |sb| {
        let pid = sb.controller_pid().expect("chassisd running");
        let children: Vec<ProcId> = pid.descendants();
        assert!(pid.signal(Signal::SIGKILL));
        assert!(wait_gone(&children, Duration::from_secs(10)).is_empty(), "children died with the supervisor");
        sb.stop_controller();
        sb.start_controller(Controller::Chassisd);
        sb.nbctl(["set", "Logical_Switch", "sw0", "external_ids:restarted=chassisd"]);
    });
}
