//! Differential check of the flows 23.03 derives from Southbound rows other than
//! Logical_Flow: MAC_Binding / Static_MAC_Binding (tables 66, 67), FDB (71, 72) and the port
//! security of local VIFs (73, 74, 75). On the same databases chassisd must install exactly
//! what ovn-controller 23.03 installed, cookies included.

use chassisd_tests::flows::{diff_lines, mask_ids, ALLOCATED_IDS};
use chassisd_tests::{require_ovn, Controller, Sandbox};

const AUX_TABLES: [u8; 7] = [66, 67, 71, 72, 73, 74, 75];

fn table_of(line: &str) -> Option<u8> {
    line.split("table=").nth(1).and_then(|t| t.split(',').next()).and_then(|t| t.parse::<u8>().ok())
}

fn aux_flows(sb: &Sandbox) -> Vec<String> {
    let mut lines: Vec<String> = sb
        .dump_flows("br-int")
        .into_iter()
        .filter(|l| table_of(l).is_some_and(|t| AUX_TABLES.contains(&t)))
        .map(|l| mask_ids(&l, &ALLOCATED_IDS))
        .collect();
    lines.sort();
    lines
}

fn count(lines: &[String], table: u8) -> usize {
    lines.iter().filter(|l| table_of(l) == Some(table)).count()
}

/// The single value of `column` of the `table` rows matching `cond` (ovn-sbctl --bare find).
fn sb_find(sb: &Sandbox, table: &str, column: &str, cond: &str) -> String {
    let out = sb.sbctl(["--bare", &format!("--columns={column}"), "find", table, cond]);
    let v = out.trim().to_string();
    assert!(!v.is_empty() && !v.contains('\n'), "{table} {cond}: {column} = {v:?}");
    v
}

/// A switch with port-security variants (IPv4+IPv6 hosts, subnets, MAC only, two entries),
/// a port with `unknown` addresses for the FDB, and a router on it for the MAC bindings.
fn build_topology(sb: &Sandbox) {
    sb.wait_chassis_registered();
    sb.nbctl(["ls-add", "sw0", "--", "lr-add", "lr0"]);
    sb.nbctl(["lrp-add", "lr0", "lr0-sw0", "00:00:00:00:ff:01", "10.0.0.1/24", "fd00::1/64"]);
    chassisd_tests::topo::router_port(sb, "sw0", "sw0-lr0", "lr0-sw0");
    let ports: [(&str, &str, &[&str]); 6] = [
        ("lp1", "00:00:00:00:00:01 10.0.0.2 fd00::2", &["00:00:00:00:00:01 10.0.0.2 fd00::2"]),
        ("lp2", "00:00:00:00:00:02", &["00:00:00:00:00:02"]),
        ("lp3", "00:00:00:00:00:03 10.0.0.3", &["00:00:00:00:00:03 10.0.0.3/24 10.0.2.0/24 fd00::/64"]),
        ("lp4", "00:00:00:00:00:04 fd00::4", &["00:00:00:00:00:04 fd00::4", "00:00:00:00:00:44"]),
        ("lp5", "unknown", &[]),
        // Odd entries, parsed the way OVS's scanner does: an out-of-range prefix that the
        // IPv6 scan then skips, trailing junk, a non-CIDR mask, a MAC with 0x and blanks.
        (
            "lp6",
            "00:00:00:00:00:06",
            &["00:00:00:00:00:06 10.0.0.6/33 fd00::6 junk 10.0.0.7", "0x0: 0:0:0:0:7 10.0.0.8/255.0.255.0 fd00::8/64"],
        ),
    ];
    for (port, addresses, port_security) in ports {
        sb.nbctl(["lsp-add", "sw0", port, "--", "lsp-set-addresses", port, addresses]);
        if !port_security.is_empty() {
            let mut args = vec!["lsp-set-port-security", port];
            args.extend_from_slice(port_security);
            sb.nbctl(args);
        }
    }
    for (i, (port, _, _)) in ports.iter().enumerate() {
        sb.add_vif(&format!("vif{}", i + 1), port);
    }
    for (port, _, _) in ports {
        sb.wait_port_up(port);
    }

    // Static bindings: northd copies them to the Southbound, one overriding learnt MACs.
    sb.nbctl(["static-mac-binding-add", "lr0-sw0", "10.0.0.60", "00:00:00:00:00:60"]);
    sb.nbctl(["static-mac-binding-add", "lr0-sw0", "fd00::61", "00:00:00:00:00:61"]);
    let smb = sb.nbctl(["--bare", "--columns=_uuid", "find", "Static_MAC_Binding", "ip=\"fd00::61\""]);
    sb.nbctl(["set", "Static_MAC_Binding", smb.trim(), "override_dynamic_mac=true"]);

    // Learnt bindings and an FDB entry, written as pinctrl would.
    let lr0 = sb_find(sb, "Datapath_Binding", "_uuid", "external_ids:name=lr0");
    let sw0_key = sb_find(sb, "Datapath_Binding", "tunnel_key", "external_ids:name=sw0");
    let lp5_key = sb.port_binding_column("lp5", "tunnel_key").expect("lp5 tunnel_key");
    for (ip, mac) in [("10.0.0.50", "00:00:00:00:00:50"), ("fd00::51", "00:00:00:00:00:51")] {
        sb.sbctl([
            "create",
            "MAC_Binding",
            "logical_port=lr0-sw0",
            &format!("ip=\"{ip}\""),
            &format!("mac=\"{mac}\""),
            &format!("datapath={lr0}"),
        ]);
    }
    sb.sbctl([
        "create",
        "FDB",
        "mac=\"00:00:00:00:00:70\"",
        &format!("dp_key={sw0_key}"),
        &format!("port_key={lp5_key}"),
    ]);
    sb.ovn_nbctl_wait_hv_sync();
}

/// Waits (a bounded while) until every row written above shows in the tables: the Southbound
/// rows written with ovn-sbctl are not covered by `--wait=hv`.
fn settled_aux_flows(sb: &Sandbox) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let flows = aux_flows(sb);
        let want = |t: u8| match t {
            66 | 67 => 4,
            _ => 1,
        };
        if AUX_TABLES.iter().all(|&t| count(&flows, t) >= want(t)) || std::time::Instant::now() > deadline {
            return flows;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn chassisd_installs_the_neighbor_fdb_and_port_security_flows_of_ovn_controller() {
    require_ovn!();
    let mut sb = Sandbox::builder().infra().controller(Controller::OvnController).start();
    build_topology(&sb);
    let expected = settled_aux_flows(&sb);
    // 2 learnt + 2 static bindings, one FDB entry; five ports with port security.
    assert_eq!(count(&expected, 66), 4, "{expected:#?}");
    assert_eq!(count(&expected, 67), 4, "{expected:#?}");
    assert_eq!(count(&expected, 71), 1, "{expected:#?}");
    assert_eq!(count(&expected, 72), 1, "{expected:#?}");
    assert!(count(&expected, 73) > 20, "{expected:#?}");
    assert!(count(&expected, 74) > 20, "{expected:#?}");
    assert!(count(&expected, 75) > 20, "{expected:#?}");
    for prio in ["priority=50,", "priority=100,", "priority=150,"] {
        assert!(expected.iter().any(|l| table_of(l) == Some(66) && l.contains(prio)), "{prio} {expected:#?}");
    }

    // What 23.03 made of lp6's odd entries (see build_topology).
    let has = |parts: &[&str]| expected.iter().any(|l| parts.iter().all(|p| l.contains(p)));
    assert!(has(&["table=73", "dl_src=00:00:00:00:00:06", "ipv6_src=fd00::6"]), "{expected:#?}");
    assert!(has(&["table=73", "dl_src=00:00:00:00:00:07", "ipv6_src=fd00::8 "]), "{expected:#?}");
    for ip in ["10.0.0.6", "10.0.0.7", "10.0.0.8"] {
        assert!(!has(&[ip]), "{ip}: {expected:#?}");
    }

    let report = sb.stop_controller();
    assert!(report.is_clean(), "{report:?}");
    sb.ofctl(["del-flows", "br-int"]);
    sb.start_controller(Controller::Chassisd);
    sb.ovn_nbctl_wait_hv_sync();
    let actual = settled_aux_flows(&sb);
    eprintln!("compared {} flows of tables {AUX_TABLES:?}", expected.len());
    if let Some(diff) = diff_lines(&expected, &actual) {
        panic!("aux flows differ (- ovn-controller, + chassisd):\n{diff}");
    }
}
