//! Proves the harness itself against the real OVS/OVN daemons and the real ovn-controller.
//! Scenario tests for chassisd reuse the same calls with `Controller::Chassisd`.

use std::net::Ipv4Addr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chassisd_tests::flows::{diff_lines, mask_ids, ALLOCATED_IDS};
use chassisd_tests::packet::{arp_reply, arp_request, mac, to_hex};
use chassisd_tests::procs::become_subreaper;
use chassisd_tests::{require_ovn, Controller, Keep, ProcId, Sandbox};

/// Every process is gone: not alive, and (since the test process is their subreaper) reaped,
/// so /proc/<pid> no longer shows it at all.
fn assert_all_gone(procs: &[(String, ProcId)]) {
    let strict = become_subreaper();
    for (name, p) in procs {
        assert!(!p.is_alive(), "{name} (pid {}) still running", p.pid);
        if strict {
            assert!(!p.exists(), "{name} (pid {}) not reaped", p.pid);
        }
    }
}

/// What a test saw inside a sandbox that it has since dropped: its processes and directory.
type Seen = Mutex<Option<(Vec<(String, ProcId)>, PathBuf)>>;

fn names(procs: &[(String, ProcId)]) -> Vec<&str> {
    let mut v: Vec<&str> = procs.iter().map(|(n, _)| n.as_str()).collect();
    v.sort();
    v
}

#[test]
fn empty_sandbox_has_dirs_and_no_processes() {
    let sb = Sandbox::builder().start();
    let dir = sb.dir().to_path_buf();
    assert!(sb.ovs_dir().is_dir() && sb.ovn_dir().is_dir());
    assert_ne!(sb.ovs_dir(), sb.ovn_dir());
    assert!(sb.processes().is_empty());
    // Socket paths must fit in sun_path (108 bytes) with room for a long pid.
    assert!(sb.ovn_dir().join("ovn-controller.4194304.ctl").as_os_str().len() < 100);
    let env = sb.run("env", [] as [&str; 0]);
    assert!(env.contains(&format!("OVN_RUNDIR={}", sb.ovn_dir().display())));
    assert!(env.contains(&format!("OVS_DBDIR={}", sb.ovs_dir().display())));
    drop(sb);
    assert!(!dir.exists(), "sandbox dir not removed");
}

#[test]
fn command_timeout_kills_the_command() {
    let sb = Sandbox::builder().cmd_timeout(Duration::from_millis(300)).start();
    let t = Instant::now();
    let err = sb.try_run("sleep", ["10"]).unwrap_err();
    assert!(err.timed_out, "{err}");
    assert!(t.elapsed() < Duration::from_secs(5));
    let err = sb.try_run("false", [] as [&str; 0]).unwrap_err();
    assert!(!err.timed_out && err.status.is_some(), "{err}");
}

#[test]
fn ovs_db_only() {
    require_ovn!();
    let mut sb = Sandbox::builder().ovs_db().chassis("hv7").start();
    assert_eq!(names(&sb.processes()), ["hv7/ovsdb-server"]);
    let get = |k: &str| {
        sb.vsctl(["--no-wait", "get", "Open_vSwitch", ".", &format!("external_ids:{k}")])
            .trim()
            .trim_matches('"')
            .to_string()
    };
    assert_eq!(get("system-id"), "hv7");
    assert_eq!(get("hostname"), "hv7");
    assert_eq!(get("ovn-encap-type"), "geneve");
    assert_eq!(get("ovn-encap-ip"), "127.0.0.1");
    assert_eq!(get("ovn-remote"), format!("unix:{}", sb.sb_socket().display()));
    assert_eq!(sb.vsctl(["--no-wait", "get", "Bridge", "br-int", "fail_mode"]).trim(), "secure");
    let procs = sb.processes();
    let report = sb.shutdown();
    assert!(report.is_clean(), "{report:?}");
    assert_all_gone(&procs);
}

#[test]
fn parallel_sandboxes_are_independent() {
    require_ovn!();
    let a = Sandbox::builder().ovs_db().ovn_dbs().chassis("a").start();
    let b = Sandbox::builder().ovs_db().ovn_dbs().chassis("b").start();
    assert_ne!(a.dir(), b.dir());
    a.nbctl(["ls-add", "only-in-a"]);
    assert!(a.nbctl(["ls-list"]).contains("only-in-a"));
    assert!(!b.nbctl(["ls-list"]).contains("only-in-a"));
    let id = |s: &Sandbox| s.vsctl(["--no-wait", "get", "Open_vSwitch", ".", "external_ids:system-id"]);
    assert_eq!(id(&a).trim(), "a");
    assert_eq!(id(&b).trim(), "b");
}

/// The acceptance test of the harness: the whole stack with the real ovn-controller, a
/// logical switch with two VIFs, and an ARP request flooded from one VIF to the other.
#[test]
fn real_ovn_controller_switches_arp() {
    require_ovn!();
    let t0 = Instant::now();
    let mut sb = Sandbox::with_controller(Controller::OvnController);
    let startup = t0.elapsed();
    assert_eq!(
        names(&sb.processes()),
        [
            "central/ovn-northd",
            "central/ovnnb_db",
            "central/ovnsb_db",
            "hv1/ovn-controller",
            "hv1/ovs-vswitchd",
            "hv1/ovsdb-server",
        ]
    );

    sb.wait_chassis_registered();
    assert_eq!(sb.sbctl(["--bare", "--columns=name", "list", "Chassis"]).trim(), "hv1");
    assert_eq!(sb.sbctl(["--bare", "--columns=type", "list", "Encap"]).trim(), "geneve");
    // The control socket is where ovn-appctl looks for it.
    assert!(sb.ovn_appctl(["list-commands"]).contains("recompute"));

    let (mac1, ip1) = ("00:00:00:00:00:01", Ipv4Addr::new(10, 0, 0, 1));
    let (mac2, ip2) = ("00:00:00:00:00:02", Ipv4Addr::new(10, 0, 0, 2));
    sb.nbctl(["ls-add", "sw0"]);
    sb.nbctl(["lsp-add", "sw0", "lp1", "--", "lsp-set-addresses", "lp1", &format!("{mac1} {ip1}")]);
    sb.nbctl(["lsp-add", "sw0", "lp2", "--", "lsp-set-addresses", "lp2", &format!("{mac2} {ip2}")]);
    sb.add_vif("vif1", "lp1");
    sb.add_vif("vif2", "lp2");
    sb.wait_port_bound("lp1");
    sb.wait_port_bound("lp2");
    sb.wait_port_up("lp1");
    sb.wait_port_up("lp2");
    sb.ovn_nbctl_wait_hv_sync();

    // Who has 10.0.0.99 (nobody): flooded to the other port unchanged.
    let req = arp_request(mac(mac1), ip1, Ipv4Addr::new(10, 0, 0, 99));
    sb.inject("vif1", &to_hex(&req));
    sb.wait_tx_packet("vif2", &req);
    assert!(sb.rx_packets("vif1").iter().any(|r| r.data == req));

    // Who has 10.0.0.2: OVN's ARP responder answers on behalf of lp2.
    let req = arp_request(mac(mac1), ip1, ip2);
    sb.inject("vif1", &to_hex(&req));
    sb.wait_tx_packet("vif1", &arp_reply(mac(mac2), ip2, mac(mac1), ip1));

    let errors = sb.grep_logs(&["|ERR|", "|EMER|"]);
    assert!(errors.is_empty(), "{errors:#?}");

    let flows = sb.dump_flows("br-int");
    assert!(flows.len() > 50, "{flows:#?}");
    assert!(flows.iter().all(|f| !f.contains("n_packets=") && !f.contains("duration=")));
    assert!(flows.iter().any(|f| f.contains("table=8,")), "no logical ingress table");

    let procs = sb.processes();
    let report = sb.shutdown();
    assert!(report.is_clean(), "{report:?}");
    assert_all_gone(&procs);
    eprintln!("sandbox start-up took {startup:?}, whole test {:?}", t0.elapsed());
}

#[test]
fn controller_can_be_stopped_and_restarted() {
    require_ovn!();
    let mut sb = Sandbox::with_controller(Controller::OvnController);
    sb.nbctl(["ls-add", "sw0", "--", "lsp-add", "sw0", "lp1"]);
    sb.nbctl(["lsp-add", "sw0", "lp2", "--", "lsp-set-addresses", "lp2", "unknown"]);
    sb.nbctl(["acl-add", "sw0", "to-lport", "1000", "tcp.dst == {80, 443}", "allow"]);
    sb.add_vif("vif1", "lp1");
    sb.wait_port_up("lp1");
    sb.ovn_nbctl_wait_hv_sync();
    let masked =
        |sb: &Sandbox| -> Vec<String> { sb.dump_flows("br-int").iter().map(|f| mask_ids(f, &ALLOCATED_IDS)).collect() };
    let before = masked(&sb);

    let first = sb.controller_pid().unwrap();
    let report = sb.stop_controller();
    assert!(report.is_clean(), "{report:?}");
    assert!(!first.is_alive());
    assert_eq!(sb.controller(), None);
    assert!(sb.daemon("ovs-vswitchd").unwrap().is_alive());
    // Empty the table so that what is there afterwards is the new controller's work.
    sb.ofctl(["del-flows", "br-int"]);

    let second = sb.start_controller(Controller::OvnController);
    assert_ne!(first, second);
    sb.ovn_nbctl_wait_hv_sync();
    // Same databases, same controller: the same table, once allocated ids are masked. This is
    // the comparison differential tests make between ovn-controller and chassisd.
    let same = chassisd_tests::try_wait_until(Duration::from_secs(10), || diff_lines(&before, &masked(&sb)).is_none());
    if !same {
        panic!("{}", diff_lines(&before, &masked(&sb)).unwrap_or_default());
    }
}

/// The ways a controller under development fails to start give errors that say what
/// happened, quickly, and leave nothing behind.
#[test]
fn daemon_start_failures_are_explained() {
    let mut sb = Sandbox::builder().cmd_timeout(Duration::from_millis(500)).start();
    let pidfile = sb.ovn_dir().join("fake.pid");
    let sh = |script: &str| vec![std::ffi::OsString::from("-c"), script.into()];

    let err = sb.start_daemon("fake", "sh", sh("echo bad option >&2; exit 3"), &pidfile).unwrap_err();
    assert!(err.contains("exit status: 3") && err.contains("bad option"), "{err}");

    let t = Instant::now();
    let err = sb.start_daemon("fake", "sh", sh("exec sleep 30"), &pidfile).unwrap_err();
    assert!(err.contains("did not detach"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(5));

    let err = sb.start_daemon("fake", "true", vec![], &pidfile).unwrap_err();
    assert!(err.contains("names no live process"), "{err}");

    // A detaching shell that writes its pidfile is tracked and stopped like a daemon.
    let script = format!("sleep 30 & echo $! > {}", pidfile.display());
    let id = sb.start_daemon("fake", "sh", sh(&script), &pidfile).unwrap();
    assert!(id.is_alive());
    let report = sb.shutdown();
    assert!(report.is_clean(), "{report:?}");
    assert!(!id.is_alive());
}

/// A daemon that dies during the test is reported, so a crashing controller fails the test.
#[test]
fn crashed_daemon_is_reported() {
    require_ovn!();
    let mut sb = Sandbox::with_controller(Controller::OvnController);
    sb.wait_chassis_registered();
    let ctl = sb.controller_pid().unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(ctl.pid), nix::sys::signal::SIGKILL).unwrap();
    chassisd_tests::wait_until(Duration::from_secs(5), "controller to die", || !ctl.is_alive());
    let report = sb.shutdown();
    assert!(!report.is_clean());
    assert_eq!(report.died_early, [("hv1/ovn-controller".to_string(), ctl)]);
}

/// A process a test started itself in the foreground is stopped with the sandbox once
/// tracked; one it forgot to track is found by its environment and killed as a stray.
#[test]
#[allow(clippy::zombie_processes)] // the sandbox reaps them: that is what is tested
fn tracked_and_stray_processes_are_stopped() {
    require_ovn!();
    let mut sb = Sandbox::builder().infra().start();
    let args: Vec<_> = sb.controller_args().into_iter().filter(|a| a != "--detach").collect();
    let fg = sb
        .command("ovn-controller")
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let fg = ProcId::of(fg.id() as i32).unwrap();
    sb.track("fg-controller", fg);
    sb.wait_chassis_registered();
    let stray = sb.command("sleep").arg("60").spawn().unwrap();
    let stray = ProcId::of(stray.id() as i32).unwrap();

    let report = sb.shutdown();
    assert!(report.stopped.iter().any(|(n, p)| n == "hv1/fg-controller" && *p == fg));
    assert_eq!(report.strays, [stray]);
    assert!(report.needed_sigkill.is_empty() && report.survivors.is_empty(), "{report:?}");
    assert_all_gone(&[("fg".into(), fg), ("stray".into(), stray)]);
}

/// A panicking test still stops everything (Drop) and removes the directory.
#[test]
fn drop_on_panic_stops_everything() {
    require_ovn!();
    let seen: Seen = Mutex::new(None);
    let result = catch_unwind(AssertUnwindSafe(|| {
        let sb = Sandbox::builder().controller(Controller::OvnController).keep(Keep::Never).start();
        sb.wait_chassis_registered();
        *seen.lock().unwrap() = Some((sb.processes(), sb.dir().to_path_buf()));
        panic!("deliberate failure inside a sandbox");
    }));
    assert!(result.is_err());
    let (procs, dir) = seen.into_inner().unwrap().unwrap();
    assert_eq!(procs.len(), 6);
    assert_all_gone(&procs);
    assert!(!dir.exists());
}

/// With Keep::OnFailure the directory (logs, databases, pcaps) survives a failing test.
#[test]
fn keep_on_failure_keeps_the_directory() {
    require_ovn!();
    let seen: Seen = Mutex::new(None);
    let result = catch_unwind(AssertUnwindSafe(|| {
        let sb = Sandbox::builder().ovs_db().keep(Keep::OnFailure).start();
        *seen.lock().unwrap() = Some((sb.processes(), sb.dir().to_path_buf()));
        panic!("deliberate failure");
    }));
    assert!(result.is_err());
    let (procs, dir) = seen.into_inner().unwrap().unwrap();
    assert_all_gone(&procs);
    assert!(dir.join("hv1/ovs/conf.db").is_file());
    assert!(dir.join("hv1/ovs/ovsdb-server.log").is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Not a test on its own: run by `guard_cleans_up_after_a_killed_test_process` in a child
/// process, which it then SIGKILLs so that no Drop runs.
#[test]
#[ignore = "helper, run by guard_cleans_up_after_a_killed_test_process"]
fn guard_helper() {
    let Some(out) = std::env::var_os("CHASSISD_GUARD_HELPER_OUT") else {
        return;
    };
    let sb = Sandbox::builder().ovs_db().ovn_dbs().keep(Keep::Never).start();
    let mut text = format!("{}\n", sb.dir().display());
    for (_, p) in sb.processes() {
        text.push_str(&format!("{} {}\n", p.pid, p.start_time()));
    }
    std::fs::write(PathBuf::from(&out).with_extension("tmp"), text).unwrap();
    std::fs::rename(PathBuf::from(&out).with_extension("tmp"), &out).unwrap();
    std::thread::sleep(Duration::from_secs(60));
}

/// When the test process dies without running Drop (SIGKILL, a nextest timeout), the guard
/// stops the sandbox's daemons and removes its directory.
#[test]
fn guard_cleans_up_after_a_killed_test_process() {
    require_ovn!();
    become_subreaper(); // orphaned daemons come back to us, so we can reap and check them
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("helper-out");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["guard_helper", "--exact", "--ignored", "--nocapture"])
        .env("CHASSISD_GUARD_HELPER_OUT", &out)
        .env_remove("CHASSISD_KEEP_SANDBOX")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let text =
        chassisd_tests::wait_for(chassisd_tests::TIMEOUT, "helper sandbox", || std::fs::read_to_string(&out).ok());
    child.kill().unwrap();
    child.wait().unwrap();
    let mut lines = text.lines();
    let dir = PathBuf::from(lines.next().unwrap());
    let procs: Vec<(String, ProcId)> = lines
        .map(|l| {
            let (pid, start) = l.split_once(' ').unwrap();
            let id = ProcId::from_parts(pid.parse().unwrap(), start.parse().unwrap());
            (format!("helper pid {pid}"), id)
        })
        .collect();
    assert_eq!(procs.len(), 3);
    chassisd_tests::wait_until(Duration::from_secs(15), "guard to clean up", || {
        procs.iter().all(|(_, p)| !p.is_alive()) && !dir.exists()
    });
    assert_all_gone(&procs);
}

/// Two hypervisors joined by the simulated network: a broadcast from a VIF on hv1 reaches the
/// VIF on hv2 through the Geneve tunnel.
#[test]
fn two_hypervisors_tunnel_arp() {
    require_ovn!();
    let mut sb = Sandbox::builder().hvs(&["hv1", "hv2"]).controller(Controller::OvnController).start();
    assert_eq!(sb.processes().len(), 3 + 2 + 2 * 3, "{:?}", names(&sb.processes()));
    for hv in sb.hvs() {
        hv.wait_chassis_registered();
    }
    let ip_of = |c: &str| {
        sb.sbctl(["--bare", "--columns=ip", "find", "Encap", &format!("chassis_name={c}")]).trim().to_string()
    };
    assert_eq!(ip_of("hv1"), "192.168.0.1");
    assert_eq!(ip_of("hv2"), "192.168.0.2");

    let (mac1, ip1) = ("00:00:00:00:00:01", Ipv4Addr::new(10, 0, 0, 1));
    sb.nbctl(["ls-add", "sw0"]);
    sb.nbctl(["lsp-add", "sw0", "lp1", "--", "lsp-set-addresses", "lp1", &format!("{mac1} {ip1}")]);
    sb.nbctl(["lsp-add", "sw0", "lp2", "--", "lsp-set-addresses", "lp2", "00:00:00:00:00:02 10.0.0.2"]);
    sb.hv("hv1").add_vif("vif1", "lp1");
    sb.hv("hv2").add_vif("vif2", "lp2");
    sb.hv("hv1").wait_port_up("lp1");
    sb.hv("hv2").wait_port_bound("lp2");
    sb.hv("hv2").wait_port_up("lp2");
    sb.ovn_nbctl_wait_hv_sync();
    // Each controller made a tunnel to the other and reports through its own control socket.
    assert!(sb.hv("hv1").vsctl(["list-ports", "br-int"]).contains("ovn-hv2-0"));
    assert!(sb.hv("hv2").vsctl(["list-ports", "br-int"]).contains("ovn-hv1-0"));
    assert!(sb.hv("hv2").ovn_appctl(["list-commands"]).contains("recompute"));

    let req = arp_request(mac(mac1), ip1, Ipv4Addr::new(10, 0, 0, 99));
    sb.hv("hv1").inject("vif1", &to_hex(&req));
    sb.hv("hv2").wait_tx_packet("vif2", &req);

    let procs = sb.processes();
    let report = sb.shutdown();
    assert!(report.is_clean(), "{report:?}");
    assert_all_gone(&procs);
}
