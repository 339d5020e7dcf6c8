//! Records the golden corpus of the expression compiler (flowctl/src/lflow/expr): for a few
//! topologies, every Logical_Flow's match and the OpenFlow matches the real ovn-controller
//! 23.03 installed for it, plus the Southbound facts the compiler needs (port keys, address
//! sets, port groups, resident ports). Run it to regenerate the files:
//!
//! `cargo test -p chassisd-tests --test expr_golden -- --ignored`
//!
//! The files are in flowctl/tests/data/expr/; flowctl's unit tests compare against them.

mod golden_common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use chassisd_tests::{Controller, Sandbox};
use golden_common::{atoms, map_get, rows, s, uuid};
use serde_json::Value;

fn record(name: &str, setup: impl FnOnce(&Sandbox)) {
    record_on(name, &["hv1"], setup)
}

/// Records what the first of `hvs` installed.
fn record_on(name: &str, hvs: &[&str], setup: impl FnOnce(&Sandbox)) {
    let sb = Sandbox::builder().infra().hvs(hvs).controller(Controller::OvnController).start();
    for hv in sb.hvs() {
        hv.wait_chassis_registered();
    }
    setup(&sb);
    sb.ovn_nbctl_wait_hv_sync();
    let chassis_uuid = sb.sbctl(["--bare", "--columns=_uuid", "find", "Chassis", &format!("name={}", sb.chassis())]);
    let chassis_uuid = chassis_uuid.trim().to_string();

    let mut out = String::new();
    writeln!(out, "# {name}: recorded from ovn-controller 23.03 by tests/tests/expr_golden.rs; do not edit").unwrap();
    let mut dp_key = BTreeMap::new();
    for r in rows(&sb, "Datapath_Binding") {
        let key = r["tunnel_key"].as_i64().unwrap();
        dp_key.insert(uuid(&r["_uuid"]), key);
        let kind = if map_get(&r["external_ids"], "logical-switch").is_some() { "switch" } else { "router" };
        writeln!(out, "dp\t{key}\t{kind}").unwrap();
    }
    let mut groups = BTreeMap::new();
    for r in rows(&sb, "Logical_DP_Group") {
        let dps: Vec<i64> = atoms(&r["datapaths"]).iter().map(|d| dp_key[&uuid(d)]).collect();
        groups.insert(uuid(&r["_uuid"]), dps);
    }
    for r in rows(&sb, "Port_Binding") {
        let local = atoms(&r["chassis"]).iter().any(|c| uuid(c) == chassis_uuid);
        writeln!(
            out,
            "port\t{}\t{}\t{}\t{}\t{}",
            s(&r["logical_port"]),
            dp_key[&uuid(&r["datapath"])],
            r["tunnel_key"],
            u8::from(local),
            s(&r["type"])
        )
        .unwrap();
    }
    for r in rows(&sb, "Multicast_Group") {
        writeln!(out, "mcgroup\t{}\t{}\t{}", s(&r["name"]), dp_key[&uuid(&r["datapath"])], r["tunnel_key"]).unwrap();
    }
    for r in rows(&sb, "Address_Set") {
        let vals: Vec<String> = atoms(&r["addresses"]).iter().map(s).collect();
        writeln!(out, "addrset\t{}\t{}", s(&r["name"]), vals.join(" ")).unwrap();
    }
    for r in rows(&sb, "Chassis_Template_Var") {
        if s(&r["chassis"]) == sb.chassis() {
            if let Some(kvs) = r["variables"].as_array().and_then(|a| a.get(1)).and_then(Value::as_array) {
                for kv in kvs {
                    writeln!(out, "tvar\t{}\t{}", s(&kv[0]), s(&kv[1])).unwrap();
                }
            }
        }
    }
    for r in rows(&sb, "Port_Group") {
        let vals: Vec<String> = atoms(&r["ports"]).iter().map(s).collect();
        writeln!(out, "portgroup\t{}\t{}", s(&r["name"]), vals.join(" ")).unwrap();
    }

    let flows = sb.dump_flows("br-int");
    let parsed: Vec<Flow> = flows.iter().filter_map(|l| Flow::parse(l)).collect();
    let mut lflows = rows(&sb, "Logical_Flow");
    lflows.sort_by_key(|r| {
        (
            s(&r["pipeline"]),
            r["table_id"].as_i64(),
            -r["priority"].as_i64().unwrap_or(0),
            s(&r["match"]),
            uuid(&r["_uuid"]),
        )
    });
    let (mut n_lflows, mut n_flows) = (0, 0);
    for r in &lflows {
        let id = uuid(&r["_uuid"]);
        let ingress = s(&r["pipeline"]) == "ingress";
        let table = r["table_id"].as_i64().unwrap() + if ingress { 8 } else { 42 };
        let prio = r["priority"].as_i64().unwrap();
        let cookie = u64::from_str_radix(id.get(..8).unwrap(), 16).unwrap();
        let mut dps: Vec<i64> = atoms(&r["logical_datapath"]).iter().map(|d| dp_key[&uuid(d)]).collect();
        for g in atoms(&r["logical_dp_group"]) {
            dps.extend(groups.get(&uuid(&g)).cloned().unwrap_or_default());
        }
        let io = map_get(&r["tags"], "in_out_port").unwrap_or_else(|| "-".into());
        for dp in dps {
            n_lflows += 1;
            writeln!(
                out,
                "lflow\t{id}\t{dp}\t{}\t{}\t{prio}\t{io}\t{}\t{}",
                s(&r["pipeline"]),
                r["table_id"],
                s(&r["match"]),
                s(&r["actions"])
            )
            .unwrap();
            let mine = |f: &&Flow| f.table == table && f.priority == prio && f.metadata == Some(dp);
            let mut expect = BTreeSet::new();
            for f in parsed.iter().filter(mine).filter(|f| f.cookie == cookie) {
                expect.insert(f.match_.clone());
                if let Some(conj) = f.conj_id {
                    // The conjunction clauses of this flow carry cookie 0 and may be shared
                    // with other logical flows: pick them by conjunction id.
                    for g in parsed.iter().filter(mine) {
                        for (id, k) in &g.conjunctions {
                            if *id == conj {
                                expect.insert(format!("{} conjunction(*,{k})", g.match_));
                            }
                        }
                    }
                }
            }
            for e in expect {
                n_flows += 1;
                writeln!(out, "expect\t{}", e.replace(&format!("conj_id={}", 0), "conj_id=0")).unwrap();
            }
        }
    }
    eprintln!("{name}: {n_lflows} logical flows, {n_flows} expected OpenFlow matches");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../flowctl/tests/data/expr");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.txt")), out).unwrap();
}

/// One dump-flows line, split.
struct Flow {
    cookie: u64,
    table: i64,
    priority: i64,
    metadata: Option<i64>,
    /// The match without priority and metadata, conj_id masked as `conj_id=*`.
    match_: String,
    conj_id: Option<u32>,
    /// (id, "k/n")
    conjunctions: Vec<(u32, String)>,
}

impl Flow {
    fn parse(line: &str) -> Option<Flow> {
        let (head, actions) = line.split_once(" actions=")?;
        let mut cookie = 0;
        let mut table = 0;
        let mut rest = head;
        for part in head.split(", ") {
            if let Some(c) = part.strip_prefix("cookie=0x") {
                cookie = u64::from_str_radix(c, 16).ok()?;
            } else if let Some(t) = part.strip_prefix("table=") {
                table = t.parse().ok()?;
            }
            rest = part;
        }
        let mut priority = 32768;
        let mut metadata = None;
        let mut conj_id = None;
        let mut fields = Vec::new();
        for f in rest.split(',') {
            if let Some(p) = f.strip_prefix("priority=") {
                priority = p.parse().ok()?;
            } else if let Some(m) = f.strip_prefix("metadata=0x") {
                metadata = i64::from_str_radix(m, 16).ok();
            } else if let Some(c) = f.strip_prefix("conj_id=") {
                conj_id = c.parse().ok();
                fields.push("conj_id=*".to_string());
            } else {
                fields.push(f.to_string());
            }
        }
        let mut conjunctions = Vec::new();
        for a in actions.split("conjunction(").skip(1) {
            let inner = a.split(')').next()?;
            let (id, k) = inner.split_once(',')?;
            conjunctions.push((id.parse().ok()?, k.to_string()));
        }
        Some(Flow { cookie, table, priority, metadata, match_: fields.join(","), conj_id, conjunctions })
    }
}

#[test]
#[ignore = "regenerates flowctl/tests/data/expr; needs OVS/OVN"]
fn record_switch() {
    chassisd_tests::require_ovn!();
    record("switch", golden_common::switch);
}

#[test]
#[ignore = "regenerates flowctl/tests/data/expr; needs OVS/OVN"]
fn record_acl() {
    chassisd_tests::require_ovn!();
    record("acl", golden_common::acl);
}

#[test]
#[ignore = "regenerates flowctl/tests/data/expr; needs OVS/OVN"]
fn record_router() {
    chassisd_tests::require_ovn!();
    record("router", golden_common::router);
}

#[test]
#[ignore = "regenerates flowctl/tests/data/expr; needs OVS/OVN"]
fn record_lb() {
    chassisd_tests::require_ovn!();
    record("lb", golden_common::lb);
}

#[test]
#[ignore = "regenerates flowctl/tests/data/expr; needs OVS/OVN"]
fn record_multi_hv() {
    chassisd_tests::require_ovn!();
    record_on("multi_hv", &["hv1", "hv2"], golden_common::multi_hv);
}

#[test]
#[ignore = "regenerates flowctl/tests/data/expr; needs OVS/OVN"]
fn record_acl2() {
    chassisd_tests::require_ovn!();
    record("acl2", golden_common::acl2);
}

#[test]
#[ignore = "regenerates flowctl/tests/data/expr; needs OVS/OVN"]
fn record_services() {
    chassisd_tests::require_ovn!();
    record("services", golden_common::services);
}

#[test]
#[ignore = "regenerates flowctl/tests/data/expr; needs OVS/OVN"]
fn record_extras() {
    chassisd_tests::require_ovn!();
    record("extras", golden_common::extras);
}
