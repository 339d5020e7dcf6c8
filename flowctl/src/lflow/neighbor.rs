//! MAC_Binding and Static_MAC_Binding rows of local datapaths, tables 66 (MAC_BINDING: IP to
//! MAC for `get_arp`/`get_nd`) and 67 (MAC_LOOKUP: `lookup_arp`/`lookup_nd`), as 23.03's
//! `add_neighbor_flows()` / `consider_neighbor_flow()`. Learnt bindings get priority 100,
//! static ones 150 when `override_dynamic_mac` is set, else 50 (below learnt ones).

use std::collections::HashMap;

use shared::openflow::{Field, Match};
use shared::ovn::logical_fields::flags;
use shared::ovn::tables::{MAC_BINDING, MAC_LOOKUP};
use shared::ovsdb::Uuid;

use super::port_sec::addrs::{eth_addr_from_string, ipv4_from_string, ipv6_from_string};
use super::port_sec::ofp::{cookie, load_flag, load_whole, mac_u128, set, FlowSet};
use super::LflowInput;
use crate::flows::DesiredFlow;

pub const PRIORITY_DYNAMIC: u16 = 100;
pub const PRIORITY_STATIC: u16 = 50;
pub const PRIORITY_STATIC_OVERRIDE: u16 = 150;

pub fn flows(input: &LflowInput<'_>, out: &mut Vec<DesiredFlow>) {
    // lport_lookup_by_name(): the logical port's datapath key (if local) and its own key.
    let mut ports: HashMap<&str, Option<(u32, u32)>> = HashMap::new();
    for (_, pb) in input.sb.rows("Port_Binding") {
        let Some(name) = pb.get_str("logical_port") else { continue };
        let keys = pb
            .get_uuid("datapath")
            .and_then(|dp| input.ctx.datapaths.get(&dp))
            .zip(crate::db::tunnel_key(pb))
            .map(|(dp, key)| (dp.key, key));
        ports.entry(name).or_insert(keys);
    }
    let mut seen = FlowSet::default();
    let mut consider = |table: &str, priority: &dyn Fn(&shared::ovsdb::Row) -> u16| {
        for (uuid, row) in input.sb.rows(table) {
            let (Some(port), Some(ip), Some(mac)) =
                (row.get_str("logical_port"), row.get_str("ip"), row.get_str("mac"))
            else {
                continue;
            };
            let Some(Some((dp_key, port_key))) = ports.get(port).copied() else { continue };
            let b = Binding { dp_key, port_key, ip, mac, uuid };
            neighbor_flows(&b, priority(row), &mut seen, out);
        }
    };
    consider("MAC_Binding", &|_| PRIORITY_DYNAMIC);
    consider("Static_MAC_Binding", &|row| {
        if row.get_bool("override_dynamic_mac").unwrap_or(false) {
            PRIORITY_STATIC_OVERRIDE
        } else {
            PRIORITY_STATIC
        }
    });
}

/// One (Static_)MAC_Binding row with its port resolved.
pub struct Binding<'a> {
    pub dp_key: u32,
    pub port_key: u32,
    pub ip: &'a str,
    pub mac: &'a str,
    pub uuid: &'a Uuid,
}

/// `consider_neighbor_flow()`.
pub fn neighbor_flows(b: &Binding<'_>, priority: u16, seen: &mut FlowSet, out: &mut Vec<DesiredFlow>) {
    let Some(mac) = eth_addr_from_string(b.mac) else {
        tracing::debug!("bad 'mac' {}", b.mac);
        return;
    };
    let mut get = Match::new();
    let mut lookup = Match::new();
    // 23.03 decides the family by a dot in the (C) string.
    if b.ip.split('\0').next().is_some_and(|ip| ip.contains('.')) {
        let Some(ip) = ipv4_from_string(b.ip) else {
            tracing::debug!("bad 'ip' {}", b.ip);
            return;
        };
        set(&mut get, Field::REG0, ip.into());
        set(&mut lookup, Field::REG0, ip.into());
        set(&mut lookup, Field::ETH_TYPE, 0x0806);
    } else {
        let Some(ip) = ipv6_from_string(b.ip) else {
            tracing::debug!("bad 'ip' {}", b.ip);
            return;
        };
        set(&mut get, Field::XXREG0, ip);
        set(&mut lookup, Field::XXREG0, ip);
        set(&mut lookup, Field::ETH_TYPE, 0x86dd);
        set(&mut lookup, Field::IP_PROTO, 58);
        set(&mut lookup, Field::ICMPV6_CODE, 0);
    }
    set(&mut get, Field::METADATA, b.dp_key.into());
    set(&mut get, Field::REG15, b.port_key.into());
    set(&mut lookup, Field::METADATA, b.dp_key.into());
    set(&mut lookup, Field::REG14, b.port_key.into());
    set(&mut lookup, Field::ETH_SRC, mac_u128(mac));

    let cookie = cookie(b.uuid);
    let flag = load_flag(flags::LOOKUP_MAC, true);
    seen.add(out, MAC_BINDING, priority, cookie, &get, vec![load_whole(Field::ETH_DST, &mac), flag.clone()]);
    seen.add(out, MAC_LOOKUP, priority, cookie, &lookup, vec![flag]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::openflow::text::format_match;
    use shared::openflow::Action;

    fn uuid() -> Uuid {
        Uuid::parse_str("12345678-9abc-4def-8000-000000000001").unwrap()
    }

    fn build(ip: &str, mac: &str, priority: u16) -> Vec<DesiredFlow> {
        let u = uuid();
        let b = Binding { dp_key: 3, port_key: 4, ip, mac, uuid: &u };
        let mut out = Vec::new();
        neighbor_flows(&b, priority, &mut FlowSet::default(), &mut out);
        out
    }

    #[test]
    fn ipv4_binding() {
        let f = build("10.0.0.9", "00:00:00:00:00:09", PRIORITY_DYNAMIC);
        assert_eq!(f.len(), 2);
        let (get, lookup) = (&f[0], &f[1]);
        assert_eq!((get.table(), get.priority(), get.cookie()), (66, 100, 0x1234_5678));
        assert_eq!(format_match(get.m(), None), "reg0=0xa000009,reg15=0x4,metadata=0x3");
        assert_eq!(
            get.actions(),
            vec![
                Action::SetField { field: Field::ETH_DST, value: vec![0, 0, 0, 0, 0, 9], mask: None },
                Action::SetField { field: Field::REG10, value: vec![0, 0, 0, 0x40], mask: Some(vec![0, 0, 0, 0x40]) },
            ]
        );
        assert_eq!((lookup.table(), lookup.priority()), (67, 100));
        assert_eq!(
            format_match(lookup.m(), None),
            "arp,reg0=0xa000009,reg14=0x4,metadata=0x3,dl_src=00:00:00:00:00:09"
        );
        assert_eq!(lookup.actions().len(), 1);
    }

    #[test]
    fn ipv6_binding() {
        let f = build("fd00::9", "00:00:00:00:00:09", PRIORITY_STATIC_OVERRIDE);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].priority(), 150);
        let (v, m) = f[0].m().get(Field::XXREG0).unwrap();
        assert_eq!(v, 0xfd00_0000_0000_0000_0000_0000_0000_0009u128.to_be_bytes().to_vec());
        assert!(m.iter().all(|&b| b == 0xff));
        assert_eq!(f[1].m().nw_proto(), Some(58));
        assert_eq!(f[1].m().eth_type(), Some(0x86dd));
        assert!(f[1].m().get(Field::ICMPV6_CODE).is_some());
        assert!(f[1].m().get(Field::ICMPV6_TYPE).is_none());
    }

    #[test]
    fn bad_rows_give_nothing() {
        assert!(build("10.0.0.300", "00:00:00:00:00:09", 100).is_empty());
        assert!(build("10.0.0.9", "00:00:00:00:00", 100).is_empty());
        assert!(build("not-an-ip", "00:00:00:00:00:09", 100).is_empty());
        assert!(build("", "", 100).is_empty());
    }
}
