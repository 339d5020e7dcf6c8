//! Statistics and async-config messages against ovs-ofctl: the requests ovs-ofctl sends
//! decode to our typed requests and our encoding of those is byte-identical; our typed
//! replies, sent back to ovs-ofctl, print exactly as expected (golden text).

mod openflow_oracle;

use openflow_oracle::{capture_with, have_ovs_ofctl, ofp_print};
use shared::openflow::messages::*;
use shared::openflow::stats::*;
use shared::openflow::wire::to_hex;

fn reply_for(req: &OfMessage) -> Option<MultipartReplyBody> {
    let Message::MultipartRequest(r) = &req.body else { return None };
    Some(match &r.body {
        MultipartRequestBody::Aggregate(_) => MultipartReplyBody::Aggregate(AggregateStats {
            flow_count: Some(10_001),
            packet_count: Some(7),
            byte_count: Some(420),
        }),
        MultipartRequestBody::GroupStats(_) => MultipartReplyBody::GroupStats(vec![GroupStats {
            group_id: 5,
            ref_count: 2,
            packet_count: 10,
            byte_count: 600,
            duration_sec: 3,
            duration_nsec: 500_000_000,
            buckets: vec![
                BucketCounter { packet_count: 6, byte_count: 360 },
                BucketCounter { packet_count: 4, byte_count: 240 },
            ],
        }]),
        MultipartRequestBody::GroupDesc(_) => MultipartReplyBody::GroupDesc(vec![GroupDesc {
            group_type: group_type::SELECT,
            group_id: 5,
            buckets: vec![
                Bucket {
                    bucket_id: 0,
                    actions: shared::openflow::text::parse_actions("output:1").unwrap(),
                    weight: Some(100),
                    watch_port: None,
                    watch_group: None,
                },
                Bucket {
                    bucket_id: 1,
                    actions: shared::openflow::text::parse_actions("resubmit(,8)").unwrap(),
                    weight: Some(50),
                    watch_port: None,
                    watch_group: None,
                },
            ],
            properties: Vec::new(),
        }]),
        MultipartRequestBody::MeterStats(_) => MultipartReplyBody::MeterStats(vec![MeterStats {
            meter_id: 3,
            flow_count: 2,
            packet_in_count: 30,
            byte_in_count: 1800,
            duration_sec: 12,
            duration_nsec: 0,
            bands: vec![MeterBandStats { packet_count: 5, byte_count: 300 }],
        }]),
        MultipartRequestBody::MeterConfig(_) => MultipartReplyBody::MeterConfig(vec![MeterConfig {
            flags: meter::PKTPS | meter::BURST | meter::STATS,
            meter_id: 3,
            bands: vec![MeterBand { band_type: 1, rate: 100, burst_size: 20, prec_level: 0 }],
        }]),
        MultipartRequestBody::PortStats(_) => MultipartReplyBody::PortStats(vec![PortStats {
            port_no: 1,
            duration_sec: 4,
            duration_nsec: 0,
            rx_packets: 11,
            tx_packets: 12,
            rx_bytes: 1300,
            tx_bytes: 1400,
            rx_dropped: 1,
            tx_dropped: 2,
            rx_errors: 3,
            tx_errors: 4,
            ethernet: Some(PortStatsEthernet { rx_frame_err: 5, rx_over_err: 6, rx_crc_err: 7, collisions: 8 }),
            other_properties: Vec::new(),
        }]),
        _ => return None,
    })
}

/// Run an ovs-ofctl stats command against the fake switch: returns the typed request it
/// sent (checked to re-encode to its bytes) and what ovs-ofctl printed of our reply.
fn run(args: &[&str]) -> (MultipartRequestBody, String) {
    let mut full = vec!["-O", "OpenFlow15", "--no-names"];
    full.extend_from_slice(args);
    let (msgs, out) = capture_with(&full, &|raw| {
        let req = OfMessage::decode(raw).ok()?;
        let body = reply_for(&req)?;
        Some(
            OfMessage {
                version: req.version,
                xid: req.xid,
                body: Message::MultipartReply(MultipartReply { flags: 0, body }),
            }
            .encode(),
        )
    });
    let raw = msgs.iter().find(|m| m.get(1) == Some(&18)).unwrap_or_else(|| panic!("{args:?}: no request; {out}"));
    let req = OfMessage::decode(raw).unwrap();
    assert_eq!(&req.encode(), raw, "{args:?}: re-encode of {}", to_hex(raw));
    let Message::MultipartRequest(r) = req.body else { panic!("{args:?}: {req:?}") };
    (r.body, out.trim_end().to_string())
}

#[test]
fn stats_requests_and_replies_match_ovs_ofctl() {
    if !have_ovs_ofctl("stats_requests_and_replies_match_ovs_ofctl") {
        return;
    }
    let cases: Vec<(Vec<&str>, MultipartRequestBody, &str)> = vec![
        (
            vec!["dump-group-stats", "SW"],
            MultipartRequestBody::GroupStats(OFPG_ALL),
            "OFPST_GROUP reply (OF1.5) (xid=0x2):\n group_id=5,duration=3.500s,ref_count=2,packet_count=10,byte_count=600,bucket0:packet_count=6,byte_count=360,bucket1:packet_count=4,byte_count=240",
        ),
        (
            vec!["dump-group-stats", "SW", "group_id=5"],
            MultipartRequestBody::GroupStats(5),
            "OFPST_GROUP reply (OF1.5) (xid=0x2):\n group_id=5,duration=3.500s,ref_count=2,packet_count=10,byte_count=600,bucket0:packet_count=6,byte_count=360,bucket1:packet_count=4,byte_count=240",
        ),
        (
            vec!["dump-groups", "SW"],
            MultipartRequestBody::GroupDesc(OFPG_ALL),
            "OFPST_GROUP_DESC reply (OF1.5) (xid=0x2):\n group_id=5,type=select,bucket=bucket_id:0,weight:100,actions=output:1,bucket=bucket_id:1,weight:50,actions=resubmit(,8)",
        ),
        (
            vec!["meter-stats", "SW"],
            MultipartRequestBody::MeterStats(meter::ALL),
            "OFPST_METER reply (OF1.5) (xid=0x2):\nmeter:3 flow_count:2 packet_in_count:30 byte_in_count:1800 duration:12s bands:\n0: packet_count:5 byte_count:300",
        ),
        (
            vec!["meter-stats", "SW", "meter=3"],
            MultipartRequestBody::MeterStats(3),
            "OFPST_METER reply (OF1.5) (xid=0x2):\nmeter:3 flow_count:2 packet_in_count:30 byte_in_count:1800 duration:12s bands:\n0: packet_count:5 byte_count:300",
        ),
        (
            vec!["dump-meters", "SW"],
            MultipartRequestBody::MeterConfig(meter::ALL),
            "OFPST_METER_CONFIG reply (OF1.5) (xid=0x2):\nmeter=3 pktps burst stats bands=\ntype=drop rate=100 burst_size=20",
        ),
        (
            vec!["dump-ports", "SW"],
            MultipartRequestBody::PortStats(OFPP_ANY),
            "OFPST_PORT reply (OF1.5) (xid=0x2): 1 ports\n  port  1: rx pkts=11, bytes=1300, drop=1, errs=3, frame=5, over=6, crc=7\n           tx pkts=12, bytes=1400, drop=2, errs=4, coll=8\n           duration=4s",
        ),
        (
            vec!["dump-ports", "SW", "1"],
            MultipartRequestBody::PortStats(1),
            "OFPST_PORT reply (OF1.5) (xid=0x2): 1 ports\n  port  1: rx pkts=11, bytes=1300, drop=1, errs=3, frame=5, over=6, crc=7\n           tx pkts=12, bytes=1400, drop=2, errs=4, coll=8\n           duration=4s",
        ),
        (
            vec!["dump-aggregate", "SW"],
            MultipartRequestBody::Aggregate(FlowStatsRequest {
                table_id: OFPTT_ALL,
                out_port: OFPP_ANY,
                out_group: OFPG_ANY,
                cookie: 0,
                cookie_mask: 0,
                matches: shared::openflow::Match::new(),
            }),
            "OFPST_AGGREGATE reply (OF1.5) (xid=0x2): packet_count=7 byte_count=420 flow_count=10001",
        ),
    ];
    let mut failures = Vec::new();
    for (args, want_req, want_text) in &cases {
        let (req, text) = run(args);
        if &req != want_req {
            failures.push(format!("{args:?}: request {req:?}, expected {want_req:?}"));
        }
        if std::env::var_os("OF_GOLDEN_PRINT").is_some() {
            eprintln!("{args:?}:\n{text}\n");
        }
        if text != *want_text {
            failures.push(format!("{args:?}:\n  ovs-ofctl printed: {text:?}\n  expected:          {want_text:?}"));
        }
    }
    assert!(failures.is_empty(), "{} of {}:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn port_desc_request_is_typed() {
    if !have_ovs_ofctl("port_desc_request_is_typed") {
        return;
    }
    let (msgs, _) = capture_with(&["-O", "OpenFlow15", "dump-ports-desc", "SW"], &|_| None);
    let raw = msgs.iter().find(|m| m.get(1) == Some(&18)).expect("port desc request");
    let m = OfMessage::decode(raw).unwrap();
    assert_eq!(&m.encode(), raw);
    assert_eq!(
        m.body,
        Message::MultipartRequest(MultipartRequest { flags: 0, body: MultipartRequestBody::PortDesc(OFPP_ANY) })
    );
    assert_eq!(MultipartRequest::simple(mp::PORT_DESC).body, MultipartRequestBody::PortDesc(OFPP_ANY));
}

fn async_config(pairs: &[(u16, u32)]) -> AsyncConfig {
    AsyncConfig { props: pairs.iter().map(|&(prop_type, mask)| AsyncProp::Reasons { prop_type, mask }).collect() }
}

const OFF: &str = "       PACKET_IN: (off)\n     PORT_STATUS: (off)\n    FLOW_REMOVED: (off)\n     ROLE_STATUS: (off)\n    TABLE_STATUS: (off)\n  REQUESTFORWARD: (off)";

#[test]
fn async_config_and_controller_id_print_through_ovs_ofctl() {
    if !have_ovs_ofctl("async_config_and_controller_id_print_through_ovs_ofctl") {
        return;
    }
    use async_prop::*;
    let full = async_config(&[
        (PACKET_IN_SLAVE, 0),
        (PACKET_IN_MASTER, 0x3f),
        (PORT_STATUS_SLAVE, 0),
        (PORT_STATUS_MASTER, 7),
        (FLOW_REMOVED_SLAVE, 0),
        (FLOW_REMOVED_MASTER, 0xf),
        (ROLE_STATUS_SLAVE, 0),
        (ROLE_STATUS_MASTER, 7),
        (TABLE_STATUS_SLAVE, 0),
        (TABLE_STATUS_MASTER, 0x18),
        (REQUESTFORWARD_SLAVE, 0),
        (REQUESTFORWARD_MASTER, 3),
    ]);
    let full_text = format!(
        " primary:\n       PACKET_IN: no_match action invalid_ttl action_set group packet_out\n     PORT_STATUS: add delete modify\n    FLOW_REMOVED: idle hard delete group_delete\n     ROLE_STATUS: primary_request configuration_changed experimenter_data_changed\n    TABLE_STATUS: vacancy_down vacancy_up\n  REQUESTFORWARD: group_mod_request meter_mod_request\n\n secondary:\n{OFF}"
    );
    let cases: Vec<(OfMessage, String)> = vec![
        (OfMessage::new(1, Message::SetAsync(full.clone())), format!("OFPT_SET_ASYNC (OF1.5) (xid=0x1):\n{full_text}")),
        (
            OfMessage::new(2, Message::GetAsyncReply(full.clone())),
            format!("OFPT_GET_ASYNC_REPLY (OF1.5) (xid=0x2):\n{full_text}"),
        ),
        (
            OfMessage::new(3, Message::SetAsync(async_config(&[(PACKET_IN_MASTER, 1), (PORT_STATUS_MASTER, 5)]))),
            format!(
                "OFPT_SET_ASYNC (OF1.5) (xid=0x3):\n primary:\n       PACKET_IN: no_match\n     PORT_STATUS: add modify\n    FLOW_REMOVED: (off)\n     ROLE_STATUS: (off)\n    TABLE_STATUS: (off)\n  REQUESTFORWARD: (off)\n\n secondary:\n{OFF}"
            ),
        ),
        (OfMessage::new(4, Message::GetAsyncRequest), "OFPT_GET_ASYNC_REQUEST (OF1.5) (xid=0x4):".to_string()),
        (OfMessage::new(5, Message::SetControllerId(42)), "NXT_SET_CONTROLLER_ID (OF1.5) (xid=0x5): id=42".to_string()),
    ];
    let mut failures = Vec::new();
    for (m, want) in &cases {
        let bytes = m.encode();
        assert_eq!(OfMessage::decode(&bytes).as_ref(), Ok(m), "{}", to_hex(&bytes));
        let got = ofp_print(&bytes).trim_end().to_string();
        if &got != want {
            failures.push(format!("{}:\n{got}\n--- expected ---\n{want}", to_hex(&bytes)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert_eq!(full.mask(TABLE_STATUS_MASTER), Some(0x18));
    let mut c = AsyncConfig::default();
    c.set_mask(PACKET_IN_MASTER, 1);
    c.set_mask(PACKET_IN_MASTER, 3);
    assert_eq!(c, async_config(&[(PACKET_IN_MASTER, 3)]));
}
