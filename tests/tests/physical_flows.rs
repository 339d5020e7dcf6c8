//! Differential check of the physical flows (tables 0, 37-41, 64, 65): on the same databases,
//! chassisd installs exactly the flows ovn-controller 23.03 installed (cookies, conntrack
//! zones and multicast member order included); only allocated ids are masked.

use chassisd_tests::flows::{diff_lines, masked_flows_in_tables};
use chassisd_tests::{require_ovn, topo, Controller, Sandbox};

const PHYSICAL_TABLES: [u8; 8] = [0, 37, 38, 39, 40, 41, 64, 65];

fn physical_flows(sb: &Sandbox) -> Vec<String> {
    masked_flows_in_tables(sb, &PHYSICAL_TABLES)
}

/// One sandbox, the same databases: ovn-controller installs its table, is stopped, the table
/// is cleared, and chassisd installs its own. Datapath and port keys, row UUIDs (cookies) and
/// ofports are then the same for both, and chassisd takes over the ct zones ovn-controller
/// recorded in br-int, as it would on a real upgrade.
fn build_topology(sb: &Sandbox) {
    sb.wait_chassis_registered();
    sb.nbctl(["ls-add", "sw0", "--", "ls-add", "sw1", "--", "lr-add", "lr0"]);
    sb.nbctl(["lrp-add", "lr0", "lr0-sw0", "00:00:00:00:ff:01", "10.0.0.1/24"]);
    sb.nbctl(["lrp-add", "lr0", "lr0-sw1", "00:00:00:00:ff:02", "10.0.1.1/24"]);
    topo::attach_router(sb, "lr0", &[("sw0", "lr0-sw0"), ("sw1", "lr0-sw1")]);
    topo::add_ports(
        sb,
        &[
            ("sw0", "lp1", "00:00:00:00:00:01", "10.0.0.2"),
            ("sw0", "lp2", "00:00:00:00:00:02", "10.0.0.3"),
            ("sw1", "lp3", "00:00:00:00:00:03", "10.0.1.2"),
        ],
    );
    topo::bind_and_sync(sb, &[("vif1", "lp1"), ("vif2", "lp2"), ("vif3", "lp3")]);
}

#[test]
fn chassisd_installs_the_physical_flows_of_ovn_controller() {
    require_ovn!();
    let mut sb = Sandbox::builder().infra().controller(Controller::OvnController).start();
    build_topology(&sb);
    let expected = physical_flows(&sb);
    let report = sb.stop_controller();
    assert!(report.is_clean(), "{report:?}");
    sb.ofctl(["del-flows", "br-int"]);
    sb.start_controller(Controller::Chassisd);
    sb.ovn_nbctl_wait_hv_sync();
    let actual = physical_flows(&sb);
    assert!(expected.len() > 20, "too few physical flows recorded: {expected:#?}");
    if let Some(diff) = diff_lines(&expected, &actual) {
        panic!("physical flows differ (- ovn-controller, + chassisd):\n{diff}");
    }
}
