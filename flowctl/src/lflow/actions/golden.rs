//! The differential test against OVN 23.03: every logical flow of the recorded topologies
//! (flowctl/tests/data/actions/*.txt, written by tests/tests/actions_golden.rs from what the
//! real ovn-controller installed) must encode to the same OpenFlow actions.
//!
//! Both sides print through the codec (the recorded text is parsed and re-printed); group
//! and meter ids are masked (`group:*`, `meter_id=*`, `meter:*`), as they depend on allocation order.
//! Logical flows for which ovn-controller installed nothing (ports not on this chassis,
//! matches it rejected) are not counted.

use std::collections::{BTreeSet, HashMap, HashSet};

use shared::openflow::text::{format_actions, parse_actions};

use super::super::expr::lexer::expand_templates;
use super::*;

#[derive(Default)]
struct Topology {
    switches: HashSet<u32>,
    /// (datapath, name) -> key; multicast groups too.
    ports: HashMap<(u32, String), u32>,
    /// Chassis_Template_Var variables of this chassis.
    tvars: HashMap<String, String>,
}

struct LFlow {
    uuid: String,
    dp: u32,
    ingress: bool,
    table: u8,
    actions: String,
    expect: BTreeSet<String>,
}

fn load(text: &str) -> (Topology, Vec<LFlow>) {
    let mut t = Topology::default();
    let mut flows: Vec<LFlow> = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let get = |i: usize| f.get(i).copied().unwrap_or("");
        let num = |i: usize| get(i).parse::<u32>().unwrap_or(0);
        match get(0) {
            "dp" if get(2) == "switch" => {
                t.switches.insert(num(1));
            }
            "port" => {
                t.ports.insert((num(2), get(1).into()), num(3));
            }
            "mcgroup" => {
                t.ports.insert((num(2), get(1).into()), num(3));
            }
            "tvar" => {
                t.tvars.insert(get(1).into(), get(2).into());
            }
            "lflow" => flows.push(LFlow {
                uuid: get(1).into(),
                dp: num(2),
                ingress: get(3) == "ingress",
                table: get(4).parse().unwrap_or(0),
                actions: get(8).into(),
                expect: BTreeSet::new(),
            }),
            "expect" => {
                if let Some(l) = flows.last_mut() {
                    l.expect.insert(normalise(&canon(get(1))));
                }
            }
            _ => {}
        }
    }
    (t, flows)
}

fn canon(text: &str) -> String {
    match parse_actions(text) {
        Ok(mut a) => {
            // ovs-ofctl reads `dec_ttl()` as plain `dec_ttl` (as OVS does); the dump shows
            // `dec_ttl()` for the id-less NXAST_DEC_TTL_CNT_IDS that 23.03 installs.
            if text.contains("dec_ttl()") {
                for x in a.iter_mut().filter(|x| **x == shared::openflow::Action::DecTtl(None)) {
                    *x = shared::openflow::Action::DecTtl(Some(Vec::new()));
                }
            }
            format_actions(&a)
        }
        Err(e) => format!("UNPARSEABLE({text}: {})", e.0),
    }
}

/// Masks the digits after `group:`, `meter_id=` and `meter:`.
fn normalise(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    loop {
        let next = ["group:", "meter_id=", "meter:"].iter().filter_map(|k| rest.find(k).map(|i| (i, k.len()))).min();
        let Some((i, klen)) = next else {
            out.push_str(rest);
            return out;
        };
        let (head, tail) = rest.split_at(i + klen);
        out.push_str(head);
        let digits = tail.len() - tail.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 {
            out.push('*');
        }
        rest = tail.get(digits..).unwrap_or("");
    }
}

enum Outcome {
    Pass,
    Unsupported(String),
    Fail(String),
    NotInstalled,
}

fn check(t: &Topology, l: &LFlow) -> Outcome {
    if l.expect.is_empty() {
        return Outcome::NotInstalled;
    }
    let options = OptionTables::ovn_23_03();
    let ctx = ParseCtx { ingress: l.ingress, table: l.table, n_tables: tables::LOG_PIPELINE_LEN, options: &options };
    // As for matches, ovn-controller expands ^templates before parsing.
    let (text, _) = expand_templates(&l.actions, &|n| t.tvars.get(n).cloned());
    let parsed = match parse(&text, ctx) {
        Ok(p) => p,
        Err(e) if e.0.contains("unsupported") => return Outcome::Unsupported(e.0),
        Err(e) => return Outcome::Fail(format!("{} [{}]: error {e}", l.uuid, l.actions)),
    };
    let mut g = |_: &str| 1;
    let mut m = |_: &str| 1;
    let dp = l.dp;
    let port_key = |p: &str| t.ports.get(&(dp, p.to_string())).copied();
    let mut ectx = EncodeCtx {
        ingress: l.ingress,
        is_switch: t.switches.contains(&l.dp),
        snat_ct_zone_set: false,
        ctrl_meter: None,
        output_table: output_table(l.ingress),
        features: Features::OVS_3_1,
        port_key: &port_key,
        tunnel_ofport: &|_| None,
        lflow_uuid: &l.uuid,
        dp_key: l.dp,
        collector_ids: &|_| false,
        group_id: &mut g,
        meter_id: &mut m,
    };
    let got = normalise(&format_actions(&encode(&parsed.actions, &mut ectx)));
    if l.expect.contains(&got) {
        Outcome::Pass
    } else {
        Outcome::Fail(format!("{} dp {} [{}]\n  want {:?}\n  have {got}", l.uuid, l.dp, l.actions, l.expect))
    }
}

const CORPUS: [(&str, &str); 9] = [
    ("switch", include_str!("../../../tests/data/actions/switch.txt")),
    ("acl", include_str!("../../../tests/data/actions/acl.txt")),
    ("acl2", include_str!("../../../tests/data/actions/acl2.txt")),
    ("router", include_str!("../../../tests/data/actions/router.txt")),
    ("lb", include_str!("../../../tests/data/actions/lb.txt")),
    ("multi_hv", include_str!("../../../tests/data/actions/multi_hv.txt")),
    ("services", include_str!("../../../tests/data/actions/services.txt")),
    ("extras", include_str!("../../../tests/data/actions/extras.txt")),
    ("ecmp_affinity", include_str!("../../../tests/data/actions/ecmp_affinity.txt")),
];

#[test]
fn golden_corpus_matches_ovn_controller() {
    let (mut pass, mut total) = (0, 0);
    let mut failures = Vec::new();
    let mut unsupported: HashMap<String, usize> = HashMap::new();
    for (name, text) in CORPUS {
        let (t, flows) = load(text);
        let (mut p, mut n) = (0, 0);
        for l in &flows {
            match check(&t, l) {
                Outcome::NotInstalled => continue,
                Outcome::Pass => p += 1,
                Outcome::Unsupported(e) => *unsupported.entry(e).or_default() += 1,
                Outcome::Fail(f) => failures.push(format!("{name} {f}")),
            }
            n += 1;
        }
        eprintln!("{name}: {p}/{n} installed logical flows encode to ovn-controller's actions");
        pass += p;
        total += n;
    }
    for f in &failures {
        eprintln!("{f}");
    }
    let mut u: Vec<_> = unsupported.into_iter().collect();
    u.sort();
    for (e, n) in &u {
        eprintln!("unsupported: {n} x {e}");
    }
    eprintln!(
        "total: {pass}/{total} alike, {} unsupported, {} differ",
        u.iter().map(|(_, n)| n).sum::<usize>(),
        failures.len()
    );
    assert!(total > 0);
    // Actions this module does not encode yet are counted apart, as unsupported.
    assert!(failures.is_empty(), "{} of {total} logical flows differ (see stderr)", failures.len());
}

#[test]
fn normalise_masks_ids() {
    assert_eq!(normalise("group:12,controller(meter_id=3,userdata=00)"), "group:*,controller(meter_id=*,userdata=00)");
    assert_eq!(normalise("resubmit(,9)"), "resubmit(,9)");
}

/// The prerequisites the parser derives must give the matches ovn-controller installed. The
/// expression corpus (flowctl/tests/data/expr, matches recorded from ovn-controller) was
/// verified with a hand-written approximation of the action prerequisites (expr/golden.rs
/// `action_prereqs`, copied here as `approx_prereqs`): for every logical flow, the match
/// compiled with the parser's prerequisites must equal the match compiled with those.
#[test]
fn prerequisites_give_the_recorded_matches() {
    use super::super::expr::{compile_with_prereqs, parse_address_set, parse_prereqs, MapLookups};
    use shared::openflow::text::format_match;

    fn approx_prereqs(actions: &str) -> Option<&'static str> {
        let ip = ["ct_next", "ct_commit", "ct_lb", "ct_dnat", "ct_snat", "ip.ttl--", "ct_clear"];
        if actions.contains("icmp4 {")
            || actions.contains("icmp4_error")
            || actions.contains("arp {")
            || actions.contains("ip4.")
        {
            Some("ip4")
        } else if actions.contains("icmp6 {") || actions.contains("icmp6_error") || actions.contains("ip6.") {
            Some("ip6")
        } else if actions.contains("tcp_reset") {
            Some("tcp")
        } else if ip.iter().any(|a| actions.contains(a)) {
            Some("ip")
        } else {
            None
        }
    }

    let corpus = [
        include_str!("../../../tests/data/expr/switch.txt"),
        include_str!("../../../tests/data/expr/acl.txt"),
        include_str!("../../../tests/data/expr/acl2.txt"),
        include_str!("../../../tests/data/expr/router.txt"),
        include_str!("../../../tests/data/expr/lb.txt"),
        include_str!("../../../tests/data/expr/multi_hv.txt"),
        include_str!("../../../tests/data/expr/services.txt"),
        include_str!("../../../tests/data/expr/extras.txt"),
    ];
    let options = OptionTables::ovn_23_03();
    let (mut same, mut total) = (0, 0);
    let mut differ = Vec::new();
    for text in corpus {
        let mut lookups: HashMap<u32, MapLookups> = HashMap::new();
        let mut shared_l = MapLookups::default();
        let mut tvars: HashMap<String, String> = HashMap::new();
        let mut flows = Vec::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            let get = |i: usize| f.get(i).copied().unwrap_or("");
            let num = |i: usize| get(i).parse::<u32>().unwrap_or(0);
            match get(0) {
                "port" | "mcgroup" => {
                    let (dp, key) = (num(2), num(3));
                    lookups.entry(dp).or_default().ports.insert(get(1).into(), key);
                    if get(0) == "port" && get(4) == "1" {
                        shared_l.resident.push(get(1).into());
                    }
                }
                "addrset" => {
                    let vals: Vec<&str> = get(2).split_whitespace().collect();
                    shared_l.address_sets.insert(get(1).into(), parse_address_set(&vals));
                }
                "portgroup" => {
                    shared_l.port_groups.insert(get(1).into(), get(2).split_whitespace().map(String::from).collect());
                }
                "tvar" => {
                    tvars.insert(get(1).into(), get(2).into());
                }
                "lflow" => flows.push((num(2), get(3) == "ingress", get(4).parse::<u8>().unwrap_or(0), get(7), get(8))),
                _ => {}
            }
        }
        for (dp, ingress, table, m, a) in flows {
            let mut l = shared_l.clone();
            l.ports = lookups.get(&dp).map(|x| x.ports.clone()).unwrap_or_default();
            let (a, _) = expand_templates(a, &|n| tvars.get(n).cloned());
            let (m, _) = expand_templates(m, &|n| tvars.get(n).cloned());
            let ctx = ParseCtx { ingress, table, n_tables: tables::LOG_PIPELINE_LEN, options: &options };
            let Ok(parsed) = parse(&a, ctx) else { continue };
            let print = |p: Option<String>| -> String {
                let pre = match p.map(|p| parse_prereqs(&p)).transpose() {
                    Ok(pre) => pre,
                    Err(e) => return format!("prereq error {}", e.0),
                };
                match compile_with_prereqs(&m, pre, &l) {
                    Ok(c) => {
                        let mut v: Vec<String> = c
                            .matches
                            .iter()
                            .map(|em| format!("{} {}", format_match(&em.m, None), em.conjunctions.len()))
                            .collect();
                        v.sort();
                        v.join(" | ")
                    }
                    Err(e) => format!("error {}", e.0),
                }
            };
            total += 1;
            let (mine, approx) = (print(parsed.prereqs_text()), print(approx_prereqs(&a).map(String::from)));
            if mine == approx {
                same += 1;
            } else {
                differ.push(format!("`{m}' [{a}] prereqs {:?}\n  parser: {mine}\n  approx: {approx}", parsed.prereqs));
            }
        }
    }
    for d in &differ {
        eprintln!("{d}");
    }
    eprintln!("prerequisites: {same}/{total} logical flows compile to the same matches");
    assert!(total > 0);
    assert!(differ.is_empty(), "{} logical flows compile differently (see stderr)", differ.len());
}
