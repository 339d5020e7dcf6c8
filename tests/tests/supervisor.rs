//! The supervisor with real processes and real signals: restarts, backoff, watchdog, crash
//! loops, ordered stops, the control socket under abuse, and systemd notifications.

use std::io::{Read, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use shared::unixctl::client;

fn chassisd_bin() -> PathBuf {
    chassisd_tests::controller::chassisd_bin().unwrap_or_else(|e| panic!("{e}"))
}

/// Argument order as the rest of this file reads it: what, then how long.
fn wait_until(what: &str, deadline: Duration, ok: impl FnMut() -> bool) {
    chassisd_tests::wait::wait_until(deadline, what, ok)
}

fn alive(pid: i32) -> bool {
    // A zombie still has /proc/PID; count it as dead only once reaped, but report state.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

/// A chassisd under test, in its own short temp dir, killed with its children on drop.
struct Daemon {
    dir: tempfile::TempDir,
    pid: i32,
    /// Set when started in the foreground, to read the exit code.
    child: Option<Child>,
    seen_pids: Vec<i32>,
}

#[derive(Default)]
struct Opts {
    env: Vec<(&'static str, String)>,
    detach: bool,
}

impl Daemon {
    fn start(opts: Opts) -> Daemon {
        let dir = tempfile::Builder::new().prefix("cz").tempdir_in("/tmp").unwrap();
        let mut cmd = Command::new(chassisd_bin());
        cmd.arg(format!("unix:{}/db.sock", dir.path().display()))
            .args(["--pidfile", "--log-file", "--no-chdir", "-vconsole:off"])
            .current_dir(dir.path())
            .env("OVN_RUNDIR", dir.path())
            .env("OVS_RUNDIR", dir.path())
            .env("OVN_LOGDIR", dir.path())
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null());
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let child = if opts.detach {
            cmd.arg("--detach");
            let out = cmd.output().unwrap();
            assert!(out.status.success(), "chassisd --detach failed: {}", String::from_utf8_lossy(&out.stderr));
            None
        } else {
            Some(cmd.spawn().unwrap())
        };
        let pidfile = dir.path().join("ovn-controller.pid");
        let mut d = Daemon { dir, pid: 0, child, seen_pids: Vec::new() };
        wait_until("pidfile", Duration::from_secs(5), || {
            std::fs::read_to_string(&pidfile).is_ok_and(|s| s.trim().parse::<i32>().is_ok())
        });
        d.pid = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
        d.seen_pids.push(d.pid);
        d.wait_ready();
        d
    }

    fn ctl(&self) -> PathBuf {
        self.dir.path().join(format!("ovn-controller.{}.ctl", self.pid))
    }

    fn call(&self, method: &str, args: &[&str]) -> Result<String, String> {
        client::call(&self.ctl(), method, args, Duration::from_secs(5)).map_err(|e| format!("transport: {e}"))?
    }

    fn status(&self) -> Value {
        serde_json::from_str(&self.call("supervisor/status", &["--format", "json"]).unwrap()).unwrap()
    }

    fn child_status(&self, name: &str) -> Value {
        self.status()["children"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap().clone()
    }

    fn child_pid(&mut self, name: &str) -> Option<i32> {
        let pid = self.child_status(name)["pid"].as_i64().map(|p| p as i32);
        if let Some(p) = pid {
            if !self.seen_pids.contains(&p) {
                self.seen_pids.push(p);
            }
        }
        pid
    }

    fn wait_ready(&mut self) {
        wait_until("both children ready", Duration::from_secs(10), || {
            self.call("supervisor/status", &["--format", "json"]).is_ok_and(|s| {
                let v: Value = serde_json::from_str(&s).unwrap();
                v["children"].as_array().unwrap().iter().all(|c| c["state"] == "ready")
            })
        });
        for name in ["flowctl", "pinctrl"] {
            self.child_pid(name);
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("ovn-controller.log")).unwrap_or_default()
    }

    fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid)).unwrap().count()
    }

    /// The fd count once the server has closed the connections our own queries left.
    fn settled_fd_count(&self) -> usize {
        let mut last = self.fd_count();
        loop {
            std::thread::sleep(Duration::from_millis(150));
            let now = self.fd_count();
            if now == last {
                return now;
            }
            last = now;
        }
    }

    fn zombies(&self) -> Vec<i32> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
            let after = stat.rsplit_once(')').map(|(_, r)| r.trim().to_string()).unwrap_or_default();
            let fields: Vec<&str> = after.split_whitespace().collect();
            if fields.first() == Some(&"Z") && fields.get(1) == Some(&self.pid.to_string().as_str()) {
                out.push(pid);
            }
        }
        out
    }

    /// Waits for the foreground daemon to exit and returns its code.
    fn wait_exit(&mut self, deadline: Duration) -> i32 {
        let child = self.child.as_mut().expect("foreground daemon");
        let end = Instant::now() + deadline;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < end, "chassisd did not exit within {deadline:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        for pid in &self.seen_pids {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn fast_restarts() -> Vec<(&'static str, String)> {
    vec![("CHASSISD_RESTART_BASE_MS", "10".into()), ("CHASSISD_RESTART_MAX_MS", "40".into())]
}

fn sigkill(pid: i32) {
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
}

fn restart_after_kill(d: &mut Daemon, victim: &str, other: &str) -> Duration {
    let old = d.child_pid(victim).unwrap();
    let other_pid = d.child_pid(other).unwrap();
    sigkill(old);
    let killed_at = Instant::now();
    let mut new = None;
    wait_until("new pid", Duration::from_secs(5), || {
        new = d.child_pid(victim).filter(|p| *p != old);
        new.is_some()
    });
    let took = killed_at.elapsed();
    assert_eq!(d.child_pid(other), Some(other_pid), "{other} must keep its pid");
    let st = d.child_status(victim);
    assert_eq!(st["restarts"], 1);
    assert_eq!(st["last_exit"]["signal"], "SIGKILL", "{st}");
    assert_eq!(st["last_exit"]["watchdog"], false);
    assert!(!alive(old));
    took
}

#[test]
fn kill_9_of_either_child_restarts_it_alone_after_the_backoff() {
    for (victim, other) in [("flowctl", "pinctrl"), ("pinctrl", "flowctl")] {
        let mut d = Daemon::start(Opts { env: vec![("CHASSISD_RESTART_BASE_MS", "400".into())], detach: true });
        let took = restart_after_kill(&mut d, victim, other);
        // 400 ms ± 20% jitter, plus the time to exec and answer.
        assert!(took >= Duration::from_millis(300), "{victim} restarted too early: {took:?}");
        assert!(took < Duration::from_millis(1500), "{victim} restarted too late: {took:?}");
        assert!(d.log().contains(&format!("{victim}: pid")), "log names the death");
    }
}

#[test]
fn a_restart_storm_leaves_no_zombies_no_fd_leak_and_a_responsive_control_socket() {
    let mut env = fast_restarts();
    env.push(("CHASSISD_CRASH_LOOP_DEATHS", "1000".into()));
    let mut d = Daemon::start(Opts { env, detach: true });
    let baseline = d.settled_fd_count();
    let pinctrl = d.child_pid("pinctrl").unwrap();
    let rundir = d.dir.path().to_path_buf();
    let ctl = d.ctl();
    // Meanwhile, the real appctl tools must get answers in under 100 ms each.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let prober = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut worst = Duration::ZERO;
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for (tool, target, cmd) in [
                    ("ovs-appctl", ctl.display().to_string(), "version"),
                    ("ovn-appctl", "ovn-controller".to_string(), "list-commands"),
                    ("ovn-appctl", "ovn-controller".to_string(), "supervisor/status"),
                ] {
                    if chassisd_tests::find_bin(tool).is_none() {
                        continue;
                    }
                    let t = Instant::now();
                    let out =
                        Command::new(tool).args(["-t", &target, cmd]).env("OVN_RUNDIR", &rundir).output().unwrap();
                    worst = worst.max(t.elapsed());
                    assert!(out.status.success(), "{tool} {cmd}: {}", String::from_utf8_lossy(&out.stderr));
                    n += 1;
                }
            }
            (worst, n)
        })
    };
    let started = Instant::now();
    for _ in 0..100 {
        let pid = loop {
            if let Some(p) = d.child_pid("flowctl") {
                break p;
            }
        };
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        wait_until("flowctl respawn", Duration::from_secs(5), || d.child_pid("flowctl").is_some_and(|p| p != pid));
    }
    let storm = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (worst, probes) = prober.join().unwrap();
    assert!(storm < Duration::from_secs(10), "100 kills took {storm:?}");
    assert!(alive(d.pid), "chassisd survived");
    if probes > 0 {
        assert!(worst < Duration::from_millis(100), "slowest appctl answer {worst:?} over {probes}");
    }
    d.wait_ready();
    assert_eq!(d.child_pid("pinctrl"), Some(pinctrl));
    let st = d.child_status("flowctl");
    assert_eq!(st["restarts"], 100);
    assert_eq!(st["deaths_in_window"], 100);
    assert_eq!(d.settled_fd_count(), baseline, "supervisor fd count after the storm");
    assert!(d.zombies().is_empty(), "zombies: {:?}", d.zombies());
}

#[test]
fn a_crash_loop_stops_everything_and_exits_69() {
    let mut env = fast_restarts();
    env.push(("CHASSISD_CRASH_LOOP_DEATHS", "3".into()));
    let mut d = Daemon::start(Opts { env, detach: false });
    let pinctrl = d.child_pid("pinctrl").unwrap();
    for _ in 0..4 {
        let Some(pid) = d.child_pid("flowctl") else { break };
        sigkill(pid);
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_until("respawn", Duration::from_secs(2), || {
                d.call("supervisor/status", &[]).is_err() || d.child_pid("flowctl").is_some_and(|p| p != pid)
            })
        }));
    }
    assert_eq!(d.wait_exit(Duration::from_secs(10)), 69);
    wait_until("pinctrl gone", Duration::from_secs(2), || !alive(pinctrl));
    assert!(d.log().contains("crash loop"));
    assert!(!d.dir.path().join("ovn-controller.pid").exists());
}

#[test]
fn a_stopped_child_is_caught_by_the_watchdog_and_restarted() {
    let env = vec![
        ("CHASSISD_HEARTBEAT_INTERVAL_MS", "100".into()),
        ("CHASSISD_HEARTBEAT_TIMEOUT_MS", "600".into()),
        ("CHASSISD_ABORT_TIMEOUT_MS", "2000".into()),
        ("CHASSISD_RESTART_BASE_MS", "10".into()),
    ];
    let mut d = Daemon::start(Opts { env, detach: true });
    let victim = d.child_pid("pinctrl").unwrap();
    let flowctl = d.child_pid("flowctl").unwrap();
    kill(Pid::from_raw(victim), Signal::SIGSTOP).unwrap();
    let stopped_at = Instant::now();
    wait_until("watchdog restart", Duration::from_secs(6), || d.child_pid("pinctrl").is_some_and(|p| p != victim));
    assert!(stopped_at.elapsed() >= Duration::from_millis(600));
    let st = d.child_status("pinctrl");
    assert_eq!(st["last_exit"]["watchdog"], true, "{st}");
    assert_eq!(st["last_exit"]["signal"], "SIGABRT", "{st}");
    assert_eq!(d.child_pid("flowctl"), Some(flowctl));
    assert!(d.log().contains("sent no heartbeat"));
}

#[test]
fn kill_9_of_chassisd_takes_both_children_within_a_second() {
    let mut d = Daemon::start(Opts { detach: true, ..Opts::default() });
    let kids = [d.child_pid("flowctl").unwrap(), d.child_pid("pinctrl").unwrap()];
    sigkill(d.pid);
    wait_until("children gone", Duration::from_secs(1), || kids.iter().all(|p| !alive(*p)));
}

fn assert_ordered_clean_stop(d: &mut Daemon, trigger: impl FnOnce(&Daemon)) {
    let kids = [d.child_pid("flowctl").unwrap(), d.child_pid("pinctrl").unwrap()];
    trigger(d);
    assert_eq!(d.wait_exit(Duration::from_secs(10)), 0);
    assert!(kids.iter().all(|p| !alive(*p)));
    let log = d.log();
    let pin = log.find("pinctrl stopping").expect("pinctrl logged its stop");
    let flow = log.find("flowctl stopping").expect("flowctl logged its stop");
    assert!(pin < flow, "pinctrl stops before flowctl");
    assert!(!d.dir.path().join("ovn-controller.pid").exists());
    assert!(!d.ctl().exists());
}

#[test]
fn sigterm_stops_pinctrl_then_flowctl_and_exits_0() {
    let mut d = Daemon::start(Opts::default());
    assert_ordered_clean_stop(&mut d, |d| kill(Pid::from_raw(d.pid), Signal::SIGTERM).unwrap());
}

#[test]
fn exit_over_the_control_socket_stops_the_same_way() {
    let mut d = Daemon::start(Opts::default());
    assert_ordered_clean_stop(&mut d, |d| assert_eq!(d.call("exit", &[]), Ok(String::new())));
}

#[test]
fn ovn_appctl_finds_chassisd_as_ovn_controller() {
    let Some(_) = chassisd_tests::find_bin("ovn-appctl") else {
        eprintln!("skipped: ovn-appctl not installed (apt-get install ovn-common)");
        return;
    };
    let d = Daemon::start(Opts { detach: true, ..Opts::default() });
    for cmd in ["version", "list-commands", "supervisor/status", "debug/status", "pinctrl/status"] {
        let out = Command::new("ovn-appctl")
            .args(["-t", "ovn-controller", cmd])
            .env("OVN_RUNDIR", d.dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let out = Command::new("ovn-appctl")
        .args(["-t", "ovn-controller", "version"])
        .env("OVN_RUNDIR", d.dir.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("chassisd "));
}

#[test]
fn forwarded_commands_reach_the_owner_or_fail_fast_while_it_is_down() {
    let mut d = Daemon::start(Opts { env: vec![("CHASSISD_RESTART_BASE_MS", "3000".into())], detach: true });
    assert_eq!(d.call("debug/status", &[]), Ok("running\n".into()));
    assert_eq!(d.call("debug/pause", &[]), Ok(String::new()));
    assert_eq!(d.call("debug/status", &[]), Ok("paused\n".into()));
    assert!(d.call("pinctrl/status", &[]).unwrap().contains("pid: "));
    sigkill(d.child_pid("flowctl").unwrap());
    wait_until("flowctl in backoff", Duration::from_secs(2), || d.child_status("flowctl")["state"] == "backoff");
    let t = Instant::now();
    let err = d.call("debug/status", &[]).unwrap_err();
    assert!(t.elapsed() < Duration::from_millis(100));
    assert!(err.contains("flowctl is not running (backoff, restart in"), "{err}");
    // supervisor/restart cuts the backoff short and is not counted as a crash.
    assert!(d.call("supervisor/restart", &["flowctl"]).unwrap().contains("started"));
    d.wait_ready();
    let before = d.child_pid("pinctrl").unwrap();
    assert!(d.call("supervisor/restart", &["pinctrl"]).unwrap().contains("restarting"));
    wait_until("pinctrl restarted", Duration::from_secs(3), || d.child_pid("pinctrl").is_some_and(|p| p != before));
    assert_eq!(d.child_status("pinctrl")["restarts"], 0);
    assert!(d.call("supervisor/restart", &["nobody"]).is_err());
}

#[test]
fn the_control_socket_survives_bad_input() {
    let d = Daemon::start(Opts { detach: true, ..Opts::default() });
    let send = |bytes: &[u8]| -> String {
        let mut s = UnixStream::connect(d.ctl()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(bytes);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    // Garbage: an error reply, then the connection closes.
    assert!(send(b"}}}not json").contains("\"error\""));
    // An unknown method: OVS's wording.
    assert!(send(br#"{"method":"nope","params":[],"id":1}"#).contains("is not a valid command"));
    // Non-string params and wrong counts.
    assert!(send(br#"{"method":"version","params":[1],"id":1}"#).contains("error"));
    // 10 MB of JSON: refused, not buffered without bound.
    let mut big = b"{\"method\":\"version\",\"params\":[\"".to_vec();
    big.extend(std::iter::repeat_n(b'a', 10 << 20));
    big.extend(b"\"],\"id\":1}");
    let reply = send(&big);
    assert!(reply.is_empty() || reply.contains("error"), "{}", &reply[..reply.len().min(200)]);
    // A half message left open does not block anyone else.
    let mut half = UnixStream::connect(d.ctl()).unwrap();
    half.write_all(br#"{"method":"vers"#).unwrap();
    let t = Instant::now();
    assert!(d.call("version", &[]).unwrap().starts_with("chassisd"));
    assert!(t.elapsed() < Duration::from_millis(100));
    drop(half);
    assert!(alive(d.pid));
    assert!(d.call("version", &[]).is_ok());
}

#[test]
fn detach_starts_without_a_database_and_bad_options_exit_78() {
    // No OVS database at the remote: chassisd still starts and serves (flowctl retries).
    let d = Daemon::start(Opts { detach: true, ..Opts::default() });
    assert!(d.call("version", &[]).is_ok());
    for bad in [&["--bogus"][..], &["not-a-remote"], &["unix:/x", "--pidfile", "-vnosuchmodule:dbg"]] {
        let out = Command::new(chassisd_bin()).args(bad).arg("--detach").output().unwrap();
        assert_eq!(out.status.code(), Some(78), "{bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "one line for {bad:?}: {err}");
    }
}

#[test]
fn log_levels_change_at_run_time_and_reach_the_children() {
    let d = Daemon::start(Opts { detach: true, ..Opts::default() });
    assert!(d.call("vlog/list", &[]).unwrap().contains("unixctl            OFF       INFO       INFO"));
    assert_eq!(d.call("vlog/set", &["unixctl:file:dbg"]), Ok(String::new()));
    assert!(d.call("vlog/list", &[]).unwrap().contains("unixctl            OFF       INFO        DBG"));
    assert!(d.call("vlog/set", &["nosuch:dbg"]).is_err());
    assert_eq!(d.call("vlog/reopen", &[]), Ok(String::new()));
    let line = d.log().lines().next().unwrap().to_string();
    let fields: Vec<&str> = line.split('|').collect();
    assert_eq!(fields.len(), 5, "{line}");
    assert!(fields[0].ends_with('Z') && fields[1].len() == 5 && fields[3] == "INFO", "{line}");
    assert!(d.call("memory/show", &[]).unwrap().contains("flowctl-rss-kb:"));
}

#[test]
fn systemd_gets_ready_status_and_watchdog_and_children_never_see_its_socket() {
    let dir = tempfile::Builder::new().prefix("cn").tempdir_in("/tmp").unwrap();
    let sock_path = dir.path().join("notify");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let env = vec![
        ("NOTIFY_SOCKET", sock_path.display().to_string()),
        ("WATCHDOG_USEC", "200000".to_string()),
        ("CHASSISD_HEARTBEAT_INTERVAL_MS", "50".to_string()),
    ];
    let mut d = Daemon::start(Opts { env, detach: false });
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let end = Instant::now() + Duration::from_secs(5);
    while !(seen.contains("READY=1") && seen.contains("STATUS=") && seen.matches("WATCHDOG=1").count() >= 2) {
        assert!(Instant::now() < end, "notifications so far: {seen}");
        let n = sock.recv(&mut buf).unwrap();
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        seen.push('\n');
    }
    for name in ["flowctl", "pinctrl"] {
        let pid = d.child_pid(name).unwrap();
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        let env = String::from_utf8_lossy(&env);
        assert!(!env.contains("NOTIFY_SOCKET") && !env.contains("WATCHDOG_USEC"), "{name} inherited systemd variables");
    }
}

#[test]
fn sighup_reopens_the_log_file_in_every_process() {
    let d = Daemon::start(Opts { detach: true, ..Opts::default() });
    assert_eq!(d.call("vlog/set", &["file:dbg"]), Ok(String::new()));
    let log = d.dir.path().join("ovn-controller.log");
    let rotated = d.dir.path().join("ovn-controller.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    kill(Pid::from_raw(d.pid), Signal::SIGHUP).unwrap();
    wait_until("a new log file", Duration::from_secs(2), || log.exists());
    // A forwarded command makes the child log (at debug level, which vlog/set enabled there).
    wait_until("pinctrl writes to the new file", Duration::from_secs(2), || {
        let _ = d.call("pinctrl/status", &[]);
        d.log().contains("|pinctrl.child|DBG|control command")
    });
    assert!(alive(d.pid));
}

#[test]
fn a_second_chassisd_refuses_a_live_pidfile() {
    let d = Daemon::start(Opts { detach: true, ..Opts::default() });
    let out = Command::new(chassisd_bin())
        .args([format!("unix:{}/db.sock", d.dir.path().display()).as_str(), "--pidfile", "--detach", "--no-chdir"])
        .env("OVN_RUNDIR", d.dir.path())
        .env("OVN_LOGDIR", d.dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("already running as pid {}", d.pid)));
    assert!(d.call("version", &[]).is_ok());
}

/// Field 19 of /proc/PID/stat: the nice value.
fn nice_of(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name (field 2) may hold spaces: count from after its closing parenthesis.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split_whitespace().nth(16).unwrap().parse().unwrap()
}

#[test]
fn pinctrl_runs_above_flowctls_priority_when_allowed() {
    let mut d = Daemon::start(Opts { env: vec![("CHASSISD_PINCTRL_NICE", "-3".into())], detach: true });
    let (pinctrl, flowctl) = (d.child_pid("pinctrl").unwrap(), d.child_pid("flowctl").unwrap());
    assert_eq!(nice_of(flowctl), nice_of(d.pid));
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        assert_eq!(nice_of(pinctrl), -3);
    } else {
        assert!(d.log().contains("CAP_SYS_NICE"), "unprivileged: the supervisor says why");
    }
}
