//! Seeds for the pinctrl_packet_in fuzz corpus covering sctp_abort, igmp, trigger_event,
//! bind_vport and handle_svc_check (written with PINCTRL_WRITE_SEEDS=1; the corpus is replayed by
//! engine::tests::corpus_replays). Same layout as engine.rs's seeds: one byte of userdata
//! length, the userdata, the packet.

use shared::ovn::controller_ops::{ControllerOp, Opcode, Payload};

#[test]
fn write_seed_corpus_part3() {
    if std::env::var_os("PINCTRL_WRITE_SEEDS").is_none() {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/pinctrl_packet_in");
    let udp = crate::handlers::tests::udp4();
    let cases = [
        (
            "sctp_abort_init",
            ControllerOp::new(Opcode::SctpAbort, Payload::Nested(vec![])),
            crate::sctp::tests::sctp4(1, 0),
        ),
        ("reject_sctp", ControllerOp::new(Opcode::Reject, Payload::Nested(vec![])), crate::sctp::tests::sctp4(0, 7)),
        (
            "igmp_v2_report",
            ControllerOp::new(Opcode::Igmp, Payload::Empty),
            crate::mcast::tests::igmp(0x16, [239, 1, 1, 1]),
        ),
        (
            "igmp_leave",
            ControllerOp::new(Opcode::Igmp, Payload::Empty),
            crate::mcast::tests::igmp(0x17, [239, 1, 1, 1]),
        ),
        ("igmp_query", ControllerOp::new(Opcode::Igmp, Payload::Empty), crate::mcast::tests::igmp(0x11, [0, 0, 0, 0])),
        (
            "trigger_event",
            ControllerOp::new(Opcode::Event, Payload::Raw(crate::events::tests::empty_lb("10.0.0.10:80", "tcp", "lb"))),
            udp.clone(),
        ),
        ("bind_vport", ControllerOp::new(Opcode::BindVport, Payload::Raw(vec![0, 0, 0, 2])), udp.clone()),
        (
            "handle_svc_check_tcp",
            ControllerOp::new(Opcode::HandleSvcCheck, Payload::Empty),
            crate::handlers::tests::tcp4(false),
        ),
        ("handle_svc_check_icmp", ControllerOp::new(Opcode::HandleSvcCheck, Payload::Empty), {
            let h = crate::flow::Headers::parse(&udp).unwrap();
            crate::handlers::icmp(&h, true, true).unwrap()
        }),
    ];
    for (name, op, pkt) in cases {
        let ud = op.encode();
        let mut b = vec![u8::try_from(ud.len()).unwrap()];
        b.extend_from_slice(&ud);
        b.extend_from_slice(&pkt);
        std::fs::write(dir.join(name), b).unwrap();
    }
}
