//! Differential check of the physical flows (tables 0, 37-41, 64, 65): on the same databases,
//! chassisd installs exactly the flows ovn-controller 23.03 installed (cookies, conntrack
//! zones and multicast member order included); only allocated ids are masked.

use chassisd_tests::flows::{diff_lines, mask_ids, ALLOCATED_IDS};
use chassisd_tests::{require_ovn, Controller, Sandbox};

const PHYSICAL_TABLES: [u8; 8] = [0, 37, 38, 39, 40, 41, 64, 65];

fn physical_flows(sb: &Sandbox) -> Vec<String> {
    let mut lines: Vec<String> = sb
        .dump_flows("br-int")
        .into_iter()
        .filter(|l| {
            let table = l.split("table=").nth(1).and_then(|t| t.split(',').next()).and_then(|t| t.parse::<u8>().ok());
            table.is_some_and(|t| PHYSICAL_TABLES.contains(&t))
        })
        .map(|l| mask_ids(&l, &ALLOCATED_IDS))
        .collect();
    lines.sort();
    lines
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
    for (sw, lrp) in [("sw0", "lr0-sw0"), ("sw1", "lr0-sw1")] {
        let p = format!("{sw}-lr0");
        sb.nbctl([
            "lsp-add",
            sw,
            &p,
            "--",
            "lsp-set-type",
            &p,
            "router",
            "--",
            "lsp-set-options",
            &p,
            &format!("router-port={lrp}"),
        ]);
        sb.nbctl(["lsp-set-addresses", &p, "router"]);
    }
    for (sw, port, mac, ip) in [
        ("sw0", "lp1", "00:00:00:00:00:01", "10.0.0.2"),
        ("sw0", "lp2", "00:00:00:00:00:02", "10.0.0.3"),
        ("sw1", "lp3", "00:00:00:00:00:03", "10.0.1.2"),
    ] {
        sb.nbctl(["lsp-add", sw, port, "--", "lsp-set-addresses", port, &format!("{mac} {ip}")]);
    }
    for (vif, port) in [("vif1", "lp1"), ("vif2", "lp2"), ("vif3", "lp3")] {
        sb.add_vif(vif, port);
    }
    for port in ["lp1", "lp2", "lp3"] {
        sb.wait_port_up(port);
    }
    sb.ovn_nbctl_wait_hv_sync();
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
