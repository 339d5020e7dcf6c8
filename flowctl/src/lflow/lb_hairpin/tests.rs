//! Flow shapes against what ovn-controller 23.03 installed for the same load balancers
//! (ovs-ofctl dump-flows of tests/tests/lb_hairpin_flows.rs, cookie left out).

use std::collections::BTreeMap;

use shared::openflow::text::{format_actions, format_match};
use shared::ovsdb::{Datum, Row, Uuid};

use super::*;
use crate::lflow::context::Datapath;

const COOKIE: u64 = 0x10d7f6da;

fn text(f: &DesiredFlow) -> String {
    assert_eq!(f.cookie(), COOKIE);
    format!("table={}, {} actions={}", f.table(), format_match(f.m(), Some(f.priority())), format_actions(f.actions()))
}

fn lb(vips: &[(&str, &str)], protocol: Option<&str>, options: &[(&str, &str)]) -> Lb {
    let map = |p: &[(&str, &str)]| p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let (lb, problems) = parse::lb_from_columns(&map(vips), protocol, &map(options), &BTreeMap::new());
    assert!(problems.is_empty(), "{problems:?}");
    lb
}

fn flow_texts(lb: &Lb, dps: &[u32], use_ct_mark: bool) -> Vec<String> {
    let mut out = Vec::new();
    lb_flows(lb, COOKIE, dps, use_ct_mark, &mut out);
    let mut v: Vec<String> = out.iter().map(text).collect();
    v.sort();
    v
}

fn sorted(lines: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

const ORIG_TUPLE: (&str, &str) = ("hairpin_orig_tuple", "true");

#[test]
fn tcp_ipv4_and_ipv6_vips_with_ports() {
    let lb = lb(
        &[("10.0.0.10:80", "10.0.0.2:8080,10.0.0.3:8080"), ("[fd00::10]:80", "[fd00::2]:8080,[fd00::3]:8080")],
        Some("tcp"),
        &[ORIG_TUPLE],
    );
    assert_eq!(flow_texts(&lb, &[1], true), sorted(&[
        "table=68, priority=100,ct_mark=0x2/0x2,tcp,reg1=0xa00000a,reg2=0x50/0xffff,nw_src=10.0.0.2,nw_dst=10.0.0.2,tp_dst=8080 actions=set_field:0x80/0x80->reg10,learn(table=69,delete_learned,cookie=0x10d7f6da,OXM_OF_METADATA[],eth_type=0x800,NXM_OF_IP_SRC[],ip_dst=10.0.0.10,nw_proto=6,NXM_OF_TCP_SRC[]=NXM_OF_TCP_DST[],load:0x1->NXM_NX_REG10[7])",
        "table=68, priority=100,ct_mark=0x2/0x2,tcp,reg1=0xa00000a,reg2=0x50/0xffff,nw_src=10.0.0.3,nw_dst=10.0.0.3,tp_dst=8080 actions=set_field:0x80/0x80->reg10,learn(table=69,delete_learned,cookie=0x10d7f6da,OXM_OF_METADATA[],eth_type=0x800,NXM_OF_IP_SRC[],ip_dst=10.0.0.10,nw_proto=6,NXM_OF_TCP_SRC[]=NXM_OF_TCP_DST[],load:0x1->NXM_NX_REG10[7])",
        "table=68, priority=100,ct_mark=0x2/0x2,tcp6,reg2=0x50/0xffff,reg4=0xfd000000,reg5=0,reg6=0,reg7=0x10,ipv6_src=fd00::2,ipv6_dst=fd00::2,tp_dst=8080 actions=set_field:0x80/0x80->reg10,learn(table=69,delete_learned,cookie=0x10d7f6da,OXM_OF_METADATA[],eth_type=0x86dd,NXM_NX_IPV6_SRC[],ipv6_dst=fd00::10,nw_proto=6,NXM_OF_TCP_SRC[]=NXM_OF_TCP_DST[],load:0x1->NXM_NX_REG10[7])",
        "table=68, priority=100,ct_mark=0x2/0x2,tcp6,reg2=0x50/0xffff,reg4=0xfd000000,reg5=0,reg6=0,reg7=0x10,ipv6_src=fd00::3,ipv6_dst=fd00::3,tp_dst=8080 actions=set_field:0x80/0x80->reg10,learn(table=69,delete_learned,cookie=0x10d7f6da,OXM_OF_METADATA[],eth_type=0x86dd,NXM_NX_IPV6_SRC[],ipv6_dst=fd00::10,nw_proto=6,NXM_OF_TCP_SRC[]=NXM_OF_TCP_DST[],load:0x1->NXM_NX_REG10[7])",
        "table=70, priority=100,tcp,reg1=0xa00000a,reg2=0x50/0xffff actions=ct(commit,zone=NXM_NX_REG12[0..15],nat(src=10.0.0.10))",
        "table=70, priority=100,tcp6,reg2=0x50/0xffff,reg4=0xfd000000,reg5=0,reg6=0,reg7=0x10 actions=ct(commit,zone=NXM_NX_REG12[0..15],nat(src=fd00::10))",
    ]));
}

#[test]
fn hairpin_snat_ip_gives_per_datapath_snat_flows() {
    let lb = lb(
        &[("10.0.0.11:53", "10.0.0.2:5353,10.0.1.2:5353"), ("[fd00::11]:53", "[fd00::3]:5353")],
        Some("udp"),
        &[ORIG_TUPLE, ("hairpin_snat_ip", "42.42.42.1 fd42::1")],
    );
    // Datapath 1 twice (in `datapaths` and the group): one flow.
    assert_eq!(flow_texts(&lb, &[1, 3, 1], false), sorted(&[
        "table=68, priority=100,ct_label=0x2/0x2,udp,reg1=0xa00000b,reg2=0x35/0xffff,nw_src=10.0.0.2,nw_dst=10.0.0.2,tp_dst=5353 actions=set_field:0x80/0x80->reg10,learn(table=69,delete_learned,cookie=0x10d7f6da,OXM_OF_METADATA[],eth_type=0x800,NXM_OF_IP_SRC[],ip_dst=42.42.42.1,nw_proto=17,NXM_OF_UDP_SRC[]=NXM_OF_UDP_DST[],load:0x1->NXM_NX_REG10[7])",
        "table=68, priority=100,ct_label=0x2/0x2,udp,reg1=0xa00000b,reg2=0x35/0xffff,nw_src=10.0.1.2,nw_dst=10.0.1.2,tp_dst=5353 actions=set_field:0x80/0x80->reg10,learn(table=69,delete_learned,cookie=0x10d7f6da,OXM_OF_METADATA[],eth_type=0x800,NXM_OF_IP_SRC[],ip_dst=42.42.42.1,nw_proto=17,NXM_OF_UDP_SRC[]=NXM_OF_UDP_DST[],load:0x1->NXM_NX_REG10[7])",
        "table=68, priority=100,ct_label=0x2/0x2,udp6,reg2=0x35/0xffff,reg4=0xfd000000,reg5=0,reg6=0,reg7=0x11,ipv6_src=fd00::3,ipv6_dst=fd00::3,tp_dst=5353 actions=set_field:0x80/0x80->reg10,learn(table=69,delete_learned,cookie=0x10d7f6da,OXM_OF_METADATA[],eth_type=0x86dd,NXM_NX_IPV6_SRC[],ipv6_dst=fd42::1,nw_proto=17,NXM_OF_UDP_SRC[]=NXM_OF_UDP_DST[],load:0x1->NXM_NX_REG10[7])",
        "table=70, priority=200,udp,reg1=0xa00000b,reg2=0x35/0xffff,metadata=0x1 actions=ct(commit,zone=NXM_NX_REG12[0..15],nat(src=42.42.42.1))",
        "table=70, priority=200,udp,reg1=0xa00000b,reg2=0x35/0xffff,metadata=0x3 actions=ct(commit,zone=NXM_NX_REG12[0..15],nat(src=42.42.42.1))",
        "table=70, priority=200,udp6,reg2=0x35/0xffff,reg4=0xfd000000,reg5=0,reg6=0,reg7=0x11,metadata=0x1 actions=ct(commit,zone=NXM_NX_REG12[0..15],nat(src=fd42::1))",
        "table=70, priority=200,udp6,reg2=0x35/0xffff,reg4=0xfd000000,reg5=0,reg6=0,reg7=0x11,metadata=0x3 actions=ct(commit,zone=NXM_NX_REG12[0..15],nat(src=fd42::1))",
    ]));
}

#[test]
fn portless_vips_and_a_hairpin_snat_ip_of_one_family() {
    let lb =
        lb(&[("10.0.0.21", "10.0.0.3"), ("fd00::21", "fd00::3")], None, &[ORIG_TUPLE, ("hairpin_snat_ip", "fd42::2")]);
    assert_eq!(flow_texts(&lb, &[1], true), sorted(&[
        "table=68, priority=100,ct_mark=0x2/0x2,ip,reg1=0xa000015,nw_src=10.0.0.3,nw_dst=10.0.0.3 actions=set_field:0x80/0x80->reg10,learn(table=69,delete_learned,cookie=0x10d7f6da,OXM_OF_METADATA[],eth_type=0x800,NXM_OF_IP_SRC[],ip_dst=10.0.0.21,NXM_OF_IP_PROTO[],load:0x1->NXM_NX_REG10[7])",
        "table=68, priority=100,ct_mark=0x2/0x2,ipv6,reg4=0xfd000000,reg5=0,reg6=0,reg7=0x21,ipv6_src=fd00::3,ipv6_dst=fd00::3 actions=set_field:0x80/0x80->reg10,learn(table=69,delete_learned,cookie=0x10d7f6da,OXM_OF_METADATA[],eth_type=0x86dd,NXM_NX_IPV6_SRC[],ipv6_dst=fd42::2,NXM_OF_IP_PROTO[],load:0x1->NXM_NX_REG10[7])",
        "table=70, priority=190,ipv6,reg4=0xfd000000,reg5=0,reg6=0,reg7=0x21,metadata=0x1 actions=ct(commit,zone=NXM_NX_REG12[0..15],nat(src=fd42::2))",
        "table=70, priority=90,ip,reg1=0xa000015 actions=ct(commit,zone=NXM_NX_REG12[0..15],nat(src=10.0.0.21))",
    ]));
}

#[test]
fn sctp() {
    let lb = lb(&[("10.0.0.12:9000", "10.0.0.3:9001")], Some("sctp"), &[ORIG_TUPLE]);
    assert_eq!(flow_texts(&lb, &[1], true), sorted(&[
        "table=68, priority=100,ct_mark=0x2/0x2,sctp,reg1=0xa00000c,reg2=0x2328/0xffff,nw_src=10.0.0.3,nw_dst=10.0.0.3,tp_dst=9001 actions=set_field:0x80/0x80->reg10,learn(table=69,delete_learned,cookie=0x10d7f6da,OXM_OF_METADATA[],eth_type=0x800,NXM_OF_IP_SRC[],ip_dst=10.0.0.12,nw_proto=132,OXM_OF_SCTP_SRC[]=OXM_OF_SCTP_DST[],load:0x1->NXM_NX_REG10[7])",
        "table=70, priority=100,sctp,reg1=0xa00000c,reg2=0x2328/0xffff actions=ct(commit,zone=NXM_NX_REG12[0..15],nat(src=10.0.0.12))",
    ]));
}

/// Without hairpin_orig_tuple (northds before 22.03): conntrack original-tuple matches,
/// which need ct_state=+trk+dnat.
#[test]
fn conntrack_tuple_matches_without_orig_tuple() {
    let lb = lb(
        &[("10.0.0.60:5000", "10.0.0.2:5001"), ("[fd00::60]:5000", "[fd00::2]:5001"), ("10.0.0.61", "10.0.0.3")],
        Some("udp"),
        &[("hairpin_snat_ip", "42.42.42.2")],
    );
    assert_eq!(flow_texts(&lb, &[3], false), sorted(&[
        "table=68, priority=100,ct_state=+trk+dnat,ct_label=0x2/0x2,ct_ipv6_dst=fd00::60,ct_nw_proto=17,ct_tp_dst=5000,udp6,ipv6_src=fd00::2,ipv6_dst=fd00::2,tp_dst=5001 actions=set_field:0x80/0x80->reg10,learn(table=69,delete_learned,cookie=0x10d7f6da,OXM_OF_METADATA[],eth_type=0x86dd,NXM_NX_IPV6_SRC[],ipv6_dst=fd00::60,nw_proto=17,NXM_OF_UDP_SRC[]=NXM_OF_UDP_DST[],load:0x1->NXM_NX_REG10[7])",
        "table=68, priority=100,ct_state=+trk+dnat,ct_label=0x2/0x2,ct_nw_dst=10.0.0.60,ct_nw_proto=17,ct_tp_dst=5000,udp,nw_src=10.0.0.2,nw_dst=10.0.0.2,tp_dst=5001 actions=set_field:0x80/0x80->reg10,learn(table=69,delete_learned,cookie=0x10d7f6da,OXM_OF_METADATA[],eth_type=0x800,NXM_OF_IP_SRC[],ip_dst=42.42.42.2,nw_proto=17,NXM_OF_UDP_SRC[]=NXM_OF_UDP_DST[],load:0x1->NXM_NX_REG10[7])",
        "table=68, priority=100,ct_state=+trk+dnat,ct_label=0x2/0x2,ct_nw_dst=10.0.0.61,ip,nw_src=10.0.0.3,nw_dst=10.0.0.3 actions=set_field:0x80/0x80->reg10,learn(table=69,delete_learned,cookie=0x10d7f6da,OXM_OF_METADATA[],eth_type=0x800,NXM_OF_IP_SRC[],ip_dst=42.42.42.2,NXM_OF_IP_PROTO[],load:0x1->NXM_NX_REG10[7])",
        "table=70, priority=100,ct_state=+trk+dnat,ct_ipv6_dst=fd00::60,ct_nw_proto=17,ct_tp_dst=5000,udp6 actions=ct(commit,zone=NXM_NX_REG12[0..15],nat(src=fd00::60))",
        "table=70, priority=190,ct_state=+trk+dnat,ct_nw_dst=10.0.0.61,ip,metadata=0x3 actions=ct(commit,zone=NXM_NX_REG12[0..15],nat(src=42.42.42.2))",
        "table=70, priority=200,ct_state=+trk+dnat,ct_nw_dst=10.0.0.60,ct_nw_proto=17,ct_tp_dst=5000,udp,metadata=0x3 actions=ct(commit,zone=NXM_NX_REG12[0..15],nat(src=42.42.42.2))",
    ]));
}

#[test]
fn a_vip_without_backends_still_snats_and_duplicates_collapse() {
    let lb = lb(&[("10.0.0.70:80", ""), ("10.0.0.71:80", "10.0.0.2:80,10.0.0.2:80")], None, &[ORIG_TUPLE]);
    let flows = flow_texts(&lb, &[1], true);
    assert_eq!(flows.iter().filter(|f| f.starts_with("table=68")).count(), 1, "{flows:#?}");
    assert_eq!(flows.iter().filter(|f| f.starts_with("table=70")).count(), 2, "{flows:#?}");
}

fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn ctx(local: &[(u128, u32)]) -> SbContext {
    let mut ctx = SbContext::default();
    for &(u, key) in local {
        ctx.datapaths.insert(uuid(u), Datapath { key, is_switch: true, ..Datapath::default() });
    }
    ctx.dp_groups.insert(uuid(100), vec![uuid(2), uuid(3)]);
    ctx
}

fn lb_row(datapaths: &[u128], group: Option<u128>) -> Row {
    let mut row = Row::default();
    row.insert("vips", Datum::map([("10.0.0.10:80", "10.0.0.2:80")]));
    row.insert("protocol", Datum::set(["udp"]));
    row.insert("options", Datum::map([("hairpin_orig_tuple", "true")]));
    row.insert("datapaths", Datum::set(datapaths.iter().map(|&u| uuid(u))));
    row.insert("datapath_group", Datum::set(group.map(uuid)));
    row
}

#[test]
fn only_load_balancers_of_local_datapaths() {
    let templates = BTreeMap::new();
    let id = uuid(0x10d7f6da_0000_0000_0000_000000000000);
    assert_eq!(cookie(&id), COOKIE);
    let ctx = ctx(&[(1, 11), (3, 13)]);
    // `datapaths`, then the group's members; only local ones.
    let (lb, dps) = local_lb(&id, &lb_row(&[1, 4], Some(100)), &ctx, &templates).unwrap();
    assert_eq!(dps, [11, 13]);
    assert_eq!(lb.proto, parse::UDP);
    assert_eq!(local_lb(&id, &lb_row(&[3], None), &ctx, &templates).unwrap().1, [13]);
    assert!(local_lb(&id, &lb_row(&[4], None), &ctx, &templates).is_none(), "not local");
    assert!(local_lb(&id, &lb_row(&[], Some(101)), &ctx, &templates).is_none(), "unknown group");
    assert!(local_lb(&id, &lb_row(&[], None), &ctx, &templates).is_none());
    // A row of the wrong shape is no load balancer to speak of, and no panic.
    let mut bad = lb_row(&[1], None);
    bad.insert("vips", Datum::set(["junk"]));
    bad.insert("options", Datum::set([1i64]));
    let (lb, _) = local_lb(&id, &bad, &ctx, &templates).unwrap();
    assert!(lb.vips.is_empty());
}
