//! Flow mods against ovs-ofctl: for each flow text, ovs-ofctl's OpenFlow 1.5 encoding must
//! equal ours byte for byte, and our decode+print of its bytes must equal its ofp-print.

mod openflow_oracle;

use openflow_oracle::{capture, have_ovs_ofctl, ofp_print, strip_header};
use shared::openflow::messages::{Message, OfMessage};
use shared::openflow::text::{format_flow_mod, parse_flow};
use shared::openflow::wire::to_hex;

/// Flows in the style ovn-controller 23.03 installs, plus coverage of fields and actions.
pub const FLOWS: &[&str] = &[
    "actions=drop",
    "priority=0,actions=drop",
    "table=0,priority=100,in_port=1,actions=load:0x1->NXM_NX_REG13[],load:0x2->NXM_NX_REG11[],load:0x3->NXM_NX_REG12[],load:0x1->OXM_OF_METADATA[],load:0x1->NXM_NX_REG14[],resubmit(,8)",
    "table=8,priority=50,reg14=0x1,metadata=0x1,dl_src=00:00:00:00:00:01,actions=resubmit(,9)",
    "table=3,priority=100,ip,reg0=0x5/0xff,nw_src=10.0.0.0/8,actions=ct(commit,zone=NXM_NX_REG13[0..15],nat(src=1.2.3.4)),resubmit(,8)",
    "table=10,priority=110,tcp,metadata=0x3,nw_dst=192.168.1.10,tp_dst=80,actions=ct(table=11,zone=NXM_NX_REG13[0..15],nat)",
    "table=12,priority=100,ct_state=+new-est+trk,ip,metadata=0x2,actions=load:0x1->NXM_NX_XXREG0[1],resubmit(,13)",
    "table=13,priority=65535,ct_state=-new+est-rel+rpl-inv+trk,ct_label=0/0x1,metadata=0x1,actions=resubmit(,14)",
    "table=14,priority=1,ct_mark=0x2/0x2,ip,metadata=0x1,actions=ct(commit,zone=NXM_NX_REG13[0..15],exec(load:0x1->NXM_NX_CT_MARK[1])),resubmit(,15)",
    "table=15,priority=120,ip,reg0=0x2/0x2,metadata=0x4,actions=ct(commit,table=16,zone=NXM_NX_REG11[0..15],nat(dst=10.0.0.2:8080))",
    "table=16,priority=100,udp,metadata=0x1,dl_dst=ff:ff:ff:ff:ff:ff,nw_src=0.0.0.0,nw_dst=255.255.255.255,tp_src=68,tp_dst=67,actions=controller(userdata=00.00.00.02.00.00.00.00.00.01.de.10.00.00.00.64,pause),resubmit(,17)",
    "table=17,priority=100,arp,reg14=0x2,metadata=0x1,arp_spa=10.0.0.1,arp_op=1,arp_sha=00:00:00:00:00:02,actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],set_field:00:00:00:00:00:01->eth_src,load:0x2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],load:0x1->NXM_NX_ARP_SHA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],load:0xa000001->NXM_OF_ARP_SPA[],move:NXM_NX_REG14[]->NXM_NX_REG15[],load:0x1->NXM_NX_REG10[0],resubmit(,37)",
    "table=20,priority=90,icmp6,metadata=0x1,ipv6_src=fe80::/10,icmp_type=135,icmp_code=0,nd_target=fe80::1,actions=controller(userdata=00.00.00.04.00.00.00.00,meter_id=5)",
    "table=21,priority=80,icmp6,metadata=0x1,icmp_type=136,icmp_code=0,nd_tll=00:00:00:00:00:03,actions=push:NXM_NX_REG14[],pop:NXM_NX_REG15[]",
    "table=22,priority=100,ipv6,metadata=0x2,ipv6_dst=fd00::/64,actions=dec_ttl,set_field:0xfd000000000000000000000000000001->xxreg0,resubmit(,23)",
    "table=23,priority=50,conj_id=10,ip,metadata=0x2,actions=resubmit(,24)",
    "table=23,priority=50,ip,metadata=0x2,nw_src=10.0.0.3,actions=conjunction(10,1/2),conjunction(11,2/3)",
    "table=24,priority=100,reg15=0x8000,metadata=0x5,actions=group:3",
    "table=25,priority=100,reg15=0x1,metadata=0x5,actions=meter:2,output:3",
    "table=37,priority=150,reg10=0x40/0x40,metadata=0x1,actions=check_pkt_larger(1514)->NXM_NX_REG0[6],resubmit(,38)",
    "table=39,priority=100,reg15=0x2,metadata=0x1,actions=load:0x1->NXM_NX_TUN_ID[0..23],set_field:0x2->tun_metadata0,move:NXM_NX_REG14[0..14]->NXM_NX_TUN_METADATA0[16..30],output:4",
    "table=0,priority=100,tun_id=0x1,in_port=4,actions=move:NXM_NX_TUN_ID[0..23]->OXM_OF_METADATA[0..23],move:NXM_NX_TUN_METADATA0[16..30]->NXM_NX_REG14[0..14],resubmit(,40)",
    "table=41,priority=100,reg10=0/0x1,reg14=0x1,reg15=0x1,metadata=0x1,actions=drop",
    "table=41,priority=0,actions=set_field:0->reg0,set_field:0->reg1,set_field:0->reg2,set_field:0->reg3,set_field:0->reg4,resubmit(,42)",
    "table=64,priority=100,reg10=0x1/0x1,reg15=0x1,metadata=0x1,actions=push:NXM_OF_IN_PORT[],load:0xffff->NXM_OF_IN_PORT[],resubmit(,65),pop:NXM_OF_IN_PORT[]",
    "table=65,priority=100,reg15=0x3,metadata=0x1,actions=mod_vlan_vid:100,output:5",
    "table=65,priority=100,reg15=0x4,metadata=0x1,actions=push_vlan:0x8100,set_field:4196->vlan_vid,output:5",
    "table=0,priority=150,in_port=5,dl_vlan=100,actions=strip_vlan,resubmit(,8)",
    "table=0,priority=100,in_port=5,vlan_tci=0x0000/0x1000,actions=resubmit(,8)",
    "table=66,priority=100,reg0=0xa000001,reg15=0x2,metadata=0x1,actions=set_field:00:00:00:00:00:05->eth_dst,load:0x1->NXM_NX_REG10[6]",
    "table=70,priority=100,ct_state=+trk,ct_mark=0x2/0x2,ip,actions=ct(commit,zone=NXM_NX_REG12[0..15],nat(src=10.0.0.1))",
    "table=68,priority=100,ct_state=+est+trk,ct_nw_proto=6,ct_nw_dst=10.0.0.10,ct_tp_dst=80,ip,nw_src=10.0.0.3,nw_dst=10.0.0.3,actions=load:0x1->NXM_NX_REG10[7]",
    "table=76,priority=100,tcp,metadata=0x1,actions=learn(table=77,idle_timeout=60,delete_learned,cookie=0x1234,OXM_OF_METADATA[],eth_type=0x800,NXM_OF_IP_SRC[],ip_dst=10.0.0.1,nw_proto=6,NXM_OF_TCP_SRC[]=NXM_OF_TCP_DST[],load:0x1->NXM_NX_REG10[14])",
    "table=30,priority=100,udp6,metadata=0x1,ipv6_dst=ff02::1:2,tp_src=546,tp_dst=547,actions=controller(userdata=00.00.00.13.00.00.00.00)",
    "table=31,priority=100,icmp,metadata=0x1,nw_dst=10.0.0.1,icmp_type=8,icmp_code=0,actions=push:NXM_OF_IP_SRC[],push:NXM_OF_IP_DST[],pop:NXM_OF_IP_SRC[],pop:NXM_OF_IP_DST[],load:0xff->NXM_NX_IP_TTL[],load:0->NXM_OF_ICMP_TYPE[],resubmit(,32)",
    "table=32,priority=100,ip,metadata=0x1,nw_ttl=0,nw_frag=no,actions=clone(ct_clear,set_field:0->reg11,resubmit(,33))",
    "table=33,priority=90,tcp,metadata=0x1,tcp_flags=+syn-ack,actions=ct(commit,zone=NXM_NX_REG13[0..15],exec(set_field:0x1/0x1->ct_label))",
    "table=34,priority=50,tcp,metadata=0x1,nw_tos=32,nw_ecn=1,actions=note:00.01.02.03.04.05.06.07,fin_timeout(idle_timeout=5)",
    "table=35,priority=10,pkt_mark=0x10,dp_hash=0x3/0xf,recirc_id=1,actions=set_queue:5,sample(probability=100,collector_set_id=1,obs_domain_id=2,obs_point_id=3)",
    "table=36,priority=10,ip,nw_src=10.0.0.0/255.0.255.0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=dec_ttl(1,2),output:NXM_NX_REG15[]",
    "table=40,priority=100,ct_state=+est+trk,sctp,tp_src=5000,actions=resubmit(1,41),resubmit:3,resubmit(,42,ct)",
    "table=42,priority=100,ct_state=+trk+dnat,ct_zone=5,ct_label=0x1/0x1,tcp,actions=ct(commit,force,zone=7,alg=ftp)",
    "cookie=0x1234abcd,table=44,priority=100,idle_timeout=10,hard_timeout=20,importance=3,send_flow_rem,ip,metadata=0x1,actions=goto_table:45",
    "table=45,priority=100,ipv6,actions=write_metadata:0x5/0xff",
    "table=46,priority=100,reg0=0x1,reg1=0x2,reg2=0x3/0xf,reg3=0x4,reg4=0x5,reg5=0x6,reg6=0x7,reg7=0x8,reg8=0x9,reg9=0xa,reg10=0xb,reg11=0xc,reg12=0xd,reg13=0xe,reg14=0xf,reg15=0x10,actions=drop",
    "table=47,priority=100,xxreg0=0x1/0x1,xreg3=0x100000000/0x100000000,actions=drop",
    "table=48,priority=100,ipv6,ipv6_src=2001:db8::1,ipv6_label=0x12345,actions=ct(commit,nat(src=[2001:db8::1]-[2001:db8::5]:1000-2000,random))",
    "table=49,priority=100,ip,actions=ct(commit,nat(dst=10.0.0.1-10.0.0.5,persistent,hash))",
    "table=50,priority=100,mpls,mpls_label=5,mpls_tc=1,mpls_bos=1,mpls_ttl=64,actions=drop",
    "table=51,priority=100,tun_src=1.1.1.1,tun_dst=2.2.2.2,tun_metadata0=0x1234/0xffff,actions=exit",
    "table=52,priority=100,actions=CONTROLLER:65535,output:LOCAL,IN_PORT,NORMAL",
    "table=53,priority=100,ip,actions=controller(reason=no_match,max_len=128,id=3)",
    "table=54,priority=100,ct_state=+new+trk,ip,ct_nw_src=10.0.0.1,ct_nw_dst=10.0.0.2,actions=drop",
    "table=54,priority=100,ct_state=+new+trk,ipv6,ct_ipv6_src=fe80::1,ct_ipv6_dst=fe80::2/64,actions=drop",
    "table=55,priority=100,udp,tp_dst=0x1000/0xf000,actions=drop",
    "table=56,priority=100,icmp6,icmp_type=135,icmp_code=0,nd_target=fe80::1,nd_sll=00:00:00:00:00:01,actions=drop",
    "table=57,priority=100,ct_state=+trk,ct_zone=5,ct_label=0x10000000000000000/0x10000000000000000,actions=drop",
];

fn check(flow: &str, failures: &mut Vec<String>) {
    let got = capture(&["-O", "OpenFlow15", "--no-names", "add-flow", "SW", flow]);
    let Some(ovs) = got.into_iter().find(|m| m.get(1) == Some(&14)) else {
        failures.push(format!(
            "{flow}: ovs-ofctl sent no flow mod: {}",
            openflow_oracle::capture_with(&["-O", "OpenFlow15", "--no-names", "add-flow", "SW", flow], &|_| None).1
        ));
        return;
    };
    let xid = u32::from_be_bytes([ovs[4], ovs[5], ovs[6], ovs[7]]);
    let ovs_text = strip_header(&ofp_print(&ovs));

    // Decode OVS's bytes and print: must read the same.
    match OfMessage::decode(&ovs) {
        Ok(OfMessage { body: Message::FlowMod(fm), .. }) => {
            let ours = format_flow_mod(&fm);
            if ours != ovs_text {
                failures.push(format!("{flow}\n  decode+print: {ours}\n  ovs-ofctl:    {ovs_text}"));
            }
        }
        other => failures.push(format!("{flow}: decode of ovs bytes: {other:?}")),
    }

    // Parse the text and encode: must be the same bytes.
    match parse_flow(flow) {
        Ok(fm) => {
            let mine = OfMessage::new(xid, Message::FlowMod(fm)).encode();
            if mine != ovs {
                failures.push(format!(
                    "{flow}\n  ours: {}\n  ovs:  {}\n  ours prints: {}",
                    to_hex(&mine),
                    to_hex(&ovs),
                    strip_header(&ofp_print(&mine))
                ));
            }
        }
        Err(e) => failures.push(format!("{flow}: parse: {e}")),
    }
}

#[test]
fn flow_mods_match_ovs_ofctl() {
    if !have_ovs_ofctl("flow_mods_match_ovs_ofctl") {
        return;
    }
    let mut failures = Vec::new();
    for f in FLOWS {
        check(f, &mut failures);
    }
    assert!(failures.is_empty(), "{} of {} flows differ:\n{}", failures.len(), FLOWS.len(), failures.join("\n"));
}
