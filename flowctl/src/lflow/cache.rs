//! The translation of each (logical flow, datapath) kept between computations, with what it
//! was computed from: the role of 23.03's lflow cache and its references from address sets,
//! port groups, ports and multicast groups to the flows that used them.
//!
//! Instead of a reverse index that change handlers walk, every lookup the compiler and the
//! encoder made is recorded with a hash of its answer ([`Dep`]); at the next computation an
//! entry is reused when its row is unchanged and every recorded lookup still gives the same
//! answer. A change to one address set, port or MAC binding thus recompiles exactly the
//! flows that looked at it, and no change handler can forget a dependency.

use std::cell::RefCell;
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use shared::openflow::{Action, Match};
use shared::ovsdb::Uuid;

use super::context::DatapathLookups;
use super::expr::{Lookups, Number};
use crate::flows::DesiredFlow;

/// One lookup made while translating a flow.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dep {
    AddressSet(String),
    PortGroup(String),
    /// A port or multicast group name in the match (`inport == "x"`), `"none"` included.
    MatchPort(String),
    Resident(String),
    /// A port name in the actions (`outport = "x"`).
    ActionPort(String),
    TunnelOfport(String),
    Collector(u32),
    /// (datapath key, port key) is related to this chassis.
    Related(u32, u32),
    /// The (datapath key, port key) of a port, by name (`in_out_port` tags).
    PortIds(String),
    /// The id of a group description, of a meter name.
    Group(String),
    Meter(String),
}

pub fn hash_of<T: Hash + ?Sized>(v: &T) -> u64 {
    let mut h = DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

pub fn hash_numbers(v: Option<&[Number]>) -> u64 {
    hash_of(&v.map(|s| s.iter().map(|n| (n.value, n.mask)).collect::<Vec<_>>()))
}

/// The lookups of one translation, in order.
#[derive(Default)]
pub struct Recorder {
    deps: RefCell<Vec<(Dep, u64)>>,
}

impl Recorder {
    pub fn record(&self, dep: Dep, value: u64) {
        self.deps.borrow_mut().push((dep, value));
    }

    pub fn take(self) -> Vec<(Dep, u64)> {
        let mut seen = HashSet::new();
        self.deps.into_inner().into_iter().filter(|d| seen.insert(d.clone())).collect()
    }
}

/// [`Lookups`] that records what the expression compiler asked.
pub struct Recording<'a> {
    pub inner: &'a DatapathLookups<'a>,
    pub rec: &'a Recorder,
}

impl Lookups for Recording<'_> {
    fn address_set(&self, name: &str) -> Option<&[Number]> {
        let r = self.inner.address_set(name);
        self.rec.record(Dep::AddressSet(name.to_string()), hash_numbers(r));
        r
    }
    fn port_group(&self, name: &str) -> Option<&[String]> {
        let r = self.inner.port_group(name);
        self.rec.record(Dep::PortGroup(name.to_string()), hash_of(&r));
        r
    }
    fn port_key(&self, name: &str) -> Option<u32> {
        let r = self.inner.port_key(name);
        self.rec.record(Dep::MatchPort(name.to_string()), hash_of(&r));
        r
    }
    fn is_chassis_resident(&self, port: &str) -> bool {
        let r = self.inner.is_chassis_resident(port);
        self.rec.record(Dep::Resident(port.to_string()), hash_of(&r));
        r
    }
}

/// What one (logical flow, datapath) translated to.
#[derive(Debug, Default)]
pub struct Entry {
    /// Hash of the flow's columns and of the datapath facts the translation read directly.
    pub row_hash: u64,
    pub deps: Vec<(Dep, u64)>,
    /// First conjunction id and count (0 = none).
    pub conj_start: u32,
    pub n_conjs: u32,
    /// Flows with the logical flow's actions.
    pub flows: Vec<DesiredFlow>,
    /// Conjunction actions per (table, priority, match), merged with other flows' on output.
    pub conj: Vec<(u8, u16, Match, Vec<Action>)>,
    /// Group descriptions and meter names the actions use.
    pub groups: Vec<String>,
    pub meters: Vec<String>,
}

/// Entries by (logical flow, datapath).
#[derive(Default)]
pub struct Cache {
    entries: HashMap<(Uuid, Uuid), Entry>,
    seen: HashSet<(Uuid, Uuid)>,
    /// Translations reused and made in the last computation.
    pub hits: u64,
    pub misses: u64,
}

impl Cache {
    pub fn begin(&mut self) {
        self.seen.clear();
        self.hits = 0;
        self.misses = 0;
    }

    pub fn get(&mut self, key: (Uuid, Uuid)) -> Option<&Entry> {
        self.seen.insert(key);
        self.entries.get(&key)
    }

    pub fn insert(&mut self, key: (Uuid, Uuid), entry: Entry) {
        self.seen.insert(key);
        self.entries.insert(key, entry);
    }

    /// Drops the entries of flows (or datapaths) the last computation did not see.
    pub fn end(&mut self) {
        let seen = &self.seen;
        self.entries.retain(|k, _| seen.contains(k));
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
}
