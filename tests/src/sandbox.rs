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
//! With [`Builder::sb_cluster`] the Southbound is a Raft cluster: `central/sb<i>.{db,sock,raft,
//! ctl,pid,log}` per member instead of `central/ovnsb_db.*`.
//!
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

use nix::sys::signal::Signal;

use crate::cmd::{find_schema, CmdError};
use crate::controller::Controller;
use crate::guard::spawn_guard;
use crate::hv::Hv;
use crate::node::{daemon_opts, stop_group, Node, ShutdownReport, Tracker};
use crate::procs::{self, ProcId};
use crate::wait::{self, TIMEOUT};

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
    /// Members of the Southbound Raft cluster; 0: a standalone Southbound database.
    sb_cluster: usize,
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
            sb_cluster: 0,
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
    /// The Southbound database as an `n`-member Raft cluster instead of a standalone server
    /// (implies [`Builder::ovn_dbs`]; the NB stays standalone). Member `i` (0-based) is an
    /// ovsdb-server of its own in the central directory: `sb<i>.db`, client socket
    /// `sb<i>.sock`, Raft socket `sb<i>.raft`, `sb<i>.ctl`, `sb<i>.pid`, `sb<i>.log`; the
    /// daemon is named `sb<i>`. ovn-northd, the hypervisors' `ovn-remote` and `OVN_SB_DB` (so
    /// ovn-sbctl) get all members, see [`Sandbox::sb_remote`]. Start-up waits until every
    /// member has joined and there is a leader.
    pub fn sb_cluster(mut self, n: usize) -> Self {
        assert!(n >= 1, "a cluster needs at least one member");
        self.ovn_dbs = true;
        self.sb_cluster = n;
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
            sb_members: self.sb_cluster,
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
            let mut dbs = vec![("ovnnb_db", "ovn-nb.ovsschema")];
            if self.sb_cluster == 0 {
                dbs.push(("ovnsb_db", "ovn-sb.ovsschema"));
            }
            for (name, schema) in dbs {
                let schema = find_schema("OVN_PKGDATADIR", &["/usr/share/ovn", "/usr/local/share/ovn"], schema)?;
                let db = dir.join(format!("{name}.db"));
                e(central.try_run("ovsdb-tool", [os("create"), db.clone().into(), schema.into()]))?;
                let socket = dir.join(format!("{name}.sock"));
                let ctl = dir.join(format!("{name}.ctl"));
                central.start_ovsdb_server(name, &db, &socket, Some(&ctl))?;
            }
            if self.sb_cluster > 0 {
                sb.start_sb_cluster()?;
            }
        }
        if self.northd {
            sb.start_northd()?;
        }

        if multi && self.vswitchd {
            let mut net = Node::new(&sb.dir, "net", false, self.cmd_timeout, sb.tracker.clone())?;
            start_ovs(&mut net, &dummy, true)?;
            e(net.try_run("ovs-vsctl", ["add-br", "n1"]))?;
            sb.net = Some(net);
        }

        let sb_remote = sb.sb_remote();
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
                self.configure_ovs(hv, net.as_ref(), &sb_remote, &dummy)?;
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
    fn configure_ovs(&self, hv: &mut Hv, net: Option<&Node>, sb_remote: &str, dummy: &str) -> Result<(), String> {
        let e = |r: Result<String, CmdError>| r.map(drop).map_err(|e| e.to_string());
        start_ovs(&mut hv.node, dummy, false)?;
        let chassis = hv.chassis().to_string();
        let hostname = match (&self.hostname, self.hvs.len()) {
            (Some(h), 1) => h.clone(),
            _ => chassis.clone(),
        };
        let mut ids = vec![
            ("system-id".to_string(), chassis.clone()),
            ("ovn-remote".into(), sb_remote.to_string()),
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
    /// Members of the Southbound cluster (0: standalone Southbound).
    sb_members: usize,
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
    /// The standalone Southbound database's socket. With [`Builder::sb_cluster`] there is
    /// none: see [`Sandbox::sb_remote`] and [`Sandbox::sb_member_socket`].
    pub fn sb_socket(&self) -> PathBuf {
        self.central.ovn_dir.join("ovnsb_db.sock")
    }
    /// The Southbound remote as clients are given it: `unix:<sb_socket>`, or with a cluster
    /// every member's `unix:<socket>`, comma separated (ovn-northd's `--ovnsb-db`, the
    /// hypervisors' `external_ids:ovn-remote`, `OVN_SB_DB` for ovn-sbctl).
    pub fn sb_remote(&self) -> String {
        if self.sb_members == 0 {
            return format!("unix:{}", self.sb_socket().display());
        }
        let members: Vec<String> =
            (0..self.sb_members).map(|i| format!("unix:{}", self.sb_member_socket(i).display())).collect();
        members.join(",")
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

    fn start_northd(&mut self) -> Result<ProcId, String> {
        let (nb, sb_remote) = (self.nb_socket(), self.sb_remote());
        let central = &mut self.central;
        let mut args = daemon_opts(&central.ovn_dir, "ovn-northd");
        args.push(format!("--ovnnb-db=unix:{}", nb.display()).into());
        args.push(format!("--ovnsb-db={sb_remote}").into());
        let pidfile = central.ovn_dir.join("ovn-northd.pid");
        central.start_daemon("ovn-northd", "ovn-northd", args, &pidfile)
    }

    /// Restarts ovn-northd (SIGTERM, SIGKILL after the stop grace). For tests that take the
    /// Southbound away for seconds: northd 23.03 connects to the leader only and backs off up
    /// to 8 s per attempt, so after a long outage it can take ten seconds or more to come back
    /// by itself, and `ovn-nbctl --wait=hv` waits for it.
    pub fn restart_northd(&mut self) {
        let old = self.central.take_daemons(|d| d.name == "ovn-northd");
        assert!(!old.is_empty(), "ovn-northd is not running");
        let report = stop_group(&old, self.stop_grace);
        assert!(report.is_clean(), "stopping ovn-northd: {report:?}");
        self.start_northd().unwrap_or_else(|e| panic!("starting ovn-northd: {e}"));
    }

    /// Restarts the Southbound database server on the same file and socket. Standalone only:
    /// with a cluster, use [`Sandbox::stop_sb_member`] and [`Sandbox::start_sb_member`].
    pub fn restart_sb_db(&mut self) {
        assert_eq!(self.sb_members, 0, "restart_sb_db with a Southbound cluster: restart its members one by one");
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

    /// A central daemon ("ovnnb_db", "ovnsb_db" or the cluster's "sb0", "sb1", ...,
    /// "ovn-northd"), else one of the first hypervisor's ("ovsdb-server", "ovs-vswitchd",
    /// "ovn-controller", "chassisd").
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

/// The Southbound database's name in `cluster/status`, `join-cluster` and `_Server`.
const SB_DB: &str = "OVN_Southbound";

/// The Southbound Raft cluster ([`Builder::sb_cluster`]). Members are numbered from 0.
impl Sandbox {
    /// How many members the Southbound cluster has; 0 when the Southbound is standalone.
    pub fn sb_members(&self) -> usize {
        self.sb_members
    }
    fn sb_member_file(&self, i: usize, ext: &str) -> PathBuf {
        assert!(i < self.sb_members, "no Southbound cluster member {i} (there are {})", self.sb_members);
        self.central.ovn_dir.join(format!("sb{i}.{ext}"))
    }
    /// Member `i`'s client socket (`unix:` remote).
    pub fn sb_member_socket(&self, i: usize) -> PathBuf {
        self.sb_member_file(i, "sock")
    }
    /// Member `i`'s control socket, for `ovn-appctl -t`.
    pub fn sb_member_ctl(&self, i: usize) -> PathBuf {
        self.sb_member_file(i, "ctl")
    }
    pub fn sb_member_log(&self, i: usize) -> PathBuf {
        self.sb_member_file(i, "log")
    }

    /// Creates the cluster's database files (member 0 creates it, the others join), starts
    /// every member, points `OVN_SB_DB` of central commands at all of them, and waits until
    /// all have joined and one leads.
    fn start_sb_cluster(&mut self) -> Result<(), String> {
        let e = |r: Result<String, CmdError>| r.map(drop).map_err(|e| e.to_string());
        let schema = find_schema("OVN_PKGDATADIR", &["/usr/share/ovn", "/usr/local/share/ovn"], "ovn-sb.ovsschema")?;
        let raft = |i: usize| format!("unix:{}", self.sb_member_file(i, "raft").display());
        for i in 0..self.sb_members {
            let db = self.sb_member_file(i, "db");
            let args: Vec<OsString> = if i == 0 {
                // 1 s, the default, spelled out: failover times in tests depend on it.
                vec![os("--election-timer=1000"), os("create-cluster"), db.into(), schema.clone().into(), os(&raft(0))]
            } else {
                vec![os("join-cluster"), db.into(), os(SB_DB), os(&raft(i)), os(&raft(0))]
            };
            e(self.central.try_run("ovsdb-tool", args))?;
        }
        for i in 0..self.sb_members {
            self.try_start_sb_member(i)?;
        }
        let remote = self.sb_remote();
        self.central.env.push(("OVN_SB_DB".into(), remote.into()));
        let n = self.sb_members;
        let joined = |i: usize| self.sb_cluster_status(i).is_ok_and(|s| s.contains("\nStatus: cluster member\n"));
        if !wait::try_wait_until(self.central.cmd_timeout, || (0..n).all(joined) && self.sb_leader().is_some()) {
            let status: Vec<String> = (0..n).map(|i| format!("sb{i}: {:?}", self.sb_cluster_status(i))).collect();
            return Err(format!("the Southbound cluster did not form:\n{}", status.join("\n")));
        }
        Ok(())
    }

    fn try_start_sb_member(&mut self, i: usize) -> Result<ProcId, String> {
        let (db, sock, ctl) = (self.sb_member_file(i, "db"), self.sb_member_socket(i), self.sb_member_ctl(i));
        self.central.start_ovsdb_server(&format!("sb{i}"), &db, &sock, Some(&ctl))
    }

    /// Starts member `i` again (after [`Sandbox::stop_sb_member`]) on its database file and
    /// sockets; it catches up with the cluster by itself.
    pub fn start_sb_member(&mut self, i: usize) -> ProcId {
        assert!(!self.sb_member_running(i), "sb{i} is already running");
        self.try_start_sb_member(i).unwrap_or_else(|e| panic!("starting sb{i}: {e}"))
    }

    /// Whether member `i`'s ovsdb-server runs.
    pub fn sb_member_running(&self, i: usize) -> bool {
        self.central.daemon(&format!("sb{i}")).is_some_and(|p| p.is_alive())
    }

    /// Members whose ovsdb-server runs.
    pub fn sb_members_running(&self) -> Vec<usize> {
        (0..self.sb_members).filter(|&i| self.sb_member_running(i)).collect()
    }

    /// Stops member `i` and waits until it is gone: `SIGKILL` kills it outright (a crash: no
    /// goodbye to clients or peers); any other signal is sent first, then `SIGKILL` after the
    /// sandbox's stop grace if it is still there (`SIGTERM`: a clean stop).
    pub fn stop_sb_member(&mut self, i: usize, signal: Signal) {
        let name = format!("sb{i}");
        let taken = self.central.take_daemons(|d| d.name == name);
        assert!(!taken.is_empty(), "{name} is not running");
        let ids: Vec<ProcId> = taken.iter().map(|(_, d)| d.id).collect();
        for p in &ids {
            p.signal(signal);
        }
        let grace = if signal == Signal::SIGKILL { Duration::ZERO } else { self.stop_grace };
        let stubborn = procs::wait_gone(&ids, grace);
        let (_, survivors) = procs::terminate(&stubborn, Duration::ZERO);
        assert!(survivors.is_empty(), "{name} survived SIGKILL: {survivors:?}");
    }

    /// `ovn-appctl -t <member ctl> cluster/status OVN_Southbound` of member `i`.
    pub fn sb_cluster_status(&self, i: usize) -> Result<String, CmdError> {
        let ctl = self.sb_member_ctl(i);
        let args = [os("-t"), ctl.into(), os("cluster/status"), os(SB_DB)];
        self.central.try_run("ovn-appctl", args)
    }

    /// Member `i`'s Raft role as `cluster/status` shows it ("leader", "follower",
    /// "candidate"); None if it does not answer.
    pub fn sb_member_role(&self, i: usize) -> Option<String> {
        let status = self.sb_cluster_status(i).ok()?;
        status.lines().find_map(|l| l.strip_prefix("Role: ")).map(|r| r.trim().to_string())
    }

    /// Whether member `i` serves the database as part of the cluster, as clients see it: the
    /// `connected` column of its `_Server` database (false once it has lost the others and an
    /// election failed). None if it does not answer.
    pub fn sb_member_connected(&self, i: usize) -> Option<bool> {
        let remote = format!("unix:{}", self.sb_member_socket(i).display());
        let select = serde_json::json!(["_Server", {"op": "select", "table": "Database",
            "where": [["name", "==", SB_DB]], "columns": ["connected"]}]);
        let out = self.central.try_run("ovsdb-client", ["transact".into(), remote, select.to_string()]).ok()?;
        let reply: serde_json::Value = serde_json::from_str(&out).ok()?;
        reply[0]["rows"][0]["connected"].as_bool()
    }

    /// The running member that says it is the leader, if any. A leader cut off from the others
    /// keeps saying so until its election timer runs out.
    pub fn sb_leader(&self) -> Option<usize> {
        self.sb_members_running().into_iter().find(|&i| self.sb_member_role(i).as_deref() == Some("leader"))
    }

    /// Waits until some running member leads the cluster, and returns it.
    pub fn wait_sb_leader(&self) -> usize {
        wait::wait_for(TIMEOUT, "a Southbound cluster leader", || self.sb_leader())
    }

    /// The members that controller of hypervisor `chassis` (for chassisd: any of its
    /// processes) has a connection to right now, found by pairing the controller's socket
    /// inodes (`/proc/<pid>/fd`) with the peers of the members' accepted connections
    /// (`ss -x`, iproute2). Normally one; empty while it is between members, if it runs no
    /// controller, or if `ss` is missing.
    pub fn sb_members_used_by(&self, chassis: &str) -> Vec<usize> {
        let hv = self.hv(chassis);
        let Some(top) = hv.controller_pid() else {
            return Vec::new();
        };
        let mut pids = top.descendants();
        pids.push(top);
        let inodes: Vec<String> = pids.iter().flat_map(|p| socket_inodes(p.pid)).collect();
        if inodes.is_empty() {
            return Vec::new();
        }
        let Ok(table) = self.central.try_run("ss", ["-x", "-n"]) else {
            return Vec::new();
        };
        let sockets: Vec<String> =
            (0..self.sb_members).map(|i| self.sb_member_socket(i).display().to_string()).collect();
        let mut used = Vec::new();
        // Netid State Recv-Q Send-Q <local path> <local inode> <peer path or *> <peer inode>
        for f in table.lines().map(|l| l.split_whitespace().collect::<Vec<_>>()) {
            if f.len() < 8 || !inodes.iter().any(|n| n == f[7]) {
                continue;
            }
            if let Some(i) = sockets.iter().position(|s| s == f[4]) {
                if !used.contains(&i) {
                    used.push(i);
                }
            }
        }
        used.sort();
        used
    }
}

/// Inodes of the sockets process `pid` has open (`socket:[N]` links in `/proc/<pid>/fd`).
fn socket_inodes(pid: i32) -> Vec<String> {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| fs::read_link(e.path()).ok())
        .filter_map(|l| {
            let l = l.to_str()?;
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect()
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
