//! OVSDB atoms and datums (RFC 7047 section 5.1) and their JSON forms.
//!
//! A datum is always a set or a map; a scalar column holds a one-element set. On the wire a
//! one-element set is written as the bare atom (that is what ovsdb-server sends, and it accepts
//! both forms).

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

use serde_json::{json, Value};
use uuid::Uuid;

pub use super::atoms::{AtomMap, AtomSet};
use super::error::{proto, Result};
use super::schema::{AtomicType, BaseType, ColumnType};

/// One OVSDB atom.
#[derive(Clone, Debug)]
pub enum Atom {
    Integer(i64),
    Real(f64),
    Boolean(bool),
    String(String),
    Uuid(Uuid),
    /// A transaction-local name for a row inserted in the same transaction.
    NamedUuid(String),
}

impl Atom {
    fn rank(&self) -> u8 {
        match self {
            Atom::Integer(_) => 0,
            Atom::Real(_) => 1,
            Atom::Boolean(_) => 2,
            Atom::String(_) => 3,
            Atom::Uuid(_) => 4,
            Atom::NamedUuid(_) => 5,
        }
    }

    /// The atom's JSON form: strings, numbers and booleans bare, UUIDs tagged.
    pub fn to_json(&self) -> Value {
        match self {
            Atom::Integer(i) => json!(i),
            // Non-finite reals cannot be represented in JSON; OVSDB does not allow them either.
            Atom::Real(r) => serde_json::Number::from_f64(*r).map(Value::Number).unwrap_or(Value::Null),
            Atom::Boolean(b) => Value::Bool(*b),
            Atom::String(s) => Value::String(s.clone()),
            Atom::Uuid(u) => json!(["uuid", u.to_string()]),
            Atom::NamedUuid(n) => json!(["named-uuid", n]),
        }
    }

    /// Parses an atom without type information (numbers with a fraction or exponent are reals).
    pub fn from_json(v: &Value) -> Result<Atom> {
        match v {
            Value::Bool(b) => Ok(Atom::Boolean(*b)),
            Value::String(s) => Ok(Atom::String(s.clone())),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Ok(Atom::Integer(i))
                } else if let Some(f) = n.as_f64() {
                    Ok(Atom::Real(f))
                } else {
                    Err(proto(format!("number out of range: {n}")))
                }
            }
            Value::Array(a) => match (a.first().and_then(Value::as_str), a.get(1), a.len()) {
                (Some("uuid"), Some(Value::String(s)), 2) => {
                    Uuid::parse_str(s).map(Atom::Uuid).map_err(|_| proto(format!("bad uuid {s:?}")))
                }
                (Some("named-uuid"), Some(Value::String(s)), 2) => Ok(Atom::NamedUuid(s.clone())),
                _ => Err(proto(format!("not an atom: {v}"))),
            },
            _ => Err(proto(format!("not an atom: {v}"))),
        }
    }

    /// Parses an atom of a known type; integers are accepted where a real is expected
    /// (ovsdb-server prints 1.0 as `1`), and named-uuid where a uuid is expected.
    pub fn from_json_typed(v: &Value, ty: &BaseType) -> Result<Atom> {
        let atom = Atom::from_json(v)?;
        match (ty.atomic, atom) {
            (AtomicType::Integer, a @ Atom::Integer(_)) => Ok(a),
            (AtomicType::Real, Atom::Integer(i)) => Ok(Atom::Real(i as f64)),
            (AtomicType::Real, a @ Atom::Real(_)) => Ok(a),
            (AtomicType::Boolean, a @ Atom::Boolean(_)) => Ok(a),
            (AtomicType::String, a @ Atom::String(_)) => Ok(a),
            (AtomicType::Uuid, a @ (Atom::Uuid(_) | Atom::NamedUuid(_))) => Ok(a),
            (t, a) => Err(proto(format!("expected {t:?}, got {}", a.to_json()))),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Atom::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_uuid(&self) -> Option<Uuid> {
        match self {
            Atom::Uuid(u) => Some(*u),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Atom::Integer(i) => Some(*i),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Atom::Real(r) => Some(*r),
            Atom::Integer(i) => Some(*i as f64),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Atom::Boolean(b) => Some(*b),
            _ => None,
        }
    }
}

// Total order (reals by `total_cmp`) so atoms can live in sorted sets and index keys.
impl Ord for Atom {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Atom::Integer(a), Atom::Integer(b)) => a.cmp(b),
            (Atom::Real(a), Atom::Real(b)) => a.total_cmp(b),
            (Atom::Boolean(a), Atom::Boolean(b)) => a.cmp(b),
            (Atom::String(a), Atom::String(b)) => a.cmp(b),
            (Atom::Uuid(a), Atom::Uuid(b)) => a.cmp(b),
            (Atom::NamedUuid(a), Atom::NamedUuid(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}
impl PartialOrd for Atom {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Atom {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Atom {}
impl Hash for Atom {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.rank().hash(state);
        match self {
            Atom::Integer(i) => i.hash(state),
            Atom::Real(r) => r.to_bits().hash(state),
            Atom::Boolean(b) => b.hash(state),
            Atom::String(s) | Atom::NamedUuid(s) => s.hash(state),
            Atom::Uuid(u) => u.hash(state),
        }
    }
}

impl From<&str> for Atom {
    fn from(s: &str) -> Self {
        Atom::String(s.to_owned())
    }
}
impl From<String> for Atom {
    fn from(s: String) -> Self {
        Atom::String(s)
    }
}
impl From<i64> for Atom {
    fn from(i: i64) -> Self {
        Atom::Integer(i)
    }
}
impl From<bool> for Atom {
    fn from(b: bool) -> Self {
        Atom::Boolean(b)
    }
}
impl From<f64> for Atom {
    fn from(r: f64) -> Self {
        Atom::Real(r)
    }
}
impl From<Uuid> for Atom {
    fn from(u: Uuid) -> Self {
        Atom::Uuid(u)
    }
}

/// A column value: a set of atoms (a scalar is a one-element set) or a map.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Datum {
    Set(AtomSet),
    Map(AtomMap),
}

impl Default for Datum {
    fn default() -> Self {
        Datum::Set(AtomSet::new())
    }
}

impl<A: Into<Atom>> From<A> for Datum {
    fn from(a: A) -> Self {
        Datum::scalar(a)
    }
}

impl Datum {
    /// A one-element set.
    pub fn scalar(a: impl Into<Atom>) -> Datum {
        Datum::Set(AtomSet::from_iter([a.into()]))
    }
    pub fn empty_set() -> Datum {
        Datum::Set(AtomSet::new())
    }
    pub fn empty_map() -> Datum {
        Datum::Map(AtomMap::new())
    }
    pub fn set<A: Into<Atom>>(items: impl IntoIterator<Item = A>) -> Datum {
        Datum::Set(items.into_iter().map(Into::into).collect())
    }
    pub fn map<K: Into<Atom>, V: Into<Atom>>(items: impl IntoIterator<Item = (K, V)>) -> Datum {
        Datum::Map(items.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
    /// The default value of a column type (RFC 7047 5.1: empty, or the type's zero atom).
    pub fn default_for(ty: &ColumnType) -> Datum {
        if ty.min == 0 {
            return if ty.value.is_some() { Datum::empty_map() } else { Datum::empty_set() };
        }
        let zero = |b: &BaseType| match b.atomic {
            AtomicType::Integer => Atom::Integer(0),
            AtomicType::Real => Atom::Real(0.0),
            AtomicType::Boolean => Atom::Boolean(false),
            AtomicType::String => Atom::String(String::new()),
            AtomicType::Uuid => Atom::Uuid(Uuid::nil()),
        };
        match &ty.value {
            Some(v) => Datum::Map(AtomMap::from_iter([(zero(&ty.key), zero(v))])),
            None => Datum::scalar(zero(&ty.key)),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Datum::Set(s) => s.len(),
            Datum::Map(m) => m.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The only atom of a one-element set (scalar columns, optional columns when present).
    pub fn as_atom(&self) -> Option<&Atom> {
        match self {
            Datum::Set(s) if s.len() == 1 => s.iter().next(),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        self.as_atom().and_then(Atom::as_str)
    }
    pub fn as_uuid(&self) -> Option<Uuid> {
        self.as_atom().and_then(Atom::as_uuid)
    }
    pub fn as_i64(&self) -> Option<i64> {
        self.as_atom().and_then(Atom::as_i64)
    }
    pub fn as_f64(&self) -> Option<f64> {
        self.as_atom().and_then(Atom::as_f64)
    }
    pub fn as_bool(&self) -> Option<bool> {
        self.as_atom().and_then(Atom::as_bool)
    }
    pub fn as_set(&self) -> Option<&AtomSet> {
        match self {
            Datum::Set(s) => Some(s),
            Datum::Map(_) => None,
        }
    }
    /// Map contents; an empty set also reads as an empty map, since untyped JSON cannot tell.
    pub fn as_map(&self) -> Option<&AtomMap> {
        static EMPTY: AtomMap = AtomMap::new();
        match self {
            Datum::Map(m) => Some(m),
            Datum::Set(s) if s.is_empty() => Some(&EMPTY),
            Datum::Set(_) => None,
        }
    }
    /// Looks up a string key in a map column.
    pub fn map_get(&self, key: &str) -> Option<&Atom> {
        match self {
            Datum::Map(m) => m.get_str(key),
            Datum::Set(_) => None,
        }
    }
    /// Looks up a string key whose value is a string (e.g. `external_ids:system-id`).
    pub fn map_get_str(&self, key: &str) -> Option<&str> {
        self.map_get(key).and_then(Atom::as_str)
    }
    /// Iterates over a set's atoms (also a scalar's single atom).
    pub fn iter_set(&self) -> impl Iterator<Item = &Atom> {
        self.as_set().into_iter().flatten()
    }

    pub fn to_json(&self) -> Value {
        match self {
            Datum::Set(s) if s.len() == 1 => s.iter().next().map(Atom::to_json).unwrap_or_default(),
            Datum::Set(s) => json!(["set", s.iter().map(Atom::to_json).collect::<Vec<_>>()]),
            Datum::Map(m) => {
                json!(["map", m.iter().map(|(k, v)| json!([k.to_json(), v.to_json()])).collect::<Vec<_>>()])
            }
        }
    }

    /// Parses a datum without type information.
    pub fn from_json(v: &Value) -> Result<Datum> {
        if let Value::Array(a) = v {
            match (a.first().and_then(Value::as_str), a.get(1), a.len()) {
                (Some("set"), Some(Value::Array(items)), 2) => {
                    return items.iter().map(Atom::from_json).collect::<Result<AtomSet>>().map(Datum::Set);
                }
                (Some("map"), Some(Value::Array(pairs)), 2) => {
                    let mut m = Vec::with_capacity(pairs.len());
                    for p in pairs {
                        match p.as_array().map(Vec::as_slice) {
                            Some([k, v]) => m.push((Atom::from_json(k)?, Atom::from_json(v)?)),
                            _ => return Err(proto(format!("bad map pair: {p}"))),
                        }
                    }
                    return Ok(Datum::Map(m.into_iter().collect()));
                }
                _ => {}
            }
        }
        Atom::from_json(v).map(Datum::scalar)
    }

    /// Parses a datum of a known column type and checks the element count against the type.
    pub fn from_json_typed(v: &Value, ty: &ColumnType) -> Result<Datum> {
        let d = Self::from_json_typed_unchecked(v, ty)?;
        ty.check_count(d.len())?;
        Ok(d)
    }

    /// Like [`from_json_typed`](Self::from_json_typed) without the count check: update2 diffs
    /// may hold more elements than the column allows (old and new values of a set).
    pub fn from_json_typed_unchecked(v: &Value, ty: &ColumnType) -> Result<Datum> {
        let arr = v.as_array().map(Vec::as_slice);
        match &ty.value {
            Some(vt) => match arr {
                Some([Value::String(tag), Value::Array(pairs)]) if tag == "map" => {
                    let mut m = Vec::with_capacity(pairs.len());
                    for p in pairs {
                        match p.as_array().map(Vec::as_slice) {
                            Some([k, val]) => {
                                m.push((Atom::from_json_typed(k, &ty.key)?, Atom::from_json_typed(val, vt)?))
                            }
                            _ => return Err(proto(format!("bad map pair: {p}"))),
                        }
                    }
                    Ok(Datum::Map(m.into_iter().collect()))
                }
                _ => Err(proto(format!("expected a map, got {v}"))),
            },
            None => match arr {
                Some([Value::String(tag), Value::Array(items)]) if tag == "set" => {
                    items.iter().map(|a| Atom::from_json_typed(a, &ty.key)).collect::<Result<AtomSet>>().map(Datum::Set)
                }
                _ => Atom::from_json_typed(v, &ty.key).map(Datum::scalar),
            },
        }
    }

    /// Applies an update2 "modify" diff for a column of type `ty` (ovsdb_datum_apply_diff):
    /// a column holding at most one value is replaced; a set is toggled element by element
    /// (symmetric difference); a map adds absent keys, removes keys whose value matches and
    /// replaces keys whose value differs.
    pub fn apply_diff(&mut self, diff: Datum, ty: &ColumnType) -> Result<()> {
        if !ty.is_composite() {
            *self = diff;
            return Ok(());
        }
        match (&mut *self, diff) {
            (Datum::Set(old), Datum::Set(d)) if d.len() <= 8 => {
                for a in d {
                    if !old.remove(&a) {
                        old.insert(a);
                    }
                }
            }
            // Many toggles at once (a big set rewritten): one merge instead of a shift each.
            (Datum::Set(old), Datum::Set(d)) => *old = old.symmetric_difference(&d).cloned().collect(),
            (Datum::Map(old), Datum::Map(d)) => {
                for (k, v) in d {
                    match old.get(&k) {
                        Some(ov) if *ov == v => {
                            old.remove(&k);
                        }
                        _ => {
                            old.insert(k, v);
                        }
                    }
                }
            }
            // Untyped empty set vs. typed map: treat as empty map.
            (Datum::Set(old), Datum::Map(d)) if old.is_empty() => *self = Datum::Map(d),
            (Datum::Map(_), Datum::Set(d)) if d.is_empty() => {}
            _ => return Err(proto("diff kind does not match column kind")),
        }
        ty.check_count(self.len())
    }

    /// The update2 diff that turns `old` into `new` (inverse of [`apply_diff`](Self::apply_diff)).
    pub fn diff(old: &Datum, new: &Datum, ty: &ColumnType) -> Datum {
        if !ty.is_composite() {
            return new.clone();
        }
        match (old, new) {
            (Datum::Set(a), Datum::Set(b)) => Datum::Set(a.symmetric_difference(b).cloned().collect()),
            (Datum::Map(a), Datum::Map(b)) => {
                let gone = a.iter().filter(|(k, _)| !b.contains_key(k));
                let changed = b.iter().filter(|(k, v)| a.get(k) != Some(*v));
                Datum::Map(gone.chain(changed).map(|(k, v)| (k.clone(), v.clone())).collect())
            }
            _ => new.clone(),
        }
    }
}

impl serde::Serialize for Datum {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}
impl<'de> serde::Deserialize<'de> for Datum {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Datum::from_json(&v).map_err(serde::de::Error::custom)
    }
}
impl serde::Serialize for Atom {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}
impl<'de> serde::Deserialize<'de> for Atom {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Atom::from_json(&v).map_err(serde::de::Error::custom)
    }
}
