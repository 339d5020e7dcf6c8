//! End to end on one logical switch with four VIFs: frames injected into dummy VIFs, what
//! came out read from their pcaps. Each scenario runs against the real ovn-controller (which
//! proves the test) and against chassisd.
//!
//! ```text
//! sw0: lp1 00:00:00:00:00:01 10.0.0.1  (port security: that MAC and IP)   vif1
//!      lp2 00:00:00:00:00:02 10.0.0.2                                      vif2
//!      lp3 00:00:00:00:00:03 10.0.0.3                                      vif3
//!      lp4 unknown                                                         vif4
//! ```

use chassisd_tests::packet::{arp_reply, arp_request, mac};
use chassisd_tests::packets::{Ip4, Net};
use chassisd_tests::{both_controllers, Controller, Sandbox};

both_controllers!(unicast_broadcast_and_unknown, arp_responder);
both_controllers!(port_security_drops_spoofed_sources);

const VIFS: [&str; 4] = ["vif1", "vif2", "vif3", "vif4"];

fn topology(c: Controller) -> Sandbox {
    let sb = Sandbox::with_controller(c);
    sb.wait_chassis_registered();
    sb.nbctl(["ls-add", "sw0"]);
    for (port, addr) in [
        ("lp1", "00:00:00:00:00:01 10.0.0.1"),
        ("lp2", "00:00:00:00:00:02 10.0.0.2"),
        ("lp3", "00:00:00:00:00:03 10.0.0.3"),
        ("lp4", "unknown"),
    ] {
        sb.nbctl(["lsp-add", "sw0", port, "--", "lsp-set-addresses", port, addr]);
    }
    sb.nbctl(["lsp-set-port-security", "lp1", "00:00:00:00:00:01 10.0.0.1"]);
    for i in 1..=4 {
        sb.add_vif(&format!("vif{i}"), &format!("lp{i}"));
    }
    for i in 1..=4 {
        sb.wait_port_up(&format!("lp{i}"));
    }
    sb.ovn_nbctl_wait_hv_sync();
    sb
}

/// A legitimate lp1 → lp2 datagram: once it is out on vif2, everything vif1 sent before it
/// has been processed.
fn barrier(tag: &str) -> Ip4 {
    Ip4::udp("00:00:00:00:00:01", "00:00:00:00:00:02", "10.0.0.1", "10.0.0.2", 5000, 5000, tag)
}

fn unicast_broadcast_and_unknown(c: Controller) {
    let sb = topology(c);
    let net = Net::new(&sb, &VIFS);

    let uni = Ip4::udp("00:00:00:00:00:01", "00:00:00:00:00:03", "10.0.0.1", "10.0.0.3", 1000, 2000, "unicast");
    net.send_with_barrier("vif1", &uni.to_bytes(), &barrier("b1"), "vif2");
    assert_eq!(net.tagged_on("unicast"), ["vif3"], "unicast lp1 -> lp3; {}", net.report());
    let got = net.wait_tagged("vif3", "unicast");
    assert_eq!(got, uni, "a switched frame is not modified");

    let bcast = Ip4::udp("00:00:00:00:00:01", "ff:ff:ff:ff:ff:ff", "10.0.0.1", "10.0.0.255", 1000, 2000, "bcast");
    net.send_with_barrier("vif1", &bcast.to_bytes(), &barrier("b2"), "vif2");
    assert_eq!(
        net.tagged_on("bcast"),
        ["vif2", "vif3", "vif4"],
        "broadcast floods, not back to vif1; {}",
        net.report()
    );

    let unknown =
        Ip4::udp("00:00:00:00:00:01", "00:00:00:00:00:99", "10.0.0.1", "10.0.0.99", 1000, 2000, "unknown-mac");
    net.send_with_barrier("vif1", &unknown.to_bytes(), &barrier("b3"), "vif2");
    assert_eq!(net.tagged_on("unknown-mac"), ["vif4"], "unknown MAC goes to the unknown port only; {}", net.report());

    // From the unknown port to a known MAC: plain unicast too.
    let from4 = Ip4::udp("00:00:00:00:00:44", "00:00:00:00:00:02", "10.0.0.44", "10.0.0.2", 1000, 2000, "from-lp4");
    let b4 = Ip4::udp("00:00:00:00:00:44", "00:00:00:00:00:02", "10.0.0.44", "10.0.0.2", 5000, 5000, "b4");
    net.send_with_barrier("vif4", &from4.to_bytes(), &b4, "vif2");
    assert_eq!(net.tagged_on("from-lp4"), ["vif2"], "{}", net.report());
}

fn arp_responder(c: Controller) {
    let sb = topology(c);
    let mut net = Net::new(&sb, &VIFS);
    let (m1, m2, m3) = (mac("00:00:00:00:00:01"), mac("00:00:00:00:00:02"), mac("00:00:00:00:00:03"));

    // lp1 asks for lp2's IP: the switch answers itself, on vif1, with lp2's MAC.
    let req = arp_request(m1, [10, 0, 0, 1].into(), [10, 0, 0, 2].into());
    net.send_with_barrier("vif1", &req, &barrier("b1"), "vif2");
    let reply = arp_reply(m2, [10, 0, 0, 2].into(), m1, [10, 0, 0, 1].into());
    net.wait_for("vif1", "the ARP reply for 10.0.0.2", |f| (f == reply).then_some(()));
    let others: Vec<_> = net.outputs(|f| Ip4::parse(f).is_some()).into_iter().filter(|(v, _)| v != "vif1").collect();
    assert!(others.is_empty(), "the answered request must not be flooded; {}", net.report());

    // lp3 asks for lp1: answered for lp3 too.
    net.mark();
    let req = arp_request(m3, [10, 0, 0, 3].into(), [10, 0, 0, 1].into());
    net.send("vif3", &req);
    let reply = arp_reply(m1, [10, 0, 0, 1].into(), m3, [10, 0, 0, 3].into());
    net.wait_for("vif3", "the ARP reply for 10.0.0.1", |f| (f == reply).then_some(()));

    // An unknown IP is not answered by the switch: the request floods instead.
    net.mark();
    let req = arp_request(m1, [10, 0, 0, 1].into(), [10, 0, 0, 77].into());
    net.send_with_barrier("vif1", &req, &barrier("b2"), "vif2");
    for v in ["vif2", "vif3", "vif4"] {
        assert!(net.new_frames(v).contains(&req), "request for an unknown IP flooded to {v}; {}", net.report());
    }
    assert!(net.new_frames("vif1").is_empty(), "no answer for an unknown IP; {}", net.report());
}

fn port_security_drops_spoofed_sources(c: Controller) {
    let sb = topology(c);
    let net = Net::new(&sb, &VIFS);

    let spoofed_mac =
        Ip4::udp("00:00:00:00:00:66", "00:00:00:00:00:02", "10.0.0.1", "10.0.0.2", 1000, 2000, "spoofed-mac");
    net.send_with_barrier("vif1", &spoofed_mac.to_bytes(), &barrier("b1"), "vif2");
    let spoofed_ip =
        Ip4::udp("00:00:00:00:00:01", "00:00:00:00:00:02", "10.0.0.66", "10.0.0.2", 1000, 2000, "spoofed-ip");
    net.send_with_barrier("vif1", &spoofed_ip.to_bytes(), &barrier("b2"), "vif2");
    let spoofed_bcast =
        Ip4::udp("00:00:00:00:00:66", "ff:ff:ff:ff:ff:ff", "10.0.0.1", "10.0.0.255", 1000, 2000, "spoofed-bcast");
    net.send_with_barrier("vif1", &spoofed_bcast.to_bytes(), &barrier("b3"), "vif2");
    let spoofed_arp = arp_request(mac("00:00:00:00:00:66"), [10, 0, 0, 1].into(), [10, 0, 0, 2].into());
    net.send_with_barrier("vif1", &spoofed_arp, &barrier("b4"), "vif2");

    for tag in ["spoofed-mac", "spoofed-ip", "spoofed-bcast"] {
        assert!(net.tagged_on(tag).is_empty(), "{tag} must be dropped; {}", net.report());
    }
    let leaked: Vec<_> = net.outputs(|f| Ip4::parse(f).is_some());
    assert!(leaked.is_empty(), "the ARP request with a spoofed MAC must be dropped, not answered; {}", net.report());
    // The barriers (legitimate traffic from the same port) all passed.
    assert_eq!(net.tagged_on("b4"), ["vif2"]);
}
