//! The state flowctl shares with pinctrl: typed records by key, a snapshot, and the deltas
//! that turn one state into another.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One fact pinctrl's handlers use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    /// This chassis and the integration bridge pinctrl connects to.
    Chassis { name: String, bridge: String },
    /// A local datapath.
    Datapath { key: u32, uuid: String, name: String },
    /// A port of a local datapath.
    Port { name: String, datapath_key: u32, key: u32, kind: String, macs: Vec<String>, local: bool },
    /// Southbound options pinctrl needs (svc_monitor_mac, mac_binding_age_threshold, ...).
    SbOption { key: String, value: String },
    /// A Southbound DNS row (`external_ids:dns_id`) serving local datapaths: `dns_lookup`
    /// answers from `records` (lowercase name -> space-separated addresses, or a PTR
    /// target) for packets of the datapaths with these tunnel keys.
    Dns { id: String, datapaths: Vec<u32>, records: BTreeMap<String, String> },
    /// A local port that sends periodic router advertisements (Port_Binding
    /// `options:ipv6_ra_send_periodic=true`): its `ipv6_ra_*` options, and the datapath and
    /// key of the port of its peer switch the advertisements go out on.
    RaPort { name: String, datapath_key: u32, port_key: u32, options: BTreeMap<String, String> },
    /// The IP_Multicast row of a local datapath (23.03's ip_mcast_snoop_cfg_load): snooping
    /// on/off, the group table's size, the groups' idle timeout in seconds, the sequence
    /// number whose change flushes learnt groups, and the querier's settings when its
    /// `querier` column is true.
    IpMulticast {
        datapath_key: u32,
        enabled: bool,
        table_size: u32,
        idle_timeout: u32,
        seq_no: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        querier: Option<McastQuerier>,
    },
    /// A MAC_Binding row of a local datapath: `ip` (as the row spells it) behind the
    /// logical port `logical_port` has `mac`.
    MacBinding { datapath_key: u32, logical_port: String, ip: String, mac: String },
    /// An IGMP_Group row this chassis owns on a local datapath, with the tunnel keys of its
    /// ports: pinctrl writes what differs from its snooping state and deletes the rows it
    /// no longer has (after a restart, an expiry, snooping turned off).
    IgmpGroup { datapath_key: u32, address: String, ports: Vec<u32> },
    /// A gratuitous ARP (or, without an IPv4 address, a RARP) this chassis announces
    /// (23.03's send_garp_rarp_data entry, by the same name: a VIF on a switch with a
    /// localnet port, or "<port>-<ip>" / "<port>-noip" for the NAT addresses of a gateway
    /// port): injected into the ingress pipeline of `datapath_key` as if from `port_key`.
    Announce { name: String, datapath_key: u32, port_key: u32, mac: String, ipv4: Option<String> },
    /// A Service_Monitor row whose logical port is bound here (23.03's sync_svc_monitors):
    /// the backend `ip`:`port` over `protocol` ("tcp"/"udp") behind port `port_key` of
    /// datapath `datapath_key`, reached at `mac`; probes come from `src_mac`/`src_ip`.
    ServiceMonitor {
        uuid: String,
        ip: String,
        port: u16,
        protocol: String,
        datapath_key: u32,
        port_key: u32,
        mac: String,
        src_mac: String,
        src_ip: String,
        options: BTreeMap<String, String>,
        status: String,
    },
}

/// The querier columns of an IP_Multicast row, as the row has them (empty strings and
/// `None` for unset columns); pinctrl validates them as 23.03 does.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct McastQuerier {
    pub eth_src: String,
    pub ip4_src: String,
    pub ip6_src: String,
    /// Seconds between general queries.
    pub query_interval: Option<u32>,
    /// The queries' maximum response time, seconds.
    pub query_max_resp: Option<u32>,
}

/// What identifies a record: a newer record with the same key replaces it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum RecordKey {
    Chassis,
    Datapath { key: u32 },
    Port { name: String },
    SbOption { key: String },
    Dns { id: String },
    RaPort { name: String },
    IpMulticast { datapath_key: u32 },
    IgmpGroup { datapath_key: u32, address: String },
    Announce { name: String },
    ServiceMonitor { uuid: String },
    MacBinding { logical_port: String, ip: String },
}

impl Record {
    pub fn key(&self) -> RecordKey {
        match self {
            Record::Chassis { .. } => RecordKey::Chassis,
            Record::Datapath { key, .. } => RecordKey::Datapath { key: *key },
            Record::Port { name, .. } => RecordKey::Port { name: name.clone() },
            Record::SbOption { key, .. } => RecordKey::SbOption { key: key.clone() },
            Record::Dns { id, .. } => RecordKey::Dns { id: id.clone() },
            Record::RaPort { name, .. } => RecordKey::RaPort { name: name.clone() },
            Record::IpMulticast { datapath_key, .. } => RecordKey::IpMulticast { datapath_key: *datapath_key },
            Record::IgmpGroup { datapath_key, address, .. } => {
                RecordKey::IgmpGroup { datapath_key: *datapath_key, address: address.clone() }
            }
            Record::Announce { name, .. } => RecordKey::Announce { name: name.clone() },
            Record::ServiceMonitor { uuid, .. } => RecordKey::ServiceMonitor { uuid: uuid.clone() },
            Record::MacBinding { logical_port, ip, .. } => {
                RecordKey::MacBinding { logical_port: logical_port.clone(), ip: ip.clone() }
            }
        }
    }
}

/// A set of records, one per key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct State {
    records: BTreeMap<RecordKey, Record>,
}

impl State {
    pub fn from_records(records: impl IntoIterator<Item = Record>) -> State {
        State { records: records.into_iter().map(|r| (r.key(), r)).collect() }
    }

    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.records.values()
    }

    pub fn get(&self, key: &RecordKey) -> Option<&Record> {
        self.records.get(key)
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// What turns `self` into `next`: records to upsert and keys to remove.
    pub fn diff(&self, next: &State) -> (Vec<Record>, Vec<RecordKey>) {
        let upserts =
            next.records.iter().filter(|(k, r)| self.records.get(k) != Some(r)).map(|(_, r)| r.clone()).collect();
        let removals = self.records.keys().filter(|k| !next.records.contains_key(k)).cloned().collect();
        (upserts, removals)
    }

    pub fn apply(&mut self, upserts: Vec<Record>, removals: Vec<RecordKey>) {
        for key in removals {
            self.records.remove(&key);
        }
        for r in upserts {
            self.records.insert(r.key(), r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record() -> impl Strategy<Value = Record> {
        prop_oneof![
            ("[a-c]", 0u32..4).prop_map(|(name, k)| Record::Port {
                name,
                datapath_key: k,
                key: k + 1,
                kind: String::new(),
                macs: vec![],
                local: k % 2 == 0
            }),
            (0u32..4, "[x-z]").prop_map(|(key, name)| Record::Datapath { key, uuid: String::new(), name }),
            ("[k-m]", "[0-9]").prop_map(|(key, value)| Record::SbOption { key, value }),
            ("[d-f]", 0u32..4, "[a-c]").prop_map(|(id, k, name)| Record::Dns {
                id,
                datapaths: vec![k],
                records: BTreeMap::from([(name, "10.0.0.1".to_string())]),
            }),
        ]
    }

    proptest! {
        #[test]
        fn a_diff_applied_gives_the_target(a in proptest::collection::vec(record(), 0..12), b in proptest::collection::vec(record(), 0..12)) {
            let (from, to) = (State::from_records(a), State::from_records(b));
            let (up, rm) = from.diff(&to);
            let mut s = from.clone();
            s.apply(up, rm);
            prop_assert_eq!(s, to);
        }
    }
}
