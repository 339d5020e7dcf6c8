//! Messages of the flowctl <-> pinctrl channel. JSON in the same length-prefixed frames as
//! the supervisor channel ([`crate::frame`]), versioned by the hello.

use serde::{Deserialize, Serialize};

use super::state::{Record, RecordKey};

/// Bumped on any incompatible change below.
/// 2: DNS and RA-port records.
/// 3: IP_Multicast, IGMP_Group, announcement and Service_Monitor records; IGMP group,
///    controller event, virtual port and service monitor status intents.
/// 4: MAC_Binding records; the querier settings of IP_Multicast records.
pub const PROTOCOL_VERSION: u32 = 4;

/// An intent's identity: pinctrl's session (random per pinctrl start) and a sequence number
/// within it, so a replay after either side restarts is recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IntentId {
    pub session: u64,
    pub seq: u64,
}

/// A Southbound write pinctrl needs. Each is an idempotent upsert, so committing one twice
/// writes the row once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IntentKind {
    /// put_arp / put_nd: MAC_Binding(logical_port, ip) = mac.
    MacBinding { datapath_key: u32, logical_port: String, ip: String, mac: String },
    /// put_fdb: FDB(dp_key, mac) = port_key.
    Fdb { datapath_key: u32, port_key: u32, mac: String },
    /// IGMP/MLD snooping: this chassis's IGMP_Group(address, datapath) holds the ports with
    /// these tunnel keys (23.03's ip_mcast_sync); `None` deletes the row. `address` is the
    /// group as 23.03 writes it (IPv4 dotted, IPv6) or "mrouters".
    IgmpGroup { datapath_key: u32, address: String, ports: Option<Vec<u32>> },
    /// trigger_event: a Controller_Event row of this chassis, unless one with the same
    /// type and info exists (23.03's controller_event_run).
    ControllerEvent { event_type: String, info: std::collections::BTreeMap<String, String> },
    /// bind_vport: claim virtual port `vport_key` for this chassis with the port
    /// `parent_key` as its virtual_parent (23.03's run_put_vport_binding).
    BindVport { datapath_key: u32, vport_key: u32, parent_key: u32 },
    /// A health check's verdict: Service_Monitor row `uuid` gets `status` ("online" or
    /// "offline").
    ServiceMonitorStatus { uuid: String, status: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    pub id: IntentId,
    #[serde(flatten)]
    pub kind: IntentKind,
}

/// flowctl to pinctrl.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromFlowctl {
    Hello {
        version: u32,
    },
    /// Everything, replacing pinctrl's state; `seq` numbers the deltas that follow.
    Snapshot {
        seq: u64,
        records: Vec<Record>,
    },
    /// Changes since `seq - 1`, in order.
    Delta {
        seq: u64,
        upserts: Vec<Record>,
        removals: Vec<RecordKey>,
    },
    /// These intents are committed (or were already): pinctrl forgets them.
    Ack {
        ids: Vec<IntentId>,
    },
}

/// pinctrl to flowctl.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromPinctrl {
    Hello {
        version: u32,
    },
    Intents {
        intents: Vec<Intent>,
    },
    /// A delta did not follow the last sequence number: send a snapshot.
    Resync,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The protocol-3 intents and records survive the wire, and a replayed igmp/event/vport
    /// intent coalesces on its row like the others.
    /// Protocol 4: MAC bindings, and IP_Multicast with and without querier settings (an
    /// IP_Multicast record without them reads as `querier: None`).
    #[test]
    fn protocol_4_records_round_trip() {
        let q = super::super::state::McastQuerier {
            eth_src: "00:00:00:00:00:fe".into(),
            ip4_src: "10.0.0.254".into(),
            ip6_src: String::new(),
            query_interval: Some(1),
            query_max_resp: None,
        };
        let records = vec![
            Record::MacBinding {
                datapath_key: 2,
                logical_port: "lr0-sw1".into(),
                ip: "10.0.1.50".into(),
                mac: "00:00:00:00:00:50".into(),
            },
            Record::IpMulticast {
                datapath_key: 1,
                enabled: true,
                table_size: 0,
                idle_timeout: 300,
                seq_no: 5,
                querier: Some(q),
            },
        ];
        let msg = FromFlowctl::Snapshot { seq: 1, records };
        let json = serde_json::to_string(&msg).unwrap();
        assert_eq!(serde_json::from_str::<FromFlowctl>(&json).unwrap(), msg);
        let old =
            r#"{"record":"ip_multicast","datapath_key":1,"enabled":true,"table_size":0,"idle_timeout":300,"seq_no":5}"#;
        let r: Record = serde_json::from_str(old).unwrap();
        assert!(matches!(r, Record::IpMulticast { querier: None, .. }));
    }

    #[test]
    fn protocol_3_kinds_round_trip() {
        let kinds = vec![
            IntentKind::IgmpGroup { datapath_key: 1, address: "239.1.1.1".into(), ports: Some(vec![2, 3]) },
            IntentKind::IgmpGroup { datapath_key: 1, address: "mrouters".into(), ports: None },
            IntentKind::ControllerEvent {
                event_type: "empty_lb_backends".into(),
                info: [("vip".to_string(), "10.0.0.1:80".to_string())].into_iter().collect(),
            },
            IntentKind::BindVport { datapath_key: 1, vport_key: 4, parent_key: 2 },
        ];
        let intents: Vec<Intent> = kinds
            .into_iter()
            .enumerate()
            .map(|(i, kind)| Intent { id: IntentId { session: 9, seq: i as u64 + 1 }, kind })
            .collect();
        let msg = FromPinctrl::Intents { intents };
        let json = serde_json::to_string(&msg).unwrap();
        assert_eq!(serde_json::from_str::<FromPinctrl>(&json).unwrap(), msg);
        let records = vec![
            Record::IpMulticast {
                datapath_key: 1,
                enabled: true,
                table_size: 0,
                idle_timeout: 300,
                seq_no: 5,
                querier: None,
            },
            Record::IgmpGroup { datapath_key: 1, address: "ff0e::1".into(), ports: vec![2] },
            Record::Announce {
                name: "lp1".into(),
                datapath_key: 1,
                port_key: 2,
                mac: "50:54:00:00:00:01".into(),
                ipv4: Some("10.0.0.5".into()),
            },
        ];
        let msg = FromFlowctl::Snapshot { seq: 3, records };
        let json = serde_json::to_string(&msg).unwrap();
        assert_eq!(serde_json::from_str::<FromFlowctl>(&json).unwrap(), msg);
        let mut q = super::super::IntentQueue::new(1);
        let ev = IntentKind::BindVport { datapath_key: 1, vport_key: 4, parent_key: 2 };
        assert!(q.push(ev.clone()).is_some());
        assert!(q.push(ev).is_none());
        assert!(q.push(IntentKind::BindVport { datapath_key: 1, vport_key: 4, parent_key: 3 }).is_some());
        assert_eq!(q.len(), 1);
    }
}
