//! Patch ports between br-int and the physical bridges of `ovn-bridge-mappings`, for the
//! localnet ports of local datapaths and the l2gateway ports bound here (23.03's patch_run).
//! Names: `patch-<br-int>-to-<lport>` on br-int and `patch-<lport>-to-<br-int>` on the other.

use std::collections::{BTreeMap, BTreeSet};

use shared::ovsdb::{Atom, Datum, Mutation, Mutator, Operation, Row, Uuid};

use crate::bridge::{bridge_by_name, ports};
use crate::db::{insert, string_map_datum, uuid_set, where_uuid, Db};

/// external_ids keys marking the patch ports flowctl owns, by Port_Binding type.
const OWNER_KEYS: [(&str, &str); 2] = [("localnet", "ovn-localnet-port"), ("l2gateway", "ovn-l2gateway-port")];
/// Keys older releases used; such ports are removed.
const STALE_KEYS: [&str; 2] = ["ovn-l3gateway-port", "ovn-logical-patch-port"];

fn patch_name(src: &str, dst: &str) -> String {
    format!("patch-{src}-to-{dst}")
}

/// A patch port pair flowctl wants.
#[derive(Debug, PartialEq)]
struct Wanted {
    lport: String,
    key: &'static str,
    bridge: String,
}

fn wanted(sb: &Db, mappings: &BTreeMap<String, String>, local_dps: &BTreeSet<Uuid>, chassis: Uuid) -> Vec<Wanted> {
    let mut out = Vec::new();
    for (_, pb) in sb.rows("Port_Binding") {
        let kind = pb.get_str("type").unwrap_or("");
        let Some((_, key)) = OWNER_KEYS.iter().find(|(t, _)| *t == kind) else { continue };
        if !pb.get_uuid("datapath").is_some_and(|dp| local_dps.contains(&dp)) {
            continue;
        }
        if kind == "l2gateway" && pb.get_uuid("chassis") != Some(chassis) {
            continue;
        }
        let Some(lport) = pb.get_str("logical_port") else { continue };
        let Some(network) = pb.get_map_str("options", "network_name") else {
            tracing::warn!("{kind} port '{lport}' has no network name.");
            continue;
        };
        let Some(bridge) = mappings.get(network) else {
            tracing::debug!("bridge not found for {kind} port '{lport}' with network name '{network}'; skipping");
            continue;
        };
        out.push(Wanted { lport: lport.to_string(), key, bridge: bridge.clone() });
    }
    out
}

fn has_patch_to(ovs: &Db, bridge: &Row, peer: &str) -> bool {
    ports(ovs, bridge)
        .iter()
        .flat_map(|(_, p)| uuid_set(p, "interfaces"))
        .filter_map(|u| ovs.row("Interface", &u))
        .any(|i| i.get_str("type") == Some("patch") && i.get_map_str("options", "peer") == Some(peer))
}

fn create_port(ops: &mut Vec<Operation>, bridge: Uuid, name: &str, peer: &str, key: &str, lport: &str) {
    let n = ops.len();
    let (iface, port) = (format!("piface{n}"), format!("pport{n}"));
    ops.push(insert(
        "Interface",
        BTreeMap::from([
            ("name".into(), name.into()),
            ("type".into(), "patch".into()),
            ("options".into(), Datum::map([("peer", peer)])),
        ]),
        &iface,
    ));
    ops.push(insert(
        "Port",
        BTreeMap::from([
            ("name".into(), name.into()),
            ("interfaces".into(), Datum::scalar(Atom::NamedUuid(iface))),
            ("external_ids".into(), string_map_datum(&BTreeMap::from([(key.to_string(), lport.to_string())]))),
        ]),
        &port,
    ));
    ops.push(Operation::Mutate {
        table: "Bridge".into(),
        conditions: where_uuid(bridge),
        mutations: vec![Mutation::new("ports", Mutator::Insert, Datum::scalar(Atom::NamedUuid(port)))],
    });
}

/// Operations creating missing patch ports and (unless `keep_stale`, right after start while
/// the Southbound contents may still be arriving) removing unwanted ones with their peers.
pub fn sync(
    ovs: &Db,
    sb: &Db,
    br_int: (Uuid, &Row),
    mappings: &BTreeMap<String, String>,
    local_dps: &BTreeSet<Uuid>,
    chassis: Uuid,
    keep_stale: bool,
) -> Vec<Operation> {
    let (br_uuid, br) = br_int;
    let br_name = br.get_str("name").unwrap_or("br-int");
    let mut ops = Vec::new();
    let mut keep: BTreeSet<String> = BTreeSet::new();
    for w in wanted(sb, mappings, local_dps, chassis) {
        let Some((ln_uuid, ln)) = bridge_by_name(ovs, &w.bridge) else {
            tracing::warn!("Bridge '{}' not found for localnet port '{}'", w.bridge, w.lport);
            continue;
        };
        let (on_int, on_ln) = (patch_name(br_name, &w.lport), patch_name(&w.lport, br_name));
        keep.insert(on_int.clone());
        if !has_patch_to(ovs, br, &on_ln) {
            create_port(&mut ops, br_uuid, &on_int, &on_ln, w.key, &w.lport);
        }
        if !has_patch_to(ovs, ln, &on_int) {
            create_port(&mut ops, ln_uuid, &on_ln, &on_int, w.key, &w.lport);
        }
    }
    if !keep_stale {
        for (port_uuid, port) in ports(ovs, br) {
            let owned = OWNER_KEYS
                .iter()
                .map(|(_, k)| *k)
                .chain(STALE_KEYS)
                .any(|k| port.get_map_str("external_ids", k).is_some());
            let name = port.get_str("name").unwrap_or("");
            if !owned || keep.contains(name) {
                continue;
            }
            // The peer first, wherever it is, then our end.
            for iface in uuid_set(port, "interfaces").iter().filter_map(|u| ovs.row("Interface", u)) {
                let Some(peer) = iface.get_map_str("options", "peer") else { continue };
                for (b_uuid, b) in ovs.rows("Bridge") {
                    for (p_uuid, p) in ports(ovs, b) {
                        if p.get_str("name") == Some(peer) {
                            ops.push(remove_port(*b_uuid, p_uuid));
                        }
                    }
                }
            }
            ops.push(remove_port(br_uuid, port_uuid));
        }
    }
    if !ops.is_empty() {
        ops.insert(0, Operation::Comment("ovn-controller: updating patch ports".into()));
    }
    ops
}

fn remove_port(bridge: Uuid, port: Uuid) -> Operation {
    Operation::Mutate {
        table: "Bridge".into(),
        conditions: where_uuid(bridge),
        mutations: vec![Mutation::new("ports", Mutator::Delete, Datum::scalar(port))],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_23_03() {
        assert_eq!(patch_name("br-int", "ln-phys"), "patch-br-int-to-ln-phys");
        assert_eq!(patch_name("ln-phys", "br-int"), "patch-ln-phys-to-br-int");
    }
}
