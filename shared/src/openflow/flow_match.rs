//! Flow matches: a canonical, OVS-like representation plus the OXM/NXM wire format.
//!
//! Several field names address the same packet bits (`tcp_src`/`udp_src`/`tp_src`,
//! `ip_dscp`/`nw_tos`, `reg0`/`xreg0`, `vlan_vid`/`vlan_tci`, `nw_src`/`arp_spa`). Storing the
//! bits once, by "slot", makes two matches that mean the same thing compare equal and lets
//! the printer and encoder make the same choices OVS makes.

use super::fields::{Field, NxmHeader, Prereq};
use super::wire::{DecodeError, Put, Reader, Result};

/// Storage location for match bits; declaration order is irrelevant to the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Slot {
    PacketType,
    DpHash,
    RecircId,
    ConjId,
    /// OpenFlow 1.0 port number (OVS's internal `ofp_port_t`).
    InPort,
    ActsetOutput,
    EthSrc,
    EthDst,
    EthType,
    VlanTci,
    MplsLse,
    NwSrc,
    NwDst,
    Ipv6Src,
    Ipv6Dst,
    Ipv6Label,
    NwFrag,
    NwTos,
    NwTtl,
    NwProto,
    TpSrc,
    TpDst,
    TcpFlags,
    ArpSha,
    ArpTha,
    NdTarget,
    NdReserved,
    TunId,
    TunSrc,
    TunDst,
    TunIpv6Src,
    TunIpv6Dst,
    TunFlags,
    TunGbpId,
    TunGbpFlags,
    Reg(u8),
    PktMark,
    CtState,
    CtZone,
    CtMark,
    CtLabel,
    CtNwSrc,
    CtNwDst,
    CtIpv6Src,
    CtIpv6Dst,
    CtNwProto,
    CtTpSrc,
    CtTpDst,
    Metadata,
}

/// Where a field's bits live: `slot_bits = (wire_value << shift) & mask`.
#[derive(Debug, Clone, Copy)]
struct Layout {
    slot: Slot,
    shift: u32,
    mask: u128,
}

const fn lay(slot: Slot, shift: u32, mask: u128) -> Option<Layout> {
    Some(Layout { slot, shift, mask })
}

const M8: u128 = 0xff;
const M16: u128 = 0xffff;
const M32: u128 = 0xffff_ffff;
const M48: u128 = 0xffff_ffff_ffff;
const M64: u128 = u64::MAX as u128;
const M128: u128 = u128::MAX;

/// IEEE 802.1Q CFI bit, which OVS uses to mean "a VLAN header is present".
pub const VLAN_CFI: u16 = 0x1000;

fn layout(f: Field) -> Option<Layout> {
    use Slot::*;
    if let Some(i) = reg_index(f) {
        return lay(Reg(i), 0, M32);
    }
    match f {
        Field::PACKET_TYPE => lay(PacketType, 0, M32),
        Field::DP_HASH => lay(DpHash, 0, M32),
        Field::RECIRC_ID => lay(RecircId, 0, M32),
        Field::CONJ_ID => lay(ConjId, 0, M32),
        Field::TUN_ID => lay(TunId, 0, M64),
        Field::TUN_SRC => lay(TunSrc, 0, M32),
        Field::TUN_DST => lay(TunDst, 0, M32),
        Field::TUN_IPV6_SRC => lay(TunIpv6Src, 0, M128),
        Field::TUN_IPV6_DST => lay(TunIpv6Dst, 0, M128),
        Field::TUN_FLAGS => lay(TunFlags, 0, M16),
        Field::TUN_GBP_ID => lay(TunGbpId, 0, M16),
        Field::TUN_GBP_FLAGS => lay(TunGbpFlags, 0, M8),
        Field::METADATA => lay(Metadata, 0, M64),
        Field::IN_PORT => lay(InPort, 0, M16),
        Field::PKT_MARK => lay(PktMark, 0, M32),
        Field::CT_STATE => lay(CtState, 0, M8),
        Field::CT_ZONE => lay(CtZone, 0, M16),
        Field::CT_MARK => lay(CtMark, 0, M32),
        Field::CT_LABEL => lay(CtLabel, 0, M128),
        Field::CT_NW_PROTO => lay(CtNwProto, 0, M8),
        Field::CT_NW_SRC => lay(CtNwSrc, 0, M32),
        Field::CT_NW_DST => lay(CtNwDst, 0, M32),
        Field::CT_IPV6_SRC => lay(CtIpv6Src, 0, M128),
        Field::CT_IPV6_DST => lay(CtIpv6Dst, 0, M128),
        Field::CT_TP_SRC => lay(CtTpSrc, 0, M16),
        Field::CT_TP_DST => lay(CtTpDst, 0, M16),
        Field::ETH_SRC => lay(EthSrc, 0, M48),
        Field::ETH_DST => lay(EthDst, 0, M48),
        Field::ETH_TYPE => lay(EthType, 0, M16),
        Field::VLAN_TCI => lay(VlanTci, 0, M16),
        Field::VLAN_VID => lay(VlanTci, 0, 0x1fff),
        Field::DL_VLAN => lay(VlanTci, 0, 0x0fff),
        Field::VLAN_PCP | Field::DL_VLAN_PCP => lay(VlanTci, 13, 0xe000),
        Field::MPLS_LABEL => lay(MplsLse, 12, 0xffff_f000),
        Field::MPLS_TC => lay(MplsLse, 9, 0x0e00),
        Field::MPLS_BOS => lay(MplsLse, 8, 0x0100),
        Field::MPLS_TTL => lay(MplsLse, 0, 0x00ff),
        Field::IPV4_SRC | Field::ARP_SPA => lay(NwSrc, 0, M32),
        Field::IPV4_DST | Field::ARP_TPA => lay(NwDst, 0, M32),
        Field::IPV6_SRC => lay(Ipv6Src, 0, M128),
        Field::IPV6_DST => lay(Ipv6Dst, 0, M128),
        Field::IPV6_LABEL => lay(Ipv6Label, 0, M32),
        Field::IP_PROTO | Field::ARP_OP => lay(NwProto, 0, M8),
        Field::IP_DSCP => lay(NwTos, 0, 0xfc),
        Field::IP_DSCP_SHIFTED => lay(NwTos, 2, 0xfc),
        Field::IP_ECN => lay(NwTos, 0, 0x03),
        Field::IP_TTL => lay(NwTtl, 0, M8),
        Field::IP_FRAG => lay(NwFrag, 0, 0x03),
        Field::ARP_SHA | Field::ND_SLL => lay(ArpSha, 0, M48),
        Field::ARP_THA | Field::ND_TLL => lay(ArpTha, 0, M48),
        Field::TCP_SRC | Field::UDP_SRC | Field::SCTP_SRC => lay(TpSrc, 0, M16),
        Field::TCP_DST | Field::UDP_DST | Field::SCTP_DST => lay(TpDst, 0, M16),
        Field::ICMPV4_TYPE | Field::ICMPV6_TYPE => lay(TpSrc, 0, M16),
        Field::ICMPV4_CODE | Field::ICMPV6_CODE => lay(TpDst, 0, M16),
        Field::TCP_FLAGS => lay(TcpFlags, 0, M16),
        Field::ND_OPTIONS_TYPE => lay(TcpFlags, 0, M16),
        Field::ND_TARGET => lay(NdTarget, 0, M128),
        Field::ND_RESERVED => lay(NdReserved, 0, M32),
        _ => None,
    }
}

/// `reg<N>` index, if `f` is one of reg0..reg15.
pub(crate) fn reg_index(f: Field) -> Option<u8> {
    let d = f.0.checked_sub(Field::REG0.0)?;
    (d < 16).then_some(d as u8)
}
fn xreg_index(f: Field) -> Option<u8> {
    let d = f.0.checked_sub(Field::XREG0.0)?;
    (d < 8).then_some(d as u8)
}
fn xxreg_index(f: Field) -> Option<u8> {
    let d = f.0.checked_sub(Field::XXREG0.0)?;
    (d < 4).then_some(d as u8)
}
/// `tun_metadata<N>` index.
pub(crate) fn tun_md_index(f: Field) -> Option<u8> {
    let d = f.0.checked_sub(Field::TUN_METADATA0.0)?;
    (d < 64).then_some(d as u8)
}

/// Convert an OpenFlow 1.1+ 32-bit port number to the 16-bit form OVS uses internally.
pub fn port_from_ofp11(p: u32) -> Option<u16> {
    if p < 0xff00 {
        Some(p as u16)
    } else if p >= 0xffff_ff00 {
        Some((p - 0xffff_0000) as u16)
    } else {
        None
    }
}

/// Convert a 16-bit port number to its OpenFlow 1.1+ 32-bit form.
pub fn port_to_ofp11(p: u16) -> u32 {
    if p < 0xff00 {
        p.into()
    } else {
        u32::from(p) + 0xffff_0000
    }
}

/// One `tun_metadata<N>` match: value and mask have the option's mapped length.
#[derive(Debug, Clone)]
pub struct TunMetadata {
    pub index: u8,
    pub value: Vec<u8>,
    pub mask: Vec<u8>,
    /// Matched with an explicit mask (OVS then encodes it masked even if all-ones). Only
    /// affects the encoding, so equality ignores it.
    pub masked: bool,
}

impl TunMetadata {
    fn key(&self) -> (u8, &[u8], &[u8]) {
        (self.index, &self.value, &self.mask)
    }
}

impl PartialEq for TunMetadata {
    fn eq(&self, o: &Self) -> bool {
        self.key() == o.key()
    }
}
impl Eq for TunMetadata {}
impl std::hash::Hash for TunMetadata {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.key().hash(h);
    }
}
impl PartialOrd for TunMetadata {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for TunMetadata {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.key().cmp(&o.key())
    }
}

/// A flow match: masked values per slot (sorted, wildcarded slots absent). A slot whose
/// value and mask fit in 64 bits is kept in `entries`, any other in `wide`: canonical (equal
/// matches are equal structs), and half the memory of 128-bit pairs for the common fields
/// of a table of hundreds of thousands of flows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Match {
    entries: Vec<(Slot, u64, u64)>,
    wide: Vec<(Slot, u128, u128)>,
    tun_md: Vec<TunMetadata>,
}

/// Why a field could not be set in a match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchError {
    /// The field cannot be matched on (or is not supported by this codec).
    NotMatchable(&'static str),
    /// A mask was given for a field that cannot be masked.
    NotMaskable(&'static str),
    /// The value has the wrong width.
    BadWidth(&'static str),
    /// A port number outside the valid ranges.
    BadPort(u32),
}

impl std::fmt::Display for MatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MatchError::NotMatchable(n) => write!(f, "{n}: cannot be matched"),
            MatchError::NotMaskable(n) => write!(f, "{n}: cannot be masked"),
            MatchError::BadWidth(n) => write!(f, "{n}: wrong value width"),
            MatchError::BadPort(p) => write!(f, "bad port {p:#x}"),
        }
    }
}
impl std::error::Error for MatchError {}

fn be_to_u128(b: &[u8]) -> u128 {
    b.iter().fold(0u128, |a, &x| (a << 8) | u128::from(x))
}

fn u128_to_be(v: u128, n: usize) -> Vec<u8> {
    let all = v.to_be_bytes();
    all.get(16usize.saturating_sub(n)..).unwrap_or_default().to_vec()
}

impl Match {
    /// Drops spare capacity: a match kept in a flow table for long.
    pub fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
        self.wide.shrink_to_fit();
        self.tun_md.shrink_to_fit();
    }

    /// The catch-all match.
    pub fn new() -> Match {
        Match::default()
    }

    /// True for the catch-all match.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.wide.is_empty() && self.tun_md.is_empty()
    }

    /// Raw (value, mask) of a slot; (0, 0) when wildcarded.
    pub fn slot(&self, s: Slot) -> (u128, u128) {
        if let Ok(i) = self.entries.binary_search_by(|e| e.0.cmp(&s)) {
            return self.entries.get(i).map(|e| (u128::from(e.1), u128::from(e.2))).unwrap_or((0, 0));
        }
        match self.wide.binary_search_by(|e| e.0.cmp(&s)) {
            Ok(i) => self.wide.get(i).map(|e| (e.1, e.2)).unwrap_or((0, 0)),
            Err(_) => (0, 0),
        }
    }

    /// Exact value of a slot, if every bit in `full` is matched.
    fn exact(&self, s: Slot, full: u128) -> Option<u128> {
        let (v, m) = self.slot(s);
        (m & full == full).then_some(v & full)
    }

    /// Replace the bits under `fmask` of a slot.
    pub fn set_slot_bits(&mut self, s: Slot, value: u128, mask: u128, fmask: u128) {
        let (v0, m0) = self.slot(s);
        let m = (m0 & !fmask) | (mask & fmask);
        let v = ((v0 & !fmask) | (value & mask & fmask)) & m;
        let narrow = match (u64::try_from(v), u64::try_from(m)) {
            (Ok(v), Ok(m)) => Some((v, m)),
            _ => None,
        };
        // In place when the slot stays where it is (the common case: compiling a match).
        match (self.entries.binary_search_by(|e| e.0.cmp(&s)), narrow) {
            (Ok(i), Some((v, m))) if m != 0 => {
                if let Some(e) = self.entries.get_mut(i) {
                    *e = (s, v, m);
                }
                return;
            }
            (Ok(i), _) => {
                self.entries.remove(i);
            }
            (Err(i), Some((v, m))) if m != 0 => {
                if let Ok(w) = self.wide.binary_search_by(|e| e.0.cmp(&s)) {
                    self.wide.remove(w);
                }
                self.entries.insert(i, (s, v, m));
                return;
            }
            (Err(_), _) => {}
        }
        match self.wide.binary_search_by(|e| e.0.cmp(&s)) {
            Ok(i) if m == 0 || narrow.is_some() => {
                self.wide.remove(i);
            }
            Ok(i) => {
                if let Some(e) = self.wide.get_mut(i) {
                    *e = (s, v, m);
                }
            }
            Err(i) if m != 0 && narrow.is_none() => self.wide.insert(i, (s, v, m)),
            Err(_) => {}
        }
    }

    /// Tunnel metadata matches.
    pub fn tun_metadata(&self) -> &[TunMetadata] {
        &self.tun_md
    }

    /// Match `field` exactly against a big-endian value of the field's width (shorter values
    /// are zero-extended, except for variable-length tunnel metadata which keeps its length).
    pub fn set(&mut self, field: Field, value: &[u8]) -> std::result::Result<(), MatchError> {
        self.set_masked_opt(field, value, None)
    }

    /// Match `field` under a mask (all-ones mask is the same as [`Match::set`]).
    pub fn set_masked(&mut self, field: Field, value: &[u8], mask: &[u8]) -> std::result::Result<(), MatchError> {
        self.set_masked_opt(field, value, Some(mask))
    }

    /// Match an integer-valued field exactly.
    pub fn set_u128(&mut self, field: Field, v: u128) -> std::result::Result<(), MatchError> {
        self.set(field, &u128_to_be(v, field.n_bytes().min(16)))
    }

    /// Match an integer-valued field under a mask.
    pub fn set_u128_masked(&mut self, field: Field, v: u128, m: u128) -> std::result::Result<(), MatchError> {
        let n = field.n_bytes().min(16);
        self.set_masked(field, &u128_to_be(v, n), &u128_to_be(m, n))
    }

    /// Stop matching on `field`.
    pub fn clear(&mut self, field: Field) {
        if let Some(i) = tun_md_index(field) {
            self.tun_md.retain(|t| t.index != i);
        } else if let Some(l) = layout(field) {
            self.set_slot_bits(l.slot, 0, 0, l.mask);
        } else if field == Field::IN_PORT_OXM {
            self.set_slot_bits(Slot::InPort, 0, 0, M16);
        }
    }

    fn set_masked_opt(
        &mut self,
        field: Field,
        value: &[u8],
        mask: Option<&[u8]>,
    ) -> std::result::Result<(), MatchError> {
        let def = field.def();
        if mask.is_some() && !def.maskable {
            return Err(MatchError::NotMaskable(def.name));
        }
        if value.len() > def.n_bytes || mask.is_some_and(|m| m.len() != value.len()) {
            return Err(MatchError::BadWidth(def.name));
        }
        if let Some(index) = tun_md_index(field) {
            let masked = mask.is_some();
            let mask = mask.map(<[u8]>::to_vec).unwrap_or_else(|| vec![0xff; value.len()]);
            let value = value.iter().zip(&mask).map(|(v, m)| v & m).collect();
            self.tun_md.retain(|t| t.index != index);
            let pos = self.tun_md.partition_point(|t| t.index < index);
            self.tun_md.insert(pos, TunMetadata { index, value, mask, masked });
            return Ok(());
        }
        let v = be_to_u128(value);
        let full = if def.n_bits >= 128 { M128 } else { (1u128 << def.n_bits) - 1 };
        let m = mask.map(be_to_u128);
        if let Some(i) = xreg_index(field).map(|i| i * 2).or(xxreg_index(field).map(|i| i * 4)) {
            let n = if xreg_index(field).is_some() { 2 } else { 4 };
            let m = m.unwrap_or(full);
            for k in 0..n {
                let sh = 32 * (n - 1 - k);
                self.set_slot_bits(Slot::Reg(i + k as u8), v >> sh, (m >> sh) & M32, M32);
            }
            return Ok(());
        }
        if field == Field::IN_PORT_OXM || field == Field::ACTSET_OUTPUT {
            let p = v as u32;
            let p16 = port_from_ofp11(p).ok_or(MatchError::BadPort(p))?;
            let slot = if field == Field::IN_PORT_OXM { Slot::InPort } else { Slot::ActsetOutput };
            self.set_slot_bits(slot, p16.into(), M16, M16);
            return Ok(());
        }
        let l = layout(field).ok_or(MatchError::NotMatchable(def.name))?;
        let (sv, sm) = match m {
            // An exact match covers the whole slot field, as OVS's match_set_*() do (so
            // icmp_type=3 is tp_src=3/0xffff).
            None => ((v << l.shift) & l.mask, l.mask),
            Some(m) => ((v << l.shift) & l.mask, (m << l.shift) & l.mask),
        };
        self.set_slot_bits(l.slot, sv, sm, l.mask);
        // Matching a VLAN's VID or PCP implies a VLAN header (CFI bit) is present.
        if matches!(field, Field::DL_VLAN | Field::VLAN_PCP | Field::DL_VLAN_PCP) {
            let c = u128::from(VLAN_CFI);
            self.set_slot_bits(Slot::VlanTci, c, c, c);
        }
        Ok(())
    }

    /// (value, mask) of `field` as big-endian bytes of its width; `None` when wildcarded.
    pub fn get(&self, field: Field) -> Option<(Vec<u8>, Vec<u8>)> {
        if let Some(i) = tun_md_index(field) {
            let t = self.tun_md.iter().find(|t| t.index == i)?;
            return Some((t.value.clone(), t.mask.clone()));
        }
        let n = field.n_bytes().min(16);
        let (v, m) = if let Some(i) = xreg_index(field) {
            self.regs_wide(i * 2, 2)
        } else if let Some(i) = xxreg_index(field) {
            self.regs_wide(i * 4, 4)
        } else if field == Field::IN_PORT_OXM || field == Field::ACTSET_OUTPUT {
            let slot = if field == Field::IN_PORT_OXM { Slot::InPort } else { Slot::ActsetOutput };
            let (v, m) = self.slot(slot);
            if m == 0 {
                return None;
            }
            (u128::from(port_to_ofp11(v as u16)), M32)
        } else {
            let l = layout(field)?;
            let (v, m) = self.slot(l.slot);
            ((v & l.mask) >> l.shift, (m & l.mask) >> l.shift)
        };
        (m != 0).then(|| (u128_to_be(v, n), u128_to_be(m, n)))
    }

    fn regs_wide(&self, first: u8, n: u8) -> (u128, u128) {
        let mut v = 0u128;
        let mut m = 0u128;
        for k in 0..n {
            let (rv, rm) = self.slot(Slot::Reg(first + k));
            v = (v << 32) | rv;
            m = (m << 32) | rm;
        }
        (v, m)
    }

    /// Add a tunnel metadata match with explicit bytes (for decoders and parsers).
    pub fn set_tun_metadata(&mut self, index: u8, value: &[u8], mask: Option<&[u8]>) {
        let f = Field(Field::TUN_METADATA0.0 + u16::from(index.min(63)));
        let _ = self.set_masked_opt(f, value, mask);
    }

    /// Ethertype, if matched exactly.
    pub fn eth_type(&self) -> Option<u16> {
        self.exact(Slot::EthType, M16).map(|v| v as u16)
    }

    /// IP protocol (or ARP opcode), if matched exactly.
    pub fn nw_proto(&self) -> Option<u8> {
        self.exact(Slot::NwProto, M8).map(|v| v as u8)
    }

    fn val(&self, s: Slot) -> u128 {
        self.slot(s).0
    }

    /// The ethertype the match implies, as OVS's `get_dl_type()`: `eth_type` for Ethernet
    /// packets, the packet type's own ethertype for an L3 packet type (namespace 1), and
    /// 0x5ff (OVS's "no ethertype") for any other packet type.
    pub fn dl_type(&self) -> u16 {
        let pt = self.val(Slot::PacketType) as u32;
        match pt >> 16 {
            0 if pt == 0 => self.val(Slot::EthType) as u16,
            1 => pt as u16,
            _ => 0x5ff,
        }
    }

    /// Whether the prerequisites of `p` hold (OVS checks values, not masks).
    pub fn prereq_ok(&self, p: Prereq) -> bool {
        let dl = self.dl_type();
        let proto = self.val(Slot::NwProto) as u8;
        let ip_any = dl == 0x0800 || dl == 0x86dd;
        let later = self.val(Slot::NwFrag) & 2 != 0;
        let icmp6 = dl == 0x86dd && proto == 58;
        let tp_src = self.val(Slot::TpSrc);
        let nd = icmp6 && self.val(Slot::TpDst) == 0 && (tp_src == 135 || tp_src == 136);
        match p {
            Prereq::None => true,
            // Non-Ethernet packet types are not used by OVN.
            Prereq::Ethernet => self.val(Slot::PacketType) == 0,
            Prereq::Arp => dl == 0x0806 || dl == 0x8035,
            Prereq::Ipv4 => dl == 0x0800,
            Prereq::Ipv6 => dl == 0x86dd,
            Prereq::VlanVid => self.val(Slot::VlanTci) & u128::from(VLAN_CFI) != 0,
            Prereq::Mpls => dl == 0x8847 || dl == 0x8848,
            Prereq::IpAny => ip_any,
            Prereq::Nsh => dl == 0x894f,
            // As OVS's is_ct_valid() for matches: a bit implying a valid connection, or
            // tracked and explicitly not invalid.
            Prereq::CtValid => {
                let (st, sm) = self.slot(Slot::CtState);
                st & 0xcf != 0 || (st & 0x20 != 0 && sm & 0x10 != 0 && st & 0x10 == 0)
            }
            Prereq::Tcp => ip_any && proto == 6 && !later,
            Prereq::Udp => ip_any && proto == 17 && !later,
            Prereq::Sctp => ip_any && proto == 132 && !later,
            Prereq::Icmpv4 => dl == 0x0800 && proto == 1,
            Prereq::Icmpv6 => icmp6,
            Prereq::Nd => nd,
            Prereq::NdSolicit => nd && tp_src == 135,
            Prereq::NdAdvert => nd && tp_src == 136,
        }
    }

    /// OVS only encodes (and prints) ct_tp_src/ct_tp_dst together with a nonzero
    /// ct_nw_proto; anything else would silently lose them.
    pub(crate) fn check_ct_tp(&self) -> std::result::Result<(), &'static str> {
        let tp = self.slot(Slot::CtTpSrc).1 | self.slot(Slot::CtTpDst).1;
        if tp != 0 && self.slot(Slot::CtNwProto).0 == 0 {
            return Err("ct_tp_src/ct_tp_dst need ct_nw_proto");
        }
        Ok(())
    }

    /// Decode OXM/NXM TLVs (no `ofp_match` header, no padding).
    pub fn decode_oxm(buf: &[u8]) -> Result<Match> {
        let mut r = Reader::new(buf, "oxm");
        let mut m = Match::new();
        let mut seen: Vec<Field> = Vec::new();
        while !r.is_empty() {
            let (field, hdr_mask, value, mask) = read_tlv(&mut r)?;
            if seen.contains(&field) {
                return Err(DecodeError::BadValue { what: "duplicate oxm field", value: field.0.into() });
            }
            seen.push(field);
            if field == Field::PACKET_TYPE && !hdr_mask && value == [0, 0, 0, 0] {
                // The default (Ethernet) packet type that OVS adds is implied.
                m.set_slot_bits(Slot::PacketType, 0, M32, M32);
                continue;
            }
            if let Some(mask) = mask {
                // OVS rejects a value bit that is not covered by its mask.
                if value.iter().zip(mask).any(|(v, k)| v & !k != 0) {
                    return Err(DecodeError::BadValue { what: "oxm value outside mask", value: field.0.into() });
                }
            }
            // Like OVS, prerequisites must already be in the match when a field appears,
            // and a non-Ethernet packet type cannot follow fields that imply Ethernet.
            let implies_eth = seen.iter().any(|f| f.def().prereq != Prereq::None);
            if !m.prereq_ok(field.def().prereq) || (field == Field::PACKET_TYPE && implies_eth) {
                return Err(DecodeError::BadValue { what: "oxm prerequisites", value: field.0.into() });
            }
            m.set_masked_opt(field, value, mask)
                .map_err(|_| DecodeError::Unsupported { what: "oxm field", value: field.0.into() })?;
        }
        // A TCI that says "no VLAN" cannot also carry VID/PCP bits, and PCP bits need the
        // VLAN to be present: OXM cannot express anything else, so it could not round-trip.
        let (tci, tcim) = m.slot(Slot::VlanTci);
        let cfi = u128::from(VLAN_CFI);
        let no_vlan_with_bits = tcim & cfi != 0 && tci & cfi == 0 && tci != 0;
        let pcp_without_vlan = tcim & 0xe000 != 0 && (tcim & cfi == 0 || tci & cfi == 0);
        if no_vlan_with_bits || pcp_without_vlan {
            return Err(DecodeError::BadValue { what: "vlan_tci", value: tci as u64 });
        }
        m.check_ct_tp().map_err(|what| DecodeError::BadValue { what, value: 0 })?;
        Ok(m)
    }

    /// Decode `struct ofp_match` (type OFPMT_OXM) including its padding.
    pub fn decode_ofp_match(r: &mut Reader<'_>) -> Result<Match> {
        let ty = r.u16()?;
        let len = usize::from(r.u16()?);
        if ty != 1 {
            return Err(DecodeError::Unsupported { what: "ofp_match type", value: ty.into() });
        }
        if len < 4 {
            return Err(DecodeError::BadLength { what: "ofp_match", len });
        }
        let body = r.bytes(len - 4)?;
        let pad = super::wire::round8(len) - len;
        r.skip(pad)?;
        Match::decode_oxm(body)
    }

    /// Append `struct ofp_match` (OXM, padded to 8 bytes) as OVS writes it for OpenFlow 1.5.
    pub fn encode_ofp_match(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.put_u16(1);
        out.put_u16(0);
        self.encode_oxm(out);
        let len = out.len() - start;
        out.set_u16(start + 2, len as u16);
        out.pad_from(start, 8);
    }

    /// Append the OXM TLVs in the order OVS's encoder uses.
    pub fn encode_oxm(&self, out: &mut Vec<u8>) {
        let start = out.len();
        let mut implied_eth = false;
        let mut put = |out: &mut Vec<u8>, f: Field, v: u128, m: u128| {
            if m == 0 {
                return;
            }
            if f.def().prereq != Prereq::None {
                implied_eth = true;
            }
            let n = f.n_bytes();
            let full = if n >= 16 { M128 } else { (1u128 << (8 * n)) - 1 };
            let masked = m & full != full;
            put_header(out, f, masked, n);
            out.extend_from_slice(&u128_to_be(v, n));
            if masked {
                out.extend_from_slice(&u128_to_be(m, n));
            }
        };
        let s = |slot| self.slot(slot);
        let (pt, ptm) = s(Slot::PacketType);
        let default_pt = pt == 0 && ptm == M32;
        if ptm != 0 && !default_pt {
            put(out, Field::PACKET_TYPE, pt, ptm);
        }
        let (v, m) = s(Slot::DpHash);
        put(out, Field::DP_HASH, v, m);
        let (v, m) = s(Slot::RecircId);
        put(out, Field::RECIRC_ID, v, if m != 0 { M32 } else { 0 });
        let (v, m) = s(Slot::ConjId);
        put(out, Field::CONJ_ID, v, if m != 0 { M32 } else { 0 });
        let (v, m) = s(Slot::InPort);
        if m != 0 {
            put(out, Field::IN_PORT_OXM, port_to_ofp11(v as u16).into(), M32);
        }
        let (v, m) = s(Slot::ActsetOutput);
        if m != 0 {
            put(out, Field::ACTSET_OUTPUT, port_to_ofp11(v as u16).into(), M32);
        }
        let (v, m) = s(Slot::EthSrc);
        put(out, Field::ETH_SRC, v, m);
        let (v, m) = s(Slot::EthDst);
        put(out, Field::ETH_DST, v, m);
        let (dl, dlm) = s(Slot::EthType);
        put(out, Field::ETH_TYPE, dl, dlm);
        let (tci, tcim) = s(Slot::VlanTci);
        let (vid, vidm) = (tci & 0x1fff, tcim & 0x1fff);
        if vidm == 0x1fff {
            put(out, Field::VLAN_VID, vid, M16);
        } else if vidm != 0 {
            put(out, Field::VLAN_VID, vid, vidm);
        }
        if vid != 0 && tcim & 0xe000 != 0 {
            put(out, Field::VLAN_PCP, (tci >> 13) & 7, M8);
        }
        let dl = self.dl_type();
        if dl == 0x8847 || dl == 0x8848 {
            let (lse, lsem) = s(Slot::MplsLse);
            if lsem & 0x0e00 != 0 {
                put(out, Field::MPLS_TC, (lse >> 9) & 7, M8);
            }
            if lsem & 0x0100 != 0 {
                put(out, Field::MPLS_BOS, (lse >> 8) & 1, M8);
            }
            if lsem & 0xff != 0 {
                put(out, Field::MPLS_TTL, lse & 0xff, M8);
            }
            if lsem & 0xffff_f000 != 0 {
                put(out, Field::MPLS_LABEL, lse >> 12, M32);
            }
        }
        if dl == 0x0800 || dl == 0x86dd {
            if dl == 0x0800 {
                let (v, m) = s(Slot::NwSrc);
                put(out, Field::IPV4_SRC, v, m);
                let (v, m) = s(Slot::NwDst);
                put(out, Field::IPV4_DST, v, m);
            } else {
                let (v, m) = s(Slot::Ipv6Src);
                put(out, Field::IPV6_SRC, v, m);
                let (v, m) = s(Slot::Ipv6Dst);
                put(out, Field::IPV6_DST, v, m);
            }
            let (fv, fm) = s(Slot::NwFrag);
            put(out, Field::IP_FRAG, fv, if fm & 3 == 3 { M8 } else { fm & 3 });
            let (tos, tosm) = s(Slot::NwTos);
            if tosm & 0xfc != 0 {
                put(out, Field::IP_DSCP_SHIFTED, (tos & 0xfc) >> 2, M8);
            }
            if tosm & 0x03 != 0 {
                put(out, Field::IP_ECN, tos & 3, M8);
            }
            let (v, m) = s(Slot::NwTtl);
            if m != 0 {
                put(out, Field::IP_TTL, v, M8);
            }
            let (v, m) = s(Slot::Ipv6Label);
            put(out, Field::IPV6_LABEL, v, m);
            let (proto, pm) = s(Slot::NwProto);
            if pm != 0 {
                put(out, Field::IP_PROTO, proto, M8);
                let (ts, tsm) = s(Slot::TpSrc);
                let (td, tdm) = s(Slot::TpDst);
                match proto {
                    6 => {
                        put(out, Field::TCP_SRC, ts, tsm);
                        put(out, Field::TCP_DST, td, tdm);
                        let (v, m) = s(Slot::TcpFlags);
                        put(out, Field::TCP_FLAGS, v, m);
                    }
                    17 => {
                        put(out, Field::UDP_SRC, ts, tsm);
                        put(out, Field::UDP_DST, td, tdm);
                    }
                    132 => {
                        put(out, Field::SCTP_SRC, ts, tsm);
                        put(out, Field::SCTP_DST, td, tdm);
                    }
                    1 if dl == 0x0800 => {
                        if tsm != 0 {
                            put(out, Field::ICMPV4_TYPE, ts & 0xff, M8);
                        }
                        if tdm != 0 {
                            put(out, Field::ICMPV4_CODE, td & 0xff, M8);
                        }
                    }
                    58 if dl == 0x86dd => {
                        if tsm != 0 {
                            put(out, Field::ICMPV6_TYPE, ts & 0xff, M8);
                        }
                        if tdm != 0 {
                            put(out, Field::ICMPV6_CODE, td & 0xff, M8);
                        }
                        if td == 0 && (ts == 135 || ts == 136) {
                            let (v, m) = s(Slot::NdReserved);
                            if m != 0 {
                                put(out, Field::ND_RESERVED, v, M32);
                            }
                            let (v, m) = s(Slot::NdTarget);
                            put(out, Field::ND_TARGET, v, m);
                            let (v, m) = s(Slot::TcpFlags);
                            if m != 0 {
                                put(out, Field::ND_OPTIONS_TYPE, v & 0xff, M8);
                            }
                            if ts == 135 {
                                let (v, m) = s(Slot::ArpSha);
                                put(out, Field::ND_SLL, v, m);
                            } else {
                                let (v, m) = s(Slot::ArpTha);
                                put(out, Field::ND_TLL, v, m);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        if dl == 0x0806 || dl == 0x8035 {
            let (v, m) = s(Slot::NwProto);
            if m != 0 {
                put(out, Field::ARP_OP, v, M16);
            }
            let (v, m) = s(Slot::NwSrc);
            put(out, Field::ARP_SPA, v, m);
            let (v, m) = s(Slot::NwDst);
            put(out, Field::ARP_TPA, v, m);
            let (v, m) = s(Slot::ArpSha);
            put(out, Field::ARP_SHA, v, m);
            let (v, m) = s(Slot::ArpTha);
            put(out, Field::ARP_THA, v, m);
        }
        let (v, m) = s(Slot::TunId);
        put(out, Field::TUN_ID, v, m);
        let (v, m) = s(Slot::TunFlags);
        put(out, Field::TUN_FLAGS, v, m);
        let (v, m) = s(Slot::TunSrc);
        put(out, Field::TUN_SRC, v, m);
        let (v, m) = s(Slot::TunDst);
        put(out, Field::TUN_DST, v, m);
        let (v, m) = s(Slot::TunIpv6Src);
        put(out, Field::TUN_IPV6_SRC, v, m);
        let (v, m) = s(Slot::TunIpv6Dst);
        put(out, Field::TUN_IPV6_DST, v, m);
        let (v, m) = s(Slot::TunGbpId);
        put(out, Field::TUN_GBP_ID, v, m);
        let (v, m) = s(Slot::TunGbpFlags);
        put(out, Field::TUN_GBP_FLAGS, v, m);
        for t in &self.tun_md {
            let f = Field(Field::TUN_METADATA0.0 + u16::from(t.index));
            put_header(out, f, t.masked, t.value.len());
            out.extend_from_slice(&t.value);
            if t.masked {
                out.extend_from_slice(&t.mask);
            }
        }
        for i in 0..8u8 {
            let (v, m) = self.regs_wide(i * 2, 2);
            put(out, Field(Field::XREG0.0 + u16::from(i)), v, m);
        }
        let (v, m) = s(Slot::PktMark);
        put(out, Field::PKT_MARK, v, m);
        let (v, m) = s(Slot::CtState);
        put(out, Field::CT_STATE, v, m);
        let (v, m) = s(Slot::CtZone);
        put(out, Field::CT_ZONE, v, m);
        let (v, m) = s(Slot::CtMark);
        put(out, Field::CT_MARK, v, m);
        let (v, m) = s(Slot::CtLabel);
        put(out, Field::CT_LABEL, v, m);
        let (v, m) = s(Slot::CtNwSrc);
        put(out, Field::CT_NW_SRC, v, m);
        let (v, m) = s(Slot::CtIpv6Src);
        put(out, Field::CT_IPV6_SRC, v, m);
        let (v, m) = s(Slot::CtNwDst);
        put(out, Field::CT_NW_DST, v, m);
        let (v, m) = s(Slot::CtIpv6Dst);
        put(out, Field::CT_IPV6_DST, v, m);
        let (cp, cpm) = s(Slot::CtNwProto);
        if cp != 0 {
            put(out, Field::CT_NW_PROTO, cp, cpm);
            let (v, m) = s(Slot::CtTpSrc);
            put(out, Field::CT_TP_SRC, v, m);
            let (v, m) = s(Slot::CtTpDst);
            put(out, Field::CT_TP_DST, v, m);
        }
        let (v, m) = s(Slot::Metadata);
        put(out, Field::METADATA, v, m);
        if default_pt && !implied_eth {
            let mut pt = Vec::with_capacity(8);
            put_header(&mut pt, Field::PACKET_TYPE, false, 4);
            pt.put_u32(0);
            out.splice(start..start, pt);
        }
    }
}

/// Write an NXM/OXM header for `f` (OpenFlow 1.5 code point) with a payload of `n` bytes
/// (doubled when masked).
pub(crate) fn put_header(out: &mut Vec<u8>, f: Field, masked: bool, n: usize) {
    let h = f.of15_header().unwrap_or(NxmHeader { vendor: 0, class: 0, field: 0, len: 0 });
    put_raw_header(out, h, masked, n);
}

pub(crate) fn put_raw_header(out: &mut Vec<u8>, h: NxmHeader, masked: bool, n: usize) {
    let exp = if h.class == 0xffff { 4 } else { 0 };
    let len = if masked { 2 * n } else { n } + exp;
    out.put_u16(h.class);
    out.put_u8((h.field << 1) | u8::from(masked));
    out.put_u8(len as u8);
    if h.class == 0xffff {
        out.put_u32(h.vendor);
    }
}

/// Read an NXM/OXM header: (field, has-mask, payload length excluding experimenter id).
pub(crate) fn read_header(r: &mut Reader<'_>) -> Result<(Field, bool, usize)> {
    let class = r.u16()?;
    let fh = r.u8()?;
    let len = usize::from(r.u8()?);
    let (vendor, len) = if class == 0xffff {
        if len < 4 {
            return Err(DecodeError::BadLength { what: "experimenter oxm", len });
        }
        (r.u32()?, len - 4)
    } else {
        (0, len)
    };
    let field = Field::from_header(vendor, class, fh >> 1).ok_or(DecodeError::Unsupported {
        what: "oxm header",
        value: (u64::from(vendor) << 32) | (u64::from(class) << 16) | u64::from(fh >> 1) << 8,
    })?;
    Ok((field, fh & 1 != 0, len))
}

type Tlv<'a> = (Field, bool, &'a [u8], Option<&'a [u8]>);

fn read_tlv<'a>(r: &mut Reader<'a>) -> Result<Tlv<'a>> {
    let (field, masked, len) = read_header(r)?;
    let def = field.def();
    let n = if masked { len / 2 } else { len };
    let ok_len = if def.variable { n > 0 && n <= def.n_bytes } else { n == def.n_bytes };
    if !ok_len || (masked && len % 2 != 0) {
        return Err(DecodeError::BadLength { what: "oxm payload", len });
    }
    if masked && !def.maskable {
        return Err(DecodeError::BadValue { what: "mask on unmaskable oxm", value: field.0.into() });
    }
    let value = r.bytes(n)?;
    let mask = if masked { Some(r.bytes(n)?) } else { None };
    Ok((field, masked, value, mask))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::wire::from_hex;

    #[test]
    fn xreg_encoding_of_registers() {
        let mut m = Match::new();
        m.set_u128_masked(Field::REG0, 5, 0xff).unwrap();
        let mut out = Vec::new();
        m.encode_ofp_match(&mut out);
        assert_eq!(out, from_hex("00010018800101100000000500000000000000ff00000000").unwrap());
        let back = Match::decode_ofp_match(&mut Reader::new(&out, "t")).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn default_packet_type_is_implied() {
        let mut m = Match::new();
        m.set_slot_bits(Slot::PacketType, 0, M32, M32);
        m.set_u128(Field::REG1, 1).unwrap();
        let mut out = Vec::new();
        m.encode_oxm(&mut out);
        assert_eq!(&out[..8], &from_hex("8000580400000000").unwrap()[..]);
    }

    #[test]
    fn rejects_missing_prereqs() {
        // nw_src without dl_type=ip
        let b = from_hex("80001604 0a000001").unwrap();
        assert!(Match::decode_oxm(&b).is_err());
    }
}
