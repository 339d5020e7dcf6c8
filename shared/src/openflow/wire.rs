//! Big-endian cursor for decoding and append helpers for encoding.
//!
//! Every read is checked: running off the end of the input is an error, never a panic.

use std::fmt;

/// Why a byte string could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended before `what` was complete.
    Truncated { what: &'static str },
    /// A length field is inconsistent (too small, not a multiple of 8, past the end).
    BadLength { what: &'static str, len: usize },
    /// A value is outside what the protocol allows.
    BadValue { what: &'static str, value: u64 },
    /// A well-formed value that this codec does not know.
    Unsupported { what: &'static str, value: u64 },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { what } => write!(f, "{what}: truncated"),
            DecodeError::BadLength { what, len } => write!(f, "{what}: bad length {len}"),
            DecodeError::BadValue { what, value } => write!(f, "{what}: bad value {value:#x}"),
            DecodeError::Unsupported { what, value } => {
                write!(f, "{what}: unsupported value {value:#x}")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Shorthand for decode results.
pub type Result<T> = std::result::Result<T, DecodeError>;

/// A read cursor over untrusted bytes.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A cursor over `buf`; `what` names the structure in errors.
    pub fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, pos: 0, what }
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True when everything has been consumed.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Offset of the next byte, from the start of this cursor.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The unconsumed tail, without consuming it.
    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// Consume and return `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated { what: self.what })?;
        let s = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated { what: self.what })?;
        self.pos = end;
        Ok(s)
    }

    /// Consume `n` bytes as a sub-cursor.
    pub fn sub(&mut self, n: usize, what: &'static str) -> Result<Reader<'a>> {
        let what_outer = self.what;
        let b = self.bytes(n).map_err(|_| DecodeError::BadLength { what: what_outer, len: n })?;
        Ok(Reader::new(b, what))
    }

    /// Consume everything that is left.
    pub fn take_rest(&mut self) -> &'a [u8] {
        let r = self.rest();
        self.pos = self.buf.len();
        r
    }

    /// Skip `n` bytes (padding).
    pub fn skip(&mut self, n: usize) -> Result<()> {
        self.bytes(n).map(|_| ())
    }

    /// Fixed-size array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let b = self.bytes(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }

    pub fn u8(&mut self) -> Result<u8> {
        Ok(u8::from_be_bytes(self.array()?))
    }
    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    pub fn u128(&mut self) -> Result<u128> {
        Ok(u128::from_be_bytes(self.array()?))
    }

    /// Peek a big-endian u16 at `off` bytes past the cursor.
    pub fn peek_u16(&self, off: usize) -> Result<u16> {
        let s = self.pos.checked_add(off).ok_or(DecodeError::Truncated { what: self.what })?;
        let b = self.buf.get(s..s + 2).ok_or(DecodeError::Truncated { what: self.what })?;
        let a: [u8; 2] = b.try_into().map_err(|_| DecodeError::Truncated { what: self.what })?;
        Ok(u16::from_be_bytes(a))
    }

    /// Peek a big-endian u32 at `off` bytes past the cursor.
    pub fn peek_u32(&self, off: usize) -> Result<u32> {
        let s = self.pos.checked_add(off).ok_or(DecodeError::Truncated { what: self.what })?;
        let b = self.buf.get(s..s + 4).ok_or(DecodeError::Truncated { what: self.what })?;
        let a: [u8; 4] = b.try_into().map_err(|_| DecodeError::Truncated { what: self.what })?;
        Ok(u32::from_be_bytes(a))
    }

    /// The error to return for a structural problem in this cursor.
    pub fn bad_len(&self, len: usize) -> DecodeError {
        DecodeError::BadLength { what: self.what, len }
    }
}

/// Append helpers on `Vec<u8>`.
pub trait Put {
    fn put_u8(&mut self, v: u8);
    fn put_u16(&mut self, v: u16);
    fn put_u32(&mut self, v: u32);
    fn put_u64(&mut self, v: u64);
    fn put_u128(&mut self, v: u128);
    fn put_zeros(&mut self, n: usize);
    /// Zero-pad to a multiple of `align` bytes counted from `start`.
    fn pad_from(&mut self, start: usize, align: usize);
    /// Overwrite a big-endian u16 already written at `at`.
    fn set_u16(&mut self, at: usize, v: u16);
    /// Overwrite a big-endian u32 already written at `at`.
    fn set_u32(&mut self, at: usize, v: u32);
}

impl Put for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_u128(&mut self, v: u128) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_zeros(&mut self, n: usize) {
        self.resize(self.len() + n, 0);
    }
    fn pad_from(&mut self, start: usize, align: usize) {
        let used = self.len().saturating_sub(start);
        let pad = (align - used % align) % align;
        self.put_zeros(pad);
    }
    fn set_u16(&mut self, at: usize, v: u16) {
        if let Some(s) = self.get_mut(at..at + 2) {
            s.copy_from_slice(&v.to_be_bytes());
        }
    }
    fn set_u32(&mut self, at: usize, v: u32) {
        if let Some(s) = self.get_mut(at..at + 4) {
            s.copy_from_slice(&v.to_be_bytes());
        }
    }
}

/// `n` rounded up to a multiple of 8.
pub fn round8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

/// Hex dump without separators (the form `ovs-ofctl ofp-print` accepts).
pub fn to_hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

/// Parse hex, ignoring ASCII whitespace. `None` on odd length or a non-hex digit.
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    if digits.len() & 1 != 0 {
        return None;
    }
    digits
        .chunks(2)
        .map(|p| match p {
            [h, l] => Some(((*h as char).to_digit(16)? * 16 + (*l as char).to_digit(16)?) as u8),
            _ => None,
        })
        .collect()
}
