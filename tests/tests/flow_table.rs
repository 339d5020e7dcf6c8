//! Differential check of the whole flow table of br-int: on the same databases, chassisd
//! installs the flows ovn-controller 23.03 installed, with conjunction, group and meter ids
//! masked (they are allocated) and conjunction actions sorted. Groups and meters are
//! compared too.
//!
//! The topology covers the usual northd output: two switches behind a gateway router with
//! SNAT and dnat_and_snat, port security, DHCP options, ACLs on port groups and address sets
//! (allow-related, drop, reject, logged), a load balancer on the switch and the router, a
//! localnet port and a localport.

use std::collections::BTreeMap;

use chassisd_tests::flows::{diff_lines, normalize_flow, table_of};
use chassisd_tests::{require_ovn, topo, Controller, Sandbox};

fn all_flows(sb: &Sandbox) -> Vec<String> {
    let mut lines: Vec<String> = sb.dump_flows("br-int").into_iter().map(|l| normalize_flow(&l)).collect();
    lines.sort();
    lines
}

fn groups(sb: &Sandbox) -> Vec<String> {
    let mut v: Vec<String> = sb.dump_groups("br-int").iter().map(|g| normalize_flow(g)).collect();
    v.sort();
    v
}

fn build_topology(sb: &Sandbox) {
    sb.wait_chassis_registered();
    let chassis = sb.chassis().to_string();
    let nb = |args: &[&str]| {
        sb.nbctl(args);
    };
    nb(&["ls-add", "sw0", "--", "ls-add", "sw1", "--", "lr-add", "lr0"]);
    nb(&["set", "Logical_Router", "lr0", &format!("options:chassis={chassis}")]);
    nb(&["lrp-add", "lr0", "lr0-sw0", "00:00:00:00:ff:01", "10.0.0.1/24", "fd00::1/64"]);
    nb(&["lrp-add", "lr0", "lr0-sw1", "00:00:00:00:ff:02", "10.0.1.1/24"]);
    topo::attach_router(sb, "lr0", &[("sw0", "lr0-sw0"), ("sw1", "lr0-sw1")]);
    topo::add_ports(
        sb,
        &[
            ("sw0", "lp1", "00:00:00:00:00:01", "10.0.0.2 fd00::2"),
            ("sw0", "lp2", "00:00:00:00:00:02", "10.0.0.3"),
            ("sw1", "lp3", "00:00:00:00:00:03", "10.0.1.2"),
        ],
    );
    nb(&["lsp-set-port-security", "lp1", "00:00:00:00:00:01 10.0.0.2 fd00::2"]);
    nb(&["lsp-add", "sw0", "lp4", "--", "lsp-set-addresses", "lp4", "unknown"]);
    chassisd_tests::topo::localnet_port(sb, "sw1", "ln1", "phys");
    nb(&["lsp-add", "sw0", "lport0", "--", "lsp-set-type", "lport0", "localport"]);
    nb(&["lsp-set-addresses", "lport0", "00:00:00:00:00:10 10.0.0.10"]);

    // DHCP for lp1.
    topo::dhcpv4_options(
        sb,
        "lp1",
        "10.0.0.0/24",
        &[
            "lease_time=3600",
            "router=10.0.0.1",
            "server_id=10.0.0.1",
            "server_mac=00:00:00:00:ff:01",
            "dns_server={8.8.8.8}",
        ],
    );

    // ACLs on a port group and an address set.
    nb(&["pg-add", "pg1", "lp1", "lp2", "lp3"]);
    nb(&["create", "Address_Set", "name=as1", "addresses=10.0.0.2,10.0.0.3,10.0.1.2,192.168.0.0/16"]);
    nb(&["acl-add", "pg1", "from-lport", "1002", "inport == @pg1 && ip4", "allow-related"]);
    nb(&[
        "acl-add",
        "pg1",
        "to-lport",
        "1002",
        "outport == @pg1 && ip4.src == $as1 && tcp.dst == {22, 80, 443}",
        "allow-related",
    ]);
    nb(&["acl-add", "pg1", "to-lport", "1001", "outport == @pg1 && tcp.dst == 23", "reject"]);
    nb(&[
        "--log",
        "--severity=alert",
        "--name=drop-udp",
        "acl-add",
        "pg1",
        "to-lport",
        "1000",
        "outport == @pg1 && udp",
        "drop",
    ]);

    // A load balancer on the switch and on the router.
    nb(&["lb-add", "lb0", "10.0.0.100:80", "10.0.0.2:8080,10.0.0.3:8080", "tcp"]);
    nb(&["ls-lb-add", "sw0", "lb0", "--", "lr-lb-add", "lr0", "lb0"]);

    // NAT on the gateway router.
    nb(&["lr-nat-add", "lr0", "snat", "172.16.0.1", "10.0.0.0/24"]);
    nb(&["lr-nat-add", "lr0", "dnat_and_snat", "172.16.0.2", "10.0.1.2"]);
    nb(&["lr-route-add", "lr0", "192.168.10.0/24", "10.0.1.2"]);

    for (vif, port) in [("vif1", "lp1"), ("vif2", "lp2"), ("vif3", "lp3"), ("vif4", "lp4"), ("vif10", "lport0")] {
        sb.add_vif(vif, port);
    }
    // Not lport0: a localport is never up.
    for port in ["lp1", "lp2", "lp3", "lp4"] {
        sb.wait_port_up(port);
    }
    sb.ovn_nbctl_wait_hv_sync();
}

/// Differing lines per table, for the report.
fn per_table(diff: &str) -> BTreeMap<u8, usize> {
    let mut m = BTreeMap::new();
    for l in diff.lines().filter(|l| l.starts_with("- ") || l.starts_with("+ ")) {
        if let Some(t) = table_of(l) {
            *m.entry(t).or_default() += 1;
        }
    }
    m
}

#[test]
fn chassisd_installs_the_flow_table_of_ovn_controller() {
    require_ovn!();
    let mut sb = Sandbox::builder()
        .infra()
        .controller(Controller::OvnController)
        .external_id("ovn-bridge-mappings", "phys:br-phys")
        .start();
    sb.vsctl(["add-br", "br-phys", "--", "set", "bridge", "br-phys", "datapath_type=dummy"]);
    build_topology(&sb);
    let expected = all_flows(&sb);
    let expected_groups = groups(&sb);
    let report = sb.stop_controller();
    assert!(report.is_clean(), "{report:?}");
    sb.ofctl(["del-flows", "br-int"]);
    sb.start_controller(Controller::Chassisd);
    sb.ovn_nbctl_wait_hv_sync();
    let actual = all_flows(&sb);
    let actual_groups = groups(&sb);
    assert!(expected.len() > 500, "too few flows recorded: {}", expected.len());
    if let Some(diff) = diff_lines(&expected, &actual) {
        panic!(
            "{} flows recorded; flows differ per table {:?} (- ovn-controller, + chassisd):\n{diff}",
            expected.len(),
            per_table(&diff)
        );
    }
    if let Some(diff) = diff_lines(&expected_groups, &actual_groups) {
        panic!("groups differ (- ovn-controller, + chassisd):\n{diff}");
    }
    eprintln!("{} flows and {} groups identical", expected.len(), expected_groups.len());
}
