//! The local OVS database side: the integration bridge (created as 23.03 creates it), tunnel
//! ports to every other chassis, and the external_ids flowctl keeps there (ct zones,
//! nb_cfg, `ovn-installed` on bound interfaces). Planning only: operations out, no I/O.

use std::collections::{BTreeMap, BTreeSet};

use shared::ovsdb::{Atom, Datum, Mutation, Mutator, Operation, Row, RowData, Uuid};

use crate::db::{insert, string_map, update, uuid_set, where_uuid, Db};

pub const OPEN_VSWITCH: &str = "Open_vSwitch";

/// The Open_vSwitch root row.
pub fn root(ovs: &Db) -> Option<(Uuid, &Row)> {
    ovs.rows(OPEN_VSWITCH).next().map(|(u, r)| (*u, r))
}

pub fn bridge_by_name<'a>(ovs: &'a Db, name: &str) -> Option<(Uuid, &'a Row)> {
    ovs.rows("Bridge").find(|(_, r)| r.get_str("name") == Some(name)).map(|(u, r)| (*u, r))
}

/// Ports of a bridge with their rows.
pub fn ports<'a>(ovs: &'a Db, bridge: &Row) -> Vec<(Uuid, &'a Row)> {
    uuid_set(bridge, "ports").into_iter().filter_map(|u| ovs.row("Port", &u).map(|r| (u, r))).collect()
}

/// Interfaces of the bridge's ports: (interface uuid, interface row).
pub fn interfaces<'a>(ovs: &'a Db, bridge: &Row) -> Vec<(Uuid, &'a Row)> {
    ports(ovs, bridge)
        .into_iter()
        .flat_map(|(_, p)| uuid_set(p, "interfaces"))
        .filter_map(|u| ovs.row("Interface", &u).map(|r| (u, r)))
        .collect()
}

fn named(name: &str) -> Datum {
    Datum::scalar(Atom::NamedUuid(name.into()))
}

fn comment(text: String) -> Operation {
    Operation::Comment(text)
}

/// 23.03's create_br_int: an internal interface and port named after the bridge, fail mode
/// secure, in-band control off and a fixed random hwaddr (so the datapath id, and with it
/// every OpenFlow connection, does not change when the first port is added).
pub fn create_bridge(root: Uuid, name: &str, hwaddr: &str) -> Vec<Operation> {
    let iface: RowData = BTreeMap::from([("name".into(), name.into()), ("type".into(), "internal".into())]);
    let port: RowData = BTreeMap::from([("name".into(), name.into()), ("interfaces".into(), named("iface"))]);
    let bridge: RowData = BTreeMap::from([
        ("name".into(), name.into()),
        ("fail_mode".into(), "secure".into()),
        ("ports".into(), named("port")),
        ("other_config".into(), Datum::map([("disable-in-band", "true"), ("hwaddr", hwaddr)])),
    ]);
    vec![
        comment(format!("ovn-controller: creating integration bridge '{name}'")),
        insert("Interface", iface, "iface"),
        insert("Port", port, "port"),
        insert("Bridge", bridge, "bridge"),
        Operation::Mutate {
            table: OPEN_VSWITCH.into(),
            conditions: where_uuid(root),
            mutations: vec![Mutation::new("bridges", Mutator::Insert, named("bridge"))],
        },
    ]
}

/// A random locally administered unicast MAC.
pub fn random_hwaddr() -> String {
    let mut b = [0u8; 6];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b));
    if read.is_err() {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        b.copy_from_slice(&t.to_le_bytes()[..6]);
    }
    b[0] = (b[0] & 0xfe) | 0x02;
    format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
}

/// Sets `keys` in a map column to the given values (None removes the key), leaving the rest
/// alone: a delete then an insert, as OVS's IDL does for one key.
pub fn set_map_keys(
    table: &str,
    uuid: Uuid,
    column: &str,
    keys: &BTreeMap<String, Option<String>>,
) -> Option<Operation> {
    if keys.is_empty() {
        return None;
    }
    let mut mutations = vec![Mutation::new(column, Mutator::Delete, Datum::set(keys.keys().map(String::as_str)))];
    let inserts: Vec<(&str, &str)> = keys.iter().filter_map(|(k, v)| v.as_deref().map(|v| (k.as_str(), v))).collect();
    if !inserts.is_empty() {
        mutations.push(Mutation::new(column, Mutator::Insert, Datum::map(inserts)));
    }
    Some(Operation::Mutate { table: table.into(), conditions: where_uuid(uuid), mutations })
}

/// The keys of `wanted` whose value differs from `row`'s map (None = must be absent).
pub fn map_changes(
    row: &Row,
    column: &str,
    wanted: &BTreeMap<String, Option<String>>,
) -> BTreeMap<String, Option<String>> {
    let have = string_map(row, column);
    wanted.iter().filter(|(k, v)| have.get(*k) != v.as_ref()).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// A tunnel flowctl wants on the integration bridge.
#[derive(Clone, Debug, PartialEq)]
pub struct Tunnel {
    /// `<chassis>@<ip>`: the Port's external_ids:ovn-chassis-id.
    pub id: String,
    pub chassis: String,
    pub kind: String,
    pub options: BTreeMap<String, String>,
}

/// Operations that make br-int's OVN tunnel ports exactly `wanted`: unchanged ports stay,
/// changed ones are replaced under the same name, stale ones are removed.
pub fn sync_tunnels(ovs: &Db, bridge_uuid: Uuid, bridge: &Row, wanted: &[Tunnel], chassis_idx: &str) -> Vec<Operation> {
    let mut existing: BTreeMap<String, (Uuid, &Row)> = BTreeMap::new();
    let mut remove: Vec<Uuid> = Vec::new();
    let mut names: BTreeSet<String> = BTreeSet::new();
    for (uuid, port) in ports(ovs, bridge) {
        if let Some(name) = port.get_str("name") {
            names.insert(name.to_string());
        }
        if let Some(id) = port.get_map_str("external_ids", "ovn-chassis-id") {
            // Two ports for one tunnel: keep the first, drop the other, as 23.03 does.
            if existing.insert(id.to_string(), (uuid, port)).is_some() {
                remove.push(uuid);
            }
        }
    }
    let mut ops = Vec::new();
    let mut added = 0;
    for t in wanted {
        let old = existing.remove(&t.id);
        if let Some((_, port)) = old {
            let ifaces = uuid_set(port, "interfaces");
            let same = ifaces.len() == 1
                && ifaces.first().and_then(|u| ovs.row("Interface", u)).is_some_and(|i| {
                    i.get_str("type") == Some(t.kind.as_str()) && string_map(i, "options") == t.options
                });
            if same {
                continue;
            }
        }
        let name = match old {
            Some((uuid, port)) => {
                remove.push(uuid);
                port.get_str("name").unwrap_or_default().to_string()
            }
            None => tunnel_name(&names, chassis_idx, &t.chassis),
        };
        names.insert(name.clone());
        let (iface_name, port_name) = (format!("tif{added}"), format!("tport{added}"));
        added += 1;
        ops.push(insert(
            "Interface",
            BTreeMap::from([
                ("name".into(), name.as_str().into()),
                ("type".into(), t.kind.as_str().into()),
                ("options".into(), crate::db::string_map_datum(&t.options)),
            ]),
            &iface_name,
        ));
        ops.push(insert(
            "Port",
            BTreeMap::from([
                ("name".into(), name.as_str().into()),
                ("interfaces".into(), named(&iface_name)),
                ("external_ids".into(), Datum::map([("ovn-chassis-id", t.id.as_str())])),
            ]),
            &port_name,
        ));
        ops.push(Operation::Mutate {
            table: "Bridge".into(),
            conditions: where_uuid(bridge_uuid),
            mutations: vec![Mutation::new("ports", Mutator::Insert, named(&port_name))],
        });
    }
    remove.extend(existing.into_values().map(|(u, _)| u));
    if !remove.is_empty() {
        ops.push(Operation::Mutate {
            table: "Bridge".into(),
            conditions: where_uuid(bridge_uuid),
            mutations: vec![Mutation::new("ports", Mutator::Delete, Datum::set(remove))],
        });
    }
    if !ops.is_empty() {
        ops.insert(0, comment("ovn-controller: modifying OVS tunnels".to_string()));
    }
    ops
}

/// 23.03's tunnel_create_name: `ovn<idx>-<chassis prefix>-<n>`, first free n in hex.
fn tunnel_name(taken: &BTreeSet<String>, idx: &str, chassis: &str) -> String {
    let keep = if idx.is_empty() { 6 } else { 5 };
    let prefix: String = chassis.chars().take(keep).collect();
    (0..u16::MAX)
        .map(|i| format!("ovn{idx}-{prefix}-{i:x}"))
        .find(|n| !taken.contains(n))
        .unwrap_or_else(|| format!("ovn{idx}-{prefix}-ffff"))
}

/// Bridge fail mode back to secure if someone changed it.
pub fn assert_fail_mode(bridge_uuid: Uuid, bridge: &Row) -> Option<Operation> {
    (bridge.get_str("fail_mode") != Some("secure")).then(|| {
        tracing::warn!(
            "integration bridge fail-mode changed to {:?}, setting it back to secure",
            bridge.get_str("fail_mode")
        );
        update("Bridge", bridge_uuid, BTreeMap::from([("fail_mode".into(), "secure".into())]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunnel_names_follow_23_03() {
        let mut taken = BTreeSet::new();
        assert_eq!(tunnel_name(&taken, "", "chassis-2"), "ovn-chassi-0");
        taken.insert("ovn-chassi-0".to_string());
        assert_eq!(tunnel_name(&taken, "", "chassis-2"), "ovn-chassi-1");
        assert_eq!(tunnel_name(&taken, "3", "chassis-2"), "ovn3-chass-0");
    }

    #[test]
    fn hwaddr_is_local_unicast() {
        let mac = random_hwaddr();
        let first = u8::from_str_radix(&mac[..2], 16).unwrap();
        assert_eq!(first & 0x03, 0x02, "{mac}");
    }
}
