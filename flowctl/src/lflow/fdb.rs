//! FDB rows of local datapaths, tables 71 (GET_FDB: eth.dst to outport) and 72 (LOOKUP_FDB:
//! is this (inport, eth.src) already learnt), as 23.03's `add_fdb_flows()` /
//! `consider_fdb_flows()`.

use std::collections::HashSet;

use shared::openflow::{Field, Match};
use shared::ovn::logical_fields::flags;
use shared::ovn::tables::{GET_FDB, LOOKUP_FDB};
use shared::ovsdb::Uuid;

use super::port_sec::addrs::eth_addr_from_string;
use super::port_sec::ofp::{cookie, load_flag, load_whole, mac_u128, set, FlowSet};
use super::LflowInput;
use crate::flows::DesiredFlow;

pub fn flows(input: &LflowInput<'_>, out: &mut Vec<DesiredFlow>) {
    // get_local_datapath() by tunnel key.
    let local: HashSet<u32> = input.ctx.datapaths.values().map(|dp| dp.key).collect();
    let mut seen = FlowSet::default();
    for (uuid, row) in input.sb.rows("FDB") {
        let (Some(mac), Some(dp_key), Some(port_key)) =
            (row.get_str("mac"), row.get_i64("dp_key"), row.get_i64("port_key"))
        else {
            continue;
        };
        // The schema keeps dp_key within 24 bits; anything else is no local datapath.
        let Some(dp_key) = u32::try_from(dp_key).ok().filter(|k| local.contains(k)) else { continue };
        // put_load64() of 32 bits keeps the low 32 bits.
        fdb_flows(&Fdb { dp_key, port_key: port_key as u32, mac, uuid }, &mut seen, out);
    }
}

/// One FDB row.
pub struct Fdb<'a> {
    pub dp_key: u32,
    pub port_key: u32,
    pub mac: &'a str,
    pub uuid: &'a Uuid,
}

/// `consider_fdb_flows()`.
pub fn fdb_flows(f: &Fdb<'_>, seen: &mut FlowSet, out: &mut Vec<DesiredFlow>) {
    let Some(mac) = eth_addr_from_string(f.mac) else {
        tracing::debug!("bad 'mac' {}", f.mac);
        return;
    };
    let cookie = cookie(f.uuid);
    let mut get = Match::new();
    set(&mut get, Field::METADATA, f.dp_key.into());
    set(&mut get, Field::ETH_DST, mac_u128(mac));
    seen.add(out, GET_FDB, 100, cookie, &get, vec![load_whole(Field::REG15, &f.port_key.to_be_bytes())]);

    let mut lookup = Match::new();
    set(&mut lookup, Field::METADATA, f.dp_key.into());
    set(&mut lookup, Field::ETH_SRC, mac_u128(mac));
    set(&mut lookup, Field::REG14, f.port_key.into());
    seen.add(out, LOOKUP_FDB, 100, cookie, &lookup, vec![load_flag(flags::LOOKUP_FDB, true)]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::openflow::text::format_match;
    use shared::openflow::Action;

    #[test]
    fn fdb_row_gives_two_flows() {
        let u = Uuid::parse_str("0badcafe-0000-4000-8000-000000000001").unwrap();
        let mut out = Vec::new();
        fdb_flows(
            &Fdb { dp_key: 1, port_key: 3, mac: "50:54:00:00:00:03", uuid: &u },
            &mut FlowSet::default(),
            &mut out,
        );
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].table(), out[0].priority(), out[0].cookie()), (71, 100, 0x0bad_cafe));
        assert_eq!(format_match(out[0].m(), None), "metadata=0x1,dl_dst=50:54:00:00:00:03");
        assert_eq!(
            out[0].actions(),
            vec![Action::SetField { field: Field::REG15, value: vec![0, 0, 0, 3], mask: None }]
        );
        assert_eq!((out[1].table(), out[1].priority()), (72, 100));
        assert_eq!(format_match(out[1].m(), None), "reg14=0x3,metadata=0x1,dl_src=50:54:00:00:00:03");
        assert_eq!(
            out[1].actions(),
            vec![Action::SetField { field: Field::REG10, value: vec![0, 0, 1, 0], mask: Some(vec![0, 0, 1, 0]) }]
        );
    }

    #[test]
    fn bad_mac_is_skipped() {
        let u = Uuid::nil();
        let mut out = Vec::new();
        fdb_flows(&Fdb { dp_key: 1, port_key: 3, mac: "50:54:00:00:00", uuid: &u }, &mut FlowSet::default(), &mut out);
        assert!(out.is_empty());
    }
}
