//! Annotation (`expr_annotate`): subfields become their parent field with shifted bits,
//! predicates are replaced by their (annotated) expansion, and each symbol's prerequisites
//! are ANDed in (once per And/Or whose terms all concern one symbol). Then simplification
//! (`expr_simplify`): every comparison becomes an equality under a mask, and conditions
//! (`is_chassis_resident`) are evaluated (`expr_evaluate_condition`).

use std::collections::HashMap;
use std::sync::OnceLock;

use super::ast::{AndOr, Cmp, Expr, Relop, Value};
use super::parser::parse;
use super::symtab::{SymId, SymbolKind, Symtab};
use super::{ExprError, NoLookups};

type R<T> = Result<T, ExprError>;

/// Symbols being expanded (to detect recursion), and whether the expansion cache may be used
/// (not while it is being built).
struct Nesting {
    syms: Vec<SymId>,
    cached: bool,
}

/// The annotated expansions of every prerequisite and predicate of the OVN symbol table,
/// computed once: they depend on the symbol table only.
fn expansion_cache() -> &'static HashMap<&'static str, Expr> {
    static CACHE: OnceLock<HashMap<&'static str, Expr>> = OnceLock::new();
    CACHE.get_or_init(|| {
        let symtab = Symtab::ovn();
        let mut texts: Vec<&'static str> = symtab.symbols.iter().filter_map(|s| s.prereqs).collect();
        texts.extend(symtab.symbols.iter().filter_map(|s| match s.kind {
            SymbolKind::Predicate(p) => Some(p),
            _ => None,
        }));
        texts
            .into_iter()
            .filter_map(|t| {
                Some((
                    t,
                    parse_and_annotate_uncached(t, symtab, &mut Nesting { syms: Vec::new(), cached: false }).ok()?,
                ))
            })
            .collect()
    })
}

fn parse_and_annotate(s: &'static str, symtab: &Symtab, nesting: &mut Nesting) -> R<Expr> {
    if nesting.cached && std::ptr::eq(symtab, Symtab::ovn()) {
        if let Some(e) = expansion_cache().get(s) {
            return Ok(e.clone());
        }
    }
    parse_and_annotate_uncached(s, symtab, nesting)
}

fn parse_and_annotate_uncached(s: &str, symtab: &Symtab, nesting: &mut Nesting) -> R<Expr> {
    let e = parse(s, symtab, &NoLookups).and_then(|e| annotate_(e, symtab, true, nesting));
    e.map_err(|err| {
        ExprError(format!(
            "Error parsing expression `{s}' encountered as prerequisite or predicate of initial expression: {}",
            err.0
        ))
    })
}

/// Annotates a parsed expression.
pub fn annotate(e: Expr, symtab: &Symtab) -> R<Expr> {
    annotate_(e, symtab, true, &mut Nesting { syms: Vec::new(), cached: true })
}

fn annotate_cmp(mut c: Cmp, symtab: &Symtab, append_prereqs: bool, nesting: &mut Nesting) -> R<Expr> {
    let Some(sym) = symtab.get(c.sym) else {
        return Err(ExprError("unknown symbol".into()));
    };
    if nesting.syms.contains(&c.sym) {
        return Err(ExprError(format!("Recursive expansion of symbol `{}'.", sym.name)));
    }
    nesting.syms.push(c.sym);
    let r = (|| {
        let prereqs = match sym.prereqs {
            Some(p) if append_prereqs => Some(parse_and_annotate(p, symtab, nesting)?),
            _ => None,
        };
        let e = match &sym.kind {
            SymbolKind::Subfield { parent, ofs } => {
                c.sym = *parent;
                if let Value::Int { value, mask } = &mut c.val {
                    *value = value.checked_shl(*ofs).unwrap_or(0);
                    *mask = mask.checked_shl(*ofs).unwrap_or(0);
                }
                Expr::Cmp(c)
            }
            SymbolKind::Predicate(text) => {
                let pred = parse_and_annotate(text, symtab, nesting)?;
                let bit = matches!(c.val, Value::Int { value, .. } if value & 1 != 0);
                if bit ^ (c.relop == Relop::Ne) {
                    pred
                } else {
                    pred.not()
                }
            }
            _ => Expr::Cmp(c),
        };
        Ok(match prereqs {
            Some(p) => Expr::combine(AndOr::And, Some(e), p),
            None => e,
        })
    })();
    nesting.syms.pop();
    r
}

fn annotate_(e: Expr, symtab: &Symtab, mut append_prereqs: bool, nesting: &mut Nesting) -> R<Expr> {
    match e {
        Expr::Cmp(c) => annotate_cmp(c, symtab, append_prereqs, nesting),
        Expr::And(_) | Expr::Or(_) => {
            let mut e = e;
            if append_prereqs {
                if let Some(sym) = e.unique_symbol() {
                    append_prereqs = false;
                    if let Some(p) = symtab.get(sym).and_then(|s| s.prereqs) {
                        let p = parse_and_annotate(p, symtab, nesting)?;
                        e = Expr::combine(AndOr::And, Some(e), p);
                    }
                }
            }
            let kind = if matches!(e, Expr::And(_)) { AndOr::And } else { AndOr::Or };
            let subs = e.into_subs();
            let mut out = Vec::with_capacity(subs.len());
            for s in subs {
                let n = annotate_(s, symtab, append_prereqs, nesting)?;
                Expr::push_flat(kind, &mut out, n);
            }
            Ok(Expr::make(kind, out))
        }
        e => Ok(e),
    }
}

fn width(symtab: &Symtab, sym: SymId) -> u32 {
    symtab.get(sym).map_or(0, |s| s.width)
}

fn field_mask(w: u32) -> u128 {
    if w >= 128 {
        u128::MAX
    } else {
        (1u128 << w) - 1
    }
}

fn eq(sym: SymId, value: u128, mask: u128) -> Expr {
    Expr::Cmp(Cmp { sym, relop: Relop::Eq, val: Value::Int { value: value & mask, mask } })
}

fn simplify_ne(sym: SymId, value: u128, mask: u128, w: u32) -> Expr {
    let mut new: Option<Expr> = None;
    for i in 0..w.min(128) {
        let bit = 1u128 << i;
        if mask & bit != 0 {
            new = Some(Expr::combine(AndOr::Or, new, eq(sym, !value & bit, bit)));
        }
    }
    new.unwrap_or(Expr::Bool(false))
}

/// `<`, `<=`, `>`, `>=` against a contiguous mask, as a disjunction of masked equalities.
fn simplify_relational(sym: SymId, relop: Relop, value: u128, mask: u128, w: u32) -> Expr {
    let w = w.min(128);
    let start = (0..w).find(|&i| mask & (1u128 << i) != 0).unwrap_or(w);
    let end = (start..w).find(|&i| mask & (1u128 << i) == 0).unwrap_or(w);
    let lt = matches!(relop, Relop::Lt | Relop::Le);
    let with_eq = matches!(relop, Relop::Le | Relop::Ge);
    let bit = |v: u128, i: u32| v & (1u128 << i) != 0;
    // Value all-ones (for <) or all-zeros (for >) within the range.
    if (start..end).all(|i| bit(value, i) == lt) {
        return if with_eq { Expr::Bool(true) } else { simplify_ne(sym, value, mask, w) };
    }
    let mut new: Option<Expr> = if with_eq { Some(eq(sym, value, mask)) } else { None };
    for z in (start..end).filter(|&z| bit(value, z) == lt) {
        let low = field_mask(z) & !field_mask(start);
        let v = (value ^ (1u128 << z)) & !low;
        let m = mask & !low;
        new = Some(Expr::combine(AndOr::Or, new, eq(sym, v, m)));
    }
    new.unwrap_or(Expr::Bool(false))
}

/// Reduces every comparison to masked equality; string comparisons are kept.
pub fn simplify(e: Expr, symtab: &Symtab) -> Expr {
    match e {
        Expr::Cmp(c) => {
            let w = width(symtab, c.sym);
            let Value::Int { value, mask } = c.val else { return Expr::Cmp(c) };
            if w == 0 {
                return Expr::Cmp(c);
            }
            match c.relop {
                Relop::Eq if mask == 0 => Expr::Bool(true),
                Relop::Eq => Expr::Cmp(c),
                Relop::Ne => simplify_ne(c.sym, value, mask, w),
                r => {
                    if mask == 0 {
                        // Not produced by the parser (relational constants are unmasked).
                        return Expr::Bool(matches!(r, Relop::Le | Relop::Ge));
                    }
                    simplify_relational(c.sym, r, value, mask, w)
                }
            }
        }
        Expr::And(_) | Expr::Or(_) => {
            let kind = if matches!(e, Expr::And(_)) { AndOr::And } else { AndOr::Or };
            let mut out = Vec::new();
            for s in e.into_subs() {
                Expr::push_flat(kind, &mut out, simplify(s, symtab));
            }
            Expr::make(kind, out).fix()
        }
        e => e,
    }
}

/// Replaces `is_chassis_resident()` conditions by their value.
pub fn evaluate_conditions(e: Expr, resident: &dyn Fn(&str) -> bool) -> Expr {
    match e {
        Expr::And(_) | Expr::Or(_) => {
            let kind = if matches!(e, Expr::And(_)) { AndOr::And } else { AndOr::Or };
            let mut out = Vec::new();
            for s in e.into_subs() {
                Expr::push_flat(kind, &mut out, evaluate_conditions(s, resident).fix());
            }
            Expr::make(kind, out).fix()
        }
        Expr::Resident { port, not } => Expr::Bool(resident(&port) ^ not),
        e => e,
    }
}
