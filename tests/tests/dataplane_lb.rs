//! End to end load balancers: a VIP on a logical switch and on a gateway router; new
//! connections (varying source ports) reach each backend, the backends' replies come back
//! un-NATed; and hairpin (a backend reaching itself through the VIP). Each scenario runs
//! against the real ovn-controller (which proves the test) and against chassisd.
//!
//! ```text
//! sw0 10.0.0.0/24                 lr0                    sw1 10.0.1.0/24
//!   lp1 :01 10.0.0.2 ── lr0-sw0 :ff:01 10.0.0.1 ─┬─ lr0-sw1 :ff:02 10.0.1.1 ── lp2 :02 10.0.1.2
//!                                                │                            lp3 :03 10.0.1.3
//!   lb-sw  30.0.0.10:80 -> 10.0.1.2:8080, 10.0.1.3:8080  on sw0 and sw1
//!   (router test: lr0 gateway router on this chassis, lr0-pub :ff:03 172.16.0.1 ── pub:
//!    ext :10 172.16.0.100; lb-r 172.16.0.10:80 -> the same backends, on lr0)
//! ```

use std::collections::BTreeMap;

use chassisd_tests::packet::mac;
use chassisd_tests::packets::{Ip4, Net, L4, TCP_ACK, TCP_SYN};
use chassisd_tests::{both_controllers, topo, wait_for, Controller, Sandbox, TIMEOUT};

both_controllers!(lb_on_switch, lb_on_router);
both_controllers!(lb_hairpin);

const LP1: &str = "00:00:00:00:00:01";
const EXT: &str = "00:00:00:00:00:10";
const R_SW0: &str = "00:00:00:00:ff:01";
const R_SW1: &str = "00:00:00:00:ff:02";
const R_PUB: &str = "00:00:00:00:ff:03";
/// Backends: (VIF, MAC, IP).
const BACKENDS: [(&str, &str, &str); 2] =
    [("vif2", "00:00:00:00:00:02", "10.0.1.2"), ("vif3", "00:00:00:00:00:03", "10.0.1.3")];

fn topology(c: Controller, gateway: bool) -> Sandbox {
    let sb = Sandbox::with_controller(c);
    sb.wait_chassis_registered();
    sb.nbctl(["ls-add", "sw0", "--", "ls-add", "sw1", "--", "lr-add", "lr0"]);
    topo::connect(&sb, "lr0", "sw0", "lr0-sw0", R_SW0, &["10.0.0.1/24"]);
    topo::connect(&sb, "lr0", "sw1", "lr0-sw1", R_SW1, &["10.0.1.1/24"]);
    let mut ports = vec![("sw0", "lp1", "vif1", LP1, "10.0.0.2")];
    ports.extend(BACKENDS.iter().enumerate().map(|(i, (vif, m, ip))| ("sw1", ["lp2", "lp3"][i], *vif, *m, *ip)));
    let backends = "10.0.1.2:8080,10.0.1.3:8080";
    if gateway {
        sb.nbctl(["set", "Logical_Router", "lr0", &format!("options:chassis={}", sb.chassis())]);
        sb.nbctl(["ls-add", "pub"]);
        topo::connect(&sb, "lr0", "pub", "lr0-pub", R_PUB, &["172.16.0.1/24"]);
        ports.push(("pub", "ext", "vif-ext", EXT, "172.16.0.100"));
        sb.nbctl(["lb-add", "lb-r", "172.16.0.10:80", backends, "tcp"]);
        sb.nbctl(["lr-lb-add", "lr0", "lb-r"]);
    } else {
        sb.nbctl(["lb-add", "lb-sw", "30.0.0.10:80", backends, "tcp"]);
        sb.nbctl(["ls-lb-add", "sw0", "lb-sw", "--", "ls-lb-add", "sw1", "lb-sw"]);
    }
    for (sw, port, vif, mac, ip) in &ports {
        sb.nbctl(["lsp-add", sw, port, "--", "lsp-set-addresses", port, &format!("{mac} {ip}")]);
        sb.add_vif(vif, port);
    }
    for (_, port, ..) in &ports {
        sb.wait_port_up(port);
    }
    sb.ovn_nbctl_wait_hv_sync();
    sb
}

/// Opens connections from (`client_vif`, `client_mac`, `client_ip`) through `gw_mac` to
/// `vip`:80 with source ports 41000, 41001, ... until each backend got one (at most 64), and
/// checks for each backend's first one: the SYN arrives DNATed to the backend:8080 from the
/// client's address, routed (router MAC on sw1, TTL - 1), and the backend's SYN-ACK reaches
/// the client from `vip`:80 with `gw_mac` as source. Returns source ports per backend VIF.
fn connect_to_each_backend(
    net: &Net,
    (client_vif, client_mac, client_ip): (&str, &str, &str),
    gw_mac: &str,
    vip: &str,
) -> BTreeMap<String, u16> {
    let mut hit: BTreeMap<String, u16> = BTreeMap::new();
    for sport in 41000..41064u16 {
        let seq = u32::from(sport) * 1000;
        let syn = Ip4::tcp(client_mac, gw_mac, client_ip, vip, sport, 80, TCP_SYN, seq, 0);
        net.send(client_vif, &syn.to_bytes());
        let (vif, got) = wait_for(TIMEOUT, format_args!("the SYN from port {sport} at a backend"), || {
            BACKENDS.iter().find_map(|(vif, ..)| {
                let p = net
                    .new_frames(vif)
                    .iter()
                    .filter_map(|f| Ip4::parse(f))
                    .find(|p| matches!(p.l4, L4::Tcp { sport: s, flags: TCP_SYN, .. } if s == sport))?;
                Some((vif.to_string(), p))
            })
        });
        if hit.contains_key(&vif) {
            continue;
        }
        let (_, bmac, bip) = BACKENDS.iter().find(|b| b.0 == vif).unwrap();
        assert_eq!((got.src.to_string(), got.dst.to_string()), (client_ip.to_string(), bip.to_string()), "{got}");
        assert_eq!(got.l4.ports(), Some((sport, 8080)), "{got}");
        assert_eq!((got.eth_src, got.eth_dst, got.ttl), (mac(R_SW1), mac(bmac), 63), "{got}");

        let synack = got.tcp_answer(bmac, R_SW1, TCP_SYN | TCP_ACK, 5000);
        net.send(&vif, &synack.to_bytes());
        let back = net.wait_for(client_vif, &format!("the SYN-ACK from {bip} un-NATed"), |f| {
            Ip4::parse(f).filter(|p| p.tcp_flags() == Some(TCP_SYN | TCP_ACK) && p.l4.ports().unwrap().1 == sport)
        });
        assert_eq!((back.src.to_string(), back.dst.to_string()), (vip.to_string(), client_ip.to_string()), "{back}");
        assert_eq!(back.l4.ports(), Some((80, sport)), "{back}");
        assert_eq!((back.eth_src, back.eth_dst), (mac(gw_mac), mac(client_mac)), "{back}");
        let L4::Tcp { ack, .. } = back.l4 else { unreachable!() };
        assert_eq!(ack, seq + 1);
        hit.insert(vif, sport);
        if hit.len() == BACKENDS.len() {
            break;
        }
    }
    assert_eq!(hit.len(), BACKENDS.len(), "64 connections did not reach every backend: {hit:?}; {}", net.report());
    hit
}

fn lb_on_switch(c: Controller) {
    let sb = topology(c, false);
    let net = Net::new(&sb, &["vif1", "vif2", "vif3"]);
    let hit = connect_to_each_backend(&net, ("vif1", LP1, "10.0.0.2"), R_SW0, "30.0.0.10");
    eprintln!("{c}: backends reached with source ports {hit:?}");
}

fn lb_on_router(c: Controller) {
    let sb = topology(c, true);
    let net = Net::new(&sb, &["vif1", "vif2", "vif3", "vif-ext"]);
    // From the outside through the gateway router: the router DNATs, the SYN enters sw1
    // routed, the reply leaves from the VIP.
    let hit = connect_to_each_backend(&net, ("vif-ext", EXT, "172.16.0.100"), R_PUB, "172.16.0.10");
    eprintln!("{c}: backends reached with source ports {hit:?}");
}

fn lb_hairpin(c: Controller) {
    let sb = topology(c, false);
    let net = Net::new(&sb, &["vif1", "vif2", "vif3"]);
    let (_, lp2_mac, lp2_ip) = BACKENDS[0];
    // lp2, a backend, connects to the VIP until the load balancer picks lp2 itself: the SYN
    // comes back out of vif2, source NATed to the VIP so that lp2's answer returns the same way.
    let hairpinned = (42000..42064u16).find_map(|sport| {
        let syn = Ip4::tcp(lp2_mac, R_SW1, lp2_ip, "30.0.0.10", sport, 80, TCP_SYN, 1, 0);
        net.send("vif2", &syn.to_bytes());
        let syn_out = |p: &Ip4| p.tcp_flags() == Some(TCP_SYN) && p.l4.ports().is_some_and(|(_, d)| d == 8080);
        wait_for(TIMEOUT, format_args!("the SYN from lp2 port {sport} at a backend"), || {
            let on = |vif: &str| net.new_frames(vif).iter().filter_map(|f| Ip4::parse(f)).filter(syn_out).count();
            let (on2, on3) = (on("vif2"), on("vif3"));
            // Each SYN so far came out once, on one of the two.
            (on2 + on3 == usize::from(sport - 41999)).then_some(())
        });
        net.new_frames("vif2").iter().filter_map(|f| Ip4::parse(f)).find(|p| syn_out(p))
    });
    let got = hairpinned.unwrap_or_else(|| panic!("64 connections never picked lp2 itself; {}", net.report()));
    assert_eq!((got.src.to_string(), got.dst.to_string()), ("30.0.0.10".into(), lp2_ip.to_string()), "{got}");
    let synack = got.tcp_answer(lp2_mac, &chassisd_tests::packets::fmt_mac(&got.eth_src), TCP_SYN | TCP_ACK, 77);
    net.send("vif2", &synack.to_bytes());
    let back = net.wait_for("vif2", "the hairpinned SYN-ACK from the VIP", |f| {
        Ip4::parse(f).filter(|p| p.tcp_flags() == Some(TCP_SYN | TCP_ACK))
    });
    assert_eq!((back.src.to_string(), back.dst.to_string()), ("30.0.0.10".into(), lp2_ip.to_string()), "{back}");
    assert_eq!(back.l4.ports().unwrap().0, 80, "{back}");
}
