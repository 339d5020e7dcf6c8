//! The control commands flowctl answers (forwarded by the supervisor): group-table-list,
//! meter-table-list, recompute, inject-pkt, stopwatch/show, coverage/show. Each scenario runs
//! against the real ovn-controller 23.03 first (proving the test and the expected format),
//! then against chassisd.

use std::time::Duration;

use chassisd_tests::packet::mac;
use chassisd_tests::{both_controllers, require_ovn, wait_until, Controller, Sandbox};

both_controllers!(
    group_and_meter_tables_list_what_is_installed,
    inject_pkt_goes_through_the_pipeline_to_the_destination_vif,
    recompute_leaves_the_table_unchanged,
    stopwatch_and_coverage_in_ovs_format
);

/// sw0 with lp1 (vif1) and lp2 (vif2), both bound here.
fn two_vifs(c: Controller) -> Sandbox {
    let sb = Sandbox::builder().infra().controller(c).start();
    sb.wait_chassis_registered();
    sb.nbctl(["ls-add", "sw0"]);
    for (p, m, ip) in [("lp1", "00:00:00:00:00:01", "10.0.0.2"), ("lp2", "00:00:00:00:00:02", "10.0.0.3")] {
        sb.nbctl(["lsp-add", "sw0", p, "--", "lsp-set-addresses", p, &format!("{m} {ip}")]);
    }
    sb.add_vif("vif1", "lp1");
    sb.add_vif("vif2", "lp2");
    sb.wait_port_up("lp1");
    sb.wait_port_up("lp2");
    sb.ovn_nbctl_wait_hv_sync();
    sb
}

/// "<name>: <id>" lines as both controllers print them.
fn parse_list(out: &str) -> Vec<(String, u32)> {
    out.lines()
        .map(|l| {
            let (name, id) = l.rsplit_once(": ").unwrap_or_else(|| panic!("not '<name>: <id>': {l:?}"));
            (name.to_string(), id.parse().unwrap_or_else(|_| panic!("bad id in {l:?}")))
        })
        .collect()
}

fn group_and_meter_tables_list_what_is_installed(c: Controller) {
    let sb = two_vifs(c);
    sb.nbctl(["lb-add", "lb0", "10.0.0.100:80", "10.0.0.2:8080,10.0.0.3:8080", "tcp"]);
    sb.nbctl(["ls-lb-add", "sw0", "lb0"]);
    sb.nbctl(["meter-add", "m1", "drop", "10", "pktps"]);
    sb.nbctl(["--log", "--meter=m1", "--name=acl1", "acl-add", "sw0", "to-lport", "1000", "tcp.dst == 22", "drop"]);
    sb.ovn_nbctl_wait_hv_sync();

    let groups = parse_list(&sb.ovn_appctl(["group-table-list"]));
    assert_eq!(groups.len(), 1, "{groups:?}");
    let (name, id) = &groups[0];
    assert!(name.starts_with("type=select,selection_method=dp_hash,bucket=bucket_id=0,weight:100,actions="), "{name}");
    assert!(name.contains("10.0.0.2:8080") && name.contains("10.0.0.3:8080"), "{name}");
    let installed = sb.dump_groups("br-int");
    assert!(installed.iter().any(|g| g.starts_with(&format!("group_id={id},type=select"))), "{installed:?}");

    let meters = parse_list(&sb.ovn_appctl(["meter-table-list"]));
    let Some((_, mid)) = meters.iter().find(|(n, _)| n == "m1") else { panic!("no m1 in {meters:?}") };
    let dumped = sb.dump_meters("br-int").join("\n");
    assert!(dumped.contains(&format!("meter={mid} ")), "meter {mid} not installed: {dumped}");

    // Sorted by name, as 23.03's simap_sort.
    let names: Vec<&String> = meters.iter().map(|(n, _)| n).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);

    // Gone from the switch, gone from the list.
    sb.nbctl(["lb-del", "lb0"]);
    sb.ovn_nbctl_wait_hv_sync();
    assert_eq!(sb.ovn_appctl(["group-table-list"]), "");
}

/// The frame OVS's flow_compose builds for this UDP microflow (64 bytes of 0, 1, 2, ...).
fn expected_udp() -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&mac("00:00:00:00:00:02"));
    f.extend_from_slice(&mac("00:00:00:00:00:01"));
    f.extend_from_slice(&[0x08, 0x00]);
    let mut ip = vec![0x45, 0, 0, 92, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 2, 10, 0, 0, 3];
    let sum = |b: &[u8], init: u32| -> u16 {
        let mut s = b.chunks(2).fold(init, |a, c| a + u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])));
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    };
    let c = sum(&ip, 0);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    let mut udp = vec![0x03, 0xe8, 0x07, 0xd0, 0, 72, 0, 0];
    udp.extend(0..64u8);
    let pseudo = [10, 0, 0, 2, 10, 0, 0, 3, 0, 17, 0, 72];
    let init = pseudo.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))).sum();
    let c = sum(&udp, init);
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&udp);
    f
}

fn inject_pkt_goes_through_the_pipeline_to_the_destination_vif(c: Controller) {
    let sb = two_vifs(c);
    let flow = "inport == \"lp1\" && eth.src == 00:00:00:00:00:01 && eth.dst == 00:00:00:00:00:02 && \
                ip4.src == 10.0.0.2 && ip4.dst == 10.0.0.3 && ip.ttl == 64 && udp.src == 1000 && udp.dst == 2000";
    assert_eq!(sb.ovn_appctl(["inject-pkt", flow]).trim(), "");
    sb.wait_tx_packet("vif2", &expected_udp());
    assert!(sb.tx_packets("vif1").iter().all(|p| p.data != expected_udp()), "not back to the sender");

    // Errors as 23.03 words them.
    let err = |f: &str| sb.try_ovn_appctl(["inject-pkt", f]).expect_err("must fail").to_string();
    let e = err("inport == \"nope\" && eth.src == 00:00:00:00:00:01");
    assert!(e.contains("ingress port not found on hypervisor."), "{e}");
    let e = err("inport == \"lp1\" && ip4 && ip6");
    assert!(e.contains("Constraints are contradictory."), "{e}");
    let e = err("inport == \"lp1\" && (tcp || udp)");
    assert!(e.contains("Constraints are ambiguous"), "{e}");
}

fn recompute_leaves_the_table_unchanged(c: Controller) {
    let sb = two_vifs(c);
    sb.nbctl(["lb-add", "lb0", "10.0.0.100:80", "10.0.0.2:8080,10.0.0.3:8080", "tcp"]);
    sb.nbctl(["ls-lb-add", "sw0", "lb0"]);
    sb.ovn_nbctl_wait_hv_sync();
    let flows = sb.dump_flows("br-int");
    let groups = sb.dump_groups("br-int");
    for cmd in ["recompute", "inc-engine/recompute"] {
        assert_eq!(sb.ovn_appctl([cmd]).trim(), "");
        sb.ovn_nbctl_wait_hv_sync();
        // A recompute that sent anything would show it in the dump within this time.
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(sb.dump_flows("br-int"), flows, "{cmd} changed the flow table");
        assert_eq!(sb.dump_groups("br-int"), groups, "{cmd} changed the groups");
    }
}

fn stopwatch_and_coverage_in_ovs_format(c: Controller) {
    let sb = two_vifs(c);
    let sw = sb.ovn_appctl(["stopwatch/show"]);
    for name in ["flow-generation", "flow-installation"] {
        let block: Vec<&str> =
            sw.lines().skip_while(|l| *l != format!("Statistics for '{name}'")).skip(1).take(6).collect();
        let labels: Vec<&str> = block.iter().map(|l| l.split(':').next().unwrap_or("")).collect();
        assert_eq!(
            labels,
            [
                "  Total samples",
                "  Maximum",
                "  Minimum",
                "  95th percentile",
                "  Short term average",
                "  Long term average"
            ],
            "{sw}"
        );
        assert!(block.iter().skip(1).all(|l| l.ends_with(" msec")), "{sw}");
    }
    let one = sb.ovn_appctl(["stopwatch/show", "flow-generation"]);
    assert!(one.starts_with("Statistics for 'flow-generation'\n") && one.lines().count() == 7, "{one}");
    let e = sb.try_ovn_appctl(["stopwatch/show", "no-such"]).expect_err("unknown stopwatch").to_string();
    assert!(e.contains("No such stopwatch"), "{e}");

    let cov = sb.ovn_appctl(["coverage/show"]);
    let lines: Vec<&str> = cov.lines().collect();
    assert!(
        lines[0].starts_with("Event coverage, avg rate over last: 5 seconds, last minute, last hour,  hash="),
        "{cov}"
    );
    assert!(lines.last().is_some_and(|l| l.ends_with(" events never hit")), "{cov}");
    for l in &lines[1..lines.len() - 1] {
        assert!(l.contains("/sec") && l.contains("   total: "), "{l:?}");
    }
}

/// chassisd only (23.03's recompute trusts its idea of the installed table): a recompute
/// re-reads the switch, so a flow deleted behind flowctl's back comes back, and nothing else
/// changes.
#[test]
fn recompute_repairs_a_flow_deleted_behind_flowctls_back() {
    require_ovn!();
    let sb = two_vifs(Controller::Chassisd);
    let flows = sb.dump_flows("br-int");
    let victim = flows.iter().find(|f| f.contains("table=0,") && f.contains("in_port=")).expect("a table 0 flow");
    let m = victim.split(" actions=").next().unwrap_or_default();
    let m = m.split(", ").filter(|p| !p.starts_with("cookie=")).collect::<Vec<_>>().join(", ");
    sb.ofctl(["-O", "OpenFlow15", "--strict", "del-flows", "br-int", &m]);
    assert_ne!(sb.dump_flows("br-int"), flows);
    sb.ovn_appctl(["recompute"]);
    wait_until(Duration::from_secs(10), "the deleted flow back", || sb.dump_flows("br-int") == flows);
}

/// chassisd only: every conntrack zone given to a new port or datapath is flushed
/// (NXT_CT_FLUSH_ZONE) before use, as 23.03 does.
#[test]
fn new_ct_zones_are_flushed() {
    require_ovn!();
    let sb = two_vifs(Controller::Chassisd);
    let zones = sb.ovn_appctl(["ct-zone-list"]).lines().count() as u64;
    assert!(zones >= 4, "lp1, lp2 and sw0's dnat/snat zones: {zones}");
    let flushed: u64 = sb.ovn_appctl(["coverage/read-counter", "ct_flush_zone"]).trim().parse().unwrap();
    assert_eq!(flushed, zones);
}
