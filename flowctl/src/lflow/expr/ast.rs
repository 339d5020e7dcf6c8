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

/// A JSON string literal (`json_string_escape`).
fn json_string(st: &str) -> String {
    let mut out = String::with_capacity(st.len() + 2);
    out.push('"');
    for ch in st.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `ds_put_hex`: `0` or `0x` and the value without leading zeros.
fn hex(v: u128) -> String {
    if v == 0 {
        "0".into()
    } else {
        format!("{v:#x}")
    }
}

/// The single run of one bits in `mask` below `width`: (first bit, length), or (0, 0) if
/// there is none or more than one (`find_bitwise_range`).
pub(crate) fn bit_range(mask: u128, width: u32) -> (u32, u32) {
    let width = width.min(128);
    let bit = |i: u32| mask & (1u128 << i) != 0;
    let Some(start) = (0..width).find(|&i| bit(i)) else { return (0, 0) };
    let end = (start..width).find(|&i| !bit(i)).unwrap_or(width);
    if (end..width).any(bit) {
        (0, 0)
    } else {
        (start, end - start)
    }
}

fn relop_str(r: Relop) -> &'static str {
    match r {
        Relop::Eq => "==",
        Relop::Ne => "!=",
        Relop::Lt => "<",
        Relop::Le => "<=",
        Relop::Gt => ">",
        Relop::Ge => ">=",
    }
}

impl Expr {
    /// The expression as OVN's `expr_format` writes it (it parses back to the same
    /// expression); for logs and tests.
    pub fn format(&self, symtab: &super::symtab::Symtab) -> String {
        let mut s = String::new();
        self.format_into(symtab, &mut s);
        s
    }

    fn format_into(&self, symtab: &super::symtab::Symtab, s: &mut String) {
        match self {
            Expr::Cmp(c) => format_cmp(c, symtab, s),
            Expr::And(subs) | Expr::Or(subs) => {
                let op = if matches!(self, Expr::And(_)) { " && " } else { " || " };
                for (i, sub) in subs.iter().enumerate() {
                    if i > 0 {
                        s.push_str(op);
                    }
                    if matches!(sub, Expr::And(_) | Expr::Or(_)) {
                        s.push('(');
                        sub.format_into(symtab, s);
                        s.push(')');
                    } else {
                        sub.format_into(symtab, s);
                    }
                }
            }
            Expr::Bool(b) => s.push(if *b { '1' } else { '0' }),
            Expr::Resident { port, not } => {
                if *not {
                    s.push('!');
                }
                s.push_str(&format!("is_chassis_resident({})", json_string(port)));
            }
        }
    }
}

fn format_cmp(c: &Cmp, symtab: &super::symtab::Symtab, s: &mut String) {
    let name = symtab.name(c.sym);
    let width = symtab.get(c.sym).map_or(0, |x| x.width);
    let (value, mask) = match &c.val {
        Value::Str(st) => {
            s.push_str(&format!("{name} {} {}", relop_str(c.relop), json_string(st)));
            return;
        }
        Value::Int { value, mask } => (*value, *mask),
    };
    let (ofs, n) = bit_range(mask, width);
    if n == 1 && matches!(c.relop, Relop::Eq | Relop::Ne) {
        let positive = (value >> ofs) & 1 != 0;
        if positive == (c.relop == Relop::Ne) {
            s.push('!');
        }
        s.push_str(name);
        if width > 1 {
            s.push_str(&format!("[{ofs}]"));
        }
        return;
    }
    s.push_str(name);
    if n > 0 && n < width {
        if n > 1 {
            s.push_str(&format!("[{ofs}..{}]", ofs + n - 1));
        } else {
            s.push_str(&format!("[{ofs}]"));
        }
    }
    s.push_str(&format!(" {} ", relop_str(c.relop)));
    if n > 0 {
        let bits = if n >= 128 { u128::MAX } else { (1u128 << n) - 1 };
        s.push_str(&hex((value >> ofs) & bits));
    } else {
        s.push_str(&format!("{}/{}", hex(value), hex(mask)));
    }
}
