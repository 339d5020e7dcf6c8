//! `chassisd-bench`: chassisd against the real ovn-controller 23.03, on one machine, in one
//! run, on the same databases.
//!
//! ```text
//! cargo build --release -p supervisor -p flowctl -p pinctrl
//! cargo run --release -p chassisd-tests --bin chassisd-bench -- [--tiers small,medium,large] [--runs N]
//!     [--changes N] [--recomputes N] [--pings N] [--burst N] [--out DIR] [--quick]
//! ```
//! Per tier it starts a sandbox (OVS 3.1 on the dummy datapath, NB, SB, ovn-northd; see
//! `chassisd_tests::Sandbox`), builds the topology with ovn-nbctl (`bench/topo.rs`), gives the
//! SB ovsdb-server a TCP remote that the controller's ovn-remote points at, and then, `--runs`
//! times, starts each controller in turn on the same databases (order alternating per run),
//! measures (`bench/measure.rs`) and stops it. Output in `--out` (default `bench-out/`): one
//! JSON file per run and controller, `summary.json`, `results.md` (also printed), `scale.svg`
//! (figures against logical flows), `latency.svg` (change-to-installed latency CDFs) and
//! `packet-in.svg` (DHCP packet-in latency CDFs, idle and during a recompute storm). `--from DIR...`
//! rebuilds those from the run files of earlier invocations without measuring.
//!
//! Not a test: `cargo test` does not run it.

#[path = "../bench/mod.rs"]
mod bench;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use chassisd_tests::{chassisd_bin, missing_binaries, wait_for, Controller, Keep, Sandbox};
use clap::Parser;
use serde_json::json;

use bench::measure::{self, Setup};
use bench::report::{self, RunFigures};
use bench::sbconn::free_port;
use bench::topo::{self, Tier};
use bench::watch::SbWatch;

#[derive(Parser, Debug)]
#[command(name = "chassisd-bench", about = "Benchmark chassisd against ovn-controller 23.03 on the same databases")]
struct Args {
    /// Comma list of tiers: small (~4k logical flows), medium (~30k), large (~75k), or SWITCHESxPORTS.
    #[arg(long, default_value = "small,medium,large")]
    tiers: String,
    /// Measurements per controller and tier.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Changes of each kind after each cold start, one at a time: VIFs added (then removed),
    /// ACLs, address-set members and MAC bindings added (then removed in one go).
    #[arg(long, default_value_t = 20)]
    changes: usize,
    /// Full recomputes (`inc-engine/recompute`) timed per run.
    #[arg(long, default_value_t = 5)]
    recomputes: usize,
    /// DHCP discovers sent one at a time for the packet-in latency, idle and again during a
    /// recompute storm.
    #[arg(long, default_value_t = 50)]
    pings: usize,
    /// DHCP discovers sent at once for the sustained packet-in rate.
    #[arg(long, default_value_t = 500)]
    burst: usize,
    /// Output directory.
    #[arg(long, default_value = "bench-out")]
    out: PathBuf,
    /// Smoke check: small tier, 1 run, 5 changes, 2 recomputes, 10 pings, a burst of 100.
    #[arg(long)]
    quick: bool,
    /// Measure only this controller (`chassisd` or `ovn-controller`): for profiling; the
    /// report then has no ratios.
    #[arg(long)]
    only: Option<String>,
    /// Keep the sandbox directories (for debugging).
    #[arg(long)]
    keep: bool,
    /// Measure nothing: rebuild the table and plots in --out from the run files in these
    /// directories (e.g. the outputs of several invocations).
    #[arg(long, num_args = 1..)]
    from: Vec<PathBuf>,
}

fn sh(prog: &str, args: &[&str]) -> String {
    std::process::Command::new(prog)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn machine() -> serde_json::Value {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model =
        cpuinfo.lines().find_map(|l| l.strip_prefix("model name")).map(|m| m.trim_start_matches([' ', '\t', ':']));
    let mem = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb = mem.lines().next().and_then(|l| l.split_whitespace().nth(1)).unwrap_or("?").to_string();
    json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu_model": model,
        "mem_total_kb": mem_kb,
        "kernel": sh("uname", &["-r"]),
        "ovn_controller": sh("ovn-controller", &["--version"]).lines().next(),
        "ovs_vswitchd": sh("ovs-vswitchd", &["--version"]).lines().next(),
        "chassisd": chassisd_bin().ok().map(|p| p.display().to_string()),
        "git_commit": sh("git", &["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "--short", "HEAD"]),
    })
}

fn main() -> ExitCode {
    let mut args = Args::parse();
    if args.quick {
        args.tiers = "small".into();
        args.runs = 1;
        args.changes = args.changes.min(5);
        args.recomputes = args.recomputes.min(2);
        args.pings = args.pings.min(10);
        args.burst = args.burst.min(100);
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chassisd-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    if !args.from.is_empty() {
        let docs = load_runs(&args.from)?;
        let started = Instant::now();
        let progress = |msg: &str| eprintln!("[{:7.1}s] {msg}", started.elapsed().as_secs_f64());
        let dirs: Vec<String> = args.from.iter().map(|d| d.display().to_string()).collect();
        return write_reports(&docs, &args.out, &format!("--from {}", dirs.join(" ")), &progress);
    }
    let missing = missing_binaries();
    if !missing.is_empty() {
        return Err(format!("OVS/OVN binaries missing: {missing:?}"));
    }
    // The harness looks beside `target/<profile>/deps`; a binary runs from `target/<profile>`.
    if std::env::var_os("CHASSISD_BIN").is_none() {
        if let Some(dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(|p| p.to_path_buf())) {
            if dir.join("chassisd").is_file() {
                std::env::set_var("CHASSISD_BIN", dir.join("chassisd"));
            }
        }
    }
    let bin = chassisd_bin()?;
    let tiers: Vec<Tier> = args
        .tiers
        .split(',')
        .map(|t| Tier::named(t.trim()).ok_or_else(|| format!("unknown tier {t:?}")))
        .collect::<Result<_, _>>()?;
    if args.runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    fs::create_dir_all(&args.out).map_err(|e| format!("{:?}: {e}", args.out))?;
    let started = Instant::now();
    let progress = |msg: &str| eprintln!("[{:7.1}s] {msg}", started.elapsed().as_secs_f64());
    progress(&format!("chassisd: {}", bin.display()));
    let machine = machine();

    let mut docs: Vec<serde_json::Value> = Vec::new();
    for tier in &tiers {
        progress(&format!("tier {}: {} switches x {} ports: starting OVS/OVN", tier.name, tier.switches, tier.ports));
        let mut sb = Sandbox::builder()
            .infra()
            .cmd_timeout(Duration::from_secs(900))
            .stop_grace(Duration::from_secs(10))
            .keep(if args.keep { Keep::Always } else { Keep::OnFailure })
            .try_start()?;
        // A TCP remote on the SB, so that the controllers' connections carry TCP_INFO counters.
        // It is a Connection row (as `ovn-sbctl set-connection` makes) so that the server's
        // inactivity probe can be turned off, as large deployments do: a controller busy
        // computing for more than the default 5 s would otherwise be disconnected, reconnect,
        // download everything again, and never finish. The controllers' own probes (SB and
        // OpenFlow) are off too; both controllers get the same settings.
        let port = free_port()?;
        let ctl = sb.central_dir().join("ovnsb_db.ctl");
        let ctl = ctl.to_string_lossy().into_owned();
        sb.try_run_central(
            "ovs-appctl",
            ["-t", &ctl, "ovsdb-server/add-remote", "db:OVN_Southbound,SB_Global,connections"],
        )
        .map_err(|e| e.to_string())?;
        sb.try_nbctl(["--wait=sb", "sync"]).map_err(|e| e.to_string())?;
        sb.try_sbctl([
            "set-connection",
            &format!("ptcp:{port}:127.0.0.1"),
            "--",
            "set",
            "Connection",
            ".",
            "inactivity_probe=0",
        ])
        .map_err(|e| e.to_string())?;
        sb.try_vsctl([
            "set",
            "Open_vSwitch",
            ".",
            &format!("external_ids:ovn-remote=\"tcp:127.0.0.1:{port}\""),
            "external_ids:ovn-remote-probe-interval=0",
            "external_ids:ovn-openflow-probe-interval=0",
        ])
        .map_err(|e| e.to_string())?;
        wait_for(Duration::from_secs(30), format!("SB listening on 127.0.0.1:{port}"), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        progress(&format!("tier {}: building the topology", tier.name));
        let facts = topo::build(&sb, tier, &progress)?;
        progress(&format!(
            "tier {}: {} logical flows, {} port bindings, {} datapaths, {} local VIFs (built in {:.1}s)",
            tier.name, facts.logical_flows, facts.port_bindings, facts.datapaths, facts.local_vifs, facts.build_s
        ));
        if std::env::var_os("CHASSISD_BENCH_INSPECT").is_some() {
            let out = sb.try_sbctl(["--bare", "--columns=external_ids", "list", "Logical_Flow"]).unwrap_or_default();
            let mut by: std::collections::BTreeMap<String, usize> = Default::default();
            for l in out.lines().filter(|l| !l.trim().is_empty()) {
                let stage = l.split_whitespace().find(|w| w.starts_with("stage-name=")).unwrap_or("?");
                *by.entry(stage.to_string()).or_default() += 1;
            }
            let mut v: Vec<_> = by.into_iter().collect();
            v.sort_by_key(|x| std::cmp::Reverse(x.1));
            for (k, n) in v {
                eprintln!("{n:8} {k}");
            }
            continue;
        }
        let watch = SbWatch::connect(&sb.sb_socket())?;
        let facts_json = json!({
            "switches": tier.switches, "ports_per_switch": tier.ports, "logical_flows": facts.logical_flows,
            "port_bindings": facts.port_bindings, "datapaths": facts.datapaths, "local_vifs": facts.local_vifs,
            "build_s": facts.build_s,
        });
        let setup = Setup {
            watch: &watch,
            sb_port: port,
            switches: tier.switches,
            changes: args.changes,
            recomputes: args.recomputes,
            pings: args.pings,
            burst: args.burst,
        };
        for r in 1..=args.runs {
            let order = if r % 2 == 1 {
                [Controller::OvnController, Controller::Chassisd]
            } else {
                [Controller::Chassisd, Controller::OvnController]
            };
            for c in order.into_iter().filter(|c| args.only.as_deref().is_none_or(|o| o == c.name())) {
                let tag = format!("{}-{}-run{r}", tier.name, c.name());
                progress(&format!("{tag}: cold start"));
                let out = measure::run(&mut sb, &setup, c, &tag, &progress)?;
                let doc = json!({
                    "tier": tier.name, "run": r, "topology": facts_json, "machine": machine,
                    "sb_remote": format!("tcp:127.0.0.1:{port}"), "result": out.json,
                });
                let path = args.out.join(format!("{tag}.json"));
                fs::write(&path, serde_json::to_string_pretty(&doc).unwrap()).map_err(|e| format!("{path:?}: {e}"))?;
                docs.push(doc);
            }
        }
        drop(watch);
        let report = sb.shutdown();
        if !report.is_clean() {
            progress(&format!("tier {}: WARNING: unclean shutdown: {report:?}", tier.name));
        }
    }

    let command = format!(
        "--tiers {} --runs {} --changes {} --recomputes {} --pings {} --burst {}",
        args.tiers, args.runs, args.changes, args.recomputes, args.pings, args.burst
    );
    write_reports(&docs, &args.out, &command, &progress)
}

/// Reads the run files (`*-run*.json`) in `dirs` (and their subdirectories).
fn load_runs(dirs: &[PathBuf]) -> Result<Vec<serde_json::Value>, String> {
    let mut files = Vec::new();
    let mut todo: Vec<PathBuf> = dirs.to_vec();
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).map_err(|e| format!("{d:?}: {e}"))?.flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "json") && p.to_string_lossy().contains("-run") {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut docs = Vec::new();
    for f in files {
        let text = fs::read_to_string(&f).map_err(|e| format!("{f:?}: {e}"))?;
        let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{f:?}: {e}"))?;
        if doc.get("result").is_some() {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// results.md (also printed), scale.svg, latency.svg and summary.json in `out`, from the runs.
fn write_reports(docs: &[serde_json::Value], out: &Path, command: &str, progress: &dyn Fn(&str)) -> Result<(), String> {
    fs::create_dir_all(out).map_err(|e| format!("{out:?}: {e}"))?;
    let all: Vec<RunFigures> = docs.iter().filter_map(RunFigures::from_json).collect();
    if all.is_empty() {
        return Err("no runs to report".into());
    }
    // Tiers in order of size, described by their topology.
    let mut tiers: Vec<(String, usize, String)> = Vec::new();
    let mut topologies = Vec::new();
    for d in docs {
        let name = d["tier"].as_str().unwrap_or("?").to_string();
        if tiers.iter().any(|t| t.0 == name) {
            continue;
        }
        let t = &d["topology"];
        let desc = format!(
            "{} switches × {} ports, {} port bindings",
            t["switches"], t["ports_per_switch"], t["port_bindings"]
        );
        tiers.push((name, t["logical_flows"].as_u64().unwrap_or(0) as usize, desc));
        topologies.push(json!({"tier": d["tier"], "topology": t}));
    }
    tiers.sort_by_key(|t| t.1);
    let machine = &docs[0]["machine"];
    let mut md = String::from("## chassisd vs ovn-controller 23.03\n\n");
    md.push_str(&format!(
        "Machine: {} CPUs ({}), {} kB RAM, kernel {}; {}; chassisd at git {}. `chassisd-bench {command}`. \
         Both controllers compute and install the complete flow table (compare the OpenFlow flow counts). \
         Times \"to installed\" end when the controller reports the nb_cfg bumped with the change; \
         they include northd's work, which the \"controller's share\" rows leave out. Packet-in latencies \
         are switch timestamps (OFFER in the VIF's tx pcap − DISCOVER in its rx pcap).\n",
        machine["cpus"],
        machine["cpu_model"].as_str().unwrap_or("?"),
        machine["mem_total_kb"].as_str().unwrap_or("?"),
        machine["kernel"].as_str().unwrap_or("?"),
        machine["ovn_controller"].as_str().unwrap_or("?"),
        machine["git_commit"].as_str().unwrap_or("?"),
    ));
    md.push_str(&report::markdown(&all, &tiers));
    println!("{md}");
    let md_path = out.join("results.md");
    fs::write(&md_path, &md).map_err(|e| format!("{md_path:?}: {e}"))?;
    let svg = out.join("scale.svg");
    report::plot(&svg, &all, &tiers)?;
    let lat = out.join("latency.svg");
    report::plot_cdfs(
        &lat,
        "Change → installed: latency CDFs (all changes, all runs)",
        &all,
        &tiers,
        report::CHANGE_DISTS,
    )?;
    let pin = out.join("packet-in.svg");
    report::plot_cdfs(
        &pin,
        "DHCP packet-in latency (switch-measured): CDFs, all runs",
        &all,
        &tiers,
        report::PACKET_IN_DISTS,
    )?;
    let summary = json!({
        "machine": machine,
        "tiers": topologies,
        "runs": all.iter().map(|r| json!({"tier": r.tier, "controller": r.controller, "logical_flows": r.logical_flows, "figures": r.values})).collect::<Vec<_>>(),
    });
    let sp = out.join("summary.json");
    fs::write(&sp, serde_json::to_string_pretty(&summary).unwrap()).map_err(|e| format!("{sp:?}: {e}"))?;
    progress(&format!(
        "done: {}, {}, {}, {}, {}",
        md_path.display(),
        svg.display(),
        lat.display(),
        pin.display(),
        sp.display()
    ));
    Ok(())
}
