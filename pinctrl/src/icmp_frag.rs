//! `icmp4.frag_mtu = N;` / `icmp6.frag_mtu = N;` inside `icmp4_error{}` / `icmp6_error{}`
//! (ACTION_OPCODE_PUT_ICMP4_FRAG_MTU / PUT_ICMP6_FRAG_MTU, 23.03's
//! pinctrl_handle_put_icmp_frag_mtu): the paused ICMP error gets the MTU (ICMPv4: the
//! be16 "next-hop MTU" of a fragmentation-needed message, ICMPv6: the be32 MTU of a packet
//! too big) and its checksums fixed, then resumes. Which one is the packet's kind, not the
//! opcode, as in 23.03. Sans-IO; the packet is untrusted.

use crate::compose::csum;
use crate::flow::{Headers, Net, IPPROTO_ICMP, IPPROTO_ICMPV6};
use crate::handlers::Refused;

/// OVS's recalc_csum16 (RFC 1624, eqn. 3): the checksum `old_csum` after one 16-bit word
/// changed from `old` to `new`.
fn recalc_csum16(old_csum: u16, old: u16, new: u16) -> u16 {
    let mut sum = u32::from(!old_csum) + u32::from(!old) + u32::from(new);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at.checked_add(1)?)?]))
}

/// The ICMP error `h` with the MTU from the action's `payload` written in.
pub fn set_frag_mtu(h: &Headers<'_>, payload: &[u8]) -> Result<Vec<u8>, Refused> {
    let l4 = h.l4_ofs.ok_or(Refused("put_icmp(4/6)_frag_mtu action on non-ICMPv4/v6 packet"))?;
    let mut p = h.data.to_vec();
    match h.net {
        Net::Ipv4 { proto: IPPROTO_ICMP, .. } => {
            let Some(&[m0, m1]) = payload.get(..2) else { return Err(Refused("put_icmp4_frag_mtu without an MTU")) };
            let (old_mtu, old_csum) = (be16(&p, l4 + 6), be16(&p, l4 + 2));
            let (Some(old_mtu), Some(old_csum)) = (old_mtu, old_csum) else {
                return Err(Refused("put_icmp4_frag_mtu on a truncated ICMP header"));
            };
            let new = u16::from_be_bytes([m0, m1]);
            let c = recalc_csum16(old_csum, old_mtu, new);
            p.get_mut(l4 + 6..l4 + 8).ok_or(Refused("truncated"))?.copy_from_slice(&new.to_be_bytes());
            p.get_mut(l4 + 2..l4 + 4).ok_or(Refused("truncated"))?.copy_from_slice(&c.to_be_bytes());
            // The IPv4 header checksum, recomputed.
            let l3 = h.l3_ofs;
            let hdr = p.get_mut(l3..l4).ok_or(Refused("truncated"))?;
            if hdr.len() < 20 {
                return Err(Refused("put_icmp4_frag_mtu on a short IPv4 header"));
            }
            let Some(sum) = hdr.get_mut(10..12) else { return Err(Refused("truncated")) };
            sum.copy_from_slice(&[0, 0]);
            let c = csum(hdr);
            if let Some(sum) = hdr.get_mut(10..12) {
                sum.copy_from_slice(&c.to_be_bytes());
            }
        }
        Net::Ipv6 { proto: IPPROTO_ICMPV6, src, dst, payload_len, .. } => {
            let mtu = payload.get(..4).ok_or(Refused("put_icmp6_frag_mtu without an MTU"))?;
            let truncated = Refused("put_icmp6_frag_mtu on a truncated ICMPv6 header");
            p.get_mut(l4 + 4..l4 + 8).ok_or(truncated)?.copy_from_slice(mtu);
            p.get_mut(l4 + 2..l4 + 4).ok_or(Refused("truncated"))?.copy_from_slice(&[0, 0]);
            // packet_csum_pseudoheader6 (the IPv6 header's next header and payload length)
            // and the message up to the end of the packet.
            let nxt = p.get(h.l3_ofs + 6).copied().unwrap_or(IPPROTO_ICMPV6);
            let mut sum = src.octets().to_vec();
            sum.extend_from_slice(&dst.octets());
            sum.extend_from_slice(&[0, nxt]);
            sum.extend_from_slice(&payload_len.to_be_bytes());
            sum.extend_from_slice(p.get(l4..).unwrap_or_default());
            let c = csum(&sum);
            p.get_mut(l4 + 2..l4 + 4).ok_or(Refused("truncated"))?.copy_from_slice(&c.to_be_bytes());
        }
        _ => return Err(Refused("put_icmp(4/6)_frag_mtu action on non-ICMPv4/v6 packet")),
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose;

    fn icmp4_error() -> Vec<u8> {
        let quoted = [0x45u8; 28];
        let mut icmp = compose::icmp4_unreach(4, &quoted);
        icmp[6..8].copy_from_slice(&[0x12, 0x34]);
        let c = {
            icmp[2..4].copy_from_slice(&[0, 0]);
            csum(&icmp)
        };
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        compose::ipv4([1; 6], [2; 6], [10, 0, 0, 1].into(), [10, 0, 0, 2].into(), IPPROTO_ICMP, 255, &icmp)
    }

    #[test]
    fn icmp4_gets_the_mtu_and_right_checksums() {
        let p = icmp4_error();
        let out = set_frag_mtu(&Headers::parse(&p).unwrap(), &1000u16.to_be_bytes()).unwrap();
        assert_eq!(&out[34 + 6..34 + 8], &1000u16.to_be_bytes());
        assert_eq!(csum(&out[34..]), 0, "ICMP checksum");
        assert_eq!(csum(&out[14..34]), 0, "IP checksum");
        assert_eq!(out.len(), p.len());
    }

    #[test]
    fn icmp6_gets_the_mtu_and_a_right_checksum() {
        let (s, d) = ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap());
        let body = compose::icmp6_unreach(0, s, d, &[0x60; 48]);
        let p = compose::ipv6([1; 6], [2; 6], s, d, IPPROTO_ICMPV6, 255, &body);
        let out = set_frag_mtu(&Headers::parse(&p).unwrap(), &1400u32.to_be_bytes()).unwrap();
        assert_eq!(&out[54 + 4..54 + 8], &1400u32.to_be_bytes());
        assert_eq!(compose::icmp6_checksum(s, d, &out[54..]), 0);
    }

    #[test]
    fn other_packets_and_short_payloads_are_refused() {
        let udp = crate::handlers::tests::udp4();
        assert!(set_frag_mtu(&Headers::parse(&udp).unwrap(), &[0, 1]).is_err());
        let p = icmp4_error();
        assert!(set_frag_mtu(&Headers::parse(&p).unwrap(), &[3]).is_err());
        for n in 0..p.len() {
            if let Ok(h) = Headers::parse(&p[..n]) {
                let _ = set_frag_mtu(&h, &[1, 2, 3, 4]);
            }
        }
    }
}
