//! The differential test against OVN 23.03: for each recorded topology
//! (flowctl/tests/data/physical/*.txt, written by tests/tests/physical_golden.rs from what the
//! real ovn-controller installed), [`compute`] on the recorded facts must give the same flows
//! in the tables physical.c fills (0, 37-41, 64, 65).
//!
//! Both sides are printed with the codec (`format_match` / `format_actions`); the recorded
//! lines are parsed first, so both go through the same printer. Ofports, ct zones and tunnel
//! ports come from the same run as the flows, so they are compared as they are. Lines are
//! compared as multisets per table; action order counts.

use std::collections::{BTreeMap, BTreeSet};

use shared::openflow::text::{format_actions, format_match, parse_flow};

use super::*;

const TOPOLOGIES: [&str; 12] = [
    "switch",
    "multi_hv",
    "localnet",
    "localnet_rerun",
    "ha_gateway",
    "vxlan",
    "gateways",
    "migration",
    "bridged",
    "fanout",
    "ha_gateway_hv2",
    "bridged_hv2",
];
const TABLES: [u8; 8] = [0, 37, 38, 39, 40, 41, 64, 65];

fn data_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/physical")
}

fn dash(s: &str) -> Option<String> {
    (s != "-" && !s.is_empty()).then(|| s.to_string())
}

fn list(s: &str) -> Vec<String> {
    if s == "-" || s.is_empty() {
        return Vec::new();
    }
    s.split(',').map(str::to_string).collect()
}

/// The recorded facts as a [`PhysicalInput`], and the recorded flows.
pub(super) fn load(name: &str) -> (PhysicalInput, Vec<String>) {
    let path = data_dir().join(format!("{name}.txt"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut inp = PhysicalInput::default();
    let mut flows = Vec::new();
    let mut ports: BTreeMap<String, PortBinding> = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let g = |i: usize| f.get(i).copied().unwrap_or("");
        match g(0) {
            "chassis" => {
                if g(1) == "1" {
                    inp.chassis = g(3).to_string();
                    inp.hostname = g(4).to_string();
                    inp.chassis_mac_mappings = dash(g(6)).unwrap_or_default();
                }
                inp.chassis_rows.push(ChassisInfo {
                    uuid: g(2).to_string(),
                    name: g(3).to_string(),
                    is_vtep: g(5) == "1",
                    mac_mappings: dash(g(6)).unwrap_or_default(),
                });
            }
            "mappings" => {
                inp.bridge_networks =
                    list(g(1)).iter().filter_map(|m| m.split_once(':')).map(|(n, _)| n.to_string()).collect();
            }
            "dp" if g(3) == "1" => {
                inp.datapaths.push(Datapath {
                    key: g(1).parse().unwrap(),
                    uuid: g(2).to_string(),
                    is_transit_switch: g(4) == "1",
                });
            }
            "pb" => {
                let pb = PortBinding {
                    uuid: g(1).to_string(),
                    logical_port: g(2).to_string(),
                    kind: dash(g(3)).unwrap_or_default(),
                    datapath: g(4).parse().unwrap(),
                    tunnel_key: g(5).parse().unwrap(),
                    chassis: dash(g(6)),
                    additional_chassis: list(g(7)),
                    parent_port: dash(g(8)),
                    tag: dash(g(9)).map(|t| t.parse().unwrap()),
                    encap_ip: dash(g(10)),
                    additional_encap: list(g(11))
                        .iter()
                        .filter_map(|e| e.split_once('@'))
                        .map(|(c, ip)| (c.to_string(), ip.to_string()))
                        .collect(),
                    requested_chassis: dash(g(12)),
                    requested_additional_chassis: list(g(13)),
                    ..PortBinding::default()
                };
                ports.insert(pb.logical_port.clone(), pb);
            }
            "pbmac" => ports.get_mut(g(1)).unwrap().mac.push(g(2).to_string()),
            "pbopt" => {
                ports.get_mut(g(1)).unwrap().options.insert(g(2).to_string(), g(3).to_string());
            }
            "pbha" => {
                let members = list(g(2))
                    .iter()
                    .filter_map(|m| m.rsplit_once(':'))
                    .map(|(c, p)| HaChassis { chassis: dash(c), priority: p.parse().unwrap() })
                    .collect();
                ports.get_mut(g(1)).unwrap().ha_chassis_group =
                    Some(HaChassisGroup { members, ref_chassis: list(g(3)) });
            }
            "mc" => inp.mc_groups.push(McGroup {
                uuid: g(1).to_string(),
                datapath: g(3).parse().unwrap(),
                tunnel_key: g(4).parse().unwrap(),
                ports: list(g(5)),
            }),
            "tunnel" => {
                inp.tunnels.push(Tunnel {
                    chassis_id: g(1).to_string(),
                    encap: Encap::from_iface_type(g(2)).unwrap(),
                    ofport: g(3).parse().unwrap(),
                    is_ipv6: g(1).contains(':'),
                });
                if g(4) == "1" {
                    inp.active_tunnels.insert(g(1).split('@').next().unwrap().to_string());
                }
            }
            "vif" => {
                inp.vifs.insert(g(1).to_string(), Vif { ofport: g(2).parse().unwrap(), mtu: g(3).parse().unwrap() });
            }
            "patch" => {
                inp.patch_ofports.insert(g(1).to_string(), g(2).parse().unwrap());
            }
            "zone" => {
                inp.ct_zones.insert(g(1).to_string(), g(2).parse().unwrap());
            }
            "geneve" => inp.geneve_index = g(1).trim_start_matches("tun_metadata").parse().unwrap(),
            "flow" => flows.push(g(1).to_string()),
            _ => {}
        }
    }
    // Port_Binding rows in UUID order, as the IDL iterates them.
    let mut pbs: Vec<PortBinding> = ports.into_values().collect();
    pbs.sort_by(|a, b| a.uuid.cmp(&b.uuid));
    inp.ports = pbs;
    (inp, flows)
}

pub(super) fn print(table: u8, priority: u16, cookie: u64, m: &Match, actions: &[Action]) -> String {
    let acts = if actions.is_empty() { "drop".to_string() } else { format_actions(actions) };
    format!("cookie={cookie:#x}, table={table}, {} actions={acts}", format_match(m, Some(priority)))
}

/// A dump-flows line through the codec's parser and printer.
fn canonical(line: &str) -> (u8, String) {
    let (head, acts) = line.split_once(" actions=").unwrap();
    let fm =
        parse_flow(&format!("{} actions={acts}", head.replace(", ", ","))).unwrap_or_else(|e| panic!("{line}: {e:?}"));
    (fm.table_id, print(fm.table_id, fm.priority, fm.cookie, &fm.matches, &fm.actions))
}

/// Per table (expected, matched); differing lines; cookie-only differences.
type Comparison = (BTreeMap<u8, (usize, usize)>, Vec<String>, Vec<String>);

/// The line without its cookie.
fn uncookied(l: &str) -> &str {
    l.split_once(", ").map_or(l, |(_, rest)| rest)
}

/// Per table: (expected, matched) counts; the diff lines; the lines that differ only in the
/// cookie of a conjunction clause (see [`physical_flows_match_ovn_controller_23_03`]).
fn compare(name: &str) -> Comparison {
    let (inp, recorded) = load(name);
    let mut want: BTreeMap<u8, Vec<String>> = BTreeMap::new();
    for l in &recorded {
        let (t, s) = canonical(l);
        want.entry(t).or_default().push(s);
    }
    let mut have: BTreeMap<u8, Vec<String>> = BTreeMap::new();
    for f in compute(&inp) {
        have.entry(f.table()).or_default().push(print(f.table(), f.priority(), f.cookie(), f.m(), f.actions()));
    }
    let mut stats = BTreeMap::new();
    let mut diff = Vec::new();
    let mut cookie_only = Vec::new();
    let tables: BTreeSet<u8> = want.keys().chain(have.keys()).copied().collect();
    for t in tables {
        let w = want.remove(&t).unwrap_or_default();
        let mut h = have.remove(&t).unwrap_or_default();
        let mut matched = 0;
        let mut missing = Vec::new();
        for l in &w {
            if let Some(i) = h.iter().position(|x| x == l) {
                h.swap_remove(i);
                matched += 1;
            } else {
                missing.push(l);
            }
        }
        for l in missing {
            let same =
                h.iter().position(|x| uncookied(x) == uncookied(l) && l.ends_with("actions=conjunction(100,2/2)"));
            if let Some(i) = same {
                cookie_only.push(format!("{name}: {l} (ours: {})", h.swap_remove(i)));
            } else {
                diff.push(format!("{name} - {l}"));
            }
        }
        for l in h {
            diff.push(format!("{name} + {l}"));
        }
        stats.insert(t, (w.len(), matched));
    }
    (stats, diff, cookie_only)
}

/// Every recorded flow must be reproduced exactly, except that a line may differ only in the
/// cookie of a conjunction clause that two rows produce alike (table, priority, match; the
/// chassis-MAC clause of two untagged localnet ports). 23.03 adds those under a static owner
/// and keeps the first: after a full recompute the first row of its IDL hash walk, which
/// [`idl_order`] imitates, but after incremental changes whichever port came first in
/// time. Such lines are counted and printed, not failed. (`localnet` and `localnet_rerun`
/// are the same topology with different UUIDs; both are reproduced exactly.)
#[test]
fn physical_flows_match_ovn_controller_23_03() {
    let mut all_diff = Vec::new();
    let mut all_cookie_only = Vec::new();
    let mut total = (0, 0);
    for name in TOPOLOGIES {
        let (stats, diff, cookie_only) = compare(name);
        all_cookie_only.extend(cookie_only);
        let per: Vec<String> = stats.iter().map(|(t, (w, m))| format!("{t}:{m}/{w}")).collect();
        eprintln!("{name}: {}", per.join(" "));
        for (t, (w, m)) in &stats {
            assert!(TABLES.contains(t), "{name}: flows in table {t}");
            total.0 += w;
            total.1 += m;
        }
        all_diff.extend(diff);
    }
    eprintln!("total: {}/{} recorded flows reproduced exactly", total.1, total.0);
    for l in &all_cookie_only {
        eprintln!("cookie only: {l}");
    }
    assert!(all_diff.is_empty(), "{} differing lines:\n{}", all_diff.len(), all_diff.join("\n"));
}
