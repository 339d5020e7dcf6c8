//! What logical-flow translation needs from the Southbound replica, gathered once per
//! computation: local datapaths with their ports' tunnel keys, the ports related to this
//! chassis, address sets, port groups; and the [`Lookups`] the expression compiler asks.

use std::collections::{BTreeSet, HashMap};

use shared::ovsdb::Uuid;

use super::expr::{parse_address_set, Lookups, Number};
use crate::db::Db;

/// One local logical datapath.
#[derive(Debug, Default)]
pub struct Datapath {
    pub key: u32,
    /// A logical switch (has no `logical-router` in external_ids).
    pub is_switch: bool,
    /// Logical port and multicast group names to tunnel keys.
    pub port_keys: HashMap<String, u32>,
}

/// The Southbound facts of one computation.
#[derive(Debug, Default)]
pub struct SbContext {
    pub datapaths: HashMap<Uuid, Datapath>,
    /// Ports whose flows this chassis needs: bound here, or patch/localnet/l2gateway/
    /// localport/chassisredirect on a local datapath (23.03's related lports).
    pub related: BTreeSet<String>,
    /// Ports resident on this chassis (`is_chassis_resident`).
    pub resident: BTreeSet<String>,
    pub address_sets: HashMap<String, Vec<Number>>,
    /// Port groups with only their related ports, by Southbound name.
    pub port_groups: HashMap<String, Vec<String>>,
    /// Logical_DP_Group uuid to its member datapaths.
    pub dp_groups: HashMap<Uuid, Vec<Uuid>>,
}

const RELATED_TYPES: [&str; 5] = ["patch", "localnet", "l2gateway", "localport", "chassisredirect"];

impl SbContext {
    pub fn build(sb: &Db, local_dps: &BTreeSet<Uuid>, chassis: Option<Uuid>) -> SbContext {
        let mut ctx = SbContext::default();
        for dp in local_dps {
            let Some(row) = sb.row("Datapath_Binding", dp) else { continue };
            let Some(key) = row.get_i64("tunnel_key").and_then(|k| u32::try_from(k).ok()) else { continue };
            let is_switch = row.get_map_str("external_ids", "logical-router").is_none();
            ctx.datapaths.insert(*dp, Datapath { key, is_switch, port_keys: HashMap::new() });
        }
        for (_, pb) in sb.rows("Port_Binding") {
            let (Some(name), Some(dp)) = (pb.get_str("logical_port"), pb.get_uuid("datapath")) else { continue };
            let Some(datapath) = ctx.datapaths.get_mut(&dp) else { continue };
            if let Some(key) = pb.get_i64("tunnel_key").and_then(|k| u32::try_from(k).ok()) {
                datapath.port_keys.insert(name.to_string(), key);
            }
            let here = chassis.is_some() && pb.get_uuid("chassis") == chassis;
            let kind = pb.get_str("type").unwrap_or("");
            if here {
                ctx.resident.insert(name.to_string());
            }
            if here || RELATED_TYPES.contains(&kind) {
                ctx.related.insert(name.to_string());
            }
        }
        for (_, mg) in sb.rows("Multicast_Group") {
            let (Some(name), Some(dp)) = (mg.get_str("name"), mg.get_uuid("datapath")) else { continue };
            let key = mg.get_i64("tunnel_key").and_then(|k| u32::try_from(k).ok());
            if let (Some(datapath), Some(key)) = (ctx.datapaths.get_mut(&dp), key) {
                datapath.port_keys.entry(name.to_string()).or_insert(key);
            }
        }
        for (_, set) in sb.rows("Address_Set") {
            let Some(name) = set.get_str("name") else { continue };
            let values: Vec<String> = set.get_set("addresses").filter_map(|a| a.as_str().map(String::from)).collect();
            ctx.address_sets.insert(name.to_string(), parse_address_set(&values));
        }
        for (_, pg) in sb.rows("Port_Group") {
            let Some(name) = pg.get_str("name") else { continue };
            let ports =
                pg.get_set("ports").filter_map(|a| a.as_str()).filter(|p| ctx.related.contains(*p)).map(String::from);
            ctx.port_groups.insert(name.to_string(), ports.collect());
        }
        for (uuid, g) in sb.rows("Logical_DP_Group") {
            ctx.dp_groups.insert(*uuid, crate::db::uuid_set(g, "datapaths"));
        }
        ctx
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
