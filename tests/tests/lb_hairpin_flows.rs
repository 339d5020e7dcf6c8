//! Differential check of the load balancer hairpin flows (tables 68-70): on the same
//! databases, chassisd installs exactly the flows ovn-controller 23.03 installed.
//!
//! Two rounds. The first with load balancers as ovn-northd writes them (datapath groups,
//! `hairpin_orig_tuple=true`, ct_mark), oracle first. The second with ovn-northd paused and
//! Southbound rows it would never write: a load balancer of the pre-22.03 kind (`datapaths`
//! column, no `hairpin_orig_tuple`, so conntrack tuple matches) and
//! `lb_hairpin_use_ct_mark=false` (ct_label matches); chassisd first, then the oracle.

use std::time::Duration;

use chassisd_tests::flows::{diff_lines, masked_flows_in_tables};
use chassisd_tests::{require_ovn, topo, try_wait_for, wait_for, Controller, Sandbox};

const LB_TABLES: [u8; 3] = [68, 69, 70];

fn lb_flows(sb: &Sandbox) -> Vec<String> {
    masked_flows_in_tables(sb, &LB_TABLES)
}

/// The LB flows once they contain every `marker` and two dumps a moment apart agree (the
/// second round has no `--wait=hv` to lean on: northd is paused).
fn settled_lb_flows(sb: &Sandbox, markers: &[&str]) -> Vec<String> {
    wait_for(Duration::from_secs(30), format!("LB flows with {markers:?}"), || {
        let a = lb_flows(sb);
        if !markers.iter().all(|m| a.iter().any(|l| l.contains(m))) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(500));
        (lb_flows(sb) == a).then_some(a)
    })
}

/// Stops the running controller, clears br-int and starts `next` on the same databases.
fn switch_controller(sb: &mut Sandbox, next: Controller) {
    let report = sb.stop_controller();
    assert!(report.is_clean(), "{report:?}");
    sb.ofctl(["del-flows", "br-int"]);
    sb.start_controller(next);
}

fn build_topology(sb: &Sandbox) {
    sb.wait_chassis_registered();
    // sw2 has no port here and no router port, so it is not a local datapath.
    sb.nbctl(["ls-add", "sw0", "--", "ls-add", "sw1", "--", "ls-add", "sw2", "--", "lr-add", "lr0"]);
    sb.nbctl(["lrp-add", "lr0", "lr0-sw0", "00:00:00:00:ff:01", "10.0.0.1/24", "fd00::1/64"]);
    sb.nbctl(["lrp-add", "lr0", "lr0-sw1", "00:00:00:00:ff:02", "10.0.1.1/24", "fd01::1/64"]);
    topo::attach_router(sb, "lr0", &[("sw0", "lr0-sw0"), ("sw1", "lr0-sw1")]);
    topo::add_ports(
        sb,
        &[
            ("sw0", "lp1", "00:00:00:00:00:01", "10.0.0.2 fd00::2"),
            ("sw0", "lp2", "00:00:00:00:00:02", "10.0.0.3 fd00::3"),
            ("sw1", "lp3", "00:00:00:00:00:03", "10.0.1.2 fd01::2"),
            ("sw2", "lp4", "00:00:00:00:00:04", "10.0.2.2"),
        ],
    );

    // TCP, IPv4 and IPv6 VIPs with ports, on sw0.
    sb.nbctl(["lb-add", "lb-tcp", "10.0.0.10:80", "10.0.0.2:8080,10.0.0.3:8080", "tcp"]);
    sb.nbctl(["lb-add", "lb-tcp", "[fd00::10]:80", "[fd00::2]:8080,[fd00::3]:8080", "tcp"]);
    sb.nbctl(["ls-lb-add", "sw0", "lb-tcp"]);
    // UDP with hairpin_snat_ip on two switches: per-datapath SNAT flows.
    sb.nbctl(["lb-add", "lb-udp", "10.0.0.11:53", "10.0.0.2:5353,10.0.1.2:5353", "udp"]);
    sb.nbctl(["lb-add", "lb-udp", "[fd00::11]:53", "[fd00::3]:5353", "udp"]);
    sb.nbctl(["set", "load_balancer", "lb-udp", "options:hairpin_snat_ip=\"42.42.42.1 fd42::1\""]);
    sb.nbctl(["ls-lb-add", "sw0", "lb-udp", "--", "ls-lb-add", "sw1", "lb-udp"]);
    // Port-less VIPs (no L4 match, lower SNAT priority), on sw1.
    sb.nbctl(["lb-add", "lb-noport", "10.0.0.20", "10.0.0.2,10.0.1.2"]);
    sb.nbctl(["lb-add", "lb-noport", "fd00::20", "fd00::2"]);
    sb.nbctl(["ls-lb-add", "sw1", "lb-noport"]);
    // Port-less with hairpin_snat_ip of one family only.
    sb.nbctl(["lb-add", "lb-noport-snat", "10.0.0.21", "10.0.0.3"]);
    sb.nbctl(["lb-add", "lb-noport-snat", "fd00::21", "fd00::3"]);
    sb.nbctl(["set", "load_balancer", "lb-noport-snat", "options:hairpin_snat_ip=\"fd42::2\""]);
    sb.nbctl(["ls-lb-add", "sw0", "lb-noport-snat"]);
    // SCTP.
    sb.nbctl(["lb-add", "lb-sctp", "10.0.0.12:9000", "10.0.0.3:9001", "sctp"]);
    sb.nbctl(["ls-lb-add", "sw0", "lb-sctp"]);
    // On the router only: 23.03's northd gives it no Southbound row.
    sb.nbctl(["lb-add", "lb-router", "10.0.0.30:80", "10.0.1.2:80"]);
    sb.nbctl(["lr-lb-add", "lr0", "lb-router"]);
    // On the router and a switch.
    sb.nbctl(["lb-add", "lb-both", "10.0.0.31:8080", "10.0.1.2:80"]);
    sb.nbctl(["lr-lb-add", "lr0", "lb-both", "--", "ls-lb-add", "sw1", "lb-both"]);
    // On a switch that is not local here: no flows.
    sb.nbctl(["lb-add", "lb-remote", "10.0.2.10:80", "10.0.2.2:80"]);
    sb.nbctl(["ls-lb-add", "sw2", "lb-remote"]);
    // A template load balancer, expanded with this chassis' variables.
    let chassis = sb.chassis().to_string();
    sb.nbctl([
        "create",
        "chassis_template_var",
        &format!("chassis={chassis}"),
        "variables={vip=\"10.0.0.40\",vport=\"8080\",backends=\"10.0.0.2:80,10.0.0.3:80\"}",
    ]);
    let lbt = sb.nbctl([
        "create",
        "load_balancer",
        "name=lb-template",
        "protocol=tcp",
        "options:template=true",
        "options:address-family=ipv4",
        "vips={\"^vip:^vport\"=\"^backends\"}",
    ]);
    sb.nbctl(["ls-lb-add", "sw0", lbt.trim()]);

    topo::bind_and_sync(sb, &[("vif1", "lp1"), ("vif2", "lp2"), ("vif3", "lp3")]);
}

/// Southbound rows ovn-northd 23.03 does not write, with ovn-northd paused so that it
/// leaves them alone.
fn add_legacy_rows(sb: &Sandbox) {
    sb.try_run_central("ovn-appctl", ["-t", "ovn-northd", "pause"]).unwrap_or_else(|e| panic!("{e}"));
    let sw0 = sb.sbctl(["--bare", "--columns=_uuid", "find", "Datapath_Binding", "external_ids:name=sw0"]);
    let sw2 = sb.sbctl(["--bare", "--columns=_uuid", "find", "Datapath_Binding", "external_ids:name=sw2"]);
    sb.sbctl([
        "create",
        "Load_Balancer",
        "name=legacy",
        "protocol=udp",
        &format!("datapaths=[{},{}]", sw0.trim(), sw2.trim()),
        "vips={\"10.0.0.60:5000\"=\"10.0.0.2:5001\",\"[fd00::60]:5000\"=\"[fd00::2]:5001\",\"10.0.0.61\"=\"10.0.0.3\",\"bad-vip\"=\"10.0.0.3\",\"10.0.0.62:80\"=\"10.0.0.3\"}",
        "options:hairpin_snat_ip=\"42.42.42.2\"",
        "--",
        "set",
        "SB_Global",
        ".",
        "options:lb_hairpin_use_ct_mark=false",
    ]);
}

#[test]
fn chassisd_installs_the_lb_hairpin_flows_of_ovn_controller() {
    require_ovn!();
    let mut sb = Sandbox::builder().infra().controller(Controller::OvnController).start();
    build_topology(&sb);

    // Round 1: what northd writes.
    let expected = lb_flows(&sb);
    for marker in
        ["table=68", "table=70", "ct_mark=0x2/0x2", "metadata=0x", "42.42.42.1", "fd42::1", "sctp", "10.0.0.40"]
    {
        assert!(expected.iter().any(|l| l.contains(marker)), "no {marker} in the recording: {expected:#?}");
    }
    for absent in ["10.0.2.10", "10.0.0.30"] {
        assert!(!expected.iter().any(|l| l.contains(absent)), "{absent} in the recording: {expected:#?}");
    }
    switch_controller(&mut sb, Controller::Chassisd);
    sb.ovn_nbctl_wait_hv_sync();
    let actual = try_wait_for(Duration::from_secs(10), || {
        let a = lb_flows(&sb);
        (a == expected).then_some(a)
    })
    .unwrap_or_else(|| lb_flows(&sb));
    assert!(expected.len() > 20, "too few LB flows recorded: {expected:#?}");
    if let Some(diff) = diff_lines(&expected, &actual) {
        panic!("round 1: LB flows differ (- ovn-controller, + chassisd):\n{diff}");
    }
    eprintln!("round 1: {} LB hairpin flows identical", expected.len());

    // Round 2: legacy rows and ct_label, chassisd first.
    add_legacy_rows(&sb);
    let markers = ["ct_label=0x2/0x2", "ct_nw_dst=10.0.0.60", "ct_ipv6_dst=fd00::60", "42.42.42.2"];
    let actual = settled_lb_flows(&sb, &markers);
    switch_controller(&mut sb, Controller::OvnController);
    let expected = settled_lb_flows(&sb, &markers);
    assert!(!expected.iter().any(|l| l.contains("ct_mark=0x2/0x2")), "ct_mark still used: {expected:#?}");
    if let Some(diff) = diff_lines(&expected, &actual) {
        panic!("round 2: LB flows differ (- ovn-controller, + chassisd):\n{diff}");
    }
    eprintln!("round 2: {} LB hairpin flows identical", expected.len());
}
