//! What the logical-flow translator keeps across computations: the ids it allocates, stable
//! so that an unchanged logical flow gives the same OpenFlow flows (and the installer sends
//! nothing), and the cached translations.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use shared::ovsdb::Uuid;

use super::cache::Cache;
use crate::ofctrl::ids::IdTable;

/// 23.03's extend tables hold up to 65535 groups and meters.
const MAX_IDS: u32 = 65535;

pub struct LflowState {
    pub groups: IdTable,
    pub meters: IdTable,
    pub conj: ConjIds,
    pub cache: Cache,
    /// How many cache entries use each group description and meter name.
    pub group_refs: BTreeMap<String, usize>,
    pub meter_refs: BTreeMap<String, usize>,
    /// The next computation walks every logical flow (`recompute`, or nothing computed yet).
    pub full_next: bool,
    /// The next computation translates every flow again, cached or not (`recompute`).
    pub retranslate: bool,
    /// What the last computation was made from, to find what changed since.
    pub last: Option<super::incremental::LastInputs>,
    pub ctx: Option<super::context::SbContext>,
    /// Logical flows already warned about (a bad flow is logged once, not per computation).
    warned: HashSet<Uuid>,
}

impl Default for LflowState {
    fn default() -> Self {
        LflowState {
            groups: IdTable::new(MAX_IDS),
            meters: IdTable::new(MAX_IDS),
            conj: ConjIds::default(),
            cache: Cache::default(),
            group_refs: BTreeMap::new(),
            meter_refs: BTreeMap::new(),
            full_next: true,
            retranslate: false,
            last: None,
            ctx: None,
            warned: HashSet::new(),
        }
    }
}

impl LflowState {
    pub fn warn_once(&mut self, lflow: Uuid, msg: &str) {
        if self.warned.insert(lflow) {
            tracing::warn!("lflow {lflow}: {msg}");
        }
    }

    /// The next computation translates every flow afresh (`recompute`); a bad flow is
    /// reported again.
    pub fn forget_translations(&mut self) {
        // The cached translations stay until replaced: their flows, conjunction ids and group
        // uses are withdrawn as each is translated again.
        self.retranslate = true;
        self.warned.clear();
        self.full_next = true;
    }

    /// The groups and meters released by the last computation are off the switch.
    pub fn installed(&mut self) {
        self.groups.installed();
        self.meters.installed();
    }
}

/// Conjunction id ranges per (logical flow, datapath), as 23.03's `lflow_conj_ids`: a flow
/// keeps its range while its number of conjunctions stays the same.
#[derive(Default)]
pub struct ConjIds {
    by_flow: HashMap<(Uuid, Uuid), (u32, u32)>,
    used: BTreeSet<u32>,
}

/// The physical flows use conjunction id 100 (physical.c's chassis-MAC flows).
const RESERVED: u32 = 100;

impl ConjIds {
    /// The first id of `n` consecutive ids for this flow on this datapath.
    pub fn assign(&mut self, lflow: Uuid, dp: Uuid, n: u32) -> Option<u32> {
        match self.by_flow.get(&(lflow, dp)) {
            Some((start, len)) if *len == n => return Some(*start),
            Some((start, len)) => {
                let (start, len) = (*start, *len);
                (start..start.saturating_add(len)).for_each(|id| {
                    self.used.remove(&id);
                });
            }
            None => {}
        }
        // Start where the flow's UUID points (as 23.03 does), then probe.
        let b = lflow.as_bytes();
        let mut start = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) ^ u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
        for _ in 0..1_000_000 {
            let end = start.checked_add(n)?;
            let free = start != 0 && !(start..end).contains(&RESERVED) && self.used.range(start..end).next().is_none();
            if free {
                self.used.extend(start..end);
                self.by_flow.insert((lflow, dp), (start, n));
                return Some(start);
            }
            start = if end == u32::MAX { 1 } else { start.wrapping_add(1) };
        }
        None
    }

    /// Releases the range of a flow on a datapath.
    pub fn release(&mut self, lflow: Uuid, dp: Uuid) {
        if let Some((start, len)) = self.by_flow.remove(&(lflow, dp)) {
            (start..start.saturating_add(len)).for_each(|id| {
                self.used.remove(&id);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uuid(n: u8) -> Uuid {
        Uuid::from_bytes([n; 16])
    }

    #[test]
    fn ranges_are_stable_disjoint_and_released() {
        let mut c = ConjIds::default();
        let a = c.assign(uuid(1), uuid(9), 3).unwrap();
        let b = c.assign(uuid(1), uuid(8), 3).unwrap();
        assert!(a + 3 <= b || b + 3 <= a, "{a} {b}");
        assert_eq!(c.assign(uuid(1), uuid(9), 3), Some(a));
        c.release(uuid(1), uuid(8));
        assert_eq!(c.used.len(), 3, "the released range is free");
    }

    #[test]
    fn never_zero_or_the_reserved_id() {
        let mut c = ConjIds::default();
        let mut b = [0u8; 16];
        b[3] = 99;
        let s = c.assign(Uuid::from_bytes(b), uuid(1), 2).unwrap();
        assert!(!(s..s + 2).contains(&RESERVED) && s != 0);
        assert!(c.assign(Uuid::from_bytes([0; 16]), uuid(1), 1).unwrap() != 0);
    }
}
