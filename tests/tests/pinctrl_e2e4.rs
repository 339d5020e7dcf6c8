//! pinctrl end to end, fourth part, with real northd and ovs-vswitchd (dummy datapath): the
//! packets that made a router ask for an unknown next hop are buffered and delivered once
//! the ARP reply arrives; a router port with `gateway_mtu` answers a too-big packet with
//! ICMP "fragmentation needed" / ICMPv6 "packet too big" carrying the MTU; a switch with
//! `mcast_querier` sends periodic IGMP and MLD general queries. Every scenario runs against
//! the real ovn-controller (proving the test) and against chassisd. Last,
//! `debug/dump-mac-bindings` (which 23.03 does not have; chassisd only).
//!
//! ```text
//! sw0 10.0.0.0/24 fd00::/64          lr0               sw1 10.0.1.0/24 fd01::/64
//!   lp1 :01 10.0.0.2 fd00::2 ── lr0-sw0 :ff:01 ─┬─ lr0-sw1 :ff:02 ── lp3 :03 10.0.1.2 fd01::2
//!                                 10.0.0.1      │    10.0.1.1          lp4 (unknown)
//!                                 fd00::1       │    fd01::1
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use chassisd_tests::packet::{arp_reply, checksum, mac};
use chassisd_tests::packets::{checksums_ok, eth_frame, Arp, Ip4, Net, L4};
use chassisd_tests::{both_controllers, require_ovn, topo, wait_for, Controller, Sandbox, TIMEOUT};

both_controllers!(
    unknown_next_hop_packets_are_buffered_then_sent,
    buffered_packet_sent_when_a_mac_binding_row_appears,
    gateway_mtu_icmp_frag_needed,
    mcast_querier
);

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

/// The same without an ARP reply: a MAC_Binding row for the next hop, written into the
/// Southbound database by someone else, releases the waiting packet.
fn buffered_packet_sent_when_a_mac_binding_row_appears(c: Controller) {
    let sb = topology(c, &[]);
    let net = Net::new(&sb, &["vif-lp1", "vif-lp3", "vif-lp4"]);
    net.send("vif-lp1", &Ip4::udp(LP1, R_SW0, "10.0.0.2", "10.0.1.70", 1000, 2000, "by-row").to_bytes());
    net.wait_for("vif-lp4", "the router's ARP request for 10.0.1.70", |f| {
        Arp::parse(f).filter(|a| a.op == 1 && a.tpa.to_string() == "10.0.1.70")
    });
    let dp = sb.sbctl(["--bare", "--columns=_uuid", "find", "Datapath_Binding", "external_ids:name=lr0"]);
    sb.sbctl([
        "create",
        "MAC_Binding",
        "logical_port=lr0-sw1",
        "ip=10.0.1.70",
        "mac=\"00:00:00:00:00:70\"",
        &format!("datapath={}", dp.trim()),
    ]);
    let got = net.wait_tagged("vif-lp4", "by-row");
    assert_eq!((got.eth_dst, got.ttl), (mac("00:00:00:00:00:70"), 63), "{got}");
}

// ---- gateway_mtu: ICMP fragmentation needed ---------------------------------------------------

/// An Ethernet + IPv6 + UDP frame with `payload`, hop limit 64.
fn udp6(eth_src: [u8; 6], eth_dst: [u8; 6], src: Ipv6Addr, dst: Ipv6Addr, payload: &[u8]) -> Vec<u8> {
    let len = 8 + payload.len() as u16;
    let mut u = 1000u16.to_be_bytes().to_vec();
    u.extend_from_slice(&2000u16.to_be_bytes());
    u.extend_from_slice(&len.to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let c = icmp6_or_udp6_checksum(src, dst, 17, &u);
    u[6..8].copy_from_slice(&c.to_be_bytes());
    let mut ip = vec![0x60, 0, 0, 0];
    ip.extend_from_slice(&len.to_be_bytes());
    ip.extend_from_slice(&[17, 64]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    ip.extend_from_slice(&u);
    eth_frame(eth_dst, eth_src, 0x86dd, &ip)
}

fn icmp6_or_udp6_checksum(src: Ipv6Addr, dst: Ipv6Addr, proto: u8, body: &[u8]) -> u16 {
    let mut p = src.octets().to_vec();
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&(body.len() as u32).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, proto]);
    p.extend_from_slice(body);
    checksum(&p, 0)
}

/// An ICMPv6 message in `f` from `src` to `dst`: (type, code, bytes 4..8, checksum right).
fn icmp6_in(f: &[u8], src: Ipv6Addr, dst: Ipv6Addr) -> Option<(u8, u8, [u8; 4], bool)> {
    (f.get(12..14)? == [0x86, 0xdd] && *f.get(20)? == 58).then_some(())?;
    (f.get(22..38)? == src.octets() && f.get(38..54)? == dst.octets()).then_some(())?;
    let plen = usize::from(u16::from_be_bytes([*f.get(18)?, *f.get(19)?]));
    let body = f.get(54..54 + plen)?;
    let ok = icmp6_or_udp6_checksum(src, dst, 58, body) == 0;
    Some((*body.first()?, *body.get(1)?, body.get(4..8)?.try_into().ok()?, ok))
}

/// lr0-sw1 has `gateway_mtu=1000`: a 1228-byte IPv4 packet towards sw1 is answered with ICMP
/// destination unreachable / fragmentation needed, next-hop MTU 1000, from the router's
/// address on sw0; an IPv6 one with ICMPv6 packet too big, MTU 1000. Small packets pass.
fn gateway_mtu_icmp_frag_needed(c: Controller) {
    let sb = topology(c, &["gateway_mtu=1000"]);
    let net = Net::new(&sb, &["vif-lp1", "vif-lp3"]);
    let small = Ip4::udp(LP1, R_SW0, "10.0.0.2", "10.0.1.2", 1000, 2000, "small");
    net.send("vif-lp1", &small.to_bytes());
    net.wait_tagged("vif-lp3", "small");

    let tag = "big-".repeat(300);
    let big = Ip4::udp(LP1, R_SW0, "10.0.0.2", "10.0.1.2", 1000, 2000, &tag);
    let frame = big.to_bytes();
    let icmp = sb.inject_until("vif-lp1", &frame, "vif-lp1", "ICMP fragmentation needed", |f| {
        Ip4::parse(f).filter(|p| matches!(p.l4, L4::Icmp { ty: 3, .. })).map(|p| (p, f.to_vec()))
    });
    let (p, raw) = icmp;
    let L4::Icmp { ty, code, rest, payload } = &p.l4 else { unreachable!() };
    assert_eq!((*ty, *code), (3, 4), "{p}");
    assert_eq!(u16::from_be_bytes([rest[2], rest[3]]), 1000, "next-hop MTU: {p}");
    assert_eq!((p.src.to_string(), p.dst.to_string()), ("10.0.0.1".into(), "10.0.0.2".into()));
    assert_eq!((p.eth_src, p.eth_dst), (sent_mac(R_SW0), sent_mac(LP1)));
    assert!(checksums_ok(&raw), "checksums of {p}");
    assert_eq!(raw[15], 0, "tos 0, as 23.03's pinctrl_compose_ipv4 leaves it");
    // The quoted header is the routed one: TTL 63 (and its checksum), the rest as sent.
    assert_eq!((&payload[..8], payload[8], &payload[12..20]), (&frame[14..22], 63, &frame[26..34]), "quoted header");
    assert!(net.tagged_on(&tag).is_empty(), "the big packet went nowhere");

    let (a, r0) = ("fd00::2".parse::<Ipv6Addr>().unwrap(), "fd00::1".parse::<Ipv6Addr>().unwrap());
    let big6 = udp6(sent_mac(LP1), sent_mac(R_SW0), a, "fd01::2".parse().unwrap(), tag.as_bytes());
    let (ty, code, mtu, ok) =
        sb.inject_until("vif-lp1", &big6, "vif-lp1", "ICMPv6 packet too big", |f| icmp6_in(f, r0, a));
    assert_eq!((ty, code, u32::from_be_bytes(mtu), ok), (2, 0, 1000, true));
}

// ---- IGMP / MLD querier -----------------------------------------------------------------------

/// What a general query shows: (eth src, eth dst, IP src, TTL / hop limit, maximum response,
/// QQIC).
type Query<Ip, Resp> = ([u8; 6], [u8; 6], Ip, u8, Resp, u8);

/// An IGMPv3 general query in `f` (max response code in tenths of a second).
fn igmp_query(f: &[u8]) -> Option<Query<Ipv4Addr, u8>> {
    (f.get(12..14)? == [8, 0] && *f.get(23)? == 2).then_some(())?;
    let ihl = usize::from(*f.get(14)? & 0xf) * 4;
    let total = usize::from(u16::from_be_bytes([*f.get(16)?, *f.get(17)?]));
    let igmp = f.get(14 + ihl..14 + total)?;
    (*igmp.first()? == 0x11 && igmp.len() >= 12 && igmp.get(4..8)? == [0; 4]).then_some(())?;
    assert_eq!(checksum(igmp, 0), 0, "IGMP checksum");
    assert_eq!(checksum(f.get(14..14 + ihl)?, 0), 0, "IPv4 header checksum");
    assert_eq!(f.get(30..34)?, [224, 0, 0, 1], "to all hosts");
    let src = Ipv4Addr::new(f[26], f[27], f[28], f[29]);
    Some((f[6..12].try_into().ok()?, f[0..6].try_into().ok()?, src, f[22], igmp[1], igmp[9]))
}

/// An MLD general query in `f`, after a hop-by-hop header with router alert (maximum
/// response delay in milliseconds).
fn mld_query(f: &[u8]) -> Option<Query<Ipv6Addr, u16>> {
    (f.get(12..14)? == [0x86, 0xdd] && *f.get(20)? == 0).then_some(())?;
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(f.get(22..38)?).ok()?);
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(f.get(38..54)?).ok()?);
    let hbh = f.get(54..62)?;
    (hbh[0] == 58 && hbh[2..4] == [5, 2]).then_some(())?;
    let mld = f.get(62..90)?;
    (mld[0] == 130 && mld[8..24] == [0; 16]).then_some(())?;
    assert_eq!(dst, "ff02::1".parse::<Ipv6Addr>().unwrap(), "to all nodes");
    assert_eq!(icmp6_or_udp6_checksum(src, dst, 58, mld), 0, "MLD checksum");
    let mrd = u16::from_be_bytes([mld[4], mld[5]]);
    Some((f[6..12].try_into().ok()?, f[0..6].try_into().ok()?, src, f[21], mrd, mld[25]))
}

/// sw0 snoops with a querier (source 00:00:00:00:00:fe, 10.0.0.254, fe80::fe; interval 1 s;
/// max response 2 s): every port gets IGMPv3 and MLD general queries, again and again.
fn mcast_querier(c: Controller) {
    let sb = Sandbox::with_controller(c);
    sb.wait_chassis_registered();
    sb.nbctl(["ls-add", "sw0"]);
    for oc in [
        "mcast_snoop=true",
        "mcast_querier=true",
        "mcast_eth_src=\"00:00:00:00:00:fe\"",
        "mcast_ip4_src=\"10.0.0.254\"",
        "mcast_ip6_src=\"fe80::fe\"",
        "mcast_query_interval=1",
        "mcast_query_max_response=2",
    ] {
        sb.nbctl(["set", "Logical_Switch", "sw0", &format!("other_config:{oc}")]);
    }
    topo::add_ports(&sb, &[("sw0", "lp1", LP1, "10.0.0.2"), ("sw0", "lp2", "00:00:00:00:00:02", "10.0.0.3")]);
    topo::bind_and_sync(&sb, &[("vif-lp1", "lp1"), ("vif-lp2", "lp2")]);
    let querier = mac("00:00:00:00:00:fe");
    let net = Net::new(&sb, &["vif-lp1", "vif-lp2"]);
    for vif in ["vif-lp1", "vif-lp2"] {
        let q = wait_for(TIMEOUT, "two IGMP general queries", || {
            let qs: Vec<_> = net.new_frames(vif).iter().filter_map(|f| igmp_query(f)).collect();
            (qs.len() >= 2).then(|| qs[0])
        });
        assert_eq!(q, (querier, [1, 0, 0x5e, 0, 0, 1], Ipv4Addr::new(10, 0, 0, 254), 1, 20, 20), "{vif}");
        let m = wait_for(TIMEOUT, "two MLD general queries", || {
            let qs: Vec<_> = net.new_frames(vif).iter().filter_map(|f| mld_query(f)).collect();
            (qs.len() >= 2).then(|| qs[0])
        });
        assert_eq!(m, (querier, [0x33, 0x33, 0, 0, 0, 0], "fe80::fe".parse().unwrap(), 1, 2000, 2), "{vif}");
    }
}

// ---- debug/dump-mac-bindings (chassisd only) ----------------------------------------------------

/// `debug/dump-mac-bindings` lists the MAC bindings pinctrl knows: a learnt one (after it
/// reached the Southbound database) and one inserted into the Southbound database directly.
#[test]
fn dump_mac_bindings_lists_learnt_and_southbound_bindings() {
    require_ovn!();
    let sb = topology(Controller::Chassisd, &[]);
    let net = Net::new(&sb, &["vif-lp4"]);
    net.send("vif-lp1", &Ip4::udp(LP1, R_SW0, "10.0.0.2", "10.0.1.50", 1000, 2000, "x").to_bytes());
    net.wait_for("vif-lp4", "ARP request", |f| Arp::parse(f).filter(|a| a.op == 1));
    net.send("vif-lp4", &arp_reply(sent_mac(HOST), [10, 0, 1, 50].into(), sent_mac(R_SW1), [10, 0, 1, 1].into()));
    let dp = sb.sbctl(["--bare", "--columns=_uuid", "find", "Datapath_Binding", "external_ids:name=lr0"]);
    sb.sbctl([
        "create",
        "MAC_Binding",
        "logical_port=lr0-sw1",
        "ip=10.0.1.60",
        "mac=\"00:00:00:00:00:60\"",
        &format!("datapath={}", dp.trim()),
    ]);
    let dump = wait_for(TIMEOUT, "both bindings in debug/dump-mac-bindings", || {
        let d = sb.ovn_appctl(["debug/dump-mac-bindings"]);
        (d.contains("10.0.1.50") && d.contains("10.0.1.60")).then_some(d)
    });
    let lines: Vec<&str> = dump.lines().filter(|l| l.contains("10.0.1.")).collect();
    assert_eq!(lines.len(), 2, "{dump}");
    assert!(lines[0].contains("lr0-sw1") && lines[0].contains("ip: 10.0.1.50") && lines[0].contains(HOST), "{dump}");
    assert!(lines[1].contains("ip: 10.0.1.60") && lines[1].contains("00:00:00:00:00:60"), "{dump}");
    // Stable: the same order again, once the learnt binding is committed (its source then
    // changes from "learnt, pending" to the Southbound row's).
    let settled = wait_for(TIMEOUT, "the learnt binding committed", || {
        let d = sb.ovn_appctl(["debug/dump-mac-bindings"]);
        (!d.contains("pending") && d.contains("10.0.1.50") && d.contains("10.0.1.60")).then_some(d)
    });
    assert_eq!(sb.ovn_appctl(["debug/dump-mac-bindings"]), settled);
    assert!(sb.ovn_appctl(["list-commands"]).contains("debug/dump-mac-bindings"));
}
