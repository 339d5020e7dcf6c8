//! pinctrl end to end, second part, with real northd and ovs-vswitchd (dummy datapath): DNS
//! query → answer, DHCPv6 solicit → advertise (and information-request → reply), router
//! solicitation → router advertisement, periodic router advertisements. Every scenario
//! runs against the real ovn-controller (proving the test) and against chassisd.
//!
//! Packets are built and read by hand here (IPv4/UDP and Ethernet from the harness's `packet`
//! and `packets` modules): the layouts are the plain RFC ones.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use chassisd_tests::packet::{checksum, ipv4_udp, mac};
use chassisd_tests::packets::eth_frame;
use chassisd_tests::{both_controllers, topo, try_wait_for, Controller, Sandbox};

both_controllers!(
    dns_query_answer,
    dhcpv6_solicit_advertise,
    router_solicitation_advertisement,
    periodic_router_advertisements
);

// ---- packets ------------------------------------------------------------------------------

/// An IPv6 packet with `proto` and `l4` (whose checksum at `csum_ofs` is filled in).
fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, proto: u8, hlim: u8, mut l4: Vec<u8>, csum_ofs: usize) -> Vec<u8> {
    let mut p = src.octets().to_vec();
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&(l4.len() as u32).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, proto]);
    p.extend_from_slice(&l4);
    let c = checksum(&p, 0);
    l4[csum_ofs..csum_ofs + 2].copy_from_slice(&c.to_be_bytes());
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    h.extend_from_slice(&[proto, hlim]);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    h.extend_from_slice(&l4);
    h
}

fn ipv6_udp(src: Ipv6Addr, dst: Ipv6Addr, sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut u = sport.to_be_bytes().to_vec();
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(data);
    ipv6(src, dst, 17, 64, u, 6)
}

/// A link-local address from a MAC (EUI-64).
fn lla(m: [u8; 6]) -> Ipv6Addr {
    Ipv6Addr::from([0xfe, 0x80, 0, 0, 0, 0, 0, 0, m[0] ^ 2, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]])
}

/// The UDP payload of an IPv4 or IPv6 `frame` from port `sport`, if it is one.
fn udp_payload(frame: &[u8], sport: u16) -> Option<&[u8]> {
    let (l4, proto) = match frame.get(12..14)? {
        [8, 0] => (14 + usize::from(frame.get(14)? & 0x0f) * 4, *frame.get(23)?),
        [0x86, 0xdd] => (54, *frame.get(20)?),
        _ => return None,
    };
    if proto != 17 || frame.get(l4..l4 + 2)? != sport.to_be_bytes() {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([*frame.get(l4 + 4)?, *frame.get(l4 + 5)?]));
    frame.get(l4 + 8..l4 + len)
}

fn switch_with_vm(sb: &Sandbox, lsp_addresses: &str) {
    sb.wait_chassis_registered();
    sb.nbctl(["ls-add", "sw0"]);
    sb.nbctl(["lsp-add", "sw0", "lp1", "--", "lsp-set-addresses", "lp1", lsp_addresses]);
}

fn bind_vm(sb: &Sandbox) {
    topo::bind_and_sync(sb, &[("vif1", "lp1")]);
}

// ---- DNS ----------------------------------------------------------------------------------

/// A DNS query (id, RD) for `name` of `qtype`.
fn dns_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut d = id.to_be_bytes().to_vec();
    d.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        d.push(label.len() as u8);
        d.extend_from_slice(label.as_bytes());
    }
    d.extend_from_slice(&[0]);
    d.extend_from_slice(&qtype.to_be_bytes());
    d.extend_from_slice(&[0, 1]);
    d
}

/// Resource records as (type, rdata).
type Answers = Vec<(u16, Vec<u8>)>;

/// A DNS response's id and answers.
fn dns_answers(d: &[u8]) -> Option<(u16, Answers)> {
    let id = u16::from_be_bytes([*d.first()?, *d.get(1)?]);
    if d.get(2)? & 0x80 == 0 {
        return None;
    }
    let (qd, an) = (u16::from_be_bytes([d[4], d[5]]), u16::from_be_bytes([*d.get(6)?, *d.get(7)?]));
    let mut i = 12;
    let skip_name = |mut i: usize| -> Option<usize> {
        loop {
            let l = *d.get(i)?;
            if l & 0xc0 == 0xc0 {
                return Some(i + 2);
            }
            i += 1 + usize::from(l);
            if l == 0 {
                return Some(i);
            }
        }
    };
    for _ in 0..qd {
        i = skip_name(i)? + 4;
    }
    let mut out = Vec::new();
    for _ in 0..an {
        i = skip_name(i)?;
        let ty = u16::from_be_bytes([*d.get(i)?, *d.get(i + 1)?]);
        let len = usize::from(u16::from_be_bytes([*d.get(i + 8)?, *d.get(i + 9)?]));
        out.push((ty, d.get(i + 10..i + 10 + len)?.to_vec()));
        i += 10 + len;
    }
    Some((id, out))
}

fn dns_query_answer(c: Controller) {
    let sb = Sandbox::builder().infra().controller(c).start();
    switch_with_vm(&sb, "50:54:00:00:00:01 10.0.0.5 aef0::5");
    let dns = sb
        .nbctl([
            "create",
            "DNS",
            "records={vm1.ovn.org=\"10.0.0.6 aef0::6\", \"6.0.0.10.in-addr.arpa\"=\"vm1.ovn.org\"}",
        ])
        .trim()
        .to_string();
    sb.nbctl(["add", "Logical_Switch", "sw0", "dns_records", &dns]);
    bind_vm(&sb);
    let vm = mac("50:54:00:00:00:01");
    let gw = mac("50:54:00:00:00:09");
    let (src, dst) = (Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(10, 0, 0, 1));

    let q = eth_frame(gw, vm, 0x0800, &ipv4_udp(src, dst, 33333, 53, &dns_query(0x1234, "VM1.ovn.org", 1)));
    let (id, answers) = sb.inject_until("vif1", &q, "vif1", "DNS answer (A)", |f| {
        (f.get(0..6)? == vm).then_some(())?;
        dns_answers(udp_payload(f, 53)?)
    });
    assert_eq!(id, 0x1234);
    assert_eq!(answers, vec![(1, vec![10, 0, 0, 6])]);

    let q = eth_frame(gw, vm, 0x0800, &ipv4_udp(src, dst, 33334, 53, &dns_query(0x2345, "vm1.ovn.org", 28)));
    let (_, answers) = sb.inject_until("vif1", &q, "vif1", "DNS answer (AAAA)", |f| dns_answers(udp_payload(f, 53)?));
    assert_eq!(answers, vec![(28, "aef0::6".parse::<Ipv6Addr>().unwrap().octets().to_vec())]);

    let q = eth_frame(gw, vm, 0x0800, &ipv4_udp(src, dst, 33335, 53, &dns_query(0x3456, "6.0.0.10.in-addr.arpa", 12)));
    let (_, answers) = sb.inject_until("vif1", &q, "vif1", "DNS answer (PTR)", |f| dns_answers(udp_payload(f, 53)?));
    assert_eq!(answers, vec![(12, b"\x03vm1\x03ovn\x03org\x00".to_vec())]);

    // Over IPv6 too.
    let (s6, d6): (Ipv6Addr, Ipv6Addr) = ("aef0::5".parse().unwrap(), "aef0::1".parse().unwrap());
    let q = eth_frame(gw, vm, 0x86dd, &ipv6_udp(s6, d6, 33336, 53, &dns_query(0x4567, "vm1.ovn.org", 1)));
    let (id, answers) =
        sb.inject_until("vif1", &q, "vif1", "DNS answer over IPv6", |f| dns_answers(udp_payload(f, 53)?));
    assert_eq!((id, answers), (0x4567, vec![(1, vec![10, 0, 0, 6])]));
}

// ---- DHCPv6 -------------------------------------------------------------------------------

/// A DHCPv6 client message of type `ty` (client id DUID-LL of `m`, IA_NA `iaid` if given).
fn dhcpv6_client(m: [u8; 6], ty: u8, xid: [u8; 3], iaid: Option<u32>) -> Vec<u8> {
    let mut d = vec![ty];
    d.extend_from_slice(&xid);
    d.extend_from_slice(&[0, 1, 0, 10, 0, 3, 0, 1]);
    d.extend_from_slice(&m);
    if let Some(iaid) = iaid {
        d.extend_from_slice(&[0, 3, 0, 12]);
        d.extend_from_slice(&iaid.to_be_bytes());
        d.extend_from_slice(&[0; 8]);
    }
    d.extend_from_slice(&[0, 8, 0, 2, 0, 0]);
    let ip = ipv6_udp(lla(m), "ff02::1:2".parse().unwrap(), 546, 547, &d);
    eth_frame([0x33, 0x33, 0, 1, 0, 2], m, 0x86dd, &ip)
}

/// DHCPv6 options as (code, value).
type Options6 = Vec<(u16, Vec<u8>)>;

/// A DHCPv6 server message in `frame`: (type, xid, options).
fn dhcpv6_server(frame: &[u8]) -> Option<(u8, [u8; 3], Options6)> {
    let d = udp_payload(frame, 547)?;
    let ty = *d.first()?;
    let xid = [*d.get(1)?, *d.get(2)?, *d.get(3)?];
    let mut opts = Vec::new();
    let mut r = d.get(4..)?;
    while !r.is_empty() {
        let code = u16::from_be_bytes([*r.first()?, *r.get(1)?]);
        let len = usize::from(u16::from_be_bytes([*r.get(2)?, *r.get(3)?]));
        opts.push((code, r.get(4..4 + len)?.to_vec()));
        r = r.get(4 + len..)?;
    }
    Some((ty, xid, opts))
}

fn opt6(opts: &[(u16, Vec<u8>)], code: u16) -> Option<&[u8]> {
    opts.iter().find(|(c, _)| *c == code).map(|(_, v)| v.as_slice())
}

fn dhcpv6_solicit_advertise(c: Controller) {
    let sb = Sandbox::builder().infra().controller(c).start();
    switch_with_vm(&sb, "50:54:00:00:00:01 aef0::5");
    sb.nbctl(["lsp-add", "sw0", "lp2", "--", "lsp-set-addresses", "lp2", "50:54:00:00:00:02 aef0::6"]);
    let stateful = sb.nbctl(["create", "DHCP_Options", "cidr=\"aef0::/64\""]).trim().to_string();
    sb.nbctl([
        "dhcp-options-set-options",
        &stateful,
        "server_id=00:00:00:10:00:01",
        "dns_server={aef0::1}",
        "domain_search=\"ovn.org\"",
    ]);
    let stateless = sb.nbctl(["create", "DHCP_Options", "cidr=\"aef0::/64\""]).trim().to_string();
    sb.nbctl([
        "dhcp-options-set-options",
        &stateless,
        "server_id=00:00:00:10:00:01",
        "dhcpv6_stateless=true",
        "dns_server={aef0::1}",
    ]);
    sb.nbctl(["lsp-set-dhcpv6-options", "lp1", &stateful]);
    sb.nbctl(["lsp-set-dhcpv6-options", "lp2", &stateless]);
    sb.add_vif("vif2", "lp2");
    bind_vm(&sb);
    sb.wait_port_up("lp2");
    sb.ovn_nbctl_wait_hv_sync();
    let vm = mac("50:54:00:00:00:01");
    let server_duid = [0, 3, 0, 1, 0, 0, 0, 0x10, 0, 1];
    let client_duid = [0, 3, 0, 1, 0x50, 0x54, 0, 0, 0, 1];

    let solicit = dhcpv6_client(vm, 1, [1, 2, 3], Some(0x0a0b_0c0d));
    let (ty, xid, opts) = sb.inject_until("vif1", &solicit, "vif1", "DHCPv6 ADVERTISE", |f| {
        (f.get(0..6)? == vm).then_some(())?;
        dhcpv6_server(f)
    });
    assert_eq!((ty, xid), (2, [1, 2, 3]), "ADVERTISE");
    assert_eq!(opt6(&opts, 1), Some(&client_duid[..]), "client id");
    assert_eq!(opt6(&opts, 2), Some(&server_duid[..]), "server id");
    let ia = opt6(&opts, 3).expect("IA_NA");
    assert_eq!(&ia[..4], &0x0a0b_0c0du32.to_be_bytes());
    assert_eq!(&ia[12..16], &[0, 5, 0, 24], "IA address option");
    assert_eq!(&ia[16..32], &"aef0::5".parse::<Ipv6Addr>().unwrap().octets());
    assert_eq!(opt6(&opts, 23), Some(&"aef0::1".parse::<Ipv6Addr>().unwrap().octets()[..]), "dns");
    assert!(opt6(&opts, 24).is_some(), "domain search");

    let request = dhcpv6_client(vm, 3, [4, 5, 6], Some(0x0a0b_0c0d));
    let (ty, xid, opts) =
        sb.inject_until("vif1", &request, "vif1", "DHCPv6 REPLY", |f| dhcpv6_server(f).filter(|r| r.1 == [4, 5, 6]));
    assert_eq!((ty, xid), (7, [4, 5, 6]), "REPLY");
    assert!(opt6(&opts, 3).is_some());

    // Stateless: an INFORMATION-REQUEST gets a REPLY without an address.
    let vm2 = mac("50:54:00:00:00:02");
    let info = dhcpv6_client(vm2, 11, [7, 8, 9], None);
    let (ty, _, opts) = sb.inject_until("vif2", &info, "vif2", "DHCPv6 REPLY (stateless)", |f| {
        dhcpv6_server(f).filter(|r| r.1 == [7, 8, 9])
    });
    assert_eq!(ty, 7);
    assert!(opt6(&opts, 3).is_none(), "no IA_NA when stateless");
    assert!(opt6(&opts, 23).is_some());
}

// ---- router advertisements -------------------------------------------------------------

/// A router with lrp0 (aef0::1/64, SLAAC RAs) on sw0, where lp1 is the VM.
fn router_with_ras(sb: &Sandbox, periodic: bool) {
    switch_with_vm(sb, "50:54:00:00:00:01 aef0::5");
    sb.nbctl(["lr-add", "lr0"]);
    sb.nbctl(["lrp-add", "lr0", "lrp0", "00:00:00:00:ff:01", "aef0::1/64"]);
    let mut cfg =
        vec!["set", "Logical_Router_Port", "lrp0", "ipv6_ra_configs:address_mode=slaac", "ipv6_ra_configs:mtu=1400"];
    if periodic {
        cfg.extend([
            "ipv6_ra_configs:send_periodic=true",
            "ipv6_ra_configs:max_interval=4",
            "ipv6_ra_configs:min_interval=3",
        ]);
    }
    sb.nbctl(cfg);
    topo::router_port(sb, "sw0", "sw0-lrp0", "lrp0");
    bind_vm(sb);
}

/// A router advertisement in `frame`: (source MAC, ICMPv6 message).
fn router_advert(frame: &[u8]) -> Option<([u8; 6], Vec<u8>)> {
    (frame.get(12..14)? == [0x86, 0xdd] && *frame.get(20)? == 58 && *frame.get(54)? == 134).then_some(())?;
    let src: [u8; 6] = frame.get(6..12)?.try_into().ok()?;
    Some((src, frame.get(54..)?.to_vec()))
}

/// The ND options of an RA as (type, body after type and length).
fn ra_options(icmp: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut r = icmp.get(16..).unwrap_or_default();
    while let [ty, len, ..] = r {
        let n = usize::from(*len) * 8;
        if n == 0 || n > r.len() {
            break;
        }
        out.push((*ty, r[2..n].to_vec()));
        r = &r[n..];
    }
    out
}

fn check_ra(icmp: &[u8]) {
    let opts = ra_options(icmp);
    let lrp0 = mac("00:00:00:00:ff:01");
    assert!(opts.iter().any(|(t, b)| *t == 1 && b[..] == lrp0), "source link-layer address: {opts:?}");
    assert!(opts.iter().any(|(t, b)| *t == 5 && b[2..6] == 1400u32.to_be_bytes()), "MTU: {opts:?}");
    let prefix = opts.iter().find(|(t, _)| *t == 3).expect("prefix option");
    assert_eq!(prefix.1[0], 64, "prefix length");
    assert_eq!(prefix.1[1] & 0xc0, 0xc0, "on-link and autonomous");
    assert_eq!(&prefix.1[14..22], &[0xae, 0xf0, 0, 0, 0, 0, 0, 0]);
}

fn router_solicitation_advertisement(c: Controller) {
    let sb = Sandbox::builder().infra().controller(c).start();
    router_with_ras(&sb, false);
    let vm = mac("50:54:00:00:00:01");
    let mut rs = vec![133, 0, 0, 0, 0, 0, 0, 0, 1, 1];
    rs.extend_from_slice(&vm);
    let ip = ipv6(lla(vm), "ff02::2".parse().unwrap(), 58, 255, rs, 2);
    let frame = eth_frame([0x33, 0x33, 0, 0, 0, 2], vm, 0x86dd, &ip);
    let (src, icmp) = sb.inject_until("vif1", &frame, "vif1", "router advertisement", router_advert);
    assert_eq!(src, mac("00:00:00:00:ff:01"));
    check_ra(&icmp);
}

fn periodic_router_advertisements(c: Controller) {
    let sb = Sandbox::builder().infra().controller(c).start();
    router_with_ras(&sb, true);
    // Every 3 to 4 s, unasked.
    let first =
        try_wait_for(Duration::from_secs(15), || sb.tx_packets("vif1").iter().find_map(|r| router_advert(&r.data)));
    let (src, icmp) = first.expect("a periodic router advertisement within 15 s");
    assert_eq!(src, mac("00:00:00:00:ff:01"));
    check_ra(&icmp);
    let n = sb.tx_packets("vif1").iter().filter(|r| router_advert(&r.data).is_some()).count();
    let more = try_wait_for(Duration::from_secs(10), || {
        (sb.tx_packets("vif1").iter().filter(|r| router_advert(&r.data).is_some()).count() > n).then_some(())
    });
    assert!(more.is_some(), "a second periodic router advertisement");
}
