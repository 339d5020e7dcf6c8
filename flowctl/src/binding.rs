//! Port binding: which logical ports live on this chassis. A VIF is ours when an Interface on
//! the integration bridge (with an OpenFlow port) carries its name as external_ids:iface-id
//! and the binding may be bound here; gateway ports follow their options. Local datapaths
//! are those of our ports plus everything reachable from them through patch ports.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use shared::ovsdb::{Datum, Operation, Row, Uuid};

use crate::config::ChassisConfig;
use crate::db::{update, Db};

/// An interface on br-int that asks for a logical port.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalIface {
    pub iface: Uuid,
    pub name: String,
    pub ofport: i64,
}

/// `iface-id` -> interface, for interfaces OVS has given an OpenFlow port.
pub fn local_ifaces(ovs: &Db, br_int: &Row) -> BTreeMap<String, LocalIface> {
    let mut out = BTreeMap::new();
    for (uuid, iface) in crate::bridge::interfaces(ovs, br_int) {
        let Some(id) = iface.get_map_str("external_ids", "iface-id") else { continue };
        let ofport = iface.get_i64("ofport").unwrap_or(0);
        if ofport > 0 {
            out.insert(
                id.to_string(),
                LocalIface { iface: uuid, name: iface.get_str("name").unwrap_or("").into(), ofport },
            );
        }
    }
    out
}

/// What 23.03 does with each Port_Binding type on this chassis.
fn claimable_type(kind: &str) -> bool {
    matches!(kind, "" | "virtual" | "external" | "l2gateway" | "l3gateway" | "chassisredirect")
}

/// Whether requested-chassis allows this chassis (by the column northd fills, or by the
/// option naming a chassis or hostname, possibly in a comma list).
fn may_bind_here(pb: &Row, chassis_uuid: Uuid, cfg: &ChassisConfig) -> bool {
    if let Some(requested) = pb.get_uuid("requested_chassis") {
        return requested == chassis_uuid;
    }
    match pb.get_map_str("options", "requested-chassis").filter(|s| !s.is_empty()) {
        None => true,
        Some(list) => list.split(',').any(|n| n == cfg.chassis_id || n == cfg.hostname),
    }
}

/// The bindings that should be ours: logical port name -> Port_Binding uuid.
pub fn wanted_bindings(
    sb: &Db,
    ifaces: &BTreeMap<String, LocalIface>,
    chassis_uuid: Uuid,
    cfg: &ChassisConfig,
) -> BTreeMap<String, Uuid> {
    let mut out = BTreeMap::new();
    for (uuid, pb) in sb.rows("Port_Binding") {
        let Some(name) = pb.get_str("logical_port") else { continue };
        let kind = pb.get_str("type").unwrap_or("");
        let ours = match kind {
            "" => ifaces.contains_key(name) && may_bind_here(pb, chassis_uuid, cfg),
            "l3gateway" => pb.get_map_str("options", "l3gateway-chassis") == Some(cfg.chassis_id.as_str()),
            "l2gateway" => pb.get_map_str("options", "l2gateway-chassis") == Some(cfg.chassis_id.as_str()),
            "chassisredirect" => active_gateway(sb, pb) == Some(chassis_uuid),
            // Bound by pinctrl's bind_vport; ours while its parent is a local VIF (23.03's
            // consider_virtual_lport).
            "virtual" => pb.get_set("virtual_parent").filter_map(|a| a.as_str()).any(|p| ifaces.contains_key(p)),
            _ => false,
        };
        if ours && claimable_type(kind) {
            out.insert(name.to_string(), *uuid);
        }
    }
    out
}

/// The chassis that should host a chassisredirect port: the highest-priority member of its
/// HA chassis group. (23.03 also drops members whose BFD session is down; no BFD here yet.)
fn active_gateway(sb: &Db, pb: &Row) -> Option<Uuid> {
    let group = sb.row("HA_Chassis_Group", &pb.get_uuid("ha_chassis_group")?)?;
    crate::db::uuid_set(group, "ha_chassis")
        .iter()
        .filter_map(|u| sb.row("HA_Chassis", u))
        .filter_map(|h| Some((h.get_i64("priority").unwrap_or(0), h.get_uuid("chassis")?)))
        .max()
        .map(|(_, c)| c)
}

/// The tables [`Bindings`] are made of (with the OVS interfaces, the chassis and its settings).
pub const TABLES: &[&str] = &["Port_Binding", "HA_Chassis_Group", "HA_Chassis"];

/// Which bindings are ours, which are bound here now, and the local datapaths.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bindings {
    pub wanted: BTreeMap<String, Uuid>,
    pub bound_here: BTreeMap<String, Uuid>,
    pub local_datapaths: BTreeSet<Uuid>,
    /// Conntrack zone keys: the VIFs among `wanted` and two per local datapath.
    pub zone_keys: BTreeSet<String>,
}

impl Bindings {
    pub fn compute(
        sb: &Db,
        ifaces: &BTreeMap<String, LocalIface>,
        chassis_uuid: Uuid,
        cfg: &ChassisConfig,
    ) -> Bindings {
        let wanted = wanted_bindings(sb, ifaces, chassis_uuid, cfg);
        let bound_here = sb
            .rows("Port_Binding")
            .filter(|(_, pb)| pb.get_uuid("chassis") == Some(chassis_uuid))
            .filter_map(|(u, pb)| Some((pb.get_str("logical_port")?.to_string(), *u)))
            .collect();
        let local_datapaths = local_datapaths(sb, &wanted);
        let mut zone_keys: BTreeSet<String> = wanted
            .iter()
            .filter(|(_, u)| sb.row("Port_Binding", u).is_some_and(|pb| pb.get_str("type") == Some("")))
            .map(|(n, _)| n.clone())
            .collect();
        for dp in &local_datapaths {
            zone_keys.extend(crate::ctzone::datapath_keys(dp));
        }
        Bindings { wanted, bound_here, local_datapaths, zone_keys }
    }
}

/// Claims what should be ours and releases what no longer is.
pub fn sync_claims(sb: &Db, bindings: &Bindings, chassis_uuid: Uuid) -> Vec<Operation> {
    let wanted = &bindings.wanted;
    let mut ops = Vec::new();
    for (name, uuid) in wanted {
        let Some(pb) = sb.row("Port_Binding", uuid) else { continue };
        let mut row = BTreeMap::new();
        if pb.get_uuid("chassis") != Some(chassis_uuid) {
            tracing::info!("Claiming lport {name} for this chassis.");
            row.insert("chassis".to_string(), Datum::scalar(chassis_uuid));
        }
        // `up` is only written where northd created it (older northd leaves it empty).
        if pb.get("up").is_some_and(|d| !d.is_empty()) && pb.get_bool("up") != Some(true) {
            row.insert("up".to_string(), true.into());
        }
        if !row.is_empty() {
            ops.push(update("Port_Binding", *uuid, row));
        }
    }
    for (name, uuid) in &bindings.bound_here {
        let Some(pb) = sb.row("Port_Binding", uuid) else { continue };
        if pb.get_uuid("chassis") == Some(chassis_uuid) && !wanted.contains_key(name) {
            tracing::info!("Releasing lport {name} from this chassis.");
            let mut row = BTreeMap::from([("chassis".to_string(), Datum::empty_set())]);
            if pb.get("up").is_some_and(|d| !d.is_empty()) {
                row.insert("up".to_string(), false.into());
            }
            ops.push(update("Port_Binding", *uuid, row));
        }
    }
    ops
}

/// Datapaths with a port bound here, closed over patch-port peers.
pub fn local_datapaths(sb: &Db, bound: &BTreeMap<String, Uuid>) -> BTreeSet<Uuid> {
    let mut by_name: BTreeMap<&str, &Row> = BTreeMap::new();
    let mut patches_by_dp: BTreeMap<Uuid, Vec<&Row>> = BTreeMap::new();
    for (_, pb) in sb.rows("Port_Binding") {
        if let Some(name) = pb.get_str("logical_port") {
            by_name.insert(name, pb);
        }
        if pb.get_str("type") == Some("patch") {
            if let Some(dp) = pb.get_uuid("datapath") {
                patches_by_dp.entry(dp).or_default().push(pb);
            }
        }
    }
    let mut seen = BTreeSet::new();
    let mut queue: VecDeque<Uuid> =
        bound.values().filter_map(|u| sb.row("Port_Binding", u)).filter_map(|pb| pb.get_uuid("datapath")).collect();
    while let Some(dp) = queue.pop_front() {
        if !seen.insert(dp) {
            continue;
        }
        for patch in patches_by_dp.get(&dp).into_iter().flatten() {
            let peer = patch.get_map_str("options", "peer").and_then(|p| by_name.get(p));
            if let Some(peer_dp) = peer.and_then(|p| p.get_uuid("datapath")) {
                queue.push_back(peer_dp);
            }
        }
    }
    seen
}
