//! A controller joins the cluster: chassis and encap registration, br-int, port claims and
//! releases, ct zones, nb_cfg, tunnels, and `exit`. Every scenario runs against the real
//! ovn-controller (proving the test) and against chassisd, through the same harness.

use std::time::{Duration, Instant};

use chassisd_tests::{both_controllers, wait_until, Controller, Sandbox};

both_controllers!(
    registers_chassis_and_creates_br_int,
    claims_and_releases_vifs_within_a_second,
    tunnels_to_other_chassis,
    exit_removes_the_chassis
);

fn sbctl_get(sb: &Sandbox, args: &[&str]) -> String {
    sb.sbctl(args).trim().to_string()
}

fn registers_chassis_and_creates_br_int(c: Controller) {
    let sb = Sandbox::builder().infra().create_br_int(false).controller(c).start();
    let chassis = sb.wait_chassis_registered();
    assert_eq!(sbctl_get(&sb, &["--bare", "--columns=type", "list", "Encap"]), "geneve");
    assert_eq!(sbctl_get(&sb, &["--bare", "--columns=ip", "list", "Encap"]), "127.0.0.1");
    assert_eq!(sbctl_get(&sb, &["--bare", "--columns=options", "list", "Encap"]), "csum=true");
    assert_eq!(sbctl_get(&sb, &["get", "Chassis", &chassis, "hostname"]).trim_matches('"'), "hv1");
    let other = sbctl_get(&sb, &["get", "Chassis", &chassis, "other_config"]);
    for key in ["port-up-notif=\"true\"", "ovn-monitor-all=\"false\"", "is-interconn=\"false\"", "datapath-type"] {
        assert!(other.contains(key), "{key} missing from {other}");
    }
    wait_until(Duration::from_secs(10), "Chassis_Private row", || {
        sb.try_sbctl(["--bare", "--columns=chassis", "find", "Chassis_Private", "name=hv1"])
            .is_ok_and(|s| s.trim() == chassis)
    });
    assert_eq!(sb.vsctl(["get", "Bridge", "br-int", "fail_mode"]).trim(), "secure");
    let oc = sb.vsctl(["get", "Bridge", "br-int", "other_config"]);
    assert!(oc.contains("disable-in-band=\"true\"") && oc.contains("hwaddr="), "{oc}");
    assert!(sb.ovn_appctl(["connection-status"]).starts_with("connected"));
    // --wait=hv needs nb_cfg reported back in Chassis_Private.
    sb.nbctl(["ls-add", "sw0"]);
    sb.ovn_nbctl_wait_hv_sync();
    let nb_cfg = sbctl_get(&sb, &["get", "SB_Global", ".", "nb_cfg"]);
    assert_eq!(sbctl_get(&sb, &["--bare", "--columns=nb_cfg", "find", "Chassis_Private", "name=hv1"]), nb_cfg);
}

fn claims_and_releases_vifs_within_a_second(c: Controller) {
    let sb = Sandbox::builder().infra().controller(c).start();
    let chassis = sb.wait_chassis_registered();
    sb.nbctl(["ls-add", "sw0"]);
    for i in 1..=3 {
        let lp = format!("lp{i}");
        sb.nbctl(["lsp-add", "sw0", &lp, "--", "lsp-set-addresses", &lp, &format!("00:00:00:00:00:0{i} 10.0.0.{i}")]);
    }
    sb.ovn_nbctl_wait_hv_sync();
    for i in 1..=3 {
        let started = Instant::now();
        sb.add_vif(&format!("vif{i}"), &format!("lp{i}"));
        wait_until(Duration::from_secs(1), format!("lp{i} claimed within 1 s"), || {
            sb.port_binding_column(&format!("lp{i}"), "chassis").is_ok_and(|ch| ch == chassis)
        });
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    for i in 1..=3 {
        sb.wait_port_up(&format!("lp{i}"));
        wait_until(Duration::from_secs(5), "ovn-installed", || {
            sb.try_vsctl(["get", "Interface", &format!("vif{i}"), "external_ids:ovn-installed"])
                .is_ok_and(|v| v.trim().trim_matches('"') == "true")
        });
    }
    sb.ovn_nbctl_wait_hv_sync();
    let zones = sb.ovn_appctl(["ct-zone-list"]);
    for i in 1..=3 {
        assert!(zones.lines().any(|l| l.starts_with(&format!("lp{i} "))), "lp{i} has no ct zone: {zones}");
    }
    let br_ids = sb.vsctl(["get", "Bridge", "br-int", "external_ids"]);
    assert!(br_ids.contains("ct-zone-lp1"), "zones persisted in br-int: {br_ids}");
    let dump = sb.ovn_appctl(["debug/dump-local-bindings"]);
    assert!(
        dump.starts_with("Local bindings:\n") && dump.contains("name: [lp2], OVS interface name : [vif2]"),
        "{dump}"
    );
    let started = Instant::now();
    sb.vsctl(["del-port", "br-int", "vif2"]);
    wait_until(Duration::from_secs(1), "lp2 released within 1 s", || {
        sb.port_binding_column("lp2", "chassis").is_ok_and(|ch| ch.is_empty())
    });
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(sb.port_binding_column("lp1", "chassis").unwrap(), chassis, "the others stay");
}

fn tunnels_to_other_chassis(c: Controller) {
    let sb = Sandbox::builder().infra().hvs(&["hv1", "hv2"]).controller(c).start();
    sb.wait_chassis_registered();
    sb.hv("hv2").wait_chassis_registered();
    let hv2_ip = sb.hv("hv2").encap_ip().to_string();
    for (hv, peer, peer_ip) in [("hv1", "hv2", hv2_ip.as_str()), ("hv2", "hv1", sb.encap_ip())] {
        let node = sb.hv(hv);
        let id = format!("{peer}@{peer_ip}");
        let port = wait_until_some(|| {
            let out = node
                .try_vsctl([
                    "--bare",
                    "--columns=name",
                    "find",
                    "Port",
                    &format!("external_ids:ovn-chassis-id=\"{id}\""),
                ])
                .ok()?;
            let name = out.trim().to_string();
            (!name.is_empty()).then_some(name)
        });
        assert_eq!(port, format!("ovn-{peer}-0"));
        assert_eq!(node.vsctl(["get", "Interface", &port, "type"]).trim(), "geneve");
        let options = node.vsctl(["get", "Interface", &port, "options"]);
        assert!(options.contains(&format!("remote_ip=\"{peer_ip}\"")) && options.contains("key=flow"), "{options}");
    }
}

fn wait_until_some<T>(mut f: impl FnMut() -> Option<T>) -> T {
    chassisd_tests::wait::wait_for(Duration::from_secs(10), "tunnel port", &mut f)
}

fn exit_removes_the_chassis(c: Controller) {
    let mut sb = Sandbox::builder().infra().controller(c).start();
    sb.wait_chassis_registered();
    sb.nbctl(["ls-add", "sw0", "--", "lsp-add", "sw0", "lp1"]);
    sb.add_vif("vif1", "lp1");
    sb.wait_port_bound("lp1");
    sb.ovn_appctl(["exit"]);
    wait_until(Duration::from_secs(10), "Chassis removed", || {
        sb.try_sbctl(["--bare", "--columns=name", "list", "Chassis"]).is_ok_and(|s| s.trim().is_empty())
    });
    assert!(sbctl_get(&sb, &["--bare", "--columns=name", "list", "Chassis_Private"]).is_empty());
    assert!(sb.port_binding_column("lp1", "chassis").unwrap().is_empty());
    wait_until(Duration::from_secs(10), "controller gone", || sb.controller_pid().is_none_or(|p| !p.is_alive()));
    let _ = sb.shutdown();
}

both_controllers!(only_local_datapaths_are_downloaded_unless_monitor_all);

/// `idl-cells-OVN_Southbound` from memory/show: how much of the Southbound database the
/// controller holds.
fn sb_cells(sb: &Sandbox) -> usize {
    let mem = sb.ovn_appctl(["memory/show"]);
    mem.split_whitespace()
        .find_map(|kv| kv.strip_prefix("idl-cells-OVN_Southbound:"))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no idl-cells-OVN_Southbound in {mem}"))
}

fn only_local_datapaths_are_downloaded_unless_monitor_all(c: Controller) {
    let sb = Sandbox::builder().infra().controller(c).start();
    sb.wait_chassis_registered();
    sb.nbctl(["ls-add", "local", "--", "lsp-add", "local", "lp1"]);
    sb.nbctl(["ls-add", "remote"]);
    for i in 0..30 {
        sb.nbctl(["lsp-add", "remote", &format!("r{i}"), "--", "lsp-set-addresses", &format!("r{i}"), "unknown"]);
    }
    sb.add_vif("vif1", "lp1");
    sb.wait_port_bound("lp1");
    sb.ovn_nbctl_wait_hv_sync();
    let local_only = sb_cells(&sb);
    sb.vsctl(["set", "Open_vSwitch", ".", "external_ids:ovn-monitor-all=true"]);
    wait_until(Duration::from_secs(10), "the remote switch's rows to arrive", || sb_cells(&sb) > local_only + 30 * 5);
    sb.vsctl(["set", "Open_vSwitch", ".", "external_ids:ovn-monitor-all=false"]);
    wait_until(Duration::from_secs(10), "the remote switch's rows to go", || sb_cells(&sb) <= local_only);
}

both_controllers!(database_restarts_converge_without_duplicates);

fn count_rows(sb: &Sandbox, table: &str) -> usize {
    sb.sbctl(["--bare", "--columns=_uuid", "list", table]).split_whitespace().count()
}

fn database_restarts_converge_without_duplicates(c: Controller) {
    let mut sb = Sandbox::builder().infra().controller(c).start();
    sb.wait_chassis_registered();
    sb.nbctl(["ls-add", "sw0"]);
    for i in 1..=3 {
        sb.nbctl(["lsp-add", "sw0", &format!("lp{i}")]);
    }
    sb.add_vif("vif1", "lp1");
    sb.wait_port_bound("lp1");

    sb.restart_sb_db();
    sb.add_vif("vif2", "lp2");
    sb.wait_port_bound("lp2");
    sb.ovn_nbctl_wait_hv_sync();

    sb.hv_mut("hv1").restart_ovs_db();
    sb.add_vif("vif3", "lp3");
    sb.wait_port_bound("lp3");
    sb.ovn_nbctl_wait_hv_sync();

    for table in ["Chassis", "Chassis_Private", "Encap"] {
        assert_eq!(count_rows(&sb, table), 1, "{table} rows after the restarts");
    }
    assert_eq!(sb.vsctl(["--bare", "--columns=name", "list", "Bridge"]).split_whitespace().count(), 1, "one br-int");
    assert!(sb.ovn_appctl(["connection-status"]).starts_with("connected"));
}

both_controllers!(system_id_override_file_names_the_chassis);

fn system_id_override_file_names_the_chassis(c: Controller) {
    let mut sb = Sandbox::builder().infra().start();
    std::fs::write(sb.ovn_dir().join("system-id-override"), "hv-override\n").unwrap();
    sb.start_controller(c);
    wait_until(Duration::from_secs(10), "Chassis hv-override", || {
        sb.try_sbctl(["--bare", "--columns=name", "list", "Chassis"]).is_ok_and(|s| s.trim() == "hv-override")
    });
    assert_eq!(sbctl_get(&sb, &["--bare", "--columns=chassis_name", "list", "Encap"]), "hv-override");
}

both_controllers!(localnet_ports_get_patch_ports_to_the_mapped_bridge);

fn localnet_ports_get_patch_ports_to_the_mapped_bridge(c: Controller) {
    let sb = Sandbox::builder().infra().external_id("ovn-bridge-mappings", "physnet1:br-phys").controller(c).start();
    sb.vsctl(["add-br", "br-phys", "--", "set", "Bridge", "br-phys", "datapath_type=dummy", "fail-mode=standalone"]);
    sb.wait_chassis_registered();
    sb.nbctl(["ls-add", "sw0", "--", "lsp-add", "sw0", "lp1", "--", "lsp-add", "sw0", "ln0"]);
    sb.nbctl(["lsp-set-type", "ln0", "localnet", "--", "lsp-set-addresses", "ln0", "unknown"]);
    sb.nbctl(["lsp-set-options", "ln0", "network_name=physnet1"]);
    sb.add_vif("vif1", "lp1");
    sb.wait_port_bound("lp1");
    for (bridge, name, peer) in [
        ("br-int", "patch-br-int-to-ln0", "patch-ln0-to-br-int"),
        ("br-phys", "patch-ln0-to-br-int", "patch-br-int-to-ln0"),
    ] {
        wait_until(Duration::from_secs(10), format!("{name} on {bridge}"), || {
            sb.try_vsctl(["list-ports", bridge]).is_ok_and(|p| p.lines().any(|l| l == name))
        });
        assert_eq!(sb.vsctl(["get", "Interface", name, "type"]).trim(), "patch");
        assert_eq!(sb.vsctl(["get", "Interface", name, "options:peer"]).trim().trim_matches('"'), peer);
        assert_eq!(sb.vsctl(["get", "Port", name, "external_ids:ovn-localnet-port"]).trim().trim_matches('"'), "ln0");
    }
}
