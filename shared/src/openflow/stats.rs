//! Multipart (statistics) bodies beyond flow stats: aggregate, group stats and description,
//! meter stats and configuration, port stats, in their OpenFlow 1.5 layouts as OVS writes
//! them. Requests are the 8-byte "which one" bodies (`OFPG_ALL`, `OFPM_ALL`, `OFPP_ANY`
//! select everything).

use super::messages::{decode_bands, decode_buckets, encode_bands, encode_buckets, Bucket, MeterBand};
use super::props;
use super::wire::{DecodeError, Put, Reader, Result};

/// `OFPXMC_OPENFLOW_BASIC`'s statistics class (OXS), as used by OpenFlow 1.5 replies.
pub(crate) const OXS_CLASS: u16 = 0x8002;
const OXS_DURATION: u32 = 0;
const OXS_IDLE_TIME: u32 = 1;
const OXS_FLOW_COUNT: u32 = 3;
const OXS_PACKET_COUNT: u32 = 4;
const OXS_BYTE_COUNT: u32 = 5;

/// An aggregate stats reply (`OFPMP_AGGREGATE`, OXS-encoded in OpenFlow 1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AggregateStats {
    pub flow_count: Option<u32>,
    pub packet_count: Option<u64>,
    pub byte_count: Option<u64>,
}

/// One bucket's counters (`ofp11_bucket_counter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BucketCounter {
    pub packet_count: u64,
    pub byte_count: u64,
}

/// One group in a group stats reply (`ofp13_group_stats`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupStats {
    pub group_id: u32,
    pub ref_count: u32,
    pub packet_count: u64,
    pub byte_count: u64,
    pub duration_sec: u32,
    pub duration_nsec: u32,
    pub buckets: Vec<BucketCounter>,
}

/// One group in a group description reply (`ofp15_group_desc_stats`).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupDesc {
    pub group_type: u8,
    pub group_id: u32,
    pub buckets: Vec<Bucket>,
    /// Group properties (e.g. OVS's selection_method), kept as encoded.
    pub properties: Vec<u8>,
}

/// One band's counters (`ofp13_meter_band_stats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MeterBandStats {
    pub packet_count: u64,
    pub byte_count: u64,
}

/// One meter in a meter stats reply (`ofp13_meter_stats`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MeterStats {
    pub meter_id: u32,
    pub flow_count: u32,
    pub packet_in_count: u64,
    pub byte_in_count: u64,
    pub duration_sec: u32,
    pub duration_nsec: u32,
    pub bands: Vec<MeterBandStats>,
}

/// One meter in a meter configuration reply (`ofp13_meter_config`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterConfig {
    pub flags: u16,
    pub meter_id: u32,
    pub bands: Vec<MeterBand>,
}

/// `OFPPSPT14_ETHERNET` port statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortStatsEthernet {
    pub rx_frame_err: u64,
    pub rx_over_err: u64,
    pub rx_crc_err: u64,
    pub collisions: u64,
}

/// One port in a port stats reply (`ofp14_port_stats`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PortStats {
    pub port_no: u32,
    pub duration_sec: u32,
    pub duration_nsec: u32,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub ethernet: Option<PortStatsEthernet>,
    /// Other properties (optical, OVS's experimenter custom stats), kept as encoded.
    pub other_properties: Vec<u8>,
}

const PORT_STATS_ETHERNET: u16 = 0;

fn oxs_header(field: u32, len: u32) -> u32 {
    (u32::from(OXS_CLASS) << 16) | (field << 9) | len
}

pub(crate) fn decode_aggregate(r: &mut Reader<'_>) -> Result<AggregateStats> {
    r.skip(2)?;
    let slen = usize::from(r.u16()?);
    let mut s = r.sub(slen.checked_sub(4).ok_or(DecodeError::BadLength { what: "oxs", len: slen })?, "oxs")?;
    let pad = super::wire::round8(slen) - slen;
    r.skip(pad.min(r.remaining()))?;
    if !r.is_empty() {
        return Err(DecodeError::BadLength { what: "aggregate stats reply", len: r.remaining() });
    }
    let mut a = AggregateStats::default();
    while !s.is_empty() {
        let h = s.u32()?;
        if (h >> 16) as u16 != OXS_CLASS || h & 0x100 != 0 {
            return Err(DecodeError::Unsupported { what: "oxs header", value: h.into() });
        }
        match ((h >> 9) & 0x7f, h & 0xff) {
            (OXS_FLOW_COUNT, 4) => a.flow_count = Some(s.u32()?),
            (OXS_PACKET_COUNT, 8) => a.packet_count = Some(s.u64()?),
            (OXS_BYTE_COUNT, 8) => a.byte_count = Some(s.u64()?),
            (OXS_DURATION | OXS_IDLE_TIME, 8) => {
                s.u64()?;
            }
            _ => return Err(DecodeError::Unsupported { what: "oxs field", value: h.into() }),
        }
    }
    Ok(a)
}

/// As OVS's `oxs_put_aggregate_stats()`: flow count, then packet and byte counts.
pub(crate) fn encode_aggregate(a: &AggregateStats, out: &mut Vec<u8>) {
    let os = out.len();
    out.put_u32(0);
    if let Some(f) = a.flow_count {
        out.put_u32(oxs_header(OXS_FLOW_COUNT, 4));
        out.put_u32(f);
    }
    if let Some(p) = a.packet_count {
        out.put_u32(oxs_header(OXS_PACKET_COUNT, 8));
        out.put_u64(p);
    }
    if let Some(b) = a.byte_count {
        out.put_u32(oxs_header(OXS_BYTE_COUNT, 8));
        out.put_u64(b);
    }
    let slen = out.len() - os;
    out.set_u16(os + 2, slen as u16);
    out.pad_from(os, 8);
}

/// Entries that start with a 16-bit length at `len_at` and are at least `min` long.
fn entries<'a, T>(
    r: &mut Reader<'a>,
    len_at: usize,
    min: usize,
    what: &'static str,
    mut one: impl FnMut(&mut Reader<'a>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut v = Vec::new();
    while !r.is_empty() {
        let len = usize::from(r.peek_u16(len_at)?);
        if len < min {
            return Err(DecodeError::BadLength { what, len });
        }
        let mut e = r.sub(len, what)?;
        v.push(one(&mut e)?);
        if !e.is_empty() {
            return Err(DecodeError::BadLength { what, len });
        }
    }
    Ok(v)
}

fn counters(e: &mut Reader<'_>, what: &'static str) -> Result<Vec<(u64, u64)>> {
    if !e.remaining().is_multiple_of(16) {
        return Err(DecodeError::BadLength { what, len: e.remaining() });
    }
    let mut v = Vec::new();
    while !e.is_empty() {
        v.push((e.u64()?, e.u64()?));
    }
    Ok(v)
}

pub(crate) fn decode_group_stats(r: &mut Reader<'_>) -> Result<Vec<GroupStats>> {
    entries(r, 0, 40, "group stats", |e| {
        e.skip(4)?;
        let group_id = e.u32()?;
        let ref_count = e.u32()?;
        e.skip(4)?;
        Ok(GroupStats {
            group_id,
            ref_count,
            packet_count: e.u64()?,
            byte_count: e.u64()?,
            duration_sec: e.u32()?,
            duration_nsec: e.u32()?,
            buckets: counters(e, "bucket counters")?
                .into_iter()
                .map(|(packet_count, byte_count)| BucketCounter { packet_count, byte_count })
                .collect(),
        })
    })
}

pub(crate) fn encode_group_stats(groups: &[GroupStats], out: &mut Vec<u8>) {
    for g in groups {
        out.put_u16((40 + 16 * g.buckets.len()) as u16);
        out.put_zeros(2);
        out.put_u32(g.group_id);
        out.put_u32(g.ref_count);
        out.put_zeros(4);
        out.put_u64(g.packet_count);
        out.put_u64(g.byte_count);
        out.put_u32(g.duration_sec);
        out.put_u32(g.duration_nsec);
        for b in &g.buckets {
            out.put_u64(b.packet_count);
            out.put_u64(b.byte_count);
        }
    }
}

pub(crate) fn decode_group_desc(r: &mut Reader<'_>) -> Result<Vec<GroupDesc>> {
    entries(r, 0, 16, "group desc", |e| {
        e.skip(2)?;
        let group_type = e.u8()?;
        e.skip(1)?;
        let group_id = e.u32()?;
        let blen = usize::from(e.u16()?);
        e.skip(6)?;
        let buckets = decode_buckets(&mut e.sub(blen, "group desc buckets")?)?;
        // Properties are TLVs: check their framing, keep their bytes.
        let properties = e.take_rest();
        props::read_props(properties, "group property")?;
        Ok(GroupDesc { group_type, group_id, buckets, properties: properties.to_vec() })
    })
}

pub(crate) fn encode_group_desc(groups: &[GroupDesc], out: &mut Vec<u8>) {
    for g in groups {
        let s = out.len();
        out.put_u16(0);
        out.put_u8(g.group_type);
        out.put_u8(0);
        out.put_u32(g.group_id);
        out.put_u16(0);
        out.put_zeros(6);
        let b = out.len();
        encode_buckets(&g.buckets, out);
        let blen = out.len() - b;
        out.set_u16(s + 8, blen as u16);
        out.extend_from_slice(&g.properties);
        let len = out.len() - s;
        out.set_u16(s, len as u16);
    }
}

pub(crate) fn decode_meter_stats(r: &mut Reader<'_>) -> Result<Vec<MeterStats>> {
    entries(r, 4, 40, "meter stats", |e| {
        let meter_id = e.u32()?;
        e.skip(8)?;
        Ok(MeterStats {
            meter_id,
            flow_count: e.u32()?,
            packet_in_count: e.u64()?,
            byte_in_count: e.u64()?,
            duration_sec: e.u32()?,
            duration_nsec: e.u32()?,
            bands: counters(e, "meter band stats")?
                .into_iter()
                .map(|(packet_count, byte_count)| MeterBandStats { packet_count, byte_count })
                .collect(),
        })
    })
}

pub(crate) fn encode_meter_stats(meters: &[MeterStats], out: &mut Vec<u8>) {
    for m in meters {
        out.put_u32(m.meter_id);
        out.put_u16((40 + 16 * m.bands.len()) as u16);
        out.put_zeros(6);
        out.put_u32(m.flow_count);
        out.put_u64(m.packet_in_count);
        out.put_u64(m.byte_in_count);
        out.put_u32(m.duration_sec);
        out.put_u32(m.duration_nsec);
        for b in &m.bands {
            out.put_u64(b.packet_count);
            out.put_u64(b.byte_count);
        }
    }
}

pub(crate) fn decode_meter_config(r: &mut Reader<'_>) -> Result<Vec<MeterConfig>> {
    entries(r, 0, 8, "meter config", |e| {
        e.skip(2)?;
        let flags = e.u16()?;
        let meter_id = e.u32()?;
        Ok(MeterConfig { flags, meter_id, bands: decode_bands(e)? })
    })
}

pub(crate) fn encode_meter_config(meters: &[MeterConfig], out: &mut Vec<u8>) {
    for m in meters {
        out.put_u16((8 + 16 * m.bands.len()) as u16);
        out.put_u16(m.flags);
        out.put_u32(m.meter_id);
        encode_bands(&m.bands, out);
    }
}

pub(crate) fn decode_port_stats(r: &mut Reader<'_>) -> Result<Vec<PortStats>> {
    entries(r, 0, 80, "port stats", |e| {
        e.skip(4)?;
        let mut p = PortStats {
            port_no: e.u32()?,
            duration_sec: e.u32()?,
            duration_nsec: e.u32()?,
            rx_packets: e.u64()?,
            tx_packets: e.u64()?,
            rx_bytes: e.u64()?,
            tx_bytes: e.u64()?,
            rx_dropped: e.u64()?,
            tx_dropped: e.u64()?,
            rx_errors: e.u64()?,
            tx_errors: e.u64()?,
            ..PortStats::default()
        };
        while !e.is_empty() {
            let start = e.position();
            let rest = e.rest();
            let prop = props::read_prop(e)?;
            if prop.ptype == PORT_STATS_ETHERNET && p.ethernet.is_none() {
                if prop.payload.len() != 36 {
                    return Err(DecodeError::BadLength { what: "port stats ethernet", len: prop.payload.len() });
                }
                let mut q = Reader::new(prop.payload, "port stats ethernet");
                q.skip(4)?;
                p.ethernet = Some(PortStatsEthernet {
                    rx_frame_err: q.u64()?,
                    rx_over_err: q.u64()?,
                    rx_crc_err: q.u64()?,
                    collisions: q.u64()?,
                });
            } else {
                let used = e.position() - start;
                p.other_properties.extend_from_slice(rest.get(..used).unwrap_or_default());
            }
        }
        Ok(p)
    })
}

pub(crate) fn encode_port_stats(ports: &[PortStats], out: &mut Vec<u8>) {
    for p in ports {
        let s = out.len();
        out.put_u16(0);
        out.put_zeros(2);
        out.put_u32(p.port_no);
        out.put_u32(p.duration_sec);
        out.put_u32(p.duration_nsec);
        for v in
            [p.rx_packets, p.tx_packets, p.rx_bytes, p.tx_bytes, p.rx_dropped, p.tx_dropped, p.rx_errors, p.tx_errors]
        {
            out.put_u64(v);
        }
        if let Some(eth) = &p.ethernet {
            out.put_u16(PORT_STATS_ETHERNET);
            out.put_u16(40);
            out.put_zeros(4);
            out.put_u64(eth.rx_frame_err);
            out.put_u64(eth.rx_over_err);
            out.put_u64(eth.rx_crc_err);
            out.put_u64(eth.collisions);
        }
        out.extend_from_slice(&p.other_properties);
        let len = out.len() - s;
        out.set_u16(s, len as u16);
    }
}
