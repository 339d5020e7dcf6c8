//! Property tests for the typed async-config and statistics messages and the MPLS actions
//! (encode then decode is the identity), and for hostile input: any truncation or mutation
//! of a valid message, and any unknown message type, decodes to an error or a value (an
//! unknown type to `Message::Unknown`), never a panic.

use proptest::prelude::*;
use shared::openflow::actions::Action;
use shared::openflow::header::split_frame;
use shared::openflow::messages::*;
use shared::openflow::stats::*;

fn arb_async() -> impl Strategy<Value = AsyncConfig> {
    proptest::collection::vec(
        prop_oneof![
            (0u16..=11, any::<u32>()).prop_map(|(prop_type, mask)| AsyncProp::Reasons { prop_type, mask }),
            (12u16..=0xffff, proptest::collection::vec(any::<u8>(), 0..12))
                .prop_map(|(prop_type, payload)| AsyncProp::Other { prop_type, payload }),
        ],
        0..14,
    )
    .prop_map(|props| AsyncConfig { props })
}

fn arb_band() -> impl Strategy<Value = MeterBand> {
    (1u16..=2, any::<u32>(), any::<u32>(), any::<u8>()).prop_map(|(band_type, rate, burst_size, p)| MeterBand {
        band_type,
        rate,
        burst_size,
        prec_level: if band_type == 2 { p } else { 0 },
    })
}

fn arb_reply() -> impl Strategy<Value = MultipartReplyBody> {
    let u = any::<u64>;
    prop_oneof![
        (proptest::option::of(any::<u32>()), proptest::option::of(u()), proptest::option::of(u())).prop_map(
            |(flow_count, packet_count, byte_count)| MultipartReplyBody::Aggregate(AggregateStats {
                flow_count,
                packet_count,
                byte_count
            })
        ),
        proptest::collection::vec(
            (any::<u32>(), any::<u32>(), u(), u(), any::<u32>(), proptest::collection::vec((u(), u()), 0..4)).prop_map(
                |(group_id, ref_count, packet_count, byte_count, d, b)| GroupStats {
                    group_id,
                    ref_count,
                    packet_count,
                    byte_count,
                    duration_sec: d,
                    duration_nsec: d / 2,
                    buckets: b.into_iter().map(|(p, b)| BucketCounter { packet_count: p, byte_count: b }).collect(),
                }
            ),
            0..4
        )
        .prop_map(MultipartReplyBody::GroupStats),
        proptest::collection::vec(
            (0u8..4, any::<u32>(), proptest::collection::vec((any::<u32>(), 1u16..0xff00), 0..3)).prop_map(
                |(group_type, group_id, b)| GroupDesc {
                    group_type,
                    group_id,
                    buckets: b
                        .into_iter()
                        .map(|(bucket_id, port)| Bucket {
                            bucket_id,
                            actions: vec![Action::Output { port, max_len: 0 }],
                            weight: Some(100),
                            watch_port: None,
                            watch_group: None,
                        })
                        .collect(),
                    properties: Vec::new(),
                }
            ),
            0..3
        )
        .prop_map(MultipartReplyBody::GroupDesc),
        proptest::collection::vec(
            (any::<u32>(), any::<u32>(), u(), u(), proptest::collection::vec((u(), u()), 0..3)).prop_map(
                |(meter_id, flow_count, packet_in_count, byte_in_count, b)| MeterStats {
                    meter_id,
                    flow_count,
                    packet_in_count,
                    byte_in_count,
                    duration_sec: 1,
                    duration_nsec: 2,
                    bands: b.into_iter().map(|(p, b)| MeterBandStats { packet_count: p, byte_count: b }).collect(),
                }
            ),
            0..3
        )
        .prop_map(MultipartReplyBody::MeterStats),
        proptest::collection::vec(
            (0u16..16, any::<u32>(), proptest::collection::vec(arb_band(), 0..3))
                .prop_map(|(flags, meter_id, bands)| MeterConfig { flags, meter_id, bands }),
            0..3
        )
        .prop_map(MultipartReplyBody::MeterConfig),
        proptest::collection::vec(
            (any::<u32>(), proptest::collection::vec(u(), 8), proptest::option::of((u(), u(), u(), u()))).prop_map(
                |(port_no, c, eth)| PortStats {
                    port_no,
                    duration_sec: 3,
                    duration_nsec: 4,
                    rx_packets: c[0],
                    tx_packets: c[1],
                    rx_bytes: c[2],
                    tx_bytes: c[3],
                    rx_dropped: c[4],
                    tx_dropped: c[5],
                    rx_errors: c[6],
                    tx_errors: c[7],
                    ethernet: eth.map(|(a, b, c, d)| PortStatsEthernet {
                        rx_frame_err: a,
                        rx_over_err: b,
                        rx_crc_err: c,
                        collisions: d
                    }),
                    other_properties: Vec::new(),
                }
            ),
            0..3
        )
        .prop_map(MultipartReplyBody::PortStats),
    ]
}

fn arb_request() -> impl Strategy<Value = MultipartRequestBody> {
    (0u8..6, any::<u32>()).prop_map(|(k, id)| match k {
        0 => MultipartRequestBody::PortStats(id),
        1 => MultipartRequestBody::GroupStats(id),
        2 => MultipartRequestBody::GroupDesc(id),
        3 => MultipartRequestBody::MeterStats(id),
        4 => MultipartRequestBody::MeterConfig(id),
        _ => MultipartRequestBody::PortDesc(id),
    })
}

fn arb_mpls_action() -> impl Strategy<Value = Action> {
    prop_oneof![
        prop_oneof![Just(0x8847u16), Just(0x8848)].prop_map(Action::PushMpls),
        any::<u16>().prop_map(Action::PopMpls),
        any::<u8>().prop_map(Action::SetMplsTtl),
        Just(Action::DecMplsTtl),
    ]
}

fn arb_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        arb_async().prop_map(Message::SetAsync),
        arb_async().prop_map(Message::GetAsyncReply),
        any::<u16>().prop_map(Message::SetControllerId),
        (any::<u16>(), arb_reply())
            .prop_map(|(f, body)| Message::MultipartReply(MultipartReply { flags: f & 1, body })),
        arb_request().prop_map(|body| Message::MultipartRequest(MultipartRequest { flags: 0, body })),
        proptest::collection::vec(arb_mpls_action(), 1..5)
            .prop_map(|actions| Message::FlowMod(FlowMod { actions, ..FlowMod::default() })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn typed_messages_roundtrip(xid in any::<u32>(), body in arb_message()) {
        let m = OfMessage::new(xid, body);
        let bytes = m.try_encode().unwrap();
        let back = OfMessage::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &m);
        prop_assert_eq!(back.encode(), bytes);
    }

    #[test]
    fn truncated_or_mutated_messages_never_panic(
        body in arb_message(),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let bytes = OfMessage::new(1, body).encode();
        // Truncated: the frame is incomplete (or, with the length fixed up, short inside).
        let n = cut.index(bytes.len());
        let short = &bytes[..n];
        prop_assert!(matches!(split_frame(short), Ok(None) | Err(_)));
        let mut fixed = short.to_vec();
        if fixed.len() >= 8 {
            let l = fixed.len() as u16;
            fixed[2..4].copy_from_slice(&l.to_be_bytes());
            let _ = OfMessage::decode(&fixed);
        }
        // Any one byte changed (but the length).
        let mut m = bytes.clone();
        let i = flip.index(m.len());
        if !(2..4).contains(&i) {
            m[i] = byte;
            if let Ok(d) = OfMessage::decode(&m) {
                if let Ok(again) = d.try_encode() {
                    let re = OfMessage::decode(&again);
                    prop_assert_eq!(re.as_ref(), Ok(&d));
                }
            }
        }
    }

    #[test]
    fn unknown_types_decode_as_unknown(
        t in prop_oneof![35u8..=255, Just(10u8), Just(11), Just(16), Just(17), Just(24), Just(25)],
        body in proptest::collection::vec(any::<u8>(), 0..64),
        sub in 0x1000u32..,
    ) {
        let mut m = vec![6, t, 0, 0, 0, 0, 0, 9];
        m.extend_from_slice(&body);
        let l = m.len() as u16;
        m[2..4].copy_from_slice(&l.to_be_bytes());
        let d = OfMessage::decode(&m).unwrap();
        prop_assert_eq!(d.body, Message::Unknown { msg_type: t, experimenter: None, body });
        // An unknown Nicira subtype too.
        let mut x = vec![6, 4, 0, 16, 0, 0, 0, 9, 0, 0, 0x23, 0x20];
        x.extend_from_slice(&sub.to_be_bytes());
        let d = OfMessage::decode(&x).unwrap();
        let is_unknown = matches!(d.body, Message::Unknown { experimenter: Some((0x2320, s)), .. } if s == sub);
        prop_assert!(is_unknown);
    }
}
