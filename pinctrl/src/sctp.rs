//! `sctp_abort{}` and the SCTP branch of `reject{}` (23.03's pinctrl_handle_sctp_abort): an
//! SCTP ABORT answering the packet, with the verification tag RFC 4960 section 8.4 asks for.
//! Sans-IO; the packet is untrusted.

use crate::compose;
use crate::flow::{Headers, Net, IPPROTO_SCTP, L4};
use crate::handlers::Refused;

const SCTP_HEADER_LEN: usize = 12;
const SCTP_CHUNK_HEADER_LEN: usize = 4;
const SCTP_INIT_CHUNK_LEN: usize = 16;
const CHUNK_INIT: u8 = 1;
const CHUNK_ABORT: u8 = 6;
/// The T bit: the verification tag is the sender's own, reflected.
const ABORT_FLAG_T: u8 = 1;

/// CRC-32C (Castagnoli), as SCTP's checksum (RFC 4960 appendix B).
pub fn crc32c(data: &[u8]) -> u32 {
    const fn table() -> [u32; 256] {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 { (c >> 1) ^ 0x82f6_3b78 } else { c >> 1 };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    }
    const TABLE: [u32; 256] = table();
    let mut crc = !0u32;
    for b in data {
        crc = TABLE[((crc ^ u32::from(*b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

/// The ABORT for the SCTP packet `h`, looped back to its sender when `loopback` (as
/// `reject{}` does) or sent on with the packet's own addresses (`sctp_abort{}`). Ok(None)
/// when 23.03 sends nothing: the packet is itself an ABORT.
pub fn sctp_abort(h: &Headers<'_>, loopback: bool) -> Result<Option<Vec<u8>>, Refused> {
    if h.nw_proto() != Some(IPPROTO_SCTP) {
        return Err(Refused("SCTP_ABORT action on non-SCTP packet"));
    }
    let L4::Sctp { src: sport, dst: dport } = h.l4 else {
        return Err(Refused("SCTP_ABORT action on malformed SCTP packet"));
    };
    let l4 = h.l4();
    let vtag_in: [u8; 4] =
        l4.get(4..8).and_then(|b| b.try_into().ok()).ok_or(Refused("SCTP_ABORT action on malformed SCTP packet"))?;
    let chunk_type = *l4
        .get(SCTP_HEADER_LEN..SCTP_HEADER_LEN + SCTP_CHUNK_HEADER_LEN)
        .and_then(|c| c.first())
        .ok_or(Refused("SCTP_ABORT action on SCTP packet with no chunks"))?;
    if chunk_type == CHUNK_ABORT {
        return Ok(None);
    }
    let init_tag = if chunk_type == CHUNK_INIT {
        let at = SCTP_HEADER_LEN + SCTP_CHUNK_HEADER_LEN;
        let init =
            l4.get(at..at + SCTP_INIT_CHUNK_LEN).ok_or(Refused("Incomplete SCTP INIT chunk. Ignoring packet."))?;
        init.get(..4).and_then(|b| <[u8; 4]>::try_from(b).ok())
    } else {
        None
    };
    let (vtag, reflected) = match init_tag {
        // RFC 4960 8.4 item 3: an INIT's tag is zero; answer with its Initiate Tag.
        Some(t) if vtag_in == [0; 4] => (t, false),
        // Item 8: reflect the packet's own tag, T bit set.
        _ => (vtag_in, true),
    };
    let mut sctp = Vec::with_capacity(SCTP_HEADER_LEN + SCTP_CHUNK_HEADER_LEN);
    sctp.extend_from_slice(&dport.to_be_bytes());
    sctp.extend_from_slice(&sport.to_be_bytes());
    sctp.extend_from_slice(&vtag);
    sctp.extend_from_slice(&[0; 4]);
    sctp.extend_from_slice(&[CHUNK_ABORT, if reflected { ABORT_FLAG_T } else { 0 }, 0, 4]);
    let crc = crc32c(&sctp);
    // OVS stores the CRC as it computed it (little-endian on the wire, RFC 4960 B).
    if let Some(c) = sctp.get_mut(8..12) {
        c.copy_from_slice(&crc.to_le_bytes());
    }
    let (eth_src, eth_dst) = if loopback { (h.dl_dst, h.dl_src) } else { (h.dl_src, h.dl_dst) };
    Ok(Some(match h.net {
        Net::Ipv4 { src, dst, .. } => {
            let (s, d) = if loopback { (dst, src) } else { (src, dst) };
            compose::ipv4(eth_src, eth_dst, s, d, IPPROTO_SCTP, 63, &sctp)
        }
        Net::Ipv6 { src, dst, .. } => {
            let (s, d) = if loopback { (dst, src) } else { (src, dst) };
            compose::ipv6(eth_src, eth_dst, s, d, IPPROTO_SCTP, 63, &sctp)
        }
        _ => return Err(Refused("SCTP_ABORT action on non-IP packet")),
    }))
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// An SCTP packet (IPv4) with one chunk of type `chunk` and verification tag `vtag`; an
    /// INIT carries Initiate Tag 0x11223344.
    pub fn sctp4(chunk: u8, vtag: u32) -> Vec<u8> {
        let mut s = Vec::new();
        s.extend_from_slice(&5000u16.to_be_bytes());
        s.extend_from_slice(&80u16.to_be_bytes());
        s.extend_from_slice(&vtag.to_be_bytes());
        s.extend_from_slice(&[0; 4]);
        if chunk == CHUNK_INIT {
            s.extend_from_slice(&[CHUNK_INIT, 0, 0, 20]);
            s.extend_from_slice(&[0x11, 0x22, 0x33, 0x44, 0, 1, 0, 0, 0, 10, 0, 10, 0, 0, 0, 1]);
        } else {
            s.extend_from_slice(&[chunk, 0, 0, 4]);
        }
        let crc = crc32c(&s);
        s[8..12].copy_from_slice(&crc.to_le_bytes());
        compose::ipv4(
            [0x50, 0x54, 0, 0, 0, 1],
            [0x50, 0x54, 0, 0, 0, 2],
            [10, 0, 0, 2].into(),
            [10, 0, 0, 3].into(),
            132,
            64,
            &s,
        )
    }

    #[test]
    fn crc32c_known_answers() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        // RFC 3720 B.4: 32 bytes of zeros.
        assert_eq!(crc32c(&[0; 32]), 0x8a91_36aa);
    }

    #[test]
    fn abort_for_an_init_carries_its_initiate_tag() {
        let p = sctp4(CHUNK_INIT, 0);
        let h = Headers::parse(&p).unwrap();
        let out = sctp_abort(&h, true).unwrap().unwrap();
        let r = Headers::parse(&out).unwrap();
        assert_eq!(r.dl_dst, h.dl_src);
        assert!(
            matches!(r.net, Net::Ipv4 { ttl: 63, proto: 132, src, .. } if src == std::net::Ipv4Addr::new(10, 0, 0, 3))
        );
        assert_eq!(r.l4, L4::Sctp { src: 80, dst: 5000 });
        let s = r.l4();
        assert_eq!(s.len(), 16);
        assert_eq!(&s[4..8], &[0x11, 0x22, 0x33, 0x44]);
        assert_eq!(&s[12..16], &[CHUNK_ABORT, 0, 0, 4]);
        let mut z = s.to_vec();
        z[8..12].copy_from_slice(&[0; 4]);
        assert_eq!(&s[8..12], &crc32c(&z).to_le_bytes());
    }

    #[test]
    fn abort_for_data_reflects_the_tag_and_aborts_are_not_answered() {
        let p = sctp4(0, 0xdead_beef);
        let out = sctp_abort(&Headers::parse(&p).unwrap(), false).unwrap().unwrap();
        let r = Headers::parse(&out).unwrap();
        assert_eq!(r.l4, L4::Sctp { src: 80, dst: 5000 });
        assert_eq!(&r.l4()[4..8], &0xdead_beefu32.to_be_bytes());
        assert_eq!(r.l4()[13], ABORT_FLAG_T);
        let abort = sctp4(CHUNK_ABORT, 1);
        assert_eq!(sctp_abort(&Headers::parse(&abort).unwrap(), true), Ok(None));
    }

    #[test]
    fn truncated_sctp_is_refused() {
        let p = sctp4(CHUNK_INIT, 0);
        for n in 14..p.len() {
            if let Ok(h) = Headers::parse(&p[..n]) {
                let _ = sctp_abort(&h, true);
            }
        }
        let udp = crate::handlers::tests::udp4();
        assert!(sctp_abort(&Headers::parse(&udp).unwrap(), true).is_err());
    }
}
