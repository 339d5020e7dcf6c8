//! pinctrl's packet-in handling, sans-IO: parse the packet-in's packet ([`flow`]), decode
//! the controller userdata (shared::ovn::controller_ops), answer as 23.03's pinctrl.c does
//! ([`handlers`], [`dhcp`]) and hand back OpenFlow messages and Southbound intents
//! ([`engine`]). The binary (main.rs) owns the sockets.

pub mod buffered;
pub mod compose;
pub mod dhcp;
pub mod dhcpv6;
pub mod dns;
pub mod engine;
pub mod events;
pub mod flow;
pub mod garp;
pub mod handlers;
pub mod icmp_frag;
pub mod mac_bindings;
pub mod mcast;
pub mod mcast_querier;
pub mod nd_ra;
pub mod ratelimit;
pub mod sctp;
#[cfg(test)]
mod seeds;
pub mod svc_monitor;

pub use engine::{Effects, Engine, OpStats};
