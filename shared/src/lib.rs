//! Everything more than one chassisd process needs: the wire formats (one definition each,
//! used by both ends), OVN constants, and logging in OVS's format.

pub mod channel;
pub mod child;
pub mod frame;
#[doc(hidden)]
pub mod fuzzing;
pub mod ipc;
pub mod openflow;
pub mod ovn;
pub mod ovsdb;
pub mod pinctrl_link;
pub mod switch;
pub mod unixctl;
pub mod vlog;

/// The ovn-controller release whose behaviour chassisd reproduces.
pub const OVN_COMPAT_VERSION: &str = "23.03.1";
