//! End to end through logical routers: routed IPv4 (TTL, MACs), ICMP echo to router ports,
//! a static route, and a gateway router's SNAT and dnat_and_snat. Each scenario runs against
//! the real ovn-controller (which proves the test) and against chassisd.
//!
//! ```text
//! sw0 10.0.0.0/24                 lr0                  sw1 10.0.1.0/24
//!   lp1 :01 10.0.0.2  ── lr0-sw0 :ff:01 10.0.0.1 ─┬─ lr0-sw1 :ff:02 10.0.1.1 ── lp3 :03 10.0.1.2
//!   lp2 :02 10.0.0.3                              │  (gateway test: lr0-pub :ff:03 172.16.0.1 ── pub:
//!                                                 │   ext :10 172.16.0.100)
//!   static route 192.168.10.0/24 via 10.0.1.2 ────┘
//! ```

use chassisd_tests::packet::arp_reply;
use chassisd_tests::packets::Arp;
use chassisd_tests::packets::{checksums_ok, Ip4, Net, L4};
use chassisd_tests::{both_controllers, topo, Controller, Sandbox};

both_controllers!(routes_with_ttl_and_router_macs, router_answers_ping, static_route, gateway_router_snat_and_dnat);
both_controllers!(router_resolves_unknown_next_hop);

const LP1: &str = "00:00:00:00:00:01";
const LP2: &str = "00:00:00:00:00:02";
const LP3: &str = "00:00:00:00:00:03";
const EXT: &str = "00:00:00:00:00:10";
const R_SW0: &str = "00:00:00:00:ff:01";
const R_SW1: &str = "00:00:00:00:ff:02";
const R_PUB: &str = "00:00:00:00:ff:03";

/// The topology above; `gateway`: lr0 is a gateway router on this chassis, with the public
/// side, SNAT of 10.0.0.0/24 to 172.16.0.1 and dnat_and_snat 172.16.0.2 <-> 10.0.0.3.
fn topology(c: Controller, gateway: bool) -> Sandbox {
    let sb = Sandbox::with_controller(c);
    sb.wait_chassis_registered();
    sb.nbctl(["ls-add", "sw0", "--", "ls-add", "sw1", "--", "lr-add", "lr0"]);
    topo::connect(&sb, "lr0", "sw0", "lr0-sw0", R_SW0, &["10.0.0.1/24"]);
    topo::connect(&sb, "lr0", "sw1", "lr0-sw1", R_SW1, &["10.0.1.1/24"]);
    let mut ports =
        vec![("sw0", "lp1", LP1, "10.0.0.2"), ("sw0", "lp2", LP2, "10.0.0.3"), ("sw1", "lp3", LP3, "10.0.1.2")];
    sb.nbctl(["lr-route-add", "lr0", "192.168.10.0/24", "10.0.1.2"]);
    if gateway {
        sb.nbctl(["set", "Logical_Router", "lr0", &format!("options:chassis={}", sb.chassis())]);
        sb.nbctl(["ls-add", "pub"]);
        topo::connect(&sb, "lr0", "pub", "lr0-pub", R_PUB, &["172.16.0.1/24"]);
        ports.push(("pub", "ext", EXT, "172.16.0.100"));
        sb.nbctl(["lr-nat-add", "lr0", "snat", "172.16.0.1", "10.0.0.0/24"]);
        sb.nbctl(["lr-nat-add", "lr0", "dnat_and_snat", "172.16.0.2", "10.0.0.3"]);
    }
    for (sw, port, mac, ip) in &ports {
        sb.nbctl(["lsp-add", sw, port, "--", "lsp-set-addresses", port, &format!("{mac} {ip}")]);
        sb.add_vif(&format!("vif-{port}"), port);
    }
    for (_, port, _, _) in &ports {
        sb.wait_port_up(port);
    }
    sb.ovn_nbctl_wait_hv_sync();
    sb
}

const VIFS: [&str; 3] = ["vif-lp1", "vif-lp2", "vif-lp3"];

fn routes_with_ttl_and_router_macs(c: Controller) {
    let sb = topology(c, false);
    let net = Net::new(&sb, &VIFS);
    let sent = Ip4::udp(LP1, R_SW0, "10.0.0.2", "10.0.1.2", 1000, 2000, "routed").with_ttl(64);
    net.send("vif-lp1", &sent.to_bytes());
    let got = net.wait_tagged("vif-lp3", "routed");
    let want = Ip4 { eth_src: sent_mac(R_SW1), eth_dst: sent_mac(LP3), ttl: 63, ..sent.clone() };
    assert_eq!(got, want, "routed: router MAC as source, next hop's MAC as destination, TTL - 1");
    let frame = net.new_frames("vif-lp3").into_iter().find(|f| Ip4::parse(f).as_ref() == Some(&got)).unwrap();
    assert!(checksums_ok(&frame), "IPv4 checksum updated with the TTL");

    // And back the other way, from sw1 to sw0.
    let back = Ip4::udp(LP3, R_SW1, "10.0.1.2", "10.0.0.3", 2000, 1000, "routed-back").with_ttl(10);
    net.send("vif-lp3", &back.to_bytes());
    let got = net.wait_tagged("vif-lp2", "routed-back");
    assert_eq!(got, Ip4 { eth_src: sent_mac(R_SW0), eth_dst: sent_mac(LP2), ttl: 9, ..back });
    assert!(net.tagged_on("routed-back") == ["vif-lp2"], "{}", net.report());
}

fn sent_mac(s: &str) -> [u8; 6] {
    chassisd_tests::packet::mac(s)
}

fn router_answers_ping(c: Controller) {
    let sb = topology(c, false);
    let net = Net::new(&sb, &VIFS);
    for (i, router_ip) in ["10.0.0.1", "10.0.1.1"].into_iter().enumerate() {
        let id = 100 + i as u16;
        let ping = Ip4::ping(LP1, R_SW0, "10.0.0.2", router_ip, id, 1);
        net.send("vif-lp1", &ping.to_bytes());
        let reply = net.wait_for("vif-lp1", &format!("echo reply from {router_ip}"), |f| {
            let p = Ip4::parse(f)?;
            let reply = matches!(p.l4, L4::Icmp { ty: 0, rest, .. } if rest[..2] == id.to_be_bytes());
            reply.then_some((p, checksums_ok(f)))
        });
        let (reply, csum) = reply;
        assert_eq!(reply.src.to_string(), router_ip);
        assert_eq!(reply.dst.to_string(), "10.0.0.2");
        assert_eq!((reply.eth_src, reply.eth_dst), (sent_mac(R_SW0), sent_mac(LP1)));
        let L4::Icmp { code, rest, ref payload, .. } = reply.l4 else { unreachable!() };
        assert_eq!((code, &rest[..2], payload.as_slice()), (0, &id.to_be_bytes()[..], &b"ping"[..]));
        assert!(csum, "checksums of the echo reply");
    }
}

fn static_route(c: Controller) {
    let sb = topology(c, false);
    let net = Net::new(&sb, &VIFS);
    let sent = Ip4::udp(LP1, R_SW0, "10.0.0.2", "192.168.10.5", 1000, 2000, "static");
    net.send("vif-lp1", &sent.to_bytes());
    let got = net.wait_tagged("vif-lp3", "static");
    assert_eq!(got, Ip4 { eth_src: sent_mac(R_SW1), eth_dst: sent_mac(LP3), ttl: 63, ..sent });
}

fn gateway_router_snat_and_dnat(c: Controller) {
    let sb = topology(c, true);
    let net = Net::new(&sb, &["vif-lp1", "vif-lp2", "vif-lp3", "vif-ext"]);

    // SNAT: lp1 (10.0.0.2) to the outside leaves as 172.16.0.1.
    let out = Ip4::udp(LP1, R_SW0, "10.0.0.2", "172.16.0.100", 4000, 53, "snat-out");
    net.send("vif-lp1", &out.to_bytes());
    let got = net.wait_tagged("vif-ext", "snat-out");
    assert_eq!((got.src.to_string(), got.dst.to_string()), ("172.16.0.1".into(), "172.16.0.100".into()), "{got}");
    assert_eq!((got.eth_src, got.eth_dst, got.ttl), (sent_mac(R_PUB), sent_mac(EXT), 63));
    let sport = got.l4.ports().unwrap().0;
    assert!(net.new_frames("vif-ext").iter().all(|f| checksums_ok(f)), "checksums after SNAT");
    // The reply is un-SNATed back to lp1.
    let reply = Ip4::udp(EXT, R_PUB, "172.16.0.100", "172.16.0.1", 53, sport, "snat-back");
    net.send("vif-ext", &reply.to_bytes());
    let got = net.wait_tagged("vif-lp1", "snat-back");
    assert_eq!((got.src.to_string(), got.dst.to_string()), ("172.16.0.100".into(), "10.0.0.2".into()), "{got}");
    assert_eq!(got.l4.ports(), Some((53, 4000)));
    assert_eq!((got.eth_src, got.eth_dst), (sent_mac(R_SW0), sent_mac(LP1)));

    // dnat_and_snat: the outside reaches lp2 (10.0.0.3) at 172.16.0.2 ...
    let inbound = Ip4::udp(EXT, R_PUB, "172.16.0.100", "172.16.0.2", 5000, 80, "dnat-in");
    net.send("vif-ext", &inbound.to_bytes());
    let got = net.wait_tagged("vif-lp2", "dnat-in");
    assert_eq!((got.src.to_string(), got.dst.to_string()), ("172.16.0.100".into(), "10.0.0.3".into()), "{got}");
    assert_eq!((got.eth_src, got.eth_dst, got.ttl), (sent_mac(R_SW0), sent_mac(LP2), 63));
    let reply = Ip4::udp(LP2, R_SW0, "10.0.0.3", "172.16.0.100", 80, 5000, "dnat-back");
    net.send("vif-lp2", &reply.to_bytes());
    let got = net.wait_tagged("vif-ext", "dnat-back");
    assert_eq!((got.src.to_string(), got.dst.to_string()), ("172.16.0.2".into(), "172.16.0.100".into()), "{got}");
    // ... and lp2's own new connections leave as 172.16.0.2, not the SNAT address.
    let own = Ip4::udp(LP2, R_SW0, "10.0.0.3", "172.16.0.100", 6000, 53, "dnat-snat-out");
    net.send("vif-lp2", &own.to_bytes());
    let got = net.wait_tagged("vif-ext", "dnat-snat-out");
    assert_eq!(got.src.to_string(), "172.16.0.2", "{got}");
    assert!(net.new_frames("vif-ext").iter().chain(&net.new_frames("vif-lp2")).all(|f| checksums_ok(f)));
}

/// A next hop without a static binding: the router asks with ARP (`arp{}`, generated by the
/// controller), learns the answer (`put_arp`: a MAC_Binding row, then table 66 flows) and
/// then delivers to the learnt MAC.
fn router_resolves_unknown_next_hop(c: Controller) {
    let sb = topology(c, false);
    sb.nbctl(["lsp-add", "sw1", "lp4", "--", "lsp-set-addresses", "lp4", "unknown"]);
    sb.add_vif("vif-lp4", "lp4");
    sb.wait_port_up("lp4");
    sb.ovn_nbctl_wait_hv_sync();
    let net = Net::new(&sb, &["vif-lp1", "vif-lp3", "vif-lp4"]);
    let host = "00:00:00:00:00:50";
    let first = Ip4::udp(LP1, R_SW0, "10.0.0.2", "10.0.1.50", 1000, 2000, "needs-arp");
    net.send("vif-lp1", &first.to_bytes());
    let req = net.wait_for("vif-lp4", "the router's ARP request for 10.0.1.50", |f| {
        Arp::parse(f).filter(|a| a.op == 1 && a.tpa.to_string() == "10.0.1.50")
    });
    assert_eq!((req.sha, req.spa.to_string(), req.eth_src), (sent_mac(R_SW1), "10.0.1.1".into(), sent_mac(R_SW1)));
    let answer = arp_reply(sent_mac(host), [10, 0, 1, 50].into(), sent_mac(R_SW1), [10, 0, 1, 1].into());
    net.send("vif-lp4", &answer);
    chassisd_tests::wait_until(chassisd_tests::TIMEOUT, "MAC_Binding for 10.0.1.50", || {
        sb.sbctl(["--bare", "--columns=mac", "find", "MAC_Binding", "ip=10.0.1.50"]).trim() == host
    });
    // The learnt binding is used: a retry goes straight to the host's MAC. (Resend until the
    // controller has turned the MAC_Binding into flows.)
    let retry = Ip4::udp(LP1, R_SW0, "10.0.0.2", "10.0.1.50", 1000, 2000, "after-arp");
    let got = chassisd_tests::wait_for(chassisd_tests::TIMEOUT, "the retry delivered to the learnt MAC", || {
        net.send("vif-lp1", &retry.to_bytes());
        net.new_frames("vif-lp4").iter().filter_map(|f| Ip4::parse(f)).find(|p| p.l4.payload() == b"after-arp")
    });
    assert_eq!((got.eth_src, got.eth_dst, got.ttl), (sent_mac(R_SW1), sent_mac(host), 63));
}
