//! The match/set-field field catalogue: names, widths and NXM/OXM code points, as OVS 3.1
//! defines them (`meta-flow.h`), so that names and encodings agree with ovs-ofctl.

mod table;

use std::collections::HashMap;
use std::sync::OnceLock;

use table::FIELD_DEFS;

/// How a field's value is printed and parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldFormat {
    Decimal,
    Hex,
    CtState,
    Ethernet,
    Ipv4,
    Ipv6,
    OfpPort,
    OfpPortOxm,
    Frag,
    TunFlags,
    TcpFlags,
    PacketType,
}

/// What a match must also contain for a field to be matchable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prereq {
    None,
    Ethernet,
    Arp,
    VlanVid,
    Ipv4,
    Ipv6,
    IpAny,
    Nsh,
    CtValid,
    Mpls,
    Tcp,
    Udp,
    Sctp,
    Icmpv4,
    Icmpv6,
    Nd,
    NdSolicit,
    NdAdvert,
}

/// An NXM/OXM code point. `vendor` is nonzero only for experimenter OXMs (class 0xffff),
/// whose `len` includes the 4-byte experimenter id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NxmHeader {
    pub vendor: u32,
    pub class: u16,
    pub field: u8,
    pub len: u8,
}

/// Lookup tables built once from the catalogue (decoding is on the hot path).
struct Index {
    names: HashMap<&'static str, Field>,
    headers: HashMap<(u32, u16, u8), Field>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut names = HashMap::new();
        let mut headers = HashMap::new();
        // First definition wins, as a linear search would.
        for (i, d) in FIELD_DEFS.iter().enumerate() {
            let f = Field(i as u16);
            names.entry(d.name).or_insert(f);
            if let Some(x) = d.extra_name {
                names.entry(x).or_insert(f);
            }
            for h in d.headers {
                headers.entry((h.vendor, h.class, h.field)).or_insert(f);
            }
        }
        Index { names, headers }
    })
}

/// Static description of one field.
#[derive(Debug)]
pub struct FieldDef {
    pub name: &'static str,
    pub extra_name: Option<&'static str>,
    pub n_bytes: usize,
    pub n_bits: usize,
    /// Variable-length (tun_metadata): the wire length may be shorter than `n_bytes`.
    pub variable: bool,
    pub maskable: bool,
    pub writable: bool,
    pub format: FieldFormat,
    pub prereq: Prereq,
    /// Code points, oldest OpenFlow version first; OpenFlow 1.5 uses the last.
    pub headers: &'static [NxmHeader],
}

/// A field, as an index into the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Field(pub(crate) u16);

impl Field {
    /// reg0..reg15, by index.
    pub const REGS: [Field; 16] = [
        Field::REG0,
        Field::REG1,
        Field::REG2,
        Field::REG3,
        Field::REG4,
        Field::REG5,
        Field::REG6,
        Field::REG7,
        Field::REG8,
        Field::REG9,
        Field::REG10,
        Field::REG11,
        Field::REG12,
        Field::REG13,
        Field::REG14,
        Field::REG15,
    ];

    /// The static description.
    pub fn def(self) -> &'static FieldDef {
        // Field values are only created from catalogue indexes.
        &FIELD_DEFS[usize::from(self.0)]
    }

    /// Canonical name (`reg0`, `eth_src`, ...).
    pub fn name(self) -> &'static str {
        self.def().name
    }

    /// Width in bytes.
    pub fn n_bytes(self) -> usize {
        self.def().n_bytes
    }

    /// Width in bits.
    pub fn n_bits(self) -> usize {
        self.def().n_bits
    }

    /// Find by canonical or alternative name (`dl_type` finds `eth_type`).
    pub fn from_name(name: &str) -> Option<Field> {
        index().names.get(name).copied()
    }

    /// Find by the NXM/OXM name (`NXM_NX_REG0`, `OXM_OF_METADATA`, ...).
    pub fn from_nxm_name(name: &str) -> Option<Field> {
        let (class, number) = nxm_name_to_point(name)?;
        Self::from_header(0, class, number)
    }

    /// Find by code point (any version's).
    pub fn from_header(vendor: u32, class: u16, field: u8) -> Option<Field> {
        index().headers.get(&(vendor, class, field)).copied()
    }

    /// The code point OVS uses for this field in OpenFlow 1.5.
    pub fn of15_header(self) -> Option<NxmHeader> {
        self.def().headers.last().copied()
    }

    /// The code point OVS uses in Nicira actions and subfield names: the last NXM or
    /// Nicira-experimenter one if any, else the first standard OXM.
    pub fn nxm_header(self) -> Option<NxmHeader> {
        let hs = self.def().headers;
        hs.iter().rev().find(|h| !is_standard(h)).or_else(|| hs.first()).copied()
    }

    /// The name OVS prints in `move`/`load`/subfield syntax (`NXM_NX_REG0`).
    pub fn nxm_name(self) -> Option<String> {
        let h = self.nxm_header()?;
        point_to_nxm_name(h.class, h.field)
    }

    /// All fields.
    pub fn all() -> impl Iterator<Item = Field> {
        (0..FIELD_DEFS.len()).map(|i| Field(i as u16))
    }
}

// NXM/OXM names are derived from the catalogue names with a per-class prefix; the handful
// of names that differ from the field name are listed here (from meta-flow.h).
const NXM_NAME_EXCEPTIONS: &[(u16, u8, &str)] = &[
    (0x0000, 0, "NXM_OF_IN_PORT"),
    (0x0000, 1, "NXM_OF_ETH_DST"),
    (0x0000, 2, "NXM_OF_ETH_SRC"),
    (0x0000, 3, "NXM_OF_ETH_TYPE"),
    (0x0000, 4, "NXM_OF_VLAN_TCI"),
    (0x0000, 5, "NXM_OF_IP_TOS"),
    (0x0000, 6, "NXM_OF_IP_PROTO"),
    (0x0000, 7, "NXM_OF_IP_SRC"),
    (0x0000, 8, "NXM_OF_IP_DST"),
    (0x0000, 9, "NXM_OF_TCP_SRC"),
    (0x0000, 10, "NXM_OF_TCP_DST"),
    (0x0000, 11, "NXM_OF_UDP_SRC"),
    (0x0000, 12, "NXM_OF_UDP_DST"),
    (0x0000, 13, "NXM_OF_ICMP_TYPE"),
    (0x0000, 14, "NXM_OF_ICMP_CODE"),
    (0x0000, 15, "NXM_OF_ARP_OP"),
    (0x0000, 16, "NXM_OF_ARP_SPA"),
    (0x0000, 17, "NXM_OF_ARP_TPA"),
    (0x0001, 16, "NXM_NX_TUN_ID"),
    (0x0001, 17, "NXM_NX_ARP_SHA"),
    (0x0001, 18, "NXM_NX_ARP_THA"),
    (0x0001, 19, "NXM_NX_IPV6_SRC"),
    (0x0001, 20, "NXM_NX_IPV6_DST"),
    (0x0001, 21, "NXM_NX_ICMPV6_TYPE"),
    (0x0001, 22, "NXM_NX_ICMPV6_CODE"),
    (0x0001, 23, "NXM_NX_ND_TARGET"),
    (0x0001, 24, "NXM_NX_ND_SLL"),
    (0x0001, 25, "NXM_NX_ND_TLL"),
    (0x0001, 26, "NXM_NX_IP_FRAG"),
    (0x0001, 27, "NXM_NX_IPV6_LABEL"),
    (0x0001, 28, "NXM_NX_IP_ECN"),
    (0x0001, 29, "NXM_NX_IP_TTL"),
    (0x0001, 30, "NXM_NX_COOKIE"),
    (0x0001, 31, "NXM_NX_TUN_IPV4_SRC"),
    (0x0001, 32, "NXM_NX_TUN_IPV4_DST"),
    (0x0001, 33, "NXM_NX_PKT_MARK"),
    (0x0001, 34, "NXM_NX_TCP_FLAGS"),
    (0x0001, 35, "NXM_NX_DP_HASH"),
    (0x0001, 36, "NXM_NX_RECIRC_ID"),
    (0x0001, 37, "NXM_NX_CONJ_ID"),
    (0x0001, 38, "NXM_NX_TUN_GBP_ID"),
    (0x0001, 39, "NXM_NX_TUN_GBP_FLAGS"),
    (0x0001, 104, "NXM_NX_TUN_FLAGS"),
    (0x0001, 105, "NXM_NX_CT_STATE"),
    (0x0001, 106, "NXM_NX_CT_ZONE"),
    (0x0001, 107, "NXM_NX_CT_MARK"),
    (0x0001, 108, "NXM_NX_CT_LABEL"),
    (0x0001, 109, "NXM_NX_TUN_IPV6_SRC"),
    (0x0001, 110, "NXM_NX_TUN_IPV6_DST"),
    (0x0001, 111, "NXM_NX_XXREG0"),
    (0x0001, 112, "NXM_NX_XXREG1"),
    (0x0001, 113, "NXM_NX_XXREG2"),
    (0x0001, 114, "NXM_NX_XXREG3"),
    (0x0001, 115, "NXM_NX_XXREG4"),
    (0x0001, 116, "NXM_NX_XXREG5"),
    (0x0001, 117, "NXM_NX_XXREG6"),
    (0x0001, 118, "NXM_NX_XXREG7"),
    (0x0001, 119, "NXM_NX_CT_NW_PROTO"),
    (0x0001, 120, "NXM_NX_CT_NW_SRC"),
    (0x0001, 121, "NXM_NX_CT_NW_DST"),
    (0x0001, 122, "NXM_NX_CT_IPV6_SRC"),
    (0x0001, 123, "NXM_NX_CT_IPV6_DST"),
    (0x0001, 124, "NXM_NX_CT_TP_SRC"),
    (0x0001, 125, "NXM_NX_CT_TP_DST"),
    (0x0001, 126, "NXM_NX_TUN_ERSPAN_IDX"),
    (0x0001, 127, "NXM_NX_TUN_ERSPAN_VER"),
    (0x8000, 0, "OXM_OF_IN_PORT"),
    (0x8000, 1, "OXM_OF_IN_PHY_PORT"),
    (0x8000, 2, "OXM_OF_METADATA"),
    (0x8000, 3, "OXM_OF_ETH_DST"),
    (0x8000, 4, "OXM_OF_ETH_SRC"),
    (0x8000, 5, "OXM_OF_ETH_TYPE"),
    (0x8000, 6, "OXM_OF_VLAN_VID"),
    (0x8000, 7, "OXM_OF_VLAN_PCP"),
    (0x8000, 8, "OXM_OF_IP_DSCP"),
    (0x8000, 9, "OXM_OF_IP_ECN"),
    (0x8000, 10, "OXM_OF_IP_PROTO"),
    (0x8000, 11, "OXM_OF_IPV4_SRC"),
    (0x8000, 12, "OXM_OF_IPV4_DST"),
    (0x8000, 13, "OXM_OF_TCP_SRC"),
    (0x8000, 14, "OXM_OF_TCP_DST"),
    (0x8000, 15, "OXM_OF_UDP_SRC"),
    (0x8000, 16, "OXM_OF_UDP_DST"),
    (0x8000, 17, "OXM_OF_SCTP_SRC"),
    (0x8000, 18, "OXM_OF_SCTP_DST"),
    (0x8000, 19, "OXM_OF_ICMPV4_TYPE"),
    (0x8000, 20, "OXM_OF_ICMPV4_CODE"),
    (0x8000, 21, "OXM_OF_ARP_OP"),
    (0x8000, 22, "OXM_OF_ARP_SPA"),
    (0x8000, 23, "OXM_OF_ARP_TPA"),
    (0x8000, 24, "OXM_OF_ARP_SHA"),
    (0x8000, 25, "OXM_OF_ARP_THA"),
    (0x8000, 26, "OXM_OF_IPV6_SRC"),
    (0x8000, 27, "OXM_OF_IPV6_DST"),
    (0x8000, 28, "OXM_OF_IPV6_FLABEL"),
    (0x8000, 29, "OXM_OF_ICMPV6_TYPE"),
    (0x8000, 30, "OXM_OF_ICMPV6_CODE"),
    (0x8000, 31, "OXM_OF_IPV6_ND_TARGET"),
    (0x8000, 32, "OXM_OF_IPV6_ND_SLL"),
    (0x8000, 33, "OXM_OF_IPV6_ND_TLL"),
    (0x8000, 34, "OXM_OF_MPLS_LABEL"),
    (0x8000, 35, "OXM_OF_MPLS_TC"),
    (0x8000, 36, "OXM_OF_MPLS_BOS"),
    (0x8000, 38, "OXM_OF_TUNNEL_ID"),
    (0x8000, 40, "OXM_OF_TCP_FLAGS"),
    (0x8000, 43, "OXM_OF_ACTSET_OUTPUT"),
    (0x8000, 44, "OXM_OF_PACKET_TYPE"),
    (0x8001, 0, "OXM_OF_PKT_REG0"),
    (0x8001, 1, "OXM_OF_PKT_REG1"),
    (0x8001, 2, "OXM_OF_PKT_REG2"),
    (0x8001, 3, "OXM_OF_PKT_REG3"),
    (0x8001, 4, "OXM_OF_PKT_REG4"),
    (0x8001, 5, "OXM_OF_PKT_REG5"),
    (0x8001, 6, "OXM_OF_PKT_REG6"),
    (0x8001, 7, "OXM_OF_PKT_REG7"),
];

fn is_standard(h: &NxmHeader) -> bool {
    h.class == 0x8000 || h.class == 0x8001 || (h.class == 0xffff && h.vendor == 0x4f4e_4600)
}

fn nxm_name_to_point(name: &str) -> Option<(u16, u8)> {
    if let Some(&(c, f, _)) = NXM_NAME_EXCEPTIONS.iter().find(|x| x.2 == name) {
        return Some((c, f));
    }
    if let Some(n) = name.strip_prefix("NXM_NX_REG") {
        let i: u8 = n.parse().ok()?;
        return (i < 16).then_some((1, i));
    }
    if let Some(n) = name.strip_prefix("NXM_NX_TUN_METADATA") {
        let i: u8 = n.parse().ok()?;
        return (i < 64).then_some((1, 40 + i));
    }
    None
}

fn point_to_nxm_name(class: u16, field: u8) -> Option<String> {
    if let Some(x) = NXM_NAME_EXCEPTIONS.iter().find(|x| x.0 == class && x.1 == field) {
        return Some(x.2.to_string());
    }
    match (class, field) {
        (1, 0..=15) => Some(format!("NXM_NX_REG{field}")),
        (1, 40..=103) => Some(format!("NXM_NX_TUN_METADATA{}", field - 40)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert_eq!(Field::from_name("dl_type"), Some(Field::ETH_TYPE));
        assert_eq!(Field::from_name("reg13"), Some(Field::REG13));
        assert_eq!(Field::from_nxm_name("NXM_NX_REG13"), Some(Field::REG13));
        assert_eq!(Field::REG13.nxm_name().as_deref(), Some("NXM_NX_REG13"));
        assert_eq!(Field::XXREG0.nxm_name().as_deref(), Some("NXM_NX_XXREG0"));
        let h = Field::XREG0.of15_header().unwrap();
        assert_eq!((h.class, h.field, h.len), (0x8001, 0, 8));
        let h = Field::DP_HASH.of15_header().unwrap();
        assert_eq!((h.vendor, h.class, h.field), (0, 1, 35));
        let h = Field::IN_PORT_OXM.of15_header().unwrap();
        assert_eq!((h.class, h.field), (0x8000, 0));
    }
}
