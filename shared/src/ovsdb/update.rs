//! Table updates in the `update2` format (`monitor_cond` / `monitor_cond_since` replies and
//! `update2` / `update3` notifications), parsed against the schema.

use std::collections::BTreeMap;

use serde_json::Value;
use uuid::Uuid;

use super::datum::Datum;
use super::error::{proto, Result};
use super::schema::{DatabaseSchema, TableSchema};

/// What happened to one row.
#[derive(Clone, Debug, PartialEq)]
pub enum RowUpdate {
    /// A row present when the monitor started (full contents; absent columns have defaults).
    Initial(BTreeMap<String, Datum>),
    /// A row inserted later (full contents; absent columns have defaults).
    Insert(BTreeMap<String, Datum>),
    /// Changed columns only, each as a diff to apply with [`Datum::apply_diff`].
    Modify(BTreeMap<String, Datum>),
    Delete,
}

/// Updates for several tables, keyed by table name then row UUID.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TableUpdates {
    pub tables: BTreeMap<String, BTreeMap<Uuid, RowUpdate>>,
}

impl TableUpdates {
    pub fn is_empty(&self) -> bool {
        self.tables.values().all(BTreeMap::is_empty)
    }

    /// Number of row updates.
    pub fn len(&self) -> usize {
        self.tables.values().map(BTreeMap::len).sum()
    }

    /// Parses `<table-updates2>`. Anything that does not fit the schema is an error: the
    /// caller drops the connection rather than keep a replica it cannot trust.
    pub fn parse(v: &Value, schema: &DatabaseSchema) -> Result<TableUpdates> {
        let obj = v.as_object().ok_or_else(|| proto("table-updates is not an object"))?;
        let mut tables = BTreeMap::new();
        for (tname, tu) in obj {
            let ts = schema.table(tname).ok_or_else(|| proto(format!("update for unknown table {tname}")))?;
            let rows_obj = tu.as_object().ok_or_else(|| proto(format!("{tname}: table-update is not an object")))?;
            let mut rows = BTreeMap::new();
            for (uuid_s, ru) in rows_obj {
                let uuid = Uuid::parse_str(uuid_s).map_err(|_| proto(format!("{tname}: bad row uuid {uuid_s:?}")))?;
                let update = parse_row_update(ru, ts).map_err(|e| proto(format!("{tname} row {uuid}: {e}")))?;
                rows.insert(uuid, update);
            }
            tables.insert(tname.clone(), rows);
        }
        Ok(TableUpdates { tables })
    }
}

fn parse_row_update(v: &Value, ts: &TableSchema) -> Result<RowUpdate> {
    let o = v.as_object().ok_or_else(|| proto("row-update is not an object"))?;
    let mut it = o.iter();
    let (Some((kind, body)), None) = (it.next(), it.next()) else {
        return Err(proto("row-update must have exactly one member"));
    };
    match kind.as_str() {
        "delete" => Ok(RowUpdate::Delete),
        "initial" => Ok(RowUpdate::Initial(parse_row(body, ts, false)?)),
        "insert" => Ok(RowUpdate::Insert(parse_row(body, ts, false)?)),
        "modify" => Ok(RowUpdate::Modify(parse_row(body, ts, true)?)),
        _ => Err(proto(format!("unknown row-update kind {kind:?}"))),
    }
}

/// Parses a `<row>` object; `diff` rows may exceed the column's element count.
pub(crate) fn parse_row(v: &Value, ts: &TableSchema, diff: bool) -> Result<BTreeMap<String, Datum>> {
    let o = v.as_object().ok_or_else(|| proto("row is not an object"))?;
    let mut row = BTreeMap::new();
    for (cname, cv) in o {
        let col = ts.column(cname).ok_or_else(|| proto(format!("unknown column {cname}")))?;
        let d = if diff { Datum::from_json_typed_unchecked(cv, &col.ty) } else { Datum::from_json_typed(cv, &col.ty) }
            .map_err(|e| proto(format!("column {cname}: {e}")))?;
        row.insert(cname.clone(), d);
    }
    Ok(row)
}

/// `update3` notification params: `[monitor-id, last-txn-id, table-updates2]`.
pub fn parse_update3_params(params: &Value) -> Result<(&Value, Uuid, &Value)> {
    match params.as_array().map(Vec::as_slice) {
        Some([id, Value::String(txn), updates]) => {
            let txn = Uuid::parse_str(txn).map_err(|_| proto(format!("update3: bad txn id {txn:?}")))?;
            Ok((id, txn, updates))
        }
        _ => Err(proto("update3 params must be [id, txn-id, updates]")),
    }
}

/// `update2` notification params: `[monitor-id, table-updates2]`.
pub fn parse_update2_params(params: &Value) -> Result<(&Value, &Value)> {
    match params.as_array().map(Vec::as_slice) {
        Some([id, updates]) => Ok((id, updates)),
        _ => Err(proto("update2 params must be [id, updates]")),
    }
}

/// `monitor_cond_since` reply: `[found, last-txn-id, table-updates2]`.
pub fn parse_since_reply(result: &Value) -> Result<(bool, Uuid, &Value)> {
    match result.as_array().map(Vec::as_slice) {
        Some([Value::Bool(found), Value::String(txn), updates]) => {
            let txn = Uuid::parse_str(txn).map_err(|_| proto(format!("monitor_cond_since: bad txn id {txn:?}")))?;
            Ok((*found, txn, updates))
        }
        _ => Err(proto("monitor_cond_since reply must be [found, txn-id, updates]")),
    }
}
