//! One-message summaries in `ovs-ofctl ofp-print` style, for logs.

use std::fmt::Write;

use super::format::format_flow_mod;
use super::group_meter::{format_group_mod, format_meter_mod};
use crate::openflow::messages::{bundle, Message, OfMessage, TlvMap};

/// OVS's `ds_put_hex_dump` with ASCII column.
pub fn hex_dump(s: &mut String, b: &[u8]) {
    for (line, chunk) in b.chunks(16).enumerate() {
        let _ = write!(s, "{:08x}  ", line * 16);
        for (i, x) in chunk.iter().enumerate() {
            let _ = write!(s, "{x:02x}{}", if i == 7 { '-' } else { ' ' });
        }
        for _ in chunk.len()..16 {
            s.push_str("   ");
        }
        s.push('|');
        for &c in chunk {
            s.push(if (32..127).contains(&c) { c as char } else { '.' });
        }
        for _ in chunk.len()..16 {
            s.push(' ');
        }
        s.push_str("|\n");
    }
}

fn name(m: &Message) -> &'static str {
    match m {
        Message::Hello { .. } => "OFPT_HELLO",
        Message::Error(_) => "OFPT_ERROR",
        Message::EchoRequest(_) => "OFPT_ECHO_REQUEST",
        Message::EchoReply(_) => "OFPT_ECHO_REPLY",
        Message::FeaturesRequest => "OFPT_FEATURES_REQUEST",
        Message::FeaturesReply(_) => "OFPT_FEATURES_REPLY",
        Message::GetConfigRequest => "OFPT_GET_CONFIG_REQUEST",
        Message::GetConfigReply(_) => "OFPT_GET_CONFIG_REPLY",
        Message::SetConfig(_) => "OFPT_SET_CONFIG",
        Message::PortStatus(_) => "OFPT_PORT_STATUS",
        Message::PacketOut(_) => "OFPT_PACKET_OUT",
        Message::FlowMod(_) => "OFPT_FLOW_MOD",
        Message::GroupMod(_) => "OFPT_GROUP_MOD",
        Message::MeterMod(_) => "OFPT_METER_MOD",
        Message::MultipartRequest(_) => "OFPT_MULTIPART_REQUEST",
        Message::MultipartReply(_) => "OFPT_MULTIPART_REPLY",
        Message::BarrierRequest => "OFPT_BARRIER_REQUEST",
        Message::BarrierReply => "OFPT_BARRIER_REPLY",
        Message::GetAsyncRequest => "OFPT_GET_ASYNC_REQUEST",
        Message::GetAsyncReply(_) => "OFPT_GET_ASYNC_REPLY",
        Message::SetAsync(_) => "OFPT_SET_ASYNC",
        Message::BundleControl(_) => "OFPT_BUNDLE_CONTROL",
        Message::BundleAdd(_) => "OFPT_BUNDLE_ADD_MESSAGE",
        Message::SetPacketInFormat(_) => "NXT_SET_PACKET_IN_FORMAT",
        Message::SetControllerId(_) => "NXT_SET_CONTROLLER_ID",
        Message::CtFlushZone(_) => "NXT_CT_FLUSH_ZONE",
        Message::PacketIn2(_) => "NXT_PACKET_IN2",
        Message::Resume(_) => "NXT_RESUME",
        Message::TlvTableMod(_) => "NXT_TLV_TABLE_MOD",
        Message::TlvTableRequest => "NXT_TLV_TABLE_REQUEST",
        Message::TlvTableReply(_) => "NXT_TLV_TABLE_REPLY",
        Message::Unknown { .. } => "OFPT_UNKNOWN",
    }
}

fn tlv_table(s: &mut String, maps: &[TlvMap]) {
    s.push_str("  class  type  length  match field\n");
    s.push_str(" ------  ----  ------  --------------");
    for m in maps {
        let _ = write!(
            s,
            "\n {:>6}  {:>4}  {:>6}  tun_metadata{}",
            format!("{:#x}", m.option_class),
            format!("{:#x}", m.option_type),
            m.option_len,
            m.index
        );
    }
}

fn bundle_flags(s: &mut String, f: u16) {
    s.push_str(" flags=");
    if f & bundle::ATOMIC != 0 {
        s.push_str("atomic ");
    }
    if f & bundle::ORDERED != 0 {
        s.push_str("ordered ");
    }
    if s.ends_with(' ') {
        s.pop();
    }
}

/// Summarise a message the way `ovs-ofctl ofp-print` does. Exact for the control messages
/// chassisd exchanges (hello, echo, features, config, barrier, flow/group/meter mods,
/// bundles, TLV tables, packet-in format, errors by name); packet contents are not
/// dissected.
pub fn format_message(m: &OfMessage) -> String {
    let mut s = String::new();
    let ver = match m.version {
        1 => "OF1.0",
        2 => "OF1.1",
        3 => "OF1.2",
        4 => "OF1.3",
        5 => "OF1.4",
        6 => "OF1.5",
        _ => "OF?",
    };
    let _ = write!(s, "{} ({ver}) (xid={:#x}):", name(&m.body), m.xid);
    match &m.body {
        Message::Hello { version_bitmap } if *version_bitmap != 0 => {
            s.push_str("\n version bitmap: ");
            let v: Vec<String> =
                (0..32).filter(|b| version_bitmap & (1 << b) != 0).map(|b| format!("0x{b:02x}")).collect();
            s.push_str(&v.join(", "));
        }
        Message::EchoRequest(d) | Message::EchoReply(d) => {
            let _ = write!(s, " {} bytes of payload", d.len());
            if !d.is_empty() {
                s.push('\n');
                hex_dump(&mut s, d);
                s.pop();
            }
        }
        Message::FeaturesReply(f) => {
            let _ = write!(s, " dpid:{:016x}\nn_tables:{}, n_buffers:{}", f.datapath_id, f.n_tables, f.n_buffers);
            if f.auxiliary_id != 0 {
                let _ = write!(s, ", auxiliary_id:{}", f.auxiliary_id);
            }
            s.push_str("\ncapabilities:");
            for (bit, n) in [
                (1, "FLOW_STATS"),
                (2, "TABLE_STATS"),
                (4, "PORT_STATS"),
                (8, "GROUP_STATS"),
                (0x20, "IP_REASM"),
                (0x40, "QUEUE_STATS"),
                (0x100, "PORT_BLOCKED"),
                (0x200, "BUNDLES"),
                (0x400, "FLOW_MONITORING"),
            ] {
                if f.capabilities & bit != 0 {
                    let _ = write!(s, " {n}");
                }
            }
        }
        Message::GetConfigReply(c) | Message::SetConfig(c) => {
            let frags = ["normal", "drop", "reassemble", "nx-match"][usize::from(c.flags & 3)];
            let _ = write!(s, " frags={frags}");
            if c.flags & 4 != 0 {
                s.push_str(" invalid_ttl_to_controller");
            }
            let _ = write!(s, " miss_send_len={}", c.miss_send_len);
        }
        Message::Error(e) => {
            let _ = write!(s, " {}", e.name().unwrap_or("***unknown error***"));
        }
        Message::FlowMod(fm) => {
            s.push(' ');
            s.push_str(&format_flow_mod(fm));
        }
        Message::GroupMod(g) => {
            s.push_str("\n ");
            s.push_str(&format_group_mod(g));
        }
        Message::MeterMod(mm) => {
            s.push(' ');
            s.push_str(&format_meter_mod(mm));
        }
        Message::BundleControl(b) => {
            let t = [
                "OPEN_REQUEST",
                "OPEN_REPLY",
                "CLOSE_REQUEST",
                "CLOSE_REPLY",
                "COMMIT_REQUEST",
                "COMMIT_REPLY",
                "DISCARD_REQUEST",
                "DISCARD_REPLY",
            ]
            .get(usize::from(b.ctrl_type))
            .copied()
            .unwrap_or("???");
            let _ = write!(s, "\n bundle_id={:#x} type={t}", b.bundle_id);
            bundle_flags(&mut s, b.flags);
        }
        Message::BundleAdd(b) => {
            let _ = write!(s, "\n bundle_id={:#x}", b.bundle_id);
            bundle_flags(&mut s, b.flags);
            s.push('\n');
            s.push_str(&format_message(&b.message));
        }
        Message::SetPacketInFormat(f) => {
            let n = match f {
                0 => "standard".to_string(),
                1 => "nxt_packet_in".to_string(),
                2 => "nxt_packet_in2".to_string(),
                x => x.to_string(),
            };
            let _ = write!(s, " format={n}");
        }
        Message::SetControllerId(id) => {
            let _ = write!(s, " id={id}");
        }
        Message::CtFlushZone(z) => {
            let _ = write!(s, " zone_id={z}");
        }
        Message::TlvTableMod(t) => {
            let cmd = ["ADD", "DELETE", "CLEAR"].get(usize::from(t.command)).copied().unwrap_or("???");
            let _ = write!(s, "\n {cmd}");
            if t.command != 2 {
                s.push_str(" mapping table:\n");
                tlv_table(&mut s, &t.maps);
            }
        }
        Message::TlvTableReply(t) => {
            let used: u32 = t.maps.iter().map(|m| u32::from(m.option_len)).sum();
            let _ = write!(
                s,
                "\n max option space={} max fields={}\n allocated option space={used}\n\n mapping table:\n",
                t.max_option_space, t.max_fields
            );
            tlv_table(&mut s, &t.maps);
        }
        Message::PacketIn2(p) | Message::Resume(p) => {
            if let Some(t) = p.table_id {
                let _ = write!(s, " table_id={t}");
            }
            if let Some(c) = p.cookie {
                let _ = write!(s, " cookie={c:#x}");
            }
            let _ = write!(s, " total_len={}", p.full_len.map_or(p.packet.len(), |l| l as usize));
        }
        _ => {}
    }
    s
}
