//! pinctrl end to end, fourth part, with real northd and ovs-vswitchd (dummy datapath): the
//! packets that made a router ask for an unknown next hop are buffered and delivered once
//! the ARP reply arrives. Every scenario runs against the real ovn-controller (proving the
//! test) and against chassisd.
//!
//! ```text
//! sw0 10.0.0.0/24 fd00::/64          lr0               sw1 10.0.1.0/24 fd01::/64
//!   lp1 :01 10.0.0.2 fd00::2 ── lr0-sw0 :ff:01 ─┬─ lr0-sw1 :ff:02 ── lp3 :03 10.0.1.2 fd01::2
//!                                 10.0.0.1      │    10.0.1.1          lp4 (unknown)
//!                                 fd00::1       │    fd01::1
//! ```

use chassisd_tests::packet::{arp_reply, mac};
use chassisd_tests::packets::{checksums_ok, Arp, Ip4, Net};
use chassisd_tests::{both_controllers, topo, Controller, Sandbox};

both_controllers!(unknown_next_hop_packets_are_buffered_then_sent);

const LP1: &str = "00:00:00:00:00:01";
const LP3: &str = "00:00:00:00:00:03";
const R_SW0: &str = "00:00:00:00:ff:01";
const R_SW1: &str = "00:00:00:00:ff:02";
const HOST: &str = "00:00:00:00:00:50";

/// The topology above, lr0-sw1 with `lrp_options`; lp4 (addresses unknown) is on sw1.
fn topology(c: Controller, lrp_options: &[&str]) -> Sandbox {
    let sb = Sandbox::with_controller(c);
    sb.wait_chassis_registered();
    sb.nbctl(["ls-add", "sw0", "--", "ls-add", "sw1", "--", "lr-add", "lr0"]);
    topo::connect(&sb, "lr0", "sw0", "lr0-sw0", R_SW0, &["10.0.0.1/24", "fd00::1/64"]);
    topo::connect(&sb, "lr0", "sw1", "lr0-sw1", R_SW1, &["10.0.1.1/24", "fd01::1/64"]);
    for o in lrp_options {
        sb.nbctl(["set", "Logical_Router_Port", "lr0-sw1", &format!("options:{o}")]);
    }
    topo::add_ports(&sb, &[("sw0", "lp1", LP1, "10.0.0.2 fd00::2"), ("sw1", "lp3", LP3, "10.0.1.2 fd01::2")]);
    sb.nbctl(["lsp-add", "sw1", "lp4", "--", "lsp-set-addresses", "lp4", "unknown"]);
    topo::bind_and_sync(&sb, &[("vif-lp1", "lp1"), ("vif-lp3", "lp3"), ("vif-lp4", "lp4")]);
    sb
}

fn sent_mac(s: &str) -> [u8; 6] {
    mac(s)
}

// ---- buffering for an unknown next hop -----------------------------------------------------

/// Two packets to 10.0.1.50 (no binding): the router's `arp{}` asks for it and pinctrl keeps
/// the packets; once the host answers, both arrive at it, addressed to its MAC, without the
/// sender trying again.
fn unknown_next_hop_packets_are_buffered_then_sent(c: Controller) {
    let sb = topology(c, &[]);
    let net = Net::new(&sb, &["vif-lp1", "vif-lp3", "vif-lp4"]);
    for tag in ["buffered-1", "buffered-2"] {
        net.send("vif-lp1", &Ip4::udp(LP1, R_SW0, "10.0.0.2", "10.0.1.50", 1000, 2000, tag).to_bytes());
    }
    let req = net.wait_for("vif-lp4", "the router's ARP request for 10.0.1.50", |f| {
        Arp::parse(f).filter(|a| a.op == 1 && a.tpa.to_string() == "10.0.1.50")
    });
    assert_eq!(req.sha, sent_mac(R_SW1));
    assert!(net.tagged_on("buffered-1").is_empty(), "nothing delivered before the reply: {}", net.report());
    let answer = arp_reply(sent_mac(HOST), [10, 0, 1, 50].into(), sent_mac(R_SW1), [10, 0, 1, 1].into());
    net.send("vif-lp4", &answer);
    for tag in ["buffered-1", "buffered-2"] {
        let got = net.wait_tagged("vif-lp4", tag);
        assert_eq!((got.eth_src, got.eth_dst, got.ttl), (sent_mac(R_SW1), sent_mac(HOST), 63), "{got}");
        assert_eq!((got.src.to_string(), got.dst.to_string()), ("10.0.0.2".into(), "10.0.1.50".into()));
    }
    let frames = net.new_frames("vif-lp4");
    let order: Vec<Vec<u8>> = frames.iter().filter_map(|f| Ip4::parse(f)).map(|p| p.l4.payload().to_vec()).collect();
    assert_eq!(order, vec![b"buffered-1".to_vec(), b"buffered-2".to_vec()], "each once, in order");
    assert!(frames.iter().all(|f| checksums_ok(f)));
}
