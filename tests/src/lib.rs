//! Test harness: real OVS/OVN daemons in a short temp dir.
//!
//! ```no_run
//! use chassisd_tests::{require_ovn, Sandbox};
//! # fn t() {
//! require_ovn!();
//! let sb = Sandbox::full(); // controller from CHASSISD_CONTROLLER, default ovn-controller
//! sb.wait_chassis_registered();
//! sb.nbctl(["ls-add", "sw0"]);
//! # }
//! ```
//! See `sandbox` for the layout and the builder, `procs` for how processes are tracked.

pub mod cmd;
pub mod controller;
pub mod flows;
mod guard;
pub mod hv;
mod node;
pub mod packet;
pub mod pcap;
pub mod procs;
pub mod sandbox;
pub mod wait;

pub use cmd::{find_bin, missing_binaries, CmdError};
pub use controller::{chassisd_bin, Controller};
pub use hv::Hv;
pub use node::ShutdownReport;
pub use pcap::PcapRecord;
pub use procs::ProcId;
pub use sandbox::{Builder, Keep, Sandbox};
pub use wait::{try_wait_for, try_wait_until, wait_for, wait_until, TIMEOUT};
