//! The desired flow table, kept between computations: each builder (and each translated
//! logical flow on each datapath) contributes flows, and what changed since the installer was
//! last told is handed over as a delta. A change thus costs what it touches, not the size of
//! the table (23.03's `ovn_desired_flow_table` with its per-flow references to SB rows).
//!
//! One key may be wanted by several sources. The flow installed is decided by source order,
//! not by the order of arrival, so that an incremental computation and a full one agree: the
//! first source's flow, or, when the first source only adds `conjunction()` actions, the
//! conjunction actions of every source merged (23.03's `ofctrl_add_or_append_flow`).

use std::collections::BTreeMap;
use std::sync::Arc;

use shared::openflow::Action;
use shared::ovsdb::Uuid;

use crate::flows::{DesiredFlow, DesiredGroup, DesiredMeter, DesiredState, FlowBody, FlowKey, FxBuild};

type HashMap<K, V> = std::collections::HashMap<K, V, FxBuild>;
type HashSet<K> = std::collections::HashSet<K, FxBuild>;

/// Who wants a flow. Ordered: earlier sources win a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    Physical,
    /// A logical flow on one datapath.
    Lflow(Uuid, Uuid),
    /// One of the other lflow.c builders (neighbor, FDB, port security, LB hairpin).
    Builder(u8),
}

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Flow(Arc<FlowBody>),
    Conj(Arc<[Action]>),
}

#[derive(Default)]
struct Slot {
    /// Sorted by source, one part per source.
    parts: Vec<(Source, Part)>,
    /// The flow last handed to the installer for this key.
    sent: Option<Arc<FlowBody>>,
}

impl Slot {
    fn effective(&self) -> Option<Arc<FlowBody>> {
        match &self.parts.first()?.1 {
            Part::Flow(b) => Some(Arc::clone(b)),
            Part::Conj(_) => {
                let mut actions: Vec<Action> = Vec::new();
                for a in self.parts.iter().filter_map(|(_, p)| match p {
                    Part::Conj(c) => Some(c.iter()),
                    Part::Flow(_) => None,
                }) {
                    for a in a {
                        if !actions.contains(a) {
                            actions.push(a.clone());
                        }
                    }
                }
                Some(Arc::new(FlowBody { cookie: 0, actions }))
            }
        }
    }
}

/// A conjunction-only flow of one source: its key and `conjunction()` actions.
pub type ConjPart = (Arc<FlowKey>, Arc<[Action]>);

/// A flow change for the installer: the key and its new body, `None` to delete.
pub type FlowChange = (Arc<FlowKey>, Option<Arc<FlowBody>>);

#[derive(Default)]
pub struct DesiredTable {
    slots: HashMap<Arc<FlowKey>, Slot>,
    dirty: HashSet<Arc<FlowKey>>,
    /// What each builder source contributed last time, to diff its next output against.
    builders: HashMap<Source, HashMap<Arc<FlowKey>, Arc<FlowBody>>>,
}

impl DesiredTable {
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    fn add_part(&mut self, key: &Arc<FlowKey>, source: Source, part: Part) {
        let slot = self.slots.entry(Arc::clone(key)).or_default();
        match slot.parts.binary_search_by(|(s, _)| s.cmp(&source)) {
            Ok(i) => {
                if let Some(p) = slot.parts.get_mut(i) {
                    p.1 = part;
                }
            }
            Err(i) => {
                // Most keys have one source: no room for four (Vec's first growth).
                slot.parts.reserve_exact(1);
                slot.parts.insert(i, (source, part));
            }
        }
        self.dirty.insert(Arc::clone(key));
    }

    fn remove_part(&mut self, key: &Arc<FlowKey>, source: Source) {
        if let Some(slot) = self.slots.get_mut(key) {
            if let Ok(i) = slot.parts.binary_search_by(|(s, _)| s.cmp(&source)) {
                slot.parts.remove(i);
                self.dirty.insert(Arc::clone(key));
            }
        }
    }

    /// Adds what one source wants: flows with their actions and conjunction-only flows.
    pub fn add(&mut self, source: Source, flows: &[DesiredFlow], conj: &[ConjPart]) {
        for f in flows {
            self.add_part(&f.key, source, Part::Flow(Arc::clone(&f.body)));
        }
        for (k, c) in conj {
            self.add_part(k, source, Part::Conj(Arc::clone(c)));
        }
    }

    /// Replaces what `source` added (`old`) by `new`, touching only the keys whose part
    /// differs; the new flows' keys and bodies are pointed at the old ones where equal, so
    /// that an unchanged flow stays one allocation.
    pub fn replace(
        &mut self,
        source: Source,
        old: (&[DesiredFlow], &[ConjPart]),
        new: (&mut [DesiredFlow], &mut [ConjPart]),
    ) {
        let mut before: HashMap<Arc<FlowKey>, Part> = HashMap::default();
        before.reserve(old.0.len() + old.1.len());
        for f in old.0 {
            before.insert(Arc::clone(&f.key), Part::Flow(Arc::clone(&f.body)));
        }
        for (k, c) in old.1 {
            before.insert(Arc::clone(k), Part::Conj(Arc::clone(c)));
        }
        for f in new.0.iter_mut() {
            match before.remove_entry(&f.key) {
                Some((k, Part::Flow(b))) if b == f.body => {
                    (f.key, f.body) = (k, b);
                }
                _ => self.add_part(&f.key, source, Part::Flow(Arc::clone(&f.body))),
            }
        }
        for (key, c) in new.1.iter_mut() {
            match before.remove_entry(&*key) {
                Some((k, Part::Conj(old_c))) if old_c == *c => {
                    (*key, *c) = (k, old_c);
                }
                _ => self.add_part(key, source, Part::Conj(Arc::clone(c))),
            }
        }
        for k in before.into_keys() {
            self.remove_part(&k, source);
        }
    }

    /// Withdraws what [`DesiredTable::add`] added for the same source.
    pub fn remove(&mut self, source: Source, flows: &[DesiredFlow], conj: &[ConjPart]) {
        for k in flows.iter().map(|f| &f.key).chain(conj.iter().map(|(k, _)| k)) {
            self.remove_part(k, source);
        }
    }

    /// Replaces everything a builder source wants (the first flow of a key wins within it).
    pub fn replace_builder(&mut self, source: Source, flows: Vec<DesiredFlow>) {
        let old = self.builders.remove(&source).unwrap_or_default();
        let mut new: HashMap<Arc<FlowKey>, Arc<FlowBody>> = HashMap::default();
        new.reserve(flows.len());
        for f in flows {
            new.entry(f.key).or_insert(f.body);
        }
        for (k, b) in &old {
            if !new.get(k).is_some_and(|n| Arc::ptr_eq(n, b) || n == b) {
                self.remove_part(k, source);
            }
        }
        for (k, b) in &new {
            if !old.get(k).is_some_and(|o| Arc::ptr_eq(o, b) || o == b) {
                self.add_part(k, source, Part::Flow(Arc::clone(b)));
            }
        }
        self.builders.insert(source, new);
    }

    /// The flows that changed since the last call, as the installer should apply them.
    pub fn take_changes(&mut self) -> Vec<FlowChange> {
        let mut out = Vec::new();
        for key in std::mem::take(&mut self.dirty) {
            let Some(slot) = self.slots.get_mut(&key) else { continue };
            let now = slot.effective();
            if now != slot.sent {
                slot.sent.clone_from(&now);
                out.push((Arc::clone(&key), now));
            }
            if slot.parts.is_empty() {
                self.slots.remove(&key);
            }
        }
        out
    }

    /// The whole table as last handed over (for an installer that starts from nothing).
    pub fn snapshot(&self, groups: BTreeMap<u32, DesiredGroup>, meters: BTreeMap<u32, DesiredMeter>) -> DesiredState {
        let flows = self
            .slots
            .iter()
            .filter_map(|(k, s)| Some(DesiredFlow { key: Arc::clone(k), body: Arc::clone(s.sent.as_ref()?) }))
            .collect();
        DesiredState { flows, groups, meters }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::openflow::Match;

    fn flow(table: u8, cookie: u64) -> DesiredFlow {
        DesiredFlow::new(
            table,
            100,
            Match::default(),
            cookie,
            vec![Action::Resubmit { in_port: 0xfff8, table: 9, ct: false }],
        )
    }

    fn uuid(n: u8) -> Uuid {
        Uuid::from_bytes([n; 16])
    }

    #[test]
    fn first_source_wins_whatever_the_order_of_arrival() {
        let (a, b) = (flow(10, 1), flow(10, 2));
        let mut t = DesiredTable::default();
        t.add(Source::Lflow(uuid(2), uuid(0)), std::slice::from_ref(&b), &[]);
        t.add(Source::Lflow(uuid(1), uuid(0)), std::slice::from_ref(&a), &[]);
        let changes = t.take_changes();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].1.as_ref().map(|b| b.cookie), Some(1));
        t.remove(Source::Lflow(uuid(1), uuid(0)), &[a], &[]);
        assert_eq!(t.take_changes()[0].1.as_ref().map(|b| b.cookie), Some(2));
        t.remove(Source::Lflow(uuid(2), uuid(0)), &[b], &[]);
        assert_eq!(t.take_changes()[0].1, None);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn conjunctions_merge_and_unmerge() {
        let key = Arc::clone(&flow(10, 0).key);
        let c = |id| -> Arc<[Action]> { Arc::from(vec![Action::Conjunction { id, clause: 0, n_clauses: 2 }]) };
        let mut t = DesiredTable::default();
        t.add(Source::Lflow(uuid(1), uuid(0)), &[], &[(Arc::clone(&key), c(5))]);
        t.add(Source::Lflow(uuid(2), uuid(0)), &[], &[(Arc::clone(&key), c(7))]);
        let ch = t.take_changes();
        assert_eq!(ch[0].1.as_ref().map(|b| b.actions.len()), Some(2));
        t.remove(Source::Lflow(uuid(1), uuid(0)), &[], &[(Arc::clone(&key), c(5))]);
        assert_eq!(t.take_changes()[0].1.as_ref().map(|b| b.actions.clone()), Some(c(7).to_vec()));
    }

    #[test]
    fn replace_touches_only_what_differs_and_shares_what_is_equal() {
        let src = Source::Lflow(uuid(1), uuid(0));
        let old = vec![flow(1, 7), flow(2, 7)];
        let mut t = DesiredTable::default();
        t.add(src, &old, &[]);
        t.take_changes();
        let mut new = vec![flow(1, 7), flow(3, 7)];
        t.replace(src, (&old, &[]), (&mut new, &mut []));
        let mut changed: Vec<u8> = t.take_changes().iter().map(|(k, _)| k.table).collect();
        changed.sort();
        assert_eq!(changed, vec![2, 3]);
        assert!(Arc::ptr_eq(&new[0].key, &old[0].key) && Arc::ptr_eq(&new[0].body, &old[0].body));
    }

    #[test]
    fn a_builder_replaced_by_the_same_flows_changes_nothing() {
        let mut t = DesiredTable::default();
        t.replace_builder(Source::Physical, vec![flow(1, 0), flow(2, 0)]);
        assert_eq!(t.take_changes().len(), 2);
        t.replace_builder(Source::Physical, vec![flow(2, 0), flow(1, 0)]);
        assert!(t.take_changes().is_empty());
        t.replace_builder(Source::Physical, vec![flow(2, 0)]);
        assert_eq!(t.take_changes(), vec![(Arc::clone(&flow(1, 0).key), None)]);
    }
}
