//! This chassis in the Southbound database: Chassis, Encap and Chassis_Private rows written
//! as 23.03 writes them, the tunnels to every other chassis, and their removal on `exit`.

use std::collections::{BTreeMap, BTreeSet};

use shared::ovsdb::{Atom, Condition, Datum, Operation, Row, RowData, Uuid};

use crate::bridge::Tunnel;
use crate::config::ChassisConfig;
use crate::db::{insert, string_map, string_map_datum, update, uuid_set, Db};

pub fn by_name<'a>(sb: &'a Db, table: &str, name: &str) -> Option<(Uuid, &'a Row)> {
    sb.rows(table).find(|(_, r)| r.get_str("name") == Some(name)).map(|(u, r)| (*u, r))
}

/// The Encap rows this chassis should have: every type with every IP.
fn wanted_encaps(cfg: &ChassisConfig) -> BTreeSet<(String, String)> {
    cfg.encap_ips.iter().flat_map(|ip| cfg.encap_types.iter().map(move |t| (t.clone(), ip.clone()))).collect()
}

fn encaps_match(sb: &Db, chassis: &Row, cfg: &ChassisConfig) -> bool {
    let mut have = BTreeSet::new();
    for uuid in uuid_set(chassis, "encaps") {
        let Some(e) = sb.row("Encap", &uuid) else { return false };
        if e.get_str("chassis_name") != Some(cfg.chassis_id.as_str())
            || e.get_map_str("options", "csum").unwrap_or("") != cfg.encap_csum
        {
            return false;
        }
        have.insert((e.get_str("type").unwrap_or("").to_string(), e.get_str("ip").unwrap_or("").to_string()));
    }
    have == wanted_encaps(cfg) && have.len() == uuid_set(chassis, "encaps").len()
}

fn encap_inserts(cfg: &ChassisConfig, ops: &mut Vec<Operation>) -> Datum {
    let mut names = Vec::new();
    for (i, (kind, ip)) in wanted_encaps(cfg).into_iter().enumerate() {
        let name = format!("encap{i}");
        let row: RowData = BTreeMap::from([
            ("type".into(), kind.into()),
            ("ip".into(), ip.into()),
            ("chassis_name".into(), cfg.chassis_id.as_str().into()),
            ("options".into(), Datum::map([("csum", cfg.encap_csum.as_str())])),
        ]);
        ops.push(insert("Encap", row, &name));
        names.push(Atom::NamedUuid(name));
    }
    Datum::set(names)
}

/// Operations that make this chassis' Chassis, Encap and Chassis_Private rows current.
pub fn sync_chassis(sb: &Db, cfg: &ChassisConfig) -> Vec<Operation> {
    let mut ops = Vec::new();
    let chassis = by_name(sb, "Chassis", &cfg.chassis_id);
    let chassis_ref = match chassis {
        None => {
            let encaps = encap_inserts(cfg, &mut ops);
            let row: RowData = BTreeMap::from([
                ("name".into(), cfg.chassis_id.as_str().into()),
                ("hostname".into(), cfg.hostname.as_str().into()),
                ("encaps".into(), encaps),
                ("other_config".into(), string_map_datum(&cfg.other_config)),
                ("transport_zones".into(), Datum::set(cfg.transport_zones.iter().map(String::as_str))),
            ]);
            ops.push(insert("Chassis", row, "chassis"));
            Datum::scalar(Atom::NamedUuid("chassis".into()))
        }
        Some((uuid, row)) => {
            let mut changes = RowData::new();
            if row.get_str("hostname") != Some(cfg.hostname.as_str()) {
                changes.insert("hostname".into(), cfg.hostname.as_str().into());
            }
            // Keys others put in other_config stay; ours are replaced.
            let mut other = string_map(row, "other_config");
            let before = other.clone();
            other.extend(cfg.other_config.clone());
            if other != before {
                changes.insert("other_config".into(), string_map_datum(&other));
            }
            let zones: BTreeSet<String> =
                row.get_set("transport_zones").filter_map(|a| a.as_str().map(String::from)).collect();
            if zones != cfg.transport_zones {
                changes.insert("transport_zones".into(), Datum::set(cfg.transport_zones.iter().map(String::as_str)));
            }
            if !encaps_match(sb, row, cfg) {
                let encaps = encap_inserts(cfg, &mut ops);
                changes.insert("encaps".into(), encaps);
            }
            if !changes.is_empty() {
                ops.push(update("Chassis", uuid, changes));
            }
            Datum::scalar(uuid)
        }
    };
    match by_name(sb, "Chassis_Private", &cfg.chassis_id) {
        None => {
            let row: RowData =
                BTreeMap::from([("name".into(), cfg.chassis_id.as_str().into()), ("chassis".into(), chassis_ref)]);
            ops.push(insert("Chassis_Private", row, "chassis_private"));
        }
        Some((uuid, row)) => {
            if row.get("chassis") != Some(&chassis_ref) {
                ops.push(update("Chassis_Private", uuid, BTreeMap::from([("chassis".into(), chassis_ref)])));
            }
        }
    }
    if !ops.is_empty() {
        ops.insert(0, Operation::Comment(format!("ovn-controller: registering chassis '{}'", cfg.chassis_id)));
    }
    ops
}

/// `exit` without `--restart`: this chassis leaves the Southbound database.
pub fn remove_chassis(sb: &Db, chassis_id: &str) -> Vec<Operation> {
    let mut ops = vec![Operation::Comment(format!("ovn-controller: unregistering chassis '{chassis_id}'"))];
    for table in ["Chassis_Private", "Chassis"] {
        ops.push(Operation::Delete { table: table.into(), conditions: vec![Condition::eq("name", chassis_id)] });
    }
    if let Some((uuid, _)) = by_name(sb, "Chassis", chassis_id) {
        for (pb_uuid, pb) in sb.rows("Port_Binding") {
            if pb.get_uuid("chassis") == Some(uuid) {
                ops.push(update("Port_Binding", *pb_uuid, BTreeMap::from([("chassis".into(), Datum::empty_set())])));
            }
        }
    }
    ops
}

/// Tunnel types by preference, as 23.03 ranks them.
fn tunnel_rank(kind: &str) -> u8 {
    match kind {
        "geneve" => 3,
        "stt" => 2,
        "vxlan" => 1,
        _ => 0,
    }
}

/// The tunnels this chassis should have: to every other chassis in a shared transport zone,
/// of the most preferred type both support, one per encap IP of that type.
pub fn wanted_tunnels(sb: &Db, cfg: &ChassisConfig, ovs_ids: &BTreeMap<String, String>) -> Vec<Tunnel> {
    let ours: BTreeSet<u8> = cfg.encap_types.iter().map(|t| tunnel_rank(t)).filter(|r| *r > 0).collect();
    let get = |key: &str| crate::config::chassis_value(ovs_ids, &cfg.chassis_id, key);
    let ipsec = sb.rows("SB_Global").next().and_then(|(_, g)| g.get_bool("ipsec")).unwrap_or(false);
    let mut out = Vec::new();
    for (_, chassis) in sb.rows("Chassis") {
        let Some(name) = chassis.get_str("name") else { continue };
        if name == cfg.chassis_id {
            continue;
        }
        let zones: BTreeSet<String> =
            chassis.get_set("transport_zones").filter_map(|a| a.as_str().map(String::from)).collect();
        let overlap = (zones.is_empty() && cfg.transport_zones.is_empty()) || !zones.is_disjoint(&cfg.transport_zones);
        if !overlap {
            continue;
        }
        if chassis.get_map_str("other_config", "is-remote") == Some("true") && !cfg.is_interconn {
            continue;
        }
        let encaps: Vec<&Row> = uuid_set(chassis, "encaps").iter().filter_map(|u| sb.row("Encap", u)).collect();
        let best =
            encaps.iter().map(|e| tunnel_rank(e.get_str("type").unwrap_or(""))).filter(|r| ours.contains(r)).max();
        let Some(best) = best else {
            tracing::info!("chassis_tunnel_add: No supported encaps for '{name}'");
            continue;
        };
        for e in encaps.iter().filter(|e| tunnel_rank(e.get_str("type").unwrap_or("")) == best) {
            let (Some(kind), Some(ip)) = (e.get_str("type"), e.get_str("ip")) else { continue };
            let mut options =
                BTreeMap::from([("remote_ip".to_string(), ip.to_string()), ("key".into(), "flow".into())]);
            if let Some(csum) = e.get_map_str("options", "csum").filter(|c| *c == "true" || *c == "false") {
                options.insert("csum".into(), csum.into());
            }
            if let Some(port) = e.get_map_str("options", "dst_port") {
                options.insert("dst_port".into(), port.into());
            }
            if let Some(tos) = get("ovn-encap-tos").filter(|t| *t != "none") {
                options.insert("tos".into(), tos.into());
            }
            if let Some(df) = get("ovn-encap-df_default") {
                options.insert("df_default".into(), df.into());
            }
            let mut local_ip = get("ovn-set-local-ip") == Some("true");
            if ipsec {
                local_ip = true;
                options.insert("remote_name".into(), name.into());
            }
            if local_ip {
                if let Some(ip) = cfg.encap_ips.iter().next() {
                    options.insert("local_ip".into(), ip.clone());
                }
            }
            out.push(Tunnel { id: format!("{name}@{ip}"), chassis: name.to_string(), kind: kind.to_string(), options });
        }
    }
    out
}

/// Chassis_Private.nb_cfg (and its timestamp) once this chassis has caught up with `nb_cfg`.
pub fn report_nb_cfg(sb: &Db, chassis_id: &str, nb_cfg: i64, now_ms: i64) -> Option<Operation> {
    let (uuid, row) = by_name(sb, "Chassis_Private", chassis_id)?;
    (row.get_i64("nb_cfg") != Some(nb_cfg)).then(|| {
        update(
            "Chassis_Private",
            uuid,
            BTreeMap::from([("nb_cfg".into(), nb_cfg.into()), ("nb_cfg_timestamp".into(), now_ms.into())]),
        )
    })
}
