//! pinctrl end to end, with real northd and ovs-vswitchd (dummy datapath): DHCPv4 discover →
//! offer and request → ack with the configured options, a router resolving an unknown next
//! hop (ARP request out, the reply learned into MAC_Binding), and reject ACLs (ICMP port
//! unreachable, TCP reset). Every scenario runs against the real ovn-controller (proving the
//! test) and against chassisd.
//!
//! chassisd's variants need the logical flows; until flowctl installs them (the translator),
//! they report SKIPPED instead of failing, and run as soon as logical flows appear on br-int.
//!
//! Packets are built and read by hand here (IPv4/UDP and Ethernet from the harness's `packet`
//! and `packets` modules): the layouts are the plain RFC ones.

use std::net::Ipv4Addr;
use std::time::Duration;

use chassisd_tests::packet::{arp_reply, ipv4, ipv4_udp, mac, to_hex, transport_checksum};
use chassisd_tests::packets::eth_frame;
use chassisd_tests::{topo, wait_for, wait_until, Controller, Sandbox};

const TIMEOUT: Duration = Duration::from_secs(15);

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        $(mod $name {
            #[test]
            fn ovn_controller() {
                chassisd_tests::require_ovn!();
                super::$name(chassisd_tests::Controller::OvnController);
            }
            #[test]
            fn chassisd() {
                chassisd_tests::require_ovn!();
                super::$name(chassisd_tests::Controller::Chassisd);
            }
        })*
    };
}

scenarios!(
    dhcpv4_discover_offer_request_ack,
    router_arp_resolves_and_learns_mac_binding,
    reject_acl_icmp_and_tcp_reset
);

// ---- packets ------------------------------------------------------------------------------

fn tcp_syn(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, seq: u32) -> Vec<u8> {
    let mut t = sport.to_be_bytes().to_vec();
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 0, 0x50, 0x02, 0x10, 0, 0, 0, 0, 0]);
    let c = transport_checksum(src, dst, 6, &t);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    ipv4(src, dst, 6, &t)
}

/// A DHCP client message (op 1) with message type `ty` and, if given, option 50.
fn dhcp_client(chaddr: [u8; 6], xid: u32, ty: u8, requested: Option<Ipv4Addr>) -> Vec<u8> {
    let mut d = vec![1, 1, 6, 0];
    d.extend_from_slice(&xid.to_be_bytes());
    d.extend_from_slice(&[0; 4]); // secs, flags
    d.extend_from_slice(&[0; 16]); // ciaddr, yiaddr, siaddr, giaddr
    d.extend_from_slice(&chaddr);
    d.extend_from_slice(&[0; 10 + 64 + 128]);
    d.extend_from_slice(&[99, 130, 83, 99, 53, 1, ty]);
    if let Some(ip) = requested {
        d.extend_from_slice(&[50, 4]);
        d.extend_from_slice(&ip.octets());
    }
    d.extend_from_slice(&[55, 4, 1, 3, 6, 15, 255]);
    let ip = ipv4_udp(Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST, 68, 67, &d);
    eth_frame([0xff; 6], chaddr, 0x0800, &ip)
}

/// A DHCP server reply in `frame`: (message type, yiaddr, options).
/// DHCP options as (code, value).
type Options = Vec<(u8, Vec<u8>)>;

fn dhcp_reply(frame: &[u8]) -> Option<(u8, Ipv4Addr, Options)> {
    if frame.get(12..14)? != [8, 0] || *frame.get(23)? != 17 {
        return None;
    }
    let ihl = usize::from(frame.get(14)? & 0x0f) * 4;
    let u = frame.get(14 + ihl..)?;
    if u.get(0..4)? != [0, 67, 0, 68] {
        return None;
    }
    let d = u.get(8..)?;
    if *d.first()? != 2 || d.get(236..240)? != [99, 130, 83, 99] {
        return None;
    }
    let yiaddr = Ipv4Addr::new(d[16], d[17], d[18], d[19]);
    let mut opts = Vec::new();
    let mut r = d.get(240..)?;
    let mut ty = 0;
    while let [code, rest @ ..] = r {
        match code {
            0 => r = rest,
            255 => break,
            c => {
                let (len, rest) = rest.split_first()?;
                let v = rest.get(..usize::from(*len))?;
                if *c == 53 {
                    ty = *v.first()?;
                }
                opts.push((*c, v.to_vec()));
                r = rest.get(usize::from(*len)..)?;
            }
        }
    }
    Some((ty, yiaddr, opts))
}

// ---- helpers ------------------------------------------------------------------------------

/// Returns false (and says SKIPPED) when `c` is chassisd and it has no logical flows yet.
fn flows_ready(sb: &Sandbox, c: Controller) -> bool {
    if c == Controller::Chassisd && !sb.has_logical_flows() {
        eprintln!("SKIPPED: chassisd installs no logical flows yet; this scenario needs them");
        return false;
    }
    true
}

fn wait_new_tx<T>(sb: &Sandbox, port: &str, skip: usize, what: &str, f: impl Fn(&[u8]) -> Option<T>) -> T {
    wait_for(TIMEOUT, format!("{port}: {what}"), || sb.tx_packets(port).iter().skip(skip).find_map(|r| f(&r.data)))
}

fn opt(opts: &[(u8, Vec<u8>)], code: u8) -> Option<&[u8]> {
    opts.iter().find(|(c, _)| *c == code).map(|(_, v)| v.as_slice())
}

// ---- scenarios ----------------------------------------------------------------------------

fn dhcpv4_discover_offer_request_ack(c: Controller) {
    let sb = Sandbox::builder().infra().controller(c).start();
    sb.wait_chassis_registered();
    let vm = mac("50:54:00:00:00:01");
    sb.nbctl(["ls-add", "sw0"]);
    sb.nbctl(["lsp-add", "sw0", "lp1", "--", "lsp-set-addresses", "lp1", "50:54:00:00:00:01 10.0.0.5"]);
    topo::dhcpv4_options(
        &sb,
        "lp1",
        "10.0.0.0/24",
        &[
            "lease_time=3600",
            "router=10.0.0.1",
            "server_id=10.0.0.1",
            "server_mac=c0:ff:ee:00:00:01",
            "dns_server={8.8.8.8,8.8.4.4}",
            "mtu=1400",
            "domain_name=\"ovn.org\"",
            "classless_static_route={30.0.0.0/24,10.0.0.10, 0.0.0.0/0,10.0.0.1}",
        ],
    );
    topo::bind_and_sync(&sb, &[("vif1", "lp1")]);
    if !flows_ready(&sb, c) {
        return;
    }

    let before = sb.tx_packets("vif1").len();
    sb.inject("vif1", &to_hex(&dhcp_client(vm, 0x1111, 1, None)));
    let (ty, yiaddr, opts) = wait_new_tx(&sb, "vif1", before, "DHCPOFFER", dhcp_reply);
    assert_eq!(ty, 2, "DHCPOFFER");
    assert_eq!(yiaddr, Ipv4Addr::new(10, 0, 0, 5));
    assert_eq!(opt(&opts, 1), Some(&[255, 255, 255, 0][..]), "netmask");
    assert_eq!(opt(&opts, 3), Some(&[10, 0, 0, 1][..]), "router");
    assert_eq!(opt(&opts, 54), Some(&[10, 0, 0, 1][..]), "server_id");
    assert_eq!(opt(&opts, 51), Some(&3600u32.to_be_bytes()[..]), "lease_time");
    assert_eq!(opt(&opts, 6), Some(&[8, 8, 8, 8, 8, 8, 4, 4][..]), "dns");
    assert_eq!(opt(&opts, 26), Some(&1400u16.to_be_bytes()[..]), "mtu");
    assert_eq!(opt(&opts, 15), Some(&b"ovn.org"[..]), "domain");
    assert_eq!(opt(&opts, 121), Some(&[24, 30, 0, 0, 10, 0, 0, 10, 0, 10, 0, 0, 1][..]), "routes");

    let before = sb.tx_packets("vif1").len();
    sb.inject("vif1", &to_hex(&dhcp_client(vm, 0x2222, 3, Some([10, 0, 0, 5].into()))));
    let (ty, yiaddr, _) = wait_new_tx(&sb, "vif1", before, "DHCPACK", dhcp_reply);
    assert_eq!((ty, yiaddr), (5, Ipv4Addr::new(10, 0, 0, 5)), "DHCPACK");

    let before = sb.tx_packets("vif1").len();
    sb.inject("vif1", &to_hex(&dhcp_client(vm, 0x3333, 3, Some([10, 0, 0, 99].into()))));
    let (ty, yiaddr, _) = wait_new_tx(&sb, "vif1", before, "DHCPNAK", dhcp_reply);
    assert_eq!((ty, yiaddr), (6, Ipv4Addr::UNSPECIFIED), "DHCPNAK");
}

fn router_arp_resolves_and_learns_mac_binding(c: Controller) {
    let sb = Sandbox::builder().infra().controller(c).start();
    sb.wait_chassis_registered();
    let (vm1, vm2) = (mac("50:54:00:00:00:01"), mac("50:54:00:00:00:02"));
    let (lrp0_mac, lrp1_mac) = (mac("00:00:00:00:ff:01"), mac("00:00:00:00:ff:02"));
    sb.nbctl(["ls-add", "sw0"]);
    sb.nbctl(["ls-add", "sw1"]);
    sb.nbctl(["lr-add", "lr0"]);
    sb.nbctl(["lrp-add", "lr0", "lrp0", "00:00:00:00:ff:01", "10.0.0.1/24"]);
    sb.nbctl(["lrp-add", "lr0", "lrp1", "00:00:00:00:ff:02", "20.0.0.1/24"]);
    for (sw, lrp) in [("sw0", "lrp0"), ("sw1", "lrp1")] {
        topo::router_port(&sb, sw, &format!("{sw}-{lrp}"), lrp);
    }
    sb.nbctl(["lsp-add", "sw0", "lp1", "--", "lsp-set-addresses", "lp1", "50:54:00:00:00:01 10.0.0.5"]);
    // The next hop is unknown to OVN: the router must ARP for it.
    sb.nbctl(["lsp-add", "sw1", "lp2", "--", "lsp-set-addresses", "lp2", "unknown"]);
    topo::bind_and_sync(&sb, &[("vif1", "lp1"), ("vif2", "lp2")]);
    if !flows_ready(&sb, c) {
        return;
    }

    let (src, dst) = (Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(20, 0, 0, 7));
    let ping = eth_frame(lrp0_mac, vm1, 0x0800, &ipv4_udp(src, dst, 1000, 2000, b"hello"));
    // arp{}: the router asks for 20.0.0.7 from lrp1.
    sb.inject_until("vif1", &ping, "vif2", "ARP request for 20.0.0.7", |f| {
        (f.get(12..14)? == [8, 6]
            && f.get(20..22)? == [0, 1]
            && f.get(22..28)? == lrp1_mac
            && f.get(28..32)? == [20, 0, 0, 1]
            && f.get(38..42)? == [20, 0, 0, 7])
        .then_some(())
    });
    // put_arp: the reply is learned.
    let reply = arp_reply(vm2, [20, 0, 0, 7].into(), lrp1_mac, [20, 0, 0, 1].into());
    sb.inject("vif2", &to_hex(&reply));
    wait_until(TIMEOUT, "MAC_Binding lrp1 20.0.0.7", || {
        sb.try_sbctl(["--bare", "--columns=mac", "find", "MAC_Binding", "logical_port=lrp1", "ip=20.0.0.7"])
            .is_ok_and(|s| s.trim() == "50:54:00:00:00:02")
    });
    // Then the router forwards to the learned MAC.
    sb.inject_until("vif1", &ping, "vif2", "the UDP packet, routed", |f| {
        (f.get(0..6)? == vm2 && f.get(12..14)? == [8, 0] && f.get(30..34)? == [20, 0, 0, 7]).then_some(())
    });
}

fn reject_acl_icmp_and_tcp_reset(c: Controller) {
    let sb = Sandbox::builder().infra().controller(c).start();
    sb.wait_chassis_registered();
    let (vm1, vm2) = (mac("50:54:00:00:00:01"), mac("50:54:00:00:00:02"));
    sb.nbctl(["ls-add", "sw0"]);
    sb.nbctl(["lsp-add", "sw0", "lp1", "--", "lsp-set-addresses", "lp1", "50:54:00:00:00:01 10.0.0.5"]);
    sb.nbctl(["lsp-add", "sw0", "lp2", "--", "lsp-set-addresses", "lp2", "50:54:00:00:00:02 10.0.0.6"]);
    sb.nbctl(["acl-add", "sw0", "from-lport", "1000", "inport == \"lp1\" && (udp || tcp)", "reject"]);
    topo::bind_and_sync(&sb, &[("vif1", "lp1"), ("vif2", "lp2")]);
    if !flows_ready(&sb, c) {
        return;
    }
    let (a, b) = (Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(10, 0, 0, 6));

    let before = sb.tx_packets("vif1").len();
    let u = eth_frame(vm2, vm1, 0x0800, &ipv4_udp(a, b, 1000, 2000, b"hello"));
    sb.inject("vif1", &to_hex(&u));
    wait_new_tx(&sb, "vif1", before, "ICMP port unreachable", |f| {
        (f.get(0..6)? == vm1
            && f.get(12..14)? == [8, 0]
            && *f.get(23)? == 1
            && f.get(26..30)? == [10, 0, 0, 6]
            && f.get(30..34)? == [10, 0, 0, 5]
            && f.get(34..36)? == [3, 3])
        .then_some(())
    });

    let before = sb.tx_packets("vif1").len();
    let t = eth_frame(vm2, vm1, 0x0800, &tcp_syn(a, b, 7777, 80, 1000));
    sb.inject("vif1", &to_hex(&t));
    wait_new_tx(&sb, "vif1", before, "TCP RST", |f| {
        (f.get(0..6)? == vm1
            && *f.get(23)? == 6
            && f.get(34..36)? == [0, 80]
            && f.get(36..38)? == 7777u16.to_be_bytes()
            && f.get(42..46)? == 1001u32.to_be_bytes()
            && *f.get(47)? & 0x04 != 0)
            .then_some(())
    });
    assert!(sb.tx_packets("vif2").iter().all(|r| r.data.get(12..14) != Some(&[8, 0])), "nothing reached lp2");
}

/// pinctrl's own OpenFlow connection, without logical flows: a controller() flow added by
/// hand reaches pinctrl (so its miss_send_len is set and NXT_PACKET_IN2 negotiated), is
/// decoded and counted per opcode, and the put_fdb intent reaches the Southbound database.
#[test]
fn chassisd_pinctrl_receives_packet_ins_on_its_own_connection() {
    chassisd_tests::require_ovn!();
    let sb = Sandbox::builder().infra().controller(Controller::Chassisd).start();
    sb.wait_chassis_registered();
    sb.nbctl(["ls-add", "sw0"]);
    sb.nbctl(["lsp-add", "sw0", "lp1", "--", "lsp-set-addresses", "lp1", "50:54:00:00:00:01 10.0.0.5"]);
    topo::bind_and_sync(&sb, &[("vif1", "lp1")]);
    wait_until(TIMEOUT, "pinctrl connected to br-int", || {
        sb.ovn_appctl(["pinctrl/status"]).contains("openflow connection: connected")
    });
    let dp = sb.sbctl(["get", "Datapath_Binding", "sw0", "tunnel_key"]).trim().to_string();
    let port = sb.sbctl(["get", "Port_Binding", "lp1", "tunnel_key"]).trim().to_string();
    // put_fdb (opcode 25) with this datapath and inport, as the logical flows would send it.
    sb.ofctl([
        "add-flow",
        "br-int",
        &format!(
            "table=0,priority=65535,udp,tp_dst=9999,actions=load:{dp}->OXM_OF_METADATA[],load:{port}->NXM_NX_REG14[],\
             controller(userdata=00.00.00.19.00.00.00.00)"
        ),
    ]);
    let vm = mac("50:54:00:00:00:01");
    let frame = eth_frame(
        [0x50, 0x54, 0, 0, 0, 9],
        vm,
        0x0800,
        &ipv4_udp([10, 0, 0, 5].into(), [10, 0, 0, 9].into(), 1, 9999, b"x"),
    );
    sb.inject("vif1", &to_hex(&frame));
    wait_until(TIMEOUT, "pinctrl counted the packet-in", || {
        sb.ovn_appctl(["pinctrl/status"]).contains("PutFdb: 1 1 0 0")
    });
    wait_until(TIMEOUT, "FDB row", || {
        sb.try_sbctl(["--bare", "--columns=port_key", "find", "FDB", "mac=\"50:54:00:00:00:01\""])
            .is_ok_and(|s| s.trim() == port)
    });
    // Garbage userdata is counted, not fatal.
    sb.ofctl(["add-flow", "br-int", "table=0,priority=65535,udp,tp_dst=9998,actions=controller(userdata=00.00.00.63)"]);
    let bad = eth_frame(
        [0x50, 0x54, 0, 0, 0, 9],
        vm,
        0x0800,
        &ipv4_udp([10, 0, 0, 5].into(), [10, 0, 0, 9].into(), 1, 9998, b"x"),
    );
    sb.inject("vif1", &to_hex(&bad));
    wait_until(TIMEOUT, "bad userdata counted", || sb.ovn_appctl(["pinctrl/status"]).contains("bad userdata: 1"));
    assert!(sb.ovn_appctl(["pinctrl/status"]).contains("openflow connection: connected"));
}
