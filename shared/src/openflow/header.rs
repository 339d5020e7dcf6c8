//! The 8-byte OpenFlow header, version and message-type numbers, and stream framing.

use super::wire::{DecodeError, Put, Reader, Result};

/// OpenFlow wire version numbers.
pub const OFP10_VERSION: u8 = 0x01;
pub const OFP11_VERSION: u8 = 0x02;
pub const OFP12_VERSION: u8 = 0x03;
pub const OFP13_VERSION: u8 = 0x04;
pub const OFP14_VERSION: u8 = 0x05;
/// The only version chassisd speaks after HELLO (as ovn-controller 23.03 does).
pub const OFP15_VERSION: u8 = 0x06;

/// Size of `struct ofp_header`.
pub const HEADER_LEN: usize = 8;
/// Experimenter id of Nicira (OVS) extensions.
pub const NX_VENDOR_ID: u32 = 0x0000_2320;
/// Experimenter id of the ONF.
pub const ONF_VENDOR_ID: u32 = 0x4f4e_4600;

/// OpenFlow 1.5 message types (`ofp_header.type`).
pub mod ofpt {
    pub const HELLO: u8 = 0;
    pub const ERROR: u8 = 1;
    pub const ECHO_REQUEST: u8 = 2;
    pub const ECHO_REPLY: u8 = 3;
    pub const EXPERIMENTER: u8 = 4;
    pub const FEATURES_REQUEST: u8 = 5;
    pub const FEATURES_REPLY: u8 = 6;
    pub const GET_CONFIG_REQUEST: u8 = 7;
    pub const GET_CONFIG_REPLY: u8 = 8;
    pub const SET_CONFIG: u8 = 9;
    pub const PACKET_IN: u8 = 10;
    pub const FLOW_REMOVED: u8 = 11;
    pub const PORT_STATUS: u8 = 12;
    pub const PACKET_OUT: u8 = 13;
    pub const FLOW_MOD: u8 = 14;
    pub const GROUP_MOD: u8 = 15;
    pub const PORT_MOD: u8 = 16;
    pub const TABLE_MOD: u8 = 17;
    pub const MULTIPART_REQUEST: u8 = 18;
    pub const MULTIPART_REPLY: u8 = 19;
    pub const BARRIER_REQUEST: u8 = 20;
    pub const BARRIER_REPLY: u8 = 21;
    pub const ROLE_REQUEST: u8 = 24;
    pub const ROLE_REPLY: u8 = 25;
    pub const GET_ASYNC_REQUEST: u8 = 26;
    pub const GET_ASYNC_REPLY: u8 = 27;
    pub const SET_ASYNC: u8 = 28;
    pub const METER_MOD: u8 = 29;
    pub const ROLE_STATUS: u8 = 30;
    pub const TABLE_STATUS: u8 = 31;
    pub const REQUESTFORWARD: u8 = 32;
    pub const BUNDLE_CONTROL: u8 = 33;
    pub const BUNDLE_ADD_MESSAGE: u8 = 34;
}

/// Nicira experimenter message subtypes (`nicira_header.subtype`).
pub mod nxt {
    pub const SET_PACKET_IN_FORMAT: u32 = 16;
    pub const SET_ASYNC_CONFIG: u32 = 19;
    pub const SET_CONTROLLER_ID: u32 = 20;
    pub const TLV_TABLE_MOD: u32 = 24;
    pub const TLV_TABLE_REQUEST: u32 = 25;
    pub const TLV_TABLE_REPLY: u32 = 26;
    pub const RESUME: u32 = 28;
    pub const CT_FLUSH_ZONE: u32 = 29;
    pub const PACKET_IN2: u32 = 30;
}

/// `struct ofp_header`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: u8,
    pub msg_type: u8,
    /// Total message length including this header.
    pub length: u16,
    pub xid: u32,
}

impl Header {
    /// Decode the first 8 bytes; checks only that `length` covers the header.
    pub fn decode(buf: &[u8]) -> Result<Header> {
        let mut r = Reader::new(buf, "ofp_header");
        let h = Header { version: r.u8()?, msg_type: r.u8()?, length: r.u16()?, xid: r.u32()? };
        if usize::from(h.length) < HEADER_LEN {
            return Err(DecodeError::BadLength { what: "ofp_header", len: h.length.into() });
        }
        Ok(h)
    }

    /// Append this header.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_u8(self.version);
        out.put_u8(self.msg_type);
        out.put_u16(self.length);
        out.put_u32(self.xid);
    }
}

/// Framing for a byte stream: how long is the message at the start of `buf`?
///
/// `Ok(None)` means more bytes are needed to know; `Ok(Some(n))` means the first message is
/// `n` bytes (it may not all be buffered yet). A length below 8 can never resynchronise, so
/// it is an error and the connection should be dropped.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    Header::decode(buf).map(|h| Some(usize::from(h.length)))
}

/// Split off the first complete message of `buf`, if there is one.
pub fn split_frame(buf: &[u8]) -> Result<Option<(&[u8], &[u8])>> {
    match frame_len(buf)? {
        Some(n) if buf.len() >= n => Ok(Some(buf.split_at(n))),
        _ => Ok(None),
    }
}

/// Version negotiation as OpenFlow 1.3.1+ and OVS do it: with version bitmaps on both
/// sides, the highest common version; otherwise the lower of the two header versions,
/// if we support it. `ours` is a bitmap (bit N = wire version N).
pub fn negotiate_version(ours: u32, peer_header_version: u8, peer_bitmap: u32) -> Option<u8> {
    let common = if peer_bitmap != 0 {
        ours & peer_bitmap
    } else {
        let v = peer_header_version.min(31 - ours.leading_zeros() as u8);
        ours & 1u32.checked_shl(v.into()).unwrap_or(0)
    };
    (common != 0).then(|| (31 - common.leading_zeros()) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        let of15 = 1 << OFP15_VERSION;
        assert_eq!(negotiate_version(of15, 6, 0x7e), Some(6));
        assert_eq!(negotiate_version(of15, 6, 1 << 4), None);
        assert_eq!(negotiate_version(of15, 6, 0), Some(6));
        assert_eq!(negotiate_version(of15, 4, 0), None);
        assert_eq!(negotiate_version(of15 | 1 << 4, 5, 0), None);
        assert_eq!(negotiate_version(of15 | 1 << 4, 4, 0), Some(4));
    }

    #[test]
    fn framing() {
        assert_eq!(frame_len(&[6, 0, 0]), Ok(None));
        assert_eq!(frame_len(&[6, 0, 0, 16, 0, 0, 0, 0]), Ok(Some(16)));
        assert!(frame_len(&[6, 0, 0, 4, 0, 0, 0, 0]).is_err());
        let two = [6, 2, 0, 8, 0, 0, 0, 1, 6, 3, 0, 8, 0, 0, 0, 1, 6];
        let (a, rest) = split_frame(&two).unwrap().unwrap();
        assert_eq!(a.len(), 8);
        let (b, rest) = split_frame(rest).unwrap().unwrap();
        assert_eq!(b[1], 3);
        assert_eq!(split_frame(rest), Ok(None));
    }
}
