//! End-to-end tests of the compiler on small expressions, with expected flows as
//! ovs-ofctl prints them (the results OVN 23.03 gives for the same expressions).

use shared::openflow::text::format_match;

use super::*;

fn lookups() -> MapLookups {
    let mut l = MapLookups::default();
    l.ports.insert("lp1".into(), 1);
    l.ports.insert("lp2".into(), 2);
    l.ports.insert("none".into(), 0);
    l.port_groups.insert("pg1".into(), vec!["lp1".into(), "lp2".into(), "remote".into()]);
    l.address_sets.insert("as1".into(), parse_address_set(&["10.0.0.2", "10.0.0.1", "bogus", "10.1.0.0/16"]));
    l.address_sets.insert("empty".into(), Vec::new());
    l.resident.push("lp1".into());
    l
}

/// The flows of `text`, as sorted `match [conjunction(id,k/n),...]` lines.
pub(crate) fn flows(text: &str) -> Vec<String> {
    let c = compile(text, &lookups()).unwrap_or_else(|e| panic!("{text}: {e}"));
    let mut v: Vec<String> = c
        .matches
        .iter()
        .map(|em| {
            let mut s = format_match(&em.m, None);
            for cj in &em.conjunctions {
                s.push_str(&format!(" conjunction({},{}/{})", cj.id, cj.clause, cj.n_clauses));
            }
            s
        })
        .collect();
    v.sort();
    v
}

fn err(text: &str) -> String {
    match compile(text, &lookups()) {
        Ok(c) => panic!("{text}: compiled to {c:?}"),
        Err(e) => e.0,
    }
}

#[test]
fn simple_fields() {
    assert_eq!(flows("ip4.src == 10.0.0.1"), ["ip,nw_src=10.0.0.1"]);
    assert_eq!(flows("ip4.dst == 10.0.0.0/8"), ["ip,nw_dst=10.0.0.0/8"]);
    assert_eq!(flows("inport == \"lp1\""), ["reg14=0x1"]);
    assert_eq!(flows("outport == \"none\""), ["reg15=0"]);
    assert_eq!(flows("eth.mcast"), ["dl_dst=01:00:00:00:00:00/01:00:00:00:00:00"]);
    assert_eq!(flows("eth.bcast"), ["dl_dst=ff:ff:ff:ff:ff:ff"]);
    assert_eq!(flows("reg0[3]"), ["reg0=0x8/0x8"]);
    assert_eq!(flows("reg0[0..7] == 0x12"), ["reg0=0x12/0xff"]);
    assert_eq!(flows("reg9 == 5"), ["reg9=0x5"]);
    assert_eq!(flows("xxreg0 == 1"), ["reg0=0,reg1=0,reg2=0,reg3=0x1"]);
    assert_eq!(flows("xxreg0[0..31] == 5"), ["reg3=0x5"]);
    assert_eq!(flows("xxreg1[96..127] == 7 && reg4 == 7"), ["reg4=0x7"]);
    assert_eq!(flows("xreg0[32..63] == 1 && reg0 == 1"), ["reg0=0x1"]);
    assert_eq!(flows("flags.loopback == 1"), ["reg10=0x1/0x1"]);
    assert_eq!(flows("ct.new"), ["ct_state=+new+trk"]);
    assert_eq!(flows("!ct.est"), ["ct_state=-est+trk"]);
    assert_eq!(flows("ct_mark.blocked == 1"), ["ct_mark=0x1/0x1"]);
    assert_eq!(flows("1"), [""]);
    assert!(flows("0").is_empty());
}

#[test]
fn predicates_and_prereqs() {
    assert_eq!(flows("ip4"), ["ip"]);
    assert_eq!(flows("ip"), ["ip", "ipv6"]);
    assert_eq!(flows("tcp"), ["tcp", "tcp6"]);
    assert_eq!(flows("tcp.dst == 80"), ["tcp,tp_dst=80", "tcp6,tp_dst=80"]);
    assert_eq!(flows("ip4 && tcp.dst == {80, 443}"), ["tcp,tp_dst=443", "tcp,tp_dst=80"]);
    assert_eq!(flows("arp.op == 1"), ["arp,arp_op=1"]);
    assert_eq!(flows("nd_ns"), ["icmp6,nw_ttl=255,icmp_type=135,icmp_code=0"]);
    assert_eq!(flows("ip.later_frag"), ["ip,nw_frag=later", "ipv6,nw_frag=later"]);
    assert_eq!(flows("vlan.present"), ["vlan_tci=0x1000/0x1000"]);
}

#[test]
fn partial_masks_on_unmaskable_fields_are_dropped_as_ovs_does() {
    // ip.dscp is 6 bits of a 1-byte field OVS cannot mask: 23.03 ends up not matching it.
    assert_eq!(flows("ip4 && ip.dscp == 46"), ["ip"]);
    // tcp.flags (12 bits in 2 bytes) is maskable: an exact value is a 12-bit mask.
    assert_eq!(flows("ip4 && tcp.flags == 2"), ["tcp,tcp_flags=syn"]);
}

#[test]
fn relational() {
    // Like OVN, `>=` is `==` plus `>`, without merging the two.
    assert_eq!(flows("ip4 && tcp.dst >= 65534"), ["tcp,tp_dst=65534", "tcp,tp_dst=65535"]);
    assert_eq!(flows("ip4 && tcp.dst > 65533"), ["tcp,tp_dst=0xfffe/0xfffe"]);
    assert_eq!(flows("ip4 && tcp.dst < 2"), ["tcp,tp_dst=0x0/0xfffe"]);
    assert_eq!(flows("ip4 && 1 < tcp.dst < 4"), ["tcp,tp_dst=0x2/0xfffe"]);
    assert_eq!(flows("ip4 && tcp.dst <= 65535"), ["tcp"]);
    assert_eq!(
        flows("reg0 != 0"),
        (0..32)
            .map(|i| format!("reg0={:#x}/{:#x}", 1u32 << i, 1u32 << i))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    );
}

#[test]
fn sets_and_conjunctions() {
    assert_eq!(flows("ip4.src == $as1"), ["ip,nw_src=10.0.0.1", "ip,nw_src=10.0.0.2", "ip,nw_src=10.1.0.0/16"]);
    assert!(flows("ip4.src == $empty").is_empty());
    // Unknown ports never match.
    assert_eq!(flows("inport == @pg1"), ["reg14=0x1", "reg14=0x2"]);
    assert_eq!(
        flows("outport == @pg1 && ip4.src == $as1"),
        [
            "conj_id=1,ip",
            "ip,nw_src=10.0.0.1 conjunction(1,1/2)",
            "ip,nw_src=10.0.0.2 conjunction(1,1/2)",
            "ip,nw_src=10.1.0.0/16 conjunction(1,1/2)",
            "ip,reg15=0x1 conjunction(1,2/2)",
            "ip,reg15=0x2 conjunction(1,2/2)",
        ]
    );
    // A must-crossproduct symbol (ip.proto) is distributed, not a conjunction dimension.
    assert_eq!(flows("ip4 && ip.proto == {6, 17}"), ["tcp", "udp"]);
    // Intersection of two sets over one symbol.
    assert_eq!(flows("reg0 == {1, 2, 3} && reg0 == {2, 3, 4}"), ["reg0=0x2", "reg0=0x3"]);
    assert_eq!(flows("inport == {\"lp1\", \"lp2\"} && inport == \"lp2\""), ["reg14=0x2"]);
    assert!(flows("inport == \"lp1\" && inport == \"lp2\"").is_empty());
}

#[test]
fn chassis_resident() {
    assert_eq!(flows("ip4 && is_chassis_resident(\"lp1\")"), ["ip"]);
    assert!(flows("ip4 && is_chassis_resident(\"lp2\")").is_empty());
    assert_eq!(flows("ip4 && !is_chassis_resident(\"lp2\")"), ["ip"]);
}

#[test]
fn errors() {
    assert_eq!(err("foo == 1"), "Syntax error at `foo' expecting field name.");
    assert_eq!(err("ip4 &&"), "Syntax error at end of input expecting constant.");
    assert_eq!(err("ip4 && tcp || udp"), "&& and || must be parenthesized when used together.");
    assert!(err("!ip4").starts_with("Nominal predicate ip4 may only be tested positively"));
    assert_eq!(err("reg0"), "Explicit `!= 0' is required for inequality test of multibit field against 0.");
    assert_eq!(err("!tcp.dst == 80"), "Missing parentheses around operand of !.");
    assert_eq!(
        err("eth.type != 0x800"),
        "Nominal field eth.type may only be tested for equality (taking enclosing `!' operators into account)."
    );
    assert_eq!(err("ip4.src == 1.2.3.4.5"), "Invalid numeric constant.");
    assert_eq!(err("ip4.src == fe80::1"), "128-bit constant is not compatible with 32-bit field ip4.src.");
    assert_eq!(err("inport == 1"), "String field inport is not compatible with integer constant.");
    assert_eq!(err("reg0[3..1] == 1"), "Invalid bit range 3 to 1.");
    assert_eq!(err("reg0[32]"), "Cannot select bits 32 to 32 of 32-bit field reg0.");
    assert_eq!(err("ip4.src == $nope"), "Syntax error at `$nope' expecting address set name.");
    assert_eq!(err("outport == @nope"), "Syntax error at `@nope' expecting port group name.");
    assert_eq!(err("ip4 ip4"), "Syntax error at `ip4' expecting end of input.");
    assert_eq!(err("tcp.dst < {1, 2}"), "Only == and != operators may be used with value sets.");
    assert_eq!(err("foo(1)"), "parsing function name");
    assert_eq!(err("ip4.src == ^tmpl"), "Unexpanded template.");
    assert_eq!(err(&"(".repeat(200)), "Parentheses nested too deeply.");
    // The lexer is lazy, as OVN's: the first error met wins.
    assert_eq!(err("foo == 1 &"), "Syntax error at `foo' expecting field name.");
    assert_eq!(err("ip4 && reg0 == 01"), "Decimal constants must not have leading zeros.");
    assert_eq!(err("ip4 &"), "`&' is only valid as part of `&&'.");
}

/// Replays the cargo-fuzz corpus of the `expr_parse` target (fuzz/corpus/expr_parse) with
/// the target's lookups: every input compiles or fails cleanly.
#[test]
fn fuzz_corpus_replays_without_panics() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/expr_parse");
    let mut l = MapLookups::default();
    l.ports.insert("lp1".into(), 1);
    l.ports.insert("lp2".into(), 2);
    l.port_groups.insert("pg1".into(), vec!["lp1".into(), "lp2".into(), "lp3".into()]);
    l.address_sets.insert("as1".into(), parse_address_set(&["10.0.0.1", "10.0.0.0/8", "fe80::1"]));
    l.address_sets.insert("as4".into(), parse_address_set(&["10.0.0.1", "10.0.0.2", "192.168.0.0/16"]));
    l.resident.push("lp1".into());
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&data);
        if let Ok(e) = parser::parse(&text, Symtab::ovn(), &l) {
            let printed = e.format(Symtab::ovn());
            assert!(parser::parse(&printed, Symtab::ovn(), &l).is_ok(), "{text:?} printed as {printed:?}");
        }
        let _ = compile(&text, &l);
        n += 1;
    }
    assert!(n > 0, "empty corpus in {}", dir.display());
}

/// OVN 23.03's own expectations (tests/ovn.at "expression parser" errors and "converting
/// expressions to flows"), with test-ovn's ports, address sets and port groups.
mod ovn_testsuite {
    use super::*;

    fn test_ovn_lookups() -> MapLookups {
        let mut l = MapLookups::default();
        for (p, k) in [("eth0", 5), ("eth1", 6), ("LOCAL", 0xfffe), ("lsp1", 0x11), ("lsp2", 0x12), ("lsp3", 0x13)] {
            l.ports.insert(p.into(), k);
        }
        l.address_sets.insert("set1".into(), parse_address_set(&["10.0.0.1", "10.0.0.2", "10.0.0.3"]));
        l.address_sets.insert("set2".into(), parse_address_set(&["::1", "::2", "::3"]));
        l.address_sets
            .insert("set3".into(), parse_address_set(&["00:00:00:00:00:01", "00:00:00:00:00:02", "00:00:00:00:00:03"]));
        l.address_sets.insert("set4".into(), Vec::new());
        l.port_groups.insert("pg1".into(), vec!["lsp1".into(), "lsp2".into(), "lsp3".into()]);
        l.port_groups.insert("pg_empty".into(), Vec::new());
        l
    }

    #[test]
    fn parser_errors() {
        let cases: Vec<(String, &str)> = vec![
            (r#"ip4.src == "eth0""#.to_string(), r#"Integer field ip4.src is not compatible with string constant."#),
            (r#"inport == 1"#.to_string(), r#"String field inport is not compatible with integer constant."#),
            (r#"ip4.src = 1.2.3.4"#.to_string(), r#"Syntax error at `=' expecting relational operator."#),
            (r#"ip4.src > {1, 2, 3}"#.to_string(), r#"Only == and != operators may be used with value sets."#),
            (r#"eth.type > 0x800"#.to_string(), r#"Only == and != operators may be used with nominal field eth.type."#),
            (
                r#"vlan.present > 0"#.to_string(),
                r#"Only == and != operators may be used with Boolean field vlan.present."#,
            ),
            (
                r#"inport != "eth0""#.to_string(),
                r#"Nominal field inport may only be tested for equality (taking enclosing `!' operators into account)."#,
            ),
            (
                r#"!(inport == "eth0")"#.to_string(),
                r#"Nominal field inport may only be tested for equality (taking enclosing `!' operators into account)."#,
            ),
            (
                r#"eth.type != 0x800"#.to_string(),
                r#"Nominal field eth.type may only be tested for equality (taking enclosing `!' operators into account)."#,
            ),
            (
                r#"!(eth.type == 0x800)"#.to_string(),
                r#"Nominal field eth.type may only be tested for equality (taking enclosing `!' operators into account)."#,
            ),
            (r#"inport = "eth0""#.to_string(), r#"Syntax error at `=' expecting relational operator."#),
            (r#"123 == 123"#.to_string(), r#"Syntax error at `123' expecting field name."#),
            (r#"$name"#.to_string(), r#"Syntax error at `$name' expecting address set name."#),
            (r#"@name"#.to_string(), r#"Syntax error at `@name' expecting port group name."#),
            (r#"123 == xyzzy"#.to_string(), r#"Syntax error at `xyzzy' expecting field name."#),
            (r#"xyzzy == 1"#.to_string(), r#"Syntax error at `xyzzy' expecting field name."#),
            (r#"inport[1] == 1"#.to_string(), r#"Cannot select subfield of string field inport."#),
            (r#"eth.type[] == 1"#.to_string(), r#"Syntax error at `]' expecting small integer."#),
            (r#"eth.type[::1] == 1"#.to_string(), r#"Syntax error at `::1' expecting small integer."#),
            (
                r#"eth.type[18446744073709551615] == 1"#.to_string(),
                r#"Syntax error at `18446744073709551615' expecting small integer."#,
            ),
            (r#"eth.type[5!]"#.to_string(), r#"Syntax error at `!' expecting `]'."#),
            (r#"eth.type[5..1]"#.to_string(), r#"Invalid bit range 5 to 1."#),
            (r#"eth.type[12..16]"#.to_string(), r#"Cannot select bits 12 to 16 of 16-bit field eth.type."#),
            (r#"eth.type[10] == 1"#.to_string(), r#"Cannot select subfield of nominal field eth.type."#),
            (
                r#"eth.type"#.to_string(),
                r#"Explicit `!= 0' is required for inequality test of multibit field against 0."#,
            ),
            (
                r#"!(!(vlan.pcp))"#.to_string(),
                r#"Explicit `!= 0' is required for inequality test of multibit field against 0."#,
            ),
            (r#"123"#.to_string(), r#"Syntax error at end of input expecting relational operator."#),
            (r#"123 x"#.to_string(), r#"Syntax error at `x' expecting relational operator."#),
            (r#"{1, "eth0"}"#.to_string(), r#"Syntax error at `"eth0"' expecting integer."#),
            (r#"eth.type == xyzzy"#.to_string(), r#"Syntax error at `xyzzy' expecting constant."#),
            (r#"(1 x)"#.to_string(), r#"Syntax error at `x' expecting `)'."#),
            (r#"!0x800 != eth.type"#.to_string(), r#"Missing parentheses around operand of !."#),
            (
                r#"eth.type == 0x800 || eth.type == 0x86dd && ip.proto == 17"#.to_string(),
                r#"&& and || must be parenthesized when used together."#,
            ),
            (r#"eth.dst == {}"#.to_string(), r#"Syntax error at `}' expecting constant."#),
            (
                r#"eth.src > 00:00:00:00:11:11/00:00:00:00:ff:ff"#.to_string(),
                r#"Only == and != operators may be used with masked constants.  Consider using subfields instead (e.g. eth.src[0..15] > 0x1111 in place of eth.src > 00:00:00:00:11:11/00:00:00:00:ff:ff)."#,
            ),
            (r#"ip4.src == ::1"#.to_string(), r#"128-bit constant is not compatible with 32-bit field ip4.src."#),
            (
                r#"1 == eth.type == 2"#.to_string(),
                r#"Range expressions must have the form `x < field < y' or `x > field > y', with each `<' optionally replaced by `<=' or `>' by `>=')."#,
            ),
            (r#"eth.dst[40] x"#.to_string(), r#"Syntax error at `x' expecting end of input."#),
            (
                r#"ip4.src == {1.2.3.4, $set1, $unknownset}"#.to_string(),
                r#"Syntax error at `$unknownset' expecting address set name."#,
            ),
            (
                r#"eth.src == {$set3, badmac, 00:00:00:00:00:01}"#.to_string(),
                r#"Syntax error at `badmac' expecting constant."#,
            ),
            ("(".repeat(101) + &")".repeat(101), r#"Parentheses nested too deeply."#),
            (
                r#"ct_label > $set4"#.to_string(),
                r#"Only == and != operators may be used to compare a field against an empty value set."#,
            ),
        ];
        let l = test_ovn_lookups();
        for (input, want) in cases {
            match compile(&input, &l) {
                Ok(c) => panic!("{input}: compiled to {c:?}, want error {want}"),
                Err(e) => assert_eq!(e.0, want, "{input}"),
            }
        }
    }

    /// `ovstest test-ovn parse-expr` and `annotate-expr` outputs (those that use only the
    /// OVN symbols; test-ovn's own test symbols are left out).
    #[test]
    fn parse_and_annotate_format() {
        let symtab = Symtab::ovn();
        let l = test_ovn_lookups();
        let parsed: &[(&str, &str)] = &[
            ("eth.type==0x800", "eth.type == 0x800"),
            ("eth.type[0..15] == 0x800", "eth.type == 0x800"),
            ("vlan.present == 1", "vlan.present"),
            ("!(vlan.present != 1)", "vlan.present"),
            ("vlan.present != 1", "!vlan.present"),
            ("!(eth.dst[0] == 0)", "eth.dst[0]"),
            ("eth.dst[0] != 1", "!eth.dst[0]"),
            ("vlan.tci == 0x3000/0xf000", "vlan.tci[12..15] == 0x3"),
            ("vlan.tci != 0x3000/0xf000", "vlan.tci[12..15] != 0x3"),
            ("!vlan.pcp", "vlan.pcp == 0"),
            ("!(vlan.pcp <= 0x4)", "vlan.pcp > 0x4"),
            ("0x4 >= vlan.pcp", "vlan.pcp <= 0x4"),
            ("!(0x4 < vlan.pcp)", "vlan.pcp <= 0x4"),
            ("1 < vlan.pcp <= 4", "vlan.pcp > 0x1 && vlan.pcp <= 0x4"),
            ("!(4 >= vlan.pcp > 1)", "vlan.pcp > 0x4 || vlan.pcp <= 0x1"),
            ("vlan.pcp == {1, 2, 3, 4}", "vlan.pcp == 0x1 || vlan.pcp == 0x2 || vlan.pcp == 0x3 || vlan.pcp == 0x4"),
            ("vlan.pcp != {1, 2, 3, 4}", "vlan.pcp != 0x1 && vlan.pcp != 0x2 && vlan.pcp != 0x3 && vlan.pcp != 0x4"),
            (
                "vlan.pcp == 1 && !(!(vlan.pcp == 2 && vlan.pcp == 3) && vlan.pcp == 4)",
                "vlan.pcp == 0x1 && ((vlan.pcp == 0x2 && vlan.pcp == 0x3) || vlan.pcp != 0x4)",
            ),
            (
                "ip4.src == {10.0.0.0/8, 192.168.0.0/16, 172.16.20.0/24, 8.8.8.8}",
                "ip4.src[24..31] == 0xa || ip4.src[16..31] == 0xc0a8 || ip4.src[8..31] == 0xac1014 || ip4.src == 0x8080808",
            ),
            ("ip4.src == ::1.2.3.4/::ffff:ffff", "ip4.src == 0x1020304"),
            ("ip6.src == ::1", "ip6.src == 0x1"),
            ("!1", "0"),
            ("!(inport != \"eth0\")", "inport == \"eth0\""),
        ];
        for (input, want) in parsed {
            let e = parser::parse(input, symtab, &l).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(e.format(symtab), *want, "{input}");
        }
        let annotated: &[(&str, &str)] = &[
            ("ip4.src == 1.2.3.4", "ip4.src == 0x1020304 && eth.type == 0x800"),
            ("ip4.src != 1.2.3.4", "ip4.src != 0x1020304 && eth.type == 0x800"),
            ("ip.proto == 123", "ip.proto == 0x7b && (eth.type == 0x800 || eth.type == 0x86dd)"),
            (
                "ip.proto == {123, 234}",
                "(ip.proto == 0x7b || ip.proto == 0xea) && (eth.type == 0x800 || eth.type == 0x86dd)",
            ),
            (
                "ip4.src == 1.2.3.4 && ip4.dst == 5.6.7.8",
                "ip4.src == 0x1020304 && eth.type == 0x800 && ip4.dst == 0x5060708 && eth.type == 0x800",
            ),
            (
                "tcp.dst == 1 || (tcp.dst >= 2 && tcp.dst <= 3)",
                "(tcp.dst == 0x1 || (tcp.dst >= 0x2 && tcp.dst <= 0x3)) && ip.proto == 0x6 && (eth.type == 0x800 || eth.type == 0x86dd)",
            ),
            ("ip", "eth.type == 0x800 || eth.type == 0x86dd"),
            ("ip == 1", "eth.type == 0x800 || eth.type == 0x86dd"),
            ("ip[0] == 1", "eth.type == 0x800 || eth.type == 0x86dd"),
            ("vlan.present", "vlan.tci[12]"),
            ("!vlan.present", "!vlan.tci[12]"),
            ("!vlan.pcp", "vlan.tci[13..15] == 0 && vlan.tci[12]"),
            (
                "vlan.pcp == 1 && vlan.vid == 2",
                "vlan.tci[13..15] == 0x1 && vlan.tci[12] && vlan.tci[0..11] == 0x2 && vlan.tci[12]",
            ),
            (
                "!reg0 && !reg1 && !reg2 && !reg3",
                "xxreg0[96..127] == 0 && xxreg0[64..95] == 0 && xxreg0[32..63] == 0 && xxreg0[0..31] == 0",
            ),
            (
                "ip.first_frag",
                "ip.frag[0] && (eth.type == 0x800 || eth.type == 0x86dd) && (!ip.frag[1] || (eth.type != 0x800 && eth.type != 0x86dd))",
            ),
            (
                "!ip.first_frag",
                "!ip.frag[0] || (eth.type != 0x800 && eth.type != 0x86dd) || (ip.frag[1] && (eth.type == 0x800 || eth.type == 0x86dd))",
            ),
            ("ip.later_frag", "ip.frag[1] && (eth.type == 0x800 || eth.type == 0x86dd)"),
        ];
        for (input, want) in annotated {
            let e = parser::parse(input, symtab, &l).and_then(|e| annotate::annotate(e, symtab));
            assert_eq!(e.unwrap_or_else(|e| panic!("{input}: {e}")).format(symtab), *want, "{input}");
        }
    }

    /// `ovstest test-ovn expr-to-flows` output lines ("m: conjunction(id, k/n)" with k from
    /// 0) in our test format.
    fn expect(lines: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = lines
            .iter()
            .map(|l| match l.split_once(": conjunction(") {
                Some((m, c)) => {
                    let c = c.trim_end_matches(')');
                    let (id, kn) = c.split_once(", ").unwrap();
                    let (k, n) = kn.split_once('/').unwrap();
                    format!("{m} conjunction({id},{}/{n})", k.parse::<u32>().unwrap() + 1)
                }
                None => l.to_string(),
            })
            .collect();
        v.sort();
        v
    }

    fn got(text: &str) -> Vec<String> {
        let c = compile(text, &test_ovn_lookups()).unwrap_or_else(|e| panic!("{text}: {e}"));
        let mut v: Vec<String> = c
            .matches
            .iter()
            .flat_map(|em| {
                let m = format_match(&em.m, None);
                if em.conjunctions.is_empty() {
                    vec![m]
                } else {
                    em.conjunctions
                        .iter()
                        .map(|c| format!("{m} conjunction({},{}/{})", c.id, c.clause, c.n_clauses))
                        .collect()
                }
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn expressions_to_flows() {
        let cases: &[(&str, &[&str])] = &[
            (r#"inport == "eth0""#, &["reg14=0x5"]),
            (r#"inport == "eth2""#, &[]),
            (r#"inport == "eth0" && ip"#, &["ip,reg14=0x5", "ipv6,reg14=0x5"]),
            (r#"inport == {"eth0", "eth1", "eth2", "LOCAL"}"#, &["reg14=0x5", "reg14=0x6", "reg14=0xfffe"]),
            (
                r#"inport == {"eth0", "eth1", "eth2"} && ip"#,
                &["ip,reg14=0x5", "ip,reg14=0x6", "ipv6,reg14=0x5", "ipv6,reg14=0x6"],
            ),
            (r#"inport == "eth0" && inport == "eth1""#, &[]),
            (
                "ip4.src == {10.0.0.1, 10.0.0.2, 10.0.0.3}",
                &["ip,nw_src=10.0.0.1", "ip,nw_src=10.0.0.2", "ip,nw_src=10.0.0.3"],
            ),
            (
                "ip4.src == {1.2.0.0/20, 5.5.5.0/24, $set1}",
                &[
                    "ip,nw_src=1.2.0.0/20",
                    "ip,nw_src=10.0.0.1",
                    "ip,nw_src=10.0.0.2",
                    "ip,nw_src=10.0.0.3",
                    "ip,nw_src=5.5.5.0/24",
                ],
            ),
            (
                "ip6.src == {::1, $set2, ::4}",
                &["ipv6,ipv6_src=::1", "ipv6,ipv6_src=::2", "ipv6,ipv6_src=::3", "ipv6,ipv6_src=::4"],
            ),
            (
                "eth.src == {00:00:00:00:00:01, $set3, ba:be:be:ef:de:ad, $set3}",
                &[
                    "dl_src=00:00:00:00:00:01",
                    "dl_src=00:00:00:00:00:02",
                    "dl_src=00:00:00:00:00:03",
                    "dl_src=ba:be:be:ef:de:ad",
                ],
            ),
            ("ip4.src == {$set4}", &[]),
            ("ip4.src == {1.2.3.4, $set4}", &["ip,nw_src=1.2.3.4"]),
            ("ip4.src == 1.2.3.4 || ip4.src == {$set4}", &["ip,nw_src=1.2.3.4"]),
            ("ip4.src != {$set4}", &[""]),
            (
                "ip4.src != {1.0.0.0/8, $set4}",
                &[
                    "ip,nw_src=0.0.0.0/1.0.0.0",
                    "ip,nw_src=128.0.0.0/1",
                    "ip,nw_src=16.0.0.0/16.0.0.0",
                    "ip,nw_src=2.0.0.0/2.0.0.0",
                    "ip,nw_src=32.0.0.0/32.0.0.0",
                    "ip,nw_src=4.0.0.0/4.0.0.0",
                    "ip,nw_src=64.0.0.0/64.0.0.0",
                    "ip,nw_src=8.0.0.0/8.0.0.0",
                ],
            ),
            (
                "ip4.dst == 172.27.0.65 && ip4.src == $set1 && ip4.dst != 10.128.0.0/14",
                &[
                    "ip,nw_src=10.0.0.1,nw_dst=172.27.0.65",
                    "ip,nw_src=10.0.0.2,nw_dst=172.27.0.65",
                    "ip,nw_src=10.0.0.3,nw_dst=172.27.0.65",
                ],
            ),
            ("outport == @pg1", &["reg15=0x11", "reg15=0x12", "reg15=0x13"]),
            ("outport == {@pg_empty}", &[]),
            (r#"outport == {"lsp1", @pg_empty}"#, &["reg15=0x11"]),
            (
                "ip4.src == {10.0.0.1, 10.0.0.2, 10.0.0.3} && ip4.dst == {20.0.0.1, 20.0.0.2, 20.0.0.3}",
                &[
                    "conj_id=1,ip",
                    "ip,nw_dst=20.0.0.1: conjunction(1, 0/2)",
                    "ip,nw_dst=20.0.0.2: conjunction(1, 0/2)",
                    "ip,nw_dst=20.0.0.3: conjunction(1, 0/2)",
                    "ip,nw_src=10.0.0.1: conjunction(1, 1/2)",
                    "ip,nw_src=10.0.0.2: conjunction(1, 1/2)",
                    "ip,nw_src=10.0.0.3: conjunction(1, 1/2)",
                ],
            ),
            (
                "ip && (!ct.est || (ct.est && ct_mark.blocked == 1))",
                &[
                    "ct_state=+est+trk,ct_mark=0x1/0x1,ip",
                    "ct_state=+est+trk,ct_mark=0x1/0x1,ipv6",
                    "ct_state=-est+trk,ip",
                    "ct_state=-est+trk,ipv6",
                ],
            ),
            (
                "ip4 && ip4.src == {10.0.0.1, 10.0.0.2, 10.0.0.3} && ip4.dst == {20.0.0.1, 20.0.0.2, 20.0.0.3} && \
                 tcp.dst >= 1000 && tcp.dst <= 1010",
                &[
                    "conj_id=1,tcp",
                    "tcp,nw_dst=20.0.0.1: conjunction(1, 0/3)",
                    "tcp,nw_dst=20.0.0.2: conjunction(1, 0/3)",
                    "tcp,nw_dst=20.0.0.3: conjunction(1, 0/3)",
                    "tcp,nw_src=10.0.0.1: conjunction(1, 1/3)",
                    "tcp,nw_src=10.0.0.2: conjunction(1, 1/3)",
                    "tcp,nw_src=10.0.0.3: conjunction(1, 1/3)",
                    "tcp,tp_dst=0x3ea/0xfffe: conjunction(1, 2/3)",
                    "tcp,tp_dst=0x3ec/0xfffc: conjunction(1, 2/3)",
                    "tcp,tp_dst=0x3f0/0xfffe: conjunction(1, 2/3)",
                    "tcp,tp_dst=1000: conjunction(1, 2/3)",
                    "tcp,tp_dst=1001: conjunction(1, 2/3)",
                    "tcp,tp_dst=1010: conjunction(1, 2/3)",
                ],
            ),
            (
                "ip4 && ip4.src == {10.0.0.4, 10.0.0.5, 10.0.0.6} && ((ip4.dst == {20.0.0.4, 20.0.0.7, 20.0.0.8} && \
                 tcp.dst >= 1000 && tcp.dst <= 2000 && tcp.src >=1000 && tcp.src <= 2000) || ip4.dst == 20.0.0.5 || \
                 ip4.dst == 20.0.0.6)",
                &[
                    "conj_id=1,tcp",
                    "ip,nw_src=10.0.0.4,nw_dst=20.0.0.5",
                    "ip,nw_src=10.0.0.4,nw_dst=20.0.0.6",
                    "ip,nw_src=10.0.0.5,nw_dst=20.0.0.5",
                    "ip,nw_src=10.0.0.5,nw_dst=20.0.0.6",
                    "ip,nw_src=10.0.0.6,nw_dst=20.0.0.5",
                    "ip,nw_src=10.0.0.6,nw_dst=20.0.0.6",
                    "tcp,nw_dst=20.0.0.4: conjunction(1, 0/4)",
                    "tcp,nw_dst=20.0.0.7: conjunction(1, 0/4)",
                    "tcp,nw_dst=20.0.0.8: conjunction(1, 0/4)",
                    "tcp,nw_src=10.0.0.4: conjunction(1, 1/4)",
                    "tcp,nw_src=10.0.0.5: conjunction(1, 1/4)",
                    "tcp,nw_src=10.0.0.6: conjunction(1, 1/4)",
                    "tcp,tp_dst=0x3ea/0xfffe: conjunction(1, 2/4)",
                    "tcp,tp_dst=0x3ec/0xfffc: conjunction(1, 2/4)",
                    "tcp,tp_dst=0x3f0/0xfff0: conjunction(1, 2/4)",
                    "tcp,tp_dst=0x400/0xfe00: conjunction(1, 2/4)",
                    "tcp,tp_dst=0x600/0xff00: conjunction(1, 2/4)",
                    "tcp,tp_dst=0x700/0xff80: conjunction(1, 2/4)",
                    "tcp,tp_dst=0x780/0xffc0: conjunction(1, 2/4)",
                    "tcp,tp_dst=0x7c0/0xfff0: conjunction(1, 2/4)",
                    "tcp,tp_dst=1000: conjunction(1, 2/4)",
                    "tcp,tp_dst=1001: conjunction(1, 2/4)",
                    "tcp,tp_dst=2000: conjunction(1, 2/4)",
                    "tcp,tp_src=0x3ea/0xfffe: conjunction(1, 3/4)",
                    "tcp,tp_src=0x3ec/0xfffc: conjunction(1, 3/4)",
                    "tcp,tp_src=0x3f0/0xfff0: conjunction(1, 3/4)",
                    "tcp,tp_src=0x400/0xfe00: conjunction(1, 3/4)",
                    "tcp,tp_src=0x600/0xff00: conjunction(1, 3/4)",
                    "tcp,tp_src=0x700/0xff80: conjunction(1, 3/4)",
                    "tcp,tp_src=0x780/0xffc0: conjunction(1, 3/4)",
                    "tcp,tp_src=0x7c0/0xfff0: conjunction(1, 3/4)",
                    "tcp,tp_src=1000: conjunction(1, 3/4)",
                    "tcp,tp_src=1001: conjunction(1, 3/4)",
                    "tcp,tp_src=2000: conjunction(1, 3/4)",
                ],
            ),
        ];
        for (text, want) in cases {
            assert_eq!(got(text), expect(want), "{text}");
        }
    }
}

/// Random expressions over two 3-bit subfields and a string field: the compiled matches
/// (with conjunctions, as OVS evaluates them) must accept exactly the packets the expression
/// accepts, checked on every packet (as OVN's `test-ovn exhaustive`).
mod semantic {
    use super::*;
    use crate::lflow::expr::ast::{Cmp, Relop, Value};
    use shared::openflow::{Field, Match};

    struct Rng(u64);
    impl Rng {
        fn next(&mut self, n: u64) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (self.0 >> 33) % n
        }
    }

    const PORTS: [&str; 3] = ["a", "b", "c"];

    /// An expression as text; string comparisons only where no `!` encloses them.
    fn gen(r: &mut Rng, depth: u32, negated: bool) -> String {
        if depth == 0 || r.next(3) == 0 {
            return match r.next(if negated { 3 } else { 4 }) {
                0 | 1 => {
                    let f = if r.next(2) == 0 { "reg0[0..2]" } else { "reg1[3..5]" };
                    let op = ["==", "!=", "<", "<=", ">", ">="][r.next(6) as usize];
                    if op.len() == 2 && op.starts_with(['=', '!']) && r.next(3) == 0 {
                        format!("{f} {op} {{{}, {}}}", r.next(8), r.next(8))
                    } else {
                        format!("{f} {op} {}", r.next(8))
                    }
                }
                2 => format!("reg0[{}]", r.next(3)),
                _ => {
                    if r.next(2) == 0 {
                        format!("inport == \"{}\"", PORTS[r.next(3) as usize])
                    } else {
                        format!("inport == {{\"{}\", \"{}\"}}", PORTS[r.next(3) as usize], PORTS[r.next(3) as usize])
                    }
                }
            };
        }
        match r.next(3) {
            0 => format!("!({})", gen(r, depth - 1, !negated)),
            k => {
                let op = if k == 1 { " && " } else { " || " };
                let n = 2 + r.next(2);
                let parts: Vec<String> = (0..n).map(|_| format!("({})", gen(r, depth - 1, negated))).collect();
                parts.join(op)
            }
        }
    }

    /// (reg0, reg1, inport key)
    type Packet = (u32, u32, u32);

    fn eval(e: &Expr, p: Packet, symtab: &Symtab) -> bool {
        match e {
            Expr::Bool(b) => *b,
            Expr::And(s) => s.iter().all(|x| eval(x, p, symtab)),
            Expr::Or(s) => s.iter().any(|x| eval(x, p, symtab)),
            Expr::Resident { .. } => false,
            Expr::Cmp(Cmp { sym, relop, val }) => {
                let name = symtab.name(*sym);
                let (fv, c) = match val {
                    Value::Str(s) => (p.2, PORTS.iter().position(|x| x == s).map_or(99, |i| i as u32 + 1)),
                    Value::Int { value, mask } => {
                        let f = if name == "reg0" { p.0 } else { p.1 };
                        ((f as u128 & mask) as u32, *value as u32)
                    }
                };
                match relop {
                    Relop::Eq => fv == c,
                    Relop::Ne => fv != c,
                    Relop::Lt => fv < c,
                    Relop::Le => fv <= c,
                    Relop::Gt => fv > c,
                    Relop::Ge => fv >= c,
                }
            }
        }
    }

    fn reg(m: &Match, f: Field) -> Option<(u32, u32)> {
        let (v, k) = m.get(f)?;
        let n = |b: &[u8]| b.iter().fold(0u32, |a, &x| (a << 8) | u32::from(x));
        Some((n(&v), n(&k)))
    }

    fn matches(m: &Match, p: Packet) -> bool {
        [(Field::REG0, p.0), (Field::REG1, p.1), (Field::REG14, p.2)]
            .iter()
            .all(|(f, x)| reg(m, *f).is_none_or(|(v, k)| x & k == v))
    }

    fn flows_accept(c: &Compiled, p: Packet) -> bool {
        for em in &c.matches {
            let conj_id = em.m.get(Field::CONJ_ID).map(|(v, _)| v.iter().fold(0u32, |a, &x| (a << 8) | u32::from(x)));
            match conj_id {
                None if em.conjunctions.is_empty() && matches(&em.m, p) => return true,
                Some(id) if matches(&em.m, p) => {
                    let clauses: Vec<_> = c
                        .matches
                        .iter()
                        .filter(|o| matches(&o.m, p))
                        .flat_map(|o| o.conjunctions.iter().filter(|x| x.id == id))
                        .collect();
                    let n = clauses.first().map_or(0, |x| x.n_clauses);
                    if n > 0 && (1..=n).all(|k| clauses.iter().any(|x| x.clause == k)) {
                        return true;
                    }
                }
                _ => {}
            }
        }
        false
    }

    #[test]
    fn compiled_flows_accept_what_the_expression_accepts() {
        let symtab = Symtab::ovn();
        let mut l = MapLookups::default();
        for (i, p) in PORTS.iter().enumerate() {
            l.ports.insert(p.to_string(), i as u32 + 1);
        }
        let mut r = Rng(0x5eed);
        let mut n_conj = 0;
        for _ in 0..400 {
            let text = gen(&mut r, 3, false);
            let parsed = parser::parse(&text, symtab, &l).unwrap_or_else(|e| panic!("{text}: {e}"));
            let c = compile(&text, &l).unwrap_or_else(|e| panic!("{text}: {e}"));
            n_conj += usize::from(c.n_conjs > 0);
            for r0 in 0..8u32 {
                for r1 in 0..8u32 {
                    for port in 1..=3u32 {
                        // reg1[3..5] holds r1; the other bits stay 0.
                        let p = (r0, r1 << 3, port);
                        let want = eval(&parsed, p, symtab);
                        assert_eq!(flows_accept(&c, p), want, "{text} on reg0={r0} reg1[3..5]={r1} inport={port}");
                    }
                }
            }
        }
        assert!(n_conj > 10, "only {n_conj} expressions used conjunctions");
    }
}
