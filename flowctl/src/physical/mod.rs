//! Physical flows: what 23.03's controller/physical.c installs, i.e. every flow that does not
//! come from a Logical_Flow row. Ingress classification of local VIFs, localnet/l2gateway patch
//! ports and tunnels into the logical pipeline (table 0); output to remote chassis through
//! tunnels (39), to local ports (40), the loopback check (41), in_port save (64), delivery to
//! OpenFlow ports / patch peers (65); multicast groups (39/40); the static defaults of tables 0,
//! 37-41, 64, 65.
//!
//! [`compute`] is a pure function of a [`PhysicalInput`], a plain snapshot of the Southbound
//! rows and local facts physical.c reads. Tables, priorities, matches, actions, register loads
//! and flag bits are 23.03's (checked against the real ovn-controller by the golden tests in
//! `golden.rs`, data in flowctl/tests/data/physical/). As in 23.03, flows made for a
//! Port_Binding or Multicast_Group carry the first 32 bits of that row's UUID as cookie;
//! the static flows (and the tunnel flows) carry cookie 0.
//!
//! # Filling [`PhysicalInput`]
//! Everything is plain data, by name or tunnel key:
//! - `chassis`, `hostname`, `chassis_mac_mappings`, `bridge_networks`: this chassis' config
//!   (system-id, hostname, ovn-chassis-mac-mappings, the network names of
//!   ovn-bridge-mappings).
//! - `datapaths`: the local datapaths (binding.rs computes them), with the Datapath_Binding
//!   _uuid (for the `<uuid>_dnat` / `<uuid>_snat` ct zone keys) and whether
//!   external_ids:interconn-ts is set.
//! - `ports`: the replicated Port_Binding rows (the local datapaths' and their patch peers'
//!   at least), references resolved: chassis / additional_chassis / requested_* to Chassis
//!   names, encap / additional_encap to Encap ip (and chassis_name), ha_chassis_group to its
//!   HA_Chassis members (chassis name, priority) and ref_chassis names.
//! - `mc_groups`: Multicast_Group rows, ports by logical_port name.
//! - `chassis_rows`: Chassis rows (_uuid, name, other_config is-vtep and
//!   ovn-chassis-mac-mappings).
//! - `tunnels`: br-int Ports with external_ids:ovn-chassis-id, their Interface type and
//!   ofport; `patch_ofports`: br-int patch Interfaces whose Port has
//!   external_ids:ovn-localnet-port / ovn-l2gateway-port (value = logical port); `vifs`:
//!   Interfaces with external_ids:iface-id of ports bound here (ofport, mtu).
//! - `ct_zones`: the zone allocator's map; `geneve_index`: from the installer's TLV map;
//!   `active_tunnels` (BFD), `activated_ports` (pinctrl), `drop_debug`: empty / None until
//!   those exist.
//!
//! Not here (lflow-side in 23.03, not physical.c): MAC_Binding tables 66/67, FDB 71/72,
//! port security 73-75, LB hairpin 68-70, ECMP 76/77, LB affinity 78 and the conjunction
//! flows of logical matches.

// flowctl's main loop (controller.rs) wires this module in; until then nothing calls it.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashSet};

use shared::openflow::actions::{ports, Bundle, Controller, Sample, Subfield};
use shared::openflow::{Action, Field, Match};
use shared::ovn::logical_fields::flags;
use shared::ovn::tables::{
    CHECK_LOOPBACK, LOCAL_OUTPUT, LOG_EGRESS_PIPELINE, LOG_INGRESS_PIPELINE, LOG_TO_PHY, OUTPUT_LARGE_PKT_DETECT,
    OUTPUT_LARGE_PKT_PROCESS, PHY_TO_LOG, REMOTE_OUTPUT, SAVE_INPORT,
};

use crate::flows::{set, set_masked, DesiredFlow};

#[cfg(test)]
mod golden;
#[cfg(test)]
mod tests;

/// Tunnel encapsulation of a br-int tunnel port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encap {
    Geneve,
    Stt,
    Vxlan,
}

impl Encap {
    /// From the Interface `type` column ("geneve", "stt", "vxlan").
    pub fn from_iface_type(t: &str) -> Option<Encap> {
        match t {
            "geneve" => Some(Encap::Geneve),
            "stt" => Some(Encap::Stt),
            "vxlan" => Some(Encap::Vxlan),
            _ => None,
        }
    }
}

/// A tunnel port on br-int to another chassis (23.03's `struct chassis_tunnel`).
#[derive(Clone, Debug, PartialEq)]
pub struct Tunnel {
    /// The Port's external_ids:ovn-chassis-id, `<chassis>@<encap ip>`.
    pub chassis_id: String,
    pub encap: Encap,
    pub ofport: u16,
    /// The remote encap IP is IPv6 (for the path MTU overhead).
    pub is_ipv6: bool,
}

impl Tunnel {
    /// encaps_tunnel_id_parse(): the chassis of `<chassis>@<ip>`, both non-empty; 23.03
    /// ignores tunnel ports whose id does not parse.
    fn chassis(&self) -> Option<&str> {
        let (c, ip) = self.chassis_id.split_once('@')?;
        (!c.is_empty() && !ip.is_empty()).then_some(c)
    }

    /// encaps_tunnel_id_match(): `<chassis>@<ip>`, ip checked when given.
    fn matches(&self, chassis: &str, ip: Option<&str>) -> bool {
        match self.chassis_id.split_once('@') {
            Some((c, i)) => c == chassis && ip.is_none_or(|ip| ip == i),
            None => false,
        }
    }
}

/// A member of an HA_Chassis_Group.
#[derive(Clone, Debug, PartialEq)]
pub struct HaChassis {
    /// Chassis name; `None` when the HA_Chassis row has no chassis.
    pub chassis: Option<String>,
    pub priority: i64,
}

/// An HA_Chassis_Group (ha_chassis + ref_chassis, by chassis name).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HaChassisGroup {
    pub members: Vec<HaChassis>,
    pub ref_chassis: Vec<String>,
}

/// One Southbound Port_Binding row, with references resolved to names and keys.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PortBinding {
    /// The row's _uuid (lower-case text). Its first 32 bits are the flows' cookie, and
    /// multicast group members are taken in UUID order, as the IDL gives them.
    pub uuid: String,
    pub logical_port: String,
    /// `type` column ("" for a VIF).
    pub kind: String,
    /// Tunnel key of the Datapath_Binding.
    pub datapath: u32,
    pub tunnel_key: u32,
    /// `chassis` column, by Chassis name.
    pub chassis: Option<String>,
    /// In Southbound order (the IDL sorts a set by the referenced rows' _uuid): with several
    /// additional chassis, their tunnel outputs follow this order.
    pub additional_chassis: Vec<String>,
    /// IP of the `encap` column's Encap.
    pub encap_ip: Option<String>,
    /// `additional_encap`: (chassis_name, ip) of each Encap.
    pub additional_encap: Vec<(String, String)>,
    /// `requested_chassis` / `requested_additional_chassis`, by Chassis name.
    pub requested_chassis: Option<String>,
    pub requested_additional_chassis: Vec<String>,
    pub parent_port: Option<String>,
    pub tag: Option<u16>,
    /// `mac` column entries as written ("MAC [IP...]", "router", "unknown").
    pub mac: Vec<String>,
    pub options: BTreeMap<String, String>,
    pub ha_chassis_group: Option<HaChassisGroup>,
}

impl PortBinding {
    fn opt(&self, k: &str) -> Option<&str> {
        self.options.get(k).map(String::as_str)
    }
    fn cookie(&self) -> u64 {
        uuid_cookie(&self.uuid)
    }
    fn is(&self, kind: &str) -> bool {
        self.kind == kind
    }
}

/// A local datapath (23.03's `struct local_datapath`): only local datapaths get flows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Datapath {
    pub key: u32,
    /// The Datapath_Binding _uuid: the ct zone keys `<uuid>_dnat` / `<uuid>_snat`.
    pub uuid: String,
    /// external_ids:interconn-ts is set (OVN-IC transit switch).
    pub is_transit_switch: bool,
}

/// A Multicast_Group row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct McGroup {
    pub uuid: String,
    pub datapath: u32,
    pub tunnel_key: u32,
    /// Member ports by logical_port name.
    pub ports: Vec<String>,
}

/// A Chassis row other than ours (or ours: it is skipped where 23.03 skips it).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChassisInfo {
    pub uuid: String,
    pub name: String,
    /// other_config:is-vtep=true.
    pub is_vtep: bool,
    /// other_config:ovn-chassis-mac-mappings (`net1:MAC1,net2:MAC2`), empty if unset.
    pub mac_mappings: String,
}

/// A local VIF interface (23.03's local binding): the interface whose iface-id is the port.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Vif {
    pub ofport: u16,
    /// Interface mtu, 0 if unknown (only multi-chassis path MTU flows use it).
    pub mtu: u16,
}

/// Sampling of dropped packets (ovn-controller's debug_drop_* options); `None`: plain drops.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DropDebug {
    pub collector_set_id: u32,
    pub obs_domain_id: u32,
}

/// Everything physical.c reads, as plain data.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PhysicalInput {
    /// This chassis' name (system-id) and hostname (requested-chassis may name either).
    pub chassis: String,
    pub hostname: String,
    /// Our ovn-chassis-mac-mappings (`net:MAC,...`), for the localnet router-MAC flows.
    pub chassis_mac_mappings: String,
    /// tun_metadata index of OVN's Geneve option (class 0x102, type 0x80), as the installer
    /// learned it from the switch's TLV map. 23.03 usually gets 0.
    pub geneve_index: u8,
    /// Network names of ovn-bridge-mappings (a localnet port counts only when mapped).
    pub bridge_networks: BTreeSet<String>,
    /// The local datapaths.
    pub datapaths: Vec<Datapath>,
    /// Port_Binding rows: at least those of the local datapaths and their patch peers.
    pub ports: Vec<PortBinding>,
    pub mc_groups: Vec<McGroup>,
    /// Chassis rows (for remote chassis MACs and is-vtep).
    pub chassis_rows: Vec<ChassisInfo>,
    /// Tunnel ports on br-int.
    pub tunnels: Vec<Tunnel>,
    /// Local VIFs bound here: logical port -> interface.
    pub vifs: BTreeMap<String, Vif>,
    /// localnet / l2gateway patch ports on br-int: logical port -> ofport.
    pub patch_ofports: BTreeMap<String, u16>,
    /// Conntrack zones by 23.03's keys: logical port names, `<dp uuid>_dnat`, `<dp uuid>_snat`.
    pub ct_zones: BTreeMap<String, u16>,
    /// Chassis with a BFD session up (ha-chassis activity); empty without BFD.
    pub active_tunnels: BTreeSet<String>,
    /// (datapath key, port key) pinctrl saw activated by a RARP (activation-strategy=rarp).
    pub activated_ports: BTreeSet<(u32, u32)>,
    pub drop_debug: Option<DropDebug>,
}

// ---- 23.03 constants -----------------------------------------------------------------

/// OVN's Geneve option (controller/physical.h): class, type (critical), length. The
/// installer maps it to a tun_metadata field ([`PhysicalInput::geneve_index`]).
pub const OVN_GENEVE_CLASS: u16 = 0x0102;
pub const OVN_GENEVE_TYPE: u8 = 0x80;
pub const OVN_GENEVE_LEN: u8 = 4;

/// First multicast group tunnel key (lib/ovn-util.h OVN_MIN_MULTICAST).
const OVN_MIN_MULTICAST: u32 = 32768;
/// VXLAN's 12-bit port key space starts multicast here (OVN_VXLAN_MIN_MULTICAST).
const OVN_VXLAN_MIN_MULTICAST: u32 = 2048;
/// CHASSIS_MAC_TO_ROUTER_MAC_CONJID in physical.c.
const CHASSIS_MAC_TO_ROUTER_MAC_CONJID: u32 = 100;
/// MFF_N_LOG_REGS: reg0..reg9 are logical registers.
const N_LOG_REGS: usize = 10;
const GENEVE_TUNNEL_OVERHEAD: u16 = 38;
const STT_TUNNEL_OVERHEAD: u16 = 18;
const VXLAN_TUNNEL_OVERHEAD: u16 = 30;
const IP_HEADER_LEN: u16 = 20;
const IPV6_HEADER_LEN: u16 = 40;
/// ETH_HEADER_LEN + VLAN_HEADER_LEN.
const ETHERNET_OVERHEAD: u16 = 18;
const ETH_TYPE_IP: u16 = 0x0800;
const ETH_TYPE_IPV6: u16 = 0x86dd;
const ETH_TYPE_RARP: u16 = 0x8035;
const VLAN_CFI: u16 = 0x1000;
/// include/ovn/actions.h enum action_opcode values.
const ACTION_OPCODE_ICMP: u32 = 10;
const ACTION_OPCODE_PUT_ICMP4_FRAG_MTU: u32 = 13;
const ACTION_OPCODE_PUT_ICMP6_FRAG_MTU: u32 = 21;
const ACTION_OPCODE_ACTIVATION_STRATEGY_RARP: u32 = 26;
/// Bundle algorithm active_backup; hash fields eth_src.
const NX_BD_ALG_ACTIVE_BACKUP: u16 = 0;
const NX_HASH_FIELDS_ETH_SRC: u16 = 0;
/// BUNDLE_MAX_MEMBERS in OVS lib/bundle.h.
const BUNDLE_MAX_MEMBERS: usize = 2048;

// ---- small builders --------------------------------------------------------------------

/// First 32 bits of a UUID's text form (`uuid.parts[0]`), 0 if it is not one.
pub fn uuid_cookie(uuid: &str) -> u64 {
    uuid.get(..8).and_then(|h| u64::from_str_radix(h, 16).ok()).unwrap_or(0)
}

fn be(v: u128, n: usize) -> Vec<u8> {
    let b = v.to_be_bytes();
    b.get(16usize.saturating_sub(n)..).unwrap_or_default().to_vec()
}

/// put_load(): `value` into bits `ofs..ofs+n_bits` of `field` (a set_field, masked unless
/// the whole field is written, as the codec parses `load:`).
fn load(field: Field, ofs: u16, n_bits: u16, value: u64) -> Action {
    let n = field.n_bytes().min(16);
    let width = (8 * n) as u32;
    let bits = |ofs: u16, n_bits: u16| -> u128 {
        let m = if n_bits >= 128 { u128::MAX } else { (1u128 << n_bits) - 1 };
        m.checked_shl(u32::from(ofs)).unwrap_or(0)
    };
    let full = if width >= 128 { u128::MAX } else { (1u128 << width) - 1 };
    let mask = bits(ofs, n_bits) & full;
    let value = (u128::from(value) << ofs) & mask;
    Action::SetField { field, value: be(value, n), mask: if mask == full { None } else { Some(be(mask, n)) } }
}

/// The bit number of a one-bit MLF_* flag (MLF_*_BIT).
fn bit(flag: u32) -> u16 {
    flag.trailing_zeros() as u16
}

fn load32(field: Field, value: u32) -> Action {
    load(field, 0, 32, value.into())
}

fn sub(field: Field, ofs: u16, n_bits: u16) -> Subfield {
    Subfield { field, ofs, n_bits }
}

fn mov(src: Field, src_ofs: u16, dst: Field, dst_ofs: u16, n_bits: u16) -> Action {
    Action::Move { src: sub(src, src_ofs, n_bits), dst: sub(dst, dst_ofs, n_bits) }
}

fn resubmit(table: u8) -> Action {
    Action::Resubmit { in_port: ports::IN_PORT, table, ct: false }
}

fn output(port: u16) -> Action {
    Action::Output { port, max_len: 0 }
}

fn set_eth_src(mac: [u8; 6]) -> Action {
    Action::SetField { field: Field::ETH_SRC, value: mac.to_vec(), mask: None }
}

fn whole(field: Field) -> Subfield {
    Subfield::whole(field)
}

/// MFF_LOG_REG0 + i (reg0..reg9).
fn reg(i: usize) -> Field {
    Field::REGS[..10].get(i).copied().unwrap_or(Field::REG0)
}

const LOG_DATAPATH: Field = Field::METADATA;
const LOG_FLAGS: Field = Field::REG10;
const LOG_DNAT_ZONE: Field = Field::REG11;
const LOG_SNAT_ZONE: Field = Field::REG12;
const LOG_CT_ZONE: Field = Field::REG13;
const LOG_INPORT: Field = Field::REG14;
const LOG_OUTPORT: Field = Field::REG15;

/// match_outport_dp_and_port_keys().
fn match_outport(dp: u32, port: u32) -> Match {
    let mut m = Match::new();
    set(&mut m, LOG_DATAPATH, dp.into());
    set(&mut m, LOG_OUTPORT, port.into());
    m
}

fn match_in_port(ofport: u16) -> Match {
    let mut m = Match::new();
    set(&mut m, Field::IN_PORT, ofport.into());
    m
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in out.iter_mut() {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// OVS's str_to_mac(): a MAC at the start of `s` ("MAC IP..." parses as its MAC).
fn str_to_mac(s: &str) -> Option<[u8; 6]> {
    s.split_whitespace().next().and_then(parse_mac)
}

/// extract_sbrec_binding_first_mac(): the MAC of `mac[0]`.
fn first_mac(pb: &PortBinding) -> Option<[u8; 6]> {
    pb.mac.first().and_then(|m| str_to_mac(m))
}

#[derive(Clone, Copy, Default)]
struct ZoneIds {
    ct: u16,
    dnat: u16,
    snat: u16,
}

/// The flows being built, in 23.03's identity (table, priority, match): a second flow with
/// the same identity is ignored, as ofctrl_add_flow() does.
#[derive(Default)]
struct Flows {
    out: Vec<DesiredFlow>,
    seen: HashSet<(u8, u16, Match)>,
}

impl Flows {
    fn add(&mut self, table: u8, priority: u16, cookie: u64, m: Match, actions: Vec<Action>) {
        if self.seen.insert((table, priority, m.clone())) {
            self.out.push(DesiredFlow::new(table, priority, m, cookie, actions));
        }
    }
}

// ---- the computation ---------------------------------------------------------------------

struct Ctx<'a> {
    inp: &'a PhysicalInput,
    by_name: BTreeMap<&'a str, &'a PortBinding>,
    /// Tunnels by remote chassis name, in input order, without tunnels to ourselves.
    tunnels_by_chassis: BTreeMap<&'a str, Vec<&'a Tunnel>>,
    vtep_chassis: BTreeSet<&'a str>,
    local: BTreeMap<u32, LocalDp<'a>>,
    geneve: Field,
    flows: Flows,
}

/// What 23.03 keeps per local datapath besides the row.
struct LocalDp<'a> {
    dp: &'a Datapath,
    localnet_port: Option<&'a PortBinding>,
    /// (local port, remote peer) pairs of patch / l3gateway ports.
    peer_ports: Vec<(&'a PortBinding, &'a PortBinding)>,
    external_ports: Vec<&'a PortBinding>,
    multichassis_ports: Vec<&'a PortBinding>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Local,
    Localnet,
    Remote,
    HaRemote,
}

/// All physical flows for `inp`, in no particular order.
pub fn compute(inp: &PhysicalInput) -> Vec<DesiredFlow> {
    let mut ctx = Ctx::new(inp);
    ctx.build_local_datapaths();
    ctx.run();
    ctx.flows.out
}

impl<'a> Ctx<'a> {
    fn new(inp: &'a PhysicalInput) -> Ctx<'a> {
        let geneve =
            Field::from_name(&format!("tun_metadata{}", inp.geneve_index.min(63))).unwrap_or(Field::TUN_METADATA0);
        let mut by_name = BTreeMap::new();
        for pb in &inp.ports {
            by_name.entry(pb.logical_port.as_str()).or_insert(pb);
        }
        let mut tunnels_by_chassis: BTreeMap<&str, Vec<&Tunnel>> = BTreeMap::new();
        for t in &inp.tunnels {
            // local_nonvif_data_run() leaves out tunnels that name this chassis.
            if let Some(ch) = t.chassis().filter(|c| *c != inp.chassis) {
                tunnels_by_chassis.entry(ch).or_default().push(t);
            }
        }
        let vtep_chassis = inp.chassis_rows.iter().filter(|c| c.is_vtep).map(|c| c.name.as_str()).collect();
        Ctx { inp, by_name, tunnels_by_chassis, vtep_chassis, local: BTreeMap::new(), geneve, flows: Flows::default() }
    }

    fn lookup(&self, name: &str) -> Option<&'a PortBinding> {
        self.by_name.get(name).copied()
    }

    fn me(&self) -> &'a str {
        self.inp.chassis.as_str()
    }

    fn is_me(&self, chassis: Option<&str>) -> bool {
        chassis == Some(self.me())
    }

    /// local_data.c / binding.c: localnet port, peer ports, external and multichassis ports
    /// of each local datapath.
    fn build_local_datapaths(&mut self) {
        for dp in &self.inp.datapaths {
            self.local.entry(dp.key).or_insert(LocalDp {
                dp,
                localnet_port: None,
                peer_ports: Vec::new(),
                external_ports: Vec::new(),
                multichassis_ports: Vec::new(),
            });
        }
        let mut peers: Vec<(u32, &'a PortBinding, &'a PortBinding)> = Vec::new();
        for pb in &self.inp.ports {
            if !self.local.contains_key(&pb.datapath) {
                continue;
            }
            if pb.is("patch") || pb.is("l3gateway") {
                if let Some(peer) = pb.opt("peer").and_then(|p| self.lookup(p)) {
                    if self.need_add_peer_to_local(pb) {
                        peers.push((pb.datapath, pb, peer));
                        peers.push((peer.datapath, peer, pb));
                    }
                }
            }
        }
        for (dp, local, remote) in peers {
            if let Some(ld) = self.local.get_mut(&dp) {
                if !ld.peer_ports.iter().any(|(l, _)| l.logical_port == local.logical_port) {
                    ld.peer_ports.push((local, remote));
                }
            }
        }
        for pb in &self.inp.ports {
            let Some(ld) = self.local.get_mut(&pb.datapath) else { continue };
            if pb.is("localnet")
                && ld.localnet_port.is_none()
                && pb.opt("network_name").is_some_and(|n| self.inp.bridge_networks.contains(n))
            {
                ld.localnet_port = Some(pb);
            }
            if pb.is("external") {
                ld.external_ports.push(pb);
            }
            if !pb.additional_chassis.is_empty() {
                ld.multichassis_ports.push(pb);
            }
        }
    }

    /// need_add_peer_to_local().
    fn need_add_peer_to_local(&self, pb: &PortBinding) -> bool {
        if pb.is("l3gateway") && self.is_me(pb.chassis.as_deref()) {
            return true;
        }
        if !pb.is("patch") {
            return false;
        }
        let Some(crp) = pb.opt("chassis-redirect-port") else { return true };
        let Some(pb_crp) = self.lookup(crp) else { return false };
        if pb_crp.opt("always-redirect") != Some("true") {
            return true;
        }
        match &pb_crp.ha_chassis_group {
            Some(g) => g.members.iter().any(|m| m.chassis.as_deref() == Some(self.me())),
            None => false,
        }
    }

    fn zone(&self, key: &str) -> u16 {
        self.inp.ct_zones.get(key).copied().unwrap_or(0)
    }

    /// get_zone_ids().
    fn zone_ids(&self, pb: &PortBinding) -> ZoneIds {
        let uuid = self.local.get(&pb.datapath).map(|ld| ld.dp.uuid.as_str()).unwrap_or("");
        ZoneIds {
            ct: self.zone(&pb.logical_port),
            dnat: self.zone(&format!("{uuid}_dnat")),
            snat: self.zone(&format!("{uuid}_snat")),
        }
    }

    fn drop_actions(&self, table: u8) -> Vec<Action> {
        match self.inp.drop_debug {
            Some(d) if d.collector_set_id != 0 => vec![Action::Sample(Sample {
                probability: u16::MAX,
                collector_set_id: d.collector_set_id,
                obs_domain_id: d.obs_domain_id << 24,
                obs_point_id: table.into(),
                sampling_port: ports::NONE,
                direction: 0,
            })],
            _ => Vec::new(),
        }
    }

    /// chassis_tunnel_find().
    fn find_tunnel(&self, chassis: &str, ip: Option<&str>) -> Option<&'a Tunnel> {
        self.tunnels_by_chassis.get(chassis)?.iter().copied().find(|t| t.matches(chassis, ip))
    }

    /// Our tunnels, in input order (local_nonvif_data_run() leaves out those naming us).
    fn tunnels(&self) -> impl Iterator<Item = &'a Tunnel> + 'a {
        let inp: &'a PhysicalInput = self.inp;
        inp.tunnels.iter().filter(move |t| t.chassis().is_some_and(|c| c != inp.chassis))
    }

    /// get_port_binding_tun().
    fn port_binding_tun(&self, encap_ip: Option<&str>, chassis: &str) -> Option<&'a Tunnel> {
        encap_ip.and_then(|ip| self.find_tunnel(chassis, Some(ip))).or_else(|| self.find_tunnel(chassis, None))
    }

    /// get_remote_tunnels().
    fn remote_tunnels(&self, pb: &PortBinding) -> Vec<&'a Tunnel> {
        let mut out = Vec::new();
        if let Some(ch) = pb.chassis.as_deref().filter(|c| *c != self.me()) {
            if let Some(t) = self.port_binding_tun(pb.encap_ip.as_deref(), ch) {
                out.push(t);
            }
        }
        for ch in &pb.additional_chassis {
            if ch == self.me() {
                continue;
            }
            // As 23.03: the additional encap looked up is the one for *this* chassis.
            let ip = pb.additional_encap.iter().find(|(c, _)| c == self.me()).map(|(_, ip)| ip.as_str());
            if let Some(t) = self.port_binding_tun(ip, ch) {
                out.push(t);
            }
        }
        out
    }

    /// put_encapsulation().
    fn encapsulation(&self, encap: Encap, dp_key: u32, outport: u32, is_ramp_switch: bool, acts: &mut Vec<Action>) {
        match encap {
            Encap::Geneve => {
                acts.push(load(Field::TUN_ID, 0, 24, dp_key.into()));
                acts.push(Action::SetField { field: self.geneve, value: outport.to_be_bytes().to_vec(), mask: None });
                acts.push(mov(LOG_INPORT, 0, self.geneve, 16, 15));
            }
            Encap::Stt => {
                acts.push(load(Field::TUN_ID, 0, 64, u64::from(dp_key) | (u64::from(outport) << 24)));
                acts.push(mov(LOG_INPORT, 0, Field::TUN_ID, 40, 15));
            }
            Encap::Vxlan => {
                let mut vni = u64::from(dp_key);
                if !is_ramp_switch {
                    vni |= u64::from(vxlan_port_key(outport)) << 12;
                }
                acts.push(load(Field::TUN_ID, 0, 24, vni));
            }
        }
    }

    fn run(&mut self) {
        self.chassis_mac_conj_flows();
        for pb in idl_order(&self.inp.ports) {
            self.consider_port_binding(pb);
        }
        for mc in &self.inp.mc_groups {
            self.consider_mc_group(mc);
        }
        self.tunnel_flows();
        self.static_flows();
    }

    /// put_chassis_mac_conj_id_flow(): remote chassis MACs, conjunction clause 0.
    fn chassis_mac_conj_flows(&mut self) {
        for ch in &self.inp.chassis_rows {
            if ch.name == self.inp.chassis || ch.mac_mappings.is_empty() {
                continue;
            }
            for token in ch.mac_mappings.split(',') {
                let Some((_, mac)) = token.split_once(':') else { continue };
                let Some(mac) = parse_mac(mac) else { return };
                let mut m = Match::new();
                let _ = m.set(Field::ETH_SRC, &mac);
                let conj = Action::Conjunction { id: CHASSIS_MAC_TO_ROUTER_MAC_CONJID, clause: 0, n_clauses: 2 };
                self.flows.add(PHY_TO_LOG, 180, uuid_cookie(&ch.uuid), m, vec![conj]);
            }
        }
    }

    /// put_local_common_flows(): tables 40, 41, 64 for a port delivered on this chassis.
    fn local_common_flows(&mut self, dp: u32, pb: &PortBinding, parent: Option<&PortBinding>, zones: ZoneIds) {
        let port = pb.tunnel_key;
        let cookie = pb.cookie();

        let mut acts = Vec::new();
        put_zones(zones, &mut acts);
        acts.push(resubmit(CHECK_LOOPBACK));
        self.flows.add(LOCAL_OUTPUT, 100, cookie, match_outport(dp, port), acts);

        let mut m = Match::new();
        set(&mut m, LOG_DATAPATH, dp.into());
        set_masked(&mut m, LOG_FLAGS, 0, flags::ALLOW_LOOPBACK.into());
        set(&mut m, LOG_INPORT, port.into());
        set(&mut m, LOG_OUTPORT, port.into());
        self.flows.add(CHECK_LOOPBACK, 100, cookie, m, self.drop_actions(CHECK_LOOPBACK));

        let mut m = match_outport(dp, port);
        if parent.is_none() {
            set_masked(&mut m, LOG_FLAGS, flags::ALLOW_LOOPBACK.into(), flags::ALLOW_LOOPBACK.into());
        }
        self.flows.add(SAVE_INPORT, 100, cookie, m, save_inport_actions());

        if let Some(parent) = parent {
            let mut m = match_outport(dp, parent.tunnel_key);
            set_masked(&mut m, LOG_FLAGS, flags::NESTED_CONTAINER.into(), flags::NESTED_CONTAINER.into());
            self.flows.add(SAVE_INPORT, 100, 0, m, save_inport_actions());
        }
    }

    fn consider_port_binding(&mut self, pb: &'a PortBinding) {
        let dp = pb.datapath;
        let port = pb.tunnel_key;
        let cookie = pb.cookie();
        if !self.local.contains_key(&dp) {
            return;
        }
        if pb.is("patch") || (pb.is("l3gateway") && self.is_me(pb.chassis.as_deref())) {
            let Some(peer) = self.binding_peer(pb) else { return };
            let zones = self.zone_ids(pb);
            self.local_common_flows(dp, pb, None, zones);
            let mut inner =
                vec![Action::CtClear, load32(LOG_DNAT_ZONE, 0), load32(LOG_SNAT_ZONE, 0), load32(LOG_CT_ZONE, 0)];
            let peer_zones = self.zone_ids(peer);
            ingress_metadata(peer, peer_zones, &mut inner);
            inner.push(load32(LOG_FLAGS, 0));
            inner.push(load32(LOG_OUTPORT, 0));
            for i in 0..N_LOG_REGS {
                inner.push(load32(reg(i), 0));
            }
            inner.push(resubmit(LOG_INGRESS_PIPELINE));
            self.flows.add(LOG_TO_PHY, 100, cookie, match_outport(dp, port), vec![Action::Clone(inner)]);
            return;
        }
        if pb.is("chassisredirect")
            && (self.is_me(pb.chassis.as_deref()) || self.ha_group_is_active(pb.ha_chassis_group.as_ref()))
        {
            let mut acts = Vec::new();
            let distributed = pb.opt("distributed-port").unwrap_or("");
            if let Some(d) = self.lookup(distributed).filter(|d| d.datapath == pb.datapath) {
                acts.push(load32(LOG_OUTPORT, d.tunnel_key));
                put_zones(self.zone_ids(d), &mut acts);
                acts.push(resubmit(CHECK_LOOPBACK));
            }
            self.flows.add(LOCAL_OUTPUT, 100, cookie, match_outport(dp, port), acts);
            return;
        }

        // The OpenFlow port, VLAN tag and parent of the port.
        let mut tag: u16 = 0;
        let mut nested = false;
        let mut parent = None;
        let mut ofport: u16;
        if let Some(pp) = pb.parent_port.as_deref().filter(|p| !p.is_empty()) {
            let Some(t) = pb.tag else { return };
            ofport = self.inp.vifs.get(pp).map_or(0, |v| v.ofport);
            if ofport != 0 {
                tag = t;
                nested = true;
                parent = self.lookup(pp);
            }
        } else if pb.is("localnet") || pb.is("l2gateway") {
            ofport = self.inp.patch_ofports.get(&pb.logical_port).copied().unwrap_or(0);
            if ofport != 0 {
                tag = pb.tag.unwrap_or(0);
            }
        } else {
            ofport = self.inp.vifs.get(&pb.logical_port).map_or(0, |v| v.ofport);
            if ofport != 0 && !self.can_bind_here(pb) {
                ofport = 0;
            }
        }

        let localnet_port = self.local.get(&dp).and_then(|ld| ld.localnet_port);
        let ha_ordered = pb.ha_chassis_group.as_ref().and_then(|g| self.ha_ordered(g, None));

        let mut access = Access::Local;
        if ofport == 0 {
            match localnet_port {
                Some(ln) if pb.additional_chassis.is_empty() => {
                    ofport = self.inp.patch_ofports.get(&ln.logical_port).copied().unwrap_or(0);
                    if ofport == 0 {
                        return;
                    }
                    access = Access::Localnet;
                }
                _ => {
                    access =
                        if ha_ordered.as_ref().is_none_or(|h| h.len() < 2) { Access::Remote } else { Access::HaRemote };
                }
            }
        }

        if access == Access::Local {
            self.local_port_flows(pb, dp, ofport, tag, nested, parent, localnet_port);
        } else if access == Access::Localnet {
            let Some(ln) = localnet_port else { return };
            let acts = vec![load32(LOG_OUTPORT, ln.tunnel_key), resubmit(LOCAL_OUTPUT)];
            self.flows.add(LOCAL_OUTPUT, 100, cookie, match_outport(dp, port), acts);
            self.enforce_tunneling_for_multichassis_ports(pb);
            return;
        }

        // Output to remote chassis (also for local ports with additional chassis).
        let m = match_outport(dp, port);
        if pb.opt("redirect-type").is_some_and(|t| t.eq_ignore_ascii_case("bridged")) {
            self.remote_port_redirect_bridged(pb, m);
        } else if access == Access::HaRemote {
            self.remote_port_redirect_ha(pb, ha_ordered.unwrap_or_default(), m);
        } else {
            self.remote_port_redirect_overlay(pb, m);
        }
    }

    /// The PORT_LOCAL part of consider_port_binding().
    #[allow(clippy::too_many_arguments)]
    fn local_port_flows(
        &mut self,
        pb: &'a PortBinding,
        dp: u32,
        ofport: u16,
        tag: u16,
        nested: bool,
        parent: Option<&'a PortBinding>,
        localnet_port: Option<&'a PortBinding>,
    ) {
        let port = pb.tunnel_key;
        let cookie = pb.cookie();
        let is_patchlike = pb.is("localnet") || pb.is("l2gateway");
        let zones = self.zone_ids(pb);
        self.local_common_flows(dp, pb, parent, zones);

        // Table 0: 150 for tagged traffic, 100 otherwise.
        let mut m = match_in_port(ofport);
        let mut acts = Vec::new();
        if tag != 0 || is_patchlike {
            if nested {
                acts.push(load(LOG_FLAGS, bit(flags::NESTED_CONTAINER), 1, 1));
            }
            let passthru = pb.opt("vlan-passthru") == Some("true");
            if !passthru || tag != 0 {
                set(&mut m, Field::DL_VLAN, tag.into());
                acts.push(Action::PopVlan);
            }
        }
        self.activation_strategy(pb, dp, ofport, zones);
        let n_vlan = acts.len();
        ingress_metadata(pb, zones, &mut acts);
        if pb.is("localport") {
            acts.push(load(LOG_FLAGS, bit(flags::LOCALPORT), 1, 1));
        }
        acts.push(resubmit(LOG_INGRESS_PIPELINE));
        self.flows.add(PHY_TO_LOG, if tag != 0 { 150 } else { 100 }, cookie, m.clone(), acts.clone());
        if tag == 0 && is_patchlike {
            // Frames without any 802.1Q header: same, without the strip.
            let mut m = m;
            m.clear(Field::DL_VLAN);
            set_masked(&mut m, Field::VLAN_TCI, 0, VLAN_CFI.into());
            let acts = acts.get(n_vlan..).unwrap_or_default().to_vec();
            self.flows.add(PHY_TO_LOG, 100, cookie, m, acts);
        }
        if pb.is("localnet") {
            self.replace_chassis_mac_flows(pb, ofport);
        }

        // Table 65: deliver.
        let mut acts = Vec::new();
        if tag != 0 {
            push_vlan(localnet_port.map(|l| &l.options), tag, &mut acts);
        }
        acts.push(output(ofport));
        if tag != 0 {
            acts.push(Action::PopVlan);
        }
        self.flows.add(LOG_TO_PHY, 100, cookie, match_outport(dp, port), acts);

        if pb.is("localnet") {
            self.replace_router_port_mac_flows(pb, ofport);

            // Table 41: no localport -> localnet, no LOCAL_ONLY leaking out.
            for flag in [flags::LOCALPORT, flags::LOCAL_ONLY] {
                let mut m = match_outport(dp, port);
                set_masked(&mut m, LOG_FLAGS, flag.into(), flag.into());
                self.flows.add(CHECK_LOOPBACK, 160, cookie, m, self.drop_actions(CHECK_LOOPBACK));
            }
            // localport traffic to external ports of this chassis is not local.
            let externals: Vec<&PortBinding> =
                self.local.get(&dp).map(|ld| ld.external_ports.clone()).unwrap_or_default();
            for ext in externals {
                if !self.is_me(ext.chassis.as_deref()) {
                    continue;
                }
                let mut acts: Vec<Action> = (0..N_LOG_REGS).map(|i| load32(reg(i), 0)).collect();
                acts.push(resubmit(LOG_EGRESS_PIPELINE));
                for mac in ext.mac.iter().filter_map(|m| str_to_mac(m)) {
                    let mut m = match_outport(dp, port);
                    set_masked(&mut m, LOG_FLAGS, flags::LOCALPORT.into(), flags::LOCALPORT.into());
                    let _ = m.set(Field::ETH_DST, &mac);
                    self.flows.add(CHECK_LOOPBACK, 170, cookie, m, acts.clone());
                }
            }
        }

        // Table 39: traffic from a localport never leaves the chassis.
        if pb.is("localport") {
            let mut m = Match::new();
            set(&mut m, LOG_INPORT, port.into());
            set(&mut m, LOG_DATAPATH, dp.into());
            self.flows.add(REMOTE_OUTPUT, 150, cookie, m, vec![resubmit(LOCAL_OUTPUT)]);
        }
    }

    /// get_binding_peer(): the peer must be of the same type and point back.
    fn binding_peer(&self, pb: &PortBinding) -> Option<&'a PortBinding> {
        let peer = self.lookup(pb.opt("peer")?)?;
        (peer.kind == pb.kind && peer.opt("peer") == Some(pb.logical_port.as_str())).then_some(peer)
    }

    /// lport_can_bind_on_this_chassis() != CANNOT_BIND.
    fn can_bind_here(&self, pb: &PortBinding) -> bool {
        if pb.requested_chassis.as_deref() == Some(self.me()) {
            return true;
        }
        if pb.requested_additional_chassis.iter().any(|c| c == self.me()) {
            return true;
        }
        match pb.opt("requested-chassis").filter(|s| !s.is_empty()) {
            None => true,
            Some(list) => list.split(',').filter(|c| !c.is_empty()).any(|c| c == self.me() || c == self.inp.hostname),
        }
    }

    /// get_ordered_ha_chassis_list(): by priority, then name, both descending. With
    /// `active` (BFD state) only live members count. Chassis names.
    fn ha_ordered(&self, g: &HaChassisGroup, active: Option<&BTreeSet<String>>) -> Option<Vec<String>> {
        let mut list: Vec<(i64, &str)> = Vec::new();
        for m in &g.members {
            let Some(ch) = m.chassis.as_deref() else { continue };
            if let Some(active) = active {
                if ch != self.me() && !active.contains(ch) {
                    continue;
                }
            }
            list.push((m.priority, ch));
        }
        if list.is_empty() {
            return None;
        }
        if list.len() == 1 {
            if let Some(active) = active {
                if !g.ref_chassis.iter().any(|r| active.contains(r)) {
                    return None;
                }
            }
        } else {
            list.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.cmp(a.1)));
        }
        Some(list.into_iter().map(|(_, c)| c.to_string()).collect())
    }

    /// ha_chassis_group_is_active().
    fn ha_group_is_active(&self, g: Option<&HaChassisGroup>) -> bool {
        let Some(g) = g.filter(|g| !g.members.is_empty()) else { return false };
        if let [only] = g.members.as_slice() {
            return only.chassis.as_deref() == Some(self.me());
        }
        let with_chassis: Vec<&str> = g.members.iter().filter_map(|m| m.chassis.as_deref()).collect();
        if with_chassis.len() == 1 && with_chassis.first() == Some(&self.me()) {
            return true;
        }
        if self.inp.active_tunnels.is_empty() {
            return false;
        }
        self.ha_ordered(g, Some(&self.inp.active_tunnels))
            .and_then(|l| l.into_iter().next())
            .is_some_and(|c| c == self.me())
    }

    /// lport_is_chassis_resident().
    fn is_chassis_resident(&self, name: &str) -> bool {
        let Some(pb) = self.lookup(name) else { return false };
        if pb.chassis.is_none() {
            return false;
        }
        if !pb.is("chassisredirect") {
            self.is_me(pb.chassis.as_deref())
        } else {
            self.ha_group_is_active(pb.ha_chassis_group.as_ref())
        }
    }

    /// setup_activation_strategy() (RARP): until activated, only RARP gets in or out.
    fn activation_strategy(&mut self, pb: &PortBinding, dp: u32, ofport: u16, zones: ZoneIds) {
        if !pb.additional_chassis.iter().any(|c| c == self.me()) {
            return;
        }
        let Some(strategy) = pb.opt("activation-strategy") else { return };
        let activated = pb.opt("additional-chassis-activated").is_some_and(|l| l.split(',').any(|c| c == self.me()));
        if activated || self.inp.activated_ports.contains(&(dp, pb.tunnel_key)) || strategy != "rarp" {
            return;
        }
        let cookie = pb.cookie();
        let mut m = match_in_port(ofport);
        set(&mut m, Field::ETH_TYPE, ETH_TYPE_RARP.into());
        let mut acts = Vec::new();
        ingress_metadata(pb, zones, &mut acts);
        acts.push(controller_op(ACTION_OPCODE_ACTIVATION_STRATEGY_RARP, false, Vec::new()));
        acts.push(resubmit(LOG_INGRESS_PIPELINE));
        self.flows.add(PHY_TO_LOG, 1010, cookie, m, acts);
        self.flows.add(PHY_TO_LOG, 1000, cookie, match_in_port(ofport), Vec::new());
        self.flows.add(LOG_TO_PHY, 1000, cookie, match_outport(dp, pb.tunnel_key), Vec::new());
    }

    /// put_replace_chassis_mac_flows(): a localnet port's packets routed on a remote chassis
    /// carry its chassis MAC; put the router port's MAC back.
    fn replace_chassis_mac_flows(&mut self, ln: &PortBinding, ofport: u16) {
        let tag = ln.tag.unwrap_or(0);
        let zones = self.zone_ids(ln);
        let peers: Vec<&PortBinding> =
            self.local.get(&ln.datapath).map(|ld| ld.peer_ports.iter().map(|(_, r)| *r).collect()).unwrap_or_default();
        for rport in peers {
            let Some(router_mac) = first_mac(rport) else { return };
            let mut m = match_in_port(ofport);
            set(&mut m, Field::CONJ_ID, CHASSIS_MAC_TO_ROUTER_MAC_CONJID.into());
            vlan_match(&mut m, tag);
            let mut acts = Vec::new();
            if tag != 0 {
                acts.push(Action::PopVlan);
            }
            ingress_metadata(ln, zones, &mut acts);
            acts.push(set_eth_src(router_mac));
            acts.push(resubmit(LOG_INGRESS_PIPELINE));
            self.flows.add(PHY_TO_LOG, 180, rport.cookie(), m, acts);

            let mut m = Match::new();
            vlan_match(&mut m, tag);
            let conj = Action::Conjunction { id: CHASSIS_MAC_TO_ROUTER_MAC_CONJID, clause: 1, n_clauses: 2 };
            self.flows.add(PHY_TO_LOG, 180, rport.cookie(), m, vec![conj]);
        }
    }

    /// put_replace_router_port_mac_flows(): routed traffic out of a localnet port leaves with
    /// this chassis' MAC instead of the (distributed) router port's.
    fn replace_router_port_mac_flows(&mut self, ln: &PortBinding, ofport: u16) {
        let tag = ln.tag.unwrap_or(0);
        let Some(network) = ln.opt("network_name") else { return };
        let Some(chassis_mac) = chassis_mac(&self.inp.chassis_mac_mappings, network) else { return };
        let peers: Vec<&PortBinding> =
            self.local.get(&ln.datapath).map(|ld| ld.peer_ports.iter().map(|(_, r)| *r).collect()).unwrap_or_default();
        for rport in peers {
            if self.is_chassis_resident(&format!("cr-{}", rport.logical_port)) {
                continue;
            }
            let Some(router_mac) = first_mac(rport) else { return };
            let mut m = match_outport(ln.datapath, ln.tunnel_key);
            let _ = m.set(Field::ETH_SRC, &router_mac);
            let mut acts = vec![set_eth_src(chassis_mac)];
            if tag != 0 {
                push_vlan(Some(&ln.options), tag, &mut acts);
            }
            acts.push(output(ofport));
            acts.push(set_eth_src(router_mac));
            if tag != 0 {
                acts.push(Action::PopVlan);
            }
            self.flows.add(LOG_TO_PHY, 150, ln.cookie(), m, acts);
        }
    }

    /// put_remote_port_redirect_bridged(): a chassisredirect port reached over the localnet
    /// of the switch its distributed port connects to.
    fn remote_port_redirect_bridged(&mut self, pb: &PortBinding, m: Match) {
        if !pb.is("chassisredirect") {
            return;
        }
        let Some(mac) = first_mac(pb) else { return };
        let distributed = pb.opt("distributed-port");
        let Some(ld) = self.local.get(&pb.datapath) else { return };
        let ls_dp = ld
            .peer_ports
            .iter()
            .map(|(_, r)| *r)
            .find(|r| r.opt("peer").is_some() && r.opt("peer") == distributed)
            .map(|r| r.datapath)
            .unwrap_or(0);
        if ls_dp == 0 {
            return;
        }
        let Some(ln) = self.local.get(&ls_dp).and_then(|ld| ld.localnet_port) else { return };
        let acts = vec![
            set_eth_src(mac),
            Action::SetField { field: Field::METADATA, value: u64::from(ls_dp).to_be_bytes().to_vec(), mask: None },
            Action::SetField { field: Field::REG15, value: ln.tunnel_key.to_be_bytes().to_vec(), mask: None },
            resubmit(LOG_TO_PHY),
        ];
        self.flows.add(LOCAL_OUTPUT, 100, pb.cookie(), m, acts);
    }

    /// put_remote_port_redirect_overlay(): tunnel to the port's chassis (and additional ones).
    fn remote_port_redirect_overlay(&mut self, pb: &PortBinding, m: Match) {
        let tuns = self.remote_tunnels(pb);
        if tuns.is_empty() {
            return;
        }
        let is_vtep = pb.is("vtep");
        let mut acts = Vec::new();
        if is_vtep {
            acts.push(load(Field::IN_PORT, 0, 16, ports::NONE.into()));
        }
        for t in tuns {
            self.encapsulation(t.encap, pb.datapath, pb.tunnel_key, is_vtep, &mut acts);
            acts.push(output(t.ofport));
        }
        acts.push(resubmit(LOCAL_OUTPUT));
        self.flows.add(REMOTE_OUTPUT, 100, pb.cookie(), m, acts);
    }

    /// put_remote_port_redirect_overlay_ha_remote(): active/backup bundle over the HA chassis.
    fn remote_port_redirect_ha(&mut self, pb: &PortBinding, ordered: Vec<String>, m: Match) {
        let mut first: Option<&Tunnel> = None;
        for ch in &ordered {
            let t = self.find_tunnel(ch, None);
            match (first, t) {
                (None, t) => first = t,
                (Some(f), Some(t)) if f.encap != t.encap => return, // mixed encapsulations
                _ => {}
            }
        }
        let Some(first) = first else { return };
        let mut acts = Vec::new();
        self.encapsulation(first.encap, pb.datapath, pb.tunnel_key, pb.is("vtep"), &mut acts);
        let members: Vec<u16> = ordered
            .iter()
            .filter_map(|ch| self.find_tunnel(ch, None))
            .map(|t| t.ofport)
            .take(BUNDLE_MAX_MEMBERS)
            .collect();
        acts.push(Action::Bundle(Bundle {
            algorithm: NX_BD_ALG_ACTIVE_BACKUP,
            fields: NX_HASH_FIELDS_ETH_SRC,
            basis: 0,
            dst: None,
            members,
        }));
        self.flows.add(REMOTE_OUTPUT, 100, pb.cookie(), m, acts);
    }

    /// enforce_tunneling_for_multichassis_ports(): a port reached over localnet still gets
    /// traffic from multi-chassis ports through tunnels.
    fn enforce_tunneling_for_multichassis_ports(&mut self, pb: &PortBinding) {
        let Some(ld) = self.local.get(&pb.datapath) else { return };
        if ld.multichassis_ports.is_empty() {
            return;
        }
        let mcps = ld.multichassis_ports.clone();
        let tuns = self.remote_tunnels(pb);
        if tuns.is_empty() {
            return;
        }
        let is_vtep = pb.is("vtep");
        for mcp in mcps {
            let mut acts = Vec::new();
            if is_vtep {
                acts.push(load(Field::IN_PORT, 0, 16, ports::NONE.into()));
            }
            let mut m = match_outport(pb.datapath, pb.tunnel_key);
            set(&mut m, LOG_INPORT, mcp.tunnel_key.into());
            for t in &tuns {
                self.encapsulation(t.encap, pb.datapath, pb.tunnel_key, is_vtep, &mut acts);
                acts.push(output(t.ofport));
            }
            self.flows.add(REMOTE_OUTPUT, 110, pb.cookie(), m, acts);
            self.pkt_too_big(&tuns, pb, mcp);
        }
    }

    /// handle_pkt_too_big(): path MTU flows for a multi-chassis port.
    fn pkt_too_big(&mut self, tuns: &[&Tunnel], pb: &PortBinding, mcp: &PortBinding) {
        let iface_mtu = self.inp.vifs.get(&mcp.logical_port).map_or(0, |v| v.mtu);
        if iface_mtu == 0 {
            return;
        }
        let overhead = tuns
            .iter()
            .map(|t| {
                let base = match t.encap {
                    Encap::Geneve => GENEVE_TUNNEL_OVERHEAD,
                    Encap::Stt => STT_TUNNEL_OVERHEAD,
                    Encap::Vxlan => VXLAN_TUNNEL_OVERHEAD,
                };
                base + if t.is_ipv6 { IPV6_HEADER_LEN } else { IP_HEADER_LEN }
            })
            .max()
            .unwrap_or(0);
        if overhead == 0 {
            return;
        }
        let mtu = iface_mtu.wrapping_sub(overhead);
        for ipv6 in [false, true] {
            for dir in [LOG_INPORT, LOG_OUTPORT] {
                let mut m = Match::new();
                set(&mut m, Field::ETH_TYPE, if ipv6 { ETH_TYPE_IPV6 } else { ETH_TYPE_IP }.into());
                set(&mut m, LOG_DATAPATH, pb.datapath.into());
                set(&mut m, dir, mcp.tunnel_key.into());
                let acts = vec![
                    Action::CheckPktLarger { pkt_len: mtu, dst: sub(Field::REG9, 1, 1) },
                    resubmit(OUTPUT_LARGE_PKT_PROCESS),
                ];
                self.flows.add(OUTPUT_LARGE_PKT_DETECT, 100, pb.cookie(), m.clone(), acts);

                set_masked(&mut m, Field::REG9, 2, 2);
                self.flows.add(OUTPUT_LARGE_PKT_PROCESS, 100, pb.cookie(), m, icmp_too_big_actions(mtu, ipv6));
            }
        }
    }

    fn consider_mc_group(&mut self, mc: &McGroup) {
        let dp = mc.datapath;
        let Some(ld) = self.local.get(&dp) else { return };
        let is_transit = ld.dp.is_transit_switch;
        let has_localnet = ld.localnet_port.is_some();
        let mut members: Vec<&'a PortBinding> = mc.ports.iter().filter_map(|p| self.lookup(p)).collect();
        members.sort_by(|a, b| a.uuid.cmp(&b.uuid));
        members.dedup_by(|a, b| a.uuid == b.uuid);

        let mut local: Vec<Action> = Vec::new();
        let mut remote: Vec<Action> = Vec::new();
        let mut remote_chassis = SsetOrder::default();
        let mut vtep_chassis = SsetOrder::default();
        for port in members {
            if port.datapath != dp {
                continue;
            }
            let zone = self.zone(&port.logical_port);
            if zone != 0 {
                local.push(load32(LOG_CT_ZONE, zone.into()));
            }
            let lport_name = port.parent_port.as_deref().filter(|p| !p.is_empty()).unwrap_or(&port.logical_port);
            let out_and_loopback = |acts: &mut Vec<Action>, key: u32| {
                acts.push(load32(LOG_OUTPORT, key));
                acts.push(resubmit(CHECK_LOOPBACK));
            };
            // Ours (a local binding of the port or of its parent), or an l3gateway port here.
            let bound_here = (self.is_me(port.chassis.as_deref())
                || port.additional_chassis.iter().any(|c| c == self.me()))
                && (self.inp.vifs.contains_key(lport_name) || port.is("l3gateway"));
            // As 23.03: "patch" is checked on its own, then the if/else chain starts at
            // "remote" (a patch port also falls through the chain below).
            if port.is("patch") {
                out_and_loopback(if is_transit { &mut local } else { &mut remote }, port.tunnel_key);
            }
            if port.is("remote") {
                if let Some(ch) = port.chassis.as_deref() {
                    remote.push(load32(LOG_OUTPORT, port.tunnel_key));
                    if let Some(t) = self.find_tunnel(ch, None) {
                        self.encapsulation(t.encap, dp, port.tunnel_key, false, &mut remote);
                        remote.push(output(t.ofport));
                    }
                }
            } else if port.is("localport") {
                out_and_loopback(&mut remote, port.tunnel_key);
            } else if bound_here || self.inp.patch_ofports.contains_key(&port.logical_port) {
                out_and_loopback(&mut local, port.tunnel_key);
            } else if port.is("chassisredirect") && self.is_me(port.chassis.as_deref()) {
                if let Some(d) =
                    port.opt("distributed-port").and_then(|d| self.lookup(d)).filter(|d| d.datapath == port.datapath)
                {
                    out_and_loopback(&mut local, d.tunnel_key);
                }
            } else if !has_localnet {
                let vtep = |c: &str| self.vtep_chassis.contains(c);
                if let Some(ch) = port.chassis.as_deref() {
                    if vtep(ch) {
                        vtep_chassis.insert(ch);
                    } else {
                        remote_chassis.insert(ch);
                    }
                }
                for ch in &port.additional_chassis {
                    if vtep(ch) {
                        vtep_chassis.insert(ch);
                    } else {
                        remote_chassis.insert(ch);
                    }
                }
            }
        }

        let m = match_outport(dp, mc.tunnel_key);
        let cookie = uuid_cookie(&mc.uuid);
        let has_local = !local.is_empty();
        if has_local {
            local.push(load32(LOG_OUTPORT, mc.tunnel_key));
            self.flows.add(LOCAL_OUTPUT, 100, cookie, m.clone(), local);
        }
        if !remote_chassis.is_empty() || !vtep_chassis.is_empty() || !remote.is_empty() {
            if !remote.is_empty() {
                remote.push(load32(LOG_OUTPORT, mc.tunnel_key));
            }
            self.fanout(&remote_chassis, dp, mc.tunnel_key, false, &mut remote);
            self.fanout(&vtep_chassis, dp, mc.tunnel_key, true, &mut remote);
            if !remote.is_empty() {
                if has_local {
                    remote.push(resubmit(LOCAL_OUTPUT));
                }
                self.flows.add(REMOTE_OUTPUT, 100, cookie, m, remote);
            }
        }
    }

    /// fanout_to_chassis(), in the order 23.03 walks its sset.
    fn fanout(&self, chassis: &SsetOrder<'_>, dp: u32, outport: u32, ramp: bool, acts: &mut Vec<Action>) {
        let mut prev: Option<Encap> = None;
        for ch in chassis.iter() {
            let Some(t) = self.find_tunnel(ch, None) else { continue };
            if prev != Some(t.encap) {
                self.encapsulation(t.encap, dp, outport, ramp, acts);
                prev = Some(t.encap);
            }
            acts.push(output(t.ofport));
        }
    }

    /// Table 0 flows for packets from tunnels (and VXLAN ramp switches).
    fn tunnel_flows(&mut self) {
        let tunnels: Vec<&Tunnel> = self.tunnels().collect();
        for t in tunnels.iter().copied() {
            let acts = match t.encap {
                Encap::Geneve => vec![
                    mov(Field::TUN_ID, 0, LOG_DATAPATH, 0, 24),
                    mov(self.geneve, 16, LOG_INPORT, 0, 15),
                    mov(self.geneve, 0, LOG_OUTPORT, 0, 16),
                    resubmit(LOCAL_OUTPUT),
                ],
                Encap::Stt => vec![
                    mov(Field::TUN_ID, 40, LOG_INPORT, 0, 15),
                    mov(Field::TUN_ID, 24, LOG_OUTPORT, 0, 16),
                    mov(Field::TUN_ID, 0, LOG_DATAPATH, 0, 24),
                    resubmit(LOCAL_OUTPUT),
                ],
                Encap::Vxlan => vec![
                    mov(Field::TUN_ID, 12, LOG_OUTPORT, 0, 12),
                    mov(Field::TUN_ID, 0, LOG_DATAPATH, 0, 12),
                    resubmit(LOCAL_OUTPUT),
                ],
            };
            self.flows.add(PHY_TO_LOG, 100, 0, match_in_port(t.ofport), acts);
        }
        for t in tunnels.iter().filter(|t| t.encap == Encap::Vxlan) {
            let mut m = match_in_port(t.ofport);
            let bits = u128::from(OVN_VXLAN_MIN_MULTICAST << 12);
            set_masked(&mut m, Field::TUN_ID, bits, bits);
            let acts = vec![
                load(LOG_OUTPORT, 15, 1, 1),
                mov(Field::TUN_ID, 12, LOG_OUTPORT, 0, 11),
                mov(Field::TUN_ID, 0, LOG_DATAPATH, 0, 12),
                resubmit(LOCAL_OUTPUT),
            ];
            self.flows.add(PHY_TO_LOG, 105, 0, m, acts);
        }
        for t in tunnels.iter().filter(|t| t.encap == Encap::Vxlan) {
            for pb in self.inp.ports.iter().filter(|p| p.is("vtep")) {
                let Some(ch) = pb.chassis.as_deref() else { continue };
                if !t.matches(ch, None) {
                    continue;
                }
                let mut m = match_in_port(t.ofport);
                set(&mut m, Field::TUN_ID, pb.datapath.into());
                let acts = vec![
                    mov(Field::TUN_ID, 0, LOG_DATAPATH, 0, 24),
                    load(LOG_INPORT, 0, 15, pb.tunnel_key.into()),
                    load(LOG_FLAGS, bit(flags::RCV_FROM_RAMP), 1, 1),
                    resubmit(LOG_INGRESS_PIPELINE),
                ];
                self.flows.add(PHY_TO_LOG, 110, pb.cookie(), m, acts);
            }
        }
    }

    /// The fixed flows at the end of physical_run().
    fn static_flows(&mut self) {
        self.flows.add(PHY_TO_LOG, 0, 0, Match::new(), self.drop_actions(PHY_TO_LOG));
        self.flows.add(OUTPUT_LARGE_PKT_DETECT, 0, 0, Match::new(), vec![resubmit(REMOTE_OUTPUT)]);
        let mut m = Match::new();
        set_masked(&mut m, LOG_FLAGS, flags::ALLOW_LOOPBACK.into(), flags::ALLOW_LOOPBACK.into());
        self.flows.add(OUTPUT_LARGE_PKT_PROCESS, 10, 0, m, vec![resubmit(LOCAL_OUTPUT)]);
        self.flows.add(OUTPUT_LARGE_PKT_PROCESS, 0, 0, Match::new(), vec![resubmit(REMOTE_OUTPUT)]);
        let mut m = Match::new();
        set_masked(
            &mut m,
            LOG_FLAGS,
            flags::RCV_FROM_RAMP.into(),
            (flags::RCV_FROM_RAMP | flags::ALLOW_LOOPBACK).into(),
        );
        self.flows.add(REMOTE_OUTPUT, 150, 0, m, vec![resubmit(LOCAL_OUTPUT)]);
        let mut m = Match::new();
        set_masked(&mut m, LOG_FLAGS, flags::LOCAL_ONLY.into(), flags::LOCAL_ONLY.into());
        self.flows.add(REMOTE_OUTPUT, 150, 0, m, vec![resubmit(LOCAL_OUTPUT)]);
        self.flows.add(REMOTE_OUTPUT, 0, 0, Match::new(), vec![resubmit(LOCAL_OUTPUT)]);
        self.flows.add(LOCAL_OUTPUT, 0, 0, Match::new(), self.drop_actions(LOCAL_OUTPUT));
        let mut acts: Vec<Action> = (0..N_LOG_REGS).map(|i| load32(reg(i), 0)).collect();
        acts.push(resubmit(LOG_EGRESS_PIPELINE));
        self.flows.add(CHECK_LOOPBACK, 0, 0, Match::new(), acts);
        self.flows.add(SAVE_INPORT, 0, 0, Match::new(), vec![resubmit(LOG_TO_PHY)]);
        self.flows.add(LOG_TO_PHY, 0, 0, Match::new(), self.drop_actions(LOG_TO_PHY));
    }
}

/// put_zones_ofpacts().
fn put_zones(z: ZoneIds, acts: &mut Vec<Action>) {
    if z.ct != 0 {
        acts.push(load32(LOG_CT_ZONE, z.ct.into()));
    }
    if z.dnat != 0 {
        acts.push(load32(LOG_DNAT_ZONE, z.dnat.into()));
    }
    if z.snat != 0 {
        acts.push(load32(LOG_SNAT_ZONE, z.snat.into()));
    }
}

/// load_logical_ingress_metadata().
fn ingress_metadata(pb: &PortBinding, zones: ZoneIds, acts: &mut Vec<Action>) {
    put_zones(zones, acts);
    acts.push(load(LOG_DATAPATH, 0, 64, pb.datapath.into()));
    acts.push(load32(LOG_INPORT, pb.tunnel_key));
}

/// Table 64's hairpin: push in_port, in_port = NONE, resubmit 65, pop in_port.
fn save_inport_actions() -> Vec<Action> {
    vec![
        Action::StackPush(whole(Field::IN_PORT)),
        load(Field::IN_PORT, 0, 16, ports::NONE.into()),
        resubmit(LOG_TO_PHY),
        Action::StackPop(whole(Field::IN_PORT)),
    ]
}

/// ofpact_put_push_vlan(): push (802.1Q or, with options:ethtype=802.11ad, 802.1ad) + VID.
fn push_vlan(options: Option<&BTreeMap<String, String>>, tag: u16, acts: &mut Vec<Action>) {
    let ethtype = match options.and_then(|o| o.get("ethtype")) {
        Some(e) if e.eq_ignore_ascii_case("802.11ad") => 0x88a8,
        _ => 0x8100,
    };
    acts.push(Action::PushVlan(ethtype));
    acts.push(Action::SetField { field: Field::VLAN_VID, value: (tag | VLAN_CFI).to_be_bytes().to_vec(), mask: None });
}

/// dl_vlan=tag, or "no 802.1Q header" (vlan_tci=0/0x1000) for tag 0.
fn vlan_match(m: &mut Match, tag: u16) {
    if tag != 0 {
        set(m, Field::DL_VLAN, tag.into());
    } else {
        set_masked(m, Field::VLAN_TCI, 0, VLAN_CFI.into());
    }
}

/// chassis_get_mac(): this chassis' MAC for `network` in `net:MAC,...`.
fn chassis_mac(mappings: &str, network: &str) -> Option<[u8; 6]> {
    mappings.split(',').filter_map(|t| t.split_once(':')).find(|(n, _)| *n == network).and_then(|(_, m)| parse_mac(m))
}

/// The order in which 23.03 walks the Port_Binding table: the IDL keeps rows in an OVS hmap
/// hashed by the UUID's first 32 bits, so it visits buckets `hash & mask` in turn. This only
/// decides which row wins when two rows produce the same flow (table, priority, match) with
/// the same (static) owner, e.g. the chassis-MAC conjunction clause of two localnet ports;
/// the winner's cookie is installed. Best effort: the mask is the one an hmap reaches by
/// inserting this many rows (23.03's table may be larger after deletions, it never shrinks),
/// and rows of one bucket are taken in UUID order.
fn idl_order(ports: &[PortBinding]) -> Vec<&PortBinding> {
    let mask = hmap_mask(ports.len()) as u64;
    let mut v: Vec<&PortBinding> = ports.iter().collect();
    v.sort_by(|a, b| (a.cookie() & mask, &a.uuid).cmp(&(b.cookie() & mask, &b.uuid)));
    v
}

/// The bucket mask of an OVS hmap after `n` insertions (lib/hmap.c: expand when
/// n / 2 > mask, to calc_mask(n)).
fn hmap_mask(n: usize) -> usize {
    let mut mask = 0;
    for i in 1..=n {
        if i / 2 > mask {
            mask = hmap_calc_mask(i);
        }
    }
    mask
}

/// OVS's hash_bytes() (lib/hash.c, the murmur-based variant of builds without SSE 4.2, as
/// Debian's): words read little-endian, zero tail padding.
fn ovs_hash_bytes(b: &[u8], basis: u32) -> u32 {
    fn add(hash: u32, data: u32) -> u32 {
        let hash = if data == 0 {
            hash
        } else {
            hash ^ data.wrapping_mul(0xcc9e_2d51).rotate_left(15).wrapping_mul(0x1b87_3593)
        };
        hash.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64)
    }
    let mut hash = basis;
    let mut chunks = b.chunks_exact(4);
    for c in &mut chunks {
        let mut w = [0u8; 4];
        w.copy_from_slice(c);
        hash = add(hash, u32::from_le_bytes(w));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 4];
        for (d, s) in w.iter_mut().zip(rest) {
            *d = *s;
        }
        hash = add(hash, u32::from_le_bytes(w));
    }
    let mut h = hash ^ (b.len() as u32);
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// A set of names walked in the order of an OVS sset that got them inserted in this order
/// (sset hash = hash_bytes(name, 0); hmap buckets walked in index order, each from its most
/// recent node; a resize re-inserts bucket by bucket, which reverses runs). fanout_to_chassis()
/// outputs to tunnels in this order, so ours matches ovn-controller's action for action.
#[derive(Default)]
struct SsetOrder<'s> {
    buckets: Vec<Vec<(u32, &'s str)>>,
    seen: HashSet<&'s str>,
    n: usize,
}

impl<'s> SsetOrder<'s> {
    fn mask(&self) -> usize {
        self.buckets.len().saturating_sub(1)
    }

    fn insert(&mut self, name: &'s str) {
        if !self.seen.insert(name) {
            return;
        }
        if self.buckets.is_empty() {
            self.buckets.push(Vec::new());
        }
        let h = ovs_hash_bytes(name.as_bytes(), 0);
        let mask = self.mask();
        if let Some(b) = self.buckets.get_mut(h as usize & mask) {
            b.insert(0, (h, name));
        }
        self.n += 1;
        if self.n / 2 > mask {
            let new_mask = hmap_calc_mask(self.n);
            if new_mask > mask {
                let old = std::mem::replace(&mut self.buckets, vec![Vec::new(); new_mask + 1]);
                for (h, name) in old.into_iter().flatten() {
                    if let Some(b) = self.buckets.get_mut(h as usize & new_mask) {
                        b.insert(0, (h, name));
                    }
                }
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.n == 0
    }

    fn iter(&self) -> impl Iterator<Item = &'s str> + '_ {
        self.buckets.iter().flatten().map(|(_, n)| *n)
    }
}

/// lib/hmap.c calc_mask().
fn hmap_calc_mask(capacity: usize) -> usize {
    let mut m = capacity / 2;
    m |= m >> 1;
    m |= m >> 2;
    m |= m >> 4;
    m |= m >> 8;
    m |= m >> 16;
    m |= m >> 32;
    m | ((m & 1) << 1)
}

/// get_vxlan_port_key().
fn vxlan_port_key(port_key: u32) -> u32 {
    if port_key >= OVN_MIN_MULTICAST {
        OVN_VXLAN_MIN_MULTICAST | (port_key & (OVN_VXLAN_MIN_MULTICAST - 1))
    } else {
        port_key
    }
}

/// encode_start/finish_controller_op(): `controller(userdata=<opcode, 4 pad><nested
/// actions>)`, max_len 65535, reason action.
fn controller_op(opcode: u32, pause: bool, nested: Vec<Action>) -> Action {
    let mut userdata = opcode.to_be_bytes().to_vec();
    userdata.extend_from_slice(&[0; 4]);
    shared::openflow::actions::encode_actions(&nested, &mut userdata);
    Action::Controller(Controller { max_len: u16::MAX, controller_id: 0, reason: 1, userdata, pause, meter_id: 0 })
}

/// reply_imcp_error_if_pkt_too_big()'s actions: icmp(4/6) "fragmentation needed" back in.
fn icmp_too_big_actions(mtu: u16, ipv6: bool) -> Vec<Action> {
    let (src, dst) = if ipv6 { (Field::IPV6_SRC, Field::IPV6_DST) } else { (Field::IPV4_SRC, Field::IPV4_DST) };
    let mut inner = vec![
        Action::SetField { field: Field::REG9, value: vec![0; 4], mask: Some(2u32.to_be_bytes().to_vec()) },
        Action::SetField {
            field: LOG_FLAGS,
            value: flags::ALLOW_LOOPBACK.to_be_bytes().to_vec(),
            mask: Some(flags::ALLOW_LOOPBACK.to_be_bytes().to_vec()),
        },
        Action::StackPush(whole(Field::ETH_DST)),
        Action::StackPush(whole(Field::ETH_SRC)),
        Action::StackPop(whole(Field::ETH_DST)),
        Action::StackPop(whole(Field::ETH_SRC)),
        Action::StackPush(whole(dst)),
        Action::StackPush(whole(src)),
        Action::StackPop(whole(dst)),
        Action::StackPop(whole(src)),
        // OFPAT_SET_NW_TTL(255), as OVS encodes ofpact SET_IP_TTL in OpenFlow 1.5.
        Action::Unknown(vec![0, 23, 0, 8, 255, 0, 0, 0]),
    ];
    let frag_mtu = mtu.wrapping_sub(ETHERNET_OVERHEAD);
    if ipv6 {
        inner.push(Action::SetField { field: Field::ICMPV6_TYPE, value: vec![2], mask: None });
        inner.push(Action::SetField { field: Field::ICMPV6_CODE, value: vec![0], mask: None });
        let mut ud = ACTION_OPCODE_PUT_ICMP6_FRAG_MTU.to_be_bytes().to_vec();
        ud.extend_from_slice(&[0; 4]);
        ud.extend_from_slice(&u32::from(frag_mtu).to_be_bytes());
        inner.push(raw_controller(ud));
    } else {
        inner.push(Action::SetField { field: Field::ICMPV4_TYPE, value: vec![3], mask: None });
        inner.push(Action::SetField { field: Field::ICMPV4_CODE, value: vec![4], mask: None });
        let mut ud = ACTION_OPCODE_PUT_ICMP4_FRAG_MTU.to_be_bytes().to_vec();
        ud.extend_from_slice(&[0; 4]);
        ud.extend_from_slice(&frag_mtu.to_be_bytes());
        inner.push(raw_controller(ud));
    }
    inner.push(resubmit(LOG_INGRESS_PIPELINE));
    vec![controller_op(ACTION_OPCODE_ICMP, true, inner)]
}

fn raw_controller(userdata: Vec<u8>) -> Action {
    Action::Controller(Controller {
        max_len: u16::MAX,
        controller_id: 0,
        reason: 1,
        userdata,
        pause: true,
        meter_id: 0,
    })
}
