//! Port security of the VIFs bound to this chassis, tables 73-75 (23.03 lflow.c
//! `add_port_sec_flows()` / `consider_port_sec_flows()` and the `build_*_port_sec_*()`
//! helpers). northd only emits the logical flows that resubmit here; the per-port checks
//! are built from `Port_Binding.port_security` by the controller. The flow order and
//! shapes follow 23.03 line by line, including its oddities (noted where they occur).

#[path = "port_sec_addrs.rs"]
pub mod addrs;
#[path = "port_sec_ofp.rs"]
pub mod ofp;

use shared::openflow::actions::ports;
use shared::openflow::{Action, Field, Match};
use shared::ovn::logical_fields::flags;
use shared::ovn::tables::{CHK_IN_PORT_SEC, CHK_IN_PORT_SEC_ND, CHK_OUT_PORT_SEC};
use shared::ovsdb::{Row, Uuid};

use super::LflowInput;
use crate::flows::DesiredFlow;
use addrs::{extract_lsp_addresses, lla, LportAddresses};
use ofp::{cookie, mac_u128, set, set_masked, FlowSet};

const ETH_TYPE_IP: u128 = 0x0800;
const ETH_TYPE_ARP: u128 = 0x0806;
const ETH_TYPE_IPV6: u128 = 0x86dd;
const IPPROTO_UDP: u128 = 17;
const IPPROTO_ICMPV6: u128 = 58;

pub fn flows(input: &LflowInput<'_>, out: &mut Vec<DesiredFlow>) {
    // 23.03 walks binding_lports (VIF, container, virtual and localport bindings with a
    // local interface) and keeps those whose chassis is ours; localports are never bound,
    // so this is the VIF-like ports bound here.
    let Some(chassis) = input.chassis else { return };
    let mut seen = FlowSet::default();
    for (uuid, pb) in input.sb.rows("Port_Binding") {
        if pb.get_uuid("chassis") != Some(chassis) || !matches!(pb.get_str("type"), Some("" | "virtual")) {
            continue;
        }
        let Some(port) = PortSecPort::from_row(input, uuid, pb) else { continue };
        let entries: Vec<&str> = pb.get_set("port_security").filter_map(|a| a.as_str()).collect();
        port_flows(&port, &entries, &mut seen, out);
    }
}

/// What the flows of one port need from its Port_Binding.
#[derive(Clone, Copy, Debug)]
pub struct PortSecPort {
    pub dp_key: u32,
    pub port_key: u32,
    pub cookie: u64,
}

impl PortSecPort {
    fn from_row(input: &LflowInput<'_>, uuid: &Uuid, pb: &Row) -> Option<PortSecPort> {
        let dp = input.sb.row("Datapath_Binding", &pb.get_uuid("datapath")?)?;
        let dp_key = u32::try_from(dp.get_i64("tunnel_key")?).ok()?;
        let port_key = u32::try_from(pb.get_i64("tunnel_key")?).ok()?;
        Some(PortSecPort { dp_key, port_key, cookie: cookie(uuid) })
    }
}

/// `consider_port_sec_flows()`; `entries` in the order OVSDB keeps a set (sorted).
pub fn port_flows(port: &PortSecPort, entries: &[&str], seen: &mut FlowSet, out: &mut Vec<DesiredFlow>) {
    let ps: Vec<LportAddresses> = entries
        .iter()
        .filter_map(|e| {
            let a = extract_lsp_addresses(e);
            if a.is_none() {
                tracing::debug!("invalid syntax '{e}' in port security. No MAC address found");
            }
            a
        })
        .collect();
    if ps.is_empty() {
        return;
    }
    let mut b = Builder { port, seen, out };
    b.in_default();
    for a in &ps {
        b.in_no_ip(a);
        b.in_ip4(a);
        b.in_arp(a);
        b.in_ip6(a);
        b.in_nd(a);
    }
    // Out port security: drop by default, then per address.
    let m = b.base(Field::REG15);
    b.add(CHK_OUT_PORT_SEC, 80, &m, deny());
    for a in &ps {
        b.out_no_ip(a);
        b.out_ip4(a);
        b.out_ip6(a);
    }
}

fn deny() -> Vec<Action> {
    vec![ofp::load_flag(flags::CHECK_PORT_SEC, true)]
}

fn allow() -> Vec<Action> {
    vec![ofp::load_flag(flags::CHECK_PORT_SEC, false)]
}

/// `build_port_sec_adv_nd_check()`.
fn adv_nd() -> Vec<Action> {
    vec![Action::Resubmit { in_port: ports::IN_PORT, table: CHK_IN_PORT_SEC_ND, ct: false }]
}

struct Builder<'a> {
    port: &'a PortSecPort,
    seen: &'a mut FlowSet,
    out: &'a mut Vec<DesiredFlow>,
}

impl Builder<'_> {
    fn add(&mut self, table: u8, priority: u16, m: &Match, actions: Vec<Action>) {
        self.seen.add(self.out, table, priority, self.port.cookie, m, actions);
    }

    /// `reset_match_for_port_sec_flows()`: the datapath and the logical in- or outport.
    fn base(&self, reg: Field) -> Match {
        let mut m = Match::new();
        set(&mut m, Field::METADATA, self.port.dp_key.into());
        set(&mut m, reg, self.port.port_key.into());
        m
    }

    /// base(inport) + eth.src, or base(outport) + eth.dst, + eth.type.
    fn eth(&self, reg: Field, ea: [u8; 6], eth_type: Option<u128>) -> Match {
        let mut m = self.base(reg);
        let f = if reg == Field::REG14 { Field::ETH_SRC } else { Field::ETH_DST };
        set(&mut m, f, mac_u128(ea));
        if let Some(t) = eth_type {
            set(&mut m, Field::ETH_TYPE, t);
        }
        m
    }

    /// `build_in_port_sec_default_flows()`.
    fn in_default(&mut self) {
        let mut m = self.base(Field::REG14);
        self.add(CHK_IN_PORT_SEC, 80, &m, deny());
        set(&mut m, Field::ETH_TYPE, ETH_TYPE_ARP);
        self.add(CHK_IN_PORT_SEC, 95, &m, adv_nd());
        self.add(CHK_IN_PORT_SEC_ND, 80, &m, deny());

        let mut m = self.base(Field::REG14);
        set(&mut m, Field::ETH_TYPE, ETH_TYPE_IPV6);
        set(&mut m, Field::IP_PROTO, IPPROTO_ICMPV6);
        set(&mut m, Field::IP_TTL, 255);
        set(&mut m, Field::ICMPV6_TYPE, 136);
        self.add(CHK_IN_PORT_SEC_ND, 80, &m, deny());
        // 23.03 allows all NS by default ("a hack for now", lflow.c).
        set(&mut m, Field::ICMPV6_TYPE, 135);
        self.add(CHK_IN_PORT_SEC_ND, 80, &m, allow());
    }

    /// `build_in_port_sec_no_ip_flows()`.
    fn in_no_ip(&mut self, a: &LportAddresses) {
        if !a.ipv4.is_empty() || !a.ipv6.is_empty() {
            return;
        }
        let m = self.eth(Field::REG14, a.ea, None);
        self.add(CHK_IN_PORT_SEC, 90, &m, adv_nd());
    }

    /// `build_in_port_sec_ip4_flows()`.
    fn in_ip4(&mut self, a: &LportAddresses) {
        if a.ipv4.is_empty() {
            return;
        }
        for n in &a.ipv4 {
            let mut m = self.eth(Field::REG14, a.ea, Some(ETH_TYPE_IP));
            if n.exact() {
                set(&mut m, Field::IPV4_SRC, n.addr.into());
            } else {
                set_masked(&mut m, Field::IPV4_SRC, n.addr.into(), n.mask().into());
            }
            self.add(CHK_IN_PORT_SEC, 90, &m, allow());
        }
        // DHCP requests: 0.0.0.0:68 -> 255.255.255.255:67.
        let mut m = self.eth(Field::REG14, a.ea, Some(ETH_TYPE_IP));
        set(&mut m, Field::IPV4_SRC, 0);
        set(&mut m, Field::IPV4_DST, 0xffff_ffff);
        set(&mut m, Field::IP_PROTO, IPPROTO_UDP);
        set(&mut m, Field::UDP_SRC, 68);
        set(&mut m, Field::UDP_DST, 67);
        self.add(CHK_IN_PORT_SEC, 90, &m, allow());
    }

    /// `build_in_port_sec_arp_flows()`.
    fn in_arp(&mut self, a: &LportAddresses) {
        if a.ipv4.is_empty() && !a.ipv6.is_empty() {
            return;
        }
        let arp = |b: &Self| {
            let mut m = b.eth(Field::REG14, a.ea, Some(ETH_TYPE_ARP));
            set(&mut m, Field::ARP_SHA, mac_u128(a.ea));
            m
        };
        if a.ipv4.is_empty() {
            let m = arp(self);
            self.add(CHK_IN_PORT_SEC_ND, 90, &m, allow());
        }
        for n in &a.ipv4 {
            let mut m = arp(self);
            if n.exact() {
                set(&mut m, Field::ARP_SPA, n.addr.into());
            } else {
                set_masked(&mut m, Field::ARP_SPA, n.addr.into(), n.mask().into());
            }
            self.add(CHK_IN_PORT_SEC_ND, 90, &m, allow());
        }
    }

    /// `build_in_port_sec_ip6_flows()`.
    fn in_ip6(&mut self, a: &LportAddresses) {
        if a.ipv6.is_empty() {
            return;
        }
        for n in &a.ipv6 {
            let mut m = self.eth(Field::REG14, a.ea, Some(ETH_TYPE_IPV6));
            if n.exact() {
                set(&mut m, Field::IPV6_SRC, n.addr);
            } else {
                set_masked(&mut m, Field::IPV6_SRC, n.network(), n.mask());
            }
            self.add(CHK_IN_PORT_SEC, 90, &m, adv_nd());
        }
        let mut m = self.eth(Field::REG14, a.ea, Some(ETH_TYPE_IPV6));
        set(&mut m, Field::IPV6_SRC, lla(a.ea));
        self.add(CHK_IN_PORT_SEC, 90, &m, adv_nd());

        // MLD reports from ::, to ff02::/16.
        set(&mut m, Field::IPV6_SRC, 0);
        set_masked(&mut m, Field::IPV6_DST, 0xff02u128 << 112, 0xffffu128 << 112);
        set(&mut m, Field::IP_PROTO, IPPROTO_ICMPV6);
        set(&mut m, Field::ICMPV6_TYPE, 131);
        set(&mut m, Field::ICMPV6_CODE, 0);
        self.add(CHK_IN_PORT_SEC, 90, &m, allow());
        set(&mut m, Field::ICMPV6_TYPE, 143);
        self.add(CHK_IN_PORT_SEC, 90, &m, allow());
        // Duplicate address detection NS: checked in the next table.
        set(&mut m, Field::ICMPV6_TYPE, 135);
        self.add(CHK_IN_PORT_SEC, 90, &m, adv_nd());
    }

    /// `build_in_port_sec_nd_flows()`.
    fn in_nd(&mut self, a: &LportAddresses) {
        // NS with nd.sll 0 or the port's MAC. 23.03 writes no eth.src here and nw_ttl 225
        // (not 255); both are kept so the table is the same.
        let mut ns = self.base(Field::REG14);
        set(&mut ns, Field::ETH_TYPE, ETH_TYPE_IPV6);
        set(&mut ns, Field::IP_PROTO, IPPROTO_ICMPV6);
        set(&mut ns, Field::IP_TTL, 225);
        set(&mut ns, Field::ICMPV6_TYPE, 135);
        set(&mut ns, Field::ICMPV6_CODE, 0);
        set(&mut ns, Field::ND_SLL, 0);
        self.add(CHK_IN_PORT_SEC_ND, 90, &ns, allow());
        set(&mut ns, Field::ND_SLL, mac_u128(a.ea));
        self.add(CHK_IN_PORT_SEC_ND, 90, &ns, allow());

        // NA: 23.03 reuses the NS match, so nd.sll stays set; OVS cannot carry nd_sll on an
        // NA match (it is not encoded), so it is left out here to give the same flow.
        let mut na = ns;
        na.clear(Field::ND_SLL);
        set(&mut na, Field::ICMPV6_TYPE, 136);
        set(&mut na, Field::ICMPV6_CODE, 0);
        if a.ipv6.is_empty() {
            set(&mut na, Field::ND_TLL, 0);
            self.add(CHK_IN_PORT_SEC_ND, 90, &na, allow());
            set(&mut na, Field::ND_TLL, mac_u128(a.ea));
            self.add(CHK_IN_PORT_SEC_ND, 90, &na, allow());
            return;
        }
        let lla = lla(a.ea);
        set(&mut na, Field::ND_TLL, 0);
        set(&mut na, Field::ND_TARGET, lla);
        self.add(CHK_IN_PORT_SEC_ND, 90, &na, allow());
        set(&mut na, Field::ND_TLL, mac_u128(a.ea));
        self.add(CHK_IN_PORT_SEC_ND, 90, &na, allow());
        for n in &a.ipv6 {
            let mut m = self.eth(Field::REG14, a.ea, Some(ETH_TYPE_IPV6));
            set(&mut m, Field::IP_PROTO, IPPROTO_ICMPV6);
            set(&mut m, Field::ICMPV6_TYPE, 136);
            set(&mut m, Field::ICMPV6_CODE, 0);
            set(&mut m, Field::ND_TLL, 0);
            if n.exact() {
                set(&mut m, Field::ND_TARGET, n.addr);
            } else {
                set_masked(&mut m, Field::ND_TARGET, n.network(), n.mask());
            }
            self.add(CHK_IN_PORT_SEC_ND, 90, &m, allow());
            set(&mut m, Field::ND_TLL, mac_u128(a.ea));
            self.add(CHK_IN_PORT_SEC_ND, 90, &m, allow());
        }
    }

    /// `build_out_port_sec_no_ip_flows()`: 23.03 adds it for every entry.
    fn out_no_ip(&mut self, a: &LportAddresses) {
        let m = self.eth(Field::REG15, a.ea, None);
        self.add(CHK_OUT_PORT_SEC, 85, &m, allow());
    }

    /// `build_out_port_sec_ip4_flows()`.
    fn out_ip4(&mut self, a: &LportAddresses) {
        if a.ipv4.is_empty() && a.ipv6.is_empty() {
            return;
        }
        let m = self.eth(Field::REG15, a.ea, Some(ETH_TYPE_IP));
        self.add(CHK_OUT_PORT_SEC, 90, &m, deny());
        if a.ipv4.is_empty() {
            return;
        }
        for n in &a.ipv4 {
            let mut m = self.eth(Field::REG15, a.ea, Some(ETH_TYPE_IP));
            if n.exact() {
                if n.plen != 32 {
                    // The subnet's broadcast address too.
                    set(&mut m, Field::IPV4_DST, n.bcast().into());
                    self.add(CHK_OUT_PORT_SEC, 95, &m, allow());
                }
                set(&mut m, Field::IPV4_DST, n.addr.into());
            } else {
                set_masked(&mut m, Field::IPV4_DST, n.addr.into(), n.mask().into());
            }
            self.add(CHK_OUT_PORT_SEC, 95, &m, allow());
        }
        let mut m = self.eth(Field::REG15, a.ea, Some(ETH_TYPE_IP));
        set(&mut m, Field::IPV4_DST, 0xffff_ffff);
        self.add(CHK_OUT_PORT_SEC, 95, &m, allow());
        set_masked(&mut m, Field::IPV4_DST, 0xe000_0000, 0xf000_0000);
        self.add(CHK_OUT_PORT_SEC, 95, &m, allow());
    }

    /// `build_out_port_sec_ip6_flows()`.
    fn out_ip6(&mut self, a: &LportAddresses) {
        if a.ipv4.is_empty() && a.ipv6.is_empty() {
            return;
        }
        let m = self.eth(Field::REG15, a.ea, Some(ETH_TYPE_IPV6));
        self.add(CHK_OUT_PORT_SEC, 90, &m, deny());
        if a.ipv6.is_empty() {
            return;
        }
        for n in &a.ipv6 {
            let mut m = self.eth(Field::REG15, a.ea, Some(ETH_TYPE_IPV6));
            if n.exact() {
                set(&mut m, Field::IPV6_DST, n.addr);
            } else {
                set_masked(&mut m, Field::IPV6_DST, n.network(), n.mask());
            }
            self.add(CHK_OUT_PORT_SEC, 95, &m, allow());
        }
        let mut m = self.eth(Field::REG15, a.ea, Some(ETH_TYPE_IPV6));
        set(&mut m, Field::IPV6_DST, lla(a.ea));
        self.add(CHK_OUT_PORT_SEC, 95, &m, allow());
        set_masked(&mut m, Field::IPV6_DST, 0xffu128 << 120, 0xffu128 << 120);
        self.add(CHK_OUT_PORT_SEC, 95, &m, allow());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::openflow::text::format_match;

    const PORT: PortSecPort = PortSecPort { dp_key: 1, port_key: 2, cookie: 0xabcd };

    /// The flows as "table,priority,match actions" lines, in build order.
    fn lines(entries: &[&str]) -> Vec<String> {
        let mut out = Vec::new();
        port_flows(&PORT, entries, &mut FlowSet::default(), &mut out);
        out.iter()
            .map(|f| {
                assert_eq!(f.cookie(), 0xabcd);
                let act = match f.actions() {
                    [Action::Resubmit { table, .. }] => format!("resubmit({table})"),
                    [Action::SetField { field: Field::REG10, value, mask: Some(m) }] => {
                        assert_eq!(m, &0x1000u32.to_be_bytes().to_vec());
                        if value.iter().all(|&b| b == 0) { "allow" } else { "deny" }.to_string()
                    }
                    other => panic!("unexpected actions {other:?}"),
                };
                format!("{},{},{} {act}", f.table(), f.priority(), format_match(f.m(), None))
            })
            .collect()
    }

    fn count(lines: &[String], prefix: &str) -> usize {
        lines.iter().filter(|l| l.starts_with(prefix)).count()
    }

    #[test]
    fn no_valid_entry_no_flows() {
        assert!(lines(&[]).is_empty());
        assert!(lines(&["unknown", "10.0.0.1"]).is_empty());
    }

    #[test]
    fn mac_only_entry() {
        let l = lines(&["00:00:00:00:00:01"]);
        // in: 2 defaults (73) + 4 defaults (74) + eth.src advance; ARP sha; NS x2; NA x2;
        // out: drop + eth.dst allow.
        assert_eq!(count(&l, "73,"), 3, "{l:#?}");
        assert_eq!(count(&l, "74,"), 3 + 1 + 2 + 2, "{l:#?}");
        assert_eq!(count(&l, "75,"), 2, "{l:#?}");
        let first = l.first().unwrap();
        assert!(first.starts_with("73,80,") && first.ends_with(" deny"), "{first}");
        assert!(first.contains("reg14=0x2") && first.contains("metadata=0x1"), "{first}");
        assert!(l
            .iter()
            .any(|x| x.starts_with("73,90,") && x.contains("dl_src=00:00:00:00:00:01") && x.ends_with("resubmit(74)")));
        assert!(l
            .iter()
            .any(|x| x.starts_with("75,85,") && x.contains("dl_dst=00:00:00:00:00:01") && x.ends_with("allow")));
        // The NA flows carry no nd_sll, and the NS ones keep 23.03's ttl of 225.
        assert!(l
            .iter()
            .filter(|x| x.contains("icmp_type=136") && x.starts_with("74,90"))
            .all(|x| !x.contains("nd_sll")));
        assert_eq!(l.iter().filter(|x| x.contains("nw_ttl=225")).count(), 4, "{l:#?}");
    }

    #[test]
    fn ipv4_and_ipv6_entry() {
        let l = lines(&["00:00:00:00:00:01 10.0.0.4/24 fd00::4"]);
        let has = |p: &str, parts: &[&str]| l.iter().any(|x| x.starts_with(p) && parts.iter().all(|s| x.contains(s)));
        assert!(has("73,90,", &["nw_src=10.0.0.4 ", "allow"]) || has("73,90,", &["nw_src=10.0.0.4", "allow"]));
        assert!(has("73,90,", &["udp", "nw_src=0.0.0.0", "nw_dst=255.255.255.255", "tp_src=68", "tp_dst=67"]));
        assert!(has("74,90,", &["arp", "arp_spa=10.0.0.4", "arp_sha=00:00:00:00:00:01"]));
        assert!(has("73,90,", &["ipv6_src=fd00::4", "resubmit(74)"]));
        assert!(has("73,90,", &["ipv6_src=fe80::200:ff:fe00:1", "resubmit(74)"]));
        assert!(has("73,90,", &["ipv6_src=::", "ipv6_dst=ff02::/16", "icmp_type=131", "allow"]));
        assert!(has("73,90,", &["ipv6_src=::", "ipv6_dst=ff02::/16", "icmp_type=143", "allow"]));
        assert!(has("73,90,", &["ipv6_src=::", "icmp_type=135", "resubmit(74)"]));
        assert!(has("74,90,", &["icmp_type=136", "nd_target=fe80::200:ff:fe00:1", "nd_tll=00:00:00:00:00:00"]));
        assert!(has("74,90,", &["icmp_type=136", "nd_target=fd00::4", "nd_tll=00:00:00:00:00:01", "dl_src="]));
        assert!(has("75,95,", &["nw_dst=10.0.0.255", "allow"]));
        assert!(has("75,95,", &["nw_dst=10.0.0.4", "allow"]));
        assert!(has("75,95,", &["nw_dst=224.0.0.0/4", "allow"]));
        assert!(has("75,95,", &["ipv6_dst=ff00::/8", "allow"]));
        assert!(has("75,95,", &["ipv6_dst=fe80::200:ff:fe00:1", "allow"]));
        assert!(has("75,90,", &["ip,", "deny"]) || has("75,90,", &["ip", "deny"]));
        // No "ARP with sha only" flow: there are IPv4 addresses.
        assert_eq!(
            l.iter().filter(|x| x.starts_with("74,90,") && x.contains("arp") && !x.contains("arp_spa")).count(),
            0
        );
        // No eth.src-only advance: there are IPs.
        assert!(!l.iter().any(|x| x.starts_with("73,90,") && x.ends_with("resubmit(74)") && !x.contains("ipv6")));
        // in: defaults 5, ip4 2, arp 1, ip6 5, nd 6; out: default 1, eth 1, ip4 5, ip6 4.
        assert_eq!(l.len(), 5 + 2 + 1 + 5 + 6 + 1 + 1 + 5 + 4, "{l:#?}");
    }

    #[test]
    fn subnets_match_masked() {
        let l = lines(&["00:00:00:00:00:01 10.0.0.0/24 fd00::/64"]);
        assert!(l.iter().any(|x| x.starts_with("73,90,") && x.contains("nw_src=10.0.0.0/24")));
        assert!(l.iter().any(|x| x.starts_with("75,95,") && x.contains("nw_dst=10.0.0.0/24")));
        assert!(l.iter().any(|x| x.starts_with("73,90,") && x.contains("ipv6_src=fd00::/64")));
        assert!(l.iter().any(|x| x.starts_with("74,90,") && x.contains("nd_target=fd00::/64")));
        // Only host addresses get the extra broadcast flow.
        assert!(!l.iter().any(|x| x.contains("nw_dst=10.0.0.255")));
    }

    #[test]
    fn ipv6_only_entry_has_no_arp() {
        let l = lines(&["00:00:00:00:00:01 fd00::4"]);
        assert!(!l.iter().any(|x| x.starts_with("74,90,") && x.contains("arp")));
        // IPv4 to the port is denied, with no allow flows.
        assert!(
            l.iter().any(|x| x.starts_with("75,90,") && x.contains("ip,") && x.ends_with("deny"))
                || l.iter().any(|x| x.starts_with("75,90,") && x.contains("dl_type=0x0800") && x.ends_with("deny"))
        );
        assert!(!l.iter().any(|x| x.contains("nw_dst")));
    }

    #[test]
    fn two_entries_share_flows_once() {
        let one = lines(&["00:00:00:00:00:01"]);
        let two = lines(&["00:00:00:00:00:01", "00:00:00:00:00:01"]);
        assert_eq!(one, two);
        let l = lines(&["00:00:00:00:00:01", "00:00:00:00:00:02 10.0.0.2"]);
        assert!(l.iter().any(|x| x.contains("dl_src=00:00:00:00:00:02")));
    }
}
