//! A sandbox: a short temp dir with OVN central (NB, SB, northd) and one or more simulated
//! hypervisors, each with its own OVS/OVN run, log, db and sysconf directories, and the daemons
//! a test asked for, started detached exactly as packaging would start them.
//!
//! Layout (all paths short: Unix socket paths are limited to 108 bytes):
//! ```text
//! /tmp/cz.XXXXXX/central/      NB + SB ovsdb-servers, ovn-northd (OVS_* = OVN_* = this dir)
//!               /hv1/          VIF pcaps, *.stderr of daemon start-ups
//!               /hv1/ovs/      OVS_RUNDIR = OVS_LOGDIR = OVS_DBDIR = OVS_SYSCONFDIR
//!               /hv1/ovn/      OVN_RUNDIR = OVN_LOGDIR = OVN_DBDIR = OVN_SYSCONFDIR
//!               /hv2/...       more hypervisors, if asked for
//!               /net/          with several hypervisors: the switch joining their br-phys
//! ```
//! OVS and OVN directories are distinct on purpose: a controller that looks for `db.sock` under
//! OVN_RUNDIR (or its pidfile under OVS_RUNDIR) fails here instead of passing by accident.
//!
//! Several hypervisors are connected the way OVN's own testsuite does it (`net_add`,
//! `ovn_attach`, `OVN_POPULATE_ARP`): each gets a `br-phys` with address 192.168.0.N/24,
//! plugged by a netdev-dummy stream socket into bridge `n1` of an extra ovs-vswitchd, with the
//! tunnel neighbours pre-set. That needs `--enable-dummy=system` (with `override`, tunnel ports
//! are dummies too and never encapsulate); a single hypervisor uses `override`.

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::cmd::{find_schema, CmdError};
use crate::controller::Controller;
use crate::guard::spawn_guard;
use crate::hv::Hv;
use crate::node::{daemon_opts, stop_group, Node, ShutdownReport, Tracker};
use crate::procs::{self, ProcId};
use crate::wait::TIMEOUT;

/// Whether to keep the sandbox directory when the sandbox is dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    Never,
    /// Keep it if the test is panicking (failing).
    OnFailure,
    Always,
}

impl Keep {
    /// `CHASSISD_KEEP_SANDBOX=1` keeps failed sandboxes, `=always` keeps all; default never.
    pub fn from_env() -> Keep {
        match std::env::var("CHASSISD_KEEP_SANDBOX").as_deref() {
            Ok("always") => Keep::Always,
            Ok("") | Ok("0") | Err(_) => Keep::Never,
            Ok(_) => Keep::OnFailure,
        }
    }
}

/// Builder for [`Sandbox`]. Nothing is started unless asked for; `controller()` implies the
/// whole stack.
#[derive(Clone, Debug)]
pub struct Builder {
    hvs: Vec<String>,
    hostname: Option<String>,
    encap_type: String,
    encap_ip: String,
    external_ids: Vec<(String, String)>,
    ovs_db: bool,
    vswitchd: bool,
    ovn_dbs: bool,
    northd: bool,
    br_int: bool,
    controller: Option<Controller>,
    enable_dummy: Option<String>,
    cmd_timeout: Duration,
    stop_grace: Duration,
    keep: Keep,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            hvs: vec!["hv1".into()],
            hostname: None,
            encap_type: "geneve".into(),
            encap_ip: "127.0.0.1".into(),
            external_ids: Vec::new(),
            ovs_db: false,
            vswitchd: false,
            ovn_dbs: false,
            northd: false,
            br_int: true,
            controller: None,
            enable_dummy: None,
            cmd_timeout: TIMEOUT,
            stop_grace: Duration::from_secs(5),
            keep: Keep::from_env(),
        }
    }
}

impl Builder {
    /// The local Open_vSwitch ovsdb-server only (initialised, with the OVN external_ids set).
    pub fn ovs_db(mut self) -> Self {
        self.ovs_db = true;
        self
    }
    /// ovs-vswitchd on the dummy datapath (implies [`Builder::ovs_db`]).
    pub fn vswitchd(mut self) -> Self {
        self.ovs_db = true;
        self.vswitchd = true;
        self
    }
    /// The NB and SB ovsdb-servers only.
    pub fn ovn_dbs(mut self) -> Self {
        self.ovn_dbs = true;
        self
    }
    /// ovn-northd (implies [`Builder::ovn_dbs`]).
    pub fn northd(mut self) -> Self {
        self.ovn_dbs = true;
        self.northd = true;
        self
    }
    /// Everything except a controller: OVS DB, vswitchd, NB, SB, northd.
    pub fn infra(self) -> Self {
        self.vswitchd().northd()
    }
    /// Everything, plus `c` as the chassis controller on every hypervisor.
    pub fn controller(mut self, c: Controller) -> Self {
        self.controller = Some(c);
        self.infra()
    }
    /// Name of the (single) hypervisor's chassis: external_ids:system-id, and hostname unless
    /// set. Default "hv1".
    pub fn chassis(mut self, name: &str) -> Self {
        self.hvs = vec![name.into()];
        self
    }
    /// Several hypervisors, by chassis name, connected by a simulated network (see the module
    /// documentation); their encap IPs are 192.168.0.1, .2, ... in this order.
    pub fn hvs(mut self, names: &[&str]) -> Self {
        assert!(!names.is_empty(), "a sandbox needs at least one hypervisor");
        self.hvs = names.iter().map(|n| n.to_string()).collect();
        self
    }
    /// external_ids:hostname (single hypervisor). Default: the chassis name.
    pub fn hostname(mut self, name: &str) -> Self {
        self.hostname = Some(name.into());
        self
    }
    pub fn encap_type(mut self, t: &str) -> Self {
        self.encap_type = t.into();
        self
    }
    /// ovn-encap-ip of a single hypervisor (default 127.0.0.1; ignored with several).
    pub fn encap_ip(mut self, ip: &str) -> Self {
        self.encap_ip = ip.into();
        self
    }
    /// Another Open_vSwitch external_ids key, set on every hypervisor before any controller
    /// starts.
    pub fn external_id(mut self, key: &str, value: &str) -> Self {
        self.external_ids.push((key.into(), value.into()));
        self
    }
    /// Pre-create br-int (fail-mode secure, in-band off) as OVN's own testsuite does. Default
    /// true; false leaves creating it to the controller.
    pub fn create_br_int(mut self, yes: bool) -> Self {
        self.br_int = yes;
        self
    }
    /// ovs-vswitchd's `--enable-dummy=` mode. Default `override` with one hypervisor,
    /// `system` with several (tunnels need real tunnel vports).
    pub fn enable_dummy(mut self, mode: &str) -> Self {
        self.enable_dummy = Some(mode.into());
        self
    }
    /// Limit for each command the sandbox runs (ctl tools, daemon start-up).
    pub fn cmd_timeout(mut self, t: Duration) -> Self {
        self.cmd_timeout = t;
        self
    }
    /// How long a daemon gets between SIGTERM and SIGKILL.
    pub fn stop_grace(mut self, t: Duration) -> Self {
        self.stop_grace = t;
        self
    }
    /// Overrides `CHASSISD_KEEP_SANDBOX`.
    pub fn keep(mut self, k: Keep) -> Self {
        self.keep = k;
        self
    }

    /// Starts everything asked for; panics with the reason (and log tails) on failure.
    pub fn start(self) -> Sandbox {
        self.try_start().unwrap_or_else(|e| panic!("sandbox start failed: {e}"))
    }

    /// Starts everything asked for. On error whatever was already started is stopped again.
    pub fn try_start(self) -> Result<Sandbox, String> {
        procs::become_subreaper();
        let dir = tempfile::Builder::new()
            .prefix("cz.")
            .tempdir_in("/tmp")
            .map_err(|e| format!("creating sandbox dir: {e}"))?
            .keep();
        let marker = format!("OVN_RUNDIR={}/", dir.display());
        let (guard, tracker) = match spawn_guard(&dir, &marker, self.keep) {
            Some((child, stdin)) => (Some(child), Arc::new(Mutex::new(Some(stdin)))),
            None => (None, Arc::new(Mutex::new(None))),
        };
        let mut sb = Sandbox {
            guard,
            tracker: tracker.clone(),
            central: Node::new(&dir, "central", false, self.cmd_timeout, tracker.clone())?,
            net: None,
            hvs: Vec::new(),
            dir,
            marker,
            stop_grace: self.stop_grace,
            keep: self.keep,
            stopped: false,
            failed: false,
        };
        // On error `sb` is dropped here, which stops what was started (and keeps the directory
        // under Keep::OnFailure).
        self.bring_up(&mut sb).inspect_err(|_| {
            sb.dump_logs();
            sb.failed = true;
        })?;
        Ok(sb)
    }

    fn bring_up(&self, sb: &mut Sandbox) -> Result<(), String> {
        let e = |r: Result<String, CmdError>| r.map(drop).map_err(|e| e.to_string());
        let multi = self.hvs.len() > 1;
        let dummy = self.enable_dummy.clone().unwrap_or_else(|| if multi { "system" } else { "override" }.into());

        // Central: NB, SB, northd. Before the hypervisors, so their controllers find the SB.
        if self.ovn_dbs {
            let central = &mut sb.central;
            let dir = central.ovn_dir.clone();
            for (name, schema) in [("ovnnb_db", "ovn-nb.ovsschema"), ("ovnsb_db", "ovn-sb.ovsschema")] {
                let schema = find_schema("OVN_PKGDATADIR", &["/usr/share/ovn", "/usr/local/share/ovn"], schema)?;
                let db = dir.join(format!("{name}.db"));
                e(central.try_run("ovsdb-tool", [os("create"), db.clone().into(), schema.into()]))?;
                let socket = dir.join(format!("{name}.sock"));
                let ctl = dir.join(format!("{name}.ctl"));
                central.start_ovsdb_server(name, &db, &socket, Some(&ctl))?;
            }
        }
        if self.northd {
            let (nb, sb_sock) = (sb.nb_socket(), sb.sb_socket());
            let central = &mut sb.central;
            let mut args = daemon_opts(&central.ovn_dir, "ovn-northd");
            args.push(format!("--ovnnb-db=unix:{}", nb.display()).into());
            args.push(format!("--ovnsb-db=unix:{}", sb_sock.display()).into());
            let pidfile = central.ovn_dir.join("ovn-northd.pid");
            central.start_daemon("ovn-northd", "ovn-northd", args, &pidfile)?;
        }

        if multi && self.vswitchd {
            let mut net = Node::new(&sb.dir, "net", false, self.cmd_timeout, sb.tracker.clone())?;
            start_ovs(&mut net, &dummy, true)?;
            e(net.try_run("ovs-vsctl", ["add-br", "n1"]))?;
            sb.net = Some(net);
        }

        let sb_socket = sb.sb_socket();
        for (i, name) in self.hvs.iter().enumerate() {
            let node = Node::new(&sb.dir, name, true, self.cmd_timeout, sb.tracker.clone())?;
            let encap_ip = if multi { format!("192.168.0.{}", i + 1) } else { self.encap_ip.clone() };
            // Pushed before configuring, so that what it starts is stopped if configuring fails.
            sb.hvs.push(Hv {
                node,
                central_env: sb.central.env.clone(),
                central_dir: sb.central.top.clone(),
                encap_ip,
                controller: None,
                stop_grace: self.stop_grace,
            });
            if self.ovs_db {
                let Sandbox { hvs, net, .. } = &mut *sb;
                let hv = hvs.last_mut().expect("just pushed");
                self.configure_ovs(hv, net.as_ref(), &sb_socket, &dummy)?;
            }
        }

        if multi && self.vswitchd {
            // OVN_POPULATE_ARP: nothing answers ARP for a dummy br-phys, so every hypervisor
            // is told the others' tunnel endpoint MACs.
            let macs: Vec<String> = sb
                .hvs
                .iter()
                .map(|hv| {
                    hv.try_vsctl(["get", "Interface", "br-phys", "mac_in_use"])
                        .map(|m| m.trim().trim_matches('"').to_string())
                        .map_err(|e| e.to_string())
                })
                .collect::<Result<_, _>>()?;
            for a in &sb.hvs {
                for (b, mac) in sb.hvs.iter().zip(&macs) {
                    if a.chassis() != b.chassis() {
                        e(a.try_appctl(["tnl/neigh/set", "br-phys", b.encap_ip(), mac]))?;
                    }
                }
            }
        }

        if let Some(c) = self.controller {
            for hv in &mut sb.hvs {
                hv.try_start_controller(c)?;
            }
        }
        Ok(())
    }

    /// Open_vSwitch database, external_ids, br-int and (if asked) ovs-vswitchd of one
    /// hypervisor, plus its link to the simulated network when there are several.
    fn configure_ovs(&self, hv: &mut Hv, net: Option<&Node>, sb_socket: &Path, dummy: &str) -> Result<(), String> {
        let e = |r: Result<String, CmdError>| r.map(drop).map_err(|e| e.to_string());
        start_ovs(&mut hv.node, dummy, false)?;
        let chassis = hv.chassis().to_string();
        let hostname = match (&self.hostname, self.hvs.len()) {
            (Some(h), 1) => h.clone(),
            _ => chassis.clone(),
        };
        let mut ids = vec![
            ("system-id".to_string(), chassis.clone()),
            ("ovn-remote".into(), format!("unix:{}", sb_socket.display())),
            ("ovn-encap-type".into(), self.encap_type.clone()),
            ("ovn-encap-ip".into(), hv.encap_ip.clone()),
            ("hostname".into(), hostname),
        ];
        ids.extend(self.external_ids.iter().cloned());
        let mut args: Vec<String> = ["--no-wait", "--", "set", "Open_vSwitch", "."].map(String::from).to_vec();
        args.extend(ids.iter().map(|(k, v)| format!("external_ids:{k}=\"{v}\"")));
        if self.br_int {
            args.extend(
                [
                    "--",
                    "--may-exist",
                    "add-br",
                    "br-int",
                    "--",
                    "set",
                    "bridge",
                    "br-int",
                    "fail-mode=secure",
                    "other-config:disable-in-band=true",
                ]
                .map(String::from),
            );
        }
        e(hv.try_vsctl(&args))?;
        if !self.vswitchd {
            return Ok(());
        }
        let mut vswitchd =
            vec![os(&format!("--enable-dummy={dummy}")), os("--disable-system"), os("--disable-system-route")];
        vswitchd.extend(daemon_opts(&hv.node.ovs_dir, "ovs-vswitchd"));
        vswitchd.push(format!("unix:{}", hv.ovs_db_socket().display()).into());
        let pidfile = hv.node.ovs_dir.join("ovs-vswitchd.pid");
        hv.node.start_daemon("ovs-vswitchd", "ovs-vswitchd", vswitchd, &pidfile)?;

        if let Some(net) = net {
            // net_attach + ovn_attach from OVN's ovn-macros.at.
            let sock = net.top.join(format!("{chassis}.sock"));
            let port = format!("{chassis}-phys");
            e(net.try_run(
                "ovs-vsctl",
                [
                    "add-port".to_string(),
                    "n1".into(),
                    port.clone(),
                    "--".into(),
                    "set".into(),
                    "Interface".into(),
                    port,
                    format!("options:pstream=\"punix:{}\"", sock.display()),
                ],
            ))?;
            e(hv.try_vsctl([
                "add-br".to_string(),
                "br-phys".into(),
                "--".into(),
                "add-port".into(),
                "br-phys".into(),
                "br-phys_n1".into(),
                "--".into(),
                "set".into(),
                "Interface".into(),
                "br-phys_n1".into(),
                format!("options:stream=\"unix:{}\"", sock.display()),
            ]))?;
            let cidr = format!("{}/24", hv.encap_ip);
            e(hv.try_appctl(["netdev-dummy/ip4addr", "br-phys", &cidr]))?;
            e(hv.try_appctl(["ovs/route/add", &cidr, "br-phys"]))?;
        }
        Ok(())
    }
}

fn os(s: &str) -> OsString {
    s.into()
}

/// ovsdb-server for the Open_vSwitch database of `node` (initialised), and if `vswitchd`,
/// ovs-vswitchd too (used for the "net" node; hypervisors start theirs after configuring).
fn start_ovs(node: &mut Node, dummy: &str, vswitchd: bool) -> Result<(), String> {
    let schema = find_schema(
        "OVS_PKGDATADIR",
        &["/usr/share/openvswitch", "/usr/local/share/openvswitch"],
        "vswitch.ovsschema",
    )?;
    let dir = node.ovs_dir.clone();
    let db = dir.join("conf.db");
    let e = |r: Result<String, CmdError>| r.map(drop).map_err(|e| e.to_string());
    e(node.try_run("ovsdb-tool", [os("create"), db.clone().into(), schema.into()]))?;
    node.start_ovsdb_server("ovsdb-server", &db, &dir.join("db.sock"), None)?;
    e(node.try_run("ovs-vsctl", ["--no-wait", "init"]))?;
    if vswitchd {
        let mut args =
            vec![os(&format!("--enable-dummy={dummy}")), os("--disable-system"), os("--disable-system-route")];
        args.extend(daemon_opts(&dir, "ovs-vswitchd"));
        args.push(format!("unix:{}", dir.join("db.sock").display()).into());
        node.start_daemon("ovs-vswitchd", "ovs-vswitchd", args, &dir.join("ovs-vswitchd.pid"))?;
    }
    Ok(())
}

/// A running sandbox. Dropping it stops exactly the processes it started (also when the test
/// panics) and removes its directory unless told to keep it.
///
/// It derefs to its first hypervisor ([`Hv`]), so `sb.vsctl(..)`, `sb.add_vif(..)`,
/// `sb.nbctl(..)` work directly; use [`Sandbox::hv`] for the others.
pub struct Sandbox {
    /// The guard process (see `guard.rs`); its stdin is in `tracker`.
    guard: Option<Child>,
    tracker: Tracker,
    dir: PathBuf,
    /// `OVN_RUNDIR=<dir>/`: every process started here has an env entry with this prefix.
    marker: String,
    central: Node,
    net: Option<Node>,
    hvs: Vec<Hv>,
    stop_grace: Duration,
    keep: Keep,
    stopped: bool,
    /// Start-up failed: treated like a failing test when deciding whether to keep the dir.
    failed: bool,
}

impl Deref for Sandbox {
    type Target = Hv;
    fn deref(&self) -> &Hv {
        &self.hvs[0]
    }
}

impl DerefMut for Sandbox {
    fn deref_mut(&mut self) -> &mut Hv {
        &mut self.hvs[0]
    }
}

impl Sandbox {
    /// A builder with nothing started yet.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The whole stack with the controller chosen by `CHASSISD_CONTROLLER`.
    pub fn full() -> Sandbox {
        Builder::default().controller(Controller::from_env()).start()
    }

    /// The whole stack with controller `c`.
    pub fn with_controller(c: Controller) -> Sandbox {
        Builder::default().controller(c).start()
    }

    /// The sandbox's top directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// Where NB, SB and northd run (their pidfiles, logs, sockets, databases).
    pub fn central_dir(&self) -> &Path {
        &self.central.top
    }
    pub fn nb_socket(&self) -> PathBuf {
        self.central.ovn_dir.join("ovnnb_db.sock")
    }
    pub fn sb_socket(&self) -> PathBuf {
        self.central.ovn_dir.join("ovnsb_db.sock")
    }

    /// Hypervisor `chassis`. Panics if there is none by that name.
    pub fn hv(&self, chassis: &str) -> &Hv {
        self.hvs.iter().find(|h| h.chassis() == chassis).unwrap_or_else(|| panic!("no hypervisor {chassis:?}"))
    }
    pub fn hv_mut(&mut self, chassis: &str) -> &mut Hv {
        self.hvs.iter_mut().find(|h| h.chassis() == chassis).unwrap_or_else(|| panic!("no hypervisor {chassis:?}"))
    }
    /// All hypervisors, in the order they were asked for.
    pub fn hvs(&self) -> &[Hv] {
        &self.hvs
    }
    pub fn hvs_mut(&mut self) -> &mut [Hv] {
        &mut self.hvs
    }

    /// Restarts the Southbound database server on the same file and socket.
    pub fn restart_sb_db(&mut self) {
        let dir = self.central.ovn_dir.clone();
        let grace = self.hvs.first().map_or(Duration::from_secs(5), |h| h.stop_grace);
        self.central
            .restart_ovsdb_server(
                "ovnsb_db",
                &dir.join("ovnsb_db.db"),
                &dir.join("ovnsb_db.sock"),
                Some(&dir.join("ovnsb_db.ctl")),
                grace,
            )
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// A central daemon ("ovnnb_db", "ovnsb_db", "ovn-northd"), else one of the first
    /// hypervisor's ("ovsdb-server", "ovs-vswitchd", "ovn-controller", "chassisd").
    pub fn daemon(&self, name: &str) -> Option<ProcId> {
        self.central.daemon(name).or_else(|| self.hvs[0].daemon(name))
    }

    /// Every process the sandbox runs now: daemons and their descendants (chassisd's children
    /// included), named `<node>/<daemon>`, node being "central", "net" or a chassis name.
    pub fn processes(&self) -> Vec<(String, ProcId)> {
        let mut out = self.central.processes();
        if let Some(net) = &self.net {
            out.extend(net.processes());
        }
        for hv in &self.hvs {
            out.extend(hv.node.processes());
        }
        out
    }

    /// Stops every process the sandbox started: the controllers first (so they can shut down
    /// while their databases are still there), then everything else at once; then kills any
    /// process still carrying this sandbox's OVN_RUNDIR. Idempotent.
    pub fn shutdown(&mut self) -> ShutdownReport {
        let mut report = ShutdownReport::default();
        if self.stopped {
            return report;
        }
        self.stopped = true;
        let mut ctls = Vec::new();
        for hv in &mut self.hvs {
            if let Some(c) = hv.controller.take() {
                ctls.extend(hv.node.take_daemons(|d| d.name == c.name()));
            }
        }
        report.merge(stop_group(&ctls, self.stop_grace));
        let mut rest = self.central.take_daemons(|_| true);
        if let Some(net) = &mut self.net {
            rest.extend(net.take_daemons(|_| true));
        }
        for hv in &mut self.hvs {
            rest.extend(hv.node.take_daemons(|_| true));
        }
        report.merge(stop_group(&rest, self.stop_grace));
        let strays = procs::with_env_prefix(&self.marker);
        if !strays.is_empty() {
            let (_, survivors) = procs::terminate(&strays, Duration::from_secs(1));
            report.survivors.extend(survivors);
            report.strays = strays;
        }
        if let Ok(mut stdin) = self.tracker.lock() {
            if let Some(mut s) = stdin.take() {
                let _ = writeln!(s, "done");
            }
        }
        if let Some(mut child) = self.guard.take() {
            let _ = child.wait();
        }
        report
    }

    /// Every log file of the sandbox (daemon logs and start-up stderr files).
    pub fn log_files(&self) -> Vec<PathBuf> {
        let mut files = self.central.log_files();
        if let Some(net) = &self.net {
            files.extend(net.log_files());
        }
        for hv in &self.hvs {
            files.extend(hv.node.log_files());
        }
        files
    }

    /// Log lines, across all logs, that contain any of `needles` (e.g. `["|ERR|", "|EMER|"]`
    /// for OVS-style logs), prefixed with the file name.
    pub fn grep_logs(&self, needles: &[&str]) -> Vec<String> {
        let mut out = Vec::new();
        for f in self.log_files() {
            let Ok(text) = fs::read_to_string(&f) else {
                continue;
            };
            let name = f.strip_prefix(&self.dir).unwrap_or(&f).display().to_string();
            for l in text.lines().filter(|l| needles.iter().any(|n| l.contains(n))) {
                out.push(format!("{name}: {l}"));
            }
        }
        out
    }

    /// Prints the tail of every daemon log and start-up stderr file, for a failing test.
    pub fn dump_logs(&self) {
        for f in self.log_files() {
            let Ok(text) = fs::read_to_string(&f) else {
                continue;
            };
            if text.trim().is_empty() {
                continue;
            }
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(40)..];
            eprintln!("---- {} (last {} lines) ----", f.display(), tail.len());
            for l in tail {
                eprintln!("{l}");
            }
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let panicking = thread::panicking();
        if panicking {
            self.dump_logs();
        }
        let failing = panicking || self.failed;
        let report = self.shutdown();
        if !report.is_clean() {
            eprintln!("sandbox {}: unclean shutdown: {report:?}", self.dir.display());
        }
        let keep = match self.keep {
            Keep::Always => true,
            Keep::OnFailure => failing,
            Keep::Never => false,
        };
        if keep {
            eprintln!("sandbox kept at {}", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}
