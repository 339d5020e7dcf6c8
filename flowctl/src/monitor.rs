//! What flowctl watches in the Southbound database. Like ovn-controller 23.03 it monitors every
//! table, but only the rows of its local datapaths in the big ones (Port_Binding, Logical_Flow,
//! MAC_Binding, ...) unless `ovn-monitor-all=true`. The clauses of one table's condition are
//! alternatives: a row is sent if any clause holds.

use std::collections::{BTreeMap, BTreeSet};

use shared::ovsdb::{Condition, Datum, Function, MonitorSpec, Uuid};

/// Every table of the 23.03 Southbound schema (20.27).
pub const SB_TABLES: &[&str] = &[
    "Address_Set",
    "BFD",
    "Chassis",
    "Chassis_Private",
    "Chassis_Template_Var",
    "Connection",
    "Controller_Event",
    "DHCP_Options",
    "DHCPv6_Options",
    "DNS",
    "Datapath_Binding",
    "Encap",
    "FDB",
    "Gateway_Chassis",
    "HA_Chassis",
    "HA_Chassis_Group",
    "IGMP_Group",
    "IP_Multicast",
    "Load_Balancer",
    "Logical_DP_Group",
    "Logical_Flow",
    "MAC_Binding",
    "Meter",
    "Meter_Band",
    "Mirror",
    "Multicast_Group",
    "Port_Binding",
    "Port_Group",
    "RBAC_Permission",
    "RBAC_Role",
    "SB_Global",
    "SSL",
    "Service_Monitor",
    "Static_MAC_Binding",
];

/// What the conditions depend on.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Interest {
    pub monitor_all: bool,
    /// Our Chassis row, once registered: (uuid, name).
    pub chassis: Option<(Uuid, String)>,
    /// `iface-id`s of local interfaces.
    pub local_ifaces: BTreeSet<String>,
    pub local_datapaths: BTreeSet<Uuid>,
}

fn all() -> Vec<Condition> {
    vec![Condition::Bool(true)]
}

fn eq(column: &str, value: impl Into<Datum>) -> Condition {
    Condition::eq(column, value)
}

/// Per conditional table, its condition; an empty clause list would mean "everything" on the
/// wire, so "nothing" is spelled `[false]`.
pub fn conditions(i: &Interest) -> BTreeMap<&'static str, Vec<Condition>> {
    let conditional = [
        "Port_Binding",
        "Logical_Flow",
        "Logical_DP_Group",
        "MAC_Binding",
        "Multicast_Group",
        "DNS",
        "Controller_Event",
        "IP_Multicast",
        "IGMP_Group",
        "Chassis_Private",
        "Chassis_Template_Var",
    ];
    let mut c: BTreeMap<&'static str, Vec<Condition>> = conditional.into_iter().map(|t| (t, Vec::new())).collect();
    // Datapath groups are few and immutable: always all of them, so that a flow never
    // arrives before the group it names.
    c.insert("Logical_DP_Group", all());
    if i.monitor_all {
        for v in c.values_mut() {
            *v = all();
        }
        return c;
    }
    let mut add = |table: &'static str, clause: Condition| c.entry(table).or_default().push(clause);
    for kind in ["patch", "chassisredirect", "external"] {
        add("Port_Binding", eq("type", kind));
    }
    match &i.chassis {
        Some((uuid, name)) => {
            add("Port_Binding", eq("chassis", *uuid));
            add("Port_Binding", eq("requested_chassis", *uuid));
            for key in ["l2gateway-chassis", "l3gateway-chassis"] {
                add("Port_Binding", Condition::new("options", Function::Includes, Datum::map([(key, name.as_str())])));
            }
            add("Controller_Event", eq("chassis", *uuid));
            add("IGMP_Group", eq("chassis", *uuid));
            add("Chassis_Private", eq("name", name.as_str()));
            add("Chassis_Template_Var", eq("chassis", name.as_str()));
        }
        None => {
            // Until registered: all Chassis_Private rows (so ours is not created twice) and
            // every gateway port (they may be claimed as soon as the chassis exists).
            add("Chassis_Private", Condition::Bool(true));
            add("Port_Binding", eq("type", "l2gateway"));
            add("Port_Binding", eq("type", "l3gateway"));
        }
    }
    for name in &i.local_ifaces {
        add("Port_Binding", eq("logical_port", name.as_str()));
        add("Port_Binding", eq("parent_port", name.as_str()));
    }
    for dp in &i.local_datapaths {
        add("Port_Binding", eq("datapath", *dp));
        add("Logical_Flow", eq("logical_datapath", *dp));
        add("MAC_Binding", eq("datapath", *dp));
        add("Multicast_Group", eq("datapath", *dp));
        add("DNS", Condition::new("datapaths", Function::Includes, Datum::set([*dp])));
        add("IP_Multicast", eq("datapath", *dp));
    }
    if !i.local_datapaths.is_empty() {
        // Flows of datapath groups: the group's members are not known up front.
        add("Logical_Flow", Condition::new("logical_dp_group", Function::Ne, Datum::empty_set()));
    }
    for v in c.values_mut() {
        if v.is_empty() {
            v.push(Condition::Bool(false));
        }
    }
    c
}

/// The initial monitor request: every table, conditional ones with the conditions of a
/// chassis that knows nothing yet.
pub fn sb_monitor(initial: &Interest) -> MonitorSpec {
    let conds = conditions(initial);
    SB_TABLES.iter().fold(MonitorSpec::new(), |spec, table| match conds.get(table) {
        Some(c) => spec.table_where(table, c.clone()),
        None => spec.table(table),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_chassis_watches_gateways_and_all_chassis_private() {
        let c = conditions(&Interest::default());
        assert_eq!(c["Logical_Flow"], vec![Condition::Bool(false)]);
        assert_eq!(c["Logical_DP_Group"], vec![Condition::Bool(true)]);
        assert_eq!(c["Chassis_Private"], vec![Condition::Bool(true)]);
        assert!(c["Port_Binding"].contains(&eq("type", "l3gateway")));
    }

    #[test]
    fn local_datapaths_open_their_rows() {
        let dp = Uuid::from_u128(7);
        let ch = Uuid::from_u128(9);
        let i = Interest {
            chassis: Some((ch, "hv1".into())),
            local_ifaces: BTreeSet::from(["lp1".to_string()]),
            local_datapaths: BTreeSet::from([dp]),
            ..Interest::default()
        };
        let c = conditions(&i);
        assert!(c["Logical_Flow"].contains(&eq("logical_datapath", dp)));
        assert!(c["Port_Binding"].contains(&eq("logical_port", "lp1")));
        assert!(c["Port_Binding"].contains(&eq("chassis", ch)));
        assert_eq!(c["Chassis_Private"], vec![eq("name", "hv1")]);
        assert!(!c["Port_Binding"].contains(&eq("type", "l3gateway")));
    }

    #[test]
    fn monitor_all_is_everything() {
        let c = conditions(&Interest { monitor_all: true, ..Interest::default() });
        assert!(c.values().all(|v| v == &vec![Condition::Bool(true)]));
    }
}
