//! Integration harness: real OVS 3.1 / OVN 23.03 daemons in a short temp dir, with either the
//! real `ovn-controller` or `chassisd` as the chassis controller.
//!
//! # A test
//! ```no_run
//! use chassisd_tests::packet::{arp_request, mac, to_hex};
//! use chassisd_tests::{require_ovn, Controller, Sandbox};
//!
//! # fn t() {
//! require_ovn!(); // skip (or, with CHASSISD_REQUIRE_OVN=1, fail) if OVS/OVN are missing
//! let sb = Sandbox::full(); // whole stack; controller from CHASSISD_CONTROLLER
//! sb.wait_chassis_registered();
//! sb.nbctl(["ls-add", "sw0"]);
//! sb.nbctl(["lsp-add", "sw0", "lp1", "--", "lsp-set-addresses", "lp1", "00:00:00:00:00:01 10.0.0.1"]);
//! sb.nbctl(["lsp-add", "sw0", "lp2"]);
//! sb.add_vif("vif1", "lp1"); // dummy port on br-int, pcap in both directions
//! sb.add_vif("vif2", "lp2");
//! sb.wait_port_up("lp1");
//! sb.wait_port_up("lp2");
//! sb.ovn_nbctl_wait_hv_sync();
//! let req = arp_request(mac("00:00:00:00:00:01"), [10, 0, 0, 1].into(), [10, 0, 0, 9].into());
//! sb.inject("vif1", &to_hex(&req)); // ovs-appctl netdev-dummy/receive
//! sb.wait_tx_packet("vif2", &req); // polls vif2's tx pcap
//! # }
//! ```
//! Everything the sandbox started is stopped when it is dropped, also when the test panics;
//! call [`Sandbox::shutdown`] to assert on how it went ([`ShutdownReport::is_clean`]).
//!
//! # Pieces
//! - [`Sandbox::builder`] picks what runs: nothing (dirs and environment only, e.g. for
//!   supervisor tests), `.ovs_db()`, `.vswitchd()`, `.ovn_dbs()`, `.northd()`, `.infra()`,
//!   `.controller(c)`; `.hvs(&["hv1", "hv2"])` for several hypervisors joined by a simulated
//!   network (Geneve tunnels work between them); `.sb_cluster(3)` for a Southbound Raft cluster
//!   (members can be stopped, started, and asked who leads). See [`sandbox`] for the layout.
//! - [`Hv`]: one hypervisor: ovs-vsctl/ofctl/appctl and ovn-appctl in its environment,
//!   ovn-nbctl/sbctl against central, VIFs, packets, flow dumps, controller start/stop. The
//!   sandbox derefs to its first one; [`Sandbox::hv`] gives the others.
//! - Commands get a cleared environment plus the node's OVS_*/OVN_* directories, are killed
//!   after a timeout, and panic with command, status and stderr (`try_*` variants return
//!   [`CmdError`]).
//! - [`wait_until`] / [`wait_for`]: poll with a deadline; tests never sleep as an assertion.
//! - [`pcap`]: reader for the files dummy ports write; [`packet`]: hex, ARP, raw IPv4/UDP and
//!   DHCPDISCOVER builders, checksums;
//!   [`packets`]: IPv4/TCP/UDP/ICMP build and parse, and [`packets::Net`] for data-plane checks.
//! - [`topo`]: Northbound pieces the scenarios share (router ports on switches, addressed
//!   ports, DHCPv4 options, binding VIFs and waiting for them).
//! - [`procs`]: process identities (pid + start time), stop and reap. The test process becomes
//!   the subreaper of the daemons, so a stopped daemon disappears from /proc.
//!
//! # Controllers
//! Both get the same command line ([`Hv::controller_args`]):
//! `<bin> unix:<OVS_RUNDIR>/db.sock --pidfile=<OVN_RUNDIR>/ovn-controller.pid
//! --log-file=<OVN_RUNDIR>/ovn-controller.log --detach --no-chdir -vconsole:off`, and are
//! found by the pid in that pidfile; `ovn-appctl -t ovn-controller` reaches either through
//! `$OVN_RUNDIR/ovn-controller.<pid>.ctl`. Stopping sends SIGTERM to the controller, then to
//! whatever descendants it had (chassisd's flowctl and pinctrl), SIGKILL after the grace period.
//! chassisd is looked up by [`chassisd_bin`]; `cargo test -p chassisd-tests` does not build it:
//! run `cargo build -p supervisor -p flowctl -p pinctrl` first.
//!
//! # Environment variables
//! - `CHASSISD_CONTROLLER=chassisd|ovn-controller`: [`Controller::from_env`], used by
//!   [`Sandbox::full`]; default ovn-controller.
//! - `CHASSISD_BIN`: path of chassisd (flowctl and pinctrl must be next to it).
//! - `CHASSISD_KEEP_SANDBOX=1` keeps the directory of a failed test (`=always`: of every test)
//!   and prints its path. Daemons are stopped regardless.
//! - `CHASSISD_REQUIRE_OVN=1`: missing OVS/OVN binaries fail [`require_ovn!`] tests instead of
//!   skipping them (for CI).
//! - `RUST_LOG`, `RUST_BACKTRACE` (default 1), `LLVM_PROFILE_FILE`, `HOME` pass through to
//!   the daemons; nothing else from the test's environment does.
//!
//! # If the test process dies
//! A guard process per sandbox (own process group, watching a pipe) stops the sandbox's
//! daemons and removes its directory when the test process is killed before `Drop` runs
//! (SIGKILL, nextest timeout, Ctrl-C).

pub mod cmd;
pub mod controller;
pub mod flows;
mod guard;
pub mod hv;
mod node;
pub mod ofclient;
pub mod packet;
pub mod packets;
pub mod pcap;
pub mod procs;
pub mod sandbox;
pub mod topo;
pub mod wait;

pub use cmd::{find_bin, missing_binaries, CmdError};
pub use controller::{chassisd_bin, Controller};
pub use hv::Hv;
pub use node::ShutdownReport;
pub use pcap::PcapRecord;
pub use procs::ProcId;
pub use sandbox::{Builder, Keep, Sandbox};
pub use wait::{try_wait_for, try_wait_until, wait_for, wait_until, TIMEOUT};
