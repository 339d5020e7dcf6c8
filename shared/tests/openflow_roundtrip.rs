//! Property tests: matches and actions survive encode→decode and print→parse unchanged.

use proptest::prelude::*;
use shared::openflow::actions::{ports, Action, Controller, Ct, CtZone, Nat, NatAddrs, Subfield};
use shared::openflow::fields::Field;
use shared::openflow::flow_match::Match;
use shared::openflow::messages::{FlowMod, Message, OfMessage};
use shared::openflow::text::{format_actions, format_match, parse_actions, parse_match};
use shared::openflow::wire::Reader;

fn reg(i: u8) -> Field {
    Field::from_name(&format!("reg{i}")).unwrap()
}

prop_compose! {
    fn masked32()(v in any::<u32>(), m in prop_oneof![Just(u32::MAX), any::<u32>()]) -> (u32, u32) {
        (v & m, m)
    }
}

fn arb_match() -> impl Strategy<Value = Match> {
    (
        0usize..8,
        proptest::collection::vec((0u8..16, masked32()), 0..4),
        proptest::option::of(any::<u64>()),
        proptest::option::of(1u16..0xff00),
        proptest::option::of((any::<u32>(), any::<u32>())),
        proptest::option::of(masked32()),
        proptest::option::of(any::<u16>()),
        proptest::option::of((any::<u8>(), any::<u8>())),
        proptest::option::of((any::<u64>(), 0u32..=48)),
    )
        .prop_map(|(proto, regs, md, in_port, nw, ct_mark, tp, ct_state, eth)| {
            let mut m = Match::new();
            let (dl, p): (Option<u16>, Option<u8>) = match proto {
                1 => (Some(0x0800), None),
                2 => (Some(0x0800), Some(6)),
                3 => (Some(0x0800), Some(17)),
                4 => (Some(0x86dd), Some(6)),
                5 => (Some(0x0806), None),
                6 => (Some(0x0800), Some(1)),
                7 => (Some(0x86dd), None),
                _ => (None, None),
            };
            if let Some(dl) = dl {
                m.set_u128(Field::ETH_TYPE, dl.into()).unwrap();
            }
            if let Some(p) = p {
                m.set_u128(Field::IP_PROTO, p.into()).unwrap();
            }
            for (i, (v, mk)) in regs {
                m.set_u128_masked(reg(i), v.into(), mk.into()).unwrap();
            }
            if let Some(md) = md {
                m.set_u128(Field::METADATA, md.into()).unwrap();
            }
            if let Some(p) = in_port {
                m.set_u128(Field::IN_PORT, p.into()).unwrap();
            }
            if let (Some(0x0800), Some((a, b))) = (dl, nw) {
                let prefix = b % 33;
                let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
                if mask != 0 {
                    m.set_u128_masked(Field::IPV4_SRC, (a & mask).into(), mask.into()).unwrap();
                }
                m.set_u128(Field::IPV4_DST, b.into()).unwrap();
            }
            if let (Some(0x0806), Some((a, _))) = (dl, nw) {
                m.set_u128(Field::ARP_SPA, a.into()).unwrap();
                m.set_u128(Field::ARP_OP, 1).unwrap();
            }
            if let (Some(0x86dd), Some((a, b))) = (dl, nw) {
                m.set_u128(Field::IPV6_SRC, (u128::from(a) << 96) | u128::from(b)).unwrap();
            }
            if let Some((v, mk)) = ct_mark {
                m.set_u128_masked(Field::CT_MARK, v.into(), mk.into()).unwrap();
            }
            if let (Some(p), Some(tp)) = (p, tp) {
                match p {
                    6 => m.set_u128(Field::TCP_DST, tp.into()).unwrap(),
                    17 => m.set_u128(Field::UDP_SRC, tp.into()).unwrap(),
                    1 => m.set_u128(Field::ICMPV4_TYPE, (tp & 0xff).into()).unwrap(),
                    _ => {}
                }
            }
            if let Some((v, mk)) = ct_state {
                if mk != 0 {
                    m.set_u128_masked(Field::CT_STATE, u128::from(v & mk), mk.into()).unwrap();
                }
            }
            if let Some((mac, prefix)) = eth {
                let mac = u128::from(mac & 0xffff_ffff_ffff);
                let mask = (((1u128 << prefix) - 1) << (48 - prefix)) & 0xffff_ffff_ffff;
                if mask != 0 {
                    m.set_u128_masked(Field::ETH_DST, mac & mask, mask).unwrap();
                }
            }
            m
        })
}

fn sub(f: Field, ofs: u16, n: u16) -> Subfield {
    Subfield { field: f, ofs, n_bits: n }
}

fn arb_action() -> impl Strategy<Value = Action> {
    let leaf = prop_oneof![
        (1u16..0xff00).prop_map(|p| Action::Output { port: p, max_len: 0 }),
        (0u8..255).prop_map(|t| Action::Resubmit { in_port: ports::IN_PORT, table: t, ct: false }),
        (0u8..16, any::<u32>()).prop_map(|(r, v)| Action::SetField {
            field: reg(r),
            value: v.to_be_bytes().to_vec(),
            mask: None
        }),
        (0u8..16, 0u16..31, any::<u32>()).prop_map(|(r, bit, v)| {
            let mask = 1u32 << bit | 1 << (bit + 1);
            Action::SetField {
                field: reg(r),
                value: (v & mask).to_be_bytes().to_vec(),
                mask: Some(mask.to_be_bytes().to_vec()),
            }
        }),
        (0u8..16, 0u8..16, 1u16..=16)
            .prop_map(|(a, b, n)| Action::Move { src: sub(reg(a), 0, n), dst: sub(reg(b), 16, n) }),
        (any::<u32>(), 2u8..=8)
            .prop_flat_map(|(id, n)| (0..n).prop_map(move |k| { Action::Conjunction { id, clause: k, n_clauses: n } })),
        any::<u32>().prop_map(Action::Group),
        any::<u32>().prop_map(Action::Meter),
        proptest::collection::vec(any::<u8>(), 6).prop_map(Action::Note),
        Just(Action::DecTtl(None)),
        Just(Action::CtClear),
        Just(Action::Exit),
        (1u16..9000, 0u16..32).prop_map(|(l, b)| Action::CheckPktLarger { pkt_len: l, dst: sub(Field::REG0, b, 1) }),
        (1u16..100, 0u16..100).prop_map(|(i, h)| Action::FinTimeout { idle: i, hard: h }),
        (0u8..16).prop_map(|r| Action::StackPush(Subfield::whole(reg(r)))),
        (0u8..16).prop_map(|r| Action::StackPop(sub(reg(r), 0, 16))),
        (proptest::collection::vec(any::<u8>(), 1..24), any::<bool>(), 0u32..10).prop_map(|(u, p, meter)| {
            Action::Controller(Controller { userdata: u, pause: p, meter_id: meter, ..Controller::default() })
        }),
        (any::<u16>(), 1u32..u32::MAX, any::<bool>(), any::<bool>(), 0u8..2).prop_map(
            |(z, ip, commit, field_zone, nat)| {
                let mut actions = Vec::new();
                if nat == 1 {
                    actions.push(Action::Nat(Nat {
                        flags: 1,
                        addrs: Some(NatAddrs::V4(ip, 0)),
                        proto_min: 0,
                        proto_max: 0,
                    }));
                }
                if commit {
                    actions.push(Action::SetField {
                        field: Field::CT_MARK,
                        value: vec![0, 0, 0, 1],
                        mask: Some(vec![0, 0, 0, 1]),
                    });
                }
                Action::Ct(Ct {
                    flags: u16::from(commit),
                    zone: if field_zone { CtZone::Field(sub(Field::REG13, 0, 16)) } else { CtZone::Imm(z) },
                    table: 255,
                    alg: 0,
                    actions,
                })
            }
        ),
    ];
    leaf.prop_recursive(2, 16, 4, |inner| proptest::collection::vec(inner, 1..4).prop_map(Action::Clone))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn match_wire_roundtrip(m in arb_match()) {
        let mut out = Vec::new();
        m.encode_ofp_match(&mut out);
        prop_assert_eq!(out.len() % 8, 0);
        let back = Match::decode_ofp_match(&mut Reader::new(&out, "t")).unwrap();
        prop_assert_eq!(back, m);
    }

    #[test]
    fn match_text_roundtrip(m in arb_match()) {
        let text = format_match(&m, None);
        let back = parse_match(&text).unwrap();
        prop_assert_eq!(back, m, "{}", text);
    }

    #[test]
    fn actions_roundtrip(acts in proptest::collection::vec(arb_action(), 0..6)) {
        let fm = FlowMod { actions: acts.clone(), ..FlowMod::default() };
        let bytes = OfMessage::new(1, Message::FlowMod(fm)).encode();
        let Message::FlowMod(back) = OfMessage::decode(&bytes).unwrap().body else { panic!() };
        prop_assert_eq!(&back.actions, &acts);
        let text = format_actions(&acts);
        let parsed = parse_actions(&text).unwrap();
        prop_assert_eq!(&parsed, &acts, "{}", text);
    }
}
