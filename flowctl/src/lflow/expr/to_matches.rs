//! Conversion of a normalised expression to OpenFlow matches (`expr_to_matches` in OVN 23.03
//! lib/expr.c).
//!
//! - A comparison or a disjunction over one symbol: one match per alternative.
//! - An And of comparisons and at most one single-symbol disjunction: one match per
//!   alternative of the disjunction, each with the comparisons.
//! - An And with n >= 2 disjunctions: a conjunctive match. Each alternative of clause k
//!   becomes a match with action `conjunction(id, k/n)`, plus one match on `conj_id=id` with
//!   the comparisons, which gets the flow's actions. Ids are numbered from 1 per expression;
//!   the caller offsets them into its own id space ([`Compiled::offset_conj_ids`]).
//! - Equal matches are merged: conjunctions accumulate, and a plain match absorbs them.
//!
//! A comparison of a string symbol (a logical port name) with a port that the lookup does
//! not know never matches.

use std::collections::HashMap;

use crate::flows::FxBuild;

use shared::openflow::{Field, Match};

use super::ast::{Cmp, Expr, Value};
use super::symtab::{SymbolKind, Symtab};
use super::{ExprError, Lookups};

/// One `conjunction(id, clause/n_clauses)` action; `clause` counts from 1 as ovs-ofctl
/// prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Conjunction {
    pub id: u32,
    pub clause: u32,
    pub n_clauses: u32,
}

/// One OpenFlow match of an expression. With `conjunctions` empty the flow gets the logical
/// flow's actions; otherwise its actions are exactly these conjunction actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprMatch {
    pub m: Match,
    pub conjunctions: Vec<Conjunction>,
}

/// The matches of one expression and the number of conjunction ids they use (1..=n_conjs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compiled {
    pub matches: Vec<ExprMatch>,
    pub n_conjs: u32,
}

impl Compiled {
    /// Renumbers conjunction ids `1..=n_conjs` to `ofs+1..=ofs+n_conjs` (in conjunction
    /// actions and in `conj_id` matches), as `expr_matches_prepare` does.
    pub fn offset_conj_ids(&mut self, ofs: u32) -> Result<(), ExprError> {
        for em in &mut self.matches {
            for c in &mut em.conjunctions {
                c.id = c.id.wrapping_add(ofs);
            }
            if let Some((v, _)) = em.m.get(Field::CONJ_ID) {
                let id = v.iter().fold(0u32, |a, &b| (a << 8) | u32::from(b));
                em.m.set_u128(Field::CONJ_ID, u128::from(id.wrapping_add(ofs)))
                    .map_err(|e| ExprError(e.to_string()))?;
            }
        }
        Ok(())
    }
}

struct Builder<'a> {
    symtab: &'a Symtab,
    lookups: &'a dyn Lookups,
    out: Vec<ExprMatch>,
    index: HashMap<Match, usize, FxBuild>,
    n_conjs: u32,
}

type R<T> = Result<T, ExprError>;

/// Converts a normalised expression.
pub fn to_matches(e: &Expr, symtab: &Symtab, lookups: &dyn Lookups) -> R<Compiled> {
    let mut b = Builder { symtab, lookups, out: Vec::new(), index: HashMap::default(), n_conjs: 0 };
    match e {
        Expr::Cmp(c) => b.cmp_flow(c)?,
        Expr::And(subs) => b.conjunction(subs)?,
        Expr::Or(subs) => {
            for s in subs {
                match s {
                    Expr::And(a) => b.conjunction(a)?,
                    Expr::Cmp(c) => b.cmp_flow(c)?,
                    _ => return Err(ExprError("expression is not normalized".into())),
                }
            }
        }
        Expr::Bool(true) => b.add(Match::new(), None),
        Expr::Bool(false) => {}
        Expr::Resident { .. } => return Err(ExprError("unevaluated condition".into())),
    }
    Ok(Compiled { matches: b.out, n_conjs: b.n_conjs })
}

impl Builder<'_> {
    fn add(&mut self, m: Match, conj: Option<Conjunction>) {
        if let Some(&i) = self.index.get(&m) {
            if let Some(existing) = self.out.get_mut(i) {
                match conj {
                    Some(c) if !existing.conjunctions.is_empty() => existing.conjunctions.push(c),
                    _ => existing.conjunctions.clear(),
                }
            }
            return;
        }
        self.index.insert(m.clone(), self.out.len());
        self.out.push(ExprMatch { m, conjunctions: conj.into_iter().collect() });
    }

    /// Adds `c` to `m`; false if `c` names a port the lookup does not know.
    fn constrain(&self, c: &Cmp, m: &mut Match) -> R<bool> {
        let Some(sym) = self.symtab.get(c.sym) else {
            return Err(ExprError("unknown symbol".into()));
        };
        let bad = |e: shared::openflow::flow_match::MatchError| ExprError(format!("{}: {e}", sym.name));
        match (&sym.kind, &c.val) {
            (SymbolKind::Field(f), Value::Int { value, mask }) => {
                // As OVS's mf_set(), which OVN's mf_mask_subfield() ends in: a mask of all
                // ones over the field's bytes is an exact match, all zeros a wildcard, and
                // any other mask on a field OVS cannot mask is silently ignored (so 23.03's
                // `ip.dscp == 46`, a 6-bit mask in a byte, matches on nothing).
                let bits = 8 * f.n_bytes() as u32;
                let full = if bits >= 128 { u128::MAX } else { (1u128 << bits) - 1 };
                if *mask & full == full {
                    m.set_u128(*f, *value).map_err(bad)?;
                } else if *mask == 0 {
                    m.clear(*f);
                } else if f.def().maskable {
                    m.set_u128_masked(*f, *value, *mask).map_err(bad)?;
                }
                Ok(true)
            }
            (SymbolKind::Str(f), Value::Str(port)) => match self.lookups.port_key(port) {
                Some(key) => {
                    m.set_u128(*f, key.into()).map_err(bad)?;
                    Ok(true)
                }
                None => Ok(false),
            },
            _ => Err(ExprError(format!("{}: not annotated", sym.name))),
        }
    }

    fn cmp_flow(&mut self, c: &Cmp) -> R<()> {
        let mut m = Match::new();
        if self.constrain(c, &mut m)? {
            self.add(m, None);
        }
        Ok(())
    }

    fn disjunction(&mut self, subs: &[Expr], base: &Match, conj: Option<Conjunction>) -> R<bool> {
        let mut n = 0;
        for s in subs {
            let Expr::Cmp(c) = s else { return Err(ExprError("expression is not normalized".into())) };
            let mut m = base.clone();
            if self.constrain(c, &mut m)? {
                self.add(m, conj);
                n += 1;
            }
        }
        Ok(n > 0)
    }

    fn conjunction(&mut self, subs: &[Expr]) -> R<()> {
        let mut base = Match::new();
        let mut n_clauses = 0u32;
        for s in subs {
            match s {
                Expr::Cmp(c) => {
                    if !self.constrain(c, &mut base)? {
                        return Ok(());
                    }
                }
                Expr::Or(_) => n_clauses += 1,
                _ => return Err(ExprError("expression is not normalized".into())),
            }
        }
        match n_clauses {
            0 => self.add(base, None),
            1 => {
                for s in subs {
                    if let Expr::Or(o) = s {
                        self.disjunction(o, &base, None)?;
                    }
                }
            }
            _ => {
                self.n_conjs += 1;
                let id = self.n_conjs;
                let mut clause = 0;
                for s in subs {
                    if let Expr::Or(o) = s {
                        clause += 1;
                        let conj = Conjunction { id, clause, n_clauses };
                        if !self.disjunction(o, &base, Some(conj))? {
                            // This clause can never match, so neither can the conjunction
                            // (clauses already added stay, as in OVN).
                            return Ok(());
                        }
                    }
                }
                base.set_u128(Field::CONJ_ID, id.into()).map_err(|e| ExprError(e.to_string()))?;
                self.add(base, None);
            }
        }
        Ok(())
    }
}
