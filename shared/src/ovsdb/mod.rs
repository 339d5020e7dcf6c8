//! OVSDB client (RFC 7047 as ovsdb-server speaks it, with OVS's `monitor_cond`,
//! `monitor_cond_since`/`update3` and `monitor_cond_change` extensions).
//!
//! - Sans-IO core: [`jsonrpc`] (messages and stream framing), [`datum`], [`schema`],
//!   [`update`] (update2/update3 table updates), [`transact`] (operations), [`monitor`],
//!   [`replica`] (local copy with change tracking and indexes).
//! - I/O edge: [`client`], a tokio task per connection with reconnect, probes, cluster
//!   member selection and resume.

pub mod client;
pub mod datum;
pub mod error;
pub mod jsonrpc;
pub mod monitor;
pub mod remote;
pub mod replica;
pub mod schema;
pub mod transact;
pub mod update;

pub use client::{Client, ClientConfig, Event, Update, UpdateKind};
pub use datum::{Atom, Datum};
pub use error::{Error, Result};
pub use monitor::{MonitorSpec, TableMonitor};
pub use remote::Remote;
pub use replica::{Changes, IndexColumn, IndexId, Modified, Replica, Row, TableChanges, TableRow};
pub use schema::DatabaseSchema;
pub use transact::{Condition, Function, Mutation, Mutator, OpResult, Operation, RowData};
pub use update::{RowUpdate, TableUpdates};
pub use uuid::Uuid;

#[cfg(test)]
mod tests;
