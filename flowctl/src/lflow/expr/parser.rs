//! Parser from match text to an [`Expr`] (`expr_parse()` in OVN 23.03 lib/expr.c), with the
//! same acceptance rules: `&&` and `||` must be parenthesised when mixed, `!` needs an
//! atomic operand, nominal fields and predicates may only be tested for (taking enclosing
//! `!`s into account) equality, relational operators only on ordinal fields, `x < f < y`
//! ranges, a bare field is `field != 0` (only for 1-bit fields unless negated), a bare
//! `0`/`1` is false/true.

use super::ast::{AndOr, Cmp, Expr, Relop, Value};
use super::lexer::{tokenize_partial, NumFormat, Number, Spanned, Token};
use super::symtab::{Level, SymId, SymbolKind, Symtab};
use super::{ExprError, Lookups};

const MAX_PAREN_DEPTH: usize = 100;

/// A field reference: a symbol and a bit range of it.
#[derive(Debug, Clone, Copy)]
struct FieldRef {
    sym: SymId,
    ofs: u32,
    n_bits: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConstType {
    Int,
    Str,
}

#[derive(Debug, Default)]
struct ConstSet {
    ints: Vec<Number>,
    strs: Vec<String>,
    ty: Option<ConstType>,
    in_curlies: bool,
}

impl ConstSet {
    fn len(&self) -> usize {
        self.ints.len() + self.strs.len()
    }
    fn ty(&self) -> ConstType {
        self.ty.unwrap_or(ConstType::Int)
    }
}

struct Parser<'a> {
    input: &'a str,
    toks: Vec<Spanned>,
    /// The lexical error after the last token, reported (instead of any parse error) once
    /// the parser reaches it.
    lex_err: Option<String>,
    pos: usize,
    symtab: &'a Symtab,
    lookups: &'a dyn Lookups,
    not: bool,
    depth: usize,
}

type R<T> = Result<T, ExprError>;

/// Parses `input` (no annotation: symbols keep their names, predicates are not expanded).
pub fn parse(input: &str, symtab: &Symtab, lookups: &dyn Lookups) -> R<Expr> {
    let (toks, lex_err) = tokenize_partial(input);
    let lex_err = lex_err.map(|e| e.msg);
    let mut p = Parser { input, toks, lex_err, pos: 0, symtab, lookups, not: false, depth: 0 };
    let e = p.expr()?;
    if p.peek().is_some() || p.lex_err.is_some() {
        return Err(p.syntax("expecting end of input"));
    }
    Ok(e)
}

fn relop_of(t: Option<&Token>) -> Option<Relop> {
    Some(match t? {
        Token::Eq => Relop::Eq,
        Token::Ne => Relop::Ne,
        Token::Lt => Relop::Lt,
        Token::Le => Relop::Le,
        Token::Gt => Relop::Gt,
        Token::Ge => Relop::Ge,
        _ => return None,
    })
}

fn ones(n: u32) -> u128 {
    if n >= 128 {
        u128::MAX
    } else {
        (1u128 << n) - 1
    }
}

/// Bits needed by a constant (`expr_constant_width`).
fn const_width(n: &Number) -> u32 {
    let w = |v: u128| 128 - v.leading_zeros();
    if let Some(m) = n.mask {
        return w(m);
    }
    match n.format {
        NumFormat::Decimal | NumFormat::Hex => w(n.value),
        NumFormat::Ipv4 => 32,
        NumFormat::Ipv6 => 128,
        NumFormat::Ethernet => 48,
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn peek2(&self) -> Option<&Token> {
        self.toks.get(self.pos + 1).map(|t| &t.tok)
    }

    fn bump(&mut self) {
        self.pos += 1;
    }

    fn eat(&mut self, t: &Token) -> bool {
        if self.peek() == Some(t) {
            self.bump();
            true
        } else {
            false
        }
    }

    /// The pending lexical error, if the parser has reached it.
    fn lex_error(&self) -> Option<ExprError> {
        if self.pos >= self.toks.len() {
            self.lex_err.clone().map(ExprError)
        } else {
            None
        }
    }

    fn syntax(&self, msg: &str) -> ExprError {
        if let Some(e) = self.lex_error() {
            return e;
        }
        match self.toks.get(self.pos) {
            None => ExprError(format!("Syntax error at end of input {msg}.")),
            Some(t) => {
                let text = self.input.get(t.start..t.end).unwrap_or("?");
                ExprError(format!("Syntax error at `{text}' {msg}."))
            }
        }
    }

    fn err(&self, msg: String) -> ExprError {
        self.lex_error().unwrap_or(ExprError(msg))
    }

    fn force(&mut self, t: Token) -> R<()> {
        if self.eat(&t) {
            Ok(())
        } else {
            Err(self.syntax(&format!("expecting `{t}'")))
        }
    }

    fn force_int(&mut self) -> R<u32> {
        if let Some(Token::Num(n)) = self.peek() {
            if n.mask.is_none() && n.format == NumFormat::Decimal && n.value <= i32::MAX as u128 {
                let v = n.value as u32;
                self.bump();
                return Ok(v);
            }
        }
        Err(self.syntax("expecting small integer"))
    }

    fn expr(&mut self) -> R<Expr> {
        let mut e = self.not_expr()?;
        let kind = match self.peek() {
            Some(Token::And) => AndOr::And,
            Some(Token::Or) => AndOr::Or,
            _ => return Ok(e),
        };
        let tok = if kind == AndOr::And { Token::And } else { Token::Or };
        while self.eat(&tok) {
            let e2 = self.not_expr()?;
            e = Expr::combine(kind, Some(e), e2);
        }
        if matches!(self.peek(), Some(Token::And | Token::Or)) {
            return Err(self.err("&& and || must be parenthesized when used together.".into()));
        }
        Ok(e)
    }

    fn not_expr(&mut self) -> R<Expr> {
        if self.eat(&Token::Not) {
            self.not = !self.not;
            let r = self.primary();
            self.not = !self.not;
            let (e, atomic) = r?;
            if !atomic {
                return Err(self.err("Missing parentheses around operand of !.".into()));
            }
            Ok(e.not())
        } else {
            Ok(self.primary()?.0)
        }
    }

    /// A primary expression and whether it is "atomic" (may be the operand of `!`).
    fn primary(&mut self) -> R<(Expr, bool)> {
        if self.eat(&Token::LParen) {
            if self.depth >= MAX_PAREN_DEPTH {
                return Err(self.err("Parentheses nested too deeply.".into()));
            }
            self.depth += 1;
            let e = self.expr();
            self.depth -= 1;
            let e = e?;
            self.force(Token::RParen)?;
            return Ok((e, true));
        }
        match self.peek() {
            Some(Token::Template(_)) => Err(self.err("Unexpanded template.".into())),
            Some(Token::Id(id)) => {
                if self.peek2() == Some(&Token::LParen) {
                    if id == "is_chassis_resident" {
                        self.pos += 2;
                        return Ok((self.chassis_resident()?, true));
                    }
                    return Err(self.err("parsing function name".into()));
                }
                let f = self.field()?;
                match relop_of(self.peek()) {
                    None => {
                        if f.n_bits == 0 || self.peek() == Some(&Token::Equals) {
                            return Err(self.syntax("expecting relational operator"));
                        }
                        if f.n_bits > 1 && !self.not {
                            return Err(self.err(
                                "Explicit `!= 0' is required for inequality test of multibit field against 0.".into(),
                            ));
                        }
                        let zero = Number { value: 0, mask: None, format: NumFormat::Hex };
                        let cs = ConstSet { ints: vec![zero], ty: Some(ConstType::Int), ..ConstSet::default() };
                        Ok((self.make_cmp(f, Relop::Ne, cs)?, true))
                    }
                    Some(r) => {
                        self.bump();
                        let cs = self.const_set()?;
                        Ok((self.make_cmp(f, r, cs)?, false))
                    }
                }
            }
            _ => {
                let c1 = self.const_set()?;
                if relop_of(self.peek()).is_none() && !c1.in_curlies {
                    if let [n] = c1.ints.as_slice() {
                        if n.format == NumFormat::Decimal && n.mask.is_none() && n.value <= 1 && c1.strs.is_empty() {
                            return Ok((Expr::Bool(n.value == 1), true));
                        }
                    }
                }
                let r1 = self.relop()?;
                let f = self.field()?;
                let Some(r2) = relop_of(self.peek()) else {
                    return Ok((self.make_cmp(f, r1.turn(), c1)?, false));
                };
                self.bump();
                let c2 = self.const_set()?;
                let lt = |r| matches!(r, Relop::Lt | Relop::Le);
                let gt = |r| matches!(r, Relop::Gt | Relop::Ge);
                if !((lt(r1) && lt(r2)) || (gt(r1) && gt(r2))) {
                    return Err(self.err(
                        "Range expressions must have the form `x < field < y' or `x > field > y', with each \
                         `<' optionally replaced by `<=' or `>' by `>=')."
                            .into(),
                    ));
                }
                let e1 = self.make_cmp(f, r1.turn(), c1)?;
                let e2 = self.make_cmp(f, r2, c2)?;
                Ok((Expr::combine(AndOr::And, Some(e1), e2), false))
            }
        }
    }

    fn relop(&mut self) -> R<Relop> {
        match relop_of(self.peek()) {
            Some(r) => {
                self.bump();
                Ok(r)
            }
            None => Err(self.syntax("expecting relational operator")),
        }
    }

    fn chassis_resident(&mut self) -> R<Expr> {
        let Some(Token::Str(s)) = self.peek() else {
            return Err(self.syntax("expecting string"));
        };
        let port = s.clone();
        self.bump();
        self.force(Token::RParen)?;
        Ok(Expr::Resident { port, not: false })
    }

    fn field(&mut self) -> R<FieldRef> {
        let sym = match self.peek() {
            Some(Token::Id(id)) => self.symtab.lookup(id),
            _ => None,
        };
        let Some(sym) = sym else {
            return Err(self.syntax("expecting field name"));
        };
        self.bump();
        let Some(s) = self.symtab.get(sym) else {
            return Err(self.syntax("expecting field name"));
        };
        if s.kind == SymbolKind::OvnField {
            return Err(self.err(format!("Field {} cannot be used in a match.", s.name)));
        }
        if !self.eat(&Token::LSquare) {
            return Ok(FieldRef { sym, ofs: 0, n_bits: s.width });
        }
        if s.width == 0 {
            return Err(self.err(format!("Cannot select subfield of string field {}.", s.name)));
        }
        let low = self.force_int()?;
        let high = if self.eat(&Token::Ellipsis) { self.force_int()? } else { low };
        self.force(Token::RSquare)?;
        if low > high {
            return Err(self.err(format!("Invalid bit range {low} to {high}.")));
        }
        if high >= s.width {
            return Err(self.err(format!("Cannot select bits {low} to {high} of {}-bit field {}.", s.width, s.name)));
        }
        if s.level == Level::Nominal && (low != 0 || high != s.width - 1) {
            return Err(self.err(format!("Cannot select subfield of nominal field {}.", s.name)));
        }
        Ok(FieldRef { sym, ofs: low, n_bits: high - low + 1 })
    }

    fn assign_type(&self, cs: &mut ConstSet, ty: ConstType) -> R<()> {
        if cs.len() == 0 || cs.ty() == ty {
            cs.ty = Some(ty);
            Ok(())
        } else {
            Err(self.syntax(if cs.ty() == ConstType::Int { "expecting integer" } else { "expecting string" }))
        }
    }

    fn constant(&mut self, cs: &mut ConstSet) -> R<()> {
        match self.peek().cloned() {
            Some(Token::Template(_)) => Err(self.err("Unexpanded template.".into())),
            Some(Token::Str(s)) => {
                self.assign_type(cs, ConstType::Str)?;
                cs.strs.push(s);
                self.bump();
                Ok(())
            }
            Some(Token::Num(n)) => {
                self.assign_type(cs, ConstType::Int)?;
                cs.ints.push(n);
                self.bump();
                Ok(())
            }
            Some(Token::AddrSet(name)) => {
                let Some(set) = self.lookups.address_set(&name) else {
                    return Err(self.syntax("expecting address set name"));
                };
                self.assign_type(cs, ConstType::Int)?;
                cs.ints.extend_from_slice(set);
                self.bump();
                Ok(())
            }
            Some(Token::PortGroup(name)) => {
                let Some(set) = self.lookups.port_group(&name) else {
                    return Err(self.syntax("expecting port group name"));
                };
                self.assign_type(cs, ConstType::Str)?;
                cs.strs.extend(set.iter().cloned());
                self.bump();
                Ok(())
            }
            _ => Err(self.syntax("expecting constant")),
        }
    }

    fn const_set(&mut self) -> R<ConstSet> {
        let mut cs = ConstSet::default();
        if self.eat(&Token::LCurly) {
            cs.in_curlies = true;
            loop {
                self.constant(&mut cs)?;
                self.eat(&Token::Comma);
                if self.eat(&Token::RCurly) {
                    break;
                }
            }
        } else {
            self.constant(&mut cs)?;
        }
        Ok(cs)
    }

    fn make_cmp(&self, f: FieldRef, r: Relop, cs: ConstSet) -> R<Expr> {
        let Some(s) = self.symtab.get(f.sym) else {
            return Err(self.err("unknown symbol".into()));
        };
        let want = if s.width > 0 { ConstType::Int } else { ConstType::Str };
        if cs.ty() != want {
            return Err(self.err(format!(
                "{} field {} is not compatible with {} constant.",
                if s.width > 0 { "Integer" } else { "String" },
                s.name,
                if cs.ty() == ConstType::Int { "integer" } else { "string" }
            )));
        }
        for n in &cs.ints {
            let w = const_width(n);
            if w > s.width {
                return Err(
                    self.err(format!("{w}-bit constant is not compatible with {}-bit field {}.", s.width, s.name))
                );
            }
        }
        if r != Relop::Eq && r != Relop::Ne {
            if cs.in_curlies {
                return Err(self.err("Only == and != operators may be used with value sets.".into()));
            }
            if s.level == Level::Nominal || s.level == Level::Boolean {
                let level = if s.level == Level::Nominal { "nominal" } else { "Boolean" };
                return Err(self.err(format!("Only == and != operators may be used with {level} field {}.", s.name)));
            }
            if cs.len() == 0 {
                return Err(self.err(
                    "Only == and != operators may be used to compare a field against an empty value set.".into(),
                ));
            }
            if cs.ints.first().is_some_and(|n| n.mask.is_some()) {
                return Err(self.err(
                    "Only == and != operators may be used with masked constants.  Consider using subfields \
                     instead (e.g. eth.src[0..15] > 0x1111 in place of eth.src > 00:00:00:00:11:11/00:00:00:00:ff:ff)."
                        .into(),
                ));
            }
        }
        if s.level == Level::Nominal {
            if matches!(s.kind, SymbolKind::Predicate(_)) {
                for n in &cs.ints {
                    let positive = (n.value & 1 != 0) ^ (r == Relop::Ne) ^ self.not;
                    if !positive {
                        let name = &s.name;
                        return Err(self.err(format!(
                            "Nominal predicate {name} may only be tested positively, e.g. `{name}' or \
                             `{name} == 1' but not `!{name}' or `{name} == 0'."
                        )));
                    }
                }
            } else if r != (if self.not { Relop::Ne } else { Relop::Eq }) {
                return Err(self.err(format!(
                    "Nominal field {} may only be tested for equality (taking enclosing `!' operators into account).",
                    s.name
                )));
            }
        }
        if cs.len() == 0 {
            return Ok(Expr::Bool(r == Relop::Ne));
        }
        let kind = if r == Relop::Eq { AndOr::Or } else { AndOr::And };
        let nbits = ones(f.n_bits);
        let mut e: Option<Expr> = None;
        let mut push = |c: Cmp| e = Some(Expr::combine(kind, e.take(), Expr::Cmp(c)));
        for n in &cs.ints {
            let value = (n.value & nbits) << f.ofs;
            let mask = (n.mask.unwrap_or(u128::MAX) & nbits) << f.ofs;
            push(Cmp { sym: f.sym, relop: r, val: Value::Int { value: value & mask, mask } });
        }
        for st in &cs.strs {
            push(Cmp { sym: f.sym, relop: r, val: Value::Str(st.clone()) });
        }
        Ok(e.unwrap_or(Expr::Bool(r == Relop::Ne)))
    }
}
