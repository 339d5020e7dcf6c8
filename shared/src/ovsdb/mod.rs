//! OVSDB client (RFC 7047 as ovsdb-server speaks it, with OVS's `monitor_cond`,
//! `monitor_cond_since`/`update3` and `monitor_cond_change` extensions).
//!
//! - Sans-IO core: [`jsonrpc`] (messages and stream framing), [`datum`], [`schema`],
//!   [`update`] (update2/update3 table updates), [`transact`] (operations), [`monitor`],
//!   [`replica`] (local copy with change tracking and indexes).
//! - I/O edge: [`client`], one tokio task per database connection with reconnect and
//!   backoff over a list of remotes, inactivity probes, `_Server`-based cluster member
//!   selection and resume with `monitor_cond_since`.
//! - [`tls`]: `ssl:` remotes (mutual TLS with rustls; the server's certificate must chain to
//!   the CA file, its name is not checked, as in OVS), configured by [`ClientConfig::tls`].
//!
//! The replica belongs to its user (flowctl's main loop), not to the client task: the task
//! sends [`Event`]s, the loop applies them and reads the changes, so flow computation never
//! waits on a lock held by I/O.
//!
//! ```no_run
//! use shared::ovsdb::*;
//!
//! # async fn example() -> Result<()> {
//! let remotes = Remote::parse_list("tcp:192.0.2.1:6642,tcp:192.0.2.2:6642")?;
//! let monitor = MonitorSpec::new()
//!     .table_columns("Chassis", &["name", "encaps", "other_config"])
//!     .table_where("Port_Binding", vec![Condition::eq("chassis", Uuid::nil())]);
//! let (client, mut events) = Client::start(ClientConfig::new(remotes, "OVN_Southbound", monitor));
//!
//! let mut sb = Replica::new();
//! let by_name = sb.create_index("Chassis", vec!["name".into()]);
//! while let Some(ev) = events.recv().await {
//!     match ev {
//!         Event::Connected { schema, .. } => sb.set_schema(schema),
//!         Event::Update(u) => {
//!             if u.apply_to(&mut sb).is_err() {
//!                 client.reconnect(true); // replica out of step: full resync
//!                 continue;
//!             }
//!             let changes = sb.take_changes(); // inserted / modified columns / deleted
//!             if let Some(c) = changes.table("Chassis") {
//!                 for uuid in &c.inserted { /* ... */ }
//!             }
//!             let _me = sb.lookup_rows(by_name, &[Datum::from("hv1")]).next();
//!         }
//!         Event::ConditionsAcked { .. } | Event::Disconnected { .. } => {}
//!     }
//! }
//! client
//!     .transact(vec![Operation::Update {
//!         table: "Chassis_Private".into(),
//!         conditions: vec![Condition::eq("name", "hv1")],
//!         row: RowData::from([("nb_cfg".to_owned(), Datum::from(5i64))]),
//!     }])
//!     .await?;
//! # Ok(())
//! # }
//! ```

mod atoms;
pub mod client;
pub mod datum;
pub mod error;
pub mod jsonrpc;
pub mod monitor;
pub mod remote;
pub mod replica;
pub mod schema;
pub mod tls;
pub mod transact;
pub mod update;

pub use client::{Client, ClientConfig, Event, Update, UpdateKind};
pub use datum::{Atom, Datum};
pub use error::{Error, Result};
pub use monitor::{MonitorSpec, TableMonitor};
pub use remote::Remote;
pub use replica::{Changes, IndexColumn, IndexId, Modified, Replica, Row, TableChanges, TableRow};
pub use schema::DatabaseSchema;
pub use tls::TlsConfig;
pub use transact::{Condition, Function, Mutation, Mutator, OpResult, Operation, RowData};
pub use update::{RowUpdate, TableUpdates};
pub use uuid::Uuid;

#[cfg(test)]
mod tests;
