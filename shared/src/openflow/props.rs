//! OpenFlow TLV properties (`struct ofp_prop_header`): 16-bit type and length, the length
//! excluding the padding to a multiple of 8 that follows.

use super::wire::{DecodeError, Put, Reader, Result};

/// One property: its type and payload (without header or padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prop<'a> {
    pub ptype: u16,
    pub payload: &'a [u8],
}

/// Read the next property; the cursor ends after its padding (or at the end of the input
/// when the last property omits it, which OVS tolerates).
pub fn read_prop<'a>(r: &mut Reader<'a>) -> Result<Prop<'a>> {
    let ptype = r.u16()?;
    let len = usize::from(r.u16()?);
    if len < 4 {
        return Err(DecodeError::BadLength { what: "property", len });
    }
    let payload = r.bytes(len - 4)?;
    let pad = super::wire::round8(len) - len;
    let pad = pad.min(r.remaining());
    r.skip(pad)?;
    Ok(Prop { ptype, payload })
}

/// Read all properties.
pub fn read_props<'a>(buf: &'a [u8], what: &'static str) -> Result<Vec<Prop<'a>>> {
    let mut r = Reader::new(buf, what);
    let mut v = Vec::new();
    while !r.is_empty() {
        v.push(read_prop(&mut r)?);
    }
    Ok(v)
}

/// Append a property with `payload`, padded to 8 bytes.
pub fn put_prop(out: &mut Vec<u8>, ptype: u16, payload: &[u8]) {
    let start = out.len();
    out.put_u16(ptype);
    out.put_u16((4 + payload.len()) as u16);
    out.extend_from_slice(payload);
    out.pad_from(start, 8);
}

/// Append a property holding nested data that must start 8-byte aligned (4 bytes of
/// padding after the header, counted in the length, as OVS's nested properties do).
pub fn put_nested_prop(out: &mut Vec<u8>, ptype: u16, nested: &[u8]) {
    let start = out.len();
    out.put_u16(ptype);
    out.put_u16((8 + nested.len()) as u16);
    out.put_zeros(4);
    out.extend_from_slice(nested);
    out.pad_from(start, 8);
}

/// The nested part of a property written by [`put_nested_prop`].
pub fn nested_payload<'a>(p: &Prop<'a>) -> Result<&'a [u8]> {
    p.payload.get(4..).ok_or(DecodeError::BadLength { what: "nested property", len: p.payload.len() })
}

/// 8- and 16-bit payloads: OpenFlow pads 16-bit values to 4 bytes, so (like OVS) accept
/// any payload at least as long as the value.
pub fn prop_u8(p: &Prop<'_>) -> Result<u8> {
    Reader::new(p.payload, "u8 property").u8()
}
pub fn prop_u16(p: &Prop<'_>) -> Result<u16> {
    Reader::new(p.payload, "u16 property").u16()
}

/// Append a 16-bit property the way the OpenFlow specs lay it out (length 8).
pub fn put_prop_u16(out: &mut Vec<u8>, ptype: u16, v: u16) {
    let b = v.to_be_bytes();
    put_prop(out, ptype, &[b[0], b[1], 0, 0]);
}

/// Payload as a u32 of exactly that width.
pub fn prop_u32(p: &Prop<'_>) -> Result<u32> {
    Reader::new(p.payload, "u32 property").u32().and_then(|v| exact(p, 4).map(|_| v))
}
/// 64-bit values sit 8-byte aligned, after 4 bytes of padding.
pub fn prop_u64(p: &Prop<'_>) -> Result<u64> {
    exact(p, 12)?;
    let mut r = Reader::new(p.payload, "u64 property");
    r.skip(4)?;
    r.u64()
}

/// Append a 64-bit property (aligned like OVS writes it).
pub fn put_prop_u64(out: &mut Vec<u8>, ptype: u16, v: u64) {
    put_nested_prop(out, ptype, &v.to_be_bytes());
}
fn exact(p: &Prop<'_>, n: usize) -> Result<()> {
    if p.payload.len() == n {
        Ok(())
    } else {
        Err(DecodeError::BadLength { what: "property payload", len: p.payload.len() })
    }
}
