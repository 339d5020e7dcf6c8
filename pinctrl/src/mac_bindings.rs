//! `debug/dump-mac-bindings`: the MAC bindings pinctrl knows, one per line, sorted by
//! datapath, logical port and IP: the MAC_Binding records flowctl shared (`southbound`) and
//! what pinctrl learnt that flowctl has not yet committed (`learnt, pending`; it wins over
//! the record of the same port and IP). 23.03 has no such command; later ovn-controllers
//! print theirs in a similar form.

use std::collections::BTreeMap;
use std::net::IpAddr;

use shared::pinctrl_link::{Intent, IntentKind, Record, RecordKey, State};

/// (datapath, logical port, IP parsed for a numeric order, IP as written).
type Key = (u32, String, Option<IpAddr>, String);

/// The lines of `debug/dump-mac-bindings`.
pub fn dump(state: &State, pending: &[Intent]) -> String {
    let mut all: BTreeMap<Key, (String, &'static str)> = BTreeMap::new();
    let key = |dp: u32, port: &str, ip: &str| (dp, port.to_string(), ip.parse::<IpAddr>().ok(), ip.to_string());
    for r in state.records() {
        if let Record::MacBinding { datapath_key, logical_port, ip, mac } = r {
            all.insert(key(*datapath_key, logical_port, ip), (mac.clone(), "southbound"));
        }
    }
    for i in pending {
        if let IntentKind::MacBinding { datapath_key, logical_port, ip, mac } = &i.kind {
            let k = key(*datapath_key, logical_port, ip);
            if all.get(&k).is_none_or(|(m, _)| m != mac) {
                all.insert(k, (mac.clone(), "learnt, pending"));
            }
        }
    }
    let mut out = String::new();
    for ((dp, port, _, ip), (mac, source)) in all {
        let port_key = match state.get(&RecordKey::Port { name: port.clone() }) {
            Some(Record::Port { key, .. }) => key.to_string(),
            _ => "?".to_string(),
        };
        out.push_str(&format!(
            "datapath-key: {dp}, port-key: {port_key}, logical-port: {port}, ip: {ip}, mac: {mac}, source: {source}\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::pinctrl_link::IntentId;

    fn mb(ip: &str, mac: &str) -> Record {
        Record::MacBinding { datapath_key: 3, logical_port: "lr0-sw1".into(), ip: ip.into(), mac: mac.into() }
    }

    #[test]
    fn sorted_southbound_and_pending() {
        let st = State::from_records([
            mb("10.0.1.100", "00:00:00:00:01:00"),
            mb("10.0.1.60", "00:00:00:00:00:60"),
            mb("10.0.1.50", "00:00:00:00:00:50"),
            Record::Port {
                name: "lr0-sw1".into(),
                datapath_key: 3,
                key: 2,
                kind: "patch".into(),
                macs: vec![],
                local: false,
            },
        ]);
        let intent = |ip: &str, mac: &str| Intent {
            id: IntentId { session: 1, seq: 1 },
            kind: IntentKind::MacBinding {
                datapath_key: 3,
                logical_port: "lr0-sw1".into(),
                ip: ip.into(),
                mac: mac.into(),
            },
        };
        let pending = [intent("10.0.1.50", "00:00:00:00:00:50"), intent("10.0.1.60", "00:00:00:00:00:61")];
        let d = dump(&st, &pending);
        let lines: Vec<&str> = d.lines().collect();
        assert_eq!(
            lines,
            [
                "datapath-key: 3, port-key: 2, logical-port: lr0-sw1, ip: 10.0.1.50, mac: 00:00:00:00:00:50, source: southbound",
                "datapath-key: 3, port-key: 2, logical-port: lr0-sw1, ip: 10.0.1.60, mac: 00:00:00:00:00:61, source: learnt, pending",
                "datapath-key: 3, port-key: 2, logical-port: lr0-sw1, ip: 10.0.1.100, mac: 00:00:00:00:01:00, source: southbound",
            ]
        );
        assert_eq!(dump(&State::default(), &[]), "");
    }
}
