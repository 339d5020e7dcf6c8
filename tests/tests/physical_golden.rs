//! Records the golden corpus of the physical-flow builder (flowctl/src/physical): for a few
//! topologies, the facts physical.c reads (Port_Binding, Multicast_Group, Chassis rows, the
//! br-int ports with their OpenFlow port numbers, ct zones, the Geneve option's tun_metadata
//! index) and the flows the real ovn-controller 23.03 installed in the tables physical.c
//! fills (0, 37-41, 64, 65). Input and flows come from the same run, so ofports and zones
//! need no renaming. Run it to regenerate the files:
//!
//! `cargo test -p chassisd-tests --test physical_golden -- --ignored --test-threads=1`
//!
//! The files are in flowctl/tests/data/physical/; flowctl's unit tests compare against them.
//! `localnet_rerun.txt` is `localnet.txt` of a second run (other UUIDs), kept to check the
//! Port_Binding walk order (see `idl_order` in flowctl/src/physical).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use chassisd_tests::{Controller, Hv, Sandbox};
use serde_json::Value;

/// Tables that only physical.c fills in 23.03.
const PHYSICAL_TABLES: [i64; 8] = [0, 37, 38, 39, 40, 41, 64, 65];

fn rows_of(out: &str, table: &str) -> Vec<BTreeMap<String, Value>> {
    let v: Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("{table}: {e}: {out}"));
    let heads: Vec<String> =
        v["headings"].as_array().unwrap().iter().map(|h| h.as_str().unwrap().to_string()).collect();
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| heads.iter().cloned().zip(r.as_array().unwrap().iter().cloned()).collect())
        .collect()
}

fn sb_rows(sb: &Sandbox, table: &str) -> Vec<BTreeMap<String, Value>> {
    rows_of(&sb.sbctl(["--format=json", "list", table]), table)
}

fn ovs_rows(hv: &Hv, table: &str) -> Vec<BTreeMap<String, Value>> {
    rows_of(&hv.vsctl(["--format=json", "list", table]), table)
}

/// Atoms of an OVSDB JSON value (a set's members, or the value itself).
fn atoms(v: &Value) -> Vec<Value> {
    match v.as_array() {
        Some(a) if a.first().and_then(Value::as_str) == Some("set") => a[1].as_array().unwrap().clone(),
        _ => vec![v.clone()],
    }
}

fn uuid(v: &Value) -> String {
    v.as_array().and_then(|a| a.get(1)).and_then(Value::as_str).unwrap_or("").to_string()
}

fn map(v: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for kv in v.as_array().and_then(|a| a.get(1)).and_then(Value::as_array).cloned().unwrap_or_default() {
        if let (Some(k), Some(v)) = (kv[0].as_str(), kv[1].as_str()) {
            out.insert(k.to_string(), v.to_string());
        }
    }
    out
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

fn opt_str(v: &Value) -> String {
    atoms(v).first().map(s).filter(|x| !x.is_empty()).unwrap_or_else(|| "-".into())
}

/// The first of `hvs` is recorded; all run ovn-controller.
fn record(name: &str, hvs: &[&str], setup: impl FnOnce(&Sandbox)) {
    record_with(name, hvs, "geneve", setup)
}

fn record_with(name: &str, hvs: &[&str], encap: &str, setup: impl FnOnce(&Sandbox)) {
    record_at(name, hvs, encap, 0, setup)
}

/// Records what `hvs[at]` installed.
fn record_at(name: &str, hvs: &[&str], encap: &str, at: usize, setup: impl FnOnce(&Sandbox)) {
    let sb = Sandbox::builder().infra().hvs(hvs).encap_type(encap).controller(Controller::OvnController).start();
    for hv in sb.hvs() {
        hv.wait_chassis_registered();
    }
    setup(&sb);
    sb.ovn_nbctl_wait_hv_sync();
    let hv: &Hv = &sb.hvs()[at];
    // Let BFD sessions (HA gateways) come up, then let the controllers catch up.
    let bfd_pending = || {
        ovs_rows(hv, "Interface").iter().any(|i| {
            map(&i["bfd"]).get("enable").map(String::as_str) == Some("true")
                && map(&i["bfd_status"]).get("state").map(String::as_str) != Some("up")
        })
    };
    let _ = chassisd_tests::try_wait_until(std::time::Duration::from_secs(10), || !bfd_pending());
    sb.ovn_nbctl_wait_hv_sync();
    let me = hv.chassis().to_string();

    let mut out = String::new();
    writeln!(out, "# {name}: recorded from ovn-controller 23.03 by tests/tests/physical_golden.rs; do not edit")
        .unwrap();

    // Chassis rows: name -> uuid.
    let mut chassis_name = BTreeMap::new();
    for r in sb_rows(&sb, "Chassis") {
        let n = s(&r["name"]);
        chassis_name.insert(uuid(&r["_uuid"]), n.clone());
        let oc = map(&r["other_config"]);
        let vtep = oc.get("is-vtep").map(String::as_str) == Some("true");
        let macs = oc.get("ovn-chassis-mac-mappings").cloned().unwrap_or_else(|| "-".into());
        writeln!(
            out,
            "chassis\t{}\t{}\t{n}\t{}\t{}\t{macs}",
            u8::from(n == me),
            uuid(&r["_uuid"]),
            s(&r["hostname"]),
            u8::from(vtep)
        )
        .unwrap();
    }
    let encap_ip: BTreeMap<String, (String, String)> =
        sb_rows(&sb, "Encap").iter().map(|r| (uuid(&r["_uuid"]), (s(&r["chassis_name"]), s(&r["ip"])))).collect();
    let ha_chassis: BTreeMap<String, (String, i64)> = sb_rows(&sb, "HA_Chassis")
        .iter()
        .map(|r| {
            let ch = atoms(&r["chassis"]).first().map(uuid).and_then(|u| chassis_name.get(&u).cloned());
            (uuid(&r["_uuid"]), (ch.unwrap_or_else(|| "-".into()), r["priority"].as_i64().unwrap_or(0)))
        })
        .collect();
    let ha_groups: BTreeMap<String, (Vec<String>, Vec<String>)> = sb_rows(&sb, "HA_Chassis_Group")
        .iter()
        .map(|r| {
            let members = atoms(&r["ha_chassis"])
                .iter()
                .filter_map(|m| ha_chassis.get(&uuid(m)))
                .map(|(c, p)| format!("{c}:{p}"))
                .collect();
            let refs = atoms(&r["ref_chassis"]).iter().filter_map(|c| chassis_name.get(&uuid(c)).cloned()).collect();
            (uuid(&r["_uuid"]), (members, refs))
        })
        .collect();

    let ovs_ids = map(&ovs_rows(hv, "Open_vSwitch")[0]["external_ids"]);
    let mappings = ovs_ids.get("ovn-bridge-mappings").cloned().unwrap_or_default();
    writeln!(out, "mappings\t{}", if mappings.is_empty() { "-" } else { &mappings }).unwrap();

    // Local datapaths: those ovn-controller installed logical flows for.
    let flows = hv.dump_flows("br-int");
    let mut local_dps = BTreeSet::new();
    for f in &flows {
        let table = f.split("table=").nth(1).and_then(|t| t.split(',').next()).and_then(|t| t.parse::<i64>().ok());
        if table.is_some_and(|t| (8..=36).contains(&t)) {
            if let Some(m) = f.split("metadata=0x").nth(1) {
                let hex: String = m.chars().take_while(char::is_ascii_hexdigit).collect();
                local_dps.insert(i64::from_str_radix(&hex, 16).unwrap());
            }
        }
    }
    let mut dp_key = BTreeMap::new();
    for r in sb_rows(&sb, "Datapath_Binding") {
        let key = r["tunnel_key"].as_i64().unwrap();
        dp_key.insert(uuid(&r["_uuid"]), key);
        let transit = map(&r["external_ids"]).contains_key("interconn-ts");
        writeln!(
            out,
            "dp\t{key}\t{}\t{}\t{}",
            uuid(&r["_uuid"]),
            u8::from(local_dps.contains(&key)),
            u8::from(transit)
        )
        .unwrap();
    }
    let mut pb_name = BTreeMap::new();
    let mut pbs = sb_rows(&sb, "Port_Binding");
    pbs.sort_by_key(|r| s(&r["logical_port"]));
    for r in &pbs {
        pb_name.insert(uuid(&r["_uuid"]), s(&r["logical_port"]));
    }
    for r in &pbs {
        let ch = |v: &Value| -> Vec<String> {
            atoms(v).iter().filter_map(|c| chassis_name.get(&uuid(c)).cloned()).collect()
        };
        let chassis = ch(&r["chassis"]).first().cloned().unwrap_or_else(|| "-".into());
        let additional = ch(&r["additional_chassis"]).join(",");
        let requested = ch(&r["requested_chassis"]).first().cloned().unwrap_or_else(|| "-".into());
        let req_additional = ch(&r["requested_additional_chassis"]).join(",");
        let encap = atoms(&r["encap"]).first().and_then(|e| encap_ip.get(&uuid(e))).map(|(_, ip)| ip.clone());
        let add_encaps: Vec<String> = atoms(&r["additional_encap"])
            .iter()
            .filter_map(|e| encap_ip.get(&uuid(e)))
            .map(|(c, ip)| format!("{c}@{ip}"))
            .collect();
        let macs: Vec<String> = atoms(&r["mac"]).iter().map(s).collect();
        let name = s(&r["logical_port"]);
        writeln!(
            out,
            "pb\t{}\t{name}\t{}\t{}\t{}\t{chassis}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            uuid(&r["_uuid"]),
            if s(&r["type"]).is_empty() { "-".to_string() } else { s(&r["type"]) },
            dp_key[&uuid(&r["datapath"])],
            r["tunnel_key"],
            if additional.is_empty() { "-" } else { &additional },
            opt_str(&r["parent_port"]),
            opt_str(&r["tag"]),
            encap.unwrap_or_else(|| "-".into()),
            if add_encaps.is_empty() { "-".into() } else { add_encaps.join(",") },
            requested,
            if req_additional.is_empty() { "-" } else { &req_additional },
        )
        .unwrap();
        for m in macs {
            writeln!(out, "pbmac\t{name}\t{m}").unwrap();
        }
        for (k, v) in map(&r["options"]) {
            writeln!(out, "pbopt\t{name}\t{k}\t{v}").unwrap();
        }
        if let Some(g) = atoms(&r["ha_chassis_group"]).first().and_then(|g| ha_groups.get(&uuid(g))) {
            writeln!(
                out,
                "pbha\t{name}\t{}\t{}",
                g.0.join(","),
                if g.1.is_empty() { "-".into() } else { g.1.join(",") }
            )
            .unwrap();
        }
    }
    let mut mcs = sb_rows(&sb, "Multicast_Group");
    mcs.sort_by_key(|r| (dp_key[&uuid(&r["datapath"])], r["tunnel_key"].as_i64()));
    for r in &mcs {
        let mut ports: Vec<String> = atoms(&r["ports"]).iter().filter_map(|p| pb_name.get(&uuid(p)).cloned()).collect();
        ports.sort();
        writeln!(
            out,
            "mc\t{}\t{}\t{}\t{}\t{}",
            uuid(&r["_uuid"]),
            s(&r["name"]),
            dp_key[&uuid(&r["datapath"])],
            r["tunnel_key"],
            ports.join(",")
        )
        .unwrap();
    }

    // br-int ports.
    let ifaces: BTreeMap<String, BTreeMap<String, Value>> =
        ovs_rows(hv, "Interface").into_iter().map(|r| (uuid(&r["_uuid"]), r)).collect();
    let br = ovs_rows(hv, "Bridge").into_iter().find(|r| s(&r["name"]) == "br-int").unwrap();
    let br_ports: BTreeSet<String> = atoms(&br["ports"]).iter().map(uuid).collect();
    let mut lines = Vec::new();
    for p in ovs_rows(hv, "Port") {
        if !br_ports.contains(&uuid(&p["_uuid"])) || s(&p["name"]) == "br-int" {
            continue;
        }
        let pids = map(&p["external_ids"]);
        for i in atoms(&p["interfaces"]) {
            let Some(iface) = ifaces.get(&uuid(&i)) else { continue };
            let Some(ofport) = atoms(&iface["ofport"]).first().and_then(Value::as_i64) else { continue };
            let kind = s(&iface["type"]);
            let ids = map(&iface["external_ids"]);
            let mtu = atoms(&iface["mtu"]).first().and_then(Value::as_i64).unwrap_or(0);
            if let Some(t) = pids.get("ovn-chassis-id") {
                // bfd_calculate_active_tunnels(): BFD enabled and up.
                let up = map(&iface["bfd"]).get("enable").map(String::as_str) == Some("true")
                    && map(&iface["bfd_status"]).get("state").map(String::as_str) == Some("up");
                lines.push(format!("tunnel\t{t}\t{kind}\t{ofport}\t{}", u8::from(up)));
            } else if let Some(l) = pids.get("ovn-localnet-port") {
                lines.push(format!("patch\t{l}\t{ofport}"));
            } else if let Some(l) = pids.get("ovn-l2gateway-port") {
                lines.push(format!("patch\t{l}\t{ofport}"));
            } else if let Some(id) = ids.get("iface-id") {
                lines.push(format!("vif\t{id}\t{ofport}\t{mtu}"));
            }
        }
    }
    lines.sort();
    for l in lines {
        writeln!(out, "{l}").unwrap();
    }
    let zones = hv.ovn_appctl(["-t", "ovn-controller", "ct-zone-list"]);
    for l in zones.lines() {
        if let Some((k, z)) = l.trim().split_once(' ') {
            writeln!(out, "zone\t{k}\t{z}").unwrap();
        }
    }
    let tlv = hv.ofctl(["-O", "OpenFlow15", "dump-tlv-map", "br-int"]);
    for l in tlv.lines() {
        // " 0x102    0x80    4       0"
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() == 4 && f[0] == "0x102" && f[1] == "0x80" {
            writeln!(out, "geneve\t{}", f[3]).unwrap();
        }
    }
    let mut n = 0;
    for f in &flows {
        let table = f.split("table=").nth(1).and_then(|t| t.split(',').next()).and_then(|t| t.parse::<i64>().ok());
        if table.is_some_and(|t| PHYSICAL_TABLES.contains(&t)) {
            n += 1;
            writeln!(out, "flow\t{f}").unwrap();
        }
    }
    eprintln!("{name}: {n} flows in the physical tables");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../flowctl/tests/data/physical");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.txt")), out).unwrap();
}

fn vif(hv: &Hv, sw: &str, lp: &str, n: u8) {
    let addr = format!("00:00:00:00:00:{n:02x} 10.0.0.{n}");
    hv.nbctl(["lsp-add", sw, lp, "--", "lsp-set-addresses", lp, &addr]);
    hv.add_vif(&format!("vif-{lp}"), lp);
}

fn router_port(sb: &Sandbox, lr: &str, sw: &str, n: u8) {
    let lrp = format!("lrp-{sw}");
    sb.nbctl(["lrp-add", lr, &lrp, &format!("00:00:00:00:ff:{n:02x}"), &format!("10.{n}.0.254/24")]);
    let lsp = format!("{sw}-{lr}");
    chassisd_tests::topo::router_port(sb, sw, &lsp, &lrp);
}

fn localnet(sb: &Sandbox, sw: &str, lp: &str, network: &str, tag: Option<&str>) {
    // One transaction: 23.03 adds the chassis-MAC flows of a localnet port under a static
    // owner, so flows of an untagged first version would outlive a later tag change (until
    // a full recompute) and the recording would depend on timing.
    let opt = format!("network_name={network}");
    let mut args = vec!["lsp-add", sw, lp, "--", "lsp-set-type", lp, "localnet"];
    args.extend(["--", "lsp-set-addresses", lp, "unknown", "--", "lsp-set-options", lp, &opt]);
    let tag = tag.map(|t| format!("tag={t}"));
    if let Some(t) = &tag {
        args.extend(["--", "set", "Logical_Switch_Port", lp, t]);
    }
    sb.nbctl(args);
}

#[test]
#[ignore = "regenerates flowctl/tests/data/physical; needs OVS/OVN"]
fn record_switch() {
    chassisd_tests::require_ovn!();
    record("switch", &["hv1"], |sb| {
        sb.nbctl(["ls-add", "sw0"]);
        vif(sb, "sw0", "lp1", 1);
        vif(sb, "sw0", "lp2", 2);
        // A container behind lp1 (VLAN 42), a localport, a port bound nowhere.
        sb.nbctl(["lsp-add", "sw0", "c1", "lp1", "42"]);
        sb.nbctl(["lsp-set-addresses", "c1", "00:00:00:00:00:11 10.0.0.11"]);
        sb.nbctl(["lsp-add", "sw0", "lport", "--", "lsp-set-type", "lport", "localport"]);
        sb.nbctl(["lsp-set-addresses", "lport", "00:00:00:00:00:21 10.0.0.21"]);
        sb.add_vif("vif-lport", "lport");
        sb.nbctl(["lsp-add", "sw0", "nowhere", "--", "lsp-set-addresses", "nowhere", "00:00:00:00:00:31"]);
        for lp in ["lp1", "lp2"] {
            sb.wait_port_up(lp);
        }
    });
}

#[test]
#[ignore = "regenerates flowctl/tests/data/physical; needs OVS/OVN"]
fn record_multi_hv() {
    chassisd_tests::require_ovn!();
    record("multi_hv", &["hv1", "hv2"], |sb| {
        let hv2 = sb.hv("hv2");
        sb.nbctl(["lr-add", "lr0"]);
        for (sw, n) in [("sw0", 0u8), ("sw1", 1)] {
            sb.nbctl(["ls-add", sw]);
            router_port(sb, "lr0", sw, n);
            for (i, hv) in [sb.hv("hv1"), hv2].into_iter().enumerate() {
                let lp = format!("{sw}-p{i}");
                let addr = format!("00:00:00:00:0{n}:0{} 10.{n}.0.{}", i + 1, i + 1);
                sb.nbctl(["lsp-add", sw, &lp, "--", "lsp-set-addresses", &lp, &addr]);
                hv.add_vif(&format!("vif-{lp}"), &lp);
            }
        }
        // sw2 only on hv2: not local on hv1 (no patch to it).
        sb.nbctl(["ls-add", "sw2"]);
        vif(hv2, "sw2", "sw2-p1", 9);
        // Gateway router port on hv2 (chassisredirect remote), IGMP snooping on sw0.
        sb.nbctl(["ls-add", "ext"]);
        router_port(sb, "lr0", "ext", 5);
        sb.nbctl(["lrp-set-gateway-chassis", "lrp-ext", "hv2", "10"]);
        sb.nbctl(["set", "Logical_Switch", "sw0", "other_config:mcast_snoop=true"]);
        for lp in ["sw0-p0", "sw0-p1", "sw1-p0", "sw1-p1", "sw2-p1"] {
            sb.wait_port_up(lp);
        }
    });
}

#[test]
#[ignore = "regenerates flowctl/tests/data/physical; needs OVS/OVN"]
fn record_localnet() {
    chassisd_tests::require_ovn!();
    record("localnet", &["hv1", "hv2"], |sb| {
        for (hv, mac) in [(sb.hv("hv1"), "aa:bb:cc:00:00:01"), (sb.hv("hv2"), "aa:bb:cc:00:00:02")] {
            // br-phys exists already: the harness joins the hypervisors through it.
            hv.vsctl(["add-br", "br-phys2", "--", "set", "bridge", "br-phys2", "fail-mode=secure"]);
            hv.vsctl([
                "set",
                "open",
                ".",
                "external_ids:ovn-bridge-mappings=phys:br-phys,phys2:br-phys2",
                &format!("external_ids:ovn-chassis-mac-mappings=\"phys:{mac}\""),
            ]);
        }
        // sw0: VLAN 100 localnet, VIFs on both chassis, routed through lr0 (distributed).
        sb.nbctl(["lr-add", "lr0"]);
        for (sw, n) in [("sw0", 0u8), ("sw1", 1)] {
            sb.nbctl(["ls-add", sw]);
            router_port(sb, "lr0", sw, n);
            for (i, hv) in [sb.hv("hv1"), sb.hv("hv2")].into_iter().enumerate() {
                let lp = format!("{sw}-p{i}");
                let addr = format!("00:00:00:00:0{n}:0{} 10.{n}.0.{}", i + 1, i + 1);
                sb.nbctl(["lsp-add", sw, &lp, "--", "lsp-set-addresses", &lp, &addr]);
                hv.add_vif(&format!("vif-{lp}"), &lp);
            }
        }
        localnet(sb, "sw0", "ln0", "phys", Some("100"));
        localnet(sb, "sw1", "ln1", "phys2", None);
        sb.nbctl(["set", "Logical_Router_Port", "lrp-sw0", "options:reside-on-redirect-chassis=false"]);
        // A gateway port with a localnet on hv1: chassisredirect local here.
        sb.nbctl(["ls-add", "ext"]);
        router_port(sb, "lr0", "ext", 5);
        localnet(sb, "ext", "ext-ln", "phys", None);
        sb.nbctl(["lrp-set-gateway-chassis", "lrp-ext", "hv1", "10"]);
        // An external port on hv1 (ha chassis group), and a localport.
        sb.nbctl(["lsp-add", "sw0", "ext0", "--", "lsp-set-type", "ext0", "external"]);
        sb.nbctl(["lsp-set-addresses", "ext0", "00:00:00:00:00:e1 10.0.0.100"]);
        let g = sb.nbctl(["create", "HA_Chassis_Group", "name=hagrp"]);
        sb.nbctl(["ha-chassis-group-add-chassis", "hagrp", "hv1", "30"]);
        sb.nbctl(["set", "Logical_Switch_Port", "ext0", &format!("ha_chassis_group={}", g.trim())]);
        sb.nbctl(["lsp-add", "sw0", "lport0", "--", "lsp-set-type", "lport0", "localport"]);
        sb.nbctl(["lsp-set-addresses", "lport0", "00:00:00:00:00:21 10.0.0.21"]);
        sb.add_vif("vif-lport0", "lport0");
        for lp in ["sw0-p0", "sw0-p1", "sw1-p0", "sw1-p1"] {
            sb.wait_port_up(lp);
        }
    });
}

fn ha_gateway(sb: &Sandbox) {
    sb.nbctl(["lr-add", "lr0"]);
    sb.nbctl(["ls-add", "sw0"]);
    router_port(sb, "lr0", "sw0", 0);
    vif(sb, "sw0", "lp1", 1);
    vif(sb.hv("hv2"), "sw0", "lp2", 2);
    sb.nbctl(["ls-add", "ext"]);
    router_port(sb, "lr0", "ext", 5);
    // HA gateway on hv2 (active) and hv3: a bundle on hv1.
    sb.nbctl(["lrp-set-gateway-chassis", "lrp-ext", "hv2", "20"]);
    sb.nbctl(["lrp-set-gateway-chassis", "lrp-ext", "hv3", "10"]);
    // A multi-chassis port (requested on hv1 and hv2, live migration).
    sb.nbctl(["lsp-add", "sw0", "mig", "--", "lsp-set-addresses", "mig", "00:00:00:00:00:33 10.0.0.33"]);
    sb.nbctl(["lsp-set-options", "mig", "requested-chassis=hv1,hv2"]);
    sb.add_vif("vif-mig", "mig");
    sb.hv("hv2").add_vif("vif-mig", "mig");
    sb.wait_port_up("lp1");
    sb.wait_port_up("lp2");
}

#[test]
#[ignore = "regenerates flowctl/tests/data/physical; needs OVS/OVN"]
fn record_ha_gateway() {
    chassisd_tests::require_ovn!();
    record("ha_gateway", &["hv1", "hv2", "hv3"], ha_gateway);
}

/// The same, seen from hv2: the active gateway (BFD decides).
#[test]
#[ignore = "regenerates flowctl/tests/data/physical; needs OVS/OVN"]
fn record_ha_gateway_hv2() {
    chassisd_tests::require_ovn!();
    record_at("ha_gateway_hv2", &["hv1", "hv2", "hv3"], "geneve", 1, ha_gateway);
}

#[test]
#[ignore = "regenerates flowctl/tests/data/physical; needs OVS/OVN"]
fn record_vxlan() {
    chassisd_tests::require_ovn!();
    record_with("vxlan", &["hv1", "hv2"], "vxlan", |sb| {
        sb.nbctl(["ls-add", "sw0"]);
        vif(sb, "sw0", "lp1", 1);
        vif(sb.hv("hv2"), "sw0", "lp2", 2);
        sb.wait_port_up("lp1");
        sb.wait_port_up("lp2");
    });
}

#[test]
#[ignore = "regenerates flowctl/tests/data/physical; needs OVS/OVN"]
fn record_gateways() {
    chassisd_tests::require_ovn!();
    record("gateways", &["hv1", "hv2"], |sb| {
        sb.hv("hv1").vsctl(["set", "open", ".", "external_ids:ovn-bridge-mappings=phys:br-phys"]);
        // A gateway router bound to hv1: l3gateway ports on both sides of "join".
        sb.nbctl(["lr-add", "gw"]);
        sb.nbctl(["set", "Logical_Router", "gw", "options:chassis=hv1"]);
        sb.nbctl(["ls-add", "join"]);
        router_port(sb, "gw", "join", 7);
        vif(sb, "join", "jvm", 7);
        // An l2gateway port on hv1 and one on hv2.
        sb.nbctl(["ls-add", "l2sw"]);
        vif(sb, "l2sw", "l2vm", 8);
        for (lp, ch) in [("l2gw1", "hv1"), ("l2gw2", "hv2")] {
            sb.nbctl([
                "lsp-add",
                "l2sw",
                lp,
                "--",
                "lsp-set-type",
                lp,
                "l2gateway",
                "--",
                "lsp-set-addresses",
                lp,
                "unknown",
            ]);
            sb.nbctl(["lsp-set-options", lp, "network_name=phys", &format!("l2gateway-chassis={ch}")]);
        }
        // vlan-passthru port.
        sb.nbctl(["set", "Logical_Switch", "l2sw", "other_config:vlan-passthru=true"]);
        sb.nbctl(["lsp-add", "l2sw", "pt", "--", "lsp-set-addresses", "pt", "00:00:00:00:00:99"]);
        sb.nbctl(["lsp-set-options", "pt", "vlan-passthru=true"]);
        sb.add_vif("vif-pt", "pt");
        sb.wait_port_up("jvm");
        sb.wait_port_up("l2vm");
        sb.wait_port_up("pt");
    });
}

#[test]
#[ignore = "regenerates flowctl/tests/data/physical; needs OVS/OVN"]
fn record_migration() {
    chassisd_tests::require_ovn!();
    record("migration", &["hv1", "hv2"], |sb| {
        for hv in sb.hvs() {
            hv.vsctl(["set", "open", ".", "external_ids:ovn-bridge-mappings=phys:br-phys"]);
        }
        sb.nbctl(["ls-add", "sw0"]);
        localnet(sb, "sw0", "ln0", "phys", None);
        vif(sb, "sw0", "lp1", 1);
        vif(sb.hv("hv2"), "sw0", "lp2", 2);
        // Being migrated to hv1 (additional here, RARP activation); and from hv1 to hv2.
        for (lp, req, n) in [("mig1", "hv2,hv1", 0x31u8), ("mig2", "hv1,hv2", 0x32)] {
            let addr = format!("00:00:00:00:00:{n:02x} 10.0.0.{n}");
            sb.nbctl(["lsp-add", "sw0", lp, "--", "lsp-set-addresses", lp, &addr]);
            sb.nbctl(["lsp-set-options", lp, &format!("requested-chassis={req}"), "activation-strategy=rarp"]);
            for hv in sb.hvs() {
                hv.add_vif(&format!("vif-{lp}"), lp);
            }
        }
        sb.wait_port_up("lp1");
        sb.wait_port_up("lp2");
        sb.wait_port_up("mig1");
        sb.wait_port_up("mig2");
    });
}

fn bridged(sb: &Sandbox) {
    for (hv, mac) in [(sb.hv("hv1"), "aa:bb:cc:00:00:01"), (sb.hv("hv2"), "aa:bb:cc:00:00:02")] {
        hv.vsctl([
            "set",
            "open",
            ".",
            "external_ids:ovn-bridge-mappings=phys:br-phys",
            &format!("external_ids:ovn-chassis-mac-mappings=\"phys:{mac}\""),
        ]);
    }
    // Gateway port on hv2 reached over the provider network (redirect-type=bridged).
    sb.nbctl(["lr-add", "lr0"]);
    sb.nbctl(["ls-add", "sw0"]);
    router_port(sb, "lr0", "sw0", 0);
    localnet(sb, "sw0", "ln0", "phys", Some("10"));
    vif(sb, "sw0", "lp1", 1);
    sb.nbctl(["ls-add", "ext"]);
    router_port(sb, "lr0", "ext", 5);
    localnet(sb, "ext", "ext-ln", "phys", Some("20"));
    sb.nbctl(["lrp-set-gateway-chassis", "lrp-ext", "hv2", "10"]);
    sb.nbctl(["lrp-set-redirect-type", "lrp-ext", "bridged"]);
    sb.wait_port_up("lp1");
}

#[test]
#[ignore = "regenerates flowctl/tests/data/physical; needs OVS/OVN"]
fn record_bridged() {
    chassisd_tests::require_ovn!();
    record("bridged", &["hv1", "hv2"], bridged);
}

/// The same, seen from hv2, where the bridged gateway port is.
#[test]
#[ignore = "regenerates flowctl/tests/data/physical; needs OVS/OVN"]
fn record_bridged_hv2() {
    chassisd_tests::require_ovn!();
    record_at("bridged_hv2", &["hv1", "hv2"], "geneve", 1, bridged);
}

#[test]
#[ignore = "regenerates flowctl/tests/data/physical; needs OVS/OVN"]
fn record_fanout() {
    chassisd_tests::require_ovn!();
    // Multicast groups spanning four remote chassis: the order of the tunnel outputs.
    record("fanout", &["hv1", "hv2", "hv3", "hv4", "hv5"], |sb| {
        for sw in ["sw0", "sw1"] {
            sb.nbctl(["ls-add", sw]);
        }
        let mut n = 1u8;
        for hv in sb.hvs() {
            for sw in ["sw0", "sw1"] {
                let lp = format!("{sw}-{}", hv.chassis());
                let addr = format!("00:00:00:00:01:{n:02x} 10.0.1.{n}");
                hv.nbctl(["lsp-add", sw, &lp, "--", "lsp-set-addresses", &lp, &addr]);
                hv.add_vif(&format!("vif-{lp}"), &lp);
                n += 1;
            }
        }
        for hv in sb.hvs() {
            sb.wait_port_up(&format!("sw0-{}", hv.chassis()));
            sb.wait_port_up(&format!("sw1-{}", hv.chassis()));
        }
    });
}
