//! What logical-flow translation needs from the Southbound replica, gathered once per
//! computation: local datapaths with their ports' tunnel keys, the ports related to this
//! chassis, address sets, port groups; and the [`Lookups`] the expression compiler asks.

use std::collections::{BTreeSet, HashMap};

use shared::ovsdb::{Row, Uuid};

use super::expr::{parse_address_set, Lookups, Number};
use crate::db::{Db, Touched};

/// One local logical datapath.
#[derive(Debug, Default)]
pub struct Datapath {
    pub key: u32,
    /// A logical switch (has no `logical-router` in external_ids).
    pub is_switch: bool,
    /// Logical port and multicast group names to tunnel keys.
    pub port_keys: HashMap<String, u32>,
    /// external_ids:snat-ct-zone is set: the `_in_czone` NAT actions use the SNAT zone.
    pub snat_ct_zone_set: bool,
}

/// The Southbound facts of one computation.
#[derive(Debug, Default)]
pub struct SbContext {
    pub datapaths: HashMap<Uuid, Datapath>,
    /// Ports whose flows this chassis needs (23.03's related lports, see [`is_related`]).
    pub related: BTreeSet<String>,
    /// The same ports as (datapath key, port key): what lflow.c checks a match's
    /// inport/outport against.
    pub related_keys: BTreeSet<(u32, u32)>,
    /// Port name to (datapath key, port key), for every port (an `in_out_port` tag may name
    /// a port of another datapath).
    pub port_ids: HashMap<String, (u32, u32)>,
    /// Port name to (datapath key, name of the chassis it is bound to), for `fwd_group`.
    pub port_chassis: HashMap<String, (u32, String)>,
    /// Ports resident on this chassis (`is_chassis_resident`).
    pub resident: BTreeSet<String>,
    pub address_sets: HashMap<String, Vec<Number>>,
    /// Address_Set rows by uuid to their names (a deleted row is known by its uuid only).
    address_set_names: HashMap<Uuid, String>,
    /// Port groups with only their related ports, by Southbound name.
    pub port_groups: HashMap<String, Vec<String>>,
    /// Logical_DP_Group uuid to its member datapaths.
    pub dp_groups: HashMap<Uuid, Vec<Uuid>>,
    /// Chassis_Template_Var variables of this chassis (`^name` in matches and actions).
    pub template_vars: HashMap<String, String>,
}

/// This chassis, as the relatedness rules need it.
pub struct ThisChassis<'a> {
    pub uuid: Option<Uuid>,
    pub name: &'a str,
    /// iface-ids of the OVS interfaces on br-int (a localport is related when one names it).
    pub iface_ids: &'a BTreeSet<String>,
}

/// binding.c 23.03 `update_related_lport` callers: patch, vtep and localnet ports always;
/// a localport with a local interface; l2/l3 gateway ports of this chassis; chassisredirect
/// and external ports whose HA chassis group has this chassis; other ports bound here.
fn is_related(sb: &Db, pb: &Row, name: &str, here: &ThisChassis<'_>) -> bool {
    let bound_here = here.uuid.is_some() && pb.get_uuid("chassis") == here.uuid;
    match pb.get_str("type").unwrap_or("") {
        "patch" | "vtep" | "localnet" => true,
        "localport" => here.iface_ids.contains(name),
        "l2gateway" => pb.get_map_str("options", "l2gateway-chassis") == Some(here.name),
        "l3gateway" => pb.get_map_str("options", "l3gateway-chassis") == Some(here.name),
        "chassisredirect" | "external" => bound_here || in_ha_group(sb, pb, here.uuid),
        _ => bound_here,
    }
}

fn in_ha_group(sb: &Db, pb: &Row, chassis: Option<Uuid>) -> bool {
    let (Some(group), Some(chassis)) = (pb.get_uuid("ha_chassis_group"), chassis) else { return false };
    let Some(group) = sb.row("HA_Chassis_Group", &group) else { return false };
    crate::db::uuid_set(group, "ha_chassis")
        .iter()
        .filter_map(|u| sb.row("HA_Chassis", u))
        .any(|hc| hc.get_uuid("chassis") == Some(chassis))
}

/// Which parts of an [`SbContext`] were built afresh; the others were carried over from the
/// last computation, their tables untouched since.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rebuilt {
    pub ports: bool,
    pub template_vars: bool,
    pub address_sets: bool,
    pub port_groups: bool,
    pub dp_groups: bool,
}

impl Rebuilt {
    pub const ALL: Rebuilt =
        Rebuilt { ports: true, template_vars: true, address_sets: true, port_groups: true, dp_groups: true };
}

/// What [`SbContext::update`] replaced.
#[derive(Debug)]
pub struct ContextChange {
    pub rebuilt: Rebuilt,
    /// The replaced parts (the others are empty).
    pub old: SbContext,
    /// The address sets parsed again or removed; `None`: all of them may differ.
    pub address_sets: Option<Vec<String>>,
}

/// The tables the port facts (datapaths, port keys, relatedness, residency) come from.
const PORT_TABLES: &[&str] =
    &["Datapath_Binding", "Port_Binding", "Chassis", "HA_Chassis_Group", "HA_Chassis", "Multicast_Group"];

impl SbContext {
    /// Brings `prev` (built for the same local datapaths and chassis) up to date with the
    /// rows `touched` since, rebuilding only the parts those tables feed; builds everything
    /// without `prev` or `touched`. Also returns what was replaced, to compare.
    pub fn update(
        prev: Option<SbContext>,
        sb: &Db,
        local_dps: &BTreeSet<Uuid>,
        here: &ThisChassis<'_>,
        touched: Option<&Touched>,
    ) -> (SbContext, ContextChange) {
        let (mut ctx, mut change) = match (prev, touched) {
            (Some(prev), Some(t)) => {
                let any = |tables: &[&str]| tables.iter().any(|x| t.contains_key(*x));
                let ports = any(PORT_TABLES);
                let rebuilt = Rebuilt {
                    ports,
                    template_vars: any(&["Chassis_Template_Var"]),
                    address_sets: any(&["Address_Set"]),
                    port_groups: ports || any(&["Port_Group"]),
                    dp_groups: any(&["Logical_DP_Group"]),
                };
                (prev, ContextChange { rebuilt, old: SbContext::default(), address_sets: Some(Vec::new()) })
            }
            (prev, _) => (
                SbContext::default(),
                ContextChange { rebuilt: Rebuilt::ALL, old: prev.unwrap_or_default(), address_sets: None },
            ),
        };
        let (rebuilt, old) = (change.rebuilt, &mut change.old);
        // Incrementally, the parts rebuilt move to `old` first; otherwise `old` has them all.
        let incremental = change.address_sets.is_some();
        if rebuilt.ports && incremental {
            old.datapaths = std::mem::take(&mut ctx.datapaths);
            old.port_ids = std::mem::take(&mut ctx.port_ids);
            old.port_chassis = std::mem::take(&mut ctx.port_chassis);
            old.related_keys = std::mem::take(&mut ctx.related_keys);
            old.resident = std::mem::take(&mut ctx.resident);
        }
        if rebuilt.ports {
            ctx.build_ports(sb, local_dps, here);
        }
        let old = &mut change.old;
        if rebuilt.template_vars {
            if incremental {
                old.template_vars = std::mem::take(&mut ctx.template_vars);
            }
            for (_, tv) in sb.rows("Chassis_Template_Var") {
                if tv.get_str("chassis") == Some(here.name) {
                    ctx.template_vars.extend(crate::db::string_map(tv, "variables"));
                }
            }
        }
        if rebuilt.address_sets {
            let only = if incremental { touched.and_then(|t| t.get("Address_Set")) } else { None };
            let names = ctx.update_address_sets(sb, only, &mut change.old);
            if let Some(changed) = change.address_sets.as_mut() {
                *changed = names;
            }
        }
        let old = &mut change.old;
        if rebuilt.port_groups {
            if incremental {
                old.port_groups = std::mem::take(&mut ctx.port_groups);
            }
            for (_, pg) in sb.rows("Port_Group") {
                let Some(name) = pg.get_str("name") else { continue };
                let ports = pg
                    .get_set("ports")
                    .filter_map(|a| a.as_str())
                    .filter(|p| ctx.related.contains(*p))
                    .map(String::from);
                ctx.port_groups.insert(name.to_string(), ports.collect());
            }
        }
        if rebuilt.dp_groups {
            if incremental {
                old.dp_groups = std::mem::take(&mut ctx.dp_groups);
            }
            for (uuid, g) in sb.rows("Logical_DP_Group") {
                ctx.dp_groups.insert(*uuid, crate::db::uuid_set(g, "datapaths"));
            }
        }
        (ctx, change)
    }

    fn build_ports(&mut self, sb: &Db, local_dps: &BTreeSet<Uuid>, here: &ThisChassis<'_>) {
        let ctx = self;
        ctx.datapaths.clear();
        ctx.port_ids.clear();
        ctx.port_chassis.clear();
        ctx.related_keys.clear();
        ctx.resident.clear();
        ctx.related.clear();
        for dp in local_dps {
            let Some(row) = sb.row("Datapath_Binding", dp) else { continue };
            let Some(key) = crate::db::tunnel_key(row) else { continue };
            let is_switch = row.get_map_str("external_ids", "logical-router").is_none();
            let snat_ct_zone_set = row.get_map_str("external_ids", "snat-ct-zone").is_some();
            ctx.datapaths.insert(*dp, Datapath { key, is_switch, port_keys: HashMap::new(), snat_ct_zone_set });
        }
        let dp_keys: HashMap<Uuid, u32> =
            sb.rows("Datapath_Binding").filter_map(|(u, r)| Some((*u, crate::db::tunnel_key(r)?))).collect();
        for (_, pb) in sb.rows("Port_Binding") {
            let (Some(name), Some(dp)) = (pb.get_str("logical_port"), pb.get_uuid("datapath")) else { continue };
            let (Some(dp_key), Some(port_key)) = (dp_keys.get(&dp), crate::db::tunnel_key(pb)) else { continue };
            ctx.port_ids.insert(name.to_string(), (*dp_key, port_key));
            if let Some(chassis) =
                pb.get_uuid("chassis").and_then(|c| sb.row("Chassis", &c)).and_then(|c| c.get_str("name"))
            {
                ctx.port_chassis.insert(name.to_string(), (*dp_key, chassis.to_string()));
            }
            let related = is_related(sb, pb, name, here);
            if related {
                ctx.related_keys.insert((*dp_key, port_key));
            }
            let Some(datapath) = ctx.datapaths.get_mut(&dp) else { continue };
            datapath.port_keys.insert(name.to_string(), port_key);
            if here.uuid.is_some() && pb.get_uuid("chassis") == here.uuid {
                ctx.resident.insert(name.to_string());
            }
            if related {
                ctx.related.insert(name.to_string());
            }
        }
        for (_, mg) in sb.rows("Multicast_Group") {
            let (Some(name), Some(dp)) = (mg.get_str("name"), mg.get_uuid("datapath")) else { continue };
            if let (Some(datapath), Some(key)) = (ctx.datapaths.get_mut(&dp), crate::db::tunnel_key(mg)) {
                datapath.port_keys.entry(name.to_string()).or_insert(key);
            }
        }
    }

    /// Parses the address sets of the rows `only` names (changed since the last computation),
    /// or all of them: a big set is parsed again only when it changes. The replaced sets go to
    /// `old`; returns the names of the sets parsed or removed.
    fn update_address_sets(&mut self, sb: &Db, only: Option<&BTreeSet<Uuid>>, old: &mut SbContext) -> Vec<String> {
        let rows: Vec<Uuid> = match only {
            Some(only) => only.iter().copied().collect(),
            None => {
                old.address_sets.extend(self.address_sets.drain());
                self.address_set_names.clear();
                sb.rows("Address_Set").map(|(u, _)| *u).collect()
            }
        };
        let mut names = Vec::new();
        for uuid in rows {
            if let Some(name) = self.address_set_names.remove(&uuid) {
                if let Some(v) = self.address_sets.remove(&name) {
                    old.address_sets.insert(name.clone(), v);
                }
                names.push(name);
            }
            let Some(set) = sb.row("Address_Set", &uuid) else { continue };
            let Some(name) = set.get_str("name") else { continue };
            let values: Vec<String> = set.get_set("addresses").filter_map(|a| a.as_str().map(String::from)).collect();
            self.address_sets.insert(name.to_string(), parse_address_set(&values));
            self.address_set_names.insert(uuid, name.to_string());
            names.push(name.to_string());
        }
        names
    }

    /// The local datapaths a Logical_Flow applies to.
    pub fn flow_datapaths(&self, flow: &shared::ovsdb::Row) -> Vec<Uuid> {
        let mut out: Vec<Uuid> = flow.get_uuid("logical_datapath").into_iter().collect();
        if let Some(group) = flow.get_uuid("logical_dp_group").and_then(|g| self.dp_groups.get(&g)) {
            out.extend(group.iter().copied());
        }
        out.retain(|dp| self.datapaths.contains_key(dp));
        out.sort();
        out.dedup();
        out
    }

    pub fn lookups<'a>(&'a self, dp: &'a Datapath) -> DatapathLookups<'a> {
        DatapathLookups { ctx: self, dp }
    }
}

/// [`Lookups`] for one datapath.
pub struct DatapathLookups<'a> {
    ctx: &'a SbContext,
    dp: &'a Datapath,
}

impl Lookups for DatapathLookups<'_> {
    fn address_set(&self, name: &str) -> Option<&[Number]> {
        self.ctx.address_sets.get(name).map(Vec::as_slice)
    }

    /// 23.03's northd names per-datapath port groups `<datapath key>_<name>`.
    fn port_group(&self, name: &str) -> Option<&[String]> {
        let per_dp = format!("{}_{name}", self.dp.key);
        self.ctx.port_groups.get(&per_dp).or_else(|| self.ctx.port_groups.get(name)).map(Vec::as_slice)
    }

    fn port_key(&self, name: &str) -> Option<u32> {
        if name == "none" {
            return Some(0);
        }
        self.dp.port_keys.get(name).copied()
    }

    fn is_chassis_resident(&self, port: &str) -> bool {
        self.ctx.resident.contains(port)
    }
}
