//! A sandbox: a short temp dir with its own OVS/OVN run, log, db and sysconf directories, and the
//! daemons a test asked for, started detached exactly as packaging would start them.
//!
//! Layout (all paths short: Unix socket paths are limited to 108 bytes):
//! ```text
//! /tmp/cz.XXXXXX/          pcap files of the VIFs, *.stderr of daemon start-ups
//!               ovs/       OVS_RUNDIR = OVS_LOGDIR = OVS_DBDIR = OVS_SYSCONFDIR
//!               ovn/       OVN_RUNDIR = OVN_LOGDIR = OVN_DBDIR = OVN_SYSCONFDIR
//! ```
//! OVS and OVN directories are distinct on purpose: a controller that looks for `db.sock` under
//! OVN_RUNDIR (or its pidfile under OVS_RUNDIR) fails here instead of passing by accident.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::cmd::{describe, find_bin, find_schema, run_with_timeout, search_path, CmdError};
use crate::controller::Controller;
use crate::flows::{reply_lines, strip_flow_stats};
use crate::guard::spawn_guard;
use crate::pcap::{self, PcapRecord};
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
    chassis: String,
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
    cmd_timeout: Duration,
    stop_grace: Duration,
    keep: Keep,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            chassis: "hv1".into(),
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
    /// Everything, plus `c` as the chassis controller.
    pub fn controller(mut self, c: Controller) -> Self {
        self.controller = Some(c);
        self.infra()
    }
    /// Chassis name (external_ids:system-id, and hostname unless set). Default "hv1".
    pub fn chassis(mut self, name: &str) -> Self {
        self.chassis = name.into();
        self
    }
    pub fn hostname(mut self, name: &str) -> Self {
        self.hostname = Some(name.into());
        self
    }
    pub fn encap_type(mut self, t: &str) -> Self {
        self.encap_type = t.into();
        self
    }
    pub fn encap_ip(mut self, ip: &str) -> Self {
        self.encap_ip = ip.into();
        self
    }
    /// Another Open_vSwitch external_ids key, set before any controller starts.
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
        self.try_start()
            .unwrap_or_else(|e| panic!("sandbox start failed: {e}"))
    }

    /// Starts everything asked for. On error whatever was already started is stopped again.
    pub fn try_start(self) -> Result<Sandbox, String> {
        procs::become_subreaper();
        let dir = tempfile::Builder::new()
            .prefix("cz.")
            .tempdir_in("/tmp")
            .map_err(|e| format!("creating sandbox dir: {e}"))?
            .keep();
        let ovs_dir = dir.join("ovs");
        let ovn_dir = dir.join("ovn");
        for d in [&ovs_dir, &ovn_dir] {
            fs::create_dir(d).map_err(|e| format!("creating {d:?}: {e}"))?;
        }
        let mut env: Vec<(OsString, OsString)> = vec![("PATH".into(), search_path())];
        for var in ["OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR", "OVS_SYSCONFDIR"] {
            env.push((var.into(), ovs_dir.clone().into()));
        }
        for var in ["OVN_RUNDIR", "OVN_LOGDIR", "OVN_DBDIR", "OVN_SYSCONFDIR"] {
            env.push((var.into(), ovn_dir.clone().into()));
        }
        // Debugging aids for Rust daemons; nothing else leaks in from the test's environment.
        for var in ["HOME", "RUST_LOG", "LLVM_PROFILE_FILE"] {
            if let Some(v) = std::env::var_os(var) {
                env.push((var.into(), v));
            }
        }
        env.push((
            "RUST_BACKTRACE".into(),
            std::env::var_os("RUST_BACKTRACE").unwrap_or_else(|| "1".into()),
        ));

        let marker = format!("OVN_RUNDIR={}", ovn_dir.display());
        let guard = spawn_guard(&dir, &marker, self.keep);
        let mut sb = Sandbox {
            guard,
            dir,
            ovs_dir,
            ovn_dir,
            env,
            daemons: Vec::new(),
            controller: None,
            chassis: self.chassis.clone(),
            cmd_timeout: self.cmd_timeout,
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
        let ovs = sb.ovs_dir.clone();
        let ovn = sb.ovn_dir.clone();
        let e = |r: Result<String, CmdError>| r.map(drop).map_err(|e| e.to_string());
        if self.ovs_db {
            let schema = find_schema(
                "OVS_PKGDATADIR",
                &["/usr/share/openvswitch", "/usr/local/share/openvswitch"],
                "vswitch.ovsschema",
            )?;
            let db = ovs.join("conf.db");
            e(sb.try_run(
                "ovsdb-tool",
                [os("create"), db.clone().into(), schema.into()],
            ))?;
            sb.start_ovsdb_server("ovsdb-server", &ovs, &db, None)?;
            e(sb.try_vsctl(["--no-wait", "init"]))?;
            let hostname = self.hostname.as_deref().unwrap_or(&self.chassis);
            let mut ids = vec![
                ("system-id".to_string(), self.chassis.clone()),
                (
                    "ovn-remote".into(),
                    format!("unix:{}", sb.sb_socket().display()),
                ),
                ("ovn-encap-type".into(), self.encap_type.clone()),
                ("ovn-encap-ip".into(), self.encap_ip.clone()),
                ("hostname".into(), hostname.into()),
            ];
            ids.extend(self.external_ids.iter().cloned());
            let mut args: Vec<String> = vec!["--no-wait".into(), "--".into(), "set".into()];
            args.extend(["Open_vSwitch".into(), ".".into()]);
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
            e(sb.try_vsctl(&args))?;
        }
        if self.vswitchd {
            let mut args = vec![
                os("--enable-dummy=override"),
                os("--disable-system"),
                os("--disable-system-route"),
            ];
            args.extend(daemon_opts(&ovs, "ovs-vswitchd"));
            args.push(format!("unix:{}", sb.ovs_db_socket().display()).into());
            sb.start_daemon("ovs-vswitchd", "ovs-vswitchd", args, &ovs)?;
        }
        if self.ovn_dbs {
            for (name, schema) in [
                ("ovnnb_db", "ovn-nb.ovsschema"),
                ("ovnsb_db", "ovn-sb.ovsschema"),
            ] {
                let schema = find_schema(
                    "OVN_PKGDATADIR",
                    &["/usr/share/ovn", "/usr/local/share/ovn"],
                    schema,
                )?;
                let db = ovn.join(format!("{name}.db"));
                e(sb.try_run(
                    "ovsdb-tool",
                    [os("create"), db.clone().into(), schema.into()],
                ))?;
                sb.start_ovsdb_server(name, &ovn, &db, Some(&ovn.join(format!("{name}.ctl"))))?;
            }
        }
        if self.northd {
            let mut args = daemon_opts(&ovn, "ovn-northd");
            args.push(format!("--ovnnb-db=unix:{}", sb.nb_socket().display()).into());
            args.push(format!("--ovnsb-db=unix:{}", sb.sb_socket().display()).into());
            sb.start_daemon("ovn-northd", "ovn-northd", args, &ovn)?;
        }
        if let Some(c) = self.controller {
            sb.try_start_controller(c)?;
        }
        Ok(())
    }
}

fn os(s: &str) -> OsString {
    s.into()
}

/// The daemon options every OVS/OVN daemon here gets; `name` picks pidfile and log file.
fn daemon_opts(dir: &Path, name: &str) -> Vec<OsString> {
    vec![
        format!("--pidfile={}", dir.join(format!("{name}.pid")).display()).into(),
        format!("--log-file={}", dir.join(format!("{name}.log")).display()).into(),
        os("--detach"),
        os("--no-chdir"),
        os("-vconsole:off"),
    ]
}

struct Daemon {
    name: String,
    log: PathBuf,
    id: ProcId,
}

/// What [`Sandbox::shutdown`] did.
#[derive(Debug, Default)]
pub struct ShutdownReport {
    /// Every process that was signalled, by name ("chassisd", "chassisd/child", ...).
    pub stopped: Vec<(String, ProcId)>,
    /// Those that did not exit within the grace period after SIGTERM and got SIGKILL.
    pub needed_sigkill: Vec<(String, ProcId)>,
    /// Processes carrying this sandbox's OVN_RUNDIR that the sandbox did not know about
    /// (found by scanning /proc after the stop; they were killed). A leak in the controller.
    pub strays: Vec<ProcId>,
    /// Still alive after everything (should be impossible).
    pub survivors: Vec<ProcId>,
}

impl ShutdownReport {
    /// Nothing needed SIGKILL, nothing leaked, nothing survived.
    pub fn is_clean(&self) -> bool {
        self.needed_sigkill.is_empty() && self.strays.is_empty() && self.survivors.is_empty()
    }
}

/// A running sandbox. Dropping it stops exactly the processes it started (also when the test
/// panics) and removes its directory unless told to keep it.
pub struct Sandbox {
    /// The guard process and the pipe it watches; None if it could not be started.
    guard: Option<(Child, ChildStdin)>,
    dir: PathBuf,
    ovs_dir: PathBuf,
    ovn_dir: PathBuf,
    env: Vec<(OsString, OsString)>,
    daemons: Vec<Daemon>,
    controller: Option<Controller>,
    chassis: String,
    cmd_timeout: Duration,
    stop_grace: Duration,
    keep: Keep,
    stopped: bool,
    /// Start-up failed: treated like a failing test when deciding whether to keep the dir.
    failed: bool,
}

impl Sandbox {
    /// A builder with nothing started yet.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The whole stack with the controller chosen by `CHASSISD_CONTROLLER`.
    pub fn full() -> Sandbox {
        Builder::default()
            .controller(Controller::from_env())
            .start()
    }

    /// The whole stack with controller `c`.
    pub fn with_controller(c: Controller) -> Sandbox {
        Builder::default().controller(c).start()
    }

    // ---- paths -------------------------------------------------------------------------

    /// The sandbox's top directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// OVS_RUNDIR (= OVS_LOGDIR = OVS_DBDIR = OVS_SYSCONFDIR).
    pub fn ovs_dir(&self) -> &Path {
        &self.ovs_dir
    }
    /// OVN_RUNDIR (= OVN_LOGDIR = OVN_DBDIR = OVN_SYSCONFDIR).
    pub fn ovn_dir(&self) -> &Path {
        &self.ovn_dir
    }
    /// The local Open_vSwitch database socket (what the controller is given on its command line).
    pub fn ovs_db_socket(&self) -> PathBuf {
        self.ovs_dir.join("db.sock")
    }
    pub fn nb_socket(&self) -> PathBuf {
        self.ovn_dir.join("ovnnb_db.sock")
    }
    pub fn sb_socket(&self) -> PathBuf {
        self.ovn_dir.join("ovnsb_db.sock")
    }
    /// `$OVN_RUNDIR/ovn-controller.pid`, written by either controller.
    pub fn controller_pidfile(&self) -> PathBuf {
        self.ovn_dir.join("ovn-controller.pid")
    }
    pub fn controller_log(&self) -> PathBuf {
        self.ovn_dir.join("ovn-controller.log")
    }
    /// The chassis name (system-id) this sandbox configured.
    pub fn chassis(&self) -> &str {
        &self.chassis
    }
    /// The environment every command gets (env is cleared first).
    pub fn env(&self) -> &[(OsString, OsString)] {
        &self.env
    }

    // ---- commands ----------------------------------------------------------------------

    /// A `Command` for `program` (resolved in the harness PATH) with the sandbox environment
    /// only, run in the sandbox directory. For anything the helpers below do not cover.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let program = program.as_ref();
        let resolved = program
            .to_str()
            .filter(|p| !p.contains('/'))
            .and_then(find_bin)
            .map(OsString::from)
            .unwrap_or_else(|| program.to_owned());
        let mut cmd = Command::new(resolved);
        cmd.env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.dir);
        cmd
    }

    /// Runs `program args...` and returns its stdout, or the error with stderr.
    pub fn try_run<I, S>(&self, program: &str, args: I) -> Result<String, CmdError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command(program);
        cmd.args(args);
        let out = run_with_timeout(cmd, self.cmd_timeout)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Like [`Sandbox::try_run`], panicking with command, status and stderr on failure.
    pub fn run<I, S>(&self, program: &str, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.try_run(program, args)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn nbctl<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, args: I) -> String {
        self.run("ovn-nbctl", args)
    }
    pub fn try_nbctl<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(
        &self,
        args: I,
    ) -> Result<String, CmdError> {
        self.try_run("ovn-nbctl", args)
    }
    pub fn sbctl<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, args: I) -> String {
        self.run("ovn-sbctl", args)
    }
    pub fn try_sbctl<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(
        &self,
        args: I,
    ) -> Result<String, CmdError> {
        self.try_run("ovn-sbctl", args)
    }
    /// ovs-vsctl. Without `--no-wait` it waits for ovs-vswitchd to apply the change.
    pub fn vsctl<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, args: I) -> String {
        self.run("ovs-vsctl", args)
    }
    pub fn try_vsctl<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(
        &self,
        args: I,
    ) -> Result<String, CmdError> {
        self.try_run("ovs-vsctl", args)
    }
    pub fn ofctl<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, args: I) -> String {
        self.run("ovs-ofctl", args)
    }
    pub fn try_ofctl<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(
        &self,
        args: I,
    ) -> Result<String, CmdError> {
        self.try_run("ovs-ofctl", args)
    }
    /// ovs-appctl (default target ovs-vswitchd).
    pub fn appctl<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, args: I) -> String {
        self.run("ovs-appctl", args)
    }
    pub fn try_appctl<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(
        &self,
        args: I,
    ) -> Result<String, CmdError> {
        self.try_run("ovs-appctl", args)
    }
    /// ovn-appctl (default target ovn-controller, i.e. whichever controller runs).
    pub fn ovn_appctl<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, args: I) -> String {
        self.run("ovn-appctl", args)
    }
    pub fn try_ovn_appctl<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(
        &self,
        args: I,
    ) -> Result<String, CmdError> {
        self.try_run("ovn-appctl", args)
    }

    // ---- OVN helpers -------------------------------------------------------------------

    /// `ovn-nbctl --wait=hv sync`: returns once every chassis has caught up with the NB.
    pub fn ovn_nbctl_wait_hv_sync(&self) {
        let secs = self.cmd_timeout.as_secs().max(1);
        self.nbctl([
            format!("--timeout={secs}"),
            "--wait=hv".into(),
            "sync".into(),
        ]);
    }

    /// Waits until the SB has this sandbox's Chassis with an Encap of the configured type, and
    /// returns the Chassis UUID.
    pub fn wait_chassis_registered(&self) -> String {
        let name = self.chassis.clone();
        wait::wait_for(TIMEOUT, format!("Chassis {name} with an Encap"), || {
            let uuid = self
                .try_sbctl([
                    "--bare",
                    "--columns=_uuid",
                    "find",
                    "Chassis",
                    &format!("name=\"{name}\""),
                ])
                .ok()?;
            let encaps = self
                .try_sbctl([
                    "--bare",
                    "--columns=type",
                    "find",
                    "Encap",
                    &format!("chassis_name=\"{name}\""),
                ])
                .ok()?;
            let uuid = uuid.trim();
            (!uuid.is_empty() && !encaps.trim().is_empty()).then(|| uuid.to_string())
        })
    }

    /// One column of the Port_Binding of `lport`, trimmed (`--bare`).
    pub fn port_binding_column(&self, lport: &str, column: &str) -> Result<String, CmdError> {
        self.try_sbctl([
            "--bare",
            &format!("--columns={column}"),
            "find",
            "Port_Binding",
            &format!("logical_port=\"{lport}\""),
        ])
        .map(|s| s.trim().to_string())
    }

    /// Waits until `lport` is bound to this sandbox's chassis.
    pub fn wait_port_bound(&self, lport: &str) {
        let chassis = self.wait_chassis_registered();
        wait::wait_until(
            TIMEOUT,
            format!("Port_Binding {lport} chassis={chassis}"),
            || {
                self.port_binding_column(lport, "chassis")
                    .is_ok_and(|c| c == chassis)
            },
        );
    }

    /// Waits until `lport` has `up=true` (set once the controller installed its flows).
    pub fn wait_port_up(&self, lport: &str) {
        wait::wait_until(TIMEOUT, format!("Port_Binding {lport} up=true"), || {
            self.port_binding_column(lport, "up")
                .is_ok_and(|c| c == "true")
        });
    }

    // ---- OpenFlow tables ---------------------------------------------------------------

    /// The flows of `bridge` (OpenFlow 1.5), one per line, sorted, with the reply header and
    /// the counters that change between runs (duration, n_packets, n_bytes, idle_age,
    /// hard_age) removed. Cookies stay: they carry the Logical_Flow UUID prefix. Comparing two
    /// controllers' tables still needs ids normalised (ct zones, group/meter ids, tunnel
    /// ofports); that belongs to the differential tests.
    pub fn dump_flows(&self, bridge: &str) -> Vec<String> {
        let out = self.ofctl(["-O", "OpenFlow15", "dump-flows", bridge]);
        let mut flows: Vec<String> = reply_lines(&out).map(strip_flow_stats).collect();
        flows.sort();
        flows
    }

    /// `dump-groups` of `bridge` (OpenFlow 1.5), sorted, header removed.
    pub fn dump_groups(&self, bridge: &str) -> Vec<String> {
        let out = self.ofctl(["-O", "OpenFlow15", "dump-groups", bridge]);
        let mut v: Vec<String> = reply_lines(&out).map(|l| l.trim().to_string()).collect();
        v.sort();
        v
    }

    /// `dump-meters` of `bridge` (OpenFlow 1.5), header removed (entries span lines; order kept).
    pub fn dump_meters(&self, bridge: &str) -> Vec<String> {
        let out = self.ofctl(["-O", "OpenFlow15", "dump-meters", bridge]);
        reply_lines(&out).map(|l| l.trim().to_string()).collect()
    }

    // ---- VIFs and packets --------------------------------------------------------------

    /// The pcap file of what ovs-vswitchd transmitted on `port` (what a VM would receive).
    pub fn tx_pcap(&self, port: &str) -> PathBuf {
        self.dir.join(format!("{port}-tx.pcap"))
    }
    /// The pcap file of what was received on `port` (what [`Sandbox::inject`] put in).
    pub fn rx_pcap(&self, port: &str) -> PathBuf {
        self.dir.join(format!("{port}-rx.pcap"))
    }

    /// Adds dummy interface `name` to br-int with `external_ids:iface-id=iface_id` and pcap
    /// capture in both directions. Waits for ovs-vswitchd to have it.
    pub fn add_vif(&self, name: &str, iface_id: &str) {
        self.vsctl([
            "add-port",
            "br-int",
            name,
            "--",
            "set",
            "interface",
            name,
            "type=dummy",
            &format!("options:tx_pcap=\"{}\"", self.tx_pcap(name).display()),
            &format!("options:rxq_pcap=\"{}\"", self.rx_pcap(name).display()),
            &format!("external_ids:iface-id=\"{iface_id}\""),
        ]);
    }

    /// Makes `port` receive the Ethernet frame given in hex (`netdev-dummy/receive`).
    pub fn inject(&self, port: &str, hex: &str) {
        self.appctl(["netdev-dummy/receive", port, hex]);
    }

    /// Packets ovs-vswitchd transmitted on `port` so far.
    pub fn tx_packets(&self, port: &str) -> Vec<PcapRecord> {
        let path = self.tx_pcap(port);
        pcap::read(&path).unwrap_or_else(|e| panic!("reading {path:?}: {e}"))
    }

    /// Packets received on `port` so far.
    pub fn rx_packets(&self, port: &str) -> Vec<PcapRecord> {
        let path = self.rx_pcap(port);
        pcap::read(&path).unwrap_or_else(|e| panic!("reading {path:?}: {e}"))
    }

    /// Waits until `port` has transmitted exactly `frame`.
    pub fn wait_tx_packet(&self, port: &str, frame: &[u8]) {
        wait::wait_until(
            TIMEOUT,
            format_args!("{port} to transmit {}", crate::packet::to_hex(frame)),
            || self.tx_packets(port).iter().any(|r| r.data == frame),
        );
    }

    // ---- daemons -----------------------------------------------------------------------

    fn start_ovsdb_server(
        &mut self,
        name: &str,
        dir: &Path,
        db: &Path,
        unixctl: Option<&Path>,
    ) -> Result<ProcId, String> {
        let mut args = daemon_opts(dir, name);
        args.push(format!("--remote=punix:{}", dir.join(socket_name(name)).display()).into());
        if let Some(ctl) = unixctl {
            args.push(format!("--unixctl={}", ctl.display()).into());
        }
        args.push(db.into());
        self.start_daemon(name, "ovsdb-server", args, dir)
    }

    /// Starts a daemon that detaches: waits for the launching process to exit, then takes the
    /// daemon's pid from `<dir>/<name>.pid` (for a controller: `ovn-controller.pid`).
    fn start_daemon(
        &mut self,
        name: &str,
        program: impl AsRef<OsStr>,
        args: Vec<OsString>,
        dir: &Path,
    ) -> Result<ProcId, String> {
        let pid_name = if name == "chassisd" {
            "ovn-controller"
        } else {
            name
        };
        let pidfile = dir.join(format!("{pid_name}.pid"));
        let log = dir.join(format!("{pid_name}.log"));
        let _ = fs::remove_file(&pidfile);
        // Detached daemons close stdio, so only start-up errors land here; a file (not a pipe)
        // so that a daemon which forgets to close stdout cannot block us.
        let out_path = self.dir.join(format!("{name}.stderr"));
        let out = File::create(&out_path).map_err(|e| format!("{out_path:?}: {e}"))?;
        let mut cmd = self.command(program);
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().map_err(|e| e.to_string())?)
            .stderr(out);
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
            return Err(format!(
                "`{desc}` did not detach within {:?}\n{}",
                self.cmd_timeout,
                read_out()
            ));
        };
        if !status.success() {
            return Err(format!("`{desc}` failed: {status}\n{}", read_out()));
        }
        let id = wait::try_wait_for(Duration::from_secs(5), || {
            let pid = fs::read_to_string(&pidfile)
                .ok()?
                .trim()
                .parse::<i32>()
                .ok()?;
            ProcId::of(pid).filter(ProcId::is_alive)
        })
        .ok_or_else(|| format!("`{desc}` detached but {pidfile:?} names no live process"))?;
        self.track_as(name, id, log);
        Ok(id)
    }

    fn track_as(&mut self, name: &str, id: ProcId, log: PathBuf) {
        if let Some((_, stdin)) = &mut self.guard {
            let _ = writeln!(stdin, "{}:{}", id.pid, id.start_time());
        }
        self.daemons.push(Daemon {
            name: name.into(),
            log,
            id,
        });
    }

    /// Makes the sandbox responsible for a process a test started itself (e.g. chassisd in
    /// the foreground through [`Sandbox::command`]): it is stopped with the sandbox. Any
    /// process started with the sandbox environment is also caught by the final stray scan,
    /// but tracked ones are stopped in order and reported by name.
    pub fn track(&mut self, name: &str, id: ProcId) {
        let log = self.ovn_dir.join(format!("{name}.log"));
        self.track_as(name, id, log);
    }

    /// The command line both controllers get.
    pub fn controller_args(&self) -> Vec<OsString> {
        vec![
            format!("unix:{}", self.ovs_db_socket().display()).into(),
            format!("--pidfile={}", self.controller_pidfile().display()).into(),
            format!("--log-file={}", self.controller_log().display()).into(),
            os("--detach"),
            os("--no-chdir"),
            os("-vconsole:off"),
        ]
    }

    /// Starts controller `c` (there must be none running). Panics on failure.
    pub fn start_controller(&mut self, c: Controller) -> ProcId {
        self.try_start_controller(c)
            .unwrap_or_else(|e| panic!("starting {c}: {e}"))
    }

    pub fn try_start_controller(&mut self, c: Controller) -> Result<ProcId, String> {
        if let Some(running) = self.controller {
            return Err(format!("{running} is already running"));
        }
        let bin = c.binary()?;
        let args = self.controller_args();
        let dir = self.ovn_dir.clone();
        let id = self.start_daemon(c.name(), bin, args, &dir)?;
        self.controller = Some(c);
        Ok(id)
    }

    /// Which controller is running, if any.
    pub fn controller(&self) -> Option<Controller> {
        self.controller
    }

    /// The controller's pid (for chassisd: the supervisor).
    pub fn controller_pid(&self) -> Option<ProcId> {
        let c = self.controller?;
        self.daemon(c.name())
    }

    /// The pid of daemon `name` ("ovsdb-server", "ovnnb_db", "ovnsb_db", "ovs-vswitchd",
    /// "ovn-northd", "ovn-controller", "chassisd").
    pub fn daemon(&self, name: &str) -> Option<ProcId> {
        self.daemons.iter().find(|d| d.name == name).map(|d| d.id)
    }

    /// Every process the sandbox runs now: its daemons and their descendants (chassisd's
    /// children included), by name.
    pub fn processes(&self) -> Vec<(String, ProcId)> {
        let mut out = Vec::new();
        for d in &self.daemons {
            out.push((d.name.clone(), d.id));
            for c in d.id.descendants() {
                out.push((format!("{}/child", d.name), c));
            }
        }
        out
    }

    /// Stops the controller (SIGTERM to it, SIGKILL after the grace period, then its leftover
    /// descendants), leaving the rest of the sandbox running. Another can be started after.
    pub fn stop_controller(&mut self) -> ShutdownReport {
        let Some(c) = self.controller.take() else {
            return ShutdownReport::default();
        };
        let (ctl, rest): (Vec<Daemon>, Vec<Daemon>) = std::mem::take(&mut self.daemons)
            .into_iter()
            .partition(|d| d.name == c.name());
        self.daemons = rest;
        let mut report = ShutdownReport::default();
        stop_group(&ctl, self.stop_grace, &mut report);
        report
    }

    /// Stops every process the sandbox started: the controller first (so it can shut down
    /// while its databases are still there), then everything else at once; then kills any
    /// process still carrying this sandbox's OVN_RUNDIR. Idempotent.
    pub fn shutdown(&mut self) -> ShutdownReport {
        let mut report = self.stop_controller();
        if self.stopped {
            return report;
        }
        self.stopped = true;
        let rest = std::mem::take(&mut self.daemons);
        stop_group(&rest, self.stop_grace, &mut report);
        let strays = procs::with_env_entry(&format!("OVN_RUNDIR={}", self.ovn_dir.display()));
        if !strays.is_empty() {
            let (_, survivors) = procs::terminate(&strays, Duration::from_secs(1));
            report.survivors.extend(survivors);
            report.strays = strays;
        }
        if let Some((mut child, mut stdin)) = self.guard.take() {
            let _ = writeln!(stdin, "done");
            drop(stdin);
            let _ = child.wait();
        }
        report
    }

    /// Prints the tail of every daemon log and start-up stderr file, for a failing test.
    pub fn dump_logs(&self) {
        let mut files: Vec<PathBuf> = self.daemons.iter().map(|d| d.log.clone()).collect();
        for d in [&self.dir, &self.ovs_dir, &self.ovn_dir] {
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
        for f in files {
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

fn socket_name(db_name: &str) -> String {
    match db_name {
        "ovsdb-server" => "db.sock".into(),
        other => format!("{other}.sock"),
    }
}

/// SIGTERM to the daemons and the descendants they have right now, SIGKILL after `grace`.
/// Descendants are recorded first because once a supervisor is killed its children are
/// re-parented and can no longer be found through it.
fn stop_group(daemons: &[Daemon], grace: Duration, report: &mut ShutdownReport) {
    let mut named: Vec<(String, ProcId)> = Vec::new();
    for d in daemons {
        named.push((d.name.clone(), d.id));
        for c in d.id.descendants() {
            named.push((format!("{}/child", d.name), c));
        }
    }
    // Signal daemons before their descendants so a supervisor gets to stop its own children.
    let tops: Vec<ProcId> = daemons.iter().map(|d| d.id).collect();
    let started = Instant::now();
    let (mut killed, mut survivors) = procs::terminate(&tops, grace);
    let left = grace
        .saturating_sub(started.elapsed())
        .max(Duration::from_millis(500));
    let children: Vec<ProcId> = named
        .iter()
        .map(|(_, p)| *p)
        .filter(|p| !tops.contains(p))
        .collect();
    let (k, s) = procs::terminate(&children, left);
    killed.extend(k);
    survivors.extend(s);
    let name_of = |p: &ProcId| {
        named
            .iter()
            .find(|(_, q)| q == p)
            .map(|(n, _)| n.clone())
            .unwrap_or_default()
    };
    report
        .needed_sigkill
        .extend(killed.iter().map(|p| (name_of(p), *p)));
    report.survivors.extend(survivors);
    report.stopped.extend(named);
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
            eprintln!(
                "sandbox {}: unclean shutdown: {report:?}",
                self.dir.display()
            );
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
