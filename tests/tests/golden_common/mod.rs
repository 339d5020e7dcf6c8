//! What the golden-corpus recorders (expr_golden.rs, actions_golden.rs) share: reading
//! Southbound rows from ovn-sbctl's JSON, and the topologies both record.

use std::collections::BTreeMap;

use chassisd_tests::Sandbox;
use serde_json::Value;

/// Rows of `ovn-sbctl --format=json list TABLE` as column -> value maps.
pub fn rows(sb: &Sandbox, table: &str) -> Vec<BTreeMap<String, Value>> {
    let out = sb.sbctl(["--format=json", "list", table]);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{table}: {e}: {out}"));
    let heads: Vec<String> =
        v["headings"].as_array().unwrap().iter().map(|h| h.as_str().unwrap().to_string()).collect();
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| heads.iter().cloned().zip(r.as_array().unwrap().iter().cloned()).collect())
        .collect()
}

/// Atoms of an OVSDB JSON value (a set's members, or the value itself).
pub fn atoms(v: &Value) -> Vec<Value> {
    match v.as_array() {
        Some(a) if a.first().and_then(Value::as_str) == Some("set") => a[1].as_array().unwrap().clone(),
        _ => vec![v.clone()],
    }
}

pub fn uuid(v: &Value) -> String {
    v.as_array().and_then(|a| a.get(1)).and_then(Value::as_str).unwrap_or("").to_string()
}

pub fn map_get(v: &Value, key: &str) -> Option<String> {
    v.as_array()?.get(1)?.as_array()?.iter().find_map(|kv| {
        let kv = kv.as_array()?;
        (kv.first()?.as_str()? == key).then(|| kv.get(1)?.as_str().map(str::to_string))?
    })
}

pub fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.replace('\t', " "),
        v => v.to_string(),
    }
}

pub fn vif(sb: &Sandbox, sw: &str, lp: &str, n: u8, security: bool) {
    let addr = format!("00:00:00:00:00:{n:02x} 10.0.0.{n} fd00::{n}");
    sb.nbctl(["lsp-add", sw, lp, "--", "lsp-set-addresses", lp, &addr]);
    if security {
        sb.nbctl(["lsp-set-port-security", lp, &addr]);
    }
    sb.add_vif(&format!("vif-{lp}"), lp);
}

pub fn switch(sb: &Sandbox) {
    sb.nbctl(["ls-add", "sw0"]);
    vif(sb, "sw0", "lp1", 1, true);
    vif(sb, "sw0", "lp2", 2, true);
    vif(sb, "sw0", "lp3", 3, false);
    sb.nbctl(["lsp-add", "sw0", "lp4", "--", "lsp-set-addresses", "lp4", "unknown"]);
    sb.add_vif("vif-lp4", "lp4");
    // Not bound here: flows for it are filtered out by ovn-controller.
    sb.nbctl(["lsp-add", "sw0", "remote1", "--", "lsp-set-addresses", "remote1", "00:00:00:00:00:09 10.0.0.9"]);
    for lp in ["lp1", "lp2", "lp3", "lp4"] {
        sb.wait_port_up(lp);
    }
}

pub fn acl(sb: &Sandbox) {
    sb.nbctl(["ls-add", "sw0"]);
    for (i, lp) in ["lp1", "lp2", "lp3"].iter().enumerate() {
        vif(sb, "sw0", lp, i as u8 + 1, false);
    }
    sb.nbctl(["create", "Address_Set", "name=as1", "addresses=\"10.0.0.1\",\"10.0.0.2\",\"10.1.0.0/16\""]);
    sb.nbctl(["create", "Address_Set", "name=as6", "addresses=\"fd00::1\",\"fd00::2\""]);
    sb.nbctl(["pg-add", "pg1", "lp1", "lp2"]);
    sb.nbctl(["pg-add", "pg2", "lp3"]);
    let acls: [(&str, &str, &str, &str, &str); 9] = [
        ("pg1", "to-lport", "1001", "outport == @pg1 && ip4.src == $as1", "allow-related"),
        ("pg1", "from-lport", "1002", "inport == @pg1 && ip4", "allow-related"),
        ("pg1", "to-lport", "1000", "outport == @pg1 && ip4 && tcp.dst >= 1000 && tcp.dst <= 2000", "drop"),
        ("pg1", "to-lport", "1003", "outport == @pg1 && ip6.src == $as6 && udp", "allow"),
        (
            "pg2",
            "to-lport",
            "1004",
            "outport == @pg2 && ip4.src == $pg1_ip4 && tcp.dst == {22, 80, 443}",
            "allow-related",
        ),
        ("pg2", "from-lport", "1005", "inport == @pg2 && (arp || nd)", "allow"),
        ("pg2", "to-lport", "1006", "outport == @pg2 && icmp4 && icmp4.type == 8", "reject"),
        ("sw0", "from-lport", "900", "ip4.dst == 10.0.0.0/8 && !ct.est && udp.dst < 100", "drop"),
        ("sw0", "to-lport", "901", "eth.src == 00:00:00:00:00:01 || ip4.dst == {10.0.0.3, 10.0.0.4}", "allow"),
    ];
    for (on, dir, prio, m, verdict) in acls {
        if on.starts_with("pg") {
            sb.nbctl(["--type=port-group", "acl-add", on, dir, prio, m, verdict]);
        } else {
            sb.nbctl(["acl-add", on, dir, prio, m, verdict]);
        }
    }
    for lp in ["lp1", "lp2", "lp3"] {
        sb.wait_port_up(lp);
    }
}

pub fn router(sb: &Sandbox) {
    sb.nbctl(["lr-add", "lr0"]);
    for (sw, n) in [("sw0", 0u8), ("sw1", 1)] {
        sb.nbctl(["ls-add", sw]);
        let lrp = format!("lrp-{sw}");
        let mac = format!("00:00:00:00:ff:{n:02x}");
        sb.nbctl(["lrp-add", "lr0", &lrp, &mac, &format!("10.{n}.0.254/24"), &format!("fd0{n}::254/64")]);
        let lsp = format!("{sw}-lr0");
        chassisd_tests::topo::router_port(sb, sw, &lsp, &lrp);
        let lp = format!("{sw}-vm");
        let addr = format!("00:00:00:00:0{n}:01 10.{n}.0.1");
        sb.nbctl(["lsp-add", sw, &lp, "--", "lsp-set-addresses", &lp, &addr]);
        sb.add_vif(&format!("vif-{lp}"), &lp);
    }
    // A gateway port on this chassis: chassisredirect port and is_chassis_resident().
    sb.nbctl(["ls-add", "ext"]);
    sb.nbctl(["lrp-add", "lr0", "lrp-ext", "00:00:00:00:ff:ee", "172.16.0.1/24"]);
    sb.nbctl(["lrp-set-gateway-chassis", "lrp-ext", sb.chassis(), "10"]);
    chassisd_tests::topo::router_port(sb, "ext", "ext-lr0", "lrp-ext");
    sb.nbctl(["lr-nat-add", "lr0", "snat", "172.16.0.1", "10.0.0.0/24"]);
    sb.nbctl(["lr-nat-add", "lr0", "dnat_and_snat", "172.16.0.10", "10.1.0.1"]);
    sb.nbctl(["lr-route-add", "lr0", "0.0.0.0/0", "172.16.0.254"]);
    sb.wait_port_up("sw0-vm");
    sb.wait_port_up("sw1-vm");
}

pub fn lb(sb: &Sandbox) {
    sb.nbctl(["ls-add", "sw0"]);
    vif(sb, "sw0", "lp1", 1, false);
    vif(sb, "sw0", "lp2", 2, false);
    sb.nbctl(["lb-add", "lb0", "10.0.0.100:80", "10.0.0.1:8080,10.0.0.2:8080", "tcp"]);
    sb.nbctl(["lb-add", "lb1", "10.0.0.101", "10.0.0.1,10.0.0.2"]);
    sb.nbctl(["lb-add", "lb6", "[fd00::100]:53", "[fd00::1]:53", "udp"]);
    for lb in ["lb0", "lb1", "lb6"] {
        sb.nbctl(["ls-lb-add", "sw0", lb]);
    }
    sb.wait_port_up("lp1");
    sb.wait_port_up("lp2");
}

pub fn multi_hv(sb: &Sandbox) {
    let hv2 = sb.hv("hv2");
    sb.nbctl(["lr-add", "lr0"]);
    for (sw, n) in [("sw0", 0u8), ("sw1", 1)] {
        sb.nbctl(["ls-add", sw]);
        let lrp = format!("lrp-{sw}");
        sb.nbctl(["lrp-add", "lr0", &lrp, &format!("00:00:00:00:ff:{n:02x}"), &format!("10.{n}.0.254/24")]);
        let lsp = format!("{sw}-lr0");
        chassisd_tests::topo::router_port(sb, sw, &lsp, &lrp);
        for (i, hv) in [sb.hv("hv1"), hv2].into_iter().enumerate() {
            let lp = format!("{sw}-p{i}");
            let addr = format!("00:00:00:00:0{n}:0{} 10.{n}.0.{}", i + 1, i + 1);
            sb.nbctl(["lsp-add", sw, &lp, "--", "lsp-set-addresses", &lp, &addr]);
            sb.nbctl(["lsp-set-port-security", &lp, &addr]);
            hv.add_vif(&format!("vif-{lp}"), &lp);
        }
    }
    // Gateway on hv2: its chassisredirect port is not resident on hv1.
    sb.nbctl(["ls-add", "ext"]);
    sb.nbctl(["lrp-add", "lr0", "lrp-ext", "00:00:00:00:ff:ee", "172.16.0.1/24"]);
    sb.nbctl(["lrp-set-gateway-chassis", "lrp-ext", "hv2", "10"]);
    chassisd_tests::topo::router_port(sb, "ext", "ext-lr0", "lrp-ext");
    sb.nbctl([
        "lsp-add",
        "ext",
        "ext-ln",
        "--",
        "lsp-set-type",
        "ext-ln",
        "localnet",
        "--",
        "lsp-set-addresses",
        "ext-ln",
        "unknown",
    ]);
    sb.nbctl(["lsp-set-options", "ext-ln", "network_name=phys"]);
    sb.nbctl(["lr-nat-add", "lr0", "snat", "172.16.0.1", "10.0.0.0/16"]);
    // Distributed NAT: resident where the logical port is.
    sb.nbctl(["lr-nat-add", "lr0", "dnat_and_snat", "172.16.0.10", "10.0.0.1", "sw0-p0", "00:00:00:00:aa:01"]);
    sb.nbctl(["lr-nat-add", "lr0", "dnat_and_snat", "172.16.0.11", "10.1.0.2", "sw1-p1", "00:00:00:00:aa:02"]);
    sb.nbctl(["lb-add", "lb0", "172.16.0.100:80", "10.0.0.1:80,10.1.0.2:80", "tcp"]);
    sb.nbctl(["lr-lb-add", "lr0", "lb0"]);
    sb.nbctl(["ls-lb-add", "sw0", "lb0"]);
    // A port group spanning both switches (one SB Port_Group per datapath).
    sb.nbctl(["pg-add", "pgall", "sw0-p0", "sw0-p1", "sw1-p0", "sw1-p1"]);
    sb.nbctl([
        "--type=port-group",
        "acl-add",
        "pgall",
        "to-lport",
        "1001",
        "outport == @pgall && ip4.src == $pgall_ip4 && tcp",
        "allow-related",
    ]);
    sb.nbctl([
        "--type=port-group",
        "acl-add",
        "pgall",
        "from-lport",
        "1001",
        "inport == @pgall && ip4.dst == 172.16.0.0/24",
        "drop",
    ]);
    for lp in ["sw0-p0", "sw0-p1", "sw1-p0", "sw1-p1"] {
        sb.wait_port_up(lp);
    }
}

pub fn acl2(sb: &Sandbox) {
    sb.nbctl(["ls-add", "sw0"]);
    for (i, lp) in ["lp1", "lp2", "lp3", "lp4"].iter().enumerate() {
        vif(sb, "sw0", lp, i as u8 + 1, i % 2 == 0);
    }
    let big: Vec<String> = (0..40).map(|i| format!("\"192.168.{}.{}\"", i / 10, i % 250)).collect();
    sb.nbctl(["create", "Address_Set", "name=big", &format!("addresses={}", big.join(","))]);
    sb.nbctl(["create", "Address_Set", "name=nets", "addresses=\"10.0.0.0/8\",\"172.16.0.0/12\",\"192.168.1.0/24\""]);
    sb.nbctl(["create", "Address_Set", "name=v6", "addresses=\"fd00::/64\",\"fe80::1\",\"2001:db8::/32\""]);
    sb.nbctl(["create", "Address_Set", "name=emptyset"]);
    sb.nbctl(["pg-add", "web", "lp1", "lp2", "lp3"]);
    sb.nbctl(["pg-add", "db", "lp4"]);
    let acls: &[(&str, &str, &str, &str, &str)] = &[
        (
            "web",
            "to-lport",
            "2001",
            "outport == @web && ip4.src == $big && tcp.dst == {80, 443, 8080}",
            "allow-related",
        ),
        (
            "web",
            "to-lport",
            "2002",
            "outport == @web && (ip4.src == $nets && udp.dst == {53, 123} || ip4.dst == $big && udp.src == {67, 68})",
            "allow",
        ),
        ("web", "from-lport", "2003", "inport == @web && ip4.dst != {10.0.0.1, 10.0.0.2}", "drop"),
        ("web", "from-lport", "2004", "inport == @web && ip6.dst == $v6 && icmp6.type == {128, 129}", "allow"),
        (
            "web",
            "to-lport",
            "2005",
            "outport == @web && ip4.src == {$nets, 1.2.3.4} && tcp.dst >= 1024 && tcp.dst < 2048",
            "allow-related",
        ),
        (
            "db",
            "to-lport",
            "2006",
            "outport == @db && ip4.src == $web_ip4 && tcp.dst == 5432 && ct.new",
            "allow-related",
        ),
        ("db", "to-lport", "2007", "outport == @db && ip4.src == $emptyset", "drop"),
        ("db", "from-lport", "2008", "inport == @db && (tcp.flags & 0x2) == 0 && tcp", "drop"),
        ("db", "from-lport", "2009", "inport == @db && tcp && tcp.flags == 0x002/0x012", "allow"),
        ("db", "to-lport", "2010", "outport == @db && ip.ttl == {1, 255} && ip4 && !ip.later_frag", "allow"),
        ("db", "from-lport", "2011", "inport == @db && eth.type == 0x88cc", "drop"),
        ("db", "from-lport", "2012", "inport == @db && vlan.present && vlan.vid == 100", "drop"),
        ("sw0", "from-lport", "2013", "ip4 && ip4.dst[0..7] == 0x5 && ip4.src[24..31] > 200", "allow"),
        ("sw0", "to-lport", "2014", "ip6 && ip6.src == fe80::/10 && !ip6.mcast && ip.dscp == 46", "allow"),
        (
            "sw0",
            "from-lport",
            "2015",
            "eth.src[40] == 0 && eth.dst != ff:ff:ff:ff:ff:ff && arp.op == 2 && arp.spa == 10.0.0.0/24",
            "drop",
        ),
        ("sw0", "to-lport", "2016", "sctp && sctp.dst == 36412 || udp && udp.dst == {4789, 6081}", "allow"),
        ("sw0", "from-lport", "2017", "igmp || ip4.mcast || ip6.mcast_flood", "allow"),
        (
            "sw0",
            "to-lport",
            "2018",
            "ct.est && ct_label.blocked == 0 && ct_mark.natted == 1 && reg0[5..7] == 3",
            "allow",
        ),
        (
            "sw0",
            "from-lport",
            "2019",
            "!(ip4.src == 10.0.0.1 || ip4.src == 10.0.0.2) && ip4 && !(tcp.src == 22)",
            "allow",
        ),
        ("sw0", "to-lport", "2020", "pkt.mark == 0x10 && icmp4.type == 3 && icmp4.code == {1, 4}", "allow"),
    ];
    for (on, dir, prio, m, verdict) in acls {
        if *on == "sw0" {
            sb.nbctl(["acl-add", on, dir, prio, m, verdict]);
        } else {
            sb.nbctl(["--type=port-group", "acl-add", on, dir, prio, m, verdict]);
        }
    }
    for lp in ["lp1", "lp2", "lp3", "lp4"] {
        sb.wait_port_up(lp);
    }
}

pub fn services(sb: &Sandbox) {
    sb.nbctl(["ls-add", "sw0"]);
    vif(sb, "sw0", "lp1", 1, true);
    vif(sb, "sw0", "lp2", 2, false);
    sb.nbctl([
        "set",
        "Logical_Switch",
        "sw0",
        "other_config:mcast_snoop=true",
        "other_config:mcast_querier=true",
        "other_config:subnet=10.0.0.0/24",
    ]);
    let dhcp = sb.nbctl(["create", "DHCP_Options", "cidr=10.0.0.0/24", "options={\"lease_time\"=\"3600\",\"router\"=\"10.0.0.254\",\"server_id\"=\"10.0.0.254\",\"server_mac\"=\"00:00:00:00:ff:01\"}"]);
    sb.nbctl(["lsp-set-dhcpv4-options", "lp1", dhcp.trim()]);
    let dhcp6 =
        sb.nbctl(["create", "DHCP_Options", "cidr=\"fd00::/64\"", "options={\"server_id\"=\"00:00:00:00:ff:02\"}"]);
    sb.nbctl(["lsp-set-dhcpv6-options", "lp1", dhcp6.trim()]);
    let dns = sb.nbctl(["create", "DNS", "records={\"vm1.ovn.org\"=\"10.0.0.1\"}"]);
    sb.nbctl(["add", "Logical_Switch", "sw0", "dns_records", dns.trim()]);
    sb.nbctl(["lr-add", "lr0"]);
    sb.nbctl(["set", "Logical_Router", "lr0", "options:mcast_relay=true"]);
    sb.nbctl(["lrp-add", "lr0", "lrp0", "00:00:00:00:ff:01", "10.0.0.254/24", "fd00::254/64"]);
    sb.nbctl(["set", "Logical_Router_Port", "lrp0", "ipv6_ra_configs:address_mode=slaac"]);
    chassisd_tests::topo::router_port(sb, "sw0", "sw0-lr0", "lrp0");
    sb.nbctl(["lr-policy-add", "lr0", "1000", "ip4.src == 10.0.0.0/24 && ip4.dst == 10.1.0.0/24", "drop"]);
    sb.nbctl(["lr-policy-add", "lr0", "900", "ip4.src == 10.0.0.2 && tcp.dst == {80, 8080}", "allow"]);
    sb.nbctl(["lr-route-add", "lr0", "10.2.0.0/16", "10.0.0.1"]);
    sb.nbctl(["--ecmp", "lr-route-add", "lr0", "10.3.0.0/16", "10.0.0.1"]);
    sb.nbctl(["--ecmp", "lr-route-add", "lr0", "10.3.0.0/16", "10.0.0.2"]);
    sb.wait_port_up("lp1");
    sb.wait_port_up("lp2");
}

pub fn extras(sb: &Sandbox) {
    sb.nbctl(["ls-add", "sw0"]);
    for i in 1..=6u8 {
        vif(sb, "sw0", &format!("lp{i}"), i, false);
    }
    // A virtual port with two possible parents.
    sb.nbctl(["lsp-add", "sw0", "vip1", "--", "lsp-set-type", "vip1", "virtual"]);
    sb.nbctl(["lsp-set-addresses", "vip1", "00:00:00:00:00:99 10.0.0.99"]);
    sb.nbctl(["lsp-set-options", "vip1", "virtual-ip=10.0.0.99", "virtual-parents=lp1,lp2"]);
    // Big address sets and a three-clause conjunction.
    let a: Vec<String> = (0..300).map(|i| format!("\"172.{}.{}.{}\"", 16 + i / 200, (i / 10) % 20, i % 250)).collect();
    let b: Vec<String> = (0..50).map(|i| format!("\"10.10.{}.0/24\"", i)).collect();
    sb.nbctl(["create", "Address_Set", "name=srcs", &format!("addresses={}", a.join(","))]);
    sb.nbctl(["create", "Address_Set", "name=dsts", &format!("addresses={}", b.join(","))]);
    sb.nbctl(["pg-add", "pgx", "lp1", "lp2", "lp3", "lp4", "lp5", "lp6"]);
    sb.nbctl([
        "--type=port-group",
        "acl-add",
        "pgx",
        "to-lport",
        "1500",
        "outport == @pgx && ip4.src == $srcs && ip4.dst == $dsts && tcp.dst == {22, 80, 443, 3306, 5432}",
        "allow-related",
    ]);
    sb.nbctl([
        "--type=port-group",
        "acl-add",
        "pgx",
        "from-lport",
        "1501",
        "inport == @pgx && ip4.dst == $srcs && udp.dst == 1000-2000",
        "drop",
    ]);
    sb.nbctl([
        "--type=port-group",
        "acl-add",
        "pgx",
        "from-lport",
        "1502",
        "inport == @pgx && ip4.dst == $srcs && 1000 <= udp.dst <= 2000",
        "drop",
    ]);
    // A template load balancer and its variables for this chassis.
    let chassis = sb.chassis().to_string();
    sb.nbctl([
        "create",
        "Chassis_Template_Var",
        &format!("chassis={chassis}"),
        "variables={vip=\"10.0.0.200\",vport=\"8000\",backends=\"10.0.0.1:80,10.0.0.2:80\"}",
    ]);
    sb.nbctl([
        "create",
        "Load_Balancer",
        "name=tlb",
        "protocol=tcp",
        "vips={\"^vip:^vport\"=\"^backends\"}",
        "options={template=\"true\",address-family=\"ipv4\"}",
    ]);
    sb.nbctl(["ls-lb-add", "sw0", "tlb"]);
    // A router with LB SNAT options.
    sb.nbctl(["lr-add", "lr0"]);
    sb.nbctl([
        "set",
        "Logical_Router",
        "lr0",
        "options:lb_force_snat_ip=router_ip",
        &format!("options:chassis={chassis}"),
    ]);
    sb.nbctl(["lrp-add", "lr0", "lrp0", "00:00:00:00:ff:01", "10.0.0.254/24"]);
    chassisd_tests::topo::router_port(sb, "sw0", "sw0-lr0", "lrp0");
    sb.nbctl(["lb-add", "rlb", "10.0.0.250:443", "10.0.0.3:443,10.0.0.4:443", "tcp"]);
    sb.nbctl(["set", "Load_Balancer", "rlb", "options:skip_snat=true"]);
    sb.nbctl(["lr-lb-add", "lr0", "rlb"]);
    for i in 1..=6u8 {
        sb.wait_port_up(&format!("lp{i}"));
    }
}
