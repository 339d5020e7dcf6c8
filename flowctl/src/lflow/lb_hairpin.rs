//! Load balancer hairpin flows, tables 68-70, as 23.03's add_lb_hairpin_flows() (lflow.c)
//! installs them for the Southbound Load_Balancer rows of local datapaths:
//!
//! - table 68 (CHK_LB_HAIRPIN), one flow per VIP backend: a load-balanced packet whose
//!   source is the backend it was sent to sets MLF_LOOKUP_LB_HAIRPIN and learns the
//!   matching reply flow into table 69;
//! - table 69 (CHK_LB_HAIRPIN_REPLY): only learned flows, none installed here;
//! - table 70 (CT_SNAT_HAIRPIN), one flow per VIP (per local datapath with
//!   options:hairpin_snat_ip): SNAT of hairpinned traffic to the VIP or that address.
//!
//! Cookies are the first 32 bits of the Load_Balancer UUID (23.03's `uuid.parts[0]`).

mod parse;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;

use shared::openflow::actions::{
    Ct, CtZone, Learn, LearnDst, LearnSpec, LearnSrc, Nat, NatAddrs, Subfield, NX_CT_F_COMMIT, NX_CT_RECIRC_NONE,
    NX_LEARN_F_DELETE_LEARNED, NX_NAT_F_SRC,
};
use shared::openflow::{Action, Field, Match};
use shared::ovn::logical_fields::{ct_mark, flags};
use shared::ovn::tables::{CHK_LB_HAIRPIN, CHK_LB_HAIRPIN_REPLY, CT_SNAT_HAIRPIN};
use shared::ovsdb::{Row, Uuid};

use super::context::SbContext;
use super::LflowInput;
use crate::db::{string_map, uuid_set};
use crate::flows::{set, set_masked, DesiredFlow};
pub use parse::{Backend, Lb, Vip};

/// 23.03's DEFAULT_SB_GLOBAL_LB_HAIRPIN_USE_CT_MARK.
const DEFAULT_USE_CT_MARK: bool = true;
/// OFP_DEFAULT_PRIORITY, the priority of learned reply flows.
const LEARNED_PRIORITY: u16 = 0x8000;
/// OVS_CS_F_TRACKED | OVS_CS_F_DST_NAT.
const CT_STATE_TRK_DNAT: u128 = 0x20 | 0x80;
const ETH_TYPE_IP: u16 = 0x0800;
const ETH_TYPE_IPV6: u16 = 0x86dd;

// Logical registers (include/ovn/logical-fields.h).
const LOG_FLAGS: Field = Field::REG10;
const LOG_SNAT_ZONE: Field = Field::REG12;
const LOG_LB_ORIG_DIP_IPV4: Field = Field::REG1;
const LOG_LB_ORIG_TP_DPORT: Field = Field::REG2;
const LOG_LB_ORIG_DIP_IPV6: Field = Field::XXREG1;

pub fn flows(input: &LflowInput<'_>, out: &mut Vec<DesiredFlow>) {
    let use_ct_mark = input.sb.rows("SB_Global").next().map_or(DEFAULT_USE_CT_MARK, |(_, g)| {
        parse::smap_bool(g.get_map_str("options", "lb_hairpin_use_ct_mark"), DEFAULT_USE_CT_MARK)
    });
    let templates = input
        .sb
        .rows("Chassis_Template_Var")
        .find(|(_, tv)| tv.get_str("chassis") == Some(input.chassis_name))
        .map(|(_, tv)| string_map(tv, "variables"))
        .unwrap_or_default();
    // By UUID, so that when two load balancers want the same flow (same VIP and backend)
    // the same one wins on every computation. Which one 23.03 keeps depends on its hash
    // order; that is not reproduced.
    let mut rows: Vec<_> = input.sb.rows("Load_Balancer").collect();
    rows.sort_by_key(|(uuid, _)| **uuid);
    for (uuid, row) in rows {
        if let Some((lb, local)) = local_lb(uuid, row, input.ctx, &templates) {
            lb_flows(&lb, cookie(uuid), &local, use_ct_mark, out);
        }
    }
}

/// One Load_Balancer row with the tunnel keys of its local datapaths (`datapaths`, then the
/// members of `datapath_group`), or `None` if it has none (23.03's lb_is_local()).
fn local_lb(uuid: &Uuid, row: &Row, ctx: &SbContext, templates: &BTreeMap<String, String>) -> Option<(Lb, Vec<u32>)> {
    let mut dps = uuid_set(row, "datapaths");
    if let Some(group) = row.get_uuid("datapath_group").and_then(|g| ctx.dp_groups.get(&g)) {
        dps.extend(group.iter().copied());
    }
    let local: Vec<u32> = dps.iter().filter_map(|dp| ctx.datapaths.get(dp)).map(|dp| dp.key).collect();
    if local.is_empty() {
        return None;
    }
    let (lb, errors) = parse::lb_from_columns(
        &string_map(row, "vips"),
        row.get_str("protocol"),
        &string_map(row, "options"),
        templates,
    );
    for e in errors {
        match e {
            parse::Problem::BadSnatIp(a) => {
                if first_report(*uuid, &a) {
                    tracing::warn!("bad hairpin_snat_ip {a} in load balancer {uuid}");
                }
            }
            parse::Problem::BadVip(e) => tracing::debug!("load balancer {uuid}: VIP skipped: {e}"),
        }
    }
    Some((lb, local))
}

/// Whether this bad value of this row is new: every computation sees it again, and 23.03
/// rate-limits the warning. Bounded, in case the Southbound keeps inventing new ones.
fn first_report(uuid: Uuid, value: &str) -> bool {
    static SEEN: Mutex<BTreeSet<(Uuid, String)>> = Mutex::new(BTreeSet::new());
    let Ok(mut seen) = SEEN.lock() else { return false };
    if seen.len() >= 1000 {
        seen.clear();
    }
    seen.insert((uuid, value.to_string()))
}

/// `uuid.parts[0]`.
fn cookie(uuid: &Uuid) -> u64 {
    u64::from(uuid.as_fields().0)
}

/// consider_lb_hairpin_flows() for one parsed load balancer. `local_dps` are the tunnel keys
/// of its local datapaths, in the row's order. A flow the same load balancer produces twice
/// is kept once, as 23.03's desired-flow table does.
pub fn lb_flows(lb: &Lb, cookie: u64, local_dps: &[u32], use_ct_mark: bool, out: &mut Vec<DesiredFlow>) {
    let mut flows = Vec::new();
    for vip in &lb.vips {
        for backend in &vip.backends {
            flows.push(hairpin_flow(lb, vip, backend, cookie, use_ct_mark));
        }
    }
    for vip in &lb.vips {
        snat_flows(lb, vip, cookie, local_dps, &mut flows);
    }
    let mut seen = std::collections::HashSet::new();
    for f in flows {
        if seen.insert(std::sync::Arc::clone(&f.key)) {
            out.push(f);
        }
    }
}

/// add_lb_vip_hairpin_flows(): table 68 for one backend of one VIP.
fn hairpin_flow(lb: &Lb, vip: &Vip, backend: &Backend, cookie: u64, use_ct_mark: bool) -> DesiredFlow {
    let mut m = Match::new();
    // ct_nw_dst and friends are only valid on tracked, DNATed packets.
    if !lb.orig_tuple {
        set_masked(&mut m, Field::CT_STATE, CT_STATE_TRK_DNAT, CT_STATE_TRK_DNAT);
    }
    let learn = match parse::mapped_v4(&vip.ip) {
        Some(vip4) => {
            let bip4 = mapped_v4(&backend.ip);
            set(&mut m, Field::ETH_TYPE, ETH_TYPE_IP.into());
            set(&mut m, Field::IPV4_SRC, u32::from(bip4).into());
            set(&mut m, Field::IPV4_DST, u32::from(bip4).into());
            if lb.orig_tuple {
                set(&mut m, LOG_LB_ORIG_DIP_IPV4, u32::from(vip4).into());
            } else {
                set(&mut m, Field::CT_NW_DST, u32::from(vip4).into());
            }
            let snat = IpAddrIn::V4(lb.snat_v4.unwrap_or(vip4));
            reply_learn(snat, lb.proto, backend.port != 0, cookie)
        }
        None => {
            set(&mut m, Field::ETH_TYPE, ETH_TYPE_IPV6.into());
            set(&mut m, Field::IPV6_SRC, u128::from(backend.ip));
            set(&mut m, Field::IPV6_DST, u128::from(backend.ip));
            if lb.orig_tuple {
                set(&mut m, LOG_LB_ORIG_DIP_IPV6, u128::from(vip.ip));
            } else {
                set(&mut m, Field::CT_IPV6_DST, u128::from(vip.ip));
            }
            let snat = IpAddrIn::V6(lb.snat_v6.unwrap_or(vip.ip));
            reply_learn(snat, lb.proto, backend.port != 0, cookie)
        }
    };
    if backend.port != 0 {
        set(&mut m, Field::IP_PROTO, lb.proto.into());
        set(&mut m, tp_field(lb.proto, false), backend.port.into());
        if lb.orig_tuple {
            set_masked(&mut m, LOG_LB_ORIG_TP_DPORT, vip.port.into(), 0xffff);
        } else {
            set(&mut m, Field::CT_NW_PROTO, lb.proto.into());
            set(&mut m, Field::CT_TP_DST, vip.port.into());
        }
    }
    // Only traffic that was load balanced ("ct.natted"); before northd says so, 23.03 looks
    // for that bit in ct_label, where older northds kept it.
    let natted = u128::from(ct_mark::NATTED);
    if use_ct_mark {
        set_masked(&mut m, Field::CT_MARK, natted, natted);
    } else {
        set_masked(&mut m, Field::CT_LABEL, natted, natted);
    }
    let actions = vec![load_bit(LOG_FLAGS, flags::LOOKUP_LB_HAIRPIN), Action::Learn(learn)];
    DesiredFlow::new(CHK_LB_HAIRPIN, 100, m, cookie, actions)
}

/// An address of the VIP's family.
#[derive(Clone, Copy)]
enum IpAddrIn {
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

/// in6_addr_get_mapped_ipv4(): 0.0.0.0 for an address that is not IPv4-mapped (a backend of
/// a `::ffff:a.b.c.d` VIP may be one).
fn mapped_v4(ip: &Ipv6Addr) -> Ipv4Addr {
    parse::mapped_v4(ip).unwrap_or(Ipv4Addr::UNSPECIFIED)
}

/// add_lb_vip_hairpin_reply_action(): learn, into table 69, the flow that recognises the
/// backend's replies to a hairpinned session (ip.src = backend, ip.dst = VIP or
/// hairpin_snat_ip, same datapath, protocol and ports) and flags them.
fn reply_learn(vip: IpAddrIn, proto: u8, has_l4_port: bool, cookie: u64) -> Learn {
    let field_spec = |dst: Field, src: Field| LearnSpec {
        src: LearnSrc::Field(Subfield::whole(src)),
        dst: LearnDst::Match(Subfield::whole(dst)),
        n_bits: dst.n_bits() as u16,
    };
    let imm_spec = |dst: Field, value: u128| LearnSpec {
        src: LearnSrc::Imm(imm(value, dst.n_bits())),
        dst: LearnDst::Match(Subfield::whole(dst)),
        n_bits: dst.n_bits() as u16,
    };
    let mut specs = vec![field_spec(Field::METADATA, Field::METADATA)];
    match vip {
        IpAddrIn::V4(ip) => {
            specs.push(imm_spec(Field::ETH_TYPE, ETH_TYPE_IP.into()));
            specs.push(field_spec(Field::IPV4_SRC, Field::IPV4_SRC));
            specs.push(imm_spec(Field::IPV4_DST, u32::from(ip).into()));
        }
        IpAddrIn::V6(ip) => {
            specs.push(imm_spec(Field::ETH_TYPE, ETH_TYPE_IPV6.into()));
            specs.push(field_spec(Field::IPV6_SRC, Field::IPV6_SRC));
            specs.push(imm_spec(Field::IPV6_DST, u128::from(ip)));
        }
    }
    if has_l4_port {
        specs.push(imm_spec(Field::IP_PROTO, proto.into()));
        specs.push(field_spec(tp_field(proto, true), tp_field(proto, false)));
    } else {
        specs.push(field_spec(Field::IP_PROTO, Field::IP_PROTO));
    }
    let bit = flags::LOOKUP_LB_HAIRPIN.trailing_zeros() as u16;
    specs.push(LearnSpec {
        src: LearnSrc::Imm(imm(1, 1)),
        dst: LearnDst::Load(Subfield { field: LOG_FLAGS, ofs: bit, n_bits: 1 }),
        n_bits: 1,
    });
    Learn {
        idle_timeout: 0,
        hard_timeout: 0,
        priority: LEARNED_PRIORITY,
        cookie,
        flags: NX_LEARN_F_DELETE_LEARNED,
        table_id: CHK_LB_HAIRPIN_REPLY,
        fin_idle_timeout: 0,
        fin_hard_timeout: 0,
        limit: 0,
        result_dst: None,
        specs,
    }
}

/// add_lb_ct_snat_hairpin_vip_flow(): table 70 for one VIP. Without hairpin_snat_ip for the
/// VIP's family one flow serves every datapath (any LB with that VIP SNATs the same way);
/// with it, one flow per local datapath, at a higher priority than the general one.
fn snat_flows(lb: &Lb, vip: &Vip, cookie: u64, local_dps: &[u32], out: &mut Vec<DesiredFlow>) {
    let v4 = parse::mapped_v4(&vip.ip);
    let (nat, snat_ip_set) = match v4 {
        Some(vip4) => {
            let ip = lb.snat_v4.unwrap_or(vip4);
            (NatAddrs::V4(u32::from(ip), 0), lb.snat_v4.is_some())
        }
        None => {
            let ip = lb.snat_v6.unwrap_or(vip.ip);
            (NatAddrs::V6(u128::from(ip), 0), lb.snat_v6.is_some())
        }
    };
    let ct = Ct {
        flags: NX_CT_F_COMMIT,
        zone: CtZone::Field(Subfield { field: LOG_SNAT_ZONE, ofs: 0, n_bits: 16 }),
        table: NX_CT_RECIRC_NONE,
        alg: 0,
        actions: vec![Action::Nat(Nat { flags: NX_NAT_F_SRC, addrs: Some(nat), proto_min: 0, proto_max: 0 })],
    };
    let mut m = Match::new();
    if !lb.orig_tuple {
        set_masked(&mut m, Field::CT_STATE, CT_STATE_TRK_DNAT, CT_STATE_TRK_DNAT);
    }
    match v4 {
        Some(vip4) => {
            set(&mut m, Field::ETH_TYPE, ETH_TYPE_IP.into());
            let f = if lb.orig_tuple { LOG_LB_ORIG_DIP_IPV4 } else { Field::CT_NW_DST };
            set(&mut m, f, u32::from(vip4).into());
        }
        None => {
            set(&mut m, Field::ETH_TYPE, ETH_TYPE_IPV6.into());
            let f = if lb.orig_tuple { LOG_LB_ORIG_DIP_IPV6 } else { Field::CT_IPV6_DST };
            set(&mut m, f, u128::from(vip.ip));
        }
    }
    if vip.port != 0 {
        set(&mut m, Field::IP_PROTO, lb.proto.into());
        if lb.orig_tuple {
            set_masked(&mut m, LOG_LB_ORIG_TP_DPORT, vip.port.into(), 0xffff);
        } else {
            set(&mut m, Field::CT_NW_PROTO, lb.proto.into());
            set(&mut m, Field::CT_TP_DST, vip.port.into());
        }
    }
    // Port-less VIPs yield to VIPs with ports (10 lower), so a finer LB wins.
    let port_penalty = if vip.port != 0 { 0 } else { 10 };
    let actions = vec![Action::Ct(ct)];
    if !snat_ip_set {
        out.push(DesiredFlow::new(CT_SNAT_HAIRPIN, 100 - port_penalty, m, cookie, actions));
        return;
    }
    let mut done = BTreeSet::new();
    for &dp in local_dps {
        if !done.insert(dp) {
            continue;
        }
        let mut dm = m.clone();
        set(&mut dm, Field::METADATA, dp.into());
        out.push(DesiredFlow::new(CT_SNAT_HAIRPIN, 200 - port_penalty, dm, cookie, actions.clone()));
    }
}

/// The L4 source (`src`) or destination port field of an LB protocol.
fn tp_field(proto: u8, src: bool) -> Field {
    match (proto, src) {
        (parse::UDP, true) => Field::UDP_SRC,
        (parse::UDP, false) => Field::UDP_DST,
        (parse::SCTP, true) => Field::SCTP_SRC,
        (parse::SCTP, false) => Field::SCTP_DST,
        (_, true) => Field::TCP_SRC,
        (_, false) => Field::TCP_DST,
    }
}

/// A learn immediate: big-endian, padded to whole 16-bit units as NXAST_LEARN carries it.
fn imm(value: u128, n_bits: usize) -> Vec<u8> {
    let n = n_bits.div_ceil(16) * 2;
    let b = value.to_be_bytes();
    b.get(16usize.saturating_sub(n)..).unwrap_or_default().to_vec()
}

/// put_load() of a one-bit flag: a masked set_field of that bit.
fn load_bit(field: Field, flag: u32) -> Action {
    let n = field.n_bytes().min(16);
    let bytes = |v: u128| v.to_be_bytes().get(16 - n..).unwrap_or_default().to_vec();
    Action::SetField { field, value: bytes(flag.into()), mask: Some(bytes(flag.into())) }
}

#[cfg(test)]
mod tests;
