//! Sorted vectors of atoms for [`Datum`](super::Datum): a replica holds a datum per column
//! per row, most of them one atom or a short map. A B-tree allocates a node for eleven
//! entries however few it holds (hundreds of bytes for a scalar); a sorted vector allocates
//! exactly its entries and looks up by binary search.

use super::datum::Atom;

/// A set of atoms, sorted, without duplicates.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AtomSet(Vec<Atom>);

impl AtomSet {
    pub const fn new() -> AtomSet {
        AtomSet(Vec::new())
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn iter(&self) -> std::slice::Iter<'_, Atom> {
        self.0.iter()
    }
    pub fn contains(&self, a: &Atom) -> bool {
        self.0.binary_search(a).is_ok()
    }
    /// Adds `a`; false if it was there.
    pub fn insert(&mut self, a: Atom) -> bool {
        match self.0.binary_search(&a) {
            Ok(_) => false,
            Err(i) => {
                self.0.insert(i, a);
                true
            }
        }
    }
    /// Removes `a`; false if it was not there.
    pub fn remove(&mut self, a: &Atom) -> bool {
        match self.0.binary_search(a) {
            Ok(i) => {
                self.0.remove(i);
                true
            }
            Err(_) => false,
        }
    }
    /// Atoms in one set but not both, sorted.
    pub fn symmetric_difference<'a>(&'a self, other: &'a AtomSet) -> impl Iterator<Item = &'a Atom> + 'a {
        let only = |a: &'a AtomSet, b: &'a AtomSet| a.0.iter().filter(move |x| !b.contains(x));
        let mut out: Vec<&Atom> = only(self, other).chain(only(other, self)).collect();
        out.sort();
        out.into_iter()
    }
}

impl FromIterator<Atom> for AtomSet {
    fn from_iter<I: IntoIterator<Item = Atom>>(iter: I) -> AtomSet {
        let mut v: Vec<Atom> = iter.into_iter().collect();
        v.sort();
        v.dedup();
        v.shrink_to_fit();
        AtomSet(v)
    }
}

impl IntoIterator for AtomSet {
    type Item = Atom;
    type IntoIter = std::vec::IntoIter<Atom>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a AtomSet {
    type Item = &'a Atom;
    type IntoIter = std::slice::Iter<'a, Atom>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// A map of atoms, sorted by key, keys unique.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AtomMap(Vec<(Atom, Atom)>);

impl AtomMap {
    pub const fn new() -> AtomMap {
        AtomMap(Vec::new())
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn find(&self, k: &Atom) -> Result<usize, usize> {
        self.0.binary_search_by(|(x, _)| x.cmp(k))
    }
    pub fn get(&self, k: &Atom) -> Option<&Atom> {
        self.find(k).ok().and_then(|i| self.0.get(i)).map(|(_, v)| v)
    }
    /// A string key, without building an atom for it.
    pub fn get_str(&self, k: &str) -> Option<&Atom> {
        let i = self.0.binary_search_by(|(x, _)| match x {
            Atom::String(s) => s.as_str().cmp(k),
            // Only string keys can equal a string; compare as atoms do (by kind first).
            other => other.cmp(&Atom::String(String::new())),
        });
        i.ok().and_then(|i| self.0.get(i)).map(|(_, v)| v)
    }
    pub fn contains_key(&self, k: &Atom) -> bool {
        self.find(k).is_ok()
    }
    /// Sets `k` to `v`; returns the value it replaced.
    pub fn insert(&mut self, k: Atom, v: Atom) -> Option<Atom> {
        match self.find(&k) {
            Ok(i) => self.0.get_mut(i).map(|slot| std::mem::replace(&mut slot.1, v)),
            Err(i) => {
                self.0.insert(i, (k, v));
                None
            }
        }
    }
    pub fn remove(&mut self, k: &Atom) -> Option<Atom> {
        self.find(k).ok().map(|i| self.0.remove(i).1)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&Atom, &Atom)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl FromIterator<(Atom, Atom)> for AtomMap {
    /// Later pairs replace earlier ones with the same key (as a B-tree map collects).
    fn from_iter<I: IntoIterator<Item = (Atom, Atom)>>(iter: I) -> AtomMap {
        let mut v: Vec<(Atom, Atom)> = iter.into_iter().collect();
        // Stable: among equal keys the last one is kept below.
        v.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(Atom, Atom)> = Vec::with_capacity(v.len());
        for (k, val) in v {
            match out.last_mut() {
                Some(last) if last.0 == k => last.1 = val,
                _ => out.push((k, val)),
            }
        }
        AtomMap(out)
    }
}

impl IntoIterator for AtomMap {
    type Item = (Atom, Atom);
    type IntoIter = std::vec::IntoIter<(Atom, Atom)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a AtomMap {
    type Item = (&'a Atom, &'a Atom);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (Atom, Atom)>, fn(&'a (Atom, Atom)) -> (&'a Atom, &'a Atom)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Atom {
        Atom::String(x.into())
    }

    #[test]
    fn sets_stay_sorted_and_unique() {
        let mut set: AtomSet = [s("b"), s("a"), s("b")].into_iter().collect();
        assert_eq!(set.iter().cloned().collect::<Vec<_>>(), vec![s("a"), s("b")]);
        assert!(!set.insert(s("a")) && set.insert(s("c")) && set.remove(&s("b")) && !set.remove(&s("b")));
        let other: AtomSet = [s("c"), s("d")].into_iter().collect();
        assert_eq!(set.symmetric_difference(&other).cloned().collect::<Vec<_>>(), vec![s("a"), s("d")]);
    }

    #[test]
    fn maps_keep_the_last_value_and_find_string_keys() {
        let mut m: AtomMap = [(s("k"), s("1")), (Atom::Integer(5), s("i")), (s("k"), s("2"))].into_iter().collect();
        assert_eq!(m.len(), 2);
        assert_eq!(m.get_str("k"), Some(&s("2")));
        assert_eq!(m.get(&Atom::Integer(5)), Some(&s("i")));
        assert_eq!(m.get_str("absent"), None);
        assert_eq!(m.insert(s("k"), s("3")), Some(s("2")));
        assert_eq!(m.remove(&s("k")), Some(s("3")));
        assert!(!m.contains_key(&s("k")));
    }
}
