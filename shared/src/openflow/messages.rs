//! OpenFlow messages: typed bodies for what chassisd sends and receives, decoded from and
//! encoded to complete framed messages.

use super::actions::{decode_actions, decode_instructions, encode_actions, encode_instructions, Action};
use super::errors::ErrorMsg;
use super::flow_match::Match;
use super::header::{nxt, ofpt, Header, HEADER_LEN, NX_VENDOR_ID, OFP15_VERSION};
use super::props::{self, put_nested_prop, put_prop, put_prop_u64};
use super::stats::{self, AggregateStats, GroupDesc, GroupStats, MeterConfig, MeterStats, PortStats, OXS_CLASS};
use super::wire::{DecodeError, Put, Reader, Result};

/// A message too long for OpenFlow's 16-bit length field (its would-be length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLong(pub usize);

impl std::fmt::Display for TooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OpenFlow message of {} bytes exceeds 65535", self.0)
    }
}
impl std::error::Error for TooLong {}

/// A complete message: header fields plus typed body.
#[derive(Debug, Clone, PartialEq)]
pub struct OfMessage {
    pub version: u8,
    pub xid: u32,
    pub body: Message,
}

/// `OFPT_FEATURES_REPLY` (OpenFlow 1.3+ layout, no ports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeaturesReply {
    pub datapath_id: u64,
    pub n_buffers: u32,
    pub n_tables: u8,
    pub auxiliary_id: u8,
    pub capabilities: u32,
}

/// `ofp_switch_config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwitchConfig {
    pub flags: u16,
    pub miss_send_len: u16,
}

/// `OFPT_PACKET_OUT` (OpenFlow 1.5: pipeline fields travel as a match).
#[derive(Debug, Clone, PartialEq)]
pub struct PacketOut {
    pub buffer_id: u32,
    /// Packet metadata (in_port, metadata, registers, tunnel fields).
    pub metadata: Match,
    pub actions: Vec<Action>,
    pub data: Vec<u8>,
}

/// Flow-mod commands.
pub mod flow_mod_command {
    pub const ADD: u8 = 0;
    pub const MODIFY: u8 = 1;
    pub const MODIFY_STRICT: u8 = 2;
    pub const DELETE: u8 = 3;
    pub const DELETE_STRICT: u8 = 4;
}

/// Flow-mod flags (`OFPFF_*`).
pub mod flow_mod_flags {
    pub const SEND_FLOW_REM: u16 = 1 << 0;
    pub const CHECK_OVERLAP: u16 = 1 << 1;
    pub const RESET_COUNTS: u16 = 1 << 2;
    pub const NO_PKT_COUNTS: u16 = 1 << 3;
    pub const NO_BYT_COUNTS: u16 = 1 << 4;
}

/// `OFPTT_ALL`: every table (for deletes).
pub const OFPTT_ALL: u8 = 0xff;
/// `OFP_NO_BUFFER`.
pub const NO_BUFFER: u32 = 0xffff_ffff;
/// `OFPP_ANY` in 32-bit form.
pub const OFPP_ANY: u32 = 0xffff_ffff;
/// `OFPG_ANY` / `OFPG_ALL`.
pub const OFPG_ANY: u32 = 0xffff_ffff;
pub const OFPG_ALL: u32 = 0xffff_fffc;
/// OVS's default flow priority.
pub const DEFAULT_PRIORITY: u16 = 0x8000;

/// `OFPT_FLOW_MOD`.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowMod {
    pub cookie: u64,
    pub cookie_mask: u64,
    pub table_id: u8,
    pub command: u8,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub priority: u16,
    pub buffer_id: u32,
    pub out_port: u32,
    pub out_group: u32,
    pub flags: u16,
    pub importance: u16,
    pub matches: Match,
    pub actions: Vec<Action>,
}

impl Default for FlowMod {
    fn default() -> Self {
        FlowMod {
            cookie: 0,
            cookie_mask: 0,
            table_id: 0,
            command: flow_mod_command::ADD,
            idle_timeout: 0,
            hard_timeout: 0,
            priority: DEFAULT_PRIORITY,
            buffer_id: NO_BUFFER,
            out_port: OFPP_ANY,
            out_group: OFPG_ANY,
            flags: 0,
            importance: 0,
            matches: Match::new(),
            actions: Vec::new(),
        }
    }
}

/// One group bucket (OpenFlow 1.5).
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub bucket_id: u32,
    pub actions: Vec<Action>,
    /// `OFPGBPT15_WEIGHT` (select groups).
    pub weight: Option<u16>,
    pub watch_port: Option<u32>,
    pub watch_group: Option<u32>,
}

/// Group types.
pub mod group_type {
    pub const ALL: u8 = 0;
    pub const SELECT: u8 = 1;
    pub const INDIRECT: u8 = 2;
    pub const FF: u8 = 3;
}

/// Group-mod commands.
pub mod group_command {
    pub const ADD: u16 = 0;
    pub const MODIFY: u16 = 1;
    pub const DELETE: u16 = 2;
    pub const INSERT_BUCKET: u16 = 3;
    pub const REMOVE_BUCKET: u16 = 5;
    pub const ADD_OR_MOD: u16 = 0x8000;
}

/// `OFPT_GROUP_MOD` (OpenFlow 1.5).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupMod {
    pub command: u16,
    pub group_type: u8,
    pub group_id: u32,
    /// `OFPG15_BUCKET_*` for insert/remove; `OFPG15_BUCKET_ALL` (0xffffffff) otherwise.
    pub command_bucket_id: u32,
    pub buckets: Vec<Bucket>,
    /// Group properties (e.g. OVS's selection_method), kept as encoded.
    pub properties: Vec<u8>,
}

/// One meter band.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeterBand {
    /// 1 drop, 2 dscp_remark.
    pub band_type: u16,
    pub rate: u32,
    pub burst_size: u32,
    pub prec_level: u8,
}

/// Meter-mod commands and flags.
pub mod meter {
    pub const ADD: u16 = 0;
    pub const MODIFY: u16 = 1;
    pub const DELETE: u16 = 2;
    pub const KBPS: u16 = 1;
    pub const PKTPS: u16 = 2;
    pub const BURST: u16 = 4;
    pub const STATS: u16 = 8;
    /// `OFPM_ALL`.
    pub const ALL: u32 = 0xffff_ffff;
}

/// `OFPT_METER_MOD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterMod {
    pub command: u16,
    pub flags: u16,
    pub meter_id: u32,
    pub bands: Vec<MeterBand>,
}

/// `ofp14_port`, the parts chassisd uses; properties kept as encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortDesc {
    pub port_no: u32,
    pub hw_addr: [u8; 6],
    /// Interface name bytes (at most 15, as OVS reads them; no trailing NUL).
    pub name: Vec<u8>,
    pub config: u32,
    pub state: u32,
    pub properties: Vec<u8>,
}

/// `OFPT_PORT_STATUS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortStatus {
    /// 0 add, 1 delete, 2 modify.
    pub reason: u8,
    pub desc: PortDesc,
}

/// Bundle control types and flags.
pub mod bundle {
    pub const OPEN_REQUEST: u16 = 0;
    pub const OPEN_REPLY: u16 = 1;
    pub const CLOSE_REQUEST: u16 = 2;
    pub const CLOSE_REPLY: u16 = 3;
    pub const COMMIT_REQUEST: u16 = 4;
    pub const COMMIT_REPLY: u16 = 5;
    pub const DISCARD_REQUEST: u16 = 6;
    pub const DISCARD_REPLY: u16 = 7;
    pub const ATOMIC: u16 = 1;
    pub const ORDERED: u16 = 2;
}

/// `OFPT_BUNDLE_CONTROL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleControl {
    pub bundle_id: u32,
    pub ctrl_type: u16,
    pub flags: u16,
    pub properties: Vec<u8>,
}

/// `OFPT_BUNDLE_ADD_MESSAGE`: the inner message shares the outer xid.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleAdd {
    pub bundle_id: u32,
    pub flags: u16,
    pub message: Box<OfMessage>,
}

/// `NXT_PACKET_IN2` and `NXT_RESUME` properties.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PacketIn2 {
    pub packet: Vec<u8>,
    pub full_len: Option<u32>,
    pub buffer_id: Option<u32>,
    pub table_id: Option<u8>,
    pub cookie: Option<u64>,
    pub reason: Option<u8>,
    pub metadata: Option<Match>,
    pub userdata: Option<Vec<u8>>,
    /// Opaque switch state for NXT_RESUME (the nested properties, unchanged).
    pub continuation: Option<Vec<u8>>,
}

/// OpenFlow 1.4+ async-config property types (`OFPACPT_*`): which asynchronous messages
/// of each kind a controller receives, as a bitmap of reasons, for the slave (also called
/// secondary) and master (primary) roles.
pub mod async_prop {
    pub const PACKET_IN_SLAVE: u16 = 0;
    pub const PACKET_IN_MASTER: u16 = 1;
    pub const PORT_STATUS_SLAVE: u16 = 2;
    pub const PORT_STATUS_MASTER: u16 = 3;
    pub const FLOW_REMOVED_SLAVE: u16 = 4;
    pub const FLOW_REMOVED_MASTER: u16 = 5;
    pub const ROLE_STATUS_SLAVE: u16 = 6;
    pub const ROLE_STATUS_MASTER: u16 = 7;
    pub const TABLE_STATUS_SLAVE: u16 = 8;
    pub const TABLE_STATUS_MASTER: u16 = 9;
    pub const REQUESTFORWARD_SLAVE: u16 = 10;
    pub const REQUESTFORWARD_MASTER: u16 = 11;
    /// The last reason-bitmap type; above it only experimenter properties.
    pub const LAST_REASONS: u16 = REQUESTFORWARD_MASTER;
}

/// One async-config property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AsyncProp {
    /// `ofp14_async_config_prop_reasons`: a reason bitmap (bit N = reason N).
    Reasons { prop_type: u16, mask: u32 },
    /// Any other property (experimenter), its payload as encoded.
    Other { prop_type: u16, payload: Vec<u8> },
}

/// `OFPT_GET_ASYNC_REPLY` / `OFPT_SET_ASYNC` (OpenFlow 1.4+): properties in wire order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AsyncConfig {
    pub props: Vec<AsyncProp>,
}

impl AsyncConfig {
    /// The reason bitmap for `prop_type` (an [`async_prop`] constant), if present.
    pub fn mask(&self, prop_type: u16) -> Option<u32> {
        self.props.iter().find_map(|p| match p {
            AsyncProp::Reasons { prop_type: t, mask } if *t == prop_type => Some(*mask),
            _ => None,
        })
    }

    /// Set (or add) the reason bitmap for `prop_type`.
    pub fn set_mask(&mut self, prop_type: u16, mask: u32) {
        for p in &mut self.props {
            if let AsyncProp::Reasons { prop_type: t, mask: m } = p {
                if *t == prop_type {
                    *m = mask;
                    return;
                }
            }
        }
        self.props.push(AsyncProp::Reasons { prop_type, mask });
    }

    fn decode(buf: &[u8]) -> Result<AsyncConfig> {
        let mut props = Vec::new();
        for p in props::read_props(buf, "async config property")? {
            if p.ptype <= async_prop::LAST_REASONS {
                props.push(AsyncProp::Reasons { prop_type: p.ptype, mask: props::prop_u32(&p)? });
            } else {
                props.push(AsyncProp::Other { prop_type: p.ptype, payload: p.payload.to_vec() });
            }
        }
        Ok(AsyncConfig { props })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        for p in &self.props {
            match p {
                AsyncProp::Reasons { prop_type, mask } => put_prop(out, *prop_type, &mask.to_be_bytes()),
                AsyncProp::Other { prop_type, payload } => put_prop(out, *prop_type, payload),
            }
        }
    }
}

/// Packet-in format for `NXT_SET_PACKET_IN_FORMAT`.
pub const NXPIF_STANDARD: u32 = 0;
pub const NXPIF_NXT_PACKET_IN: u32 = 1;
pub const NXPIF_NXT_PACKET_IN2: u32 = 2;

/// One Geneve option ↔ `tun_metadata<index>` mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlvMap {
    pub option_class: u16,
    pub option_type: u8,
    pub option_len: u8,
    pub index: u16,
}

/// `NXT_TLV_TABLE_MOD` commands.
pub mod tlv_command {
    pub const ADD: u16 = 0;
    pub const DELETE: u16 = 1;
    pub const CLEAR: u16 = 2;
}

/// `NXT_TLV_TABLE_MOD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlvTableMod {
    pub command: u16,
    pub maps: Vec<TlvMap>,
}

/// `NXT_TLV_TABLE_REPLY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlvTableReply {
    pub max_option_space: u32,
    pub max_fields: u16,
    pub maps: Vec<TlvMap>,
}

/// Multipart types.
pub mod mp {
    pub const DESC: u16 = 0;
    pub const FLOW: u16 = 1;
    pub const AGGREGATE: u16 = 2;
    pub const TABLE: u16 = 3;
    pub const PORT_STATS: u16 = 4;
    pub const GROUP: u16 = 6;
    pub const GROUP_DESC: u16 = 7;
    pub const GROUP_FEATURES: u16 = 8;
    pub const METER: u16 = 9;
    pub const METER_CONFIG: u16 = 10;
    pub const METER_FEATURES: u16 = 11;
    pub const PORT_DESC: u16 = 13;
    /// `OFPMPF_REQ_MORE` / `OFPMPF_REPLY_MORE`.
    pub const MORE: u16 = 1;
}

/// Flow stats request (OpenFlow 1.5).
#[derive(Debug, Clone, PartialEq)]
pub struct FlowStatsRequest {
    pub table_id: u8,
    pub out_port: u32,
    pub out_group: u32,
    pub cookie: u64,
    pub cookie_mask: u64,
    pub matches: Match,
}

/// One flow in a flow stats reply (OpenFlow 1.5, OXS statistics).
#[derive(Debug, Clone, PartialEq)]
pub struct FlowStats {
    pub table_id: u8,
    pub reason: u8,
    pub priority: u16,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub flags: u16,
    pub importance: u16,
    pub cookie: u64,
    pub matches: Match,
    pub duration: Option<(u32, u32)>,
    pub idle_age: Option<u32>,
    pub packet_count: Option<u64>,
    pub byte_count: Option<u64>,
    pub actions: Vec<Action>,
}

/// Multipart request bodies. The id-selecting requests take `OFPG_ALL`, `meter::ALL` or
/// `OFPP_ANY` for "all".
#[derive(Debug, Clone, PartialEq)]
pub enum MultipartRequestBody {
    Flow(FlowStatsRequest),
    Aggregate(FlowStatsRequest),
    PortStats(u32),
    GroupStats(u32),
    GroupDesc(u32),
    MeterStats(u32),
    MeterConfig(u32),
    PortDesc(u32),
    /// Any other type, body kept as encoded.
    Other {
        mp_type: u16,
        body: Vec<u8>,
    },
}

/// `ofp13_meter_features` (what OVN probes to know whether meters work).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeterFeatures {
    pub max_meter: u32,
    pub band_types: u32,
    pub capabilities: u32,
    pub max_bands: u8,
    pub max_color: u8,
}

/// `ofp12_group_features_stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupFeatures {
    pub types: u32,
    pub capabilities: u32,
    /// Per group type (all, select, indirect, fast failover).
    pub max_groups: [u32; 4],
    pub actions: [u32; 4],
}

/// Multipart reply bodies.
#[derive(Debug, Clone, PartialEq)]
pub enum MultipartReplyBody {
    Flow(Vec<FlowStats>),
    Aggregate(AggregateStats),
    PortStats(Vec<PortStats>),
    GroupStats(Vec<GroupStats>),
    GroupDesc(Vec<GroupDesc>),
    MeterStats(Vec<MeterStats>),
    MeterConfig(Vec<MeterConfig>),
    MeterFeatures(MeterFeatures),
    GroupFeatures(GroupFeatures),
    PortDesc(Vec<PortDesc>),
    Other { mp_type: u16, body: Vec<u8> },
}

/// `OFPT_MULTIPART_REQUEST`.
#[derive(Debug, Clone, PartialEq)]
pub struct MultipartRequest {
    pub flags: u16,
    pub body: MultipartRequestBody,
}

/// `OFPT_MULTIPART_REPLY`.
#[derive(Debug, Clone, PartialEq)]
pub struct MultipartReply {
    pub flags: u16,
    pub body: MultipartReplyBody,
}

/// Message bodies.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// Versions offered in the version-bitmap element (bit N = wire version N); 0 when the
    /// hello carried no bitmap (then the header version is the offer).
    Hello {
        version_bitmap: u32,
    },
    Error(ErrorMsg),
    EchoRequest(Vec<u8>),
    EchoReply(Vec<u8>),
    FeaturesRequest,
    FeaturesReply(FeaturesReply),
    GetConfigRequest,
    GetConfigReply(SwitchConfig),
    SetConfig(SwitchConfig),
    PortStatus(PortStatus),
    PacketOut(PacketOut),
    FlowMod(FlowMod),
    GroupMod(GroupMod),
    MeterMod(MeterMod),
    MultipartRequest(MultipartRequest),
    MultipartReply(MultipartReply),
    BarrierRequest,
    BarrierReply,
    GetAsyncRequest,
    GetAsyncReply(AsyncConfig),
    SetAsync(AsyncConfig),
    BundleControl(BundleControl),
    BundleAdd(BundleAdd),
    SetPacketInFormat(u32),
    SetControllerId(u16),
    CtFlushZone(u16),
    PacketIn2(PacketIn2),
    Resume(PacketIn2),
    TlvTableMod(TlvTableMod),
    TlvTableRequest,
    TlvTableReply(TlvTableReply),
    /// Anything else: the type, the experimenter id/subtype if any, and the body after them.
    Unknown {
        msg_type: u8,
        experimenter: Option<(u32, u32)>,
        body: Vec<u8>,
    },
}

impl MultipartRequest {
    /// A request with no body (meter/group features, port description, ...).
    pub fn simple(mp_type: u16) -> MultipartRequest {
        let body = match mp_type {
            mp::PORT_DESC => MultipartRequestBody::PortDesc(OFPP_ANY),
            mp::PORT_STATS => MultipartRequestBody::PortStats(OFPP_ANY),
            mp::GROUP => MultipartRequestBody::GroupStats(OFPG_ALL),
            mp::GROUP_DESC => MultipartRequestBody::GroupDesc(OFPG_ALL),
            mp::METER => MultipartRequestBody::MeterStats(meter::ALL),
            mp::METER_CONFIG => MultipartRequestBody::MeterConfig(meter::ALL),
            _ => MultipartRequestBody::Other { mp_type, body: Vec::new() },
        };
        MultipartRequest { flags: 0, body }
    }
}

impl MultipartRequestBody {
    /// The `OFPMP_*` type.
    pub fn mp_type(&self) -> u16 {
        match self {
            MultipartRequestBody::Flow(_) => mp::FLOW,
            MultipartRequestBody::Aggregate(_) => mp::AGGREGATE,
            MultipartRequestBody::PortStats(_) => mp::PORT_STATS,
            MultipartRequestBody::GroupStats(_) => mp::GROUP,
            MultipartRequestBody::GroupDesc(_) => mp::GROUP_DESC,
            MultipartRequestBody::MeterStats(_) => mp::METER,
            MultipartRequestBody::MeterConfig(_) => mp::METER_CONFIG,
            MultipartRequestBody::PortDesc(_) => mp::PORT_DESC,
            MultipartRequestBody::Other { mp_type, .. } => *mp_type,
        }
    }
}

impl MultipartReplyBody {
    /// The `OFPMP_*` type.
    pub fn mp_type(&self) -> u16 {
        match self {
            MultipartReplyBody::Flow(_) => mp::FLOW,
            MultipartReplyBody::Aggregate(_) => mp::AGGREGATE,
            MultipartReplyBody::PortStats(_) => mp::PORT_STATS,
            MultipartReplyBody::GroupStats(_) => mp::GROUP,
            MultipartReplyBody::GroupDesc(_) => mp::GROUP_DESC,
            MultipartReplyBody::MeterStats(_) => mp::METER,
            MultipartReplyBody::MeterConfig(_) => mp::METER_CONFIG,
            MultipartReplyBody::MeterFeatures(_) => mp::METER_FEATURES,
            MultipartReplyBody::GroupFeatures(_) => mp::GROUP_FEATURES,
            MultipartReplyBody::PortDesc(_) => mp::PORT_DESC,
            MultipartReplyBody::Other { mp_type, .. } => *mp_type,
        }
    }
}

impl PortDesc {
    /// The interface name as text.
    pub fn name_str(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

impl OfMessage {
    /// An OpenFlow 1.5 message.
    pub fn new(xid: u32, body: Message) -> OfMessage {
        OfMessage { version: OFP15_VERSION, xid, body }
    }

    /// Decode one complete framed message (exactly `header.length` bytes).
    pub fn decode(buf: &[u8]) -> Result<OfMessage> {
        decode_depth(buf, 0)
    }

    /// Encode to a complete framed message, or fail if it exceeds OpenFlow's 64 KiB
    /// message limit (a flow mod with huge actions, a packet-out with a jumbo packet).
    pub fn try_encode(&self) -> std::result::Result<Vec<u8>, TooLong> {
        let mut out = Vec::with_capacity(64);
        Header { version: self.version, msg_type: 0, length: 0, xid: self.xid }.encode(&mut out);
        let t = encode_body(&self.body, &mut out);
        if let Some(b) = out.get_mut(1) {
            *b = t;
        }
        // Within the limit, every nested 16-bit length fits as well.
        let len = u16::try_from(out.len()).map_err(|_| TooLong(out.len()))?;
        out.set_u16(2, len);
        Ok(out)
    }

    /// Encode to a complete framed message. Messages over 64 KiB cannot be represented;
    /// for those this returns an empty vector, so use [`OfMessage::try_encode`] wherever
    /// the size is not bounded by construction.
    pub fn encode(&self) -> Vec<u8> {
        self.try_encode().unwrap_or_default()
    }
}

fn decode_depth(buf: &[u8], depth: usize) -> Result<OfMessage> {
    let h = Header::decode(buf)?;
    let len = usize::from(h.length);
    if buf.len() != len {
        return Err(DecodeError::BadLength { what: "ofp message", len: buf.len() });
    }
    let mut r = Reader::new(buf.get(HEADER_LEN..).unwrap_or_default(), "ofp message body");
    let body = match h.msg_type {
        ofpt::HELLO => decode_hello(&mut r)?,
        ofpt::ERROR => Message::Error(ErrorMsg::decode(&mut r)?),
        ofpt::ECHO_REQUEST => Message::EchoRequest(r.take_rest().to_vec()),
        ofpt::ECHO_REPLY => Message::EchoReply(r.take_rest().to_vec()),
        _ if h.version != OFP15_VERSION => {
            Message::Unknown { msg_type: h.msg_type, experimenter: None, body: r.take_rest().to_vec() }
        }
        ofpt::FEATURES_REQUEST => Message::FeaturesRequest,
        ofpt::FEATURES_REPLY => {
            let f = FeaturesReply {
                datapath_id: r.u64()?,
                n_buffers: r.u32()?,
                n_tables: r.u8()?,
                auxiliary_id: r.u8()?,
                capabilities: {
                    r.skip(2)?;
                    r.u32()?
                },
            };
            Message::FeaturesReply(f)
        }
        ofpt::GET_CONFIG_REQUEST => Message::GetConfigRequest,
        ofpt::GET_CONFIG_REPLY => Message::GetConfigReply(SwitchConfig { flags: r.u16()?, miss_send_len: r.u16()? }),
        ofpt::SET_CONFIG => Message::SetConfig(SwitchConfig { flags: r.u16()?, miss_send_len: r.u16()? }),
        ofpt::PORT_STATUS => {
            let reason = r.u8()?;
            r.skip(7)?;
            Message::PortStatus(PortStatus { reason, desc: decode_port(&mut r)? })
        }
        ofpt::PACKET_OUT => {
            let buffer_id = r.u32()?;
            let alen = usize::from(r.u16()?);
            r.skip(2)?;
            let metadata = Match::decode_ofp_match(&mut r)?;
            let actions = decode_actions(r.bytes(alen)?)?;
            Message::PacketOut(PacketOut { buffer_id, metadata, actions, data: r.take_rest().to_vec() })
        }
        ofpt::FLOW_MOD => Message::FlowMod(decode_flow_mod(&mut r)?),
        ofpt::GROUP_MOD => Message::GroupMod(decode_group_mod(&mut r)?),
        ofpt::METER_MOD => Message::MeterMod(decode_meter_mod(&mut r)?),
        ofpt::MULTIPART_REQUEST => Message::MultipartRequest(decode_mp_request(&mut r)?),
        ofpt::MULTIPART_REPLY => Message::MultipartReply(decode_mp_reply(&mut r)?),
        ofpt::BARRIER_REQUEST => Message::BarrierRequest,
        ofpt::BARRIER_REPLY => Message::BarrierReply,
        ofpt::GET_ASYNC_REQUEST => Message::GetAsyncRequest,
        ofpt::GET_ASYNC_REPLY => Message::GetAsyncReply(AsyncConfig::decode(r.take_rest())?),
        ofpt::SET_ASYNC => Message::SetAsync(AsyncConfig::decode(r.take_rest())?),
        ofpt::BUNDLE_CONTROL => Message::BundleControl(BundleControl {
            bundle_id: r.u32()?,
            ctrl_type: r.u16()?,
            flags: r.u16()?,
            properties: r.take_rest().to_vec(),
        }),
        ofpt::BUNDLE_ADD_MESSAGE => {
            let bundle_id = r.u32()?;
            r.skip(2)?;
            let flags = r.u16()?;
            let inner_len = usize::from(r.peek_u16(2)?);
            if depth > 0 {
                return Err(DecodeError::BadValue { what: "nested bundle add", value: 0 });
            }
            let inner = decode_depth(r.bytes(inner_len)?, depth + 1)?;
            if inner.xid != h.xid {
                return Err(DecodeError::BadValue { what: "bundle add xid", value: inner.xid.into() });
            }
            Message::BundleAdd(BundleAdd { bundle_id, flags, message: Box::new(inner) })
        }
        ofpt::EXPERIMENTER => {
            let vendor = r.u32()?;
            let subtype = r.u32()?;
            if vendor == NX_VENDOR_ID {
                decode_nxt(subtype, &mut r)?
            } else {
                Message::Unknown {
                    msg_type: h.msg_type,
                    experimenter: Some((vendor, subtype)),
                    body: r.take_rest().to_vec(),
                }
            }
        }
        t => Message::Unknown { msg_type: t, experimenter: None, body: r.take_rest().to_vec() },
    };
    Ok(OfMessage { version: h.version, xid: h.xid, body })
}

fn decode_hello(r: &mut Reader<'_>) -> Result<Message> {
    let mut version_bitmap = 0;
    while r.remaining() >= 4 {
        let etype = r.u16()?;
        let len = usize::from(r.u16()?);
        if len < 4 {
            return Err(DecodeError::BadLength { what: "hello element", len });
        }
        let mut e = r.sub((len - 4).min(r.remaining()), "hello element")?;
        if etype == 1 && e.remaining() >= 4 {
            version_bitmap = e.u32()?;
        }
        let pad = super::wire::round8(len) - len;
        r.skip(pad.min(r.remaining()))?;
    }
    Ok(Message::Hello { version_bitmap })
}

pub(crate) fn decode_port(r: &mut Reader<'_>) -> Result<PortDesc> {
    let port_no = r.u32()?;
    let length = usize::from(r.u16()?);
    r.skip(2)?;
    let hw_addr = r.array::<6>()?;
    r.skip(2)?;
    let name_raw = r.array::<16>()?;
    // OVS copies at most 15 bytes, always NUL-terminating.
    let first15 = name_raw.get(..15).unwrap_or_default();
    let end = first15.iter().position(|&b| b == 0).unwrap_or(first15.len());
    let name = first15.get(..end).unwrap_or_default().to_vec();
    let config = r.u32()?;
    let state = r.u32()?;
    let props_len = length.checked_sub(40).ok_or(DecodeError::BadLength { what: "ofp14_port", len: length })?;
    let properties = r.bytes(props_len)?.to_vec();
    Ok(PortDesc { port_no, hw_addr, name, config, state, properties })
}

pub(crate) fn encode_port(p: &PortDesc, out: &mut Vec<u8>) {
    out.put_u32(p.port_no);
    out.put_u16((40 + p.properties.len()) as u16);
    out.put_zeros(2);
    out.extend_from_slice(&p.hw_addr);
    out.put_zeros(2);
    let mut name = [0u8; 16];
    for (d, s) in name.iter_mut().zip(p.name.iter().take_while(|&&b| b != 0).take(15)) {
        *d = *s;
    }
    out.extend_from_slice(&name);
    out.put_u32(p.config);
    out.put_u32(p.state);
    out.extend_from_slice(&p.properties);
}

fn decode_flow_mod(r: &mut Reader<'_>) -> Result<FlowMod> {
    let mut fm = FlowMod {
        cookie: r.u64()?,
        cookie_mask: r.u64()?,
        table_id: r.u8()?,
        command: r.u8()?,
        idle_timeout: r.u16()?,
        hard_timeout: r.u16()?,
        priority: r.u16()?,
        buffer_id: r.u32()?,
        out_port: r.u32()?,
        out_group: r.u32()?,
        flags: r.u16()?,
        importance: r.u16()?,
        ..FlowMod::default()
    };
    if fm.command > flow_mod_command::DELETE_STRICT {
        return Err(DecodeError::BadValue { what: "flow_mod command", value: fm.command.into() });
    }
    fm.matches = Match::decode_ofp_match(r)?;
    fm.actions = decode_instructions(r.take_rest())?;
    Ok(fm)
}

fn encode_flow_mod(fm: &FlowMod, out: &mut Vec<u8>) {
    out.put_u64(fm.cookie);
    out.put_u64(fm.cookie_mask);
    out.put_u8(fm.table_id);
    out.put_u8(fm.command);
    out.put_u16(fm.idle_timeout);
    out.put_u16(fm.hard_timeout);
    out.put_u16(fm.priority);
    out.put_u32(fm.buffer_id);
    out.put_u32(fm.out_port);
    out.put_u32(fm.out_group);
    out.put_u16(fm.flags);
    out.put_u16(fm.importance);
    fm.matches.encode_ofp_match(out);
    encode_instructions(&fm.actions, out);
}

fn decode_group_mod(r: &mut Reader<'_>) -> Result<GroupMod> {
    let command = r.u16()?;
    let group_type = r.u8()?;
    r.skip(1)?;
    let group_id = r.u32()?;
    let blen = usize::from(r.u16()?);
    r.skip(2)?;
    let command_bucket_id = r.u32()?;
    let buckets = decode_buckets(&mut r.sub(blen, "group buckets")?)?;
    Ok(GroupMod { command, group_type, group_id, command_bucket_id, buckets, properties: r.take_rest().to_vec() })
}

/// OpenFlow 1.5 buckets, to the end of `b`.
pub(crate) fn decode_buckets(b: &mut Reader<'_>) -> Result<Vec<Bucket>> {
    let mut buckets = Vec::new();
    while !b.is_empty() {
        let len = usize::from(b.u16()?);
        let alen = usize::from(b.u16()?);
        let bucket_id = b.u32()?;
        if len < 8 + alen || len % 8 != 0 {
            return Err(DecodeError::BadLength { what: "bucket", len });
        }
        let actions = decode_actions(b.bytes(alen)?)?;
        let mut bucket = Bucket { bucket_id, actions, weight: None, watch_port: None, watch_group: None };
        for p in props::read_props(b.bytes(len - 8 - alen)?, "bucket property")? {
            match p.ptype {
                0 => bucket.weight = Some(props::prop_u16(&p)?),
                1 => bucket.watch_port = Some(props::prop_u32(&p)?),
                2 => bucket.watch_group = Some(props::prop_u32(&p)?),
                t => return Err(DecodeError::Unsupported { what: "bucket property", value: t.into() }),
            }
        }
        buckets.push(bucket);
    }
    Ok(buckets)
}

pub(crate) fn encode_buckets(buckets: &[Bucket], out: &mut Vec<u8>) {
    for b in buckets {
        let s = out.len();
        out.put_u16(0);
        out.put_u16(0);
        out.put_u32(b.bucket_id);
        let a0 = out.len();
        encode_actions(&b.actions, out);
        let alen = out.len() - a0;
        if let Some(w) = b.weight {
            props::put_prop_u16(out, 0, w);
        }
        if let Some(p) = b.watch_port {
            put_prop(out, 1, &p.to_be_bytes());
        }
        if let Some(g) = b.watch_group {
            put_prop(out, 2, &g.to_be_bytes());
        }
        let len = out.len() - s;
        out.set_u16(s, len as u16);
        out.set_u16(s + 2, alen as u16);
    }
}

fn encode_group_mod(g: &GroupMod, out: &mut Vec<u8>) {
    out.put_u16(g.command);
    out.put_u8(g.group_type);
    out.put_u8(0);
    out.put_u32(g.group_id);
    let at = out.len();
    out.put_u16(0);
    out.put_zeros(2);
    out.put_u32(g.command_bucket_id);
    let s = out.len();
    encode_buckets(&g.buckets, out);
    let blen = out.len() - s;
    out.set_u16(at, blen as u16);
    out.extend_from_slice(&g.properties);
}

fn decode_meter_mod(r: &mut Reader<'_>) -> Result<MeterMod> {
    let command = r.u16()?;
    let flags = r.u16()?;
    let meter_id = r.u32()?;
    Ok(MeterMod { command, flags, meter_id, bands: decode_bands(r)? })
}

/// Meter bands (`ofp13_meter_band_*`, 16 bytes each), to the end of `r`.
pub(crate) fn decode_bands(r: &mut Reader<'_>) -> Result<Vec<MeterBand>> {
    let mut bands = Vec::new();
    while !r.is_empty() {
        let band_type = r.u16()?;
        let len = usize::from(r.u16()?);
        if len != 16 {
            return Err(DecodeError::BadLength { what: "meter band", len });
        }
        let rate = r.u32()?;
        let burst_size = r.u32()?;
        // Only a DSCP-remark band has a precedence level; the byte is padding otherwise.
        let prec_level = if band_type == 2 { r.u8()? } else { r.u8().map(|_| 0)? };
        r.skip(3)?;
        bands.push(MeterBand { band_type, rate, burst_size, prec_level });
    }
    Ok(bands)
}

fn encode_meter_mod(m: &MeterMod, out: &mut Vec<u8>) {
    out.put_u16(m.command);
    out.put_u16(m.flags);
    out.put_u32(m.meter_id);
    encode_bands(&m.bands, out);
}

pub(crate) fn encode_bands(bands: &[MeterBand], out: &mut Vec<u8>) {
    for b in bands {
        out.put_u16(b.band_type);
        out.put_u16(16);
        out.put_u32(b.rate);
        out.put_u32(b.burst_size);
        out.put_u8(if b.band_type == 2 { b.prec_level } else { 0 });
        out.put_zeros(3);
    }
}

fn decode_mp_request(r: &mut Reader<'_>) -> Result<MultipartRequest> {
    let mp_type = r.u16()?;
    let flags = r.u16()?;
    r.skip(4)?;
    let id_req = |r: &mut Reader<'_>| -> Result<Option<u32>> {
        // The 8-byte "which one" bodies; anything else stays as bytes.
        if r.remaining() == 8 && r.peek_u32(4)? == 0 {
            Ok(Some(r.u32().and_then(|id| r.u32().map(|_| id))?))
        } else {
            Ok(None)
        }
    };
    let typed = match mp_type {
        mp::PORT_STATS => id_req(r)?.map(MultipartRequestBody::PortStats),
        mp::GROUP => id_req(r)?.map(MultipartRequestBody::GroupStats),
        mp::GROUP_DESC => id_req(r)?.map(MultipartRequestBody::GroupDesc),
        mp::METER => id_req(r)?.map(MultipartRequestBody::MeterStats),
        mp::METER_CONFIG => id_req(r)?.map(MultipartRequestBody::MeterConfig),
        mp::PORT_DESC => id_req(r)?.map(MultipartRequestBody::PortDesc),
        _ => None,
    };
    if let Some(body) = typed {
        return Ok(MultipartRequest { flags, body });
    }
    let body = if mp_type == mp::FLOW || mp_type == mp::AGGREGATE {
        let table_id = r.u8()?;
        r.skip(3)?;
        let out_port = r.u32()?;
        let out_group = r.u32()?;
        r.skip(4)?;
        let cookie = r.u64()?;
        let cookie_mask = r.u64()?;
        let matches = Match::decode_ofp_match(r)?;
        let req = FlowStatsRequest { table_id, out_port, out_group, cookie, cookie_mask, matches };
        if !r.is_empty() {
            return Err(DecodeError::BadLength { what: "flow stats request", len: r.remaining() });
        }
        if mp_type == mp::FLOW {
            MultipartRequestBody::Flow(req)
        } else {
            MultipartRequestBody::Aggregate(req)
        }
    } else {
        MultipartRequestBody::Other { mp_type, body: r.take_rest().to_vec() }
    };
    Ok(MultipartRequest { flags, body })
}

fn decode_mp_reply(r: &mut Reader<'_>) -> Result<MultipartReply> {
    let mp_type = r.u16()?;
    let flags = r.u16()?;
    r.skip(4)?;
    let body = if mp_type == mp::FLOW {
        let mut flows = Vec::new();
        while !r.is_empty() {
            let len = usize::from(r.peek_u16(0)?);
            if len < 24 {
                return Err(DecodeError::BadLength { what: "flow stats", len });
            }
            let mut e = r.sub(len, "flow stats")?;
            flows.push(decode_flow_stats(&mut e)?);
        }
        MultipartReplyBody::Flow(flows)
    } else if mp_type == mp::AGGREGATE {
        MultipartReplyBody::Aggregate(stats::decode_aggregate(r)?)
    } else if mp_type == mp::PORT_STATS {
        MultipartReplyBody::PortStats(stats::decode_port_stats(r)?)
    } else if mp_type == mp::GROUP {
        MultipartReplyBody::GroupStats(stats::decode_group_stats(r)?)
    } else if mp_type == mp::GROUP_DESC {
        MultipartReplyBody::GroupDesc(stats::decode_group_desc(r)?)
    } else if mp_type == mp::METER {
        MultipartReplyBody::MeterStats(stats::decode_meter_stats(r)?)
    } else if mp_type == mp::METER_CONFIG {
        MultipartReplyBody::MeterConfig(stats::decode_meter_config(r)?)
    } else if mp_type == mp::METER_FEATURES && r.remaining() == 16 {
        let f = MeterFeatures {
            max_meter: r.u32()?,
            band_types: r.u32()?,
            capabilities: r.u32()?,
            max_bands: r.u8()?,
            max_color: r.u8()?,
        };
        r.skip(2)?;
        MultipartReplyBody::MeterFeatures(f)
    } else if mp_type == mp::GROUP_FEATURES && r.remaining() == 40 {
        let types = r.u32()?;
        let capabilities = r.u32()?;
        let mut max_groups = [0u32; 4];
        for g in &mut max_groups {
            *g = r.u32()?;
        }
        let mut actions = [0u32; 4];
        for a in &mut actions {
            *a = r.u32()?;
        }
        MultipartReplyBody::GroupFeatures(GroupFeatures { types, capabilities, max_groups, actions })
    } else if mp_type == mp::PORT_DESC {
        let mut ports = Vec::new();
        while !r.is_empty() {
            ports.push(decode_port(r)?);
        }
        MultipartReplyBody::PortDesc(ports)
    } else {
        MultipartReplyBody::Other { mp_type, body: r.take_rest().to_vec() }
    };
    Ok(MultipartReply { flags, body })
}

fn decode_flow_stats(e: &mut Reader<'_>) -> Result<FlowStats> {
    e.skip(4)?;
    let table_id = e.u8()?;
    let reason = e.u8()?;
    let priority = e.u16()?;
    let idle_timeout = e.u16()?;
    let hard_timeout = e.u16()?;
    let flags = e.u16()?;
    let importance = e.u16()?;
    let cookie = e.u64()?;
    let matches = Match::decode_ofp_match(e)?;
    let mut fs = FlowStats {
        table_id,
        reason,
        priority,
        idle_timeout,
        hard_timeout,
        flags,
        importance,
        cookie,
        matches,
        duration: None,
        idle_age: None,
        packet_count: None,
        byte_count: None,
        actions: Vec::new(),
    };
    e.skip(2)?;
    let slen = usize::from(e.u16()?);
    let mut s = e.sub(slen.checked_sub(4).ok_or(DecodeError::BadLength { what: "oxs", len: slen })?, "oxs")?;
    e.skip(super::wire::round8(slen) - slen)?;
    while !s.is_empty() {
        let h = s.u32()?;
        if (h >> 16) as u16 != OXS_CLASS || h & 0x100 != 0 {
            return Err(DecodeError::Unsupported { what: "oxs header", value: h.into() });
        }
        match ((h >> 9) & 0x7f, h & 0xff) {
            (0, 8) => fs.duration = Some((s.u32()?, s.u32()?)),
            (1, 8) => fs.idle_age = Some((s.u64()? >> 32) as u32),
            (3, 4) => {
                s.u32()?;
            }
            (4, 8) => fs.packet_count = Some(s.u64()?),
            (5, 8) => fs.byte_count = Some(s.u64()?),
            _ => return Err(DecodeError::Unsupported { what: "oxs field", value: h.into() }),
        }
    }
    fs.actions = decode_instructions(e.take_rest())?;
    Ok(fs)
}

fn encode_flow_stats(fs: &FlowStats, out: &mut Vec<u8>) {
    let s = out.len();
    out.put_u16(0);
    out.put_zeros(2);
    out.put_u8(fs.table_id);
    out.put_u8(fs.reason);
    out.put_u16(fs.priority);
    out.put_u16(fs.idle_timeout);
    out.put_u16(fs.hard_timeout);
    out.put_u16(fs.flags);
    out.put_u16(fs.importance);
    out.put_u64(fs.cookie);
    fs.matches.encode_ofp_match(out);
    let os = out.len();
    out.put_u32(0);
    let hdr = |f: u32, n: u32| (u32::from(OXS_CLASS) << 16) | (f << 9) | n;
    if let Some((sec, nsec)) = fs.duration {
        out.put_u32(hdr(0, 8));
        out.put_u32(sec);
        out.put_u32(nsec);
    }
    if let Some(idle) = fs.idle_age {
        out.put_u32(hdr(1, 8));
        out.put_u64(u64::from(idle) << 32);
    }
    if let Some(p) = fs.packet_count {
        out.put_u32(hdr(4, 8));
        out.put_u64(p);
    }
    if let Some(b) = fs.byte_count {
        out.put_u32(hdr(5, 8));
        out.put_u64(b);
    }
    let slen = out.len() - os;
    out.set_u16(os + 2, slen as u16);
    out.pad_from(os, 8);
    encode_instructions(&fs.actions, out);
    let len = out.len() - s;
    out.set_u16(s, len as u16);
}

fn decode_tlv_maps(r: &mut Reader<'_>) -> Result<Vec<TlvMap>> {
    let mut maps = Vec::new();
    while !r.is_empty() {
        let option_class = r.u16()?;
        let option_type = r.u8()?;
        let option_len = r.u8()?;
        let index = r.u16()?;
        r.skip(2)?;
        maps.push(TlvMap { option_class, option_type, option_len, index });
    }
    Ok(maps)
}

fn encode_tlv_maps(maps: &[TlvMap], out: &mut Vec<u8>) {
    for m in maps {
        out.put_u16(m.option_class);
        out.put_u8(m.option_type);
        out.put_u8(m.option_len);
        out.put_u16(m.index);
        out.put_zeros(2);
    }
}

// NXT_PACKET_IN2 property types.
const NXPINT_PACKET: u16 = 0;
const NXPINT_FULL_LEN: u16 = 1;
const NXPINT_BUFFER_ID: u16 = 2;
const NXPINT_TABLE_ID: u16 = 3;
const NXPINT_COOKIE: u16 = 4;
const NXPINT_REASON: u16 = 5;
const NXPINT_METADATA: u16 = 6;
const NXPINT_USERDATA: u16 = 7;
const NXPINT_CONTINUATION: u16 = 8;

fn decode_packet_in2(r: &mut Reader<'_>) -> Result<PacketIn2> {
    let mut p = PacketIn2::default();
    let mut have_packet = false;
    for prop in props::read_props(r.take_rest(), "packet-in2 property")? {
        match prop.ptype {
            NXPINT_PACKET => {
                p.packet = prop.payload.to_vec();
                have_packet = true;
            }
            NXPINT_FULL_LEN => p.full_len = Some(props::prop_u32(&prop)?),
            NXPINT_BUFFER_ID => p.buffer_id = Some(props::prop_u32(&prop)?),
            NXPINT_TABLE_ID => p.table_id = Some(props::prop_u8(&prop)?),
            NXPINT_COOKIE => p.cookie = Some(props::prop_u64(&prop)?),
            NXPINT_REASON => p.reason = Some(props::prop_u8(&prop)?),
            NXPINT_METADATA => p.metadata = Some(Match::decode_oxm(prop.payload)?),
            NXPINT_USERDATA => p.userdata = Some(prop.payload.to_vec()),
            NXPINT_CONTINUATION => p.continuation = Some(props::nested_payload(&prop)?.to_vec()),
            t => return Err(DecodeError::Unsupported { what: "packet-in2 property", value: t.into() }),
        }
    }
    if !have_packet {
        return Err(DecodeError::BadValue { what: "packet-in2 without packet", value: 0 });
    }
    if p.full_len.is_some_and(|l| (l as usize) < p.packet.len()) {
        return Err(DecodeError::BadValue { what: "packet-in2 full_len", value: 0 });
    }
    Ok(p)
}

fn encode_packet_in2(p: &PacketIn2, out: &mut Vec<u8>) {
    put_prop(out, NXPINT_PACKET, &p.packet);
    if let Some(l) = p.full_len {
        put_prop(out, NXPINT_FULL_LEN, &l.to_be_bytes());
    }
    if let Some(b) = p.buffer_id {
        put_prop(out, NXPINT_BUFFER_ID, &b.to_be_bytes());
    }
    if let Some(t) = p.table_id {
        put_prop(out, NXPINT_TABLE_ID, &[t]);
    }
    if let Some(c) = p.cookie {
        put_prop_u64(out, NXPINT_COOKIE, c);
    }
    if let Some(r) = p.reason {
        put_prop(out, NXPINT_REASON, &[r]);
    }
    if let Some(m) = &p.metadata {
        let mut oxm = Vec::new();
        m.encode_oxm(&mut oxm);
        put_prop(out, NXPINT_METADATA, &oxm);
    }
    if let Some(u) = &p.userdata {
        put_prop(out, NXPINT_USERDATA, u);
    }
    if let Some(c) = &p.continuation {
        put_nested_prop(out, NXPINT_CONTINUATION, c);
    }
}

fn decode_nxt(subtype: u32, r: &mut Reader<'_>) -> Result<Message> {
    Ok(match subtype {
        nxt::SET_PACKET_IN_FORMAT => Message::SetPacketInFormat(r.u32()?),
        nxt::SET_CONTROLLER_ID => {
            r.skip(6)?;
            Message::SetControllerId(r.u16()?)
        }
        nxt::CT_FLUSH_ZONE => {
            r.skip(6)?;
            Message::CtFlushZone(r.u16()?)
        }
        nxt::PACKET_IN2 => Message::PacketIn2(decode_packet_in2(r)?),
        nxt::RESUME => Message::Resume(decode_packet_in2(r)?),
        nxt::TLV_TABLE_MOD => {
            let command = r.u16()?;
            r.skip(6)?;
            Message::TlvTableMod(TlvTableMod { command, maps: decode_tlv_maps(r)? })
        }
        nxt::TLV_TABLE_REQUEST => Message::TlvTableRequest,
        nxt::TLV_TABLE_REPLY => {
            let max_option_space = r.u32()?;
            let max_fields = r.u16()?;
            r.skip(10)?;
            Message::TlvTableReply(TlvTableReply { max_option_space, max_fields, maps: decode_tlv_maps(r)? })
        }
        s => Message::Unknown {
            msg_type: ofpt::EXPERIMENTER,
            experimenter: Some((NX_VENDOR_ID, s)),
            body: r.take_rest().to_vec(),
        },
    })
}

fn nx_hdr(out: &mut Vec<u8>, subtype: u32) -> u8 {
    out.put_u32(NX_VENDOR_ID);
    out.put_u32(subtype);
    ofpt::EXPERIMENTER
}

/// Append the body; returns the message type.
fn encode_body(m: &Message, out: &mut Vec<u8>) -> u8 {
    match m {
        Message::Hello { version_bitmap } => {
            if *version_bitmap != 0 {
                out.put_u16(1);
                out.put_u16(8);
                out.put_u32(*version_bitmap);
            }
            ofpt::HELLO
        }
        Message::Error(e) => {
            e.encode(out);
            ofpt::ERROR
        }
        Message::EchoRequest(d) => {
            out.extend_from_slice(d);
            ofpt::ECHO_REQUEST
        }
        Message::EchoReply(d) => {
            out.extend_from_slice(d);
            ofpt::ECHO_REPLY
        }
        Message::FeaturesRequest => ofpt::FEATURES_REQUEST,
        Message::FeaturesReply(f) => {
            out.put_u64(f.datapath_id);
            out.put_u32(f.n_buffers);
            out.put_u8(f.n_tables);
            out.put_u8(f.auxiliary_id);
            out.put_zeros(2);
            out.put_u32(f.capabilities);
            out.put_u32(0);
            ofpt::FEATURES_REPLY
        }
        Message::GetConfigRequest => ofpt::GET_CONFIG_REQUEST,
        Message::GetConfigReply(c) | Message::SetConfig(c) => {
            out.put_u16(c.flags);
            out.put_u16(c.miss_send_len);
            if matches!(m, Message::SetConfig(_)) {
                ofpt::SET_CONFIG
            } else {
                ofpt::GET_CONFIG_REPLY
            }
        }
        Message::PortStatus(p) => {
            out.put_u8(p.reason);
            out.put_zeros(7);
            encode_port(&p.desc, out);
            ofpt::PORT_STATUS
        }
        Message::PacketOut(p) => {
            out.put_u32(p.buffer_id);
            let at = out.len();
            out.put_u16(0);
            out.put_zeros(2);
            p.metadata.encode_ofp_match(out);
            let s = out.len();
            encode_actions(&p.actions, out);
            let alen = out.len() - s;
            out.set_u16(at, alen as u16);
            out.extend_from_slice(&p.data);
            ofpt::PACKET_OUT
        }
        Message::FlowMod(fm) => {
            encode_flow_mod(fm, out);
            ofpt::FLOW_MOD
        }
        Message::GroupMod(g) => {
            encode_group_mod(g, out);
            ofpt::GROUP_MOD
        }
        Message::MeterMod(mm) => {
            encode_meter_mod(mm, out);
            ofpt::METER_MOD
        }
        Message::MultipartRequest(req) => {
            out.put_u16(req.body.mp_type());
            out.put_u16(req.flags);
            out.put_zeros(4);
            match &req.body {
                MultipartRequestBody::PortStats(id)
                | MultipartRequestBody::GroupStats(id)
                | MultipartRequestBody::GroupDesc(id)
                | MultipartRequestBody::MeterStats(id)
                | MultipartRequestBody::MeterConfig(id)
                | MultipartRequestBody::PortDesc(id) => {
                    out.put_u32(*id);
                    out.put_zeros(4);
                }
                MultipartRequestBody::Flow(f) | MultipartRequestBody::Aggregate(f) => {
                    out.put_u8(f.table_id);
                    out.put_zeros(3);
                    out.put_u32(f.out_port);
                    out.put_u32(f.out_group);
                    out.put_zeros(4);
                    out.put_u64(f.cookie);
                    out.put_u64(f.cookie_mask);
                    f.matches.encode_ofp_match(out);
                }
                MultipartRequestBody::Other { body, .. } => out.extend_from_slice(body),
            }
            ofpt::MULTIPART_REQUEST
        }
        Message::MultipartReply(rep) => {
            out.put_u16(rep.body.mp_type());
            out.put_u16(rep.flags);
            out.put_zeros(4);
            match &rep.body {
                MultipartReplyBody::Flow(flows) => {
                    for f in flows {
                        encode_flow_stats(f, out);
                    }
                }
                MultipartReplyBody::Aggregate(a) => stats::encode_aggregate(a, out),
                MultipartReplyBody::PortStats(p) => stats::encode_port_stats(p, out),
                MultipartReplyBody::GroupStats(g) => stats::encode_group_stats(g, out),
                MultipartReplyBody::GroupDesc(g) => stats::encode_group_desc(g, out),
                MultipartReplyBody::MeterStats(m) => stats::encode_meter_stats(m, out),
                MultipartReplyBody::MeterConfig(m) => stats::encode_meter_config(m, out),
                MultipartReplyBody::MeterFeatures(f) => {
                    out.put_u32(f.max_meter);
                    out.put_u32(f.band_types);
                    out.put_u32(f.capabilities);
                    out.put_u8(f.max_bands);
                    out.put_u8(f.max_color);
                    out.put_zeros(2);
                }
                MultipartReplyBody::GroupFeatures(g) => {
                    out.put_u32(g.types);
                    out.put_u32(g.capabilities);
                    for v in g.max_groups.iter().chain(&g.actions) {
                        out.put_u32(*v);
                    }
                }
                MultipartReplyBody::PortDesc(ports) => {
                    for p in ports {
                        encode_port(p, out);
                    }
                }
                MultipartReplyBody::Other { body, .. } => out.extend_from_slice(body),
            }
            ofpt::MULTIPART_REPLY
        }
        Message::BarrierRequest => ofpt::BARRIER_REQUEST,
        Message::BarrierReply => ofpt::BARRIER_REPLY,
        Message::GetAsyncRequest => ofpt::GET_ASYNC_REQUEST,
        Message::GetAsyncReply(c) => {
            c.encode(out);
            ofpt::GET_ASYNC_REPLY
        }
        Message::SetAsync(c) => {
            c.encode(out);
            ofpt::SET_ASYNC
        }
        Message::BundleControl(b) => {
            out.put_u32(b.bundle_id);
            out.put_u16(b.ctrl_type);
            out.put_u16(b.flags);
            out.extend_from_slice(&b.properties);
            ofpt::BUNDLE_CONTROL
        }
        Message::BundleAdd(b) => {
            out.put_u32(b.bundle_id);
            out.put_zeros(2);
            out.put_u16(b.flags);
            out.extend_from_slice(&b.message.encode());
            ofpt::BUNDLE_ADD_MESSAGE
        }
        Message::SetPacketInFormat(f) => {
            let t = nx_hdr(out, nxt::SET_PACKET_IN_FORMAT);
            out.put_u32(*f);
            t
        }
        Message::SetControllerId(id) => {
            let t = nx_hdr(out, nxt::SET_CONTROLLER_ID);
            out.put_zeros(6);
            out.put_u16(*id);
            t
        }
        Message::CtFlushZone(z) => {
            let t = nx_hdr(out, nxt::CT_FLUSH_ZONE);
            out.put_zeros(6);
            out.put_u16(*z);
            t
        }
        Message::PacketIn2(p) => {
            let t = nx_hdr(out, nxt::PACKET_IN2);
            encode_packet_in2(p, out);
            t
        }
        Message::Resume(p) => {
            let t = nx_hdr(out, nxt::RESUME);
            encode_packet_in2(p, out);
            t
        }
        Message::TlvTableMod(m) => {
            let t = nx_hdr(out, nxt::TLV_TABLE_MOD);
            out.put_u16(m.command);
            out.put_zeros(6);
            encode_tlv_maps(&m.maps, out);
            t
        }
        Message::TlvTableRequest => nx_hdr(out, nxt::TLV_TABLE_REQUEST),
        Message::TlvTableReply(m) => {
            let t = nx_hdr(out, nxt::TLV_TABLE_REPLY);
            out.put_u32(m.max_option_space);
            out.put_u16(m.max_fields);
            out.put_zeros(10);
            encode_tlv_maps(&m.maps, out);
            t
        }
        Message::Unknown { msg_type, experimenter, body } => {
            if let Some((v, s)) = experimenter {
                out.put_u32(*v);
                out.put_u32(*s);
            }
            out.extend_from_slice(body);
            *msg_type
        }
    }
}
