//! Expression trees (`struct expr` in OVN's include/ovn/expr.h) and the small structural
//! operations every stage uses: combining with flattening, negation, fixing up constants.

use super::symtab::SymId;

/// Relational operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relop {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Relop {
    /// The operator with its operands swapped (`a < b` is `b > a`).
    pub fn turn(self) -> Relop {
        match self {
            Relop::Lt => Relop::Gt,
            Relop::Le => Relop::Ge,
            Relop::Gt => Relop::Lt,
            Relop::Ge => Relop::Le,
            r => r,
        }
    }

    /// The negated operator.
    pub fn invert(self) -> Relop {
        match self {
            Relop::Eq => Relop::Ne,
            Relop::Ne => Relop::Eq,
            Relop::Lt => Relop::Ge,
            Relop::Le => Relop::Gt,
            Relop::Gt => Relop::Le,
            Relop::Ge => Relop::Lt,
        }
    }
}

/// The constant side of a comparison.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Value {
    /// Bits within the symbol's width; `value & !mask == 0`.
    Int { value: u128, mask: u128 },
    /// A logical port name (string symbols).
    Str(String),
}

/// `symbol relop constant`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmp {
    pub sym: SymId,
    pub relop: Relop,
    pub val: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Cmp(Cmp),
    /// Two or more terms, none of them an `And`.
    And(Vec<Expr>),
    /// Two or more terms, none of them an `Or`.
    Or(Vec<Expr>),
    Bool(bool),
    /// `is_chassis_resident("port")`, negated if `not`.
    Resident {
        port: String,
        not: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AndOr {
    And,
    Or,
}

impl Expr {
    pub fn make(kind: AndOr, subs: Vec<Expr>) -> Expr {
        match kind {
            AndOr::And => Expr::And(subs),
            AndOr::Or => Expr::Or(subs),
        }
    }

    fn kind(&self) -> Option<AndOr> {
        match self {
            Expr::And(_) => Some(AndOr::And),
            Expr::Or(_) => Some(AndOr::Or),
            _ => None,
        }
    }

    /// `a kind b`, merging operands that already are of that kind (`expr_combine`).
    pub fn combine(kind: AndOr, a: Option<Expr>, b: Expr) -> Expr {
        let Some(a) = a else { return b };
        match (a.kind() == Some(kind), b.kind() == Some(kind)) {
            (true, true) => {
                let mut s = a.into_subs();
                s.extend(b.into_subs());
                Expr::make(kind, s)
            }
            (true, false) => {
                let mut s = a.into_subs();
                s.push(b);
                Expr::make(kind, s)
            }
            (false, true) => {
                let mut s = vec![a];
                s.extend(b.into_subs());
                Expr::make(kind, s)
            }
            (false, false) => Expr::make(kind, vec![a, b]),
        }
    }

    /// The terms of an And/Or (empty for anything else).
    pub fn into_subs(self) -> Vec<Expr> {
        match self {
            Expr::And(s) | Expr::Or(s) => s,
            _ => Vec::new(),
        }
    }

    /// Logical negation by De Morgan (`expr_not`).
    pub fn not(self) -> Expr {
        match self {
            Expr::Cmp(mut c) => {
                c.relop = c.relop.invert();
                Expr::Cmp(c)
            }
            Expr::And(s) => Expr::Or(s.into_iter().map(Expr::not).collect()),
            Expr::Or(s) => Expr::And(s.into_iter().map(Expr::not).collect()),
            Expr::Bool(b) => Expr::Bool(!b),
            Expr::Resident { port, not } => Expr::Resident { port, not: !not },
        }
    }

    /// Drops Boolean operands of a top-level And/Or and unwraps single-operand ones
    /// (`expr_fix`).
    pub fn fix(self) -> Expr {
        let (kind, subs) = match self {
            Expr::And(s) => (AndOr::And, s),
            Expr::Or(s) => (AndOr::Or, s),
            e => return e,
        };
        let short = kind == AndOr::Or;
        let mut out = Vec::with_capacity(subs.len());
        for s in subs {
            match s {
                Expr::Bool(b) if b == short => return Expr::Bool(short),
                Expr::Bool(_) => {}
                s => out.push(s),
            }
        }
        match out.len() {
            0 => Expr::Bool(!short),
            1 => out.pop().unwrap_or(Expr::Bool(!short)),
            _ => Expr::make(kind, out),
        }
    }

    /// Appends `new` to the terms `subs` of a `kind` node, splicing it if it is of that kind
    /// too (`expr_insert_andor`).
    pub fn push_flat(kind: AndOr, subs: &mut Vec<Expr>, new: Expr) {
        if new.kind() == Some(kind) {
            subs.extend(new.into_subs());
        } else {
            subs.push(new);
        }
    }

    /// The one symbol every comparison in this tree is about, if there is exactly one
    /// (`expr_get_unique_symbol`).
    pub fn unique_symbol(&self) -> Option<SymId> {
        match self {
            Expr::Cmp(c) => Some(c.sym),
            Expr::And(s) | Expr::Or(s) => {
                let mut prev = None;
                for e in s {
                    let sym = e.unique_symbol()?;
                    if prev.is_some_and(|p| p != sym) {
                        return None;
                    }
                    prev = Some(sym);
                }
                prev
            }
            Expr::Bool(_) | Expr::Resident { .. } => None,
        }
    }
}
