//! End to end ACLs on one switch: drop, allow over drop, allow-related (the reply passes
//! through conntrack, unsolicited traffic does not), a port group with an address set (and
//! their incremental changes), a 5,000-address set compiled to a conjunctive match, reject
//! and ACL logging. Each scenario runs against the real ovn-controller (which proves the test)
//! and against chassisd.
//!
//! ```text
//! sw0: lp1 00:00:00:00:00:01 10.0.0.1  vif1    pg1 = {lp2}
//!      lp2 00:00:00:00:00:02 10.0.0.2  vif2    as1 = {10.0.0.1, 10.0.0.9}
//!      lp3 00:00:00:00:00:03 10.0.0.3  vif3
//! from-lport 1000  inport == "lp1" && udp.dst == 9                        drop
//! from-lport 1000  inport == "lp1" && tcp                                 allow-related
//! to-lport   1000  outport == "lp1" && ip4                                drop
//! to-lport   1000  outport == "lp3" && ip4                                drop
//! to-lport   1001  outport == "lp3" && udp.dst == 53                      allow
//! to-lport   1002  outport == @pg1 && ip4.src == $as1 && udp.dst == 7     drop
//! to-lport   1003  outport == @pg1 && tcp.dst == 23                       reject
//! to-lport   1003  outport == @pg1 && udp.dst == 514                      drop, logged "log-drop"
//! (big set)  1004  outport == @pg1 && ip4.src == $big && udp.dst == {7000, 7001, 7002}  drop
//! ```

use std::time::Instant;

use chassisd_tests::packets::{Ip4, Net, L4, TCP_ACK, TCP_RST, TCP_SYN};
use chassisd_tests::{both_controllers, wait_until, Controller, Sandbox, TIMEOUT};

both_controllers!(
    acl_drop_and_allow,
    acl_allow_related_reply_passes,
    acl_port_group_and_address_set,
    acl_big_address_set_is_conjunctive
);
both_controllers!(acl_reject);
both_controllers!(acl_log);

const M1: &str = "00:00:00:00:00:01";
const M2: &str = "00:00:00:00:00:02";
const M3: &str = "00:00:00:00:00:03";
const VIFS: [&str; 3] = ["vif1", "vif2", "vif3"];
const BIG: usize = 5000;

/// The i-th address of the big set: odd last octets only, so that no two members merge
/// into a shorter prefix.
fn big_member(i: usize) -> String {
    format!("20.0.{}.{}", i / 100, (i % 100) * 2 + 1)
}

fn topology(c: Controller, big: bool) -> Sandbox {
    let sb = Sandbox::with_controller(c);
    sb.wait_chassis_registered();
    sb.nbctl(["ls-add", "sw0"]);
    for (i, m) in [M1, M2, M3].iter().enumerate() {
        let p = format!("lp{}", i + 1);
        sb.nbctl(["lsp-add", "sw0", &p, "--", "lsp-set-addresses", &p, &format!("{m} 10.0.0.{}", i + 1)]);
    }
    sb.nbctl(["pg-add", "pg1", "lp2"]);
    sb.nbctl(["create", "Address_Set", "name=as1", "addresses=10.0.0.1,10.0.0.9"]);
    let acl = |dir: &str, prio: &str, m: &str, verdict: &str| {
        sb.nbctl(["acl-add", "sw0", dir, prio, m, verdict]);
    };
    acl("from-lport", "1000", "inport == \"lp1\" && udp.dst == 9", "drop");
    acl("from-lport", "1000", "inport == \"lp1\" && tcp", "allow-related");
    acl("to-lport", "1000", "outport == \"lp1\" && ip4", "drop");
    acl("to-lport", "1000", "outport == \"lp3\" && ip4", "drop");
    acl("to-lport", "1001", "outport == \"lp3\" && udp.dst == 53", "allow");
    sb.nbctl(["acl-add", "pg1", "to-lport", "1002", "outport == @pg1 && ip4.src == $as1 && udp.dst == 7", "drop"]);
    sb.nbctl(["acl-add", "pg1", "to-lport", "1003", "outport == @pg1 && tcp.dst == 23", "reject"]);
    sb.nbctl([
        "--log",
        "--severity=warning",
        "--name=log-drop",
        "acl-add",
        "pg1",
        "to-lport",
        "1003",
        "outport == @pg1 && udp.dst == 514",
        "drop",
    ]);
    if big {
        let members: Vec<String> = (0..BIG).map(big_member).collect();
        sb.nbctl(["create", "Address_Set", "name=big", &format!("addresses={}", members.join(","))]);
        let m = "outport == @pg1 && ip4.src == $big && udp.dst == {7000, 7001, 7002}";
        sb.nbctl(["acl-add", "pg1", "to-lport", "1004", m, "drop"]);
    }
    for i in 1..=3 {
        sb.add_vif(&format!("vif{i}"), &format!("lp{i}"));
    }
    for i in 1..=3 {
        sb.wait_port_up(&format!("lp{i}"));
    }
    sb.ovn_nbctl_wait_hv_sync();
    sb
}

/// lp1 → lp2, allowed by every ACL: a barrier for what vif1 sent before.
fn barrier1(tag: &str) -> Ip4 {
    Ip4::udp(M1, M2, "10.0.0.1", "10.0.0.2", 5000, 10, tag)
}
/// lp2 → lp3 udp 53, allowed: a barrier for what vif2 sent before.
fn barrier2(tag: &str) -> Ip4 {
    Ip4::udp(M2, M3, "10.0.0.2", "10.0.0.3", 5000, 53, tag)
}
/// lp3 → lp2, allowed: a barrier for what vif3 sent before.
fn barrier3(tag: &str) -> Ip4 {
    Ip4::udp(M3, M2, "10.0.0.3", "10.0.0.2", 5000, 10, tag)
}

fn acl_drop_and_allow(c: Controller) {
    let sb = topology(c, false);
    let net = Net::new(&sb, &VIFS);
    // from-lport drop.
    let dropped = Ip4::udp(M1, M2, "10.0.0.1", "10.0.0.2", 1000, 9, "udp9");
    net.send_with_barrier("vif1", &dropped.to_bytes(), &barrier1("b1"), "vif2");
    assert!(net.tagged_on("udp9").is_empty(), "from-lport drop; {}", net.report());
    // to-lport allow (1001) over drop (1000).
    let allowed = Ip4::udp(M2, M3, "10.0.0.2", "10.0.0.3", 1000, 53, "udp53");
    let denied = Ip4::udp(M2, M3, "10.0.0.2", "10.0.0.3", 1000, 54, "udp54");
    net.send_with_barrier("vif2", &denied.to_bytes(), &barrier2("b2"), "vif3");
    net.send("vif2", &allowed.to_bytes());
    net.wait_tagged("vif3", "udp53");
    assert!(net.tagged_on("udp54").is_empty(), "to-lport drop; {}", net.report());
    assert_eq!(net.tagged_on("udp53"), ["vif3"]);
    // Not matched by any ACL: passes.
    assert_eq!(net.tagged_on("b1"), ["vif2"]);
}

fn acl_allow_related_reply_passes(c: Controller) {
    let sb = topology(c, false);
    let net = Net::new(&sb, &VIFS);
    // lp1 opens a connection to lp2:80; lp2's answer passes the to-lport drop on lp1 as a
    // reply of a committed connection.
    let syn = Ip4::tcp(M1, M2, "10.0.0.1", "10.0.0.2", 40000, 80, TCP_SYN, 1000, 0);
    net.send("vif1", &syn.to_bytes());
    let got = net.wait_for("vif2", "the SYN to lp2:80", |f| Ip4::parse(f).filter(|p| *p == syn));
    assert_eq!(got, syn);
    let synack = syn.tcp_answer(M2, M1, TCP_SYN | TCP_ACK, 7000);
    net.send("vif2", &synack.to_bytes());
    let got = net.wait_for("vif1", "the SYN-ACK (reply direction) on lp1", |f| Ip4::parse(f).filter(|p| *p == synack));
    assert_eq!(got, synack);
    let ack = synack.tcp_answer(M1, M2, TCP_ACK, 1001);
    net.send("vif1", &ack.to_bytes());
    net.wait_for("vif2", "the ACK", |f| Ip4::parse(f).filter(|p| *p == ack));

    // A new connection from lp2 to lp1 is not a reply: dropped. So is UDP from lp2 to lp1.
    let unsolicited = Ip4::tcp(M2, M1, "10.0.0.2", "10.0.0.1", 40001, 22, TCP_SYN, 1, 0);
    net.send_with_barrier("vif2", &unsolicited.to_bytes(), &barrier2("b1"), "vif3");
    let udp = Ip4::udp(M2, M1, "10.0.0.2", "10.0.0.1", 80, 40000, "udp-to-lp1");
    net.send_with_barrier("vif2", &udp.to_bytes(), &barrier2("b2"), "vif3");
    let on_vif1: Vec<Ip4> = net.new_frames("vif1").iter().filter_map(|f| Ip4::parse(f)).collect();
    assert_eq!(on_vif1, [synack], "only the reply reaches lp1; {}", net.report());
}

fn acl_port_group_and_address_set(c: Controller) {
    let sb = topology(c, false);
    let mut net = Net::new(&sb, &VIFS);
    // lp1 (10.0.0.1) is in as1: its udp/7 to lp2 (in pg1) is dropped; lp3's is not.
    let from1 = |tag: &str| Ip4::udp(M1, M2, "10.0.0.1", "10.0.0.2", 1000, 7, tag);
    let from3 = |tag: &str| Ip4::udp(M3, M2, "10.0.0.3", "10.0.0.2", 1000, 7, tag);
    net.send_with_barrier("vif1", &from1("as-member").to_bytes(), &barrier1("b1"), "vif2");
    net.send("vif3", &from3("not-member").to_bytes());
    net.wait_tagged("vif2", "not-member");
    assert!(net.tagged_on("as-member").is_empty(), "source in $as1 dropped; {}", net.report());

    // Add 10.0.0.3 to the set: now lp3 is dropped too.
    sb.nbctl(["add", "Address_Set", "as1", "addresses", "10.0.0.3"]);
    sb.ovn_nbctl_wait_hv_sync();
    sb.appctl(["revalidator/purge"]); // no datapath flow from before the change
    net.mark();
    net.send_with_barrier("vif3", &from3("now-member").to_bytes(), &barrier3("b2"), "vif2");
    assert!(net.tagged_on("now-member").is_empty(), "after adding 10.0.0.3 to $as1; {}", net.report());

    // Take lp2 out of pg1: the ACL no longer applies to it.
    sb.nbctl(["clear", "Port_Group", "pg1", "ports"]);
    sb.ovn_nbctl_wait_hv_sync();
    sb.appctl(["revalidator/purge"]);
    net.mark();
    net.send("vif1", &from1("pg-empty").to_bytes());
    net.wait_tagged("vif2", "pg-empty");
}

fn acl_big_address_set_is_conjunctive(c: Controller) {
    let start = Instant::now();
    let sb = topology(c, true);
    let setup = start.elapsed();
    let flows = sb.dump_flows("br-int");
    let with_member: Vec<&String> = flows.iter().filter(|f| f.contains("nw_src=20.0.")).collect();
    let per_address = |a: &str| {
        flows.iter().filter(|f| f.contains(&format!("nw_src={a},")) || f.contains(&format!("nw_src={a} "))).count()
    };
    eprintln!(
        "{c}: {} flows on br-int, {} match a member of the {BIG}-address set ({} for {}), set-up {setup:?}",
        flows.len(),
        with_member.len(),
        per_address(&big_member(42)),
        big_member(42)
    );
    // One flow per address and logical flow, each a conjunction clause: not addresses x ports.
    assert!(with_member.len() >= BIG, "every member has its flow: {}", with_member.len());
    assert!(with_member.len() <= 2 * BIG, "no cross product: {} flows match set members", with_member.len());
    assert!(with_member.iter().all(|f| f.contains("actions=conjunction(")), "all conjunction clauses");
    for i in [0, 1, 2500, BIG - 1] {
        let n = per_address(&big_member(i));
        assert!((1..=2).contains(&n), "{} appears in {n} flows", big_member(i));
    }
    assert!(flows.iter().any(|f| f.contains("conj_id=")), "the conjunction itself");
    assert!(flows.len() < 3 * BIG, "{} flows in all", flows.len());

    let net = Net::new(&sb, &VIFS);
    let member = Ip4::udp(M3, M2, &big_member(303), "10.0.0.2", 1000, 7001, "member");
    let outsider = Ip4::udp(M3, M2, "20.0.3.8", "10.0.0.2", 1000, 7001, "outsider");
    let other_port = Ip4::udp(M3, M2, &big_member(303), "10.0.0.2", 1000, 7003, "other-port");
    net.send_with_barrier("vif3", &member.to_bytes(), &barrier3("b1"), "vif2");
    net.send("vif3", &outsider.to_bytes());
    net.send("vif3", &other_port.to_bytes());
    net.wait_tagged("vif2", "outsider");
    net.wait_tagged("vif2", "other-port");
    assert!(net.tagged_on("member").is_empty(), "member of $big to udp/7001 dropped; {}", net.report());
}

fn acl_reject(c: Controller) {
    let sb = topology(c, false);
    let net = Net::new(&sb, &VIFS);
    let syn = Ip4::tcp(M1, M2, "10.0.0.1", "10.0.0.2", 40000, 23, TCP_SYN, 1000, 0);
    net.send("vif1", &syn.to_bytes());
    let rst = net.wait_for("vif1", "a TCP RST from lp2:23", |f| {
        Ip4::parse(f).filter(|p| p.tcp_flags().is_some_and(|fl| fl & TCP_RST != 0))
    });
    assert_eq!((rst.src.to_string(), rst.dst.to_string()), ("10.0.0.2".into(), "10.0.0.1".into()), "{rst}");
    assert_eq!(rst.l4.ports(), Some((23, 40000)));
    assert_eq!((rst.eth_src, rst.eth_dst), (chassisd_tests::packet::mac(M2), chassisd_tests::packet::mac(M1)));
    let L4::Tcp { ack, .. } = rst.l4 else { unreachable!() };
    assert_eq!(ack, 1001, "the RST acknowledges the SYN");
    // UDP to a rejected TCP port is not affected; the SYN itself never reached lp2.
    net.send_with_barrier("vif1", &barrier1("b1").to_bytes(), &barrier1("b2"), "vif2");
    let to_lp2: Vec<Ip4> = net.new_frames("vif2").iter().filter_map(|f| Ip4::parse(f)).collect();
    assert!(to_lp2.iter().all(|p| p.tcp_flags().is_none()), "{}", net.report());
}

fn acl_log(c: Controller) {
    let sb = topology(c, false);
    let net = Net::new(&sb, &VIFS);
    let logged = Ip4::udp(M1, M2, "10.0.0.1", "10.0.0.2", 1000, 514, "logged");
    net.send_with_barrier("vif1", &logged.to_bytes(), &barrier1("b1"), "vif2");
    assert!(net.tagged_on("logged").is_empty(), "the logged ACL still drops; {}", net.report());
    wait_until(TIMEOUT, "an acl_log line for log-drop", || {
        sb.grep_logs(&["name=\"log-drop\""]).iter().any(|l| {
            l.contains("verdict=drop")
                && l.contains("severity=warning")
                && l.contains("direction=to-lport")
                && l.contains("nw_src=10.0.0.1")
                && l.contains("tp_dst=514")
        })
    });
}
