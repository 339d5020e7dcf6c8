//! What changed for the translator since its last computation: the Logical_Flow rows the
//! Southbound replica reported touched, and the names (ports, address sets, port groups,
//! related ports) and datapaths whose facts differ in the parts of the [`SbContext`] rebuilt
//! since. Changes the cache indexes cannot follow (the set of local datapaths, datapath groups,
//! template variables, this chassis, tunnels) ask for a full walk instead.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::Hash;

use shared::ovsdb::Uuid;

use super::cache::Name;
use super::context::ContextChange;
use super::LflowInput;

/// What the last computation was made from, besides the Southbound rows.
#[derive(Clone, Debug, PartialEq)]
pub struct LastInputs {
    /// The Southbound connection (a new one has a new replica).
    pub sb_epoch: u64,
    pub local_dps: BTreeSet<Uuid>,
    pub chassis: Option<Uuid>,
    pub chassis_name: String,
    pub iface_ids: BTreeSet<String>,
    pub tunnel_ofports: BTreeMap<String, u16>,
}

/// What an incremental computation must look at again.
#[derive(Debug, Default)]
pub struct Changed {
    pub lflows: BTreeSet<Uuid>,
    pub names: HashSet<Name>,
    /// Local datapaths whose own facts (key, kind, SNAT zone) changed.
    pub datapaths: BTreeSet<Uuid>,
}

/// Keys whose values differ between two maps (present in one only, or different).
fn changed_keys<'a, K: Eq + Hash, V: PartialEq>(
    old: &'a HashMap<K, V>,
    new: &'a HashMap<K, V>,
) -> impl Iterator<Item = &'a K> + 'a {
    let gone_or_changed = old.iter().filter(|(k, v)| new.get(k) != Some(v)).map(|(k, _)| k);
    let added = new.keys().filter(|k| !old.contains_key(k));
    gone_or_changed.chain(added)
}

fn changed_members<'a, T: Ord>(old: &'a BTreeSet<T>, new: &'a BTreeSet<T>) -> impl Iterator<Item = &'a T> + 'a {
    old.symmetric_difference(new)
}

/// What changed since `last` (whose context `change` replaced parts of), or `None` when only
/// a full walk will do.
pub fn changed(
    last: &LastInputs,
    change: &ContextChange,
    input: &LflowInput<'_>,
    touched_lflows: Option<&BTreeSet<Uuid>>,
) -> Option<Changed> {
    let (old, new, rebuilt) = (&change.old, input.ctx, change.rebuilt);
    if last.chassis != input.chassis
        || last.chassis_name != input.chassis_name
        || &last.tunnel_ofports != input.tunnel_ofports
        || (rebuilt.template_vars && old.template_vars != new.template_vars)
        || (rebuilt.dp_groups && old.dp_groups != new.dp_groups)
    {
        return None;
    }
    let mut c = Changed { lflows: touched_lflows.cloned().unwrap_or_default(), ..Changed::default() };
    if rebuilt.ports {
        if old.datapaths.len() != new.datapaths.len() || new.datapaths.keys().any(|d| !old.datapaths.contains_key(d)) {
            return None;
        }
        for (uuid, dp) in &new.datapaths {
            let Some(o) = old.datapaths.get(uuid) else { continue };
            if (o.key, o.is_switch, o.snat_ct_zone_set) != (dp.key, dp.is_switch, dp.snat_ct_zone_set) {
                c.datapaths.insert(*uuid);
            }
            if o.port_keys != dp.port_keys {
                c.names.extend(changed_keys(&o.port_keys, &dp.port_keys).map(|n| Name::Port(n.clone())));
            }
        }
        c.names.extend(changed_keys(&old.port_ids, &new.port_ids).map(|n| Name::Port(n.clone())));
        c.names.extend(changed_keys(&old.port_chassis, &new.port_chassis).map(|n| Name::Port(n.clone())));
        c.names.extend(changed_members(&old.resident, &new.resident).map(|n| Name::Port(n.clone())));
        c.names.extend(changed_members(&old.related_keys, &new.related_keys).map(|(d, p)| Name::Related(*d, *p)));
    }
    match &change.address_sets {
        Some(names) => c.names.extend(
            names
                .iter()
                .filter(|n| old.address_sets.get(*n) != new.address_sets.get(*n))
                .map(|n| Name::AddressSet(n.clone())),
        ),
        None => c.names.extend(changed_keys(&old.address_sets, &new.address_sets).map(|n| Name::AddressSet(n.clone()))),
    }
    if rebuilt.port_groups {
        for name in changed_keys(&old.port_groups, &new.port_groups) {
            // Looked up as `@name`, found as `<datapath key>_name` (23.03's per-datapath groups).
            if let Some((_, base)) = name.split_once('_').filter(|(k, _)| k.parse::<u32>().is_ok()) {
                c.names.insert(Name::PortGroup(base.to_string()));
            }
            c.names.insert(Name::PortGroup(name.clone()));
        }
    }
    Some(c)
}
