//! The controller against a clustered Southbound database (3-member Raft cluster, every
//! member in `ovn-remote`): it moves to a live member when the one it uses dies or the leader
//! goes, and it does not use a member that is cut off from the cluster. Every scenario runs
//! against the real ovn-controller (proving the test) and against chassisd.

use std::time::Duration;

use chassisd_tests::wait::wait_for;
use chassisd_tests::{both_controllers, wait_until, Controller, Sandbox, TIMEOUT};
use nix::sys::signal::Signal;

both_controllers!(fails_over_to_a_live_member, member_cut_off_from_the_cluster_is_not_used);

/// A 3-member Southbound cluster, `c` on hv1, switch sw0 with ports lp1..lp3, lp1 bound.
fn start(c: Controller) -> (Sandbox, String) {
    let sb = Sandbox::builder().infra().sb_cluster(3).controller(c).start();
    let chassis = sb.wait_chassis_registered();
    sb.nbctl(["ls-add", "sw0"]);
    for i in 1..=3 {
        sb.nbctl(["lsp-add", "sw0", &format!("lp{i}")]);
    }
    sb.add_vif("vif1", "lp1");
    sb.wait_port_bound("lp1");
    sb.ovn_nbctl_wait_hv_sync();
    (sb, chassis)
}

/// The one member hv1's controller is connected to, once there is exactly one and it runs.
fn wait_member_used(sb: &Sandbox, what: &str, ok: impl Fn(usize) -> bool) -> usize {
    wait_for(TIMEOUT, what, || match sb.sb_members_used_by("hv1")[..] {
        [m] if ok(m) && sb.sb_member_running(m) => Some(m),
        _ => None,
    })
}

fn connected(sb: &Sandbox) -> bool {
    sb.try_ovn_appctl(["connection-status"]).is_ok_and(|s| s.trim() == "connected")
}

fn count_rows(sb: &Sandbox, table: &str) -> usize {
    sb.sbctl(["--bare", "--columns=_uuid", "list", table]).split_whitespace().count()
}

/// ovn-northd is not under test, but `--wait=hv` needs it. It talks to the leader only, and
/// after losing it takes up to 8 s per attempt (reconnect backoff) to find the next one, often
/// more than one attempt: 15 s have been seen. Restarting it once there is a new leader keeps
/// the tests short; the controller is left alone.
fn northd_to_new_leader(sb: &mut Sandbox) {
    sb.restart_northd();
}

/// A new VIF is claimed, `--wait=hv` returns, nothing is registered twice and the earlier
/// claims hold.
fn converged(sb: &Sandbox, chassis: &str, vif: &str, lport: &str, earlier: &[&str]) {
    sb.add_vif(vif, lport);
    sb.wait_port_bound(lport);
    sb.ovn_nbctl_wait_hv_sync();
    for table in ["Chassis", "Chassis_Private", "Encap"] {
        assert_eq!(count_rows(sb, table), 1, "{table} rows");
    }
    for lp in earlier {
        assert_eq!(sb.port_binding_column(lp, "chassis").unwrap(), chassis, "{lp} stays bound");
    }
    assert!(connected(sb), "connection-status");
}

/// The member the controller uses crashes: it moves to another one and keeps working. Then
/// that member comes back and the leader stops: it keeps working under the new leader. Two
/// of three members run at every moment.
fn fails_over_to_a_live_member(c: Controller) {
    let (mut sb, chassis) = start(c);

    let first = wait_member_used(&sb, "the controller on one member", |_| true);
    let leader = sb.wait_sb_leader();
    sb.stop_sb_member(first, Signal::SIGKILL);
    let second = wait_member_used(&sb, "the controller on another member", |m| m != first);
    if first == leader {
        sb.wait_sb_leader();
        northd_to_new_leader(&mut sb);
    }
    converged(&sb, &chassis, "vif2", "lp2", &["lp1"]);

    sb.start_sb_member(first);
    wait_until(TIMEOUT, format!("sb{first} back in the cluster"), || sb.sb_member_connected(first) == Some(true));
    let leader = sb.wait_sb_leader();
    sb.stop_sb_member(leader, Signal::SIGTERM);
    let new_leader = sb.wait_sb_leader();
    northd_to_new_leader(&mut sb);
    let third = wait_member_used(&sb, "the controller on a running member", |m| m != leader);
    converged(&sb, &chassis, "vif3", "lp3", &["lp1", "lp2"]);
    eprintln!("controller on sb{first}, sb{second}, then sb{third}; leader sb{leader}, then sb{new_leader}");
}

/// The member the controller uses loses both others: without quorum it is no longer usable,
/// and the controller must leave it (a Raft member without a leader serves stale data and
/// cannot commit). Once one other member is back, everything converges.
fn member_cut_off_from_the_cluster_is_not_used(c: Controller) {
    let (mut sb, chassis) = start(c);

    let lonely = wait_member_used(&sb, "the controller on one member", |_| true);
    let others: Vec<usize> = (0..3).filter(|&m| m != lonely).collect();
    for &m in &others {
        sb.stop_sb_member(m, Signal::SIGKILL);
    }
    wait_until(TIMEOUT, format!("sb{lonely} to lose the cluster"), || sb.sb_member_connected(lonely) == Some(false));
    wait_until(TIMEOUT, "the controller to leave the cut-off member", || !connected(&sb));
    // A change to write back (the claim of lp2): it must wait for the cluster.
    sb.add_vif("vif2", "lp2");
    // It may look at the member again now and then (and be refused), but never stays: no
    // two samples 100 ms apart see it connected.
    let mut before = false;
    for _ in 0..20 {
        let now = connected(&sb) && sb.sb_members_used_by("hv1") == [lonely];
        assert!(!(before && now), "the controller stays connected to sb{lonely}, which has no quorum");
        before = now;
        std::thread::sleep(Duration::from_millis(100));
    }

    sb.start_sb_member(others[0]);
    sb.wait_sb_leader();
    northd_to_new_leader(&mut sb);
    wait_until(TIMEOUT, "the controller to reconnect", || connected(&sb));
    converged(&sb, &chassis, "vif3", "lp3", &["lp1", "lp2"]);
}

/// The harness itself: three members with their own files, clients pointed at all of them,
/// member stop/start and leader lookup, and a clean shutdown.
#[test]
fn harness_sb_cluster() {
    chassisd_tests::require_ovn!();
    let mut sb = Sandbox::builder().infra().sb_cluster(3).controller(Controller::OvnController).start();
    assert_eq!(sb.sb_members(), 3);
    let remote = sb.sb_remote();
    assert_eq!(remote.split(',').count(), 3, "{remote}");
    for i in 0..3 {
        assert!(remote.contains(&format!("unix:{}", sb.sb_member_socket(i).display())), "{remote}");
        assert!(sb.sb_member_socket(i).as_os_str().len() < 108);
        assert!(sb.daemon(&format!("sb{i}")).is_some());
        assert_eq!(sb.sb_member_connected(i), Some(true));
    }
    assert!(sb.daemon("ovnsb_db").is_none(), "no standalone Southbound");
    let ovn_remote = sb.vsctl(["get", "Open_vSwitch", ".", "external_ids:ovn-remote"]);
    assert_eq!(ovn_remote.trim().trim_matches('"'), remote);
    // ovn-sbctl reaches the cluster through OVN_SB_DB, also with a member down.
    sb.wait_chassis_registered();
    let leader = sb.wait_sb_leader();
    assert_eq!(sb.sb_member_role(leader).as_deref(), Some("leader"));
    assert_eq!(sb.sb_members_used_by("hv1").len(), 1);
    sb.stop_sb_member(leader, Signal::SIGKILL);
    assert!(!sb.sb_member_running(leader));
    assert_eq!(sb.sb_members_running().len(), 2);
    assert_ne!(sb.wait_sb_leader(), leader);
    sb.restart_northd();
    sb.nbctl(["ls-add", "sw0"]);
    wait_until(TIMEOUT, "northd to write the datapath", || {
        sb.try_sbctl(["--bare", "--columns=_uuid", "list", "Datapath_Binding"]).is_ok_and(|s| !s.trim().is_empty())
    });
    sb.start_sb_member(leader);
    wait_until(TIMEOUT, "the member back", || sb.sb_member_connected(leader) == Some(true));
    let names: Vec<String> = sb.processes().into_iter().map(|(n, _)| n).collect();
    for i in 0..3 {
        assert!(names.contains(&format!("central/sb{i}")), "{names:?}");
    }
    let report = sb.shutdown();
    assert!(report.is_clean(), "{report:?}");
}
