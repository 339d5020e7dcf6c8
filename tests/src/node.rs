//! A node: one directory pair with its own OVS_*/OVN_* environment, the commands run in it, and
//! the daemons started in it. The sandbox has a "central" node (NB, SB, northd), one node per
//! hypervisor, and with several hypervisors a "net" node (the switch that connects them).

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cmd::{describe, find_bin, run_with_timeout, search_path, CmdError};
use crate::procs::{self, ProcId};
use crate::wait;

/// The guard's stdin, shared by all nodes of a sandbox: every daemon's identity is written to
/// it as soon as the daemon runs.
pub(crate) type Tracker = Arc<Mutex<Option<ChildStdin>>>;

pub(crate) struct Daemon {
    /// Short name, unique within the node ("ovsdb-server", "ovn-controller", ...).
    pub(crate) name: String,
    pub(crate) log: PathBuf,
    pub(crate) id: ProcId,
}

/// The environment every command of a node gets (after `env_clear`).
pub(crate) fn node_env(ovs_dir: &Path, ovn_dir: &Path) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = vec![("PATH".into(), search_path())];
    for var in ["OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR", "OVS_SYSCONFDIR"] {
        env.push((var.into(), ovs_dir.into()));
    }
    for var in ["OVN_RUNDIR", "OVN_LOGDIR", "OVN_DBDIR", "OVN_SYSCONFDIR"] {
        env.push((var.into(), ovn_dir.into()));
    }
    // Debugging aids for Rust daemons; nothing else leaks in from the test's environment.
    for var in ["HOME", "RUST_LOG", "LLVM_PROFILE_FILE"] {
        if let Some(v) = std::env::var_os(var) {
            env.push((var.into(), v));
        }
    }
    env.push(("RUST_BACKTRACE".into(), std::env::var_os("RUST_BACKTRACE").unwrap_or_else(|| "1".into())));
    env
}

/// A `Command` for `program` (resolved in the harness PATH) with exactly `env`, run in `cwd`.
pub(crate) fn make_command(env: &[(OsString, OsString)], cwd: &Path, program: impl AsRef<OsStr>) -> Command {
    let program = program.as_ref();
    let resolved = program
        .to_str()
        .filter(|p| !p.contains('/'))
        .and_then(find_bin)
        .map(OsString::from)
        .unwrap_or_else(|| program.to_owned());
    let mut cmd = Command::new(resolved);
    cmd.env_clear().envs(env.iter().map(|(k, v)| (k, v))).current_dir(cwd);
    cmd
}

/// The daemon options every OVS/OVN daemon here gets; `name` picks pidfile and log file.
pub(crate) fn daemon_opts(dir: &Path, name: &str) -> Vec<OsString> {
    vec![
        format!("--pidfile={}", dir.join(format!("{name}.pid")).display()).into(),
        format!("--log-file={}", dir.join(format!("{name}.log")).display()).into(),
        "--detach".into(),
        "--no-chdir".into(),
        "-vconsole:off".into(),
    ]
}

pub(crate) struct Node {
    pub(crate) name: String,
    /// The node's own directory: start-up stderr files, VIF pcaps.
    pub(crate) top: PathBuf,
    pub(crate) ovs_dir: PathBuf,
    pub(crate) ovn_dir: PathBuf,
    pub(crate) env: Vec<(OsString, OsString)>,
    pub(crate) daemons: Vec<Daemon>,
    pub(crate) cmd_timeout: Duration,
    tracker: Tracker,
}

impl Node {
    /// Creates `<sandbox>/<name>/{ovs,ovn}` (or a single `<sandbox>/<name>` if `split` is false).
    pub(crate) fn new(
        sandbox: &Path,
        name: &str,
        split: bool,
        cmd_timeout: Duration,
        tracker: Tracker,
    ) -> Result<Node, String> {
        let top = sandbox.join(name);
        let (ovs_dir, ovn_dir) = if split { (top.join("ovs"), top.join("ovn")) } else { (top.clone(), top.clone()) };
        for d in [&top, &ovs_dir, &ovn_dir] {
            fs::create_dir_all(d).map_err(|e| format!("creating {d:?}: {e}"))?;
        }
        // sun_path is 108 bytes; leave room for "/ovn-controller.<7-digit pid>.ctl".
        let longest = ovn_dir.join("ovn-controller.4194304.ctl");
        if longest.as_os_str().len() > 100 {
            return Err(format!("{longest:?} is too long for a Unix socket path"));
        }
        Ok(Node {
            name: name.into(),
            env: node_env(&ovs_dir, &ovn_dir),
            top,
            ovs_dir,
            ovn_dir,
            daemons: Vec::new(),
            cmd_timeout,
            tracker,
        })
    }

    pub(crate) fn command(&self, program: impl AsRef<OsStr>) -> Command {
        make_command(&self.env, &self.top, program)
    }

    pub(crate) fn try_run<I, S>(&self, program: &str, args: I) -> Result<String, CmdError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command(program);
        cmd.args(args);
        let out = run_with_timeout(cmd, self.cmd_timeout)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub(crate) fn start_ovsdb_server(
        &mut self,
        name: &str,
        db: &Path,
        socket: &Path,
        unixctl: Option<&Path>,
    ) -> Result<ProcId, String> {
        let dir = db.parent().unwrap_or(&self.top).to_path_buf();
        let mut args = daemon_opts(&dir, name);
        args.push(format!("--remote=punix:{}", socket.display()).into());
        // As ovn-ctl starts them: further remotes and SSL material come from the database
        // itself (`ovn-sbctl set-connection` / `set-ssl`), so tests can add an ssl: remote.
        let db_opts = match name {
            "ovnsb_db" => Some(("OVN_Southbound", "SB_Global")),
            "ovnnb_db" => Some(("OVN_Northbound", "NB_Global")),
            _ => None,
        };
        if let Some((db_name, global)) = db_opts {
            args.push(format!("--remote=db:{db_name},{global},connections").into());
            for (opt, col) in [("private-key", "private_key"), ("certificate", "certificate"), ("ca-cert", "ca_cert")] {
                args.push(format!("--{opt}=db:{db_name},SSL,{col}").into());
            }
        }
        if let Some(ctl) = unixctl {
            args.push(format!("--unixctl={}", ctl.display()).into());
        }
        args.push(db.into());
        self.start_daemon(name, "ovsdb-server", args, &dir.join(format!("{name}.pid")))
    }

    /// Stops the ovsdb-server `name` (SIGTERM, SIGKILL after `grace`) and starts it again on
    /// the same database file and socket: a database restart as clients see it.
    pub(crate) fn restart_ovsdb_server(
        &mut self,
        name: &str,
        db: &Path,
        socket: &Path,
        unixctl: Option<&Path>,
        grace: Duration,
    ) -> Result<ProcId, String> {
        let old = self.take_daemons(|d| d.name == name);
        if old.is_empty() {
            return Err(format!("no daemon {name} to restart"));
        }
        let report = stop_group(&old, grace);
        if !report.is_clean() {
            return Err(format!("stopping {name}: {report:?}"));
        }
        self.start_ovsdb_server(name, db, socket, unixctl)
    }

    /// Starts a daemon that detaches: waits for the launching process to exit, then takes the
    /// daemon's pid from `pidfile`.
    pub(crate) fn start_daemon(
        &mut self,
        name: &str,
        program: impl AsRef<OsStr>,
        args: Vec<OsString>,
        pidfile: &Path,
    ) -> Result<ProcId, String> {
        let log = pidfile.with_extension("log");
        let _ = fs::remove_file(pidfile);
        // Detached daemons close stdio, so only start-up errors land here; a file (not a pipe)
        // so that a daemon which forgets to close stdout cannot block us.
        let out_path = self.top.join(format!("{name}.stderr"));
        let out = File::create(&out_path).map_err(|e| format!("{out_path:?}: {e}"))?;
        let mut cmd = self.command(program);
        cmd.args(&args).stdin(Stdio::null()).stdout(out.try_clone().map_err(|e| e.to_string())?).stderr(out);
        let desc = describe(&cmd);
        let mut child = cmd.spawn().map_err(|e| format!("`{desc}`: {e}"))?;
        let launcher = ProcId::of(child.id() as i32);
        let status = wait::try_wait_for(self.cmd_timeout, || child.try_wait().ok().flatten());
        let read_out = || fs::read_to_string(&out_path).unwrap_or_default();
        let Some(status) = status else {
            // It never detached. Kill it and anything it forked.
            if let Some(l) = launcher {
                let mut all = l.descendants();
                all.push(l);
                procs::terminate(&all, Duration::from_secs(1));
            }
            let _ = child.wait();
            return Err(format!("`{desc}` did not detach within {:?}\n{}", self.cmd_timeout, read_out()));
        };
        if !status.success() {
            return Err(format!("`{desc}` failed: {status}\n{}", read_out()));
        }
        let id = wait::try_wait_for(self.cmd_timeout.min(Duration::from_secs(5)), || {
            let pid = fs::read_to_string(pidfile).ok()?.trim().parse::<i32>().ok()?;
            ProcId::of(pid).filter(ProcId::is_alive)
        })
        .ok_or_else(|| format!("`{desc}` detached but {pidfile:?} names no live process"))?;
        self.track(name, id, log);
        Ok(id)
    }

    pub(crate) fn track(&mut self, name: &str, id: ProcId, log: PathBuf) {
        if let Ok(mut guard) = self.tracker.lock() {
            if let Some(stdin) = guard.as_mut() {
                let _ = writeln!(stdin, "{}:{}", id.pid, id.start_time());
            }
        }
        self.daemons.push(Daemon { name: name.into(), log, id });
    }

    pub(crate) fn daemon(&self, name: &str) -> Option<ProcId> {
        self.daemons.iter().find(|d| d.name == name).map(|d| d.id)
    }

    /// Daemons and their current descendants, named "<node>/<daemon>" and
    /// "<node>/<daemon>/child".
    pub(crate) fn processes(&self) -> Vec<(String, ProcId)> {
        let mut out = Vec::new();
        for d in &self.daemons {
            out.push((format!("{}/{}", self.name, d.name), d.id));
            for c in d.id.descendants() {
                out.push((format!("{}/{}/child", self.name, d.name), c));
            }
        }
        out
    }

    /// Removes the daemons matching `pred` from the node, returning them (to be stopped).
    pub(crate) fn take_daemons(&mut self, pred: impl Fn(&Daemon) -> bool) -> Vec<(String, Daemon)> {
        let (taken, kept): (Vec<Daemon>, Vec<Daemon>) = std::mem::take(&mut self.daemons).into_iter().partition(pred);
        self.daemons = kept;
        taken.into_iter().map(|d| (format!("{}/{}", self.name, d.name), d)).collect()
    }

    /// Log files and start-up stderr files of this node.
    pub(crate) fn log_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self.daemons.iter().map(|d| d.log.clone()).collect();
        for d in [&self.top, &self.ovs_dir, &self.ovn_dir] {
            if let Ok(rd) = fs::read_dir(d) {
                for e in rd.flatten() {
                    let p = e.path();
                    let ext = p.extension().and_then(OsStr::to_str);
                    if matches!(ext, Some("log") | Some("stderr")) && !files.contains(&p) {
                        files.push(p);
                    }
                }
            }
        }
        files.sort();
        files
    }
}

/// What [`crate::Sandbox::shutdown`] (or a controller stop) did.
#[derive(Debug, Default)]
pub struct ShutdownReport {
    /// Every process that was signalled, by name ("hv1/ovn-controller", "hv1/chassisd/child").
    pub stopped: Vec<(String, ProcId)>,
    /// Those that did not exit within the grace period after SIGTERM and got SIGKILL.
    pub needed_sigkill: Vec<(String, ProcId)>,
    /// Processes carrying this sandbox's OVN_RUNDIR that the sandbox did not know about
    /// (found by scanning /proc after the stop; they were killed). A leak in the controller.
    pub strays: Vec<ProcId>,
    /// Still alive after everything (should be impossible).
    pub survivors: Vec<ProcId>,
    /// Daemons that were already gone when the stop began: they exited or crashed during
    /// the test.
    pub died_early: Vec<(String, ProcId)>,
}

impl ShutdownReport {
    /// Nothing died on its own, nothing needed SIGKILL, nothing leaked, nothing survived.
    pub fn is_clean(&self) -> bool {
        self.died_early.is_empty()
            && self.needed_sigkill.is_empty()
            && self.strays.is_empty()
            && self.survivors.is_empty()
    }

    /// Appends another report.
    pub fn merge(&mut self, other: ShutdownReport) {
        self.stopped.extend(other.stopped);
        self.needed_sigkill.extend(other.needed_sigkill);
        self.strays.extend(other.strays);
        self.survivors.extend(other.survivors);
        self.died_early.extend(other.died_early);
    }
}

/// SIGTERM to the daemons and the descendants they have right now, SIGKILL after `grace`.
/// Descendants are recorded first because once a supervisor is killed its children are
/// re-parented and can no longer be found through it.
pub(crate) fn stop_group(daemons: &[(String, Daemon)], grace: Duration) -> ShutdownReport {
    let died_early: Vec<(String, ProcId)> =
        daemons.iter().filter(|(_, d)| !d.id.is_alive()).map(|(n, d)| (n.clone(), d.id)).collect();
    let mut named: Vec<(String, ProcId)> = Vec::new();
    for (name, d) in daemons {
        named.push((name.clone(), d.id));
        for c in d.id.descendants() {
            named.push((format!("{name}/child"), c));
        }
    }
    // Signal daemons before their descendants so a supervisor gets to stop its own children.
    let tops: Vec<ProcId> = daemons.iter().map(|(_, d)| d.id).collect();
    let started = Instant::now();
    let (mut killed, mut survivors) = procs::terminate(&tops, grace);
    let left = grace.saturating_sub(started.elapsed()).max(Duration::from_millis(500));
    let children: Vec<ProcId> = named.iter().map(|(_, p)| *p).filter(|p| !tops.contains(p)).collect();
    let (k, s) = procs::terminate(&children, left);
    killed.extend(k);
    survivors.extend(s);
    let name_of = |p: &ProcId| named.iter().find(|(_, q)| q == p).map(|(n, _)| n.clone()).unwrap_or_default();
    ShutdownReport {
        needed_sigkill: killed.iter().map(|p| (name_of(p), *p)).collect(),
        survivors,
        stopped: named,
        strays: Vec::new(),
        died_early,
    }
}
