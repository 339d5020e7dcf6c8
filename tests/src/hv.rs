//! One simulated hypervisor (chassis): its Open_vSwitch ovsdb-server, ovs-vswitchd and
//! controller, with its own OVS_RUNDIR and OVN_RUNDIR, so that several can run side by side and
//! `ovn-appctl -t ovn-controller` reaches the right controller.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::cmd::{run_with_timeout, CmdError};
use crate::controller::Controller;
use crate::flows::{reply_lines, strip_flow_stats};
use crate::node::{make_command, stop_group, Node, ShutdownReport};
use crate::pcap::{self, PcapRecord};
use crate::procs::ProcId;
use crate::wait::{self, TIMEOUT};

/// A hypervisor of the sandbox. The first one is also reachable directly through the
/// [`crate::Sandbox`] (it derefs to it); others through [`crate::Sandbox::hv`].
pub struct Hv {
    pub(crate) node: Node,
    /// The central node's environment, for ovn-nbctl / ovn-sbctl.
    pub(crate) central_env: Vec<(OsString, OsString)>,
    pub(crate) central_dir: PathBuf,
    pub(crate) encap_ip: String,
    pub(crate) controller: Option<Controller>,
    pub(crate) stop_grace: Duration,
}

macro_rules! tool {
    ($(#[$doc:meta])* $name:ident, $try_name:ident, $program:literal, $run:ident) => {
        $(#[$doc])*
        pub fn $name<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, args: I) -> String {
            self.$try_name(args).unwrap_or_else(|e| panic!("{e}"))
        }
        $(#[$doc])*
        pub fn $try_name<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(
            &self,
            args: I,
        ) -> Result<String, CmdError> {
            self.$run($program, args)
        }
    };
}

impl Hv {
    // ---- identity and paths ------------------------------------------------------------

    /// The chassis name (external_ids:system-id).
    pub fn chassis(&self) -> &str {
        &self.node.name
    }
    /// ovn-encap-ip of this chassis.
    pub fn encap_ip(&self) -> &str {
        &self.encap_ip
    }
    /// This hypervisor's own directory (VIF pcaps, start-up stderr files).
    pub fn hv_dir(&self) -> &Path {
        &self.node.top
    }
    /// OVS_RUNDIR (= OVS_LOGDIR = OVS_DBDIR = OVS_SYSCONFDIR) of this hypervisor.
    pub fn ovs_dir(&self) -> &Path {
        &self.node.ovs_dir
    }
    /// OVN_RUNDIR (= OVN_LOGDIR = OVN_DBDIR = OVN_SYSCONFDIR) of this hypervisor: the
    /// controller's pidfile, control socket and log live here.
    pub fn ovn_dir(&self) -> &Path {
        &self.node.ovn_dir
    }
    /// The local Open_vSwitch database socket (what the controller is given on its command line).
    pub fn ovs_db_socket(&self) -> PathBuf {
        self.node.ovs_dir.join("db.sock")
    }
    /// `$OVN_RUNDIR/ovn-controller.pid`, written by either controller.
    pub fn controller_pidfile(&self) -> PathBuf {
        self.node.ovn_dir.join("ovn-controller.pid")
    }
    pub fn controller_log(&self) -> PathBuf {
        self.node.ovn_dir.join("ovn-controller.log")
    }
    /// The environment every command on this hypervisor gets (env is cleared first).
    pub fn env(&self) -> &[(OsString, OsString)] {
        &self.node.env
    }

    // ---- commands ----------------------------------------------------------------------

    /// A `Command` for `program` (resolved in the harness PATH) with this hypervisor's
    /// environment only, run in its directory. For anything the helpers do not cover.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        self.node.command(program)
    }

    /// Runs `program args...` on this hypervisor and returns its stdout, or the error with
    /// stderr. Killed after the sandbox's command timeout.
    pub fn try_run<I, S>(&self, program: &str, args: I) -> Result<String, CmdError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.node.try_run(program, args)
    }

    /// Like [`Hv::try_run`], panicking with command, status and stderr on failure.
    pub fn run<I, S>(&self, program: &str, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.try_run(program, args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs `program` with the central node's environment (NB/SB clients).
    pub fn try_run_central<I, S>(&self, program: &str, args: I) -> Result<String, CmdError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = make_command(&self.central_env, &self.central_dir, program);
        cmd.args(args);
        let out = run_with_timeout(cmd, self.node.cmd_timeout)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    tool!(
        /// ovn-nbctl against the sandbox's NB database.
        nbctl, try_nbctl, "ovn-nbctl", try_run_central
    );
    tool!(
        /// ovn-sbctl against the sandbox's SB database.
        sbctl, try_sbctl, "ovn-sbctl", try_run_central
    );
    tool!(
        /// ovs-vsctl. Without `--no-wait` it waits for ovs-vswitchd to apply the change.
        vsctl, try_vsctl, "ovs-vsctl", try_run
    );
    tool!(
        /// ovs-ofctl.
        ofctl, try_ofctl, "ovs-ofctl", try_run
    );
    tool!(
        /// ovs-appctl (default target ovs-vswitchd).
        appctl, try_appctl, "ovs-appctl", try_run
    );
    tool!(
        /// ovn-appctl (default target ovn-controller, i.e. whichever controller runs here).
        ovn_appctl, try_ovn_appctl, "ovn-appctl", try_run
    );

    // ---- OVN helpers -------------------------------------------------------------------

    /// `ovn-nbctl --wait=hv sync`: returns once every chassis has caught up with the NB.
    pub fn ovn_nbctl_wait_hv_sync(&self) {
        let secs = self.node.cmd_timeout.as_secs().max(1);
        self.nbctl([format!("--timeout={secs}"), "--wait=hv".into(), "sync".into()]);
    }

    /// Waits until the SB has this chassis with an Encap, and returns the Chassis UUID.
    pub fn wait_chassis_registered(&self) -> String {
        let name = self.chassis().to_string();
        let by_name = format!("name=\"{name}\"");
        let by_chassis = format!("chassis_name=\"{name}\"");
        wait::wait_for(TIMEOUT, format!("Chassis {name} with an Encap"), || {
            let uuid = self.try_sbctl(["--bare", "--columns=_uuid", "find", "Chassis", &by_name]).ok()?;
            let encaps = self.try_sbctl(["--bare", "--columns=type", "find", "Encap", &by_chassis]).ok()?;
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

    /// Waits until `lport` is bound to this chassis.
    pub fn wait_port_bound(&self, lport: &str) {
        let chassis = self.wait_chassis_registered();
        let what = format!("Port_Binding {lport} chassis={chassis} ({})", self.chassis());
        wait::wait_until(TIMEOUT, what, || self.port_binding_column(lport, "chassis").is_ok_and(|c| c == chassis));
    }

    /// Waits until `lport` has `up=true` (set once the controller installed its flows).
    pub fn wait_port_up(&self, lport: &str) {
        wait::wait_until(TIMEOUT, format!("Port_Binding {lport} up=true"), || {
            self.port_binding_column(lport, "up").is_ok_and(|c| c == "true")
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
        self.node.top.join(format!("{port}-tx.pcap"))
    }
    /// The pcap file of what was received on `port` (what [`Hv::inject`] put in).
    pub fn rx_pcap(&self, port: &str) -> PathBuf {
        self.node.top.join(format!("{port}-rx.pcap"))
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
            format_args!("{}:{port} to transmit {}", self.chassis(), crate::packet::to_hex(frame)),
            || self.tx_packets(port).iter().any(|r| r.data == frame),
        );
    }

    /// Injects `frame` on `inport` until `port` transmits what `f` recognises (a first packet
    /// may race the last flow updates under load); a few tries, then a failure.
    pub fn inject_until<T>(
        &self,
        inport: &str,
        frame: &[u8],
        port: &str,
        what: &str,
        f: impl Fn(&[u8]) -> Option<T>,
    ) -> T {
        for _ in 0..5 {
            let before = self.tx_packets(port).len();
            self.inject(inport, &crate::packet::to_hex(frame));
            if let Some(v) = wait::try_wait_for(Duration::from_secs(3), || {
                self.tx_packets(port).iter().skip(before).find_map(|r| f(&r.data))
            }) {
                return v;
            }
        }
        panic!("{port}: no {what} after 5 tries");
    }

    /// True if the controller installed logical-pipeline flows on br-int (tables 8-36,
    /// 42-63; physical flows live in 0, 37-41 and 64+).
    pub fn has_logical_flows(&self) -> bool {
        self.dump_flows("br-int").iter().any(|f| {
            f.split("table=")
                .nth(1)
                .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next()?.parse::<u8>().ok())
                .is_some_and(|t| (8..=36).contains(&t) || (42..=63).contains(&t))
        })
    }

    // ---- controller --------------------------------------------------------------------

    /// The command line both controllers get.
    pub fn controller_args(&self) -> Vec<OsString> {
        vec![
            format!("unix:{}", self.ovs_db_socket().display()).into(),
            format!("--pidfile={}", self.controller_pidfile().display()).into(),
            format!("--log-file={}", self.controller_log().display()).into(),
            "--detach".into(),
            "--no-chdir".into(),
            "-vconsole:off".into(),
        ]
    }

    /// Starts controller `c` here (there must be none running). Panics on failure.
    pub fn start_controller(&mut self, c: Controller) -> ProcId {
        self.try_start_controller(c).unwrap_or_else(|e| panic!("starting {c} on {}: {e}", self.chassis()))
    }

    pub fn try_start_controller(&mut self, c: Controller) -> Result<ProcId, String> {
        if let Some(running) = self.controller {
            return Err(format!("{running} is already running"));
        }
        let bin = c.binary()?;
        let args = self.controller_args();
        let pidfile = self.controller_pidfile();
        let id = self.node.start_daemon(c.name(), bin, args, &pidfile)?;
        self.controller = Some(c);
        Ok(id)
    }

    /// Which controller runs here, if any.
    pub fn controller(&self) -> Option<Controller> {
        self.controller
    }

    /// The controller's pid (for chassisd: the supervisor).
    pub fn controller_pid(&self) -> Option<ProcId> {
        self.node.daemon(self.controller?.name())
    }

    /// Stops the controller (SIGTERM to it, SIGKILL after the grace period, then its leftover
    /// descendants), leaving the rest running. Another can be started after.
    pub fn stop_controller(&mut self) -> ShutdownReport {
        let Some(c) = self.controller.take() else {
            return ShutdownReport::default();
        };
        let ctl = self.node.take_daemons(|d| d.name == c.name());
        stop_group(&ctl, self.stop_grace)
    }

    /// Restarts this hypervisor's OVS database server (same `conf.db` and socket).
    pub fn restart_ovs_db(&mut self) {
        let dir = self.node.ovs_dir.clone();
        let grace = self.stop_grace;
        self.node
            .restart_ovsdb_server("ovsdb-server", &dir.join("conf.db"), &dir.join("db.sock"), None, grace)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Starts any daemon here the way the sandbox starts its own: `program args...` must
    /// detach and write its pid to `pidfile` (its log is expected beside it, `*.log`); the
    /// daemon is then tracked like the others. For extra daemons a scenario needs.
    pub fn start_daemon(
        &mut self,
        name: &str,
        program: impl AsRef<OsStr>,
        args: Vec<OsString>,
        pidfile: &Path,
    ) -> Result<ProcId, String> {
        self.node.start_daemon(name, program, args, pidfile)
    }

    /// This hypervisor's daemon `name` ("ovsdb-server", "ovs-vswitchd", "ovn-controller",
    /// "chassisd").
    pub fn daemon(&self, name: &str) -> Option<ProcId> {
        self.node.daemon(name)
    }

    /// Makes the sandbox responsible for a process a test started itself here (e.g. chassisd
    /// in the foreground through [`Hv::command`]): it is stopped with the sandbox. Untracked
    /// processes with the sandbox environment are still caught by the final stray scan, but
    /// tracked ones are stopped in order and reported by name. The sandbox reaps what it
    /// stops, so if the test holds a `std::process::Child` for it and wants its exit status,
    /// it must `wait()` before the sandbox stops it.
    pub fn track(&mut self, name: &str, id: ProcId) {
        let log = self.node.ovn_dir.join(format!("{name}.log"));
        self.node.track(name, id, log);
    }
}
