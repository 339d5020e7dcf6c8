//! Fuzzes the Logical_Flow match compiler (flowctl/src/lflow/expr): any input must give
//! matches or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code, unused_imports)]
#[path = "../../flowctl/src/lflow/expr/mod.rs"]
mod expr;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut l = expr::MapLookups::default();
    l.ports.insert("lp1".into(), 1);
    l.ports.insert("lp2".into(), 2);
    l.port_groups.insert("pg1".into(), vec!["lp1".into(), "lp2".into(), "lp3".into()]);
    l.address_sets.insert("as1".into(), expr::parse_address_set(&["10.0.0.1", "10.0.0.0/8", "fe80::1"]));
    l.address_sets.insert("as4".into(), expr::parse_address_set(&["10.0.0.1", "10.0.0.2", "192.168.0.0/16"]));
    l.resident.push("lp1".into());
    let (text, _) = expr::lexer::expand_templates(&text, &|n| (n == "t").then(|| "10.0.0.1".to_string()));
    let symtab = expr::Symtab::ovn();
    if let Ok(e) = expr::parser::parse(&text, symtab, &l) {
        // What is printed parses back.
        let printed = e.format(symtab);
        if let Err(err) = expr::parser::parse(&printed, symtab, &l) {
            panic!("{text:?} printed as {printed:?} does not parse: {err}");
        }
    }
    let _ = expr::compile(&text, &l);
});
