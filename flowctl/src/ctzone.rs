//! Conntrack zones: one per local logical port and two (DNAT, SNAT) per local datapath,
//! allocated lowest-free from 1 (zone 0 is the default zone) and kept in br-int's
//! external_ids as `ct-zone-<key>`, so a restart keeps every zone where it was.

use std::collections::{BTreeMap, BTreeSet};

pub const MAX_ZONE: u16 = u16::MAX;
pub const EXTERNAL_ID_PREFIX: &str = "ct-zone-";

#[derive(Debug, Default, Clone)]
pub struct CtZones {
    zones: BTreeMap<String, u16>,
    /// Zones allocated since [`CtZones::take_fresh`] (restored ones are not fresh): 23.03
    /// flushes each before use, as it may hold a previous owner's connections.
    fresh: Vec<u16>,
}

impl PartialEq for CtZones {
    fn eq(&self, other: &Self) -> bool {
        self.zones == other.zones
    }
}

impl CtZones {
    /// Zones recorded in br-int's external_ids.
    pub fn restore(external_ids: &BTreeMap<String, String>) -> CtZones {
        let zones = external_ids
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(EXTERNAL_ID_PREFIX)?.to_string(), v.parse::<u16>().ok()?)))
            .filter(|(_, z)| *z != 0)
            .collect();
        CtZones { zones, fresh: Vec::new() }
    }

    /// Makes the zone set match `keys`: new keys get the lowest free zone, gone keys free
    /// theirs. Returns true if anything changed.
    pub fn update(&mut self, keys: &BTreeSet<String>) -> bool {
        let before = self.zones.len();
        self.zones.retain(|k, _| keys.contains(k));
        let removed = self.zones.len() != before;
        self.add(keys) || removed
    }

    /// Gives new keys the lowest free zone and frees nothing. Returns true if any was added.
    pub fn add(&mut self, keys: &BTreeSet<String>) -> bool {
        let mut changed = false;
        let mut used: BTreeSet<u16> = self.zones.values().copied().collect();
        let mut next = 1u16;
        for key in keys {
            if self.zones.contains_key(key) {
                continue;
            }
            while used.contains(&next) && next < MAX_ZONE {
                next += 1;
            }
            if used.contains(&next) {
                tracing::error!("out of conntrack zones, cannot assign one to {key}");
                break;
            }
            used.insert(next);
            self.zones.insert(key.clone(), next);
            self.fresh.push(next);
            changed = true;
        }
        changed
    }

    /// The zones allocated since the last call, to be flushed.
    pub fn take_fresh(&mut self) -> Vec<u16> {
        std::mem::take(&mut self.fresh)
    }

    /// Every zone by key, as the physical-flow builder takes them.
    pub fn map(&self) -> BTreeMap<String, u16> {
        self.zones.clone()
    }

    #[cfg(test)]
    pub fn get(&self, key: &str) -> Option<u16> {
        self.zones.get(key).copied()
    }

    /// The external_ids flowctl wants on br-int for these zones (None = remove the key).
    pub fn external_ids(&self, have: &BTreeMap<String, String>) -> BTreeMap<String, Option<String>> {
        let mut out: BTreeMap<String, Option<String>> =
            self.zones.iter().map(|(k, z)| (format!("{EXTERNAL_ID_PREFIX}{k}"), Some(z.to_string()))).collect();
        for key in have.keys().filter(|k| k.starts_with(EXTERNAL_ID_PREFIX)) {
            out.entry(key.clone()).or_insert(None);
        }
        out
    }

    /// `ct-zone-list`: "<key> <zone>" lines.
    pub fn list(&self) -> String {
        self.zones.iter().map(|(k, z)| format!("{k} {z}\n")).collect()
    }
}

/// Zone keys of a datapath, as 23.03 names them.
pub fn datapath_keys(dp: &shared::ovsdb::Uuid) -> [String; 2] {
    [format!("{dp}_dnat"), format!("{dp}_snat")]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(k: &[&str]) -> BTreeSet<String> {
        k.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn lowest_free_zone_and_stable_across_restore() {
        let mut z = CtZones::default();
        assert!(z.update(&keys(&["a", "b", "c"])));
        assert_eq!((z.get("a"), z.get("b"), z.get("c")), (Some(1), Some(2), Some(3)));
        assert!(z.update(&keys(&["a", "c", "d"])));
        assert_eq!(z.get("d"), Some(2), "b's zone is reused");
        assert!(!z.update(&keys(&["a", "c", "d"])));
        assert_eq!(z.take_fresh(), vec![1, 2, 3, 2], "every allocation is flushed, reuse included");
        assert!(z.take_fresh().is_empty());
        let ids: BTreeMap<String, String> =
            z.external_ids(&BTreeMap::new()).into_iter().map(|(k, v)| (k, v.unwrap())).collect();
        assert_eq!(CtZones::restore(&ids), z);
    }

    #[test]
    fn stale_external_ids_are_removed() {
        let have =
            BTreeMap::from([("ct-zone-gone".to_string(), "7".to_string()), ("other".to_string(), "x".to_string())]);
        let z = CtZones::default();
        assert_eq!(z.external_ids(&have), BTreeMap::from([("ct-zone-gone".to_string(), None)]));
    }
}
