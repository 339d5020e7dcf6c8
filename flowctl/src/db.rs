//! One OVSDB connection as flowctl uses it: the client task, the local replica it feeds, and
//! at most one transaction in flight (as OVS's IDL loop does), whose outcome comes back to the
//! main loop as an event.

use shared::ovsdb::{Client, ClientConfig, Condition, Datum, Event, Operation, Replica, Row, RowData, Uuid};
use tokio::sync::mpsc;

/// Rows changed since some point, by table.
pub type Touched = std::collections::BTreeMap<String, std::collections::BTreeSet<Uuid>>;

/// Which database a transaction outcome belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbId {
    Ovs,
    Sb,
}

#[derive(Debug)]
pub struct TxnOutcome {
    pub db: DbId,
    /// Bumped per connection start, so an outcome from a replaced client is ignored.
    pub epoch: u64,
    pub result: Result<(), String>,
}

pub struct Db {
    pub id: DbId,
    pub client: Client,
    pub events: mpsc::UnboundedReceiver<Event>,
    pub replica: Replica,
    pub connected: bool,
    /// A full snapshot arrived on the current connection: the replica is usable.
    pub synced: bool,
    pub txn_in_flight: bool,
    pub epoch: u64,
    pub remote_text: String,
    /// The SSL material the connection was started with (a change restarts it).
    pub tls: Option<shared::ovsdb::TlsConfig>,
    /// Highest monitor-condition sequence number requested, and acknowledged by the server:
    /// until they meet, the replica may lack rows the new conditions select.
    pub cond_requested: u64,
    pub cond_acked: u64,
    /// Bumped whenever the replica (or what it is complete for) changes in a way flows can
    /// depend on: flows need recomputing only when this or another input moved. flowctl's
    /// own bookkeeping writes (nb_cfg reports, ovn-installed marks) do not count.
    pub revision: u64,
    /// Rows inserted, modified or deleted since the flow computation last took them, by
    /// table: what an incremental computation looks at again.
    pub touched: Touched,
    /// Bumped per table at each change to it (what a cached derivation of a few tables
    /// compares to know whether it still holds).
    table_revs: std::collections::BTreeMap<String, u64>,
    /// Client events applied (any of them may change what planning sees).
    pub events_applied: u64,
}

impl Db {
    pub fn start(id: DbId, config: ClientConfig, remote_text: String, epoch: u64) -> Db {
        let (client, events) = Client::start(config);
        Db {
            id,
            client,
            events,
            replica: Replica::new(),
            connected: false,
            synced: false,
            txn_in_flight: false,
            epoch,
            remote_text,
            tls: None,
            cond_requested: 0,
            cond_acked: 0,
            revision: 0,
            touched: Touched::default(),
            table_revs: Default::default(),
            events_applied: 0,
        }
    }

    /// Applies a client event to the replica; returns true if the replica changed.
    pub fn on_event(&mut self, event: Event) -> bool {
        self.events_applied += 1;
        let changed = self.apply_event(event);
        // Taken at every event, so the replica does not keep old rows around.
        let changes = self.replica.take_changes();
        for (table, tc) in &changes.tables {
            if !tc.is_empty() {
                *self.table_revs.entry(table.clone()).or_default() += 1;
                let rows = self.touched.entry(table.clone()).or_default();
                rows.extend(tc.inserted.iter().chain(tc.modified.keys()).chain(tc.deleted.keys()));
            }
        }
        if changed && (changes.is_empty() || affects_flows(self.id, &self.replica, &changes)) {
            self.revision += 1;
        }
        changed
    }

    fn apply_event(&mut self, event: Event) -> bool {
        match event {
            Event::Connected { remote, schema } => {
                tracing::info!("{:?}: connected to {remote:?}", self.id);
                self.replica.set_schema(schema);
                self.connected = true;
                false
            }
            Event::Update(update) => {
                if let Err(e) = update.apply_to(&mut self.replica) {
                    tracing::warn!("{:?}: update does not fit the replica ({e}), resyncing", self.id);
                    self.client.reconnect(true);
                    return false;
                }
                self.synced = true;
                true
            }
            Event::ConditionsAcked { seqno } => {
                self.cond_acked = self.cond_acked.max(seqno);
                true
            }
            Event::Disconnected { remote, reason } => {
                tracing::warn!("{:?}: disconnected from {remote:?}: {reason}", self.id);
                self.connected = false;
                false
            }
        }
    }

    /// The connection epoch and the revisions of `tables`: equal as long as none changed.
    pub fn revisions(&self, tables: &[&str]) -> (u64, Vec<u64>) {
        (self.epoch, tables.iter().map(|t| self.table_revs.get(*t).copied().unwrap_or(0)).collect())
    }

    /// Sends `ops` as one transaction unless one is in flight; the outcome arrives on `done`.
    pub fn submit(&mut self, ops: Vec<Operation>, done: &mpsc::UnboundedSender<TxnOutcome>) -> bool {
        if ops.is_empty() || self.txn_in_flight || !self.connected {
            return false;
        }
        self.txn_in_flight = true;
        let client = self.client.clone();
        let done = done.clone();
        let (db, epoch) = (self.id, self.epoch);
        tokio::spawn(async move {
            let result = client.transact(ops).await.map(|_| ()).map_err(|e| e.to_string());
            let _ = done.send(TxnOutcome { db, epoch, result });
        });
        true
    }

    pub fn rows<'a>(&'a self, table: &str) -> impl Iterator<Item = (&'a Uuid, &'a Row)> + 'a {
        self.replica.table(table).into_iter().flat_map(|t| t.iter())
    }

    pub fn row(&self, table: &str, uuid: &Uuid) -> Option<&Row> {
        self.replica.row(table, uuid)
    }

    /// Column values held for `tables`: what OVS's IDL reports as `idl-cells`.
    pub fn cells(&self, tables: &[&str]) -> usize {
        tables.iter().flat_map(|t| self.rows(t)).map(|(_, r)| r.len()).sum()
    }
}

/// Columns, and external_ids keys, that only record what flowctl reported: a change to
/// nothing else than these cannot change a flow.
const BOOKKEEPING: &[(DbId, &str, &str, &[&str])] = &[
    (DbId::Sb, "Chassis_Private", "*", &[]),
    (DbId::Sb, "SB_Global", "nb_cfg", &[]),
    (DbId::Sb, "SB_Global", "nb_cfg_timestamp", &[]),
    (DbId::Ovs, "Bridge", "external_ids", &["ovn-nb-cfg", "ovn-nb-cfg-ts"]),
    (DbId::Ovs, "Interface", "external_ids", &["ovn-installed", "ovn-installed-ts"]),
];

/// Whether `changes` touch anything but [`BOOKKEEPING`] (`replica` holds the new rows).
fn affects_flows(db: DbId, replica: &Replica, changes: &shared::ovsdb::Changes) -> bool {
    changes.tables.iter().any(|(table, tc)| {
        let rules: Vec<_> = BOOKKEEPING.iter().filter(|(d, t, ..)| *d == db && t == table).collect();
        if rules.iter().any(|(_, _, c, _)| *c == "*") {
            return false;
        }
        if !tc.inserted.is_empty() || !tc.deleted.is_empty() {
            return true;
        }
        tc.modified.iter().any(|(uuid, m)| {
            m.columns.iter().any(|col| match rules.iter().find(|(_, _, c, _)| c == col) {
                None => true,
                Some((_, _, _, [])) => false,
                Some((_, _, _, keys)) => {
                    let strip = |r: &Row| {
                        let mut map = string_map(r, col);
                        map.retain(|k, _| !keys.contains(&k.as_str()));
                        map
                    };
                    replica.row(table, uuid).map(strip) != Some(strip(&m.old))
                }
            })
        })
    })
}

/// The string-to-string map in `column`, as owned pairs.
pub fn string_map(row: &Row, column: &str) -> std::collections::BTreeMap<String, String> {
    row.get(column)
        .and_then(Datum::as_map)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
        .collect()
}

/// A row's `tunnel_key` (datapaths, ports, multicast groups), if it fits OVN's 32 bits.
pub fn tunnel_key(row: &Row) -> Option<u32> {
    row.get_i64("tunnel_key").and_then(|k| u32::try_from(k).ok())
}

/// UUIDs held by a set-of-references column.
pub fn uuid_set(row: &Row, column: &str) -> Vec<Uuid> {
    row.get_set(column).filter_map(|a| a.as_uuid()).collect()
}

pub fn where_uuid(uuid: Uuid) -> Vec<Condition> {
    vec![Condition::uuid(uuid)]
}

pub fn insert(table: &str, row: RowData, name: &str) -> Operation {
    Operation::Insert { table: table.into(), row, uuid_name: Some(name.into()) }
}

pub fn update(table: &str, uuid: Uuid, row: RowData) -> Operation {
    Operation::Update { table: table.into(), conditions: where_uuid(uuid), row }
}

pub fn string_map_datum(map: &std::collections::BTreeMap<String, String>) -> Datum {
    Datum::map(map.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}
