//! The expression language of `Logical_Flow.match`, as OVN 23.03 defines it (lib/expr.c,
//! lib/lex.c, lib/logical-fields.c), compiled to OpenFlow matches.
//!
//! Pipeline (each stage in its own module, named after the OVN function it follows):
//! - [`lexer`]: text to tokens;
//! - [`parser`]: tokens to an [`Expr`] over symbols, with address sets (`$name`) and port
//!   groups (`@name`) expanded through [`Lookups`];
//! - [`symtab`]: the logical fields, subfields and predicates;
//! - [`annotate`]: subfields to fields, predicates expanded, prerequisites added; then every
//!   comparison reduced to masked equality and `is_chassis_resident()` evaluated;
//! - [`normalize`]: OR(AND(clause)) with single-symbol clauses kept for conjunctive matches;
//! - [`to_matches`]: [`Match`](shared::openflow::Match) alternatives and conjunctions.
//!
//! [`compile`] runs all of it. Errors are [`ExprError`]s with OVN's wording; nothing here
//! panics on bad input.
//!
//! # Use by the logical-flow translator (what ovn-controller 23.03's lflow.c does around it)
//! 1. Expand `^templates` with [`lexer::expand_templates`] (Chassis_Template_Var of this
//!    chassis).
//! 2. [`compile_with_prereqs`] with the prerequisites the flow's actions need (the action
//!    parser produces them) and [`Lookups`] for the flow's datapath: address sets, port groups
//!    (only ports related to this chassis), port keys (ports of this datapath, then multicast
//!    groups, `"none"` = 0), `is_chassis_resident`. On error: log once with the flow's UUID,
//!    install nothing for it.
//! 3. Allocate `n_conjs` conjunction ids and [`Compiled::offset_conj_ids`].
//! 4. For each [`ExprMatch`](to_matches::ExprMatch): add `metadata=` the datapath key; on a
//!    logical switch drop it if reg14 (ingress) / reg15 (egress) names a port that is not
//!    related to this chassis; install it with the flow's actions if it has no conjunctions,
//!    else with exactly its `conjunction(id, k/n)` actions (cookie 0, merged with other flows'
//!    conjunctions on the same match), in table 8 + table_id (ingress) or 42 + table_id
//!    (egress) at the flow's priority. A flow tagged `in_out_port` whose port is not related
//!    is skipped altogether.
//!
//! The golden test (`golden.rs`, data in flowctl/tests/data/expr) does steps 1, 2 and 4 the
//! same way to compare with what the real ovn-controller installed.

pub mod annotate;
pub mod ast;
pub mod lexer;
pub mod normalize;
pub mod parser;
pub mod symtab;
pub mod to_matches;

#[cfg(test)]
mod golden;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

pub use ast::Expr;
pub use lexer::Number;
pub use symtab::Symtab;
pub use to_matches::Compiled;

/// Why a match expression was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError(pub String);

impl std::fmt::Display for ExprError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ExprError {}

/// What the compiler needs to know about the Southbound state, for one logical datapath.
pub trait Lookups {
    /// `$name`: the address set's values (see [`parse_address_set`]).
    fn address_set(&self, name: &str) -> Option<&[Number]>;
    /// `@name`: the port group's logical port names. As in 23.03, only the ports related to
    /// this chassis (bound here, patch, localnet, ...: binding's `related_lports`) belong in
    /// it, so that a port group does not multiply flows with remote ports. 23.03 stores a
    /// port group per datapath as `<datapath tunnel key>_<name>` and falls back to plain
    /// `<name>`; the caller resolves that too.
    fn port_group(&self, name: &str) -> Option<&[String]>;
    /// A logical port's (or multicast group's) tunnel key on this datapath; ovn-controller
    /// also maps `"none"` to 0. Unknown ports make their comparison false.
    fn port_key(&self, name: &str) -> Option<u32>;
    /// `is_chassis_resident("port")`.
    fn is_chassis_resident(&self, port: &str) -> bool;
}

/// No address sets, port groups or ports.
pub struct NoLookups;

impl Lookups for NoLookups {
    fn address_set(&self, _: &str) -> Option<&[Number]> {
        None
    }
    fn port_group(&self, _: &str) -> Option<&[String]> {
        None
    }
    fn port_key(&self, _: &str) -> Option<u32> {
        None
    }
    fn is_chassis_resident(&self, _: &str) -> bool {
        false
    }
}

/// Lookups from plain maps (tests, tools).
#[derive(Debug, Default, Clone)]
pub struct MapLookups {
    pub address_sets: HashMap<String, Vec<Number>>,
    pub port_groups: HashMap<String, Vec<String>>,
    pub ports: HashMap<String, u32>,
    pub resident: Vec<String>,
}

impl Lookups for MapLookups {
    fn address_set(&self, name: &str) -> Option<&[Number]> {
        self.address_sets.get(name).map(Vec::as_slice)
    }
    fn port_group(&self, name: &str) -> Option<&[String]> {
        self.port_groups.get(name).map(Vec::as_slice)
    }
    fn port_key(&self, name: &str) -> Option<u32> {
        self.ports.get(name).copied()
    }
    fn is_chassis_resident(&self, port: &str) -> bool {
        self.resident.iter().any(|p| p == port)
    }
}

/// An address set's values from the Southbound strings, as
/// `expr_constant_set_create_integers` builds them: each string lexed as one (possibly
/// masked) number, invalid ones skipped, sorted.
pub fn parse_address_set<S: AsRef<str>>(values: &[S]) -> Vec<Number> {
    let mut out: Vec<Number> = values
        .iter()
        .filter_map(|v| match lexer::tokenize(v.as_ref()).ok()?.first()?.tok {
            lexer::Token::Num(n) => Some(n),
            _ => None,
        })
        .collect();
    out.sort_by(|a, b| {
        a.value.cmp(&b.value).then_with(|| match (a.mask, b.mask) {
            (None, None) => std::cmp::Ordering::Equal,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => x.cmp(&y),
        })
    });
    out
}

/// Parses and annotates `text`, ANDed with `prereqs` (the prerequisites the flow's actions
/// need, already parsed) as ovn-controller does before annotation, and simplifies it.
pub fn parse_annotated(text: &str, prereqs: Option<Expr>, lookups: &dyn Lookups) -> Result<Expr, ExprError> {
    let symtab = Symtab::ovn();
    let mut e = parser::parse(text, symtab, lookups)?;
    if let Some(p) = prereqs {
        e = Expr::combine(ast::AndOr::And, Some(e), p);
    }
    let e = annotate::annotate(e, symtab)?;
    Ok(annotate::simplify(e, symtab))
}

/// Compiles a Logical_Flow match to OpenFlow matches (without the datapath's `metadata`,
/// which the caller adds).
pub fn compile(text: &str, lookups: &dyn Lookups) -> Result<Compiled, ExprError> {
    compile_with_prereqs(text, None, lookups)
}

/// [`compile`] with prerequisites from the actions (see [`parse_annotated`]).
pub fn compile_with_prereqs(text: &str, prereqs: Option<Expr>, lookups: &dyn Lookups) -> Result<Compiled, ExprError> {
    let symtab = Symtab::ovn();
    let e = parse_annotated(text, prereqs, lookups)?;
    let e = annotate::evaluate_conditions(e, &|p| lookups.is_chassis_resident(p));
    let e = normalize::normalize(e, symtab);
    to_matches::to_matches(&e, symtab, lookups)
}

/// Parses a prerequisite expression (e.g. `"ip4"`) for [`compile_with_prereqs`].
pub fn parse_prereqs(text: &str) -> Result<Expr, ExprError> {
    parser::parse(text, Symtab::ovn(), &NoLookups)
}
