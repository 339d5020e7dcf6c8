//! A Logical_Flow whose match or actions do not parse is logged once with its UUID and the
//! error, and skipped; the rest of the table is installed and later changes still apply.
//! (ovn-northd is paused so that it does not remove the rows it did not write.)

use chassisd_tests::{require_ovn, wait_until, Controller, Sandbox, TIMEOUT};

fn insert_lflow(sb: &Sandbox, dp: &str, table: u8, priority: u16, m: &str, actions: &str) -> String {
    sb.sbctl([
        "create",
        "Logical_Flow",
        &format!("logical_datapath={dp}"),
        "pipeline=ingress",
        &format!("table_id={table}"),
        &format!("priority={priority}"),
        &format!("match=\"{}\"", m.replace('"', "\\\"")),
        &format!("actions=\"{}\"", actions.replace('"', "\\\"")),
    ])
    .trim()
    .to_string()
}

fn flows_with_priority(sb: &Sandbox, priority: u16) -> usize {
    sb.dump_flows("br-int").iter().filter(|l| l.contains(&format!("priority={priority},"))).count()
}

#[test]
fn a_bad_logical_flow_is_logged_once_and_skipped() {
    require_ovn!();
    let sb = Sandbox::builder().infra().controller(Controller::Chassisd).start();
    sb.wait_chassis_registered();
    sb.nbctl(["ls-add", "sw0", "--", "lsp-add", "sw0", "lp1", "--", "lsp-set-addresses", "lp1", "00:00:00:00:00:01"]);
    sb.add_vif("vif1", "lp1");
    sb.wait_port_up("lp1");
    sb.ovn_nbctl_wait_hv_sync();
    let before = sb.dump_flows("br-int").len();
    sb.try_run_central("ovn-appctl", ["-t", "ovn-northd", "pause"]).unwrap_or_else(|e| panic!("{e}"));
    let dp = sb.sbctl(["--bare", "--columns=_uuid", "find", "Datapath_Binding", "external_ids:name=sw0"]);
    let dp = dp.trim();
    let bad_match = insert_lflow(&sb, dp, 5, 4242, "ip4.dst == 10.0.0.1 && no_such_field == 1", "next;");
    let bad_actions = insert_lflow(&sb, dp, 5, 4243, "ip4", "no_such_action(1);");
    let good = insert_lflow(&sb, dp, 5, 4244, "ip4.dst == 10.0.0.9", "drop;");
    wait_until(TIMEOUT, "the good flow installed", || flows_with_priority(&sb, 4244) == 1);
    assert_eq!(flows_with_priority(&sb, 4242), 0, "the flow with a bad match is skipped");
    assert_eq!(flows_with_priority(&sb, 4243), 0, "the flow with bad actions is skipped");
    assert_eq!(sb.dump_flows("br-int").len(), before + 1, "the rest of the table stays");

    // Later changes trigger more computations: still one warning per bad flow.
    let later = insert_lflow(&sb, dp, 5, 4245, "ip4.dst == 10.0.0.8", "drop;");
    wait_until(TIMEOUT, "a later flow installed", || flows_with_priority(&sb, 4245) == 1);
    for (uuid, what) in [(&bad_match, "error parsing match"), (&bad_actions, "error parsing actions")] {
        let lines = sb.grep_logs(&[uuid.as_str()]);
        let warnings: Vec<_> = lines.iter().filter(|l| l.contains(what)).collect();
        assert_eq!(warnings.len(), 1, "one warning for {uuid} ({what}): {lines:#?}");
    }
    assert!(sb.grep_logs(&[good.as_str()]).is_empty(), "no warning for the good flow");
    assert!(sb.grep_logs(&[later.as_str()]).is_empty());
}
