//! What to monitor: tables, columns and conditions (`monitor_cond` requests).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::error::{Error, Result};
use super::schema::DatabaseSchema;
use super::transact::{conditions_to_json, Condition};

/// Monitoring of one table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableMonitor {
    /// Columns to replicate; `None` means all columns of the schema.
    pub columns: Option<Vec<String>>,
    /// Initial condition; `None` means all rows. Change it later with
    /// [`Client::set_condition`](super::client::Client::set_condition).
    pub condition: Option<Vec<Condition>>,
}

/// Tables to monitor, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MonitorSpec {
    pub tables: BTreeMap<String, TableMonitor>,
}

impl MonitorSpec {
    pub fn new() -> MonitorSpec {
        MonitorSpec::default()
    }

    /// Adds a table, all columns, all rows.
    pub fn table(mut self, name: &str) -> Self {
        self.tables.insert(name.to_owned(), TableMonitor::default());
        self
    }

    /// Adds a table with the given columns, all rows.
    pub fn table_columns(mut self, name: &str, columns: &[&str]) -> Self {
        self.tables.insert(
            name.to_owned(),
            TableMonitor { columns: Some(columns.iter().map(|c| (*c).to_owned()).collect()), condition: None },
        );
        self
    }

    /// Adds a table with a condition.
    pub fn table_where(mut self, name: &str, condition: Vec<Condition>) -> Self {
        self.tables.entry(name.to_owned()).or_default().condition = Some(condition);
        self
    }

    /// `<monitor-cond-requests>` with the given per-table conditions.
    /// The schema cut down to the monitored tables and columns (plus `_uuid`), so that the
    /// replica fills defaults only for what it replicates and anything else the server sends
    /// counts as a schema violation.
    pub fn restrict(&self, schema: &DatabaseSchema) -> Result<DatabaseSchema> {
        let mut out = schema.clone();
        out.tables.retain(|t, _| self.tables.contains_key(t));
        for (name, tm) in &self.tables {
            let ts =
                out.tables.get_mut(name).ok_or_else(|| Error::Invalid(format!("table {name} is not in the schema")))?;
            match &tm.columns {
                Some(cols) => {
                    for c in cols {
                        if !ts.columns.contains_key(c) {
                            return Err(Error::Invalid(format!("column {name}.{c} is not in the schema")));
                        }
                    }
                    ts.columns.retain(|c, _| c == "_uuid" || cols.contains(c));
                }
                None => ts.columns.retain(|c, _| c != "_version"),
            }
        }
        Ok(out)
    }

    /// "All columns" is spelled out from the schema, leaving out `_version`, which changes
    /// with every write and which nobody needs.
    pub(crate) fn requests_json(&self, conds: &BTreeMap<String, Vec<Condition>>, schema: &DatabaseSchema) -> Value {
        let mut o = Map::new();
        for (name, tm) in &self.tables {
            let mut r = Map::new();
            match &tm.columns {
                Some(c) => {
                    r.insert("columns".into(), json!(c));
                }
                None => {
                    let cols: Vec<&String> = schema
                        .table(name)
                        .map(|t| t.columns.keys().filter(|c| !c.starts_with('_')).collect())
                        .unwrap_or_default();
                    r.insert("columns".into(), json!(cols));
                }
            }
            // An empty condition means all rows; leave "where" out then.
            if let Some(c) = conds.get(name).filter(|c| !c.is_empty()) {
                r.insert("where".into(), conditions_to_json(c));
            }
            o.insert(name.clone(), Value::Array(vec![Value::Object(r)]));
        }
        Value::Object(o)
    }
}
