//! The OVS unixctl protocol that `ovs-appctl` and `ovn-appctl` speak: JSON-RPC 1.0 over a
//! Unix stream socket, with concatenated JSON objects and no framing.

pub mod client;
pub mod codec;
pub mod server;

pub use server::{serve, Incoming, Server};
