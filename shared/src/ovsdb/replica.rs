//! Local replica of monitored tables, with change tracking and secondary indexes.
//!
//! The replica is pure data: the client delivers [`TableUpdates`]; whoever owns the replica
//! applies them, then reads [`Replica::take_changes`] to process only what changed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use uuid::Uuid;

use super::datum::{Atom, Datum};
use super::error::{proto, Result};
use super::schema::DatabaseSchema;
use super::update::{RowUpdate, TableUpdates};

/// One row: column name to value, sorted by name. Columns not monitored are absent. Names
/// are shared with every row of the replica (interned from the schema) and the columns sit in
/// one vector: a replica holds hundreds of thousands of rows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Row {
    columns: Vec<(Arc<str>, Datum)>,
}

impl Row {
    /// A row of these columns (a later duplicate name replaces an earlier one).
    pub fn from_columns(columns: impl IntoIterator<Item = (Arc<str>, Datum)>) -> Row {
        let mut row = Row::default();
        for (name, d) in columns {
            row.insert(name, d);
        }
        row.columns.shrink_to_fit();
        row
    }
    fn find(&self, column: &str) -> std::result::Result<usize, usize> {
        self.columns.binary_search_by(|(n, _)| (**n).cmp(column))
    }
    pub fn get(&self, column: &str) -> Option<&Datum> {
        self.find(column).ok().and_then(|i| self.columns.get(i)).map(|(_, d)| d)
    }
    /// Sets a column; returns the value it replaced.
    pub fn insert(&mut self, column: impl Into<Arc<str>>, d: Datum) -> Option<Datum> {
        let name = column.into();
        match self.find(&name) {
            Ok(i) => self.columns.get_mut(i).map(|slot| std::mem::replace(&mut slot.1, d)),
            Err(i) => {
                self.columns.insert(i, (name, d));
                None
            }
        }
    }
    /// The value of a column, set to `default()` first if absent (`None` cannot happen: the
    /// place is found or made).
    pub fn get_or_insert_with(&mut self, column: &str, default: impl FnOnce() -> Datum) -> Option<&mut Datum> {
        let i = match self.find(column) {
            Ok(i) => i,
            Err(i) => {
                self.columns.insert(i, (Arc::from(column), default()));
                i
            }
        };
        self.columns.get_mut(i).map(|(_, d)| d)
    }
    /// Number of columns held.
    pub fn len(&self) -> usize {
        self.columns.len()
    }
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }
    /// Column names, sorted.
    pub fn column_names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|(n, _)| &**n)
    }
    pub fn get_str(&self, column: &str) -> Option<&str> {
        self.get(column).and_then(Datum::as_str)
    }
    pub fn get_uuid(&self, column: &str) -> Option<Uuid> {
        self.get(column).and_then(Datum::as_uuid)
    }
    pub fn get_i64(&self, column: &str) -> Option<i64> {
        self.get(column).and_then(Datum::as_i64)
    }
    pub fn get_bool(&self, column: &str) -> Option<bool> {
        self.get(column).and_then(Datum::as_bool)
    }
    /// `column:key` of a string-to-string map (e.g. `external_ids:iface-id`).
    pub fn get_map_str(&self, column: &str, key: &str) -> Option<&str> {
        self.get(column).and_then(|d| d.map_get_str(key))
    }
    /// Atoms of a set column (empty if absent).
    pub fn get_set(&self, column: &str) -> impl Iterator<Item = &Atom> {
        self.get(column).into_iter().flat_map(Datum::iter_set)
    }
}

/// A typed view of a table's rows, implemented by the user of the replica for the tables
/// it reads (e.g. flowctl's `PortBinding`): the generic store stays the single source.
pub trait TableRow: Sized {
    const TABLE: &'static str;
    /// Builds the typed row; errors mean the row lacks a column the type needs.
    fn from_row(uuid: Uuid, row: &Row) -> Result<Self>;
}

/// A row modified since the last [`Replica::take_changes`].
#[derive(Clone, Debug, PartialEq)]
pub struct Modified {
    /// Columns whose value changed (possibly back to the old value).
    pub columns: BTreeSet<String>,
    /// The row as it was at the last `take_changes`.
    pub old: Arc<Row>,
}

/// Changes to one table since the last [`Replica::take_changes`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TableChanges {
    pub inserted: BTreeSet<Uuid>,
    pub modified: BTreeMap<Uuid, Modified>,
    /// Deleted rows with their last contents.
    pub deleted: BTreeMap<Uuid, Arc<Row>>,
}

impl TableChanges {
    pub fn is_empty(&self) -> bool {
        self.inserted.is_empty() && self.modified.is_empty() && self.deleted.is_empty()
    }
}

/// Changes to the whole replica since the last [`Replica::take_changes`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changes {
    pub tables: BTreeMap<String, TableChanges>,
}

impl Changes {
    pub fn table(&self, name: &str) -> Option<&TableChanges> {
        self.tables.get(name)
    }
    pub fn is_empty(&self) -> bool {
        self.tables.values().all(TableChanges::is_empty)
    }
}

/// What an index key is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexColumn {
    /// The whole column value.
    Column(String),
    /// The value for `key` in a string-keyed map column (empty set if absent).
    MapValue { column: String, key: String },
}

impl IndexColumn {
    fn extract(&self, row: &Row) -> Datum {
        match self {
            IndexColumn::Column(c) => row.get(c).cloned().unwrap_or_default(),
            IndexColumn::MapValue { column, key } => {
                row.get(column).and_then(|d| d.map_get(key)).map(|a| Datum::scalar(a.clone())).unwrap_or_default()
            }
        }
    }
}

impl From<&str> for IndexColumn {
    fn from(s: &str) -> Self {
        IndexColumn::Column(s.to_owned())
    }
}

/// Handle returned by [`Replica::create_index`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IndexId(usize);

#[derive(Debug)]
struct Index {
    table: String,
    columns: Vec<IndexColumn>,
    map: BTreeMap<Vec<Datum>, BTreeSet<Uuid>>,
}

impl Index {
    fn key(&self, row: &Row) -> Vec<Datum> {
        self.columns.iter().map(|c| c.extract(row)).collect()
    }
    fn add(&mut self, uuid: Uuid, row: &Row) {
        self.map.entry(self.key(row)).or_default().insert(uuid);
    }
    fn remove(&mut self, uuid: Uuid, row: &Row) {
        let key = self.key(row);
        if let Some(set) = self.map.get_mut(&key) {
            set.remove(&uuid);
            if set.is_empty() {
                self.map.remove(&key);
            }
        }
    }
}

/// The rows of one table.
#[derive(Clone, Debug, Default)]
pub struct Table {
    rows: HashMap<Uuid, Arc<Row>>,
}

impl Table {
    pub fn get(&self, uuid: &Uuid) -> Option<&Row> {
        self.rows.get(uuid).map(Arc::as_ref)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&Uuid, &Row)> {
        self.rows.iter().map(|(u, r)| (u, r.as_ref()))
    }
    pub fn len(&self) -> usize {
        self.rows.len()
    }
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// The replica of a monitored database.
#[derive(Debug, Default)]
pub struct Replica {
    schema: Option<Arc<DatabaseSchema>>,
    tables: BTreeMap<String, Table>,
    changes: Changes,
    indexes: Vec<Index>,
    /// Column names of the schema, shared by every row.
    names: HashMap<String, Arc<str>>,
}

impl Replica {
    pub fn new() -> Replica {
        Replica::default()
    }

    /// Sets the schema, used to apply diffs and to fill defaults for columns an `insert`
    /// leaves out. Every table of the schema then exists in the replica, even if empty.
    pub fn set_schema(&mut self, schema: Arc<DatabaseSchema>) {
        for (t, ts) in &schema.tables {
            self.tables.entry(t.clone()).or_default();
            for c in ts.columns.keys() {
                self.names.entry(c.clone()).or_insert_with(|| Arc::from(c.as_str()));
            }
        }
        self.schema = Some(schema);
    }

    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.get(name)
    }

    pub fn row(&self, table: &str, uuid: &Uuid) -> Option<&Row> {
        self.tables.get(table).and_then(|t| t.get(uuid))
    }

    /// Typed rows of `T::TABLE` (rows that do not convert are skipped with a warning).
    pub fn rows<T: TableRow>(&self) -> impl Iterator<Item = T> + '_ {
        self.tables.get(T::TABLE).into_iter().flat_map(|t| t.iter()).filter_map(|(u, r)| match T::from_row(*u, r) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!("ovsdb: {} row {u}: {e}", T::TABLE);
                None
            }
        })
    }

    /// One typed row of `T::TABLE`.
    pub fn get<T: TableRow>(&self, uuid: &Uuid) -> Option<Result<T>> {
        self.row(T::TABLE, uuid).map(|r| T::from_row(*uuid, r))
    }

    /// Changes accumulated since the last call (all applied updates, merged per row).
    pub fn take_changes(&mut self) -> Changes {
        std::mem::take(&mut self.changes)
    }

    /// Changes accumulated so far, without resetting them.
    pub fn changes(&self) -> &Changes {
        &self.changes
    }

    /// Creates a secondary index over `columns` of `table`, built from the current rows and
    /// kept up to date by every update.
    pub fn create_index(&mut self, table: &str, columns: Vec<IndexColumn>) -> IndexId {
        let mut idx = Index { table: table.to_owned(), columns, map: BTreeMap::new() };
        if let Some(t) = self.tables.get(table) {
            for (u, r) in &t.rows {
                idx.add(*u, r);
            }
        }
        self.indexes.push(idx);
        IndexId(self.indexes.len() - 1)
    }

    /// UUIDs of the rows whose index columns equal `key` (in index column order).
    pub fn lookup(&self, index: IndexId, key: &[Datum]) -> impl Iterator<Item = &Uuid> {
        self.indexes.get(index.0).and_then(|i| i.map.get(key)).into_iter().flatten()
    }

    /// Rows whose index columns equal `key`.
    pub fn lookup_rows(&self, index: IndexId, key: &[Datum]) -> impl Iterator<Item = (&Uuid, &Row)> {
        let table = self.indexes.get(index.0).and_then(|i| self.tables.get(&i.table));
        self.lookup(index, key).filter_map(move |u| table.and_then(|t| t.get(u)).map(|r| (u, r)))
    }

    /// Applies an incremental update (a notification, or a resumed `monitor_cond_since`).
    /// An update that does not fit the replica (insert of an existing row, modify of a
    /// missing one) is an error: the caller should ask for a full resync.
    pub fn apply(&mut self, updates: TableUpdates) -> Result<()> {
        for (tname, rows) in updates.tables {
            for (uuid, ru) in rows {
                self.apply_row(&tname, uuid, ru)?;
            }
        }
        Ok(())
    }

    /// Replaces the contents of the monitored tables with a full snapshot (a monitor reply),
    /// recording the difference as changes: rows absent from the snapshot are deleted, rows
    /// that differ are modified. A reconnect without resume thus still yields a delta.
    pub fn replace(&mut self, snapshot: TableUpdates) -> Result<()> {
        let mut seen: BTreeMap<String, BTreeSet<Uuid>> = BTreeMap::new();
        for (tname, rows) in snapshot.tables {
            let seen_t = seen.entry(tname.clone()).or_default();
            for (uuid, ru) in rows {
                let row = match ru {
                    RowUpdate::Initial(r) | RowUpdate::Insert(r) => r,
                    _ => return Err(proto("snapshot holds a modify or delete")),
                };
                seen_t.insert(uuid);
                let new = self.complete_row(&tname, row);
                let old = self.tables.get(&tname).and_then(|t| t.rows.get(&uuid)).cloned();
                match old {
                    None => self.insert_row(&tname, uuid, new),
                    Some(old) if *old == new => {}
                    Some(old) => {
                        let cols = changed_columns(&old, &new);
                        self.set_row(&tname, uuid, new, cols);
                    }
                }
            }
        }
        let stale: Vec<(String, Uuid)> = self
            .tables
            .iter()
            .flat_map(|(tname, t)| {
                let seen_t = seen.get(tname);
                t.rows.keys().filter(move |u| !seen_t.is_some_and(|s| s.contains(u))).map(move |u| (tname.clone(), *u))
            })
            .collect();
        for (tname, uuid) in stale {
            self.delete_row(&tname, uuid)?;
        }
        Ok(())
    }

    /// Empties the replica, recording every row as deleted.
    pub fn clear(&mut self) {
        let all: Vec<(String, Uuid)> =
            self.tables.iter().flat_map(|(n, t)| t.rows.keys().map(move |u| (n.clone(), *u))).collect();
        for (t, u) in all {
            let _ = self.delete_row(&t, u);
        }
    }

    fn apply_row(&mut self, tname: &str, uuid: Uuid, ru: RowUpdate) -> Result<()> {
        match ru {
            RowUpdate::Initial(r) | RowUpdate::Insert(r) => {
                if self.row(tname, &uuid).is_some() {
                    return Err(proto(format!("{tname}: insert of existing row {uuid}")));
                }
                let row = self.complete_row(tname, r);
                self.insert_row(tname, uuid, row);
                Ok(())
            }
            RowUpdate::Modify(diffs) => {
                let old = self
                    .tables
                    .get(tname)
                    .and_then(|t| t.rows.get(&uuid))
                    .cloned()
                    .ok_or_else(|| proto(format!("{tname}: modify of missing row {uuid}")))?;
                let mut new = (*old).clone();
                let ts = self.schema.as_ref().and_then(|s| s.table(tname));
                let mut cols = BTreeSet::new();
                for (c, diff) in diffs {
                    let ty = ts
                        .and_then(|t| t.column(&c))
                        .map(|cs| &cs.ty)
                        .ok_or_else(|| proto(format!("{tname}: modify of unknown column {c}")))?;
                    let cur = new
                        .get_or_insert_with(&c, || Datum::default_for(ty))
                        .ok_or_else(|| proto(format!("{tname}: no place for column {c}")))?;
                    cur.apply_diff(diff, ty).map_err(|e| proto(format!("{tname} row {uuid} column {c}: {e}")))?;
                    if old.get(&c) != new.get(&c) {
                        cols.insert(c);
                    }
                }
                if !cols.is_empty() {
                    self.set_row(tname, uuid, new, cols);
                }
                Ok(())
            }
            RowUpdate::Delete => self.delete_row(tname, uuid),
        }
    }

    /// Fills in defaults for monitored columns an insert leaves out (update2 omits columns
    /// that hold their default value).
    fn complete_row(&self, tname: &str, mut cols: BTreeMap<String, Datum>) -> Row {
        if let Some(ts) = self.schema.as_ref().and_then(|s| s.table(tname)) {
            for (c, cs) in &ts.columns {
                if c.starts_with('_') || cols.contains_key(c) {
                    continue;
                }
                cols.insert(c.clone(), Datum::default_for(&cs.ty));
            }
        }
        let name = |c: String| self.names.get(&c).cloned().unwrap_or_else(|| Arc::from(c));
        Row::from_columns(cols.into_iter().map(|(c, d)| (name(c), d)))
    }

    fn insert_row(&mut self, tname: &str, uuid: Uuid, row: Row) {
        let row = Arc::new(row);
        for idx in self.indexes.iter_mut().filter(|i| i.table == tname) {
            idx.add(uuid, &row);
        }
        let tc = self.changes.tables.entry(tname.to_owned()).or_default();
        if let Some(old) = tc.deleted.remove(&uuid) {
            // Deleted then re-inserted since the last take: net effect is a modification.
            let cols = changed_columns(&old, &row);
            if !cols.is_empty() {
                tc.modified.insert(uuid, Modified { columns: cols, old });
            }
        } else {
            tc.inserted.insert(uuid);
        }
        self.tables.entry(tname.to_owned()).or_default().rows.insert(uuid, row);
    }

    fn set_row(&mut self, tname: &str, uuid: Uuid, new: Row, cols: BTreeSet<String>) {
        let new = Arc::new(new);
        let table = self.tables.entry(tname.to_owned()).or_default();
        let Some(old) = table.rows.insert(uuid, new.clone()) else {
            return;
        };
        for idx in self.indexes.iter_mut().filter(|i| i.table == tname) {
            idx.remove(uuid, &old);
            idx.add(uuid, &new);
        }
        let tc = self.changes.tables.entry(tname.to_owned()).or_default();
        if tc.inserted.contains(&uuid) {
            return;
        }
        tc.modified.entry(uuid).or_insert_with(|| Modified { columns: BTreeSet::new(), old }).columns.extend(cols);
    }

    fn delete_row(&mut self, tname: &str, uuid: Uuid) -> Result<()> {
        let old = self
            .tables
            .get_mut(tname)
            .and_then(|t| t.rows.remove(&uuid))
            .ok_or_else(|| proto(format!("{tname}: delete of missing row {uuid}")))?;
        for idx in self.indexes.iter_mut().filter(|i| i.table == tname) {
            idx.remove(uuid, &old);
        }
        let tc = self.changes.tables.entry(tname.to_owned()).or_default();
        if tc.inserted.remove(&uuid) {
            return Ok(());
        }
        let before = tc.modified.remove(&uuid).map(|m| m.old).unwrap_or(old);
        tc.deleted.insert(uuid, before);
        Ok(())
    }
}

fn changed_columns(old: &Row, new: &Row) -> BTreeSet<String> {
    old.column_names().chain(new.column_names()).filter(|c| old.get(c) != new.get(c)).map(String::from).collect()
}
