//! The translation of each (logical flow, datapath) kept between computations, with what it
//! was computed from: the role of 23.03's lflow cache and its references from address sets,
//! port groups, ports and multicast groups to the flows that used them.
//!
//! Every lookup the compiler and the encoder made is recorded with a hash of its answer
//! ([`Dep`]), and indexed by the name it looked up ([`Name`]): a change to one address set,
//! port group or port finds the entries that looked at it through the index, and an entry is
//! reused when its row is unchanged and every recorded lookup still gives the same answer.
//! No change handler can forget a dependency: the recorder sees every lookup.

use std::cell::RefCell;
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use std::sync::Arc;

use shared::openflow::Action;
use shared::ovsdb::Uuid;

use super::context::DatapathLookups;
use super::expr::{Lookups, Number};
use crate::flows::{DesiredFlow, FlowKey};

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

/// What a change can be about: the name part of a [`Dep`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Name {
    AddressSet(String),
    PortGroup(String),
    /// A logical port or multicast group.
    Port(String),
    Related(u32, u32),
}

impl Dep {
    /// The name whose change may change this lookup's answer (`None`: answers that only
    /// the translator's own state gives, which it keeps stable).
    pub fn name(&self) -> Option<Name> {
        Some(match self {
            Dep::AddressSet(n) => Name::AddressSet(n.clone()),
            Dep::PortGroup(n) => Name::PortGroup(n.clone()),
            Dep::MatchPort(n) | Dep::Resident(n) | Dep::ActionPort(n) | Dep::TunnelOfport(n) | Dep::PortIds(n) => {
                Name::Port(n.clone())
            }
            Dep::Related(d, p) => Name::Related(*d, *p),
            Dep::Collector(_) | Dep::Group(_) | Dep::Meter(_) => return None,
        })
    }
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
    /// Conjunction actions per flow key, merged with other flows' on output.
    pub conj: Vec<(Arc<FlowKey>, Arc<[Action]>)>,
    /// Group descriptions and meter names the actions use.
    pub groups: Vec<String>,
    pub meters: Vec<String>,
}

pub type Key = (Uuid, Uuid);

/// Entries by (logical flow, datapath), with the indexes that find them from a change.
#[derive(Default)]
pub struct Cache {
    entries: HashMap<Key, Entry>,
    by_name: HashMap<Name, HashSet<Key>>,
    by_dp: HashMap<Uuid, HashSet<Key>>,
    /// The datapaths each logical flow has an entry for.
    by_lflow: HashMap<Uuid, Vec<Uuid>>,
    /// Translations reused and made in the last computation.
    pub hits: u64,
    pub misses: u64,
}

impl Cache {
    pub fn get(&self, key: Key) -> Option<&Entry> {
        self.entries.get(&key)
    }

    pub fn insert(&mut self, key: Key, entry: Entry) {
        if let Some(old) = self.entries.remove(&key) {
            self.unindex_names(key, &old);
        }
        for name in entry.deps.iter().filter_map(|(d, _)| d.name()) {
            self.by_name.entry(name).or_default().insert(key);
        }
        self.by_dp.entry(key.1).or_default().insert(key);
        let dps = self.by_lflow.entry(key.0).or_default();
        if !dps.contains(&key.1) {
            dps.push(key.1);
        }
        self.entries.insert(key, entry);
    }

    fn unindex_names(&mut self, key: Key, entry: &Entry) {
        for name in entry.deps.iter().filter_map(|(d, _)| d.name()) {
            if let Some(set) = self.by_name.get_mut(&name) {
                set.remove(&key);
                if set.is_empty() {
                    self.by_name.remove(&name);
                }
            }
        }
    }

    pub fn remove(&mut self, key: Key) -> Option<Entry> {
        let entry = self.entries.remove(&key)?;
        self.unindex_names(key, &entry);
        if let Some(set) = self.by_dp.get_mut(&key.1) {
            set.remove(&key);
            if set.is_empty() {
                self.by_dp.remove(&key.1);
            }
        }
        if let Some(dps) = self.by_lflow.get_mut(&key.0) {
            dps.retain(|d| *d != key.1);
            if dps.is_empty() {
                self.by_lflow.remove(&key.0);
            }
        }
        Some(entry)
    }

    /// The datapaths `lflow` has entries for.
    pub fn datapaths_of(&self, lflow: &Uuid) -> Vec<Uuid> {
        self.by_lflow.get(lflow).cloned().unwrap_or_default()
    }

    /// Every logical flow with an entry.
    pub fn lflows(&self) -> Vec<Uuid> {
        self.by_lflow.keys().copied().collect()
    }

    /// Logical flows with an entry that looked `name` up.
    pub fn lflows_using(&self, name: &Name) -> impl Iterator<Item = Uuid> + '_ {
        self.by_name.get(name).into_iter().flatten().map(|k| k.0)
    }

    /// Logical flows with an entry on datapath `dp`.
    pub fn lflows_on(&self, dp: &Uuid) -> impl Iterator<Item = Uuid> + '_ {
        self.by_dp.get(dp).into_iter().flatten().map(|k| k.0)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
}
