//! Records the golden corpus of the action encoder (flowctl/src/lflow/actions): the same
//! topologies as expr_golden.rs, but each Logical_Flow's actions text and the OpenFlow actions
//! the real ovn-controller 23.03 installed for it (one `expect` line per distinct action list;
//! flows carrying only `conjunction(...)` are left out). Run it to regenerate the files:
//!
//! `cargo test -p chassisd-tests --test actions_golden -- --ignored`
//!
//! The files are in flowctl/tests/data/actions/; flowctl's unit tests compare against them.

mod golden_common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use chassisd_tests::{Controller, Sandbox};
use golden_common::{atoms, map_get, rows, s, uuid, vif};
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
    writeln!(out, "# {name}: recorded from ovn-controller 23.03 by tests/tests/actions_golden.rs; do not edit")
        .unwrap();
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
                expect.insert(f.actions.clone());
            }
            for e in expect {
                n_flows += 1;
                writeln!(out, "expect\t{e}").unwrap();
            }
        }
    }
    eprintln!("{name}: {n_lflows} logical flows, {n_flows} expected OpenFlow action lists");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../flowctl/tests/data/actions");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.txt")), out).unwrap();
}

/// One dump-flows line, split.
struct Flow {
    cookie: u64,
    table: i64,
    priority: i64,
    metadata: Option<i64>,
    actions: String,
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
        for f in rest.split(',') {
            if let Some(p) = f.strip_prefix("priority=") {
                priority = p.parse().ok()?;
            } else if let Some(m) = f.strip_prefix("metadata=0x") {
                metadata = i64::from_str_radix(m, 16).ok();
            }
        }
        Some(Flow { cookie, table, priority, metadata, actions: actions.to_string() })
    }
}

#[test]
#[ignore = "regenerates flowctl/tests/data/actions; needs OVS/OVN"]
fn record_switch() {
    chassisd_tests::require_ovn!();
    record("switch", golden_common::switch);
}

#[test]
#[ignore = "regenerates flowctl/tests/data/actions; needs OVS/OVN"]
fn record_acl() {
    chassisd_tests::require_ovn!();
    record("acl", golden_common::acl);
}

#[test]
#[ignore = "regenerates flowctl/tests/data/actions; needs OVS/OVN"]
fn record_router() {
    chassisd_tests::require_ovn!();
    record("router", golden_common::router);
}

#[test]
#[ignore = "regenerates flowctl/tests/data/actions; needs OVS/OVN"]
fn record_lb() {
    chassisd_tests::require_ovn!();
    record("lb", golden_common::lb);
}

#[test]
#[ignore = "regenerates flowctl/tests/data/actions; needs OVS/OVN"]
fn record_multi_hv() {
    chassisd_tests::require_ovn!();
    record_on("multi_hv", &["hv1", "hv2"], golden_common::multi_hv);
}

#[test]
#[ignore = "regenerates flowctl/tests/data/actions; needs OVS/OVN"]
fn record_acl2() {
    chassisd_tests::require_ovn!();
    record("acl2", golden_common::acl2);
}

#[test]
#[ignore = "regenerates flowctl/tests/data/actions; needs OVS/OVN"]
fn record_services() {
    chassisd_tests::require_ovn!();
    record("services", golden_common::services);
}

#[test]
#[ignore = "regenerates flowctl/tests/data/actions; needs OVS/OVN"]
fn record_extras() {
    chassisd_tests::require_ovn!();
    record("extras", golden_common::extras);
}

/// A gateway router with ECMP symmetric-reply routes (commit_ecmp_nh, chk_ecmp_nh*), a load
/// balancer with session affinity (commit_lb_aff, chk_lb_aff), a logged and metered reject
/// ACL and a QoS bandwidth limit (set_meter).
#[test]
#[ignore = "regenerates flowctl/tests/data/actions; needs OVS/OVN"]
fn record_ecmp_affinity() {
    chassisd_tests::require_ovn!();
    record("ecmp_affinity", |sb| {
        sb.nbctl(["lr-add", "gw0"]);
        sb.nbctl(["set", "Logical_Router", "gw0", &format!("options:chassis={}", sb.chassis())]);
        for (sw, lrp, mac, net) in [
            ("sw0", "gw0-sw0", "00:00:00:00:ff:01", "10.0.0.254/24"),
            ("ext", "gw0-ext", "00:00:00:00:ff:02", "172.16.0.1/24"),
        ] {
            sb.nbctl(["ls-add", sw]);
            sb.nbctl(["lrp-add", "gw0", lrp, mac, net]);
            let lsp = format!("{sw}-gw0");
            chassisd_tests::topo::router_port(sb, sw, &lsp, lrp);
        }
        vif(sb, "sw0", "lp1", 1, false);
        vif(sb, "sw0", "lp2", 2, false);
        for nh in ["172.16.0.10", "172.16.0.11"] {
            sb.nbctl(["--ecmp-symmetric-reply", "lr-route-add", "gw0", "192.168.0.0/24", nh]);
        }
        sb.nbctl(["lb-add", "lb0", "172.16.0.100:80", "10.0.0.1:8080,10.0.0.2:8080", "tcp"]);
        sb.nbctl(["set", "Load_Balancer", "lb0", "options:affinity_timeout=60"]);
        sb.nbctl(["lr-lb-add", "gw0", "lb0"]);
        sb.nbctl(["ls-lb-add", "sw0", "lb0"]);
        sb.nbctl(["meter-add", "acl-meter", "drop", "10", "pktps"]);
        sb.nbctl([
            "--log",
            "--meter=acl-meter",
            "--name=m1",
            "acl-add",
            "sw0",
            "to-lport",
            "1000",
            "tcp.dst == 23",
            "reject",
        ]);
        sb.nbctl(["qos-add", "sw0", "from-lport", "100", "ip4", "rate=1000", "burst=100"]);
        sb.wait_port_up("lp1");
        sb.wait_port_up("lp2");
    });
}
