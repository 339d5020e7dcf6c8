//! ovs-ofctl syntax for group mods and meter mods (ovn-controller keeps its groups and
//! meters as these strings and encodes them from text).

use std::fmt::Write;

use super::format::{format_actions, format_port};
use super::parse::{next_kv, parse_actions, parse_port, parse_uint, ParseError};
use crate::openflow::fields::Field;
use crate::openflow::flow_match::put_header;
use crate::openflow::messages::{group_command, group_type, meter, Bucket, GroupMod, MeterBand, MeterMod, OFPG_ALL};
use crate::openflow::wire::{Put, Reader};

type Result<T> = std::result::Result<T, ParseError>;

fn err<T>(m: impl Into<String>) -> Result<T> {
    Err(ParseError(m.into()))
}

/// `OFPG15_BUCKET_*` special ids.
pub const BUCKET_FIRST: u32 = 0xffff_fffd;
pub const BUCKET_LAST: u32 = 0xffff_fffe;
pub const BUCKET_ALL: u32 = 0xffff_ffff;
const BUCKET_MAX: u32 = 0xffff_ff00;

/// Netronome's experimenter id, used by OVS's group selection-method property.
const NTR_VENDOR_ID: u32 = 0x0000_154d;
const NTRT_SELECTION_METHOD: u32 = 1;

/// The selection method carried in a group's properties.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SelectionMethod {
    pub method: String,
    pub param: u64,
    pub fields: Vec<Field>,
}

/// Encode OVS's selection-method group property.
pub fn encode_selection_method(sm: &SelectionMethod) -> Vec<u8> {
    let mut out = Vec::new();
    out.put_u16(0xffff);
    out.put_u16(0);
    out.put_u32(NTR_VENDOR_ID);
    out.put_u32(NTRT_SELECTION_METHOD);
    out.put_zeros(4);
    let mut name = [0u8; 16];
    for (d, s) in name.iter_mut().zip(sm.method.bytes().take(15)) {
        *d = s;
    }
    out.extend_from_slice(&name);
    out.put_u64(sm.param);
    // OVS writes each field as a plain header followed by its (all-ones) mask.
    for f in &sm.fields {
        put_header(&mut out, *f, false, f.n_bytes());
        out.extend(std::iter::repeat_n(0xffu8, f.n_bytes()));
    }
    let len = out.len();
    out.set_u16(2, len as u16);
    out.pad_from(0, 8);
    out
}

/// Decode the selection-method property from group properties, if present.
pub fn decode_selection_method(props: &[u8]) -> Option<SelectionMethod> {
    let mut r = Reader::new(props, "group property");
    while r.remaining() >= 4 {
        let ptype = r.peek_u16(0).ok()?;
        let len = usize::from(r.peek_u16(2).ok()?);
        if len < 4 {
            return None;
        }
        let mut p = r.sub(len, "group property").ok()?;
        r.skip(crate::openflow::wire::round8(len) - len).ok()?;
        p.skip(4).ok()?;
        if ptype != 0xffff || p.u32().ok()? != NTR_VENDOR_ID || p.u32().ok()? != NTRT_SELECTION_METHOD {
            continue;
        }
        p.skip(4).ok()?;
        let name = p.array::<16>().ok()?;
        let end = name.iter().position(|&b| b == 0).unwrap_or(16);
        let method = String::from_utf8_lossy(name.get(..end)?).into_owned();
        let param = p.u64().ok()?;
        let mut fields = Vec::new();
        while !p.is_empty() {
            // Each header is followed by the field's mask.
            let (f, _, n) = crate::openflow::flow_match::read_header(&mut p).ok()?;
            p.skip(n).ok()?;
            fields.push(f);
        }
        return Some(SelectionMethod { method, param, fields });
    }
    None
}

/// Parse a group as `ovs-ofctl add-group`/`mod-group`/`del-groups` do, e.g.
/// `group_id=3,type=select,selection_method=dp_hash,bucket=bucket_id=0,weight:100,actions=output:1`.
pub fn parse_group_mod(command: u16, s: &str) -> Result<GroupMod> {
    let (head, buckets_s) = match s.find("bucket=") {
        Some(i) => (s.get(..i).unwrap_or_default(), Some(s.get(i..).unwrap_or_default())),
        None => (s, None),
    };
    let mut g = GroupMod {
        command,
        group_type: group_type::ALL,
        group_id: 0,
        command_bucket_id: BUCKET_ALL,
        buckets: Vec::new(),
        properties: Vec::new(),
    };
    let mut have_id = false;
    let mut sm: Option<SelectionMethod> = None;
    let mut rest = head;
    while let Some((k, v)) = next_kv(&mut rest) {
        match k {
            "group_id" => {
                g.group_id = if v == "all" { OFPG_ALL } else { parse_uint(v)? as u32 };
                have_id = true;
            }
            "type" => {
                g.group_type = match v {
                    "all" => group_type::ALL,
                    "select" => group_type::SELECT,
                    "indirect" => group_type::INDIRECT,
                    "ff" | "fast_failover" => group_type::FF,
                    _ => return err(format!("invalid group type {v}")),
                }
            }
            "command_bucket_id" => {
                g.command_bucket_id = match v {
                    "first" => BUCKET_FIRST,
                    "last" => BUCKET_LAST,
                    "all" => BUCKET_ALL,
                    _ => parse_uint(v)? as u32,
                }
            }
            "selection_method" => sm.get_or_insert_with(Default::default).method = v.to_string(),
            "selection_method_param" => sm.get_or_insert_with(Default::default).param = parse_uint(v)? as u64,
            "fields" => {
                let s = sm.get_or_insert_with(Default::default);
                for name in v.split([',', ' ']).filter(|x| !x.is_empty()) {
                    s.fields.push(Field::from_name(name).ok_or_else(|| ParseError(format!("{name}: unknown field")))?);
                }
            }
            _ => return err(format!("unknown keyword {k}")),
        }
    }
    if !have_id {
        if command == group_command::DELETE {
            g.group_id = OFPG_ALL;
        } else {
            return err("must specify a group_id");
        }
    }
    if let Some(sm) = sm {
        g.properties = encode_selection_method(&sm);
    }
    if let Some(bs) = buckets_s {
        for part in bs.split("bucket=").filter(|p| !p.trim_matches([',', ' ']).is_empty()) {
            g.buckets.push(parse_bucket(part.trim_end_matches([',', ' ']), g.group_type)?);
        }
    }
    // Buckets without an id get the lowest ids not already used, in order.
    let used: Vec<u32> = g.buckets.iter().map(|b| b.bucket_id).filter(|&i| i <= BUCKET_MAX).collect();
    let mut next = 0u32;
    for b in &mut g.buckets {
        if b.bucket_id > BUCKET_MAX {
            while used.contains(&next) {
                next += 1;
            }
            b.bucket_id = next;
            next += 1;
        }
    }
    Ok(g)
}

fn parse_bucket(s: &str, gtype: u8) -> Result<Bucket> {
    let mut b = Bucket {
        bucket_id: BUCKET_ALL,
        actions: Vec::new(),
        weight: (gtype == group_type::SELECT).then_some(1),
        watch_port: None,
        watch_group: None,
    };
    let mut acts = String::new();
    let mut rest = s;
    while let Some((k, v)) = next_kv(&mut rest) {
        match k.to_ascii_lowercase().as_str() {
            "weight" => {
                let w = u16::try_from(parse_uint(v)?).or_else(|_| err(format!("{v}: bad weight")))?;
                if gtype == group_type::SELECT {
                    b.weight = Some(w);
                }
            }
            "watch_port" => {
                let p = parse_port(v).ok_or_else(|| ParseError(format!("{v}: invalid watch_port")))?;
                b.watch_port = Some(crate::openflow::flow_match::port_to_ofp11(p));
            }
            "watch_group" => b.watch_group = Some(parse_uint(v)? as u32),
            "bucket_id" => b.bucket_id = parse_uint(v)? as u32,
            "action" | "actions" => {
                acts.push_str(v);
                acts.push(',');
            }
            _ if v.is_empty() => {
                acts.push_str(k);
                acts.push(',');
            }
            _ => {
                let _ = write!(acts, "{k}({v}),");
            }
        }
    }
    if acts.is_empty() {
        return err("bucket must specify actions");
    }
    b.actions = parse_actions(acts.trim_end_matches(','))?;
    Ok(b)
}

fn bucket_id_text(s: &mut String, id: u32) {
    match id {
        BUCKET_FIRST => s.push_str("first"),
        BUCKET_LAST => s.push_str("last"),
        BUCKET_ALL => s.push_str("all"),
        n => {
            let _ = write!(s, "{n}");
        }
    }
    s.push(',');
}

/// A group mod as `ovs-ofctl ofp-print` shows it (after the header line's newline and
/// leading space): `ADD group_id=3,type=select,bucket=bucket_id:0,actions=output:1`.
pub fn format_group_mod(g: &GroupMod) -> String {
    let mut s = String::new();
    let bucket_cmd = matches!(g.command, group_command::INSERT_BUCKET | group_command::REMOVE_BUCKET);
    s.push_str(match g.command {
        group_command::ADD => "ADD",
        group_command::MODIFY => "MOD",
        group_command::ADD_OR_MOD => "ADD_OR_MOD",
        group_command::DELETE => "DEL",
        group_command::INSERT_BUCKET => "INSERT_BUCKET",
        group_command::REMOVE_BUCKET => "REMOVE_BUCKET",
        _ => "cmd:?",
    });
    s.push(' ');
    if bucket_cmd {
        s.push_str("command_bucket_id:");
        bucket_id_text(&mut s, g.command_bucket_id);
    }
    let _ = write!(s, "group_id={}", g.group_id);
    if !bucket_cmd {
        let t = ["all", "select", "indirect", "ff"].get(usize::from(g.group_type)).copied().unwrap_or("unknown");
        let _ = write!(s, ",type={t}");
    }
    if let Some(sm) = decode_selection_method(&g.properties).filter(|m| !m.method.is_empty()) {
        let _ = write!(s, ",selection_method={}", sm.method);
        if sm.param != 0 {
            let _ = write!(s, ",selection_method_param={}", sm.param);
        }
        let names: Vec<&str> = sm.fields.iter().map(|f| f.name()).collect();
        match names.len() {
            0 => {}
            1 => {
                let _ = write!(s, ",fields={}", names.join(","));
            }
            _ => {
                let _ = write!(s, ",fields({})", names.join(","));
            }
        }
    }
    if g.buckets.is_empty() && matches!(g.command, group_command::DELETE | group_command::REMOVE_BUCKET) {
        return s;
    }
    s.push(',');
    for b in &g.buckets {
        s.push_str("bucket=bucket_id:");
        bucket_id_text(&mut s, b.bucket_id);
        let default_w = if g.group_type == group_type::SELECT { 1 } else { 0 };
        let w = b.weight.unwrap_or(0);
        if w != default_w {
            let _ = write!(s, "weight:{w},");
        }
        if let Some(p) = b.watch_port.filter(|&p| p != 0xffff_ffff) {
            s.push_str("watch_port:");
            format_port(&mut s, crate::openflow::flow_match::port_from_ofp11(p).unwrap_or(0));
            s.push(',');
        }
        if let Some(wg) = b.watch_group.filter(|&x| x != 0xffff_ffff) {
            let _ = write!(s, "watch_group:{wg},");
        }
        s.push_str("actions=");
        s.push_str(&format_actions(&b.actions));
        s.push(',');
    }
    if s.ends_with(',') {
        s.pop();
    }
    s
}

/// Parse a meter as `ovs-ofctl add-meter` does:
/// `meter=1,pktps,burst,stats,bands=type=drop,rate=100,burst_size=20`.
pub fn parse_meter_mod(command: u16, s: &str) -> Result<MeterMod> {
    let needs_bands = command != meter::DELETE;
    let (head, bands_s) = match (needs_bands, s.find("band")) {
        (true, Some(i)) => {
            let tail = s.get(i..).unwrap_or_default();
            let eq = tail.find('=').ok_or_else(|| ParseError("must specify bands".into()))?;
            (s.get(..i).unwrap_or_default(), tail.get(eq + 1..).unwrap_or_default())
        }
        (true, None) => return err("must specify bands"),
        (false, _) => (s, ""),
    };
    let mut m = MeterMod { command, flags: 0, meter_id: 0, bands: Vec::new() };
    let toks: Vec<&str> = head.split(['=', ',', ' ', '\t']).filter(|t| !t.is_empty()).collect();
    let mut it = toks.iter();
    while let Some(&t) = it.next() {
        match t {
            "kbps" if needs_bands => m.flags |= meter::KBPS,
            "pktps" if needs_bands => m.flags |= meter::PKTPS,
            "burst" if needs_bands => m.flags |= meter::BURST,
            "stats" if needs_bands => m.flags |= meter::STATS,
            "meter" => {
                let v = it.next().ok_or_else(|| ParseError("field meter missing value".into()))?;
                m.meter_id = match *v {
                    "all" => meter::ALL,
                    "controller" => 0xffff_fffd,
                    "slowpath" => 0xffff_fffe,
                    _ => {
                        let id = parse_uint(v)?;
                        if id == 0 || id > 0xffff_0000 {
                            return err("invalid value for meter");
                        }
                        id as u32
                    }
                };
            }
            _ => return err(format!("unknown keyword {t}")),
        }
    }
    if m.meter_id == 0 {
        return err("must specify 'meter'");
    }
    if needs_bands && m.flags & (meter::KBPS | meter::PKTPS) == 0 {
        return err("meter must specify either 'kbps' or 'pktps'");
    }
    let toks: Vec<&str> = bands_s.split(['=', ',', ' ', '\t']).filter(|t| !t.is_empty()).collect();
    let mut it = toks.chunks(2);
    for pair in &mut it {
        let [name, value] = pair else {
            return err(format!("field {} missing value", pair.first().unwrap_or(&"")));
        };
        if *name == "type" {
            let band_type = match *value {
                "drop" => 1,
                "dscp_remark" => 2,
                _ => return err(format!("field type unknown value {value}")),
            };
            m.bands.push(MeterBand { band_type, rate: 0, burst_size: 0, prec_level: 0 });
            continue;
        }
        let band = m.bands.last_mut().ok_or_else(|| ParseError("band must start with the 'type' keyword".into()))?;
        let v = parse_uint(value)?;
        match *name {
            "rate" => band.rate = v as u32,
            "burst_size" => band.burst_size = v as u32,
            "prec_level" => band.prec_level = v as u8,
            _ => return err(format!("unknown keyword {name}")),
        }
    }
    Ok(m)
}

/// A meter mod as `ovs-ofctl ofp-print` shows it after the header:
/// `ADD meter=1 pktps burst stats bands=\ntype=drop rate=100 burst_size=20`.
pub fn format_meter_mod(m: &MeterMod) -> String {
    let mut s = String::new();
    s.push_str(match m.command {
        meter::ADD => "ADD",
        meter::MODIFY => "MOD",
        meter::DELETE => "DEL",
        _ => "cmd:?",
    });
    s.push_str(" meter=");
    match m.meter_id {
        meter::ALL => s.push_str("all"),
        0xffff_fffd => s.push_str("controller"),
        0xffff_fffe => s.push_str("slowpath"),
        n => {
            let _ = write!(s, "{n}");
        }
    }
    for (bit, name) in
        [(meter::KBPS, "kbps"), (meter::PKTPS, "pktps"), (meter::BURST, "burst"), (meter::STATS, "stats")]
    {
        if m.flags & bit != 0 {
            let _ = write!(s, " {name}");
        }
    }
    s.push_str(" bands=");
    {
        for b in &m.bands {
            s.push_str("\ntype=");
            match b.band_type {
                1 => s.push_str("drop"),
                2 => s.push_str("dscp_remark"),
                t => {
                    let _ = write!(s, "{t}");
                }
            }
            let _ = write!(s, " rate={}", b.rate);
            if m.flags & meter::BURST != 0 {
                let _ = write!(s, " burst_size={}", b.burst_size);
            }
            if b.band_type == 2 {
                let _ = write!(s, " prec_level={}", b.prec_level);
            }
        }
    }
    s
}
