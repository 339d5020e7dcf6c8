//! One measurement of one controller on a built topology: cold start to sync, then VIF
//! add/remove changes, then stop. The sandbox's OVS and Southbound state is reset before every
//! start so that both controllers start from the same state.

use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, Instant};

use chassisd_tests::{Controller, Sandbox};
use serde_json::{json, Value};

use super::phases::{self, Change, Ctx, FlowCounter, FlowSampler, Kill};
use super::procstat::Sampler;
use super::sbconn::sb_conns;
use super::stats::{median, percentile};
use super::watch::{select_all, transact, SbWatch};

const MIB: f64 = 1024.0 * 1024.0;
/// Patience for a cold start or one change; far above anything expected.
const LIMIT: Duration = Duration::from_secs(600);

fn e(r: Result<String, chassisd_tests::CmdError>) -> Result<String, String> {
    r.map_err(|e| {
        let mut cmd = e.cmd.clone();
        if cmd.len() > 300 {
            cmd.truncate(300);
            cmd.push_str(" ...");
        }
        let how = if e.timed_out { "timed out".to_string() } else { format!("{:?}", e.status) };
        format!("`{cmd}` failed ({how}): {}", e.stderr.trim())
    })
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(|l| l.trim().trim_matches('"').to_string()).filter(|l| !l.is_empty()).collect()
}

/// Back to "no controller ever ran here": no flows, groups, meters or tunnel ports on br-int,
/// no ct-zone or other external_ids on it, no ovn-installed marks on interfaces; the chassis
/// gone from the Southbound (its port claims with it, as Port_Binding.chassis is a weak
/// reference) and every `up` flag false. Then waits for northd to have caught up.
pub fn reset(sb: &Sandbox, chassis: &str) -> Result<(), String> {
    e(sb.try_ofctl(["del-flows", "br-int"]))?;
    let _ = sb.try_ofctl(["-O", "OpenFlow15", "del-groups", "br-int"]);
    let _ = sb.try_ofctl(["-O", "OpenFlow15", "del-meters", "br-int"]);
    let mut cmds: Vec<String> = vec!["clear".into(), "Bridge".into(), "br-int".into(), "external_ids".into()];
    for t in ["geneve", "stt", "vxlan"] {
        for name in lines(&e(sb.try_vsctl(["--bare", "--columns=name", "find", "Interface", &format!("type={t}")]))?) {
            cmds.extend(["--".into(), "--if-exists".into(), "del-port".into(), name]);
        }
    }
    let marked =
        e(sb.try_vsctl(["--bare", "--columns=name", "find", "Interface", "external_ids:ovn-installed=\"true\""]))?;
    for name in lines(&marked) {
        for key in ["ovn-installed", "ovn-installed-ts"] {
            cmds.extend([
                "--".into(),
                "remove".into(),
                "Interface".into(),
                name.clone(),
                "external_ids".into(),
                key.into(),
            ]);
        }
    }
    e(sb.try_vsctl(&cmds))?;

    // As `ovn-sbctl chassis-del` (its Encaps go with it, being unreferenced), plus the
    // Chassis_Private row and the up flags, in one transaction.
    let sock = sb.sb_socket();
    let ups: Vec<Value> = select_all(&sock, "Port_Binding", &["_uuid", "up"])?
        .into_iter()
        .filter(|r| r["up"] == json!(true))
        .map(|r| json!({"op": "update", "table": "Port_Binding", "where": [["_uuid", "==", r["_uuid"]]], "row": {"up": false}}))
        .collect();
    let mut ops = vec![
        json!({"op": "delete", "table": "Chassis", "where": [["name", "==", chassis]]}),
        json!({"op": "delete", "table": "Chassis_Private", "where": [["name", "==", chassis]]}),
    ];
    ops.extend(ups);
    transact(&sock, ops)?;
    e(sb.try_nbctl(["--wait=sb", "sync"]))?;
    Ok(())
}

pub struct Outcome {
    /// Everything measured, for the run's JSON file; `figures` holds the values of
    /// `report::FIGURES` by key.
    pub json: Value,
}

/// What a measurement runs against.
pub struct Setup<'a> {
    /// Watches the Southbound database (nb_cfg, port bindings).
    pub watch: &'a SbWatch,
    /// The SB ovsdb-server's TCP port, which the controller's ovn-remote points at.
    pub sb_port: u16,
    /// Logical switches of the topology (`sw0` ..).
    pub switches: usize,
    /// VIFs to add and remove one at a time after the cold start; also the number of ACLs,
    /// address-set members and MAC bindings added.
    pub changes: usize,
    /// Full recomputes timed.
    pub recomputes: usize,
    /// DHCP discovers sent one at a time (idle, then again during a recompute storm).
    pub pings: usize,
    /// DHCP discovers sent at once for the packet-in rate.
    pub burst: usize,
}

/// Cold start of `c`, `changes` VIF additions and removals, stop.
pub fn run(
    sb: &mut Sandbox,
    setup: &Setup,
    c: Controller,
    tag: &str,
    progress: &dyn Fn(&str),
) -> Result<Outcome, String> {
    let Setup { watch, sb_port, switches, changes, recomputes, pings, burst } = *setup;
    let chassis = sb.chassis().to_string();
    reset(sb, &chassis)?;
    let before: i64 = e(sb.try_nbctl(["get", "NB_Global", ".", "nb_cfg"]))?.trim().parse().map_err(|_| "nb_cfg?")?;
    let target = before + 1;

    // ---- cold start ----
    let counter = FlowCounter::new(sb)?;
    let flow_sampler = FlowSampler::start(counter.clone(), Duration::from_millis(25));
    let t0 = Instant::now();
    let root = sb.try_start_controller(c)?;
    let sampler = Sampler::start(root);
    let (cold, hv_wait, usage, nprocs, conns, pids) = thread::scope(|s| -> Result<_, String> {
        let sbr = &*sb;
        let bump = s.spawn(move || {
            let r = e(sbr.try_nbctl(["--timeout=600", "--wait=hv", "sync"]));
            (r, Instant::now())
        });
        let synced = watch.wait_nb_cfg(&chassis, target, LIMIT);
        let (usage, nprocs) = sampler.now();
        let mut pids = vec![root.pid];
        pids.extend(root.descendants().iter().map(|p| p.pid));
        let conns = sb_conns(sb_port, &pids);
        let (r, hv_done) = bump.join().map_err(|_| "nbctl thread panicked")?;
        let synced = synced?;
        r?;
        Ok((synced - t0, hv_done - t0, usage, nprocs, conns?, pids))
    })?;
    let now_cfg: i64 = e(sb.try_nbctl(["get", "NB_Global", ".", "nb_cfg"]))?.trim().parse().map_err(|_| "nb_cfg?")?;
    if now_cfg != target {
        return Err(format!("NB_Global.nb_cfg is {now_cfg}, expected {target}: someone else bumped it"));
    }
    let agg = e(sb.try_ofctl(["dump-aggregate", "br-int"]))?;
    let of_flows: f64 =
        agg.split_whitespace().find_map(|w| w.strip_prefix("flow_count=")).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let flow_samples = flow_sampler.finish();
    let rate = phases::install_rate(&flow_samples, of_flows as u64);
    progress(&format!(
        "  {tag}: synced in {:.2}s (wait=hv {:.2}s), CPU {:.2}s, RSS {:.1} MiB, {} SB conn, {:.1} MiB from SB, {} flows",
        cold.as_secs_f64(),
        hv_wait.as_secs_f64(),
        usage.cpu_s,
        usage.hwm as f64 / MIB,
        conns.count,
        conns.bytes_received as f64 / MIB,
        of_flows
    ));

    // ---- incremental: VIFs added and removed one at a time ----
    let mut claim = Vec::new();
    let mut up = Vec::new();
    let mut release = Vec::new();
    let (mut cpu_add, mut cpu_rel) = (None, None);
    if changes > 0 {
        let lports: Vec<String> = (0..changes).map(|k| format!("x-{tag}-{k}")).collect();
        let mut cmds: Vec<String> = Vec::new();
        for (k, lp) in lports.iter().enumerate() {
            let mac = format!("0a:ff:00:00:{:02x}:{:02x}", k / 256, k % 256);
            cmds.extend(["--".into(), "lsp-add".into(), format!("sw{}", k % switches), lp.clone()]);
            cmds.extend(["--".into(), "lsp-set-addresses".into(), lp.clone(), mac]);
        }
        let mut args = vec!["--wait=sb".to_string()];
        args.extend(cmds);
        e(sb.try_nbctl(&args))?;
        watch.wait_binding(&lports[changes - 1], LIMIT, |b| b.is_some())?;
        let cpu0 = sampler.now().0.cpu_s;
        for (k, lp) in lports.iter().enumerate() {
            let vif = format!("xv{k}");
            let t = Instant::now();
            e(sb.try_vsctl([
                "add-port",
                "br-int",
                &vif,
                "--",
                "set",
                "Interface",
                &vif,
                "type=dummy",
                &format!("external_ids:iface-id={lp}"),
            ]))?;
            let tc = watch.wait_binding(lp, LIMIT, |b| b.is_some_and(|b| !b.chassis.is_empty()))?;
            let tu = watch.wait_binding(lp, LIMIT, |b| b.is_some_and(|b| b.up))?;
            claim.push((tc - t).as_secs_f64() * 1e3);
            up.push((tu - t).as_secs_f64() * 1e3);
        }
        let cpu1 = sampler.now().0.cpu_s;
        for (k, lp) in lports.iter().enumerate() {
            let vif = format!("xv{k}");
            let t = Instant::now();
            e(sb.try_vsctl(["del-port", "br-int", &vif]))?;
            let tr = watch.wait_binding(lp, LIMIT, |b| b.is_some_and(|b| b.chassis.is_empty()))?;
            release.push((tr - t).as_secs_f64() * 1e3);
        }
        let cpu2 = sampler.now().0.cpu_s;
        cpu_add = Some((cpu1 - cpu0) * 1e3 / changes as f64);
        cpu_rel = Some((cpu2 - cpu1) * 1e3 / changes as f64);
        let mut del = vec!["--wait=sb".to_string()];
        for lp in &lports {
            del.extend(["--".into(), "lsp-del".into(), lp.clone()]);
        }
        e(sb.try_nbctl(&del))?;
        progress(&format!(
            "  {tag}: {changes} VIF adds: claim median {:.1} ms, up median {:.1} ms (p99 {:.1}); removes median {:.1} ms",
            median(&claim).unwrap_or(f64::NAN),
            median(&up).unwrap_or(f64::NAN),
            percentile(&up, 99.0).unwrap_or(f64::NAN),
            median(&release).unwrap_or(f64::NAN),
        ));
    }

    let ctx = Ctx { watch, chassis: chassis.clone(), nb: sb.nb_socket(), sbs: sb.sb_socket(), switches };
    let mut values: BTreeMap<&'static str, f64> = BTreeMap::new();
    let mut dists: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    let mut extra = serde_json::Map::new();

    // ---- incremental: ACL, address-set member, MAC binding ----
    if changes > 0 {
        for kind in [Change::Acl, Change::AddrSetMember, Change::MacBinding] {
            let t = phases::changes(&ctx, &sampler, kind, changes)?;
            let k = kind.key();
            progress(&format!(
                "  {tag}: {changes} {k} changes: installed median {:.1} ms (p99 {:.1}), controller's share median \
                 {:.1} ms, CPU {:.1} ms per change",
                median(&t.total_ms).unwrap_or(f64::NAN),
                percentile(&t.total_ms, 99.0).unwrap_or(f64::NAN),
                median(&t.ctl_ms).unwrap_or(f64::NAN),
                t.cpu_per_change_ms
            ));
            let keys: [&'static str; 4] = match kind {
                Change::Acl => ["acl_p50_ms", "acl_p99_ms", "acl_ctl_p50_ms", "cpu_per_acl_ms"],
                Change::AddrSetMember => ["as_p50_ms", "as_p99_ms", "as_ctl_p50_ms", "cpu_per_as_ms"],
                Change::MacBinding => ["mb_p50_ms", "mb_p99_ms", "mb_ctl_p50_ms", "cpu_per_mb_ms"],
            };
            let vals =
                [median(&t.total_ms), percentile(&t.total_ms, 99.0), median(&t.ctl_ms), Some(t.cpu_per_change_ms)];
            for (key, v) in keys.into_iter().zip(vals) {
                if let Some(v) = v {
                    values.insert(key, v);
                }
            }
            let dk: &'static str = match kind {
                Change::Acl => "acl_ms",
                Change::AddrSetMember => "as_ms",
                Change::MacBinding => "mb_ms",
            };
            dists.insert(dk, t.total_ms.clone());
            extra.insert(
                format!("{k}_changes"),
                json!({"total_ms": t.total_ms, "controller_ms": t.ctl_ms, "cpu_per_change_ms": t.cpu_per_change_ms}),
            );
        }
    }

    // ---- full recompute ----
    if recomputes > 0 {
        let (wall, cpu) = phases::recomputes(sb, &ctx, &sampler, recomputes)?;
        progress(&format!(
            "  {tag}: {recomputes} recomputes: median {:.1} ms, CPU median {:.1} ms",
            median(&wall).unwrap_or(f64::NAN),
            median(&cpu).unwrap_or(f64::NAN)
        ));
        if let (Some(w), Some(c)) = (median(&wall), median(&cpu)) {
            values.insert("recompute_ms", w);
            values.insert("recompute_cpu_ms", c);
        }
        extra.insert("recompute".into(), json!({"wall_ms": wall, "cpu_ms": cpu}));
    }

    // ---- packet-ins ----
    if pings > 0 {
        let (idle, idle_lost) = phases::pings(sb, &format!("{tag}-idle"), pings)?;
        let (storm, storm_lost, storm_cmds) = phases::pings_in_storm(sb, &format!("{tag}-storm"), pings)?;
        progress(&format!(
            "  {tag}: DHCP packet-in latency idle median {:.2} ms p99 {:.2} ({} lost); during recompute storm median \
             {:.2} ms p99 {:.2} max {:.2} ({} lost, {storm_cmds} recompute commands)",
            median(&idle).unwrap_or(f64::NAN),
            percentile(&idle, 99.0).unwrap_or(f64::NAN),
            idle_lost,
            median(&storm).unwrap_or(f64::NAN),
            percentile(&storm, 99.0).unwrap_or(f64::NAN),
            percentile(&storm, 100.0).unwrap_or(f64::NAN),
            storm_lost,
        ));
        for (prefix, xs) in [("pin_idle", &idle), ("pin_storm", &storm)] {
            let keys: [&'static str; 3] = if prefix == "pin_idle" {
                ["pin_idle_p50_ms", "pin_idle_p99_ms", "pin_idle_max_ms"]
            } else {
                ["pin_storm_p50_ms", "pin_storm_p99_ms", "pin_storm_max_ms"]
            };
            for (k, p) in keys.into_iter().zip([50.0, 99.0, 100.0]) {
                if let Some(v) = percentile(xs, p) {
                    values.insert(k, v);
                }
            }
        }
        values.insert("pin_idle_lost", idle_lost as f64);
        values.insert("pin_storm_lost", storm_lost as f64);
        dists.insert("pin_idle_ms", idle.clone());
        dists.insert("pin_storm_ms", storm.clone());
        extra.insert(
            "packet_in".into(),
            json!({"idle_ms": idle, "idle_lost": idle_lost, "storm_ms": storm, "storm_lost": storm_lost,
                   "storm_recompute_commands": storm_cmds}),
        );
    }
    if burst > 0 {
        let (answered, rate) = phases::burst(sb, &format!("{tag}-burst"), burst)?;
        progress(&format!("  {tag}: burst of {burst} discovers: {answered} offers, {rate:.0} offers/s"));
        values.insert("pin_rate_per_s", rate);
        values.insert("pin_burst_answered", answered as f64 / burst as f64);
        // chassisd's pinctrl counts what its per-opcode rate limiter dropped: kept with the run.
        let status = if c == Controller::Chassisd {
            sb.try_ovn_appctl(["pinctrl/status"]).map(|o| o.trim().to_string()).unwrap_or_else(|e| e.to_string())
        } else {
            String::new()
        };
        extra.insert(
            "burst".into(),
            json!({"sent": burst, "answered": answered, "offers_per_s": rate, "pinctrl_status": status}),
        );
    }

    // ---- before the restarts: the end-of-run figures ----
    let (end, end_procs) = sampler.now();
    let names = sampler.names();
    let end_conns = sb_conns(sb_port, &pids)?;
    drop(sampler);

    // ---- restart: flow-table dip ----
    let mut kills = vec![Kill::Whole];
    if c == Controller::Chassisd {
        kills.push(Kill::Flowctl);
    }
    for how in kills {
        let d = phases::restart_dip(sb, &ctx, c, how)?;
        progress(&format!(
            "  {tag}: kill -9 ({how:?}) → nb_cfg again in {:.2}s; installed flows min {} of {} ({} samples)",
            d.restart_s, d.min, d.steady, d.samples
        ));
        let keys: [&'static str; 3] = match how {
            Kill::Whole => ["restart_s", "restart_min_flows", "restart_min_frac"],
            Kill::Flowctl => ["flowctl_restart_s", "flowctl_restart_min_flows", "flowctl_restart_min_frac"],
        };
        values.insert(keys[0], d.restart_s);
        values.insert(keys[1], d.min as f64);
        values.insert(keys[2], if d.steady > 0 { d.min as f64 / d.steady as f64 } else { 0.0 });
        extra.insert(
            format!("restart_{how:?}").to_lowercase(),
            json!({"steady_flows": d.steady, "min_flows": d.min, "seconds_to_nb_cfg": d.restart_s, "samples": d.samples}),
        );
    }

    // ---- stop ----
    let report = sb.stop_controller();
    if !report.is_clean() {
        progress(&format!("  {tag}: WARNING: unclean stop: {report:?}"));
    }

    values.insert("cold_start_s", cold.as_secs_f64());
    if let Some((r, secs)) = rate {
        values.insert("flows_per_s", r);
        values.insert("install_s", secs);
    }
    values.insert("cpu_s", usage.cpu_s);
    values.insert("peak_rss_mib", usage.hwm as f64 / MIB);
    values.insert("sb_conns", conns.count as f64);
    values.insert("sb_rx_mib", conns.bytes_received as f64 / MIB);
    values.insert("of_flows", of_flows);
    values.insert("processes", end_procs as f64);
    let opt = [
        ("claim_p50_ms", median(&claim)),
        ("claim_p99_ms", percentile(&claim, 99.0)),
        ("up_p50_ms", median(&up)),
        ("up_p99_ms", percentile(&up, 99.0)),
        ("release_p50_ms", median(&release)),
        ("release_p99_ms", percentile(&release, 99.0)),
        ("cpu_per_add_ms", cpu_add),
        ("cpu_per_release_ms", cpu_rel),
    ];
    for (k, v) in opt {
        if let Some(v) = v {
            values.insert(k, v);
        }
    }
    values.insert("cpu_end_s", end.cpu_s);
    values.insert("peak_rss_end_mib", end.hwm as f64 / MIB);
    values.insert("sb_rx_end_mib", end_conns.bytes_received as f64 / MIB);

    dists.insert("up_ms", up.clone());
    let json = json!({
        "controller": c.name(),
        "figures": values,
        "dists": dists,
        "phases": extra,
        "install": {
            "definition": "flows at sync over the time from the last dump-aggregate sample (every 25 ms) showing an \
                empty table to the first showing at least that many",
            "samples": flow_samples.iter().map(|s| json!([(s.0 - t0).as_secs_f64(), s.1])).collect::<Vec<_>>(),
        },
        "cold_start": {
            "definition": "controller start (before spawning it) until the Southbound update that sets its \
                Chassis_Private.nb_cfg to the value `ovn-nbctl --wait=hv sync` (run right after the start) bumped \
                NB_Global.nb_cfg to",
            "nb_cfg_target": target,
            "seconds": cold.as_secs_f64(),
            // Not a figure: northd sets hv_cfg = nb_cfg at once while no Chassis_Private row
            // exists, so this returns early when the bump beats the chassis registration.
            "wait_hv_returned_s": hv_wait.as_secs_f64(),
            "cpu_s": usage.cpu_s,
            "vm_hwm_bytes": usage.hwm,
            "vm_rss_bytes": usage.rss,
            "processes": nprocs,
            "sb_connections": conns.count,
            "sb_bytes_received": conns.bytes_received,
            "sb_bytes_sent": conns.bytes_sent,
            "sb_socket_owners": conns.owners,
            "openflow_flows": of_flows,
        },
        "changes": {
            "count": changes,
            "claim_ms": claim,
            "up_ms": up,
            "release_ms": release,
            "cpu_per_add_ms": cpu_add,
            "cpu_per_release_ms": cpu_rel,
        },
        "at_stop": {
            "cpu_s": end.cpu_s,
            "vm_hwm_bytes": end.hwm,
            "processes": names,
            "sb_connections": end_conns.count,
            "sb_bytes_received": end_conns.bytes_received,
            "sb_bytes_sent": end_conns.bytes_sent,
            "clean_stop": report.is_clean(),
        },
    });
    Ok(Outcome { json })
}
