//! Group and meter ids by name, as 23.03's `ovn_extend_table`: ids 1..=max (0 is invalid),
//! stable for a name while it is in use, and reused after release — but only once the
//! release is installed, so that a new group never takes an id the switch still has for an
//! old one within the same batch.

use std::collections::{BTreeMap, BTreeSet};

pub struct IdTable {
    max: u32,
    by_name: BTreeMap<String, u32>,
    /// Released in the current computation, free after [`IdTable::installed`].
    releasing: BTreeSet<u32>,
    free: BTreeSet<u32>,
    next: u32,
}

impl IdTable {
    /// Ids 1..=max (23.03: 65535 for both tables).
    pub fn new(max: u32) -> IdTable {
        IdTable { max, by_name: BTreeMap::new(), releasing: BTreeSet::new(), free: BTreeSet::new(), next: 1 }
    }

    /// The id of `name`, allocating one if needed; None when the table is full.
    pub fn assign(&mut self, name: &str) -> Option<u32> {
        if let Some(id) = self.by_name.get(name) {
            return Some(*id);
        }
        let id = match self.free.pop_first() {
            Some(id) => id,
            None if self.next <= self.max => {
                self.next += 1;
                self.next - 1
            }
            None => return None,
        };
        self.by_name.insert(name.to_string(), id);
        Some(id)
    }

    /// Release every name not in `used` (after a computation).
    pub fn retain(&mut self, used: &BTreeSet<String>) {
        let releasing = &mut self.releasing;
        self.by_name.retain(|name, id| {
            let keep = used.contains(name);
            if !keep {
                releasing.insert(*id);
            }
            keep
        });
    }

    /// The batch that removed the released ids is on the switch: they may be reused.
    pub fn installed(&mut self) {
        self.free.append(&mut self.releasing);
    }

    /// "<name>: <id>" lines, as `group-table-list` / `meter-table-list` print them.
    pub fn list(&self) -> String {
        self.by_name.iter().map(|(n, id)| format!("{n}: {id}\n")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_reused_after_install_and_bounded() {
        let mut t = IdTable::new(2);
        assert_eq!(t.assign("a"), Some(1));
        assert_eq!(t.assign("b"), Some(2));
        assert_eq!(t.assign("a"), Some(1));
        assert_eq!(t.assign("c"), None);
        t.retain(&["b".to_string()].into());
        assert_eq!(t.assign("c"), None, "not reused before the removal is installed");
        t.installed();
        assert_eq!(t.assign("c"), Some(1));
        assert_eq!(t.list(), "b: 2\nc: 1\n");
    }
}
