//! pinctrl end to end, third part, with real northd and ovs-vswitchd (dummy datapath): an
//! IGMP join recorded in IGMP_Group, an SCTP packet hitting a reject ACL answered with an
//! SCTP ABORT, a packet to a load balancer VIP without backends recorded as a
//! Controller_Event, gratuitous ARPs for a VM on a switch with a localnet port, and a load
//! balancer health check answered by its backend (Service_Monitor online), and bind_vport
//! claiming a virtual port. Every
//! scenario runs against the real ovn-controller (proving the test) and against chassisd.
//!
//! Packets are built and read by hand (the tests crate has no packet library).

use std::net::Ipv4Addr;
use std::time::Duration;

use chassisd_tests::packet::{mac, to_hex};
use chassisd_tests::{both_controllers, try_wait_for, wait_for, Controller, Sandbox};

both_controllers!(
    igmp_join_records_igmp_group,
    sctp_reject_is_an_abort,
    empty_lb_backends_event,
    garp_on_port_up,
    service_monitor_goes_online,
    bind_vport_claims_the_virtual_port
);

fn csum(b: &[u8]) -> u16 {
    let mut s: u32 = b.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn eth(dst: [u8; 6], src: [u8; 6], ty: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = dst.to_vec();
    v.extend_from_slice(&src);
    v.extend_from_slice(&ty.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// An IPv4 header (with `options`) around `payload`.
fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, ttl: u8, options: &[u8], payload: &[u8]) -> Vec<u8> {
    let hl = 20 + options.len();
    let mut h = vec![0x40 | (hl / 4) as u8, 0];
    h.extend_from_slice(&((hl + payload.len()) as u16).to_be_bytes());
    h.extend_from_slice(&[0, 0, 0x40, 0, ttl, proto, 0, 0]);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    h.extend_from_slice(options);
    let c = csum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for b in data {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82f6_3b78 } else { crc >> 1 };
        }
    }
    !crc
}

fn switch_with_vms(sb: &Sandbox, other_config: &[&str]) {
    sb.wait_chassis_registered();
    sb.nbctl(["ls-add", "sw0"]);
    for oc in other_config {
        sb.nbctl(["set", "Logical_Switch", "sw0", oc]);
    }
    sb.nbctl(["lsp-add", "sw0", "lp1", "--", "lsp-set-addresses", "lp1", "50:54:00:00:00:01 10.0.0.5"]);
    sb.nbctl(["lsp-add", "sw0", "lp2", "--", "lsp-set-addresses", "lp2", "50:54:00:00:00:02 10.0.0.6"]);
}

fn bind_vms(sb: &Sandbox) {
    sb.add_vif("vif1", "lp1");
    sb.add_vif("vif2", "lp2");
    sb.wait_port_up("lp1");
    sb.wait_port_up("lp2");
    sb.ovn_nbctl_wait_hv_sync();
}

/// Injects `frame` on vif1 every second until `done` holds.
fn inject_until_true(sb: &Sandbox, frame: &[u8], what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..10 {
        sb.inject("vif1", &to_hex(frame));
        if try_wait_for(Duration::from_secs(2), || done().then_some(())).is_some() {
            return;
        }
    }
    panic!("no {what} after 10 tries");
}

// ---- IGMP -----------------------------------------------------------------------------------

fn igmp_join_records_igmp_group(c: Controller) {
    let sb = Sandbox::builder().infra().controller(c).start();
    switch_with_vms(&sb, &["other_config:mcast_snoop=true"]);
    bind_vms(&sb);
    let vm1 = mac("50:54:00:00:00:01");
    let group = Ipv4Addr::new(239, 0, 1, 68);
    let mut report = vec![0x16, 0, 0, 0];
    report.extend_from_slice(&group.octets());
    let c16 = csum(&report);
    report[2..4].copy_from_slice(&c16.to_be_bytes());
    // IGMPv2 report, TTL 1, router alert option.
    let ip = ipv4(Ipv4Addr::new(10, 0, 0, 5), group, 2, 1, &[0x94, 4, 0, 0], &report);
    let frame = eth([0x01, 0x00, 0x5e, 0x00, 0x01, 0x44], vm1, 0x0800, &ip);
    let lp1 = sb.sbctl(["--bare", "--columns=_uuid", "find", "Port_Binding", "logical_port=lp1"]).trim().to_string();
    inject_until_true(&sb, &frame, "IGMP_Group 239.0.1.68", || {
        sb.try_sbctl(["--bare", "--columns=ports", "find", "IGMP_Group", "address=239.0.1.68"])
            .is_ok_and(|p| p.trim() == lp1)
    });
    let chassis = sb.sbctl(["--bare", "--columns=chassis", "find", "IGMP_Group", "address=239.0.1.68"]);
    assert!(!chassis.trim().is_empty(), "the group names its chassis");
    let dp = sb.sbctl(["--bare", "--columns=datapath", "find", "IGMP_Group", "address=239.0.1.68"]);
    let sw0 = sb.sbctl(["--bare", "--columns=_uuid", "find", "Datapath_Binding", "external_ids:name=sw0"]);
    assert_eq!(dp.trim(), sw0.trim());

    // A leave removes it.
    let mut leave = vec![0x17, 0, 0, 0];
    leave.extend_from_slice(&group.octets());
    let c16 = csum(&leave);
    leave[2..4].copy_from_slice(&c16.to_be_bytes());
    let ip = ipv4(Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(224, 0, 0, 2), 2, 1, &[0x94, 4, 0, 0], &leave);
    let frame = eth([0x01, 0x00, 0x5e, 0x00, 0x00, 0x02], vm1, 0x0800, &ip);
    inject_until_true(&sb, &frame, "IGMP_Group 239.0.1.68 removed", || {
        sb.try_sbctl(["--bare", "--columns=_uuid", "find", "IGMP_Group", "address=239.0.1.68"])
            .is_ok_and(|p| p.trim().is_empty())
    });
}

// ---- SCTP reject ----------------------------------------------------------------------------

fn sctp_reject_is_an_abort(c: Controller) {
    let sb = Sandbox::builder().infra().controller(c).start();
    switch_with_vms(&sb, &[]);
    sb.nbctl(["acl-add", "sw0", "from-lport", "1000", "inport == \"lp1\" && sctp", "reject"]);
    bind_vms(&sb);
    let (vm1, vm2) = (mac("50:54:00:00:00:01"), mac("50:54:00:00:00:02"));
    // SCTP INIT, verification tag 0, Initiate Tag 0x0a0b0c0d.
    let mut s = 5000u16.to_be_bytes().to_vec();
    s.extend_from_slice(&80u16.to_be_bytes());
    s.extend_from_slice(&[0; 8]);
    s.extend_from_slice(&[1, 0, 0, 20, 0x0a, 0x0b, 0x0c, 0x0d, 0, 1, 0, 0, 0, 10, 0, 10, 0, 0, 0, 1]);
    let crc = crc32c(&s);
    s[8..12].copy_from_slice(&crc.to_le_bytes());
    let frame = eth(vm2, vm1, 0x0800, &ipv4(Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(10, 0, 0, 6), 132, 64, &[], &s));
    let abort = |f: &[u8]| -> Option<Vec<u8>> {
        (f.get(0..6)? == vm1 && f.get(12..14)? == [8, 0] && *f.get(23)? == 132).then_some(())?;
        (f.get(26..30)? == [10, 0, 0, 6] && f.get(30..34)? == [10, 0, 0, 5]).then_some(())?;
        f.get(34..50).map(<[u8]>::to_vec)
    };
    let mut got = None;
    for _ in 0..10 {
        let before = sb.tx_packets("vif1").len();
        sb.inject("vif1", &to_hex(&frame));
        got = try_wait_for(Duration::from_secs(2), || {
            sb.tx_packets("vif1").iter().skip(before).find_map(|r| abort(&r.data))
        });
        if got.is_some() {
            break;
        }
    }
    let a = got.expect("an SCTP ABORT on vif1");
    assert_eq!(&a[0..4], &[0, 80, 0x13, 0x88], "ports swapped");
    assert_eq!(&a[4..8], &[0x0a, 0x0b, 0x0c, 0x0d], "the INIT's Initiate Tag");
    assert_eq!(&a[12..16], &[6, 0, 0, 4], "an ABORT chunk, T bit clear");
    let mut z = a.clone();
    z[8..12].copy_from_slice(&[0; 4]);
    assert_eq!(&a[8..12], &crc32c(&z).to_le_bytes(), "CRC-32C");
    assert!(sb.tx_packets("vif2").iter().all(|r| r.data.get(23) != Some(&132)), "nothing reached lp2");
}

// ---- Controller_Event -----------------------------------------------------------------------

fn empty_lb_backends_event(c: Controller) {
    let sb = Sandbox::builder().infra().controller(c).start();
    switch_with_vms(&sb, &[]);
    sb.nbctl(["set", "NB_Global", ".", "options:controller_event=true"]);
    let lb = sb
        .nbctl([
            "create",
            "Load_Balancer",
            "name=lb0",
            "protocol=tcp",
            "vips:\"10.0.0.100:80\"=\"\"",
            "options:event=true",
        ])
        .trim()
        .to_string();
    sb.nbctl(["ls-lb-add", "sw0", "lb0"]);
    bind_vms(&sb);
    let (vm1, vm2) = (mac("50:54:00:00:00:01"), mac("50:54:00:00:00:02"));
    let (a, vip) = (Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(10, 0, 0, 100));
    let mut t = 40000u16.to_be_bytes().to_vec();
    t.extend_from_slice(&80u16.to_be_bytes());
    t.extend_from_slice(&1000u32.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 0, 0x50, 0x02, 0x10, 0, 0, 0, 0, 0]);
    let mut pseudo = a.octets().to_vec();
    pseudo.extend_from_slice(&vip.octets());
    pseudo.extend_from_slice(&[0, 6, 0, 20]);
    pseudo.extend_from_slice(&t);
    let c16 = csum(&pseudo);
    t[16..18].copy_from_slice(&c16.to_be_bytes());
    let frame = eth(vm2, vm1, 0x0800, &ipv4(a, vip, 6, 64, &[], &t));
    inject_until_true(&sb, &frame, "Controller_Event", || {
        sb.try_sbctl(["--bare", "--columns=event_info", "find", "Controller_Event", "event_type=empty_lb_backends"])
            .is_ok_and(|i| i.contains("10.0.0.100:80"))
    });
    let info = sb.sbctl(["--bare", "--columns=event_info", "find", "Controller_Event", "event_type=empty_lb_backends"]);
    assert!(info.contains("protocol=tcp"), "{info}");
    assert!(info.contains(&format!("load_balancer={lb}")), "{info}");
    let chassis = sb.sbctl(["--bare", "--columns=chassis", "find", "Controller_Event"]);
    assert!(!chassis.trim().is_empty());
    // A second packet does not write a second row.
    sb.inject("vif1", &to_hex(&frame));
    std::thread::sleep(Duration::from_secs(1));
    let rows = sb.sbctl(["--bare", "--columns=_uuid", "find", "Controller_Event"]);
    assert_eq!(rows.split_whitespace().count(), 1, "{rows}");
}

// ---- GARP -----------------------------------------------------------------------------------

fn garp_on_port_up(c: Controller) {
    let sb = Sandbox::builder().infra().controller(c).external_id("ovn-bridge-mappings", "phys:br-phys").start();
    sb.wait_chassis_registered();
    chassisd_tests::topo::physical_bridge(&sb, "br-phys", "phys0");
    sb.nbctl(["ls-add", "sw0"]);
    chassisd_tests::topo::localnet_port(&sb, "sw0", "ln0", "phys");
    sb.nbctl(["lsp-add", "sw0", "lp1", "--", "lsp-set-addresses", "lp1", "50:54:00:00:00:01 10.0.0.5"]);
    sb.add_vif("vif1", "lp1");
    sb.wait_port_up("lp1");
    let vm1 = mac("50:54:00:00:00:01");
    // Gratuitous ARP requests from the VM's MAC for its own address, broadcast, out of the
    // localnet port.
    let garps = || {
        sb.tx_packets("phys0")
            .iter()
            .filter(|r| {
                let f = &r.data;
                f.get(0..6) == Some(&[0xff; 6][..])
                    && f.get(6..12) == Some(&vm1[..])
                    && f.get(12..14) == Some(&[8, 6][..])
                    && f.get(20..22) == Some(&[0, 1][..])
                    && f.get(28..32) == Some(&[10, 0, 0, 5][..])
                    && f.get(38..42) == Some(&[10, 0, 0, 5][..])
            })
            .count()
    };
    wait_for(Duration::from_secs(40), "two gratuitous ARPs for lp1 on phys0", || (garps() >= 2).then_some(()));
}

// ---- Service_Monitor ------------------------------------------------------------------------

fn service_monitor_goes_online(c: Controller) {
    let sb = Sandbox::builder().infra().controller(c).start();
    switch_with_vms(&sb, &[]);
    sb.nbctl(["set", "NB_Global", ".", "options:svc_monitor_mac=\"0a:00:00:00:00:fe\""]);
    sb.nbctl(["create", "Load_Balancer", "name=lb0", "protocol=tcp", "vips:\"10.0.0.100:80\"=\"10.0.0.5:80\""]);
    sb.nbctl(["set", "Load_Balancer", "lb0", "ip_port_mappings:10.0.0.5=lp1:10.0.0.254"]);
    sb.nbctl([
        "--id=@hc",
        "create",
        "Load_Balancer_Health_Check",
        "vip=\"10.0.0.100:80\"",
        "options:interval=1",
        "options:timeout=5",
        "--",
        "add",
        "Load_Balancer",
        "lb0",
        "health_check",
        "@hc",
    ]);
    sb.nbctl(["ls-lb-add", "sw0", "lb0"]);
    bind_vms(&sb);
    let (vm1, svc_mac) = (mac("50:54:00:00:00:01"), mac("0a:00:00:00:00:fe"));
    // The probe: a SYN from the monitor's MAC and IP to the backend.
    let syn = |f: &[u8]| -> Option<(u16, u32)> {
        (f.get(0..6)? == vm1 && f.get(6..12)? == svc_mac && *f.get(23)? == 6).then_some(())?;
        (f.get(26..30)? == [10, 0, 0, 254] && f.get(30..34)? == [10, 0, 0, 5]).then_some(())?;
        (f.get(36..38)? == [0, 80] && *f.get(47)? == 0x02).then_some(())?;
        let sport = u16::from_be_bytes([f[34], f[35]]);
        Some((sport, u32::from_be_bytes([f[38], f[39], f[40], f[41]])))
    };
    let mut online = false;
    for _ in 0..10 {
        let before = sb.tx_packets("vif1").len();
        let Some((sport, seq)) = try_wait_for(Duration::from_secs(5), || {
            sb.tx_packets("vif1").iter().skip(before).find_map(|r| syn(&r.data))
        }) else {
            continue;
        };
        // The backend answers SYN+ACK.
        let (a, b) = (Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(10, 0, 0, 254));
        let mut t = 80u16.to_be_bytes().to_vec();
        t.extend_from_slice(&sport.to_be_bytes());
        t.extend_from_slice(&5000u32.to_be_bytes());
        t.extend_from_slice(&seq.wrapping_add(1).to_be_bytes());
        t.extend_from_slice(&[0x50, 0x12, 0xff, 0xff, 0, 0, 0, 0]);
        let mut pseudo = a.octets().to_vec();
        pseudo.extend_from_slice(&b.octets());
        pseudo.extend_from_slice(&[0, 6, 0, 20]);
        pseudo.extend_from_slice(&t);
        let c16 = csum(&pseudo);
        t[16..18].copy_from_slice(&c16.to_be_bytes());
        sb.inject("vif1", &to_hex(&eth(svc_mac, vm1, 0x0800, &ipv4(a, b, 6, 64, &[], &t))));
        if try_wait_for(Duration::from_secs(3), || {
            sb.try_sbctl(["--bare", "--columns=status", "find", "Service_Monitor", "logical_port=lp1"])
                .is_ok_and(|s| s.trim() == "online")
                .then_some(())
        })
        .is_some()
        {
            online = true;
            break;
        }
    }
    assert!(online, "Service_Monitor lp1 online");
}

// ---- bind_vport ---------------------------------------------------------------------------

fn bind_vport_claims_the_virtual_port(c: Controller) {
    let sb = Sandbox::builder().infra().controller(c).start();
    switch_with_vms(&sb, &[]);
    sb.nbctl(["lsp-add", "sw0", "vip", "--", "lsp-set-type", "vip", "virtual"]);
    sb.nbctl(["lsp-set-addresses", "vip", "50:54:00:00:00:10 10.0.0.10"]);
    sb.nbctl(["lsp-set-options", "vip", "virtual-ip=10.0.0.10", "virtual-parents=lp1,lp2"]);
    bind_vms(&sb);
    let vm1 = mac("50:54:00:00:00:01");
    // lp1 announces the virtual IP with a gratuitous ARP.
    let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 1];
    arp.extend_from_slice(&vm1);
    arp.extend_from_slice(&[10, 0, 0, 10]);
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&[10, 0, 0, 10]);
    let frame = eth([0xff; 6], vm1, 0x0806, &arp);
    inject_until_true(&sb, &frame, "virtual port claimed", || {
        sb.port_binding_column("vip", "virtual_parent").is_ok_and(|p| p.trim().trim_matches('"') == "lp1")
    });
    let chassis = sb.sbctl(["--bare", "--columns=_uuid", "find", "Chassis", &format!("name={}", sb.chassis())]);
    wait_for(Duration::from_secs(10), "virtual port bound here", || {
        sb.port_binding_column("vip", "chassis").ok().filter(|c| c.trim() == chassis.trim()).map(|_| ())
    });
}
