//! Unit tests of the physical-flow builder on hand-made inputs, for what the recorded
//! topologies (golden.rs) do not reach: STT, VXLAN port-key mapping and ramp switches, the
//! Geneve option at another tun_metadata index, drop sampling, 802.1ad, OVN-IC ports, and
//! input that does not make sense.

use super::golden::print;
use super::*;

const UUID1: &str = "11111111-0000-4000-8000-000000000001";
const UUID2: &str = "22222222-0000-4000-8000-000000000002";
const DP_UUID: &str = "dddddddd-0000-4000-8000-00000000000d";

fn pb(uuid: &str, name: &str, kind: &str, dp: u32, key: u32, chassis: Option<&str>) -> PortBinding {
    PortBinding {
        uuid: uuid.into(),
        logical_port: name.into(),
        kind: kind.into(),
        datapath: dp,
        tunnel_key: key,
        chassis: chassis.map(str::to_string),
        ..PortBinding::default()
    }
}

/// hv1 with lp1 (ofport 1) on datapath 1, lp2 on hv2 behind a tunnel of `encap` (ofport 9).
fn base(encap: Encap) -> PhysicalInput {
    PhysicalInput {
        chassis: "hv1".into(),
        hostname: "hv1.example".into(),
        datapaths: vec![Datapath { key: 1, uuid: DP_UUID.into(), is_transit_switch: false }],
        ports: vec![pb(UUID1, "lp1", "", 1, 1, Some("hv1")), pb(UUID2, "lp2", "", 1, 2, Some("hv2"))],
        tunnels: vec![Tunnel { chassis_id: "hv2@192.168.0.2".into(), encap, ofport: 9, is_ipv6: false }],
        vifs: [("lp1".to_string(), Vif { ofport: 1, mtu: 1500 })].into(),
        ct_zones: [("lp1".to_string(), 5)].into(),
        ..PhysicalInput::default()
    }
}

fn lines(inp: &PhysicalInput, table: u8) -> Vec<String> {
    let mut v: Vec<String> = compute(inp)
        .iter()
        .filter(|f| f.table() == table)
        .map(|f| print(f.table(), f.priority(), f.cookie(), f.m(), f.actions()))
        .collect();
    v.sort();
    v
}

fn has(inp: &PhysicalInput, table: u8, line: &str) {
    let l = lines(inp, table);
    assert!(l.iter().any(|x| x == line), "no\n  {line}\nin table {table}:\n  {}", l.join("\n  "));
}

#[test]
fn cookie_is_the_first_32_bits_of_the_uuid() {
    assert_eq!(uuid_cookie("8f3a1c2b-0000-4000-8000-000000000000"), 0x8f3a1c2b);
    assert_eq!(uuid_cookie("zz"), 0);
    assert_eq!(uuid_cookie(""), 0);
}

#[test]
fn stt_carries_datapath_and_both_ports_in_the_tunnel_id() {
    let inp = base(Encap::Stt);
    has(
        &inp,
        REMOTE_OUTPUT,
        "cookie=0x22222222, table=39, priority=100,reg15=0x2,metadata=0x1 actions=set_field:0x2000001->tun_id,\
         move:NXM_NX_REG14[0..14]->NXM_NX_TUN_ID[40..54],output:9,resubmit(,40)",
    );
    has(
        &inp,
        PHY_TO_LOG,
        "cookie=0x0, table=0, priority=100,in_port=9 actions=move:NXM_NX_TUN_ID[40..54]->NXM_NX_REG14[0..14],\
         move:NXM_NX_TUN_ID[24..39]->NXM_NX_REG15[0..15],move:NXM_NX_TUN_ID[0..23]->OXM_OF_METADATA[0..23],\
         resubmit(,40)",
    );
}

#[test]
fn vxlan_maps_multicast_keys_into_12_bits() {
    assert_eq!(vxlan_port_key(5), 5);
    assert_eq!(vxlan_port_key(32768), 2048);
    assert_eq!(vxlan_port_key(32772), 2052);
    let mut inp = base(Encap::Vxlan);
    inp.mc_groups.push(McGroup {
        uuid: "33333333-0000-4000-8000-000000000003".into(),
        datapath: 1,
        tunnel_key: 32768,
        ports: vec!["lp1".into(), "lp2".into()],
    });
    // VNI = dp | (2048 | 0) << 12.
    has(
        &inp,
        REMOTE_OUTPUT,
        "cookie=0x33333333, table=39, priority=100,reg15=0x8000,metadata=0x1 actions=\
         set_field:0x800001/0xffffff->tun_id,output:9,resubmit(,40)",
    );
}

#[test]
fn vxlan_ramp_switch_ports_enter_the_ingress_pipeline() {
    let mut inp = base(Encap::Vxlan);
    inp.ports.push(pb("44444444-0000-4000-8000-000000000004", "vtep0", "vtep", 1, 7, Some("hv2")));
    has(
        &inp,
        PHY_TO_LOG,
        "cookie=0x44444444, table=0, priority=110,tun_id=0x1,in_port=9 actions=\
         move:NXM_NX_TUN_ID[0..23]->OXM_OF_METADATA[0..23],set_field:0x7/0x7fff->reg14,\
         set_field:0x2/0x2->reg10,resubmit(,8)",
    );
    // Output to the vtep port: in_port cleared, VNI without a port key.
    has(
        &inp,
        REMOTE_OUTPUT,
        "cookie=0x44444444, table=39, priority=100,reg15=0x7,metadata=0x1 actions=set_field:ANY->in_port,\
         set_field:0x1/0xffffff->tun_id,output:9,resubmit(,40)",
    );
}

#[test]
fn geneve_option_follows_the_tlv_map_index() {
    let mut inp = base(Encap::Geneve);
    inp.geneve_index = 3;
    has(
        &inp,
        REMOTE_OUTPUT,
        "cookie=0x22222222, table=39, priority=100,reg15=0x2,metadata=0x1 actions=set_field:0x1/0xffffff->tun_id,\
         set_field:0x2->tun_metadata3,move:NXM_NX_REG14[0..14]->NXM_NX_TUN_METADATA3[16..30],output:9,\
         resubmit(,40)",
    );
}

#[test]
fn drops_are_sampled_when_debugging_is_on() {
    let mut inp = base(Encap::Geneve);
    inp.drop_debug = Some(DropDebug { collector_set_id: 7, obs_domain_id: 2 });
    let flows = compute(&inp);
    let drop0 = flows.iter().find(|f| f.table() == PHY_TO_LOG && f.priority() == 0).map(|f| f.actions().to_vec());
    assert_eq!(
        drop0,
        Some(vec![Action::Sample(Sample {
            probability: u16::MAX,
            collector_set_id: 7,
            obs_domain_id: 2 << 24,
            obs_point_id: 0,
            sampling_port: ports::NONE,
            direction: 0,
        })])
    );
    // Without a collector set: plain drops.
    inp.drop_debug = Some(DropDebug { collector_set_id: 0, obs_domain_id: 2 });
    assert!(compute(&inp)
        .iter()
        .filter(|f| f.priority() == 0 && f.table() == LOG_TO_PHY)
        .all(|f| f.actions().is_empty()));
}

#[test]
fn container_vlan_uses_the_localnet_ethtype() {
    let mut inp = base(Encap::Geneve);
    let mut c1 = pb("55555555-0000-4000-8000-000000000005", "c1", "", 1, 3, Some("hv1"));
    c1.parent_port = Some("lp1".into());
    c1.tag = Some(42);
    inp.ports.push(c1);
    let mut ln = pb("66666666-0000-4000-8000-000000000006", "ln", "localnet", 1, 4, None);
    ln.options.insert("network_name".into(), "phys".into());
    ln.options.insert("ethtype".into(), "802.11ad".into());
    inp.ports.push(ln);
    inp.bridge_networks.insert("phys".into());
    has(
        &inp,
        LOG_TO_PHY,
        "cookie=0x55555555, table=65, priority=100,reg15=0x3,metadata=0x1 actions=push_vlan:0x88a8,\
         set_field:4138->vlan_vid,output:1,pop_vlan",
    );
    // The localnet port has no patch port here: remote lp2 is then unreachable (no flows),
    // as in 23.03.
    assert!(!lines(&inp, LOCAL_OUTPUT).iter().any(|l| l.contains("reg15=0x2,")));
}

#[test]
fn requested_chassis_elsewhere_ignores_the_interface() {
    let mut inp = base(Encap::Geneve);
    if let Some(p) = inp.ports.first_mut() {
        p.options.insert("requested-chassis".into(), "hv2".into());
    }
    assert!(lines(&inp, PHY_TO_LOG).iter().all(|l| !l.contains("in_port=1 ")));
    // The hostname counts as well.
    if let Some(p) = inp.ports.first_mut() {
        p.options.insert("requested-chassis".into(), "hv1.example".into());
    }
    assert!(lines(&inp, PHY_TO_LOG).iter().any(|l| l.contains("in_port=1 ")));
}

#[test]
fn ic_remote_ports_in_a_multicast_group_tunnel_to_their_chassis() {
    // As 23.03: the group key is restored (before the fan-out, which adds nothing here).
    let mut inp = base(Encap::Geneve);
    inp.ports.push(pb("77777777-0000-4000-8000-000000000007", "ic0", "remote", 1, 9, Some("hv2")));
    inp.mc_groups.push(McGroup {
        uuid: "33333333-0000-4000-8000-000000000003".into(),
        datapath: 1,
        tunnel_key: 32768,
        ports: vec!["ic0".into()],
    });
    has(
        &inp,
        REMOTE_OUTPUT,
        "cookie=0x33333333, table=39, priority=100,reg15=0x8000,metadata=0x1 actions=set_field:0x9->reg15,\
         set_field:0x1/0xffffff->tun_id,set_field:0x9->tun_metadata0,\
         move:NXM_NX_REG14[0..14]->NXM_NX_TUN_METADATA0[16..30],output:9,set_field:0x8000->reg15",
    );
}

#[test]
fn nonsense_input_gives_flows_not_panics() {
    let mut inp = base(Encap::Geneve);
    let mut bad = pb("not-a-uuid", "weird", "patch", 1, 0, Some(""));
    bad.options.insert("peer".into(), "weird".into());
    bad.mac = vec!["zz:zz".into(), String::new()];
    bad.tag = Some(u16::MAX);
    bad.parent_port = Some(String::new());
    inp.ports.push(bad);
    let mut cr = pb("", "cr", "chassisredirect", 1, 9, Some("hv1"));
    cr.options.insert("distributed-port".into(), "missing".into());
    cr.ha_chassis_group = Some(HaChassisGroup::default());
    inp.ports.push(cr);
    inp.ports.push(pb(UUID1, "lp1", "", 99, 1, Some("hv1"))); // duplicate name, unknown datapath
    inp.mc_groups.push(McGroup { uuid: String::new(), datapath: 1, tunnel_key: 0, ports: vec!["nobody".into()] });
    inp.tunnels.push(Tunnel { chassis_id: "@".into(), encap: Encap::Stt, ofport: 0, is_ipv6: true });
    inp.tunnels.push(Tunnel { chassis_id: "hv1@10.0.0.1".into(), encap: Encap::Geneve, ofport: 3, is_ipv6: false });
    inp.chassis_rows.push(ChassisInfo { mac_mappings: "phys:not-a-mac,:".into(), ..ChassisInfo::default() });
    inp.chassis_mac_mappings = "::::".into();
    inp.geneve_index = 200;
    let flows = compute(&inp);
    // The chassisredirect port with a missing distributed port drops (empty actions).
    assert!(flows.iter().any(|f| f.table() == LOCAL_OUTPUT && f.priority() == 100 && f.actions().is_empty()));
    // No tunnel to ourselves.
    assert!(!lines(&inp, PHY_TO_LOG).iter().any(|l| l.contains("in_port=3 ")));
    // No two flows share table, priority and match.
    let mut keys = HashSet::new();
    assert!(flows.iter().all(|f| keys.insert((f.table(), f.priority(), f.m().clone()))));
}

#[test]
fn ha_group_ordering_and_activity() {
    let inp = base(Encap::Geneve);
    let ctx = Ctx::new(&inp);
    let m = |c: &str, p| HaChassis { chassis: Some(c.into()), priority: p };
    let g = HaChassisGroup { members: vec![m("a", 10), m("hv1", 20), m("b", 20)], ref_chassis: vec!["x".into()] };
    // Priority descending, then name descending.
    assert_eq!(ctx.ha_ordered(&g, None), Some(vec!["hv1".into(), "b".into(), "a".into()]));
    // No BFD state: a multi-member group is not active here.
    assert!(!ctx.ha_group_is_active(Some(&g)));
    let solo = HaChassisGroup { members: vec![m("hv1", 1)], ref_chassis: vec![] };
    assert!(ctx.ha_group_is_active(Some(&solo)));
    let mut inp2 = base(Encap::Geneve);
    inp2.active_tunnels = ["a".to_string(), "b".to_string()].into();
    let ctx2 = Ctx::new(&inp2);
    assert!(ctx2.ha_group_is_active(Some(&g)));
}

/// 4000 ports on 200 chassis, 20 switches: every remote port gets one tunnel flow, every
/// local one 5 flows (0, 40, 41, 64, 65); nothing quadratic (this runs in well under a
/// second in a debug build).
#[test]
fn scales_linearly() {
    let mut inp = PhysicalInput { chassis: "hv0".into(), ..PhysicalInput::default() };
    for dp in 1..=20u32 {
        inp.datapaths.push(Datapath {
            key: dp,
            uuid: format!("{dp:08x}-0000-4000-8000-000000000000"),
            ..Datapath::default()
        });
    }
    for c in 1..200u32 {
        inp.tunnels.push(Tunnel {
            chassis_id: format!("hv{c}@10.0.{}.{}", c / 250, c % 250),
            encap: Encap::Geneve,
            ofport: 1000 + c as u16,
            is_ipv6: false,
        });
    }
    for i in 0..4000u32 {
        let (dp, key, ch) = (i % 20 + 1, i / 20 + 1, i % 200);
        let name = format!("p{i}");
        inp.ports.push(pb(
            &format!("{i:08x}-0000-4000-8000-000000000000"),
            &name,
            "",
            dp,
            key,
            Some(&format!("hv{ch}")),
        ));
        if ch == 0 {
            inp.vifs.insert(name, Vif { ofport: i as u16 + 1, mtu: 1500 });
        }
    }
    let start = std::time::Instant::now();
    let flows = compute(&inp);
    let local = inp.vifs.len();
    assert_eq!(flows.iter().filter(|f| f.table() == REMOTE_OUTPUT && f.priority() == 100).count(), 4000 - local);
    assert_eq!(flows.iter().filter(|f| f.table() == LOG_TO_PHY && f.priority() == 100).count(), local);
    eprintln!("{} flows in {:?}", flows.len(), start.elapsed());
}

#[test]
fn vtep_chassis_get_the_ramp_encapsulation_in_multicast_groups() {
    let mut inp = base(Encap::Vxlan);
    inp.chassis_rows.push(ChassisInfo { name: "hv2".into(), is_vtep: true, ..ChassisInfo::default() });
    inp.mc_groups.push(McGroup {
        uuid: "33333333-0000-4000-8000-000000000003".into(),
        datapath: 1,
        tunnel_key: 32768,
        ports: vec!["lp2".into()],
    });
    // No port key in the VNI for a ramp switch.
    has(
        &inp,
        REMOTE_OUTPUT,
        "cookie=0x33333333, table=39, priority=100,reg15=0x8000,metadata=0x1 actions=\
         set_field:0x1/0xffffff->tun_id,output:9",
    );
}

#[test]
fn idl_order_follows_hash_buckets() {
    assert_eq!([0, 1, 2, 3, 8, 16, 32, 46, 64].map(hmap_mask), [0, 0, 3, 3, 7, 15, 31, 31, 63]);
    let ports: Vec<PortBinding> = ["0000000f-a", "0000000d-b", "00000010-c"]
        .iter()
        .map(|u| PortBinding { uuid: u.to_string(), ..PortBinding::default() })
        .collect();
    // Three rows: mask 3, buckets 3, 1, 0.
    let order: Vec<&str> = idl_order(&ports).iter().map(|p| p.uuid.as_str()).collect();
    assert_eq!(order, ["00000010-c", "0000000d-b", "0000000f-a"]);
}
