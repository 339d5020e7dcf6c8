//! The differential test against OVN 23.03: every logical flow of the recorded topologies
//! (flowctl/tests/data/expr/*.txt, written by tests/tests/expr_golden.rs from what the real
//! ovn-controller installed) must compile to the same set of OpenFlow matches.
//!
//! Both sides are normalised through the codec (parse the recorded text, print both with
//! `format_match`), without `metadata` (the translator adds it) and with conjunction ids
//! masked. As ovn-controller does, matches on a logical switch whose inport (ingress) or
//! outport (egress) is not a local port are dropped, and a flow tagged `in_out_port` with a
//! port that is not local is skipped entirely.

use std::collections::{BTreeSet, HashMap};

use shared::openflow::text::{format_match, parse_match};
use shared::openflow::{Field, Match};

use super::lexer::expand_templates;
use super::{compile_with_prereqs, parse_address_set, parse_prereqs, Lookups, Number};

#[derive(Default)]
struct Topology {
    switches: BTreeSet<u32>,
    /// name -> (datapath, key, local, type)
    ports: HashMap<String, (u32, u32, bool, String)>,
    mcgroups: HashMap<(String, u32), u32>,
    address_sets: HashMap<String, Vec<Number>>,
    port_groups: HashMap<String, Vec<String>>,
    /// The port groups with only related ports (what 23.03 gives the expression parser).
    port_groups_local: HashMap<String, Vec<String>>,
    /// Chassis_Template_Var variables of this chassis.
    tvars: HashMap<String, String>,
}

struct Ctx<'a> {
    topo: &'a Topology,
    dp: u32,
}

impl Lookups for Ctx<'_> {
    fn address_set(&self, name: &str) -> Option<&[Number]> {
        self.topo.address_sets.get(name).map(Vec::as_slice)
    }
    fn port_group(&self, name: &str) -> Option<&[String]> {
        let pgs = &self.topo.port_groups_local;
        pgs.get(&format!("{}_{name}", self.dp)).or_else(|| pgs.get(name)).map(Vec::as_slice)
    }
    fn port_key(&self, name: &str) -> Option<u32> {
        if name == "none" {
            return Some(0);
        }
        match self.topo.ports.get(name) {
            Some((dp, key, ..)) if *dp == self.dp => Some(*key),
            _ => self.topo.mcgroups.get(&(name.to_string(), self.dp)).copied(),
        }
    }
    fn is_chassis_resident(&self, port: &str) -> bool {
        self.topo.ports.get(port).is_some_and(|p| p.2)
    }
}

impl Topology {
    /// Ports ovn-controller counts as related to this chassis (`related_lport_ids`).
    fn related(&self, dp: u32, key: u32) -> bool {
        self.ports
            .values()
            .any(|(d, k, local, ty)| *d == dp && *k == key && (*local || RELATED_TYPES.contains(&ty.as_str())))
    }

    fn related_name(&self, name: &str) -> bool {
        self.ports.get(name).is_some_and(|(_, _, local, ty)| *local || RELATED_TYPES.contains(&ty.as_str()))
    }
}

/// Port types related to every chassis that has their datapath (binding.c `related_lports`),
/// as far as the corpus shows.
const RELATED_TYPES: [&str; 3] = ["patch", "localnet", "l2gateway"];

struct LFlow {
    uuid: String,
    dp: u32,
    ingress: bool,
    io_port: Option<String>,
    match_: String,
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
                t.ports.insert(get(1).into(), (num(2), num(3), get(4) == "1", get(5).into()));
            }
            "mcgroup" => {
                t.mcgroups.insert((get(1).into(), num(2)), num(3));
            }
            "addrset" => {
                let vals: Vec<&str> = get(2).split_whitespace().collect();
                t.address_sets.insert(get(1).into(), parse_address_set(&vals));
            }
            "tvar" => {
                t.tvars.insert(get(1).into(), get(2).into());
            }
            "portgroup" => {
                t.port_groups.insert(get(1).into(), get(2).split_whitespace().map(String::from).collect());
            }
            "lflow" => flows.push(LFlow {
                uuid: get(1).into(),
                dp: num(2),
                ingress: get(3) == "ingress",
                io_port: Some(get(6)).filter(|p| *p != "-").map(String::from),
                match_: get(7).into(),
                actions: get(8).into(),
                expect: BTreeSet::new(),
            }),
            "expect" => {
                if let Some(l) = flows.last_mut() {
                    l.expect.insert(normalise_expected(get(1)));
                }
            }
            _ => {}
        }
    }
    t.port_groups_local = t
        .port_groups
        .iter()
        .map(|(k, v)| (k.clone(), v.iter().filter(|p| t.related_name(p)).cloned().collect()))
        .collect();
    (t, flows)
}

fn mask_conj_id(s: &str) -> String {
    s.split(',').map(|f| if f.starts_with("conj_id=") { "conj_id=*" } else { f }).collect::<Vec<_>>().join(",")
}

/// A recorded flow, re-printed through the codec so that both sides print alike.
fn normalise_expected(line: &str) -> String {
    let (m, conj) = match line.split_once(" conjunction(") {
        Some((m, c)) => (m, format!(" conjunction({c}")),
        None => (line, String::new()),
    };
    let m = m.replace("conj_id=*", "conj_id=1");
    match parse_match(&m) {
        Ok(parsed) => format!("{}{conj}", mask_conj_id(&format_match(&parsed, None))),
        Err(e) => format!("UNPARSEABLE({line}: {})", e.0),
    }
}

fn print(m: &Match, conj: Option<(u32, u32)>) -> String {
    let s = mask_conj_id(&format_match(m, None));
    match conj {
        Some((k, n)) => format!("{s} conjunction(*,{k}/{n})"),
        None => s,
    }
}

fn reg(m: &Match, f: Field) -> u32 {
    m.get(f).map_or(0, |(v, _)| v.iter().fold(0u32, |a, &b| (a << 8) | u32::from(b)))
}

/// Prerequisites that 23.03's action parser adds for the actions used in the corpus
/// (lib/actions.c `add_prerequisite`), until the action compiler exists.
fn action_prereqs(actions: &str) -> Option<&'static str> {
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

fn compile_lflow(t: &Topology, l: &LFlow) -> Result<BTreeSet<String>, String> {
    let ctx = Ctx { topo: t, dp: l.dp };
    if let Some(io) = &l.io_port {
        match t.ports.get(io) {
            Some((_, key, ..)) if t.related(l.dp, *key) => {}
            _ => return Ok(BTreeSet::new()),
        }
    }
    let prereqs = action_prereqs(&l.actions).map(parse_prereqs).transpose().map_err(|e| e.0)?;
    let (text, _) = expand_templates(&l.match_, &|n| t.tvars.get(n).cloned());
    let c = compile_with_prereqs(&text, prereqs, &ctx).map_err(|e| e.0)?;
    let port_reg = if l.ingress { Field::REG14 } else { Field::REG15 };
    let mut out = BTreeSet::new();
    for em in &c.matches {
        let key = reg(&em.m, port_reg);
        if t.switches.contains(&l.dp) && key != 0 && !t.related(l.dp, key) {
            continue;
        }
        if em.conjunctions.is_empty() {
            out.insert(print(&em.m, None));
        }
        for cj in &em.conjunctions {
            out.insert(print(&em.m, Some((cj.clause, cj.n_clauses))));
        }
    }
    Ok(out)
}

/// (passed, of which rejected like ovn-controller did, total, failure reports)
fn run(name: &str, text: &str) -> (usize, usize, usize, Vec<String>) {
    let (t, flows) = load(text);
    let (mut pass, mut rejected) = (0, 0);
    let mut failures = Vec::new();
    for l in &flows {
        match compile_lflow(&t, l) {
            Ok(got) if got == l.expect => pass += 1,
            Ok(got) => {
                let missing: Vec<_> = l.expect.difference(&got).collect();
                let extra: Vec<_> = got.difference(&l.expect).collect();
                failures.push(format!(
                    "{name} {} dp {} `{}' [{}]\n  missing {missing:?}\n  extra {extra:?}",
                    l.uuid, l.dp, l.match_, l.actions
                ));
            }
            // ovn-controller logs a match it cannot parse and installs nothing for it.
            Err(_) if l.expect.is_empty() => {
                pass += 1;
                rejected += 1;
            }
            Err(e) => failures.push(format!("{name} {} `{}': error {e}", l.uuid, l.match_)),
        }
    }
    (pass, rejected, flows.len(), failures)
}

const CORPUS: [(&str, &str); 8] = [
    ("extras", include_str!("../../../tests/data/expr/extras.txt")),
    ("switch", include_str!("../../../tests/data/expr/switch.txt")),
    ("acl", include_str!("../../../tests/data/expr/acl.txt")),
    ("acl2", include_str!("../../../tests/data/expr/acl2.txt")),
    ("router", include_str!("../../../tests/data/expr/router.txt")),
    ("lb", include_str!("../../../tests/data/expr/lb.txt")),
    ("multi_hv", include_str!("../../../tests/data/expr/multi_hv.txt")),
    ("services", include_str!("../../../tests/data/expr/services.txt")),
];

#[test]
fn golden_corpus_matches_ovn_controller() {
    let (mut pass, mut total, mut failures) = (0, 0, Vec::new());
    for (name, text) in CORPUS {
        let (p, r, n, f) = run(name, text);
        eprintln!("{name}: {p}/{n} logical flows compile to ovn-controller's matches ({r} rejected, as it did)");
        pass += p;
        total += n;
        failures.extend(f);
    }
    for f in &failures {
        eprintln!("{f}");
    }
    eprintln!("total: {pass}/{total}");
    assert!(total > 0);
    assert!(failures.is_empty(), "{} of {total} logical flows differ (see stderr)", failures.len());
}

/// Compile time over the corpus: `cargo test --release -p flowctl golden_timing -- --ignored --nocapture`.
#[test]
#[ignore = "timing, not a check"]
fn golden_timing() {
    let loaded: Vec<(Topology, Vec<LFlow>)> = CORPUS.iter().map(|(_, t)| load(t)).collect();
    let n: usize = loaded.iter().map(|(_, f)| f.len()).sum();
    let rounds = 20;
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        for (t, flows) in &loaded {
            for l in flows {
                let _ = compile_lflow(t, l);
            }
        }
    }
    let per = start.elapsed() / (rounds * n as u32);
    eprintln!("{n} logical flows x {rounds}: {per:?} per logical flow");
}

/// The worst case OVN shares: `!=` against a set ANDs one disjunction per value, which
/// crushing multiplies out. `cargo test --release -p flowctl ne_set_timing -- --ignored --nocapture`.
#[test]
#[ignore = "timing, not a check"]
fn ne_set_timing() {
    for n in 2..=5u32 {
        let set: Vec<String> = (1..=n).map(|i| format!("10.0.0.{i}")).collect();
        let text = format!("ip4.dst != {{{}}}", set.join(", "));
        let start = std::time::Instant::now();
        let c = super::compile(&text, &super::NoLookups);
        let flows = c.map(|c| c.matches.len()).unwrap_or(0);
        eprintln!("{text}: {flows} flows in {:?}", start.elapsed());
    }
}
