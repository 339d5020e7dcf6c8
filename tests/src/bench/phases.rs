//! The measurements after the cold start and the VIF changes (issue 7): NB/SB changes timed to
//! "installed", full recomputes, packet-in latency and rate measured by the switch, flow-table
//! sampling (install rate at cold start, the dip during a restart).
//!
//! "Installed" is `ovn-nbctl --wait=hv` done by hand: the change and an `NB_Global.nb_cfg`
//! increment in one Northbound transaction (for a Southbound change, the increment right after
//! it), then the time at which the watcher sees the controller's `Chassis_Private.nb_cfg`
//! reach that value. Both controllers report it only once the flows of that configuration are
//! installed. The watcher also sees when northd propagated the value to `SB_Global.nb_cfg`,
//! which splits the time into northd's part and the controller's.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chassisd_tests::procs::wait_gone;
use chassisd_tests::{find_bin, pcap, Controller, ProcId, Sandbox};
use nix::sys::signal::Signal;
use serde_json::{json, Value};

use super::procstat::Sampler;
use super::topo;
use super::watch::{select_all, transact, transact_db, SbWatch};

const LIMIT: Duration = Duration::from_secs(600);

fn e(r: Result<String, chassisd_tests::CmdError>) -> Result<String, String> {
    r.map_err(|e| e.to_string())
}

/// What the phases need besides the sandbox.
pub struct Ctx<'a> {
    pub watch: &'a SbWatch,
    pub chassis: String,
    pub nb: PathBuf,
    pub sbs: PathBuf,
    pub switches: usize,
}

/// One Northbound transaction of `ops` plus `NB_Global.nb_cfg += 1`; the operations' results
/// and the new nb_cfg.
pub fn nb_txn(nb: &Path, mut ops: Vec<Value>) -> Result<(Vec<Value>, i64), String> {
    ops.push(json!({"op": "mutate", "table": "NB_Global", "where": [], "mutations": [["nb_cfg", "+=", 1]]}));
    ops.push(json!({"op": "select", "table": "NB_Global", "where": [], "columns": ["nb_cfg"]}));
    let r = transact_db(nb, "OVN_Northbound", ops)?;
    let cfg = r.last().and_then(|x| x["rows"][0]["nb_cfg"].as_i64()).ok_or("NB_Global.nb_cfg missing")?;
    Ok((r, cfg))
}

/// Bumps nb_cfg and waits for the controller to report it: the controller has caught up.
pub fn settle(ctx: &Ctx) -> Result<Instant, String> {
    let (_, cfg) = nb_txn(&ctx.nb, vec![])?;
    ctx.watch.wait_nb_cfg(&ctx.chassis, cfg, LIMIT)
}

fn uuid(r: &Value) -> Value {
    r["uuid"].clone()
}

// ---- flow counts ----------------------------------------------------------------------------

/// `ovs-ofctl dump-aggregate br-int` runnable from any thread.
#[derive(Clone)]
pub struct FlowCounter {
    bin: PathBuf,
    env: Vec<(OsString, OsString)>,
    dir: PathBuf,
}

impl FlowCounter {
    pub fn new(sb: &Sandbox) -> Result<FlowCounter, String> {
        Ok(FlowCounter {
            bin: find_bin("ovs-ofctl").ok_or("ovs-ofctl not found")?,
            env: sb.env().to_vec(),
            dir: sb.hv_dir().to_path_buf(),
        })
    }

    /// Flows installed on br-int now.
    pub fn count(&self) -> Option<u64> {
        let out = Command::new(&self.bin)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.dir)
            .args(["dump-aggregate", "br-int"])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_whitespace().find_map(|w| w.strip_prefix("flow_count=")).and_then(|v| v.parse().ok())
    }
}

/// Samples the installed flow count in a thread until finished. Each sample is stamped with
/// the time its reply arrived.
pub struct FlowSampler {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Vec<(Instant, u64)>>>,
}

impl FlowSampler {
    pub fn start(counter: FlowCounter, pause: Duration) -> FlowSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = thread::spawn(move || {
            let mut v = Vec::new();
            while !s.load(Ordering::Relaxed) {
                if let Some(c) = counter.count() {
                    v.push((Instant::now(), c));
                }
                thread::sleep(pause);
            }
            v
        });
        FlowSampler { stop, handle: Some(handle) }
    }

    pub fn finish(mut self) -> Vec<(Instant, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().and_then(|h| h.join().ok()).unwrap_or_default()
    }
}

impl Drop for FlowSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Install rate at cold start from the samples: `full` flows over the time from the last
/// sample that saw an empty table to the first that saw at least `full` flows (an upper bound
/// of the install time, so the rate is a lower bound; resolution: the sampling interval).
pub fn install_rate(samples: &[(Instant, u64)], full: u64) -> Option<(f64, f64)> {
    let done = samples.iter().position(|s| s.1 >= full && full > 0)?;
    let start = samples[..done].iter().rposition(|s| s.1 == 0)?;
    let secs = (samples[done].0 - samples[start].0).as_secs_f64();
    (secs > 0.0).then(|| (full as f64 / secs, secs))
}

// ---- idle detection -------------------------------------------------------------------------

/// Waits until the controller's processes together use at most one clock tick over 100 ms;
/// returns the start of that quiet window and the CPU seconds then.
pub fn wait_idle(sampler: &Sampler, limit: Duration) -> Result<(Instant, f64), String> {
    let end = Instant::now() + limit;
    let mut v: Vec<(Instant, f64)> = Vec::new();
    loop {
        v.push((Instant::now(), sampler.now().0.cpu_s));
        let n = v.len();
        if n >= 3 && v[n - 1].1 - v[n - 3].1 <= 0.0101 {
            return Ok(v[n - 3]);
        }
        if Instant::now() > end {
            return Err(format!("controller not idle after {limit:?}"));
        }
        thread::sleep(Duration::from_millis(50));
    }
}

// ---- incremental NB/SB changes --------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// An ACL on port group pg0 (one more match on a new TCP port).
    Acl,
    /// One more address in address set as0 (referenced by an ACL).
    AddrSetMember,
    /// A Southbound MAC_Binding on lr0 (as pinctrl would learn it).
    MacBinding,
}

impl Change {
    pub fn key(self) -> &'static str {
        match self {
            Change::Acl => "acl",
            Change::AddrSetMember => "as",
            Change::MacBinding => "mb",
        }
    }
}

/// Per change: time from the transaction to the controller's nb_cfg (ms), the controller's
/// share of it (from SB_Global.nb_cfg seen to the controller's nb_cfg, ms); and the
/// controller's CPU for the phase divided by the changes (ms).
pub struct ChangeTimes {
    pub total_ms: Vec<f64>,
    pub ctl_ms: Vec<f64>,
    pub cpu_per_change_ms: f64,
}

/// `n` changes of `kind`, one at a time, each timed to installed; then all undone.
pub fn changes(ctx: &Ctx, sampler: &Sampler, kind: Change, n: usize) -> Result<ChangeTimes, String> {
    let lr0 = if kind == Change::MacBinding {
        let dps = select_all(&ctx.sbs, "Datapath_Binding", &["_uuid", "external_ids"])?;
        dps.iter()
            .find(|d| d["external_ids"].to_string().contains(r#"["name","lr0"]"#))
            .map(|d| d["_uuid"].clone())
            .ok_or("no Datapath_Binding for lr0")?
    } else {
        Value::Null
    };
    let mut undo: Vec<Value> = Vec::new();
    let (mut total, mut ctl) = (Vec::new(), Vec::new());
    let cpu0 = sampler.now().0.cpu_s;
    for k in 0..n {
        let t0 = Instant::now();
        let cfg = match kind {
            Change::Acl => {
                let acl = json!({"op": "insert", "table": "ACL", "uuid-name": "acl", "row": {
                    "direction": "to-lport", "priority": 1500, "action": "allow-related",
                    "match": format!("outport == @pg0 && ip4 && tcp.dst == {}", 10000 + k)}});
                let pg = json!({"op": "mutate", "table": "Port_Group", "where": [["name", "==", "pg0"]],
                    "mutations": [["acls", "insert", ["set", [["named-uuid", "acl"]]]]]});
                let (r, cfg) = nb_txn(&ctx.nb, vec![acl, pg])?;
                undo.push(uuid(&r[0]));
                cfg
            }
            Change::AddrSetMember => {
                let addr = format!("172.18.{}.{}", k / 250, k % 250 + 1);
                let m = json!({"op": "mutate", "table": "Address_Set", "where": [["name", "==", "as0"]],
                    "mutations": [["addresses", "insert", ["set", [addr.clone()]]]]});
                undo.push(json!(addr));
                nb_txn(&ctx.nb, vec![m])?.1
            }
            Change::MacBinding => {
                let i = k % ctx.switches;
                let row = json!({"op": "insert", "table": "MAC_Binding", "row": {
                    "logical_port": format!("lr0-sw{i}"),
                    "ip": format!("{}.{}", topo::subnet(i), 200 + (k / ctx.switches) % 50),
                    "mac": format!("0a:ee:00:00:{:02x}:{:02x}", k / 256, k % 256),
                    "datapath": lr0.clone()}});
                let r = transact(&ctx.sbs, vec![row])?;
                undo.push(uuid(&r[0]));
                nb_txn(&ctx.nb, vec![])?.1
            }
        };
        let tsb = ctx.watch.wait_sb_nb_cfg(cfg, LIMIT)?;
        let thv = ctx.watch.wait_nb_cfg(&ctx.chassis, cfg, LIMIT)?;
        total.push((thv - t0).as_secs_f64() * 1e3);
        ctl.push(thv.saturating_duration_since(tsb).as_secs_f64() * 1e3);
    }
    let cpu1 = sampler.now().0.cpu_s;
    // Undo, so that the next controller measured sees the same database.
    match kind {
        Change::Acl => {
            let mut ops = vec![json!({"op": "mutate", "table": "Port_Group", "where": [["name", "==", "pg0"]],
                "mutations": [["acls", "delete", ["set", undo.clone()]]]})];
            ops.extend(undo.iter().map(|u| json!({"op": "delete", "table": "ACL", "where": [["_uuid", "==", u]]})));
            nb_txn(&ctx.nb, ops)?;
        }
        Change::AddrSetMember => {
            nb_txn(
                &ctx.nb,
                vec![json!({"op": "mutate", "table": "Address_Set", "where": [["name", "==", "as0"]],
                "mutations": [["addresses", "delete", ["set", undo]]]})],
            )?;
        }
        Change::MacBinding => {
            let ops =
                undo.iter().map(|u| json!({"op": "delete", "table": "MAC_Binding", "where": [["_uuid", "==", u]]}));
            transact(&ctx.sbs, ops.collect())?;
        }
    }
    settle(ctx)?;
    Ok(ChangeTimes { total_ms: total, ctl_ms: ctl, cpu_per_change_ms: (cpu1 - cpu0) * 1e3 / n.max(1) as f64 })
}

// ---- full recompute -------------------------------------------------------------------------

/// `n` times: wait for idle, `inc-engine/recompute`, bump nb_cfg; the wall time until the
/// controller has reported that nb_cfg and is idle again (ms), and its CPU meanwhile (ms).
pub fn recomputes(sb: &Sandbox, ctx: &Ctx, sampler: &Sampler, n: usize) -> Result<(Vec<f64>, Vec<f64>), String> {
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    for _ in 0..n {
        wait_idle(sampler, Duration::from_secs(60))?;
        let cpu0 = sampler.now().0.cpu_s;
        let t0 = Instant::now();
        e(sb.try_ovn_appctl(["inc-engine/recompute"]))?;
        let (_, cfg) = nb_txn(&ctx.nb, vec![])?;
        let thv = ctx.watch.wait_nb_cfg(&ctx.chassis, cfg, LIMIT)?;
        let (tidle, cpu1) = wait_idle(sampler, LIMIT)?;
        wall.push((thv.max(tidle) - t0).as_secs_f64() * 1e3);
        cpu.push((cpu1 - cpu0) * 1e3);
    }
    Ok((wall, cpu))
}

// ---- packet-ins -----------------------------------------------------------------------------

fn parse_mac(s: &str) -> [u8; 6] {
    let mut m = [0u8; 6];
    for (i, p) in s.split(':').enumerate().take(6) {
        m[i] = u8::from_str_radix(p, 16).unwrap_or(0);
    }
    m
}

/// (xid, message type) of a DHCP frame (IPv4 without options, UDP 67/68).
fn dhcp_of(frame: &[u8]) -> Option<(u32, u8)> {
    let d = frame.get(42..)?;
    if frame.get(12..14) != Some(&[8, 0]) || frame.get(14) != Some(&0x45) || frame.get(23) != Some(&17) {
        return None;
    }
    let xid = u32::from_be_bytes(d.get(4..8)?.try_into().ok()?);
    let opts = d.get(240..)?;
    let mut i = 0;
    while i + 1 < opts.len() {
        match opts[i] {
            0 => i += 1,
            255 => break,
            53 => return Some((xid, *opts.get(i + 2)?)),
            _ => i += 2 + opts[i + 1] as usize,
        }
    }
    None
}

const DISCOVER: u8 = 1;
const OFFER: u8 = 2;

/// The measured VIF with pcap files of its own for one phase.
pub struct Vif {
    name: String,
    mac: [u8; 6],
    rx: PathBuf,
    tx: PathBuf,
}

impl Vif {
    /// Points the VIF's `rxq_pcap` / `tx_pcap` at new files named after `label`.
    pub fn capture(sb: &Sandbox, label: &str) -> Result<Vif, String> {
        let name = topo::PING_VIF.to_string();
        let rx = sb.hv_dir().join(format!("{name}-{label}-rx.pcap"));
        let tx = sb.hv_dir().join(format!("{name}-{label}-tx.pcap"));
        e(sb.try_vsctl([
            "set",
            "Interface",
            &name,
            &format!("options:rxq_pcap=\"{}\"", rx.display()),
            &format!("options:tx_pcap=\"{}\"", tx.display()),
        ]))?;
        Ok(Vif { name, mac: parse_mac(&topo::ping_mac()), rx, tx })
    }

    fn inject(&self, sb: &Sandbox, xids: &[u32]) -> Result<(), String> {
        let mut args = vec!["netdev-dummy/receive".to_string(), self.name.clone()];
        args.extend(
            xids.iter().map(|x| chassisd_tests::packet::to_hex(&chassisd_tests::packet::dhcp_discover(self.mac, *x))),
        );
        e(sb.try_appctl(&args)).map(drop)
    }

    fn records(path: &Path, kind: u8) -> Vec<(u32, Duration)> {
        pcap::read(path)
            .unwrap_or_default()
            .iter()
            .filter_map(|r| dhcp_of(&r.data).filter(|d| d.1 == kind).map(|d| (d.0, r.ts)))
            .collect()
    }

    fn offers(&self) -> Vec<(u32, Duration)> {
        Vif::records(&self.tx, OFFER)
    }

    /// Switch-measured latency per xid answered: first OFFER in tx − DISCOVER in rx, ms.
    fn latencies(&self, xids: &[u32]) -> Vec<(u32, f64, Duration, Duration)> {
        let rx = Vif::records(&self.rx, DISCOVER);
        let tx = self.offers();
        xids.iter()
            .filter_map(|x| {
                let a = rx.iter().find(|r| r.0 == *x)?.1;
                let b = tx.iter().find(|r| r.0 == *x)?.1;
                Some((*x, (b.as_secs_f64() - a.as_secs_f64()) * 1e3, a, b))
            })
            .collect()
    }
}

fn xid_base() -> u32 {
    let n = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    (n & 0x0fff_ffff) | 0x1000_0000
}

/// `n` DHCP discovers one at a time (each after the previous was answered or timed out);
/// switch-measured latencies (ms) of those answered, and how many were not.
pub fn pings(sb: &Sandbox, label: &str, n: usize) -> Result<(Vec<f64>, usize), String> {
    let vif = Vif::capture(sb, label)?;
    let base = xid_base();
    let xids: Vec<u32> = (0..n as u32).map(|k| base + k).collect();
    for x in &xids {
        vif.inject(sb, &[*x])?;
        let end = Instant::now() + Duration::from_secs(2);
        while Instant::now() < end && !vif.offers().iter().any(|o| o.0 == *x) {
            thread::sleep(Duration::from_millis(2));
        }
        thread::sleep(Duration::from_millis(10));
    }
    let lat: Vec<f64> = vif.latencies(&xids).iter().map(|l| l.1).collect();
    let lost = n - lat.len();
    Ok((lat, lost))
}

/// Like [`pings`] while a thread sends `inc-engine/recompute` to the controller every 20 ms
/// (a continuous recompute storm); also the number of recompute commands sent.
pub fn pings_in_storm(sb: &Sandbox, label: &str, n: usize) -> Result<(Vec<f64>, usize, usize), String> {
    let stop = AtomicBool::new(false);
    let sent = AtomicUsize::new(0);
    let r = thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let _ = sb.try_ovn_appctl(["inc-engine/recompute"]);
                sent.fetch_add(1, Ordering::Relaxed);
                thread::sleep(Duration::from_millis(20));
            }
        });
        thread::sleep(Duration::from_millis(300));
        let r = pings(sb, label, n);
        stop.store(true, Ordering::Relaxed);
        r
    })?;
    Ok((r.0, r.1, sent.load(Ordering::Relaxed)))
}

/// `n` discovers injected as fast as `netdev-dummy/receive` takes them (50 per command);
/// offers answered, and the rate: answered / (last offer − first discover), per second.
pub fn burst(sb: &Sandbox, label: &str, n: usize) -> Result<(usize, f64), String> {
    let vif = Vif::capture(sb, label)?;
    let base = xid_base();
    let xids: Vec<u32> = (0..n as u32).map(|k| base + k).collect();
    for chunk in xids.chunks(50) {
        vif.inject(sb, chunk)?;
    }
    // Until every one is answered or nothing new came for a second.
    let (mut last, mut seen) = (Instant::now(), 0);
    while last.elapsed() < Duration::from_secs(1) {
        let k = vif.offers().len();
        if k != seen {
            seen = k;
            last = Instant::now();
        }
        if seen >= n {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let lat = vif.latencies(&xids);
    let first = lat.iter().map(|l| l.2).min();
    let last = lat.iter().map(|l| l.3).max();
    let rate = match (first, last) {
        (Some(a), Some(b)) if b > a => lat.len() as f64 / (b - a).as_secs_f64(),
        _ => 0.0,
    };
    Ok((lat.len(), rate))
}

// ---- restart --------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kill {
    /// The controller and all its processes (SIGKILL), then started again.
    Whole,
    /// chassisd's flowctl alone (SIGKILL); the supervisor restarts it.
    Flowctl,
}

pub struct Dip {
    pub steady: u64,
    pub min: u64,
    /// Kill → Chassis_Private.nb_cfg reported again (for a value bumped right after).
    pub restart_s: f64,
    pub samples: usize,
}

/// Kills (as `how`) the running controller `c`, restarts it and samples the installed flow
/// count until it reports an nb_cfg bumped after the kill.
pub fn restart_dip(sb: &mut Sandbox, ctx: &Ctx, c: Controller, how: Kill) -> Result<Dip, String> {
    let counter = FlowCounter::new(sb)?;
    let steady = counter.count().ok_or("dump-aggregate failed")?;
    let root = sb.controller_pid().ok_or("no controller running")?;
    let victims: Vec<ProcId> = match how {
        Kill::Whole => {
            let mut v = root.descendants();
            v.push(root);
            v
        }
        Kill::Flowctl => root
            .descendants()
            .into_iter()
            .filter(|p| std::fs::read_to_string(format!("/proc/{}/comm", p.pid)).is_ok_and(|c| c.trim() == "flowctl"))
            .collect(),
    };
    if victims.is_empty() {
        return Err("no process to kill".into());
    }
    let fs = FlowSampler::start(counter, Duration::from_millis(2));
    thread::sleep(Duration::from_millis(30));
    let t0 = Instant::now();
    for p in &victims {
        p.signal(Signal::SIGKILL);
    }
    wait_gone(&victims, Duration::from_secs(10));
    if how == Kill::Whole {
        let _ = sb.stop_controller();
        sb.try_start_controller(c)?;
    }
    let (_, cfg) = nb_txn(&ctx.nb, vec![])?;
    let t1 = ctx.watch.wait_nb_cfg(&ctx.chassis, cfg, LIMIT)?;
    let samples = fs.finish();
    let during: Vec<u64> = samples.iter().filter(|s| s.0 >= t0 && s.0 <= t1).map(|s| s.1).collect();
    Ok(Dip {
        steady,
        min: during.iter().copied().min().unwrap_or(steady),
        restart_s: (t1 - t0).as_secs_f64(),
        samples: during.len(),
    })
}
