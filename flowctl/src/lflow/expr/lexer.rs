//! The lexer of OVN's logical-flow language (as `lib/lex.c` in OVN 23.03 tokenises it), limited
//! to what match expressions use plus the tokens actions share, so that an action token in a
//! match gives a syntax error rather than a lexer error.
//!
//! Numbers: decimal (no leading zeros, < 2^64), hexadecimal `0x..` (up to 128 bits here; OVN
//! allows wider constants but no logical field is wider than 128 bits), Ethernet `xx:xx:..`,
//! IPv4 and IPv6 addresses, each optionally followed by `/mask` (same format, or a decimal
//! prefix length after an IPv4/IPv6 address, or `0/0x..`). Identifiers are
//! `[A-Za-z_.][A-Za-z0-9_.]*`; `$name` is an address set, `@name` a port group, `^name` an
//! unexpanded template. Comments `//...` and `/*...*/` (on one line) are skipped.

use std::net::{Ipv4Addr, Ipv6Addr};

/// How a number was written; it decides its minimum width and how masks combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumFormat {
    Decimal,
    Hex,
    Ipv4,
    Ipv6,
    Ethernet,
}

/// A numeric constant, with the invariant `value & !mask == 0` when masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Number {
    pub value: u128,
    pub mask: Option<u128>,
    pub format: NumFormat,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    Id(String),
    Str(String),
    Num(Number),
    AddrSet(String),
    PortGroup(String),
    Template(String),
    LParen,
    RParen,
    LCurly,
    RCurly,
    LSquare,
    RSquare,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Not,
    And,
    Or,
    Ellipsis,
    Comma,
    Semicolon,
    Equals,
    Exchange,
    Decrement,
    Colon,
    Hyphen,
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Token::Id(s) => return write!(f, "{s}"),
            Token::Str(s) => return write!(f, "{s:?}"),
            Token::Num(_) => "constant",
            Token::AddrSet(s) => return write!(f, "${s}"),
            Token::PortGroup(s) => return write!(f, "@{s}"),
            Token::Template(s) => return write!(f, "^{s}"),
            Token::LParen => "(",
            Token::RParen => ")",
            Token::LCurly => "{",
            Token::RCurly => "}",
            Token::LSquare => "[",
            Token::RSquare => "]",
            Token::Eq => "==",
            Token::Ne => "!=",
            Token::Lt => "<",
            Token::Le => "<=",
            Token::Gt => ">",
            Token::Ge => ">=",
            Token::Not => "!",
            Token::And => "&&",
            Token::Or => "||",
            Token::Ellipsis => "..",
            Token::Comma => ",",
            Token::Semicolon => ";",
            Token::Equals => "=",
            Token::Exchange => "<->",
            Token::Decrement => "--",
            Token::Colon => ":",
            Token::Hyphen => "-",
        };
        f.write_str(s)
    }
}

/// A token with the byte range of its text in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned {
    pub tok: Token,
    pub start: usize,
    pub end: usize,
}

/// A lexical error and where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    pub msg: String,
    pub at: usize,
}

fn is_id1(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b'.'
}

fn is_idn(c: u8) -> bool {
    is_id1(c) || c.is_ascii_digit()
}

/// Tokenises all of `input`.
pub fn tokenize(input: &str) -> Result<Vec<Spanned>, LexError> {
    match tokenize_partial(input) {
        (toks, None) => Ok(toks),
        (_, Some(e)) => Err(e),
    }
}

/// Tokenises `input` up to its first lexical error, which is returned alongside: OVN's lexer
/// is lazy, so a parser that fails before reaching the bad token reports its own error.
pub fn tokenize_partial(input: &str) -> (Vec<Spanned>, Option<LexError>) {
    let mut out = Vec::new();
    match tokenize_into(input, &mut out) {
        Ok(()) => (out, None),
        Err(e) => (out, Some(e)),
    }
}

/// Expands `^name` templates (Chassis_Template_Var values) as 23.03's
/// `lexer_parse_template_string` does: a known name is replaced by its value, an unknown
/// one by the bare name. Returns the expanded text and the names referenced. Text that does
/// not lex is returned unchanged (parsing it reports the error).
pub fn expand_templates(input: &str, vars: &dyn Fn(&str) -> Option<String>) -> (String, Vec<String>) {
    if !input.contains('^') {
        return (input.to_string(), Vec::new());
    }
    let Ok(toks) = tokenize(input) else {
        return (input.to_string(), Vec::new());
    };
    let mut out = String::with_capacity(input.len());
    let mut refs = Vec::new();
    let mut last = 0;
    for t in toks {
        if let Token::Template(name) = &t.tok {
            out.push_str(input.get(last..t.start).unwrap_or_default());
            out.push_str(&vars(name).unwrap_or_else(|| name.clone()));
            out.push(' ');
            refs.push(name.clone());
            last = t.end;
        }
    }
    out.push_str(input.get(last..).unwrap_or_default());
    (out, refs)
}

fn tokenize_into(input: &str, out: &mut Vec<Spanned>) -> Result<(), LexError> {
    let b = input.as_bytes();
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let mut p = 0usize;
    loop {
        let start = p;
        let c = at(p);
        let err = |msg: &str| Err(LexError { msg: msg.to_string(), at: start });
        let tok = match c {
            0 if p >= b.len() => return Ok(()),
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => {
                p += 1;
                continue;
            }
            b'/' => {
                if at(p + 1) == b'/' {
                    while p < b.len() && at(p) != b'\n' {
                        p += 1;
                    }
                    continue;
                } else if at(p + 1) == b'*' {
                    p += 2;
                    loop {
                        if at(p) == b'*' && at(p + 1) == b'/' {
                            p += 2;
                            break;
                        } else if p >= b.len() || at(p) == b'\n' {
                            return err("`/*' without matching `*/'.");
                        }
                        p += 1;
                    }
                    continue;
                }
                return err("`/' is only valid as part of `//' or `/*'.");
            }
            b'(' => one(&mut p, Token::LParen),
            b')' => one(&mut p, Token::RParen),
            b'{' => one(&mut p, Token::LCurly),
            b'}' => one(&mut p, Token::RCurly),
            b'[' => one(&mut p, Token::LSquare),
            b']' => one(&mut p, Token::RSquare),
            b',' => one(&mut p, Token::Comma),
            b';' => one(&mut p, Token::Semicolon),
            b'=' if at(p + 1) == b'=' => two(&mut p, Token::Eq),
            b'=' => one(&mut p, Token::Equals),
            b'!' if at(p + 1) == b'=' => two(&mut p, Token::Ne),
            b'!' => one(&mut p, Token::Not),
            b'&' if at(p + 1) == b'&' => two(&mut p, Token::And),
            b'&' => return err("`&' is only valid as part of `&&'."),
            b'|' if at(p + 1) == b'|' => two(&mut p, Token::Or),
            b'|' => return err("`|' is only valid as part of `||'."),
            b'<' if at(p + 1) == b'=' => two(&mut p, Token::Le),
            b'<' if at(p + 1) == b'-' && at(p + 2) == b'>' => {
                p += 3;
                Token::Exchange
            }
            b'<' => one(&mut p, Token::Lt),
            b'>' if at(p + 1) == b'=' => two(&mut p, Token::Ge),
            b'>' => one(&mut p, Token::Gt),
            b'.' if at(p + 1) == b'.' => two(&mut p, Token::Ellipsis),
            b'.' => return err("`.' is only valid as part of `..' or a number."),
            b'-' if at(p + 1) == b'-' => two(&mut p, Token::Decrement),
            b'-' => one(&mut p, Token::Hyphen),
            b'$' | b'@' | b'^' => {
                if !is_id1(at(p + 1)) {
                    let m = format!("`{}' must be followed by a valid identifier.", char::from(c));
                    return Err(LexError { msg: m, at: start });
                }
                let name = take_id(b, &mut p, start + 1);
                match c {
                    b'$' => Token::AddrSet(name),
                    b'@' => Token::PortGroup(name),
                    _ => Token::Template(name),
                }
            }
            b':' if at(p + 1) != b':' => one(&mut p, Token::Colon),
            b':' | b'0'..=b'9' => Token::Num(parse_number(input, &mut p).map_err(|msg| LexError { msg, at: start })?),
            b'"' => Token::Str(parse_string(b, &mut p).map_err(|msg| LexError { msg, at: start })?),
            _ if c.is_ascii_hexdigit() => {
                // A MAC or IPv6 address starts with hex digits followed by a colon; an
                // identifier never does.
                let hex_end = (p..b.len()).find(|&i| !at(i).is_ascii_hexdigit()).unwrap_or(b.len());
                if at(hex_end) == b':' {
                    Token::Num(parse_number(input, &mut p).map_err(|msg| LexError { msg, at: start })?)
                } else {
                    Token::Id(take_id(b, &mut p, start))
                }
            }
            _ if is_id1(c) => Token::Id(take_id(b, &mut p, start)),
            _ => {
                let m = if c.is_ascii_graphic() || c == b' ' {
                    format!("Invalid character `{}' in input.", char::from(c))
                } else {
                    format!("Invalid byte 0x{c:x} in input.")
                };
                return Err(LexError { msg: m, at: start });
            }
        };
        out.push(Spanned { tok, start, end: p });
    }
}

fn one(p: &mut usize, t: Token) -> Token {
    *p += 1;
    t
}

fn two(p: &mut usize, t: Token) -> Token {
    *p += 2;
    t
}

/// Reads an identifier whose first character is at `from` (already checked).
fn take_id(b: &[u8], p: &mut usize, from: usize) -> String {
    let mut end = from + 1;
    while b.get(end).copied().is_some_and(is_idn) {
        end += 1;
    }
    *p = end;
    String::from_utf8_lossy(b.get(from..end).unwrap_or_default()).into_owned()
}

fn parse_string(b: &[u8], p: &mut usize) -> Result<String, String> {
    let mut i = *p + 1;
    let mut out: Vec<u8> = Vec::new();
    loop {
        match b.get(i).copied() {
            None => return Err("Input ends inside quoted string.".into()),
            Some(b'"') => {
                *p = i + 1;
                return String::from_utf8(out).map_err(|_| "Invalid UTF-8 in quoted string.".into());
            }
            Some(b'\\') => {
                let e = b.get(i + 1).copied().ok_or("Input ends inside quoted string.")?;
                i += 2;
                match e {
                    b'"' | b'\\' | b'/' => out.push(e),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'u' => {
                        let hex = b.get(i..i + 4).ok_or("Malformed \\u escape.")?;
                        let s = std::str::from_utf8(hex).map_err(|_| "Malformed \\u escape.")?;
                        let cp = u32::from_str_radix(s, 16).map_err(|_| "Malformed \\u escape.")?;
                        let ch = char::from_u32(cp).ok_or("Unsupported \\u escape.")?;
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        i += 4;
                    }
                    _ => return Err("Invalid escape in quoted string.".into()),
                }
            }
            Some(c) => {
                out.push(c);
                i += 1;
            }
        }
    }
}

/// Parses a number (and an optional `/mask`) starting at `*p`.
fn parse_number(input: &str, p: &mut usize) -> Result<Number, String> {
    let (mut n, end) = parse_number_only(input, *p)?;
    *p = end;
    if input.as_bytes().get(end) == Some(&b'/') {
        let (m, mend) = parse_number_only(input, end + 1)?;
        *p = mend;
        let mask = if n.format == m.format {
            m.value
        } else if n.format == NumFormat::Ipv4 && m.format == NumFormat::Decimal && m.value <= 32 {
            prefix_mask(m.value as u32, 32)
        } else if n.format == NumFormat::Ipv6 && m.format == NumFormat::Decimal && m.value <= 128 {
            prefix_mask(m.value as u32, 128)
        } else if n.format == NumFormat::Decimal && m.format == NumFormat::Hex && n.value == 0 {
            n.format = NumFormat::Hex;
            m.value
        } else {
            return Err("Value and mask have incompatible formats.".into());
        };
        n.value &= mask;
        n.mask = Some(mask);
    }
    Ok(n)
}

/// A mask of the `bits` most significant bits of a `width`-bit value.
pub fn prefix_mask(bits: u32, width: u32) -> u128 {
    if bits == 0 {
        return 0;
    }
    let ones = if bits >= 128 { u128::MAX } else { (1u128 << bits) - 1 };
    ones << (width - bits.min(width))
}

fn parse_number_only(input: &str, start: usize) -> Result<(Number, usize), String> {
    let b = input.as_bytes();
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let mut end = start;
    let mut saw_dot = false;
    while at(end).is_ascii_alphanumeric() || (at(end) == b':' && !saw_dot) || (at(end) == b'.' && at(end + 1) != b'.') {
        if at(end) == b'.' {
            saw_dot = true;
        }
        end += 1;
    }
    let text = input.get(start..end).unwrap_or_default();
    let num = |value, format| Ok((Number { value, mask: None, format }, end));
    if text.is_empty() {
        return Err("Integer constant expected.".into());
    }
    if text.len() == 17 {
        if let Some(mac) = parse_mac(text) {
            return num(mac, NumFormat::Ethernet);
        }
    }
    if text.bytes().all(|c| c.is_ascii_digit()) {
        if text.len() > 1 && text.starts_with('0') {
            return Err("Decimal constants must not have leading zeros.".into());
        }
        return match text.parse::<u64>() {
            Ok(v) => num(v.into(), NumFormat::Decimal),
            Err(_) => Err("Decimal constants must be less than 2**64.".into()),
        };
    }
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        if hex.is_empty() {
            return Err(format!("Hex digits expected following {}.", text));
        }
        if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err("Invalid syntax in hexadecimal constant.".into());
        }
        let digits = hex.trim_start_matches('0');
        if digits.len() > 32 {
            return Err("Hexadecimal constant requires more than 128 bits.".into());
        }
        let v = if digits.is_empty() { 0 } else { u128::from_str_radix(digits, 16).map_err(|e| e.to_string())? };
        return num(v, NumFormat::Hex);
    }
    if text.len() < 46 {
        if let Ok(a) = text.parse::<Ipv4Addr>() {
            return num(u32::from(a).into(), NumFormat::Ipv4);
        }
        if let Ok(a) = text.parse::<Ipv6Addr>() {
            return num(u128::from(a), NumFormat::Ipv6);
        }
    }
    Err("Invalid numeric constant.".into())
}

/// `xx:xx:xx:xx:xx:xx` with one or two hex digits per byte, as OVS's ETH_ADDR_SCAN_FMT.
fn parse_mac(s: &str) -> Option<u128> {
    let mut v = 0u128;
    let mut n = 0;
    for part in s.split(':') {
        if part.is_empty() || part.len() > 2 {
            return None;
        }
        v = (v << 8) | u128::from(u8::from_str_radix(part, 16).ok()?);
        n += 1;
    }
    (n == 6).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Token> {
        tokenize(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    fn numv(s: &str) -> Number {
        match toks(s).as_slice() {
            [Token::Num(n)] => *n,
            t => panic!("{s}: {t:?}"),
        }
    }

    #[test]
    fn operators_and_ids() {
        assert_eq!(
            toks("a.b_c == 1 && !x || y[0..3] != {2, 3} // c\n< <= > >= $as @pg ^tv /* k */ \"s\\\"t\""),
            vec![
                Token::Id("a.b_c".into()),
                Token::Eq,
                Token::Num(Number { value: 1, mask: None, format: NumFormat::Decimal }),
                Token::And,
                Token::Not,
                Token::Id("x".into()),
                Token::Or,
                Token::Id("y".into()),
                Token::LSquare,
                Token::Num(Number { value: 0, mask: None, format: NumFormat::Decimal }),
                Token::Ellipsis,
                Token::Num(Number { value: 3, mask: None, format: NumFormat::Decimal }),
                Token::RSquare,
                Token::Ne,
                Token::LCurly,
                Token::Num(Number { value: 2, mask: None, format: NumFormat::Decimal }),
                Token::Comma,
                Token::Num(Number { value: 3, mask: None, format: NumFormat::Decimal }),
                Token::RCurly,
                Token::Lt,
                Token::Le,
                Token::Gt,
                Token::Ge,
                Token::AddrSet("as".into()),
                Token::PortGroup("pg".into()),
                Token::Template("tv".into()),
                Token::Str("s\"t".into()),
            ]
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(numv("0x800").value, 0x800);
        assert_eq!(numv("0x800").format, NumFormat::Hex);
        assert_eq!(numv("10.0.0.0/8"), Number { value: 0x0a00_0000, mask: Some(0xff00_0000), format: NumFormat::Ipv4 });
        assert_eq!(numv("10.1.2.3/255.255.0.0").value, 0x0a01_0000);
        assert_eq!(numv("00:00:00:00:00:01/00:00:00:00:00:ff").mask, Some(0xff));
        assert_eq!(numv("ff:ff:ff:ff:ff:ff").value, 0xffff_ffff_ffff);
        assert_eq!(numv("fe80::/10").mask, Some(0xffc0u128 << 112));
        assert_eq!(numv("::ffff:192.0.2.128").format, NumFormat::Ipv6);
        assert_eq!(numv("0/0x1234"), Number { value: 0, mask: Some(0x1234), format: NumFormat::Hex });
        assert_eq!(numv("ff02::1:ff00:0000/104").format, NumFormat::Ipv6);
        assert!(tokenize("01").is_err());
        assert!(tokenize("18446744073709551616").is_err());
        assert!(tokenize("0x").is_err());
        assert!(tokenize("1.2.3").is_err());
        assert!(tokenize("1.2.3.4/33").is_err());
        assert!(tokenize("a & b").is_err());
        assert!(tokenize("\"abc").is_err());
        assert!(tokenize("/* x").is_err());
        assert!(tokenize("$1").is_err());
    }

    #[test]
    fn templates() {
        let vars = |n: &str| (n == "vip").then(|| "10.0.0.1".to_string());
        let (s, refs) = expand_templates("ip4.dst == ^vip && tcp.dst == ^port", &vars);
        assert_eq!(s, "ip4.dst == 10.0.0.1  && tcp.dst == port ");
        assert_eq!(refs, ["vip", "port"]);
        assert_eq!(expand_templates("ip4", &vars).0, "ip4");
    }

    #[test]
    fn ip_then_port_and_range() {
        // A colon never follows a dot inside one number; `..` ends a number.
        let t = toks("1.2.3.4:80 1..2");
        assert_eq!(t.len(), 6);
        assert_eq!(t[1], Token::Colon);
        assert_eq!(t[4], Token::Ellipsis);
    }
}
