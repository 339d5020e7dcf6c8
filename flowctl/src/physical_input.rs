//! Fills the physical-flow builder's input from flowctl's replicas (see the table in
//! `physical`'s module docs for which column feeds which field).

use std::collections::{BTreeMap, BTreeSet};

use shared::ovsdb::{Row, Uuid};

use crate::bridge;
use crate::config::ChassisConfig;
use crate::db::{string_map, uuid_set, Db};
use crate::physical::{
    ChassisInfo, Datapath, Encap, HaChassis, HaChassisGroup, McGroup, PhysicalInput, PortBinding, Tunnel, Vif,
};

fn key(row: &Row, column: &str) -> Option<u32> {
    row.get_i64(column).and_then(|k| u32::try_from(k).ok())
}

fn strings(row: &Row, column: &str) -> Vec<String> {
    row.get_set(column).filter_map(|a| a.as_str().map(String::from)).collect()
}

fn ofport(row: &Row) -> Option<u16> {
    row.get_i64("ofport").and_then(|p| u16::try_from(p).ok()).filter(|p| *p > 0)
}

pub fn build(
    ovs: &Db,
    sb: &Db,
    cfg: &ChassisConfig,
    br_int: &Row,
    local_dps: &BTreeSet<Uuid>,
    ct_zones: BTreeMap<String, u16>,
    geneve_index: u8,
) -> PhysicalInput {
    let chassis_name =
        |u: Option<Uuid>| u.and_then(|u| sb.row("Chassis", &u)).and_then(|c| c.get_str("name")).map(String::from);
    let chassis_names = |row: &Row, col: &str| -> Vec<String> {
        uuid_set(row, col).into_iter().filter_map(|u| chassis_name(Some(u))).collect()
    };
    let dp_keys: BTreeMap<Uuid, u32> =
        sb.rows("Datapath_Binding").filter_map(|(u, r)| Some((*u, key(r, "tunnel_key")?))).collect();
    let datapaths = local_dps
        .iter()
        .filter_map(|dp| {
            let row = sb.row("Datapath_Binding", dp)?;
            Some(Datapath {
                key: key(row, "tunnel_key")?,
                uuid: dp.to_string(),
                is_transit_switch: row.get_map_str("external_ids", "interconn-ts").is_some(),
            })
        })
        .collect();
    let mut ports = Vec::new();
    for (uuid, pb) in sb.rows("Port_Binding") {
        let (Some(name), Some(datapath), Some(tunnel_key)) =
            (pb.get_str("logical_port"), pb.get_uuid("datapath").and_then(|d| dp_keys.get(&d)), key(pb, "tunnel_key"))
        else {
            continue;
        };
        let encap_ip = |u: Uuid| sb.row("Encap", &u).and_then(|e| e.get_str("ip")).map(String::from);
        let ha_chassis_group =
            pb.get_uuid("ha_chassis_group").and_then(|g| sb.row("HA_Chassis_Group", &g)).map(|g| HaChassisGroup {
                members: uuid_set(g, "ha_chassis")
                    .into_iter()
                    .filter_map(|u| sb.row("HA_Chassis", &u))
                    .map(|h| HaChassis {
                        chassis: chassis_name(h.get_uuid("chassis")),
                        priority: h.get_i64("priority").unwrap_or(0),
                    })
                    .collect(),
                ref_chassis: chassis_names(g, "ref_chassis"),
            });
        ports.push(PortBinding {
            uuid: uuid.to_string(),
            logical_port: name.to_string(),
            kind: pb.get_str("type").unwrap_or("").to_string(),
            datapath: *datapath,
            tunnel_key,
            chassis: chassis_name(pb.get_uuid("chassis")),
            additional_chassis: chassis_names(pb, "additional_chassis"),
            encap_ip: pb.get_uuid("encap").and_then(encap_ip),
            additional_encap: uuid_set(pb, "additional_encap")
                .into_iter()
                .filter_map(|u| sb.row("Encap", &u))
                .filter_map(|e| Some((e.get_str("chassis_name")?.to_string(), e.get_str("ip")?.to_string())))
                .collect(),
            requested_chassis: chassis_name(pb.get_uuid("requested_chassis")),
            requested_additional_chassis: chassis_names(pb, "requested_additional_chassis"),
            parent_port: pb.get_str("parent_port").map(String::from),
            tag: pb.get_i64("tag").and_then(|t| u16::try_from(t).ok()),
            mac: strings(pb, "mac"),
            options: string_map(pb, "options"),
            ha_chassis_group,
        });
    }
    let mc_groups = sb
        .rows("Multicast_Group")
        .filter_map(|(uuid, mg)| {
            Some(McGroup {
                uuid: uuid.to_string(),
                datapath: *dp_keys.get(&mg.get_uuid("datapath")?)?,
                tunnel_key: key(mg, "tunnel_key")?,
                ports: uuid_set(mg, "ports")
                    .into_iter()
                    .filter_map(|u| sb.row("Port_Binding", &u)?.get_str("logical_port").map(String::from))
                    .collect(),
            })
        })
        .collect();
    let chassis_rows = sb
        .rows("Chassis")
        .map(|(uuid, c)| ChassisInfo {
            uuid: uuid.to_string(),
            name: c.get_str("name").unwrap_or("").to_string(),
            is_vtep: c.get_map_str("other_config", "is-vtep") == Some("true"),
            mac_mappings: c.get_map_str("other_config", "ovn-chassis-mac-mappings").unwrap_or("").to_string(),
        })
        .collect();
    let mut tunnels = Vec::new();
    let mut patch_ofports = BTreeMap::new();
    for (_, port) in bridge::ports(ovs, br_int) {
        let ifaces: Vec<&Row> = uuid_set(port, "interfaces").iter().filter_map(|u| ovs.row("Interface", u)).collect();
        let Some(iface) = ifaces.first() else { continue };
        let Some(ofport) = ofport(iface) else { continue };
        if let Some(id) = port.get_map_str("external_ids", "ovn-chassis-id") {
            if let Some(encap) = Encap::from_iface_type(iface.get_str("type").unwrap_or("")) {
                let is_ipv6 = iface.get_map_str("options", "remote_ip").is_some_and(|ip| ip.contains(':'));
                tunnels.push(Tunnel { chassis_id: id.to_string(), encap, ofport, is_ipv6 });
            }
        }
        for k in ["ovn-localnet-port", "ovn-l2gateway-port"] {
            if let Some(lport) = port.get_map_str("external_ids", k) {
                patch_ofports.insert(lport.to_string(), ofport);
            }
        }
    }
    let vifs = bridge::interfaces(ovs, br_int)
        .into_iter()
        .filter_map(|(_, i)| {
            let lport = i.get_map_str("external_ids", "iface-id")?;
            let mtu = i.get_i64("mtu").and_then(|m| u16::try_from(m).ok()).unwrap_or(0);
            Some((lport.to_string(), Vif { ofport: ofport(i)?, mtu }))
        })
        .collect();
    PhysicalInput {
        chassis: cfg.chassis_id.clone(),
        hostname: cfg.hostname.clone(),
        chassis_mac_mappings: cfg.other_config.get("ovn-chassis-mac-mappings").cloned().unwrap_or_default(),
        geneve_index,
        bridge_networks: cfg.bridge_mappings.keys().cloned().collect(),
        datapaths,
        ports,
        mc_groups,
        chassis_rows,
        tunnels,
        vifs,
        patch_ofports,
        ct_zones,
        ..PhysicalInput::default()
    }
}
