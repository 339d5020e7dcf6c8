//! Transaction operations (RFC 7047 section 5.2), conditions and mutations.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::datum::Datum;
use super::error::{proto, Error, Result};

/// Comparison function of a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    Lt,
    Le,
    Eq,
    Ne,
    Ge,
    Gt,
    Includes,
    Excludes,
}

impl Function {
    pub fn as_str(self) -> &'static str {
        match self {
            Function::Lt => "<",
            Function::Le => "<=",
            Function::Eq => "==",
            Function::Ne => "!=",
            Function::Ge => ">=",
            Function::Gt => ">",
            Function::Includes => "includes",
            Function::Excludes => "excludes",
        }
    }
}

/// One clause of a `where` (all clauses must hold). ovsdb-server also accepts the booleans
/// `true` / `false` in monitor conditions (match all / nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    Clause { column: String, function: Function, value: Datum },
    Bool(bool),
}

impl Condition {
    pub fn new(column: &str, function: Function, value: impl Into<Datum>) -> Condition {
        Condition::Clause { column: column.to_owned(), function, value: value.into() }
    }
    pub fn eq(column: &str, value: impl Into<Datum>) -> Condition {
        Condition::new(column, Function::Eq, value)
    }
    /// Matches the row with this UUID.
    pub fn uuid(uuid: Uuid) -> Condition {
        Condition::eq("_uuid", uuid)
    }
    pub fn to_json(&self) -> Value {
        match self {
            Condition::Clause { column, function, value } => json!([column, function.as_str(), value.to_json()]),
            Condition::Bool(b) => Value::Bool(*b),
        }
    }
}

pub fn conditions_to_json(conds: &[Condition]) -> Value {
    Value::Array(conds.iter().map(Condition::to_json).collect())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutator {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Insert,
    Delete,
}

impl Mutator {
    pub fn as_str(self) -> &'static str {
        match self {
            Mutator::Add => "+=",
            Mutator::Sub => "-=",
            Mutator::Mul => "*=",
            Mutator::Div => "/=",
            Mutator::Mod => "%=",
            Mutator::Insert => "insert",
            Mutator::Delete => "delete",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mutation {
    pub column: String,
    pub mutator: Mutator,
    pub value: Datum,
}

impl Mutation {
    pub fn new(column: &str, mutator: Mutator, value: impl Into<Datum>) -> Mutation {
        Mutation { column: column.to_owned(), mutator, value: value.into() }
    }
    fn to_json(&self) -> Value {
        json!([self.column, self.mutator.as_str(), self.value.to_json()])
    }
}

/// Column values of a row to insert or update.
pub type RowData = BTreeMap<String, Datum>;

fn row_json(row: &RowData) -> Value {
    Value::Object(row.iter().map(|(k, v)| (k.clone(), v.to_json())).collect::<Map<_, _>>())
}

/// One operation of a `transact` request.
#[derive(Clone, Debug, PartialEq)]
pub enum Operation {
    /// `uuid_name` lets later operations (and other rows) refer to the new row as
    /// `Atom::NamedUuid(name)`.
    Insert {
        table: String,
        row: RowData,
        uuid_name: Option<String>,
    },
    Select {
        table: String,
        conditions: Vec<Condition>,
        columns: Option<Vec<String>>,
    },
    Update {
        table: String,
        conditions: Vec<Condition>,
        row: RowData,
    },
    Mutate {
        table: String,
        conditions: Vec<Condition>,
        mutations: Vec<Mutation>,
    },
    Delete {
        table: String,
        conditions: Vec<Condition>,
    },
    /// Waits until the selected rows' `columns` equal (`until_equal`) or differ from `rows`;
    /// with `timeout_ms: Some(0)` it is an optimistic-concurrency check.
    Wait {
        table: String,
        conditions: Vec<Condition>,
        columns: Vec<String>,
        until_equal: bool,
        rows: Vec<RowData>,
        timeout_ms: Option<u64>,
    },
    Commit {
        durable: bool,
    },
    Abort,
    /// Text recorded in the database log (shown by `ovsdb-tool show-log`).
    Comment(String),
    Assert {
        lock: String,
    },
}

impl Operation {
    pub fn to_json(&self) -> Value {
        match self {
            Operation::Insert { table, row, uuid_name } => {
                let mut o = json!({"op": "insert", "table": table, "row": row_json(row)});
                if let Some(n) = uuid_name {
                    o["uuid-name"] = json!(n);
                }
                o
            }
            Operation::Select { table, conditions, columns } => {
                let mut o = json!({"op": "select", "table": table, "where": conditions_to_json(conditions)});
                if let Some(c) = columns {
                    o["columns"] = json!(c);
                }
                o
            }
            Operation::Update { table, conditions, row } => {
                json!({"op": "update", "table": table, "where": conditions_to_json(conditions),
                "row": row_json(row)})
            }
            Operation::Mutate { table, conditions, mutations } => {
                json!({"op": "mutate", "table": table, "where": conditions_to_json(conditions),
                "mutations": mutations.iter().map(Mutation::to_json).collect::<Vec<_>>()})
            }
            Operation::Delete { table, conditions } => {
                json!({"op": "delete", "table": table, "where": conditions_to_json(conditions)})
            }
            Operation::Wait { table, conditions, columns, until_equal, rows, timeout_ms } => {
                let mut o = json!({"op": "wait", "table": table,
                    "where": conditions_to_json(conditions), "columns": columns,
                    "until": if *until_equal { "==" } else { "!=" },
                    "rows": rows.iter().map(row_json).collect::<Vec<_>>()});
                if let Some(t) = timeout_ms {
                    o["timeout"] = json!(t);
                }
                o
            }
            Operation::Commit { durable } => json!({"op": "commit", "durable": durable}),
            Operation::Abort => json!({"op": "abort"}),
            Operation::Comment(c) => json!({"op": "comment", "comment": c}),
            Operation::Assert { lock } => json!({"op": "assert", "lock": lock}),
        }
    }
}

/// `transact` params: the database name followed by the operations.
pub fn transact_params(db: &str, ops: &[Operation]) -> Value {
    let mut v = vec![json!(db)];
    v.extend(ops.iter().map(Operation::to_json));
    Value::Array(v)
}

/// Result of one successful operation.
#[derive(Clone, Debug, PartialEq)]
pub enum OpResult {
    /// `insert`: the new row's UUID.
    Inserted(Uuid),
    /// `update`, `mutate`, `delete`: rows affected.
    Count(u64),
    /// `select`: the rows, untyped (parse with the schema when needed).
    Rows(Vec<Value>),
    /// Operations with an empty result (`wait`, `comment`, `commit`, ...).
    Empty,
}

/// Parses a `transact` reply. A failed operation (or a commit failure reported as an extra
/// trailing element) becomes [`Error::Transaction`]; the server rolled back everything.
pub fn parse_transact_reply(result: &Value, n_ops: usize) -> Result<Vec<OpResult>> {
    let arr = result.as_array().ok_or_else(|| proto("transact reply is not an array"))?;
    let mut out = Vec::with_capacity(arr.len());
    for (index, r) in arr.iter().enumerate() {
        let o = match r {
            Value::Object(o) => o,
            // Operations after a failed one get null.
            Value::Null => continue,
            _ => return Err(proto(format!("transact result {index} is not an object"))),
        };
        if let Some(e) = o.get("error").filter(|e| !e.is_null()) {
            return Err(Error::Transaction {
                index,
                error: e.as_str().map_or_else(|| e.to_string(), str::to_owned),
                details: o.get("details").and_then(Value::as_str).map(str::to_owned),
            });
        }
        let res = if let Some(u) = o.get("uuid") {
            match super::datum::Atom::from_json(u)? {
                super::datum::Atom::Uuid(u) => OpResult::Inserted(u),
                _ => return Err(proto(format!("transact result {index}: bad uuid"))),
            }
        } else if let Some(c) = o.get("count") {
            OpResult::Count(c.as_u64().ok_or_else(|| proto(format!("transact result {index}: bad count")))?)
        } else if let Some(rows) = o.get("rows") {
            OpResult::Rows(rows.as_array().cloned().ok_or_else(|| proto(format!("transact result {index}: bad rows")))?)
        } else {
            OpResult::Empty
        };
        out.push(res);
    }
    if out.len() < n_ops {
        return Err(proto(format!("transact reply has {} results for {n_ops} operations", out.len())));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::datum::Atom;

    #[test]
    fn operations_serialize_as_rfc7047() {
        let ops = vec![
            Operation::Insert {
                table: "Bridge".into(),
                row: RowData::from([("name".into(), Datum::from("br-int"))]),
                uuid_name: Some("br".into()),
            },
            Operation::Mutate {
                table: "Open_vSwitch".into(),
                conditions: vec![],
                mutations: vec![Mutation::new("bridges", Mutator::Insert, Datum::scalar(Atom::NamedUuid("br".into())))],
            },
            Operation::Wait {
                table: "Bridge".into(),
                conditions: vec![Condition::eq("name", "br-int")],
                columns: vec!["name".into()],
                until_equal: false,
                rows: vec![],
                timeout_ms: Some(0),
            },
            Operation::Comment("hi".into()),
        ];
        let p = transact_params("Open_vSwitch", &ops);
        assert_eq!(
            p,
            json!(["Open_vSwitch",
                {"op":"insert","table":"Bridge","row":{"name":"br-int"},"uuid-name":"br"},
                {"op":"mutate","table":"Open_vSwitch","where":[],
                 "mutations":[["bridges","insert",["named-uuid","br"]]]},
                {"op":"wait","table":"Bridge","where":[["name","==","br-int"]],"columns":["name"],
                 "until":"!=","rows":[],"timeout":0},
                {"op":"comment","comment":"hi"}])
        );
    }

    #[test]
    fn parses_results_and_errors() {
        let u = "6f2a8f35-2f5e-4d1e-9d5b-0b0a52d0f2e1";
        let r = parse_transact_reply(&json!([{"uuid": ["uuid", u]}, {"count": 2}, {}]), 3).unwrap();
        assert_eq!(r[0], OpResult::Inserted(Uuid::parse_str(u).unwrap()));
        assert_eq!(r[1], OpResult::Count(2));
        let e =
            parse_transact_reply(&json!([{"count": 1}, {"error": "constraint violation", "details": "x"}, null]), 3)
                .unwrap_err();
        assert!(matches!(e, Error::Transaction { index: 1, .. }));
        let e = parse_transact_reply(&json!([{}, {"error": "timed out"}]), 1).unwrap_err();
        assert!(matches!(e, Error::Transaction { index: 1, .. }));
        assert!(parse_transact_reply(&json!({}), 1).is_err());
        assert!(parse_transact_reply(&json!([]), 1).is_err());
    }
}
