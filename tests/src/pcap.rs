//! Minimal pcap reader for the files ovs-vswitchd's dummy netdevs write (`options:tx_pcap`,
//! `options:rxq_pcap`). The writer may be mid-record while we read, so a truncated trailing
//! record is ignored rather than treated as an error.

use std::io;
use std::path::Path;
use std::time::Duration;

/// One captured packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcapRecord {
    /// Capture time since the Unix epoch, as written by the switch.
    pub ts: Duration,
    /// The captured bytes (Ethernet frame for link type 1).
    pub data: Vec<u8>,
    /// Length on the wire (may exceed `data.len()` if the snap length cut it).
    pub orig_len: u32,
}

/// Parses a whole pcap file image.
pub fn parse(buf: &[u8]) -> Result<Vec<PcapRecord>, String> {
    if buf.len() < 24 {
        // OVS writes the header when it opens the file; an empty/short file has no packets yet.
        return Ok(Vec::new());
    }
    let magic = [buf[0], buf[1], buf[2], buf[3]];
    let (big_endian, nanos) = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => (false, false),
        [0xa1, 0xb2, 0xc3, 0xd4] => (true, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => (false, true),
        [0xa1, 0xb2, 0x3c, 0x4d] => (true, true),
        _ => return Err(format!("not a pcap file (magic {magic:02x?})")),
    };
    let u32_at = |off: usize| {
        let b = [buf[off], buf[off + 1], buf[off + 2], buf[off + 3]];
        if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    let mut records = Vec::new();
    let mut off = 24;
    while off + 16 <= buf.len() {
        let (sec, frac, incl, orig) = (u32_at(off), u32_at(off + 4), u32_at(off + 8) as usize, u32_at(off + 12));
        let start = off + 16;
        let Some(end) = start.checked_add(incl).filter(|e| *e <= buf.len()) else {
            break; // record still being written
        };
        let sub = if nanos { frac } else { frac.saturating_mul(1000) };
        records.push(PcapRecord {
            ts: Duration::new(u64::from(sec), sub.min(999_999_999)),
            data: buf[start..end].to_vec(),
            orig_len: orig,
        });
        off = end;
    }
    Ok(records)
}

/// Reads a pcap file. A file that does not exist yet reads as no packets.
pub fn read(path: &Path) -> io::Result<Vec<PcapRecord>> {
    match std::fs::read(path) {
        Ok(buf) => parse(&buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(magic: [u8; 4], be: bool, recs: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let w = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut out = magic.to_vec();
        out.extend_from_slice(&[0; 4]); // version (unchecked)
        out.extend_from_slice(&[0; 8]); // thiszone, sigfigs
        out.extend_from_slice(&w(65535));
        out.extend_from_slice(&w(1));
        for (s, f, d) in recs {
            out.extend_from_slice(&w(*s));
            out.extend_from_slice(&w(*f));
            out.extend_from_slice(&w(d.len() as u32));
            out.extend_from_slice(&w(d.len() as u32));
            out.extend_from_slice(d);
        }
        out
    }

    #[test]
    fn little_endian_micros() {
        let f = file([0xd4, 0xc3, 0xb2, 0xa1], false, &[(5, 7, b"ab"), (6, 0, b"")]);
        let r = parse(&f).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].ts, Duration::new(5, 7000));
        assert_eq!(r[0].data, b"ab");
        assert_eq!(r[1].data, b"");
    }

    #[test]
    fn big_endian_nanos() {
        let f = file([0xa1, 0xb2, 0x3c, 0x4d], true, &[(1, 2, b"xyz")]);
        let r = parse(&f).unwrap();
        assert_eq!(r[0].ts, Duration::new(1, 2));
        assert_eq!(r[0].data, b"xyz");
        assert_eq!(r[0].orig_len, 3);
    }

    #[test]
    fn truncated_tail_and_empty() {
        let mut f = file([0xd4, 0xc3, 0xb2, 0xa1], false, &[(1, 0, b"abcd"), (2, 0, b"efgh")]);
        f.truncate(f.len() - 2);
        assert_eq!(parse(&f).unwrap().len(), 1);
        assert!(parse(&f[..10]).unwrap().is_empty());
        assert!(parse(&[0u8; 24]).is_err());
    }
}
