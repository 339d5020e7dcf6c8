//! Normalisation (`expr_normalize` in OVN 23.03 lib/expr.c): the simplified expression
//! becomes OR(AND(clause)), where a clause is one comparison or a disjunction of comparisons
//! on a single symbol. Terms over one symbol are "crushed" together (`x[0] == 1 && x[1] == 1`
//! is `x[0..1] == 3`, contradictions become false), and a disjunction is only distributed
//! over its siblings (cross product) when it mentions several symbols or a symbol marked
//! `must_crossproduct`; otherwise it stays a clause, which [`super::to_matches`] turns into a
//! conjunctive match.

use std::collections::BTreeSet;

use super::ast::{AndOr, Cmp, Expr, Relop, Value};
use super::symtab::{SymId, Symtab};

/// Intersection of two masked values, `None` if they contradict (`mf_subvalue_intersect`).
pub fn intersect(a: (u128, u128), b: (u128, u128)) -> Option<(u128, u128)> {
    let common = a.1 & b.1;
    if (a.0 ^ b.0) & common != 0 {
        None
    } else {
        Some((a.0 | b.0, a.1 | b.1))
    }
}

fn int_of(e: &Expr) -> Option<(u128, u128)> {
    match e {
        Expr::Cmp(Cmp { val: Value::Int { value, mask }, .. }) => Some((*value, *mask)),
        _ => None,
    }
}

fn cmp_int(sym: SymId, (value, mask): (u128, u128)) -> Expr {
    Expr::Cmp(Cmp { sym, relop: Relop::Eq, val: Value::Int { value, mask } })
}

fn cmp_str(sym: SymId, s: String) -> Expr {
    Expr::Cmp(Cmp { sym, relop: Relop::Eq, val: Value::Str(s) })
}

fn is_numeric(symtab: &Symtab, sym: SymId) -> bool {
    symtab.get(sym).is_some_and(|s| s.width > 0)
}

/// Reduces an expression over the single symbol `sym` to one comparison, a disjunction of
/// comparisons, or a Boolean (`crush_cmps`).
fn crush(e: Expr, sym: SymId, symtab: &Symtab) -> Expr {
    match e {
        Expr::Or(subs) => crush_or(subs, sym, symtab),
        Expr::And(subs) if is_numeric(symtab, sym) => crush_and_numeric(subs, sym, symtab),
        Expr::And(subs) => crush_and_string(subs, sym, symtab),
        e => e,
    }
}

fn crush_or(subs: Vec<Expr>, sym: SymId, symtab: &Symtab) -> Expr {
    let mut out = Vec::with_capacity(subs.len());
    for s in subs {
        Expr::push_flat(AndOr::Or, &mut out, crush(s, sym, symtab));
    }
    let mut subs = match Expr::Or(out).fix() {
        Expr::Or(s) => s,
        other => return other,
    };
    // Sort by value and mask (or string) and drop duplicates.
    subs.sort_by(|a, b| key(a).cmp(&key(b)));
    subs.dedup_by(|a, b| key(a) == key(b));
    Expr::Or(subs).fix()
}

fn key(e: &Expr) -> Option<&Value> {
    match e {
        Expr::Cmp(c) => Some(&c.val),
        _ => None,
    }
}

fn crush_and_string(subs: Vec<Expr>, sym: SymId, symtab: &Symtab) -> Expr {
    let mut singleton: Option<String> = None;
    let mut ors: Vec<Vec<Expr>> = Vec::new();
    for s in subs {
        match crush(s, sym, symtab) {
            Expr::Cmp(Cmp { val: Value::Str(st), .. }) => match &singleton {
                None => singleton = Some(st),
                Some(x) if *x == st => {}
                Some(_) => return Expr::Bool(false),
            },
            Expr::Or(o) => ors.push(o),
            Expr::Bool(false) => return Expr::Bool(false),
            _ => {}
        }
    }
    let strings = |o: &Vec<Expr>| -> BTreeSet<String> {
        o.iter()
            .filter_map(|e| match e {
                Expr::Cmp(Cmp { val: Value::Str(s), .. }) => Some(s.clone()),
                _ => None,
            })
            .collect()
    };
    if let Some(s) = singleton {
        if ors.iter().any(|o| !strings(o).contains(&s)) {
            return Expr::Bool(false);
        }
        return cmp_str(sym, s);
    }
    let mut result: Option<BTreeSet<String>> = None;
    for o in &ors {
        let set = strings(o);
        let r = match result {
            None => set,
            Some(r) => r.intersection(&set).cloned().collect(),
        };
        if r.is_empty() {
            return Expr::Bool(false);
        }
        result = Some(r);
    }
    let subs: Vec<Expr> = result.unwrap_or_default().into_iter().map(|s| cmp_str(sym, s)).collect();
    Expr::Or(subs).fix()
}

fn crush_and_numeric(subs: Vec<Expr>, sym: SymId, symtab: &Symtab) -> Expr {
    let mut acc = (0u128, 0u128);
    let mut ors: Vec<Vec<Expr>> = Vec::new();
    for s in subs {
        match crush(s, sym, symtab) {
            e @ Expr::Cmp(_) => match int_of(&e).and_then(|v| intersect(acc, v)) {
                Some(a) => acc = a,
                None => return Expr::Bool(false),
            },
            Expr::Or(o) => ors.push(o),
            Expr::Bool(false) => return Expr::Bool(false),
            _ => {}
        }
    }
    let mut ors = ors.into_iter();
    let Some(first) = ors.next() else {
        return if acc.1 == 0 { Expr::Bool(true) } else { cmp_int(sym, acc) };
    };
    let Some(second) = ors.next() else {
        // a && (b || c || d) is ab || ac || ad.
        let mut out: Vec<Expr> =
            first.iter().filter_map(|b| intersect(acc, int_of(b)?)).map(|v| cmp_int(sym, v)).collect();
        return match out.len() {
            0 => Expr::Bool(false),
            1 => out.pop().unwrap_or(Expr::Bool(false)),
            _ => crush(Expr::Or(out), sym, symtab),
        };
    };
    // x && (a0 || a1) && (b0 || b1) && rest is (xa0b0 || xa0b1 || xa1b0 || xa1b1) && rest.
    let mut out = Vec::new();
    for a in &first {
        let Some(xa) = int_of(a).and_then(|a| intersect(acc, a)) else { continue };
        for b in &second {
            if let Some(v) = int_of(b).and_then(|b| intersect(xa, b)) {
                out.push(cmp_int(sym, v));
            }
        }
    }
    let rest: Vec<Expr> = ors.map(Expr::Or).collect();
    match out.len() {
        0 => Expr::Bool(false),
        1 => {
            let cmp = out.pop().unwrap_or(Expr::Bool(false));
            if rest.is_empty() {
                crush(cmp, sym, symtab)
            } else {
                let mut subs = vec![cmp];
                subs.extend(rest);
                crush(Expr::And(subs), sym, symtab)
            }
        }
        _ if !rest.is_empty() => {
            let mut subs = vec![Expr::Or(out)];
            subs.extend(rest);
            crush(Expr::And(subs), sym, symtab)
        }
        _ => crush(Expr::Or(out), sym, symtab),
    }
}

/// Sort rank of a term of an And: comparisons (by symbol name) first, then Ands, Ors
/// (by length), Booleans, conditions (`compare_expr_sort`).
fn rank(e: &Expr) -> u8 {
    match e {
        Expr::Cmp(_) => 0,
        Expr::And(_) => 1,
        Expr::Or(_) => 2,
        Expr::Bool(_) => 3,
        Expr::Resident { .. } => 4,
    }
}

fn n_subs(e: &Expr) -> usize {
    match e {
        Expr::And(s) | Expr::Or(s) => s.len(),
        _ => 0,
    }
}

/// Groups and crushes the terms of an And that concern one symbol (`expr_sort`).
fn sort_and(subs: Vec<Expr>, symtab: &Symtab) -> Expr {
    let mut items: Vec<(Option<SymId>, Expr)> = subs.into_iter().map(|e| (e.unique_symbol(), e)).collect();
    items.sort_by(|(sa, a), (sb, b)| {
        let ra = if sa.is_some() { 0 } else { rank(a) };
        let rb = if sb.is_some() { 0 } else { rank(b) };
        ra.cmp(&rb).then_with(|| match (sa, sb) {
            (Some(x), Some(y)) => symtab.name(*x).cmp(symtab.name(*y)),
            _ if ra == 1 || ra == 2 => n_subs(a).cmp(&n_subs(b)),
            _ => std::cmp::Ordering::Equal,
        })
    });
    let mut result: Option<Expr> = None;
    let mut it = items.into_iter().peekable();
    while let Some((sym, e)) = it.next() {
        let Some(sym) = sym else {
            result = Some(Expr::combine(AndOr::And, result, e));
            continue;
        };
        let mut group = vec![e];
        while let Some((Some(s2), _)) = it.peek() {
            if *s2 != sym {
                break;
            }
            if let Some((_, e2)) = it.next() {
                group.push(e2);
            }
        }
        let combined = if group.len() == 1 {
            group.pop().unwrap_or(Expr::Bool(true))
        } else {
            group.into_iter().fold(None, |acc, e| Some(Expr::combine(AndOr::And, acc, e))).unwrap_or(Expr::Bool(true))
        };
        match crush(combined, sym, symtab) {
            Expr::Bool(false) => return Expr::Bool(false),
            Expr::Bool(true) => {}
            c => result = Some(Expr::combine(AndOr::And, result, c)),
        }
    }
    result.unwrap_or(Expr::Bool(true))
}

fn normalize_and(subs: Vec<Expr>, symtab: &Symtab) -> Expr {
    let subs = match sort_and(subs, symtab) {
        Expr::And(s) => s,
        other => return other,
    };
    // Merge adjacent comparisons on one symbol.
    let mut merged: Vec<Expr> = Vec::with_capacity(subs.len());
    for b in subs {
        if let (Some(Expr::Cmp(a)), Expr::Cmp(bc)) = (merged.last(), &b) {
            if a.sym == bc.sym {
                let m = match (&a.val, &bc.val) {
                    (Value::Int { value: av, mask: am }, Value::Int { value: bv, mask: bm }) => {
                        intersect((*av, *am), (*bv, *bm)).map(|v| cmp_int(bc.sym, v))
                    }
                    (Value::Str(x), Value::Str(y)) if x == y => Some(b.clone()),
                    _ => None,
                };
                match m {
                    Some(m) => {
                        merged.pop();
                        merged.push(m);
                        continue;
                    }
                    None => return Expr::Bool(false),
                }
            }
        }
        merged.push(b);
    }
    if merged.len() == 1 {
        return merged.pop().unwrap_or(Expr::Bool(true));
    }
    for (i, sub) in merged.iter().enumerate() {
        let Expr::Or(ks) = sub else { continue };
        let cross = match sub.unique_symbol() {
            None => true,
            Some(s) => symtab.get(s).is_some_and(|s| s.must_crossproduct),
        };
        if !cross {
            continue;
        }
        let mut or = Vec::with_capacity(ks.len());
        for k in ks {
            let mut and = Vec::with_capacity(merged.len());
            for (j, m) in merged.iter().enumerate() {
                let term = if j == i { k } else { m };
                match term {
                    Expr::And(ps) => and.extend(ps.iter().cloned()),
                    t => and.push(t.clone()),
                }
            }
            or.push(Expr::And(and));
        }
        return normalize_or(or, symtab);
    }
    Expr::And(merged)
}

fn normalize_or(subs: Vec<Expr>, symtab: &Symtab) -> Expr {
    let mut out = Vec::with_capacity(subs.len());
    for s in subs {
        match s {
            Expr::And(a) => match normalize_and(a, symtab) {
                Expr::Bool(true) => return Expr::Bool(true),
                Expr::Bool(false) => {}
                n => Expr::push_flat(AndOr::Or, &mut out, n),
            },
            s => out.push(s),
        }
    }
    match out.len() {
        0 => Expr::Bool(false),
        1 => out.pop().unwrap_or(Expr::Bool(false)),
        _ => Expr::Or(out),
    }
}

/// Normalises a simplified expression whose conditions were evaluated.
pub fn normalize(e: Expr, symtab: &Symtab) -> Expr {
    match e {
        Expr::And(subs) => normalize_and(subs, symtab),
        Expr::Or(subs) => normalize_or(subs, symtab),
        e => e,
    }
}
