//! Database schemas as returned by `get_schema` (RFC 7047 section 3.2).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::error::{proto, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtomicType {
    Integer,
    Real,
    Boolean,
    String,
    Uuid,
}

impl AtomicType {
    fn parse(s: &str) -> Result<AtomicType> {
        Ok(match s {
            "integer" => AtomicType::Integer,
            "real" => AtomicType::Real,
            "boolean" => AtomicType::Boolean,
            "string" => AtomicType::String,
            "uuid" => AtomicType::Uuid,
            _ => return Err(proto(format!("unknown atomic type {s:?}"))),
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefType {
    Strong,
    Weak,
}

/// The type of a key or value: an atomic type plus, for UUIDs, the table it refers to.
/// Value constraints (enum, min/max) are the server's business and are not kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseType {
    pub atomic: AtomicType,
    pub ref_table: Option<String>,
    pub ref_type: RefType,
}

impl BaseType {
    pub fn new(atomic: AtomicType) -> BaseType {
        BaseType { atomic, ref_table: None, ref_type: RefType::Strong }
    }

    fn parse(v: &Value) -> Result<BaseType> {
        match v {
            Value::String(s) => Ok(BaseType::new(AtomicType::parse(s)?)),
            Value::Object(o) => {
                let atomic = AtomicType::parse(
                    o.get("type").and_then(Value::as_str).ok_or_else(|| proto("base type without \"type\""))?,
                )?;
                let ref_table = o.get("refTable").and_then(Value::as_str).map(str::to_owned);
                let ref_type = match o.get("refType").and_then(Value::as_str) {
                    Some("weak") => RefType::Weak,
                    _ => RefType::Strong,
                };
                Ok(BaseType { atomic, ref_table, ref_type })
            }
            _ => Err(proto(format!("bad base type {v}"))),
        }
    }
}

/// A column type: key (and value, for maps) plus element count bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnType {
    pub key: BaseType,
    pub value: Option<BaseType>,
    pub min: u64,
    /// `None` means "unlimited".
    pub max: Option<u64>,
}

impl ColumnType {
    /// A scalar column of the given atomic type (exactly one value).
    pub fn scalar(atomic: AtomicType) -> ColumnType {
        ColumnType { key: BaseType::new(atomic), value: None, min: 1, max: Some(1) }
    }

    pub fn parse(v: &Value) -> Result<ColumnType> {
        match v {
            Value::String(_) => Ok(ColumnType { key: BaseType::parse(v)?, value: None, min: 1, max: Some(1) }),
            Value::Object(o) => {
                let key = BaseType::parse(o.get("key").ok_or_else(|| proto("type without key"))?)?;
                let value = o.get("value").map(BaseType::parse).transpose()?;
                let min = match o.get("min") {
                    None => 1,
                    Some(m) => m.as_u64().ok_or_else(|| proto(format!("bad min {m}")))?,
                };
                let max = match o.get("max") {
                    None => Some(1),
                    Some(Value::String(s)) if s == "unlimited" => None,
                    Some(m) => Some(m.as_u64().ok_or_else(|| proto(format!("bad max {m}")))?),
                };
                if min > 1 || max == Some(0) || max.is_some_and(|m| m < min) {
                    return Err(proto(format!("bad min/max in type {v}")));
                }
                Ok(ColumnType { key, value, min, max })
            }
            _ => Err(proto(format!("bad column type {v}"))),
        }
    }

    pub fn is_map(&self) -> bool {
        self.value.is_some()
    }

    /// More than one element allowed: update2 sends diffs rather than new values.
    pub fn is_composite(&self) -> bool {
        self.max != Some(1)
    }

    pub fn check_count(&self, n: usize) -> Result<()> {
        let n = n as u64;
        if n < self.min || self.max.is_some_and(|m| n > m) {
            return Err(proto(format!(
                "{n} elements where the type allows {}..{}",
                self.min,
                self.max.map_or("unlimited".to_owned(), |m| m.to_string())
            )));
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnSchema {
    pub name: String,
    pub ty: ColumnType,
    pub ephemeral: bool,
    pub mutable: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSchema {
    pub name: String,
    /// Includes the implicit `_uuid` and `_version` columns.
    pub columns: BTreeMap<String, ColumnSchema>,
    pub is_root: bool,
    pub max_rows: Option<u64>,
    pub indexes: Vec<Vec<String>>,
}

impl TableSchema {
    pub fn column(&self, name: &str) -> Option<&ColumnSchema> {
        self.columns.get(name)
    }

    fn parse(name: &str, v: &Value) -> Result<TableSchema> {
        let o = v.as_object().ok_or_else(|| proto(format!("table {name}: not an object")))?;
        let cols =
            o.get("columns").and_then(Value::as_object).ok_or_else(|| proto(format!("table {name}: no columns")))?;
        let mut columns = BTreeMap::new();
        for (cname, cv) in cols {
            let co = cv.as_object().ok_or_else(|| proto(format!("column {name}.{cname}: not an object")))?;
            let ty = ColumnType::parse(co.get("type").ok_or_else(|| proto(format!("column {name}.{cname}: no type")))?)
                .map_err(|e| proto(format!("column {name}.{cname}: {e}")))?;
            columns.insert(
                cname.clone(),
                ColumnSchema {
                    name: cname.clone(),
                    ty,
                    ephemeral: co.get("ephemeral").and_then(Value::as_bool).unwrap_or(false),
                    mutable: co.get("mutable").and_then(Value::as_bool).unwrap_or(true),
                },
            );
        }
        for implicit in ["_uuid", "_version"] {
            columns.insert(
                implicit.to_owned(),
                ColumnSchema {
                    name: implicit.to_owned(),
                    ty: ColumnType::scalar(AtomicType::Uuid),
                    ephemeral: false,
                    mutable: false,
                },
            );
        }
        let indexes = match o.get("indexes").and_then(Value::as_array) {
            Some(ix) => ix
                .iter()
                .map(|i| {
                    i.as_array()
                        .map(|cols| cols.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                        .ok_or_else(|| proto(format!("table {name}: bad index {i}")))
                })
                .collect::<Result<Vec<Vec<String>>>>()?,
            None => Vec::new(),
        };
        Ok(TableSchema {
            name: name.to_owned(),
            columns,
            is_root: o.get("isRoot").and_then(Value::as_bool).unwrap_or(false),
            max_rows: o.get("maxRows").and_then(Value::as_u64),
            indexes,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatabaseSchema {
    pub name: String,
    pub version: String,
    pub tables: BTreeMap<String, TableSchema>,
    /// The JSON as received, e.g. to compare with the `_Server` copy.
    pub raw: Value,
}

impl DatabaseSchema {
    pub fn parse(v: &Value) -> Result<DatabaseSchema> {
        let o: &Map<String, Value> = v.as_object().ok_or_else(|| proto("schema is not an object"))?;
        let name = o.get("name").and_then(Value::as_str).ok_or_else(|| proto("schema without name"))?.to_owned();
        let version = o.get("version").and_then(Value::as_str).unwrap_or_default().to_owned();
        let mut tables = BTreeMap::new();
        for (tname, tv) in o.get("tables").and_then(Value::as_object).ok_or_else(|| proto("schema without tables"))? {
            tables.insert(tname.clone(), TableSchema::parse(tname, tv)?);
        }
        Ok(DatabaseSchema { name, version, tables, raw: v.clone() })
    }

    pub fn parse_str(s: &str) -> Result<DatabaseSchema> {
        let v: Value = serde_json::from_str(s).map_err(|e| super::error::Error::Json(e.to_string()))?;
        Self::parse(&v)
    }

    pub fn table(&self, name: &str) -> Option<&TableSchema> {
        self.tables.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_installed_schemas() {
        for path in ["/usr/share/openvswitch/vswitch.ovsschema", "/usr/share/ovn/ovn-sb.ovsschema"] {
            let Ok(text) = std::fs::read_to_string(path) else {
                continue; // Packages not installed: covered by the integration tests' setup.
            };
            let s = DatabaseSchema::parse_str(&text).unwrap();
            assert!(!s.tables.is_empty());
        }
    }

    #[test]
    fn column_types() {
        let t = ColumnType::parse(&serde_json::json!({"key": "string", "value": "string",
            "min": 0, "max": "unlimited"}))
        .unwrap();
        assert!(t.is_map() && t.is_composite() && t.max.is_none());
        let t = ColumnType::parse(&serde_json::json!({"key": {"type": "uuid",
            "refTable": "Chassis", "refType": "weak"}, "min": 0, "max": 1}))
        .unwrap();
        assert!(!t.is_composite());
        assert_eq!(t.key.ref_type, RefType::Weak);
        assert!(ColumnType::parse(&serde_json::json!({"key": "string", "min": 2})).is_err());
        assert!(ColumnType::parse(&serde_json::json!("float")).is_err());
    }
}
