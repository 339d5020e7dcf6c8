//! The symbol table of OVN 23.03's logical fields (`ovn_init_symtab()` in lib/logical-fields.c,
//! register layout and flag bits from include/ovn/logical-fields.h).
//!
//! A symbol is an OVS field (with a width and a level: ordinal if OVS can mask it, nominal
//! if not), a subfield of another symbol (bits `ofs..ofs+width` of it), a predicate (a
//! Boolean expression, kept as text and expanded by annotation), or a string field (a logical
//! port name, matched as the port's tunnel key in a register). Any symbol may name
//! prerequisites, an expression ANDed in by annotation.

use std::collections::HashMap;
use std::sync::OnceLock;

use shared::openflow::Field;

use super::lexer::{tokenize, Token};

/// Index of a symbol in [`Symtab::symbols`].
pub type SymId = usize;

/// What kinds of comparison a symbol allows (expr.h `enum expr_level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Only `==` / `!=` against whole values (not maskable in OVS, or a string).
    Nominal,
    /// A predicate that may be negated.
    Boolean,
    /// Any relational operator, any subfield.
    Ordinal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SymbolKind {
    /// A whole OVS field.
    Field(Field),
    /// Bits `ofs..ofs + width` of another symbol.
    Subfield { parent: SymId, ofs: u32 },
    /// A Boolean expression.
    Predicate(&'static str),
    /// A logical port name, matched as the port's tunnel key in this 32-bit register.
    Str(Field),
    /// An OVN-internal field (icmp4.frag_mtu, ...): usable in actions only.
    OvnField,
}

#[derive(Debug, Clone)]
pub struct Symbol {
    pub name: String,
    /// Width in bits; 0 for string symbols.
    pub width: u32,
    pub level: Level,
    pub prereqs: Option<&'static str>,
    /// Never used as a conjunctive-match dimension (always cross-multiplied).
    pub must_crossproduct: bool,
    pub kind: SymbolKind,
}

/// All symbols, by id and by name.
#[derive(Debug)]
pub struct Symtab {
    pub symbols: Vec<Symbol>,
    by_name: HashMap<String, SymId>,
}

/// Logical registers (`MFF_N_LOG_REGS`).
const N_LOG_REGS: u32 = 10;

/// Bits of the logical flags register, reg10 (`MLF_*_BIT`).
pub mod mlf {
    pub const ALLOW_LOOPBACK: u32 = 0;
    pub const RCV_FROM_RAMP: u32 = 1;
    pub const FORCE_SNAT_FOR_DNAT: u32 = 2;
    pub const FORCE_SNAT_FOR_LB: u32 = 3;
    pub const LOCAL_ONLY: u32 = 4;
    pub const NESTED_CONTAINER: u32 = 5;
    pub const LOOKUP_MAC: u32 = 6;
    pub const LOOKUP_LB_HAIRPIN: u32 = 7;
    pub const LOOKUP_FDB: u32 = 8;
    pub const SKIP_SNAT_FOR_LB: u32 = 9;
    pub const LOCALPORT: u32 = 10;
    pub const USE_SNAT_ZONE: u32 = 11;
    pub const CHECK_PORT_SEC: u32 = 12;
    pub const LOOKUP_COMMIT_ECMP_NH: u32 = 13;
    pub const USE_LB_AFF_SESSION: u32 = 14;
}

/// OVS conntrack state bits (`CS_*_BIT`) with the names OVN gives them (`ct.<name>`).
const CT_STATES: [(&str, u32); 8] =
    [("new", 0), ("est", 1), ("rel", 2), ("rpl", 3), ("inv", 4), ("trk", 5), ("snat", 6), ("dnat", 7)];

impl Symtab {
    /// The 23.03 logical-field symbol table (built once).
    pub fn ovn() -> &'static Symtab {
        static T: OnceLock<Symtab> = OnceLock::new();
        T.get_or_init(build)
    }

    pub fn lookup(&self, name: &str) -> Option<SymId> {
        self.by_name.get(name).copied()
    }

    pub fn get(&self, id: SymId) -> Option<&Symbol> {
        self.symbols.get(id)
    }

    /// Name of a symbol ("?" for a bad id, which the code never makes).
    pub fn name(&self, id: SymId) -> &str {
        self.symbols.get(id).map_or("?", |s| s.name.as_str())
    }

    fn add(&mut self, s: Symbol) -> SymId {
        let id = self.symbols.len();
        self.by_name.insert(s.name.clone(), id);
        self.symbols.push(s);
        id
    }

    fn field(&mut self, name: &str, f: Field, prereqs: Option<&'static str>, must_crossproduct: bool) -> SymId {
        let level = if f.def().maskable { Level::Ordinal } else { Level::Nominal };
        self.add(Symbol {
            name: name.to_string(),
            width: f.n_bits() as u32,
            level,
            prereqs,
            must_crossproduct,
            kind: SymbolKind::Field(f),
        })
    }

    /// `name` = bits `lo..=hi` of `parent` (which must exist).
    fn subfield(&mut self, name: &str, prereqs: Option<&'static str>, parent: &str, lo: u32, hi: u32) {
        let Some(pid) = self.lookup(parent) else { return };
        let level = self.symbols.get(pid).map_or(Level::Nominal, |p| p.level);
        self.add(Symbol {
            name: name.to_string(),
            width: hi - lo + 1,
            level,
            prereqs,
            must_crossproduct: false,
            kind: SymbolKind::Subfield { parent: pid, ofs: lo },
        });
    }

    fn string(&mut self, name: &str, f: Field) {
        self.add(Symbol {
            name: name.to_string(),
            width: 0,
            level: Level::Nominal,
            prereqs: None,
            must_crossproduct: false,
            kind: SymbolKind::Str(f),
        });
    }

    /// A predicate is nominal if its expansion compares a nominal symbol, else Boolean.
    fn predicate(&mut self, name: &str, expansion: &'static str) {
        let nominal = tokenize(expansion).unwrap_or_default().iter().any(|t| match &t.tok {
            Token::Id(id) => {
                self.lookup(id).and_then(|i| self.symbols.get(i)).is_some_and(|s| s.level == Level::Nominal)
            }
            _ => false,
        });
        self.add(Symbol {
            name: name.to_string(),
            width: 1,
            level: if nominal { Level::Nominal } else { Level::Boolean },
            prereqs: None,
            must_crossproduct: false,
            kind: SymbolKind::Predicate(expansion),
        });
    }
}

fn build() -> Symtab {
    let mut t = Symtab { symbols: Vec::new(), by_name: HashMap::new() };
    t.string("inport", Field::REG14);
    t.string("outport", Field::REG15);

    // Logical registers: xxreg0-1 are fields, xreg0-3 and reg0-7 their subfields; xreg4 is a
    // field with reg8-9 as its subfields.
    let xxregs = [Field::XXREG0, Field::XXREG1];
    for (i, f) in xxregs.iter().enumerate() {
        t.field(&format!("xxreg{i}"), *f, None, false);
    }
    for xi in 0..N_LOG_REGS / 2 {
        let xxi = xi / 2;
        if xxi < N_LOG_REGS / 4 {
            let lo = 64 * (1 - xi % 2);
            t.subfield(&format!("xreg{xi}"), None, &format!("xxreg{xxi}"), lo, lo + 63);
        } else {
            t.field(&format!("xreg{xi}"), Field::XREG4, None, false);
        }
    }
    for i in 0..N_LOG_REGS {
        let (xxi, xi) = (i / 4, i / 2);
        if xxi < N_LOG_REGS / 4 {
            let lo = 32 * (3 - i % 4);
            t.subfield(&format!("reg{i}"), None, &format!("xxreg{xxi}"), lo, lo + 31);
        } else {
            let lo = 32 * (1 - i % 2);
            t.subfield(&format!("reg{i}"), None, &format!("xreg{xi}"), lo, lo + 31);
        }
    }

    t.field("flags", Field::REG10, None, false);
    for (name, bit) in [
        ("flags.loopback", mlf::ALLOW_LOOPBACK),
        ("flags.force_snat_for_dnat", mlf::FORCE_SNAT_FOR_DNAT),
        ("flags.force_snat_for_lb", mlf::FORCE_SNAT_FOR_LB),
        ("flags.skip_snat_for_lb", mlf::SKIP_SNAT_FOR_LB),
        ("flags.use_snat_zone", mlf::USE_SNAT_ZONE),
    ] {
        t.subfield(name, None, "flags", bit, bit);
    }

    // Conntrack.
    t.field("ct_mark", Field::CT_MARK, None, false);
    t.subfield("ct_mark.blocked", None, "ct_mark", 0, 0);
    t.subfield("ct_mark.natted", None, "ct_mark", 1, 1);
    t.subfield("ct_mark.ecmp_reply_port", None, "ct_mark", 16, 31);
    t.subfield("ct_mark.skip_snat", None, "ct_mark", 2, 2);
    t.subfield("ct_mark.force_snat", None, "ct_mark", 3, 3);
    t.field("ct_label", Field::CT_LABEL, None, false);
    t.subfield("ct_label.blocked", None, "ct_label", 0, 0);
    t.subfield("ct_label.natted", None, "ct_label", 1, 1);
    t.subfield("ct_label.ecmp_reply_eth", None, "ct_label", 32, 79);
    t.subfield("ct_label.ecmp_reply_port", None, "ct_label", 80, 95);
    t.subfield("ct_label.label", None, "ct_label", 96, 127);
    t.subfield("ct_label.skip_snat", None, "ct_label", 2, 2);
    t.subfield("ct_label.force_snat", None, "ct_label", 3, 3);
    t.field("ct_state", Field::CT_STATE, None, false);
    for (name, bit) in CT_STATES {
        let prereqs = if name == "trk" { None } else { Some("ct.trk") };
        t.subfield(&format!("ct.{name}"), prereqs, "ct_state", bit, bit);
    }

    // Data fields.
    t.field("eth.src", Field::ETH_SRC, None, false);
    t.field("eth.dst", Field::ETH_DST, None, false);
    t.field("eth.type", Field::ETH_TYPE, None, true);
    t.predicate("eth.bcast", "eth.dst == ff:ff:ff:ff:ff:ff");
    t.subfield("eth.mcast", None, "eth.dst", 40, 40);
    t.predicate("eth.mcastv6", "eth.dst[32..47] == 0x3333");

    t.field("vlan.tci", Field::VLAN_TCI, None, false);
    t.predicate("vlan.present", "vlan.tci[12]");
    t.subfield("vlan.pcp", Some("vlan.present"), "vlan.tci", 13, 15);
    t.subfield("vlan.vid", Some("vlan.present"), "vlan.tci", 0, 11);

    t.predicate("ip4", "eth.type == 0x800");
    t.predicate("ip6", "eth.type == 0x86dd");
    t.predicate("ip", "ip4 || ip6");
    t.field("ip.proto", Field::IP_PROTO, Some("ip"), true);
    t.field("ip.dscp", Field::IP_DSCP_SHIFTED, Some("ip"), false);
    t.field("ip.ecn", Field::IP_ECN, Some("ip"), false);
    t.field("ip.ttl", Field::IP_TTL, Some("ip"), false);

    t.field("ip4.src", Field::IPV4_SRC, Some("ip4"), false);
    t.field("ip4.dst", Field::IPV4_DST, Some("ip4"), false);
    t.predicate("ip4.src_mcast", "ip4.src[28..31] == 0xe");
    t.predicate("ip4.mcast", "eth.mcast && ip4.dst[28..31] == 0xe");

    t.predicate("icmp4", "ip4 && ip.proto == 1");
    t.field("icmp4.type", Field::ICMPV4_TYPE, Some("icmp4"), false);
    t.field("icmp4.code", Field::ICMPV4_CODE, Some("icmp4"), false);

    t.predicate("igmp", "ip4 && ip.proto == 2");

    t.field("ip6.src", Field::IPV6_SRC, Some("ip6"), false);
    t.field("ip6.dst", Field::IPV6_DST, Some("ip6"), false);
    t.field("ip6.label", Field::IPV6_LABEL, Some("ip6"), false);

    t.predicate("ip6.mcast_rsvd", "ip6.dst[116..127] == 0xff0 && ip6.dst[0..111] == 0x0");
    t.predicate("ip6.mcast_all_nodes", "ip6.dst == ff01::1 || ip6.dst == ff02::1");
    t.predicate("ip6.mcast_all_rtrs", "ip6.dst == ff01::2 || ip6.dst == ff02::2 || ip6.dst == ff05::2");
    t.predicate("ip6.mcast_sol_node", "ip6.dst == ff02::1:ff00:0000/104");
    t.predicate(
        "ip6.mcast_flood",
        "eth.mcastv6 && (ip6.mcast_rsvd || ip6.mcast_all_nodes || ip6.mcast_all_rtrs || ip6.mcast_sol_node)",
    );
    t.predicate("ip6.mcast", "eth.mcastv6 && ip6.dst[120..127] == 0xff");

    t.predicate("icmp6", "ip6 && ip.proto == 58");
    t.field("icmp6.type", Field::ICMPV6_TYPE, Some("icmp6"), true);
    t.field("icmp6.code", Field::ICMPV6_CODE, Some("icmp6"), true);

    t.predicate("icmp", "icmp4 || icmp6");

    t.field("ip.frag", Field::IP_FRAG, Some("ip"), false);
    t.predicate("ip.is_frag", "ip.frag[0]");
    t.predicate("ip.later_frag", "ip.frag[1]");
    t.predicate("ip.first_frag", "ip.is_frag && !ip.later_frag");

    t.predicate("arp", "eth.type == 0x806");
    t.field("arp.op", Field::ARP_OP, Some("arp"), false);
    t.field("arp.spa", Field::ARP_SPA, Some("arp"), false);
    t.field("arp.sha", Field::ARP_SHA, Some("arp"), false);
    t.field("arp.tpa", Field::ARP_TPA, Some("arp"), false);
    t.field("arp.tha", Field::ARP_THA, Some("arp"), false);

    t.predicate("rarp", "eth.type == 0x8035");
    t.field("rarp.op", Field::ARP_OP, Some("rarp"), false);
    t.field("rarp.spa", Field::ARP_SPA, Some("rarp"), false);
    t.field("rarp.sha", Field::ARP_SHA, Some("rarp"), false);
    t.field("rarp.tpa", Field::ARP_TPA, Some("rarp"), false);
    t.field("rarp.tha", Field::ARP_THA, Some("rarp"), false);

    t.predicate("nd", "icmp6.type == {135, 136} && icmp6.code == 0 && ip.ttl == 255");
    t.predicate("nd_ns", "icmp6.type == 135 && icmp6.code == 0 && ip.ttl == 255");
    t.predicate("nd_na", "icmp6.type == 136 && icmp6.code == 0 && ip.ttl == 255");
    t.predicate("nd_rs", "icmp6.type == 133 && icmp6.code == 0 && ip.ttl == 255");
    t.predicate("nd_ra", "icmp6.type == 134 && icmp6.code == 0 && ip.ttl == 255");
    t.field("nd.target", Field::ND_TARGET, Some("nd"), false);
    t.field("nd.sll", Field::ND_SLL, Some("nd_ns"), false);
    t.field("nd.tll", Field::ND_TLL, Some("nd_na"), false);

    t.predicate("mldv1", "ip6.src == fe80::/10 && icmp6.type == {130, 131, 132}");
    t.predicate("mldv2", "ip6.dst == ff02::16 && icmp6.type == 143");

    t.predicate("tcp", "ip.proto == 6");
    t.field("tcp.src", Field::TCP_SRC, Some("tcp"), false);
    t.field("tcp.dst", Field::TCP_DST, Some("tcp"), false);
    t.field("tcp.flags", Field::TCP_FLAGS, Some("tcp"), false);

    t.predicate("udp", "ip.proto == 17");
    t.field("udp.src", Field::UDP_SRC, Some("udp"), false);
    t.field("udp.dst", Field::UDP_DST, Some("udp"), false);

    t.predicate("sctp", "ip.proto == 132");
    t.field("sctp.src", Field::SCTP_SRC, Some("sctp"), false);
    t.field("sctp.dst", Field::SCTP_DST, Some("sctp"), false);

    t.field("pkt.mark", Field::PKT_MARK, None, false);

    for (name, width) in [("icmp4.frag_mtu", 16), ("icmp6.frag_mtu", 32)] {
        t.add(Symbol {
            name: name.to_string(),
            width,
            level: Level::Nominal,
            prereqs: None,
            must_crossproduct: false,
            kind: SymbolKind::OvnField,
        });
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_and_levels() {
        let t = Symtab::ovn();
        let sub = |n: &str| match t.get(t.lookup(n).unwrap()).unwrap().kind {
            SymbolKind::Subfield { parent, ofs } => (t.name(parent).to_string(), ofs),
            ref k => panic!("{n}: {k:?}"),
        };
        assert_eq!(sub("reg0"), ("xxreg0".into(), 96));
        assert_eq!(sub("reg3"), ("xxreg0".into(), 0));
        assert_eq!(sub("reg4"), ("xxreg1".into(), 96));
        assert_eq!(sub("reg8"), ("xreg4".into(), 32));
        assert_eq!(sub("reg9"), ("xreg4".into(), 0));
        assert_eq!(sub("xreg0"), ("xxreg0".into(), 64));
        assert_eq!(sub("xreg3"), ("xxreg1".into(), 0));
        assert_eq!(sub("ct.new"), ("ct_state".into(), 0));
        assert_eq!(sub("flags.use_snat_zone"), ("flags".into(), 11));
        let level = |n: &str| t.get(t.lookup(n).unwrap()).unwrap().level;
        assert_eq!(level("ip4"), Level::Nominal);
        assert_eq!(level("ip"), Level::Nominal);
        assert_eq!(level("tcp"), Level::Nominal);
        assert_eq!(level("eth.bcast"), Level::Boolean);
        assert_eq!(level("ip.later_frag"), Level::Boolean);
        assert_eq!(level("ct.est"), Level::Ordinal);
        assert_eq!(level("eth.type"), Level::Nominal);
        assert_eq!(level("ip4.src"), Level::Ordinal);
        assert_eq!(level("inport"), Level::Nominal);
        assert!(t.lookup("xreg4").is_some() && t.lookup("xxreg2").is_none() && t.lookup("reg10").is_none());
    }
}
