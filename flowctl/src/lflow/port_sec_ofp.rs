//! OpenFlow building blocks shared by the neighbor, FDB and port-security builders: what
//! 23.03's `put_load()`, `match_set_*()` and `ofctrl_add_flow()` do for them.

use std::collections::HashSet;

use shared::openflow::{Action, Field, Match};
use shared::ovsdb::Uuid;

use crate::flows::DesiredFlow;
pub use crate::flows::{set, set_masked};

/// `uuid.parts[0]`: the cookie 23.03 gives flows derived from a Southbound row.
pub fn cookie(uuid: &Uuid) -> u64 {
    u64::from(uuid.as_fields().0)
}

pub fn mac_u128(ea: [u8; 6]) -> u128 {
    ea.iter().fold(0u128, |a, &b| (a << 8) | u128::from(b))
}

/// `put_load()` of one MLF_* bit of the logical flags register (a masked set_field).
pub fn load_flag(flag: u32, on: bool) -> Action {
    Action::SetField {
        field: Field::REG10,
        value: if on { flag } else { 0 }.to_be_bytes().to_vec(),
        mask: Some(flag.to_be_bytes().to_vec()),
    }
}

/// `put_load()` of a whole field (a set_field without mask).
pub fn load_whole(field: Field, value: &[u8]) -> Action {
    Action::SetField { field, value: value.to_vec(), mask: None }
}

/// Flows keyed as 23.03's desired flow table keys them, (table, priority, match): a second
/// flow with the same key is dropped, as `ofctrl_add_flow()` drops it.
#[derive(Default)]
pub struct FlowSet {
    seen: HashSet<(u8, u16, Match)>,
}

impl FlowSet {
    pub fn add(
        &mut self,
        out: &mut Vec<DesiredFlow>,
        table: u8,
        priority: u16,
        cookie: u64,
        m: &Match,
        actions: Vec<Action>,
    ) {
        if self.seen.insert((table, priority, m.clone())) {
            out.push(DesiredFlow::new(table, priority, m.clone(), cookie, actions));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_is_the_first_32_bits() {
        let u = Uuid::parse_str("8a1b2c3d-0000-4000-8000-000000000001").unwrap();
        assert_eq!(cookie(&u), 0x8a1b_2c3d);
    }

    #[test]
    fn duplicates_keep_the_first() {
        let mut set = FlowSet::default();
        let mut out = Vec::new();
        let m = Match::new();
        set.add(&mut out, 66, 100, 1, &m, vec![load_flag(1 << 6, true)]);
        set.add(&mut out, 66, 100, 2, &m, vec![]);
        set.add(&mut out, 66, 50, 3, &m, vec![]);
        assert_eq!(out.iter().map(|f| f.cookie()).collect::<Vec<_>>(), vec![1, 3]);
    }
}
