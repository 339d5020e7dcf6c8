//! Actions and instructions in their OpenFlow 1.5 encoding, as OVS emits and accepts them:
//! standard OFPAT_* actions plus Nicira NXAST_* experimenter actions.

use super::fields::{Field, NxmHeader};
use super::flow_match::{port_from_ofp11, port_to_ofp11, put_header, put_raw_header, read_header};
use super::header::NX_VENDOR_ID;
use super::props::{self, put_prop};
use super::wire::{round8, DecodeError, Put, Reader, Result};

/// Well-known OpenFlow port numbers (16-bit form).
pub mod ports {
    pub const MAX: u16 = 0xff00;
    pub const UNSET: u16 = 0xfff7;
    pub const IN_PORT: u16 = 0xfff8;
    pub const TABLE: u16 = 0xfff9;
    pub const NORMAL: u16 = 0xfffa;
    pub const FLOOD: u16 = 0xfffb;
    pub const ALL: u16 = 0xfffc;
    pub const CONTROLLER: u16 = 0xfffd;
    pub const LOCAL: u16 = 0xfffe;
    pub const NONE: u16 = 0xffff;
}

/// A bit range of a field (`NXM_NX_REG0[0..15]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subfield {
    pub field: Field,
    pub ofs: u16,
    pub n_bits: u16,
}

impl Subfield {
    /// The whole field.
    pub fn whole(field: Field) -> Subfield {
        Subfield { field, ofs: 0, n_bits: field.n_bits() as u16 }
    }

    fn check(&self) -> Result<()> {
        let end = usize::from(self.ofs) + usize::from(self.n_bits);
        if self.n_bits == 0 || end > self.field.n_bits() {
            return Err(DecodeError::BadValue { what: "subfield range", value: end as u64 });
        }
        Ok(())
    }

    fn ofs_nbits(&self) -> u16 {
        (self.ofs << 6) | (self.n_bits.saturating_sub(1) & 0x3f)
    }

    fn from_ofs_nbits(field: Field, v: u16) -> Result<Subfield> {
        let sf = Subfield { field, ofs: v >> 6, n_bits: (v & 0x3f) + 1 };
        sf.check()?;
        Ok(sf)
    }
}

/// Conntrack zone: immediate or taken from a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CtZone {
    Imm(u16),
    Field(Subfield),
}

/// `ct(...)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ct {
    /// NX_CT_F_* (commit = 1, force = 2).
    pub flags: u16,
    pub zone: CtZone,
    /// Recirculation table, 255 for none.
    pub table: u8,
    pub alg: u16,
    /// Nested actions (a leading `Nat` prints outside `exec(...)`).
    pub actions: Vec<Action>,
}

pub const NX_CT_F_COMMIT: u16 = 1;
pub const NX_CT_F_FORCE: u16 = 2;
pub const NX_CT_RECIRC_NONE: u8 = 255;

pub const NX_NAT_F_SRC: u16 = 1;
pub const NX_NAT_F_DST: u16 = 2;
pub const NX_NAT_F_PERSISTENT: u16 = 4;
pub const NX_NAT_F_PROTO_HASH: u16 = 8;
pub const NX_NAT_F_PROTO_RANDOM: u16 = 16;

/// NAT address range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NatAddrs {
    /// min, max (max 0 = absent).
    V4(u32, u32),
    /// min, max (max 0 = absent).
    V6(u128, u128),
}

/// `nat(...)` inside `ct`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Nat {
    /// NX_NAT_F_*.
    pub flags: u16,
    pub addrs: Option<NatAddrs>,
    /// Port range (0 = absent).
    pub proto_min: u16,
    pub proto_max: u16,
}

/// `controller(...)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Controller {
    pub max_len: u16,
    pub controller_id: u16,
    /// OFPR_* (1 = action).
    pub reason: u8,
    pub userdata: Vec<u8>,
    pub pause: bool,
    /// 0 = no meter.
    pub meter_id: u32,
}

impl Default for Controller {
    fn default() -> Self {
        Controller { max_len: u16::MAX, controller_id: 0, reason: 1, userdata: Vec::new(), pause: false, meter_id: 0 }
    }
}

impl Controller {
    fn needs_v2(&self) -> bool {
        !self.userdata.is_empty() || self.pause || self.meter_id != 0
    }
}

/// `sample(...)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sample {
    pub probability: u16,
    pub collector_set_id: u32,
    pub obs_domain_id: u32,
    pub obs_point_id: u32,
    /// ports::NONE when absent.
    pub sampling_port: u16,
    /// 0 default, 1 ingress, 2 egress.
    pub direction: u8,
}

/// One `learn` flow-mod spec.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LearnSpec {
    pub src: LearnSrc,
    pub dst: LearnDst,
    pub n_bits: u16,
}

/// Source of a learn spec.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LearnSrc {
    Field(Subfield),
    /// Big-endian immediate, `round_up(n_bits, 16) / 8` bytes.
    Imm(Vec<u8>),
}

/// Destination of a learn spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LearnDst {
    Match(Subfield),
    Load(Subfield),
    Output,
}

/// `learn(...)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Learn {
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub priority: u16,
    pub cookie: u64,
    /// NX_LEARN_F_*.
    pub flags: u16,
    pub table_id: u8,
    pub fin_idle_timeout: u16,
    pub fin_hard_timeout: u16,
    /// NXAST_LEARN2 only (0 = no limit).
    pub limit: u32,
    /// NXAST_LEARN2 with NX_LEARN_F_WRITE_RESULT only.
    pub result_dst: Option<Subfield>,
    pub specs: Vec<LearnSpec>,
}

pub const NX_LEARN_F_SEND_FLOW_REM: u16 = 1;
pub const NX_LEARN_F_DELETE_LEARNED: u16 = 2;
pub const NX_LEARN_F_WRITE_RESULT: u16 = 4;

/// `multipath(fields,basis,algorithm,n_links,arg,dst)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Multipath {
    /// NX_HASH_FIELDS_* (0 eth_src .. 6 symmetric_l3).
    pub fields: u16,
    pub basis: u16,
    /// NX_MP_ALG_* (0 modulo_n, 1 hash_threshold, 2 hrw, 3 iter_hash).
    pub algorithm: u16,
    /// Number of links minus one.
    pub max_link: u16,
    pub arg: u32,
    pub dst: Subfield,
}

/// `bundle(...)` / `bundle_load(...)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bundle {
    /// 0 active_backup, 1 hrw.
    pub algorithm: u16,
    /// NX_HASH_FIELDS_*.
    pub fields: u16,
    pub basis: u16,
    /// `bundle_load` destination.
    pub dst: Option<Subfield>,
    pub members: Vec<u16>,
}

/// Names of NX_HASH_FIELDS_* values.
pub const HASH_FIELDS: &[&str] =
    &["eth_src", "symmetric_l4", "symmetric_l3l4", "symmetric_l3l4+udp", "nw_src", "nw_dst", "symmetric_l3"];

/// One action (or instruction, for the last four variants).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    Output {
        port: u16,
        max_len: u16,
    },
    /// `resubmit(port,table)`; `in_port` ports::IN_PORT and `table` 255 mean "unchanged".
    Resubmit {
        in_port: u16,
        table: u8,
        ct: bool,
    },
    /// `set_field` (and `load`, which OpenFlow 1.5 encodes the same way).
    SetField {
        field: Field,
        value: Vec<u8>,
        mask: Option<Vec<u8>>,
    },
    Move {
        src: Subfield,
        dst: Subfield,
    },
    Ct(Ct),
    Nat(Nat),
    CtClear,
    Controller(Controller),
    /// `conjunction(id,clause/n_clauses)`, `clause` 0-based.
    Conjunction {
        id: u32,
        clause: u8,
        n_clauses: u8,
    },
    Group(u32),
    Meter(u32),
    Note(Vec<u8>),
    /// `dec_ttl`, or `dec_ttl(ids)` when `Some`.
    DecTtl(Option<Vec<u16>>),
    PushVlan(u16),
    PopVlan,
    /// `push_mpls:ETHERTYPE` (0x8847 or 0x8848).
    PushMpls(u16),
    /// `pop_mpls:ETHERTYPE`, the ethertype of the payload.
    PopMpls(u16),
    /// `set_mpls_ttl(TTL)`.
    SetMplsTtl(u8),
    DecMplsTtl,
    Clone(Vec<Action>),
    CheckPktLarger {
        pkt_len: u16,
        dst: Subfield,
    },
    FinTimeout {
        idle: u16,
        hard: u16,
    },
    StackPush(Subfield),
    StackPop(Subfield),
    Sample(Sample),
    Learn(Learn),
    Exit,
    SetQueue(u32),
    PopQueue,
    OutputReg {
        src: Subfield,
        max_len: u16,
    },
    Multipath(Multipath),
    Bundle(Bundle),
    /// An action this codec does not model: its raw bytes.
    Unknown(Vec<u8>),
    GotoTable(u8),
    WriteMetadata {
        value: u64,
        mask: u64,
    },
    ClearActions,
    WriteActions(Vec<Action>),
}

// OpenFlow 1.5 action types.
const OFPAT_OUTPUT: u16 = 0;
const OFPAT_SET_MPLS_TTL: u16 = 15;
const OFPAT_DEC_MPLS_TTL: u16 = 16;
const OFPAT_PUSH_VLAN: u16 = 17;
const OFPAT_POP_VLAN: u16 = 18;
const OFPAT_PUSH_MPLS: u16 = 19;
const OFPAT_POP_MPLS: u16 = 20;
const OFPAT_SET_QUEUE: u16 = 21;
const OFPAT_GROUP: u16 = 22;
const OFPAT_DEC_NW_TTL: u16 = 24;
const OFPAT_SET_FIELD: u16 = 25;
const OFPAT_COPY_FIELD: u16 = 28;
const OFPAT_METER: u16 = 29;
const OFPAT_EXPERIMENTER: u16 = 0xffff;

// Nicira action subtypes.
const NXAST_RESUBMIT: u16 = 1;
const NXAST_POP_QUEUE: u16 = 5;
const NXAST_REG_MOVE: u16 = 6;
const NXAST_REG_LOAD: u16 = 7;
const NXAST_NOTE: u16 = 8;
const NXAST_RESUBMIT_TABLE: u16 = 14;
const NXAST_OUTPUT_REG: u16 = 15;
const NXAST_LEARN: u16 = 16;
const NXAST_EXIT: u16 = 17;
const NXAST_MULTIPATH: u16 = 10;
const NXAST_BUNDLE: u16 = 12;
const NXAST_BUNDLE_LOAD: u16 = 13;
const NXAST_FIN_TIMEOUT: u16 = 19;
const NXAST_CONTROLLER: u16 = 20;
const NXAST_DEC_TTL_CNT_IDS: u16 = 21;
const NXAST_STACK_PUSH: u16 = 27;
const NXAST_STACK_POP: u16 = 28;
const NXAST_SAMPLE: u16 = 29;
const NXAST_OUTPUT_REG2: u16 = 32;
const NXAST_REG_LOAD2: u16 = 33;
const NXAST_CONJUNCTION: u16 = 34;
const NXAST_CT: u16 = 35;
const NXAST_NAT: u16 = 36;
const NXAST_CONTROLLER2: u16 = 37;
const NXAST_SAMPLE2: u16 = 38;
const NXAST_SAMPLE3: u16 = 41;
const NXAST_CLONE: u16 = 42;
const NXAST_CT_CLEAR: u16 = 43;
const NXAST_RESUBMIT_TABLE_CT: u16 = 44;
const NXAST_LEARN2: u16 = 45;
const NXAST_CHECK_PKT_LARGER: u16 = 49;

// controller2 property types.
const NXAC2PT_MAX_LEN: u16 = 0;
const NXAC2PT_CONTROLLER_ID: u16 = 1;
const NXAC2PT_REASON: u16 = 2;
const NXAC2PT_USERDATA: u16 = 3;
const NXAC2PT_PAUSE: u16 = 4;
const NXAC2PT_METER_ID: u16 = 5;

// Instruction types.
const OFPIT_GOTO_TABLE: u16 = 1;
const OFPIT_WRITE_METADATA: u16 = 2;
const OFPIT_WRITE_ACTIONS: u16 = 3;
const OFPIT_APPLY_ACTIONS: u16 = 4;
const OFPIT_CLEAR_ACTIONS: u16 = 5;

/// Nesting limit for ct/clone/write_actions, so hostile input cannot exhaust the stack.
const MAX_DEPTH: usize = 8;

/// Decode an OpenFlow 1.5 action list.
pub fn decode_actions(buf: &[u8]) -> Result<Vec<Action>> {
    decode_actions_depth(buf, 0)
}

fn decode_actions_depth(buf: &[u8], depth: usize) -> Result<Vec<Action>> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::BadValue { what: "action nesting", value: depth as u64 });
    }
    let mut r = Reader::new(buf, "actions");
    let mut v = Vec::new();
    while !r.is_empty() {
        let len = usize::from(r.peek_u16(2)?);
        if len < 8 || len % 8 != 0 {
            return Err(DecodeError::BadLength { what: "action", len });
        }
        let a = r.bytes(len)?;
        v.push(decode_action(a, depth)?);
    }
    Ok(v)
}

fn nx_pull_subfield_header(r: &mut Reader<'_>) -> Result<Field> {
    let (field, masked, _) = read_header(r)?;
    if masked {
        return Err(DecodeError::BadValue { what: "masked field in action", value: field.0.into() });
    }
    Ok(field)
}

/// Read a 32-bit NXM header naming a field (Nicira actions never use experimenter OXMs).
fn nx_field32(h: u32) -> Result<Field> {
    let class = (h >> 16) as u16;
    let fld = ((h >> 9) & 0x7f) as u8;
    Field::from_header(0, class, fld).ok_or(DecodeError::Unsupported { what: "nxm header", value: h.into() })
}

fn nx_header32(f: Field) -> u32 {
    let h = f.nxm_header().unwrap_or(NxmHeader { vendor: 0, class: 0, field: 0, len: 0 });
    (u32::from(h.class) << 16) | (u32::from(h.field) << 9) | u32::from(h.len)
}

fn decode_action(a: &[u8], depth: usize) -> Result<Action> {
    let mut r = Reader::new(a, "action");
    let atype = r.u16()?;
    let _len = r.u16()?;
    Ok(match atype {
        OFPAT_OUTPUT => {
            let p = r.u32()?;
            let port = port_from_ofp11(p).ok_or(DecodeError::BadValue { what: "output port", value: p.into() })?;
            Action::Output { port, max_len: r.u16()? }
        }
        OFPAT_PUSH_VLAN => Action::PushVlan(r.u16()?),
        OFPAT_POP_VLAN => Action::PopVlan,
        OFPAT_PUSH_MPLS => {
            let t = r.u16()?;
            if t != 0x8847 && t != 0x8848 {
                return Err(DecodeError::BadValue { what: "push_mpls ethertype", value: t.into() });
            }
            Action::PushMpls(t)
        }
        OFPAT_POP_MPLS => Action::PopMpls(r.u16()?),
        OFPAT_SET_MPLS_TTL => Action::SetMplsTtl(r.u8()?),
        OFPAT_DEC_MPLS_TTL => Action::DecMplsTtl,
        OFPAT_SET_QUEUE => Action::SetQueue(r.u32()?),
        OFPAT_GROUP => Action::Group(r.u32()?),
        OFPAT_DEC_NW_TTL => Action::DecTtl(None),
        OFPAT_METER => Action::Meter(r.u32()?),
        OFPAT_SET_FIELD => {
            let (field, masked, len) = read_header(&mut r)?;
            let n = if masked { len / 2 } else { len };
            let ok = if field.def().variable { n > 0 && n <= field.n_bytes() } else { n == field.n_bytes() };
            if !ok || (masked && len % 2 != 0) {
                return Err(DecodeError::BadLength { what: "set_field", len });
            }
            if !field.def().writable {
                return Err(DecodeError::BadValue { what: "set_field of read-only field", value: field.0.into() });
            }
            let value = r.bytes(n)?.to_vec();
            let mask = if masked { Some(r.bytes(n)?.to_vec()) } else { None };
            set_field_checked(field, value, mask, r.take_rest())?
        }
        OFPAT_COPY_FIELD => {
            let n_bits = r.u16()?;
            let src_ofs = r.u16()?;
            let dst_ofs = r.u16()?;
            r.skip(2)?;
            let sf = nx_pull_subfield_header(&mut r)?;
            let df = nx_pull_subfield_header(&mut r)?;
            let src = Subfield { field: sf, ofs: src_ofs, n_bits };
            let dst = Subfield { field: df, ofs: dst_ofs, n_bits };
            src.check()?;
            dst.check()?;
            Action::Move { src, dst }
        }
        OFPAT_EXPERIMENTER => {
            let vendor = r.u32()?;
            if vendor != NX_VENDOR_ID {
                return Ok(Action::Unknown(a.to_vec()));
            }
            decode_nx_action(r.u16()?, &mut r, a, depth)?
        }
        _ => Action::Unknown(a.to_vec()),
    })
}

fn decode_nx_action(subtype: u16, r: &mut Reader<'_>, a: &[u8], depth: usize) -> Result<Action> {
    Ok(match subtype {
        NXAST_RESUBMIT => Action::Resubmit { in_port: r.u16()?, table: 255, ct: false },
        NXAST_RESUBMIT_TABLE | NXAST_RESUBMIT_TABLE_CT => {
            let in_port = r.u16()?;
            let table = r.u8()?;
            Action::Resubmit { in_port, table, ct: subtype == NXAST_RESUBMIT_TABLE_CT }
        }
        NXAST_POP_QUEUE => Action::PopQueue,
        NXAST_EXIT => Action::Exit,
        NXAST_CT_CLEAR => Action::CtClear,
        // OVS keeps the zero padding as part of the decoded note.
        NXAST_NOTE => Action::Note(r.take_rest().to_vec()),
        NXAST_REG_MOVE => {
            let n_bits = r.u16()?;
            let src_ofs = r.u16()?;
            let dst_ofs = r.u16()?;
            let sf = nx_pull_subfield_header(r)?;
            let df = nx_pull_subfield_header(r)?;
            let src = Subfield { field: sf, ofs: src_ofs, n_bits };
            let dst = Subfield { field: df, ofs: dst_ofs, n_bits };
            src.check()?;
            dst.check()?;
            Action::Move { src, dst }
        }
        NXAST_REG_LOAD => {
            let ofs_nbits = r.u16()?;
            let dst = Subfield::from_ofs_nbits(nx_field32(r.u32()?)?, ofs_nbits)?;
            let v = u128::from(r.u64()?);
            load_to_set_field(dst, v)?
        }
        NXAST_REG_LOAD2 => {
            let (field, masked, n) = read_header(r)?;
            let n = if masked { n / 2 } else { n };
            let value = r.bytes(n)?.to_vec();
            let mask = if masked { Some(r.bytes(n)?.to_vec()) } else { None };
            set_field_checked(field, value, mask, r.take_rest())?
        }
        NXAST_OUTPUT_REG => {
            let ofs_nbits = r.u16()?;
            let src = Subfield::from_ofs_nbits(nx_field32(r.u32()?)?, ofs_nbits)?;
            Action::OutputReg { src, max_len: r.u16()? }
        }
        NXAST_OUTPUT_REG2 => {
            let ofs_nbits = r.u16()?;
            let max_len = r.u16()?;
            let f = nx_pull_subfield_header(r)?;
            Action::OutputReg { src: Subfield::from_ofs_nbits(f, ofs_nbits)?, max_len }
        }
        NXAST_FIN_TIMEOUT => Action::FinTimeout { idle: r.u16()?, hard: r.u16()? },
        NXAST_CONTROLLER => {
            let max_len = r.u16()?;
            let controller_id = r.u16()?;
            let reason = r.u8()?;
            Action::Controller(Controller { max_len, controller_id, reason, ..Controller::default() })
        }
        NXAST_CONTROLLER2 => {
            r.skip(6)?;
            let mut c = Controller::default();
            for p in props::read_props(r.take_rest(), "controller2 property")? {
                match p.ptype {
                    NXAC2PT_MAX_LEN => c.max_len = props::prop_u16(&p)?,
                    NXAC2PT_CONTROLLER_ID => c.controller_id = props::prop_u16(&p)?,
                    NXAC2PT_REASON => c.reason = props::prop_u8(&p)?,
                    NXAC2PT_USERDATA => c.userdata = p.payload.to_vec(),
                    NXAC2PT_PAUSE => c.pause = true,
                    NXAC2PT_METER_ID => c.meter_id = props::prop_u32(&p)?,
                    t => return Err(DecodeError::Unsupported { what: "controller2 property", value: t.into() }),
                }
            }
            Action::Controller(c)
        }
        NXAST_DEC_TTL_CNT_IDS => {
            let n = usize::from(r.u16()?);
            r.skip(4)?;
            let mut ids = Vec::with_capacity(n.min(64));
            for _ in 0..n {
                ids.push(r.u16()?);
            }
            Action::DecTtl(Some(ids))
        }
        NXAST_STACK_PUSH | NXAST_STACK_POP => {
            let ofs = r.u16()?;
            let f = nx_pull_subfield_header(r)?;
            let n_bits = r.u16()?;
            let sf = Subfield { field: f, ofs, n_bits };
            sf.check()?;
            if subtype == NXAST_STACK_PUSH {
                Action::StackPush(sf)
            } else {
                Action::StackPop(sf)
            }
        }
        NXAST_SAMPLE | NXAST_SAMPLE2 | NXAST_SAMPLE3 => {
            let probability = r.u16()?;
            let collector_set_id = r.u32()?;
            let obs_domain_id = r.u32()?;
            let obs_point_id = r.u32()?;
            let (sampling_port, direction) = if subtype == NXAST_SAMPLE {
                (super::actions::ports::NONE, 0)
            } else {
                let p = r.u16()?;
                let d = if subtype == NXAST_SAMPLE3 { r.u8()? } else { 0 };
                (p, d)
            };
            if probability == 0 || direction > 2 {
                return Err(DecodeError::BadValue { what: "sample", value: probability.into() });
            }
            Action::Sample(Sample {
                probability,
                collector_set_id,
                obs_domain_id,
                obs_point_id,
                sampling_port,
                direction,
            })
        }
        NXAST_CONJUNCTION => {
            let clause = r.u8()?;
            let n_clauses = r.u8()?;
            let id = r.u32()?;
            if !(2..=64).contains(&n_clauses) || clause >= n_clauses {
                return Err(DecodeError::BadValue { what: "conjunction", value: n_clauses.into() });
            }
            Action::Conjunction { id, clause, n_clauses }
        }
        NXAST_CT => {
            let flags = r.u16()?;
            let zone_src = r.u32()?;
            let zone_v = r.u16()?;
            let table = r.u8()?;
            r.skip(3)?;
            let alg = r.u16()?;
            if flags & NX_CT_F_FORCE != 0 && flags & NX_CT_F_COMMIT == 0 {
                return Err(DecodeError::BadValue { what: "ct flags", value: flags.into() });
            }
            let zone = if zone_src != 0 {
                let sf = Subfield::from_ofs_nbits(nx_field32(zone_src)?, zone_v)?;
                if sf.n_bits != 16 {
                    return Err(DecodeError::BadValue { what: "ct zone bits", value: sf.n_bits.into() });
                }
                CtZone::Field(sf)
            } else {
                CtZone::Imm(zone_v)
            };
            let actions = decode_actions_depth(r.take_rest(), depth + 1)?;
            Action::Ct(Ct { flags, zone, table, alg, actions })
        }
        NXAST_NAT => Action::Nat(decode_nat(r)?),
        NXAST_CLONE => {
            r.skip(6)?;
            Action::Clone(decode_actions_depth(r.take_rest(), depth + 1)?)
        }
        NXAST_CHECK_PKT_LARGER => {
            let pkt_len = r.u16()?;
            let ofs = r.u16()?;
            let f = nx_pull_subfield_header(r)?;
            let dst = Subfield { field: f, ofs, n_bits: 1 };
            dst.check()?;
            Action::CheckPktLarger { pkt_len, dst }
        }
        NXAST_LEARN | NXAST_LEARN2 => Action::Learn(decode_learn(subtype, r)?),
        NXAST_MULTIPATH => {
            let fields = r.u16()?;
            let basis = r.u16()?;
            r.skip(2)?;
            let algorithm = r.u16()?;
            let max_link = r.u16()?;
            let arg = r.u32()?;
            r.skip(2)?;
            let ofs_nbits = r.u16()?;
            let dst = Subfield::from_ofs_nbits(nx_field32(r.u32()?)?, ofs_nbits)?;
            let need = 32 - u32::from(max_link).leading_zeros();
            if usize::from(fields) >= HASH_FIELDS.len() || algorithm > 3 || u32::from(dst.n_bits) < need {
                return Err(DecodeError::BadValue { what: "multipath", value: fields.into() });
            }
            Action::Multipath(Multipath { fields, basis, algorithm, max_link, arg, dst })
        }
        NXAST_BUNDLE | NXAST_BUNDLE_LOAD => {
            let algorithm = r.u16()?;
            let fields = r.u16()?;
            let basis = r.u16()?;
            let member_type = r.u32()?;
            let n = usize::from(r.u16()?);
            let ofs_nbits = r.u16()?;
            let dst_h = r.u32()?;
            let zero = r.u32()?;
            let dst = if subtype == NXAST_BUNDLE_LOAD {
                let d = Subfield::from_ofs_nbits(nx_field32(dst_h)?, ofs_nbits)?;
                (d.n_bits >= 16).then_some(d)
            } else {
                None
            };
            let bad = usize::from(fields) >= HASH_FIELDS.len()
                || algorithm > 1
                || member_type != nx_header32(Field::IN_PORT)
                || zero != 0
                || (subtype == NXAST_BUNDLE_LOAD && dst.is_none())
                || (subtype == NXAST_BUNDLE && (ofs_nbits != 0 || dst_h != 0));
            if bad {
                return Err(DecodeError::BadValue { what: "bundle", value: algorithm.into() });
            }
            let mut members = Vec::with_capacity(n.min(256));
            for _ in 0..n {
                members.push(r.u16()?);
            }
            Action::Bundle(Bundle { algorithm, fields, basis, dst, members })
        }
        _ => Action::Unknown(a.to_vec()),
    })
}

/// Checks OVS makes on a decoded set_field: zero padding, not in_port, writable; an
/// all-ones mask is the same as none.
fn set_field_checked(field: Field, value: Vec<u8>, mask: Option<Vec<u8>>, pad: &[u8]) -> Result<Action> {
    let n = value.len();
    let width_ok = if field.def().variable { n > 0 && n <= field.n_bytes() } else { n == field.n_bytes() };
    if !width_ok || pad.iter().any(|&b| b != 0) || field == Field::IN_PORT_OXM || !field.def().writable {
        return Err(DecodeError::BadValue { what: "set_field", value: field.0.into() });
    }
    let mask = mask.filter(|m| m.iter().any(|&b| b != 0xff));
    Ok(Action::SetField { field, value, mask })
}

/// A legacy reg_load becomes a masked set_field, which is what OVS does for OpenFlow 1.5.
fn load_to_set_field(dst: Subfield, v: u128) -> Result<Action> {
    // reg_load into fields wider than 128 bits (tunnel metadata) is not modelled.
    if dst.field.n_bytes() > 16 {
        return Err(DecodeError::Unsupported { what: "reg_load destination", value: dst.field.0.into() });
    }
    let n = dst.field.n_bytes();
    let width = if dst.n_bits >= 128 { u128::MAX } else { (1u128 << dst.n_bits) - 1 };
    let mask = width << dst.ofs;
    let value = (v & width) << dst.ofs;
    let full = if n >= 16 { u128::MAX } else { (1u128 << (8 * n)) - 1 };
    let be = |x: u128| x.to_be_bytes().get(16 - n..).unwrap_or_default().to_vec();
    Ok(Action::SetField {
        field: dst.field,
        value: be(value),
        mask: if mask & full == full { None } else { Some(be(mask)) },
    })
}

fn decode_nat(r: &mut Reader<'_>) -> Result<Nat> {
    r.skip(2)?;
    let flags = r.u16()?;
    let present = r.u16()?;
    let bad = |v: u16| DecodeError::BadValue { what: "nat", value: v.into() };
    if flags & !0x1f != 0
        || (flags & NX_NAT_F_SRC != 0 && flags & NX_NAT_F_DST != 0)
        || (flags & NX_NAT_F_PROTO_HASH != 0 && flags & NX_NAT_F_PROTO_RANDOM != 0)
    {
        return Err(bad(flags));
    }
    let mut nat = Nat { flags, addrs: None, proto_min: 0, proto_max: 0 };
    if present & 1 != 0 {
        if present & 0xc != 0 {
            return Err(bad(present));
        }
        let min = r.u32()?;
        let max = if present & 2 != 0 { r.u32()? } else { 0 };
        if min == 0 || (max != 0 && max < min) {
            return Err(bad(present));
        }
        nat.addrs = Some(NatAddrs::V4(min, max));
    } else if present & 2 != 0 {
        return Err(bad(present));
    } else if present & 4 != 0 {
        let min = r.u128()?;
        let max = if present & 8 != 0 { r.u128()? } else { 0 };
        if min == 0 || (present & 8 != 0 && max < min) {
            return Err(bad(present));
        }
        nat.addrs = Some(NatAddrs::V6(min, max));
    } else if present & 8 != 0 {
        return Err(bad(present));
    }
    if present & 16 != 0 {
        if nat.addrs.is_none() {
            return Err(bad(present));
        }
        nat.proto_min = r.u16()?;
        if nat.proto_min == 0 {
            return Err(bad(present));
        }
        if present & 32 != 0 {
            nat.proto_max = r.u16()?;
            if nat.proto_max < nat.proto_min {
                return Err(bad(present));
            }
        }
    } else if present & 32 != 0 {
        return Err(bad(present));
    }
    Ok(nat)
}

fn decode_learn(subtype: u16, r: &mut Reader<'_>) -> Result<Learn> {
    let mut l = Learn {
        idle_timeout: r.u16()?,
        hard_timeout: r.u16()?,
        priority: r.u16()?,
        cookie: r.u64()?,
        flags: r.u16()?,
        table_id: r.u8()?,
        fin_idle_timeout: 0,
        fin_hard_timeout: 0,
        limit: 0,
        result_dst: None,
        specs: Vec::new(),
    };
    r.skip(1)?;
    l.fin_idle_timeout = r.u16()?;
    l.fin_hard_timeout = r.u16()?;
    if subtype == NXAST_LEARN2 {
        l.limit = r.u32()?;
        let ofs = r.u16()?;
        r.skip(2)?;
        if l.flags & NX_LEARN_F_WRITE_RESULT != 0 {
            let f = nx_pull_subfield_header(r)?;
            let sf = Subfield { field: f, ofs, n_bits: 1 };
            sf.check()?;
            l.result_dst = Some(sf);
        }
    }
    if l.table_id == 0xff || l.flags & !7 != 0 {
        return Err(DecodeError::BadValue { what: "learn", value: l.flags.into() });
    }
    while r.remaining() >= 2 {
        let h = r.u16()?;
        if h == 0 {
            // Zero header: start of the trailing padding, which must be all zeros.
            break;
        }
        let n_bits = h & 0x3ff;
        let src_imm = h & (1 << 13) != 0;
        let dst_type = (h >> 11) & 3;
        if n_bits == 0 || h & 0xc000 != 0 || dst_type == 3 {
            return Err(DecodeError::BadValue { what: "learn spec", value: h.into() });
        }
        let src = if src_imm {
            let n = usize::from(n_bits).div_ceil(16) * 2;
            LearnSrc::Imm(r.bytes(n)?.to_vec())
        } else {
            let f = nx_field32(r.u32()?)?;
            let ofs = r.u16()?;
            let sf = Subfield { field: f, ofs, n_bits };
            sf.check()?;
            LearnSrc::Field(sf)
        };
        let dst = match dst_type {
            0 | 1 => {
                let f = nx_field32(r.u32()?)?;
                let ofs = r.u16()?;
                let sf = Subfield { field: f, ofs, n_bits };
                sf.check()?;
                if dst_type == 0 {
                    LearnDst::Match(sf)
                } else {
                    LearnDst::Load(sf)
                }
            }
            _ => LearnDst::Output,
        };
        l.specs.push(LearnSpec { src, dst, n_bits });
    }
    if r.take_rest().iter().any(|&b| b != 0) {
        return Err(DecodeError::BadValue { what: "learn padding", value: 0 });
    }
    Ok(l)
}

/// Append the OpenFlow 1.5 encoding of `actions`.
pub fn encode_actions(actions: &[Action], out: &mut Vec<u8>) {
    for a in actions {
        encode_action(a, out);
    }
}

fn nx_start(out: &mut Vec<u8>, subtype: u16) -> usize {
    let start = out.len();
    out.put_u16(OFPAT_EXPERIMENTER);
    out.put_u16(0);
    out.put_u32(NX_VENDOR_ID);
    out.put_u16(subtype);
    start
}

fn finish(out: &mut Vec<u8>, start: usize, min: usize) {
    let used = out.len() - start;
    if used < min {
        out.put_zeros(min - used);
    }
    out.pad_from(start, 8);
    let len = out.len() - start;
    out.set_u16(start + 2, len as u16);
}

fn of_start(out: &mut Vec<u8>, atype: u16) -> usize {
    let start = out.len();
    out.put_u16(atype);
    out.put_u16(0);
    start
}

fn encode_action(a: &Action, out: &mut Vec<u8>) {
    match a {
        Action::Output { port, max_len } => {
            let s = of_start(out, OFPAT_OUTPUT);
            out.put_u32(port_to_ofp11(*port));
            out.put_u16(*max_len);
            finish(out, s, 16);
        }
        Action::PushVlan(t) => {
            let s = of_start(out, OFPAT_PUSH_VLAN);
            out.put_u16(*t);
            finish(out, s, 8);
        }
        Action::PopVlan => {
            let s = of_start(out, OFPAT_POP_VLAN);
            finish(out, s, 8);
        }
        Action::PushMpls(t) | Action::PopMpls(t) => {
            let s = of_start(out, if matches!(a, Action::PushMpls(_)) { OFPAT_PUSH_MPLS } else { OFPAT_POP_MPLS });
            out.put_u16(*t);
            finish(out, s, 8);
        }
        Action::SetMplsTtl(t) => {
            let s = of_start(out, OFPAT_SET_MPLS_TTL);
            out.put_u8(*t);
            finish(out, s, 8);
        }
        Action::DecMplsTtl => {
            let s = of_start(out, OFPAT_DEC_MPLS_TTL);
            finish(out, s, 8);
        }
        Action::SetQueue(q) => {
            let s = of_start(out, OFPAT_SET_QUEUE);
            out.put_u32(*q);
            finish(out, s, 8);
        }
        Action::Group(g) => {
            let s = of_start(out, OFPAT_GROUP);
            out.put_u32(*g);
            finish(out, s, 8);
        }
        Action::Meter(m) => {
            let s = of_start(out, OFPAT_METER);
            out.put_u32(*m);
            finish(out, s, 8);
        }
        Action::DecTtl(None) => {
            let s = of_start(out, OFPAT_DEC_NW_TTL);
            finish(out, s, 8);
        }
        Action::DecTtl(Some(ids)) => {
            let s = nx_start(out, NXAST_DEC_TTL_CNT_IDS);
            out.put_u16(ids.len() as u16);
            out.put_zeros(4);
            for id in ids {
                out.put_u16(*id);
            }
            finish(out, s, 16);
        }
        Action::SetField { field, value, mask } => {
            let s = of_start(out, OFPAT_SET_FIELD);
            let masked = mask.as_ref().is_some_and(|m| m.iter().any(|&b| b != 0xff));
            put_header(out, *field, masked, value.len());
            out.extend_from_slice(value);
            if let (true, Some(m)) = (masked, mask) {
                out.extend_from_slice(m);
            }
            finish(out, s, 8);
        }
        Action::Move { src, dst } => {
            let s = of_start(out, OFPAT_COPY_FIELD);
            out.put_u16(dst.n_bits);
            out.put_u16(src.ofs);
            out.put_u16(dst.ofs);
            out.put_zeros(2);
            put_header(out, src.field, false, src.field.n_bytes());
            put_header(out, dst.field, false, dst.field.n_bytes());
            finish(out, s, 16);
        }
        // OVS encodes every resubmit it parses as resubmit_table (NXAST_RESUBMIT is
        // only accepted on input).
        Action::Resubmit { in_port, table, ct } => {
            let sub = if *ct { NXAST_RESUBMIT_TABLE_CT } else { NXAST_RESUBMIT_TABLE };
            let s = nx_start(out, sub);
            out.put_u16(*in_port);
            out.put_u8(*table);
            finish(out, s, 16);
        }
        Action::PopQueue => {
            let s = nx_start(out, NXAST_POP_QUEUE);
            finish(out, s, 16);
        }
        Action::Exit => {
            let s = nx_start(out, NXAST_EXIT);
            finish(out, s, 16);
        }
        Action::CtClear => {
            let s = nx_start(out, NXAST_CT_CLEAR);
            finish(out, s, 16);
        }
        Action::Note(n) => {
            let s = nx_start(out, NXAST_NOTE);
            out.extend_from_slice(n);
            finish(out, s, 16);
        }
        Action::OutputReg { src, max_len } => {
            let s = nx_start(out, NXAST_OUTPUT_REG);
            out.put_u16(src.ofs_nbits());
            out.put_u32(nx_header32(src.field));
            out.put_u16(*max_len);
            finish(out, s, 24);
        }
        Action::FinTimeout { idle, hard } => {
            let s = nx_start(out, NXAST_FIN_TIMEOUT);
            out.put_u16(*idle);
            out.put_u16(*hard);
            finish(out, s, 16);
        }
        Action::Controller(c) => {
            if c.needs_v2() {
                let s = nx_start(out, NXAST_CONTROLLER2);
                out.put_zeros(6);
                if c.max_len != u16::MAX {
                    props::put_prop_u16(out, NXAC2PT_MAX_LEN, c.max_len);
                }
                if c.controller_id != 0 {
                    props::put_prop_u16(out, NXAC2PT_CONTROLLER_ID, c.controller_id);
                }
                if c.reason != 1 {
                    put_prop(out, NXAC2PT_REASON, &[c.reason]);
                }
                if !c.userdata.is_empty() {
                    put_prop(out, NXAC2PT_USERDATA, &c.userdata);
                }
                if c.pause {
                    put_prop(out, NXAC2PT_PAUSE, &[]);
                }
                if c.meter_id != 0 {
                    put_prop(out, NXAC2PT_METER_ID, &c.meter_id.to_be_bytes());
                }
                finish(out, s, 16);
            } else {
                let s = nx_start(out, NXAST_CONTROLLER);
                out.put_u16(c.max_len);
                out.put_u16(c.controller_id);
                out.put_u8(c.reason);
                finish(out, s, 16);
            }
        }
        Action::StackPush(sf) | Action::StackPop(sf) => {
            let sub = if matches!(a, Action::StackPush(_)) { NXAST_STACK_PUSH } else { NXAST_STACK_POP };
            let s = nx_start(out, sub);
            out.put_u16(sf.ofs);
            put_raw_header(
                out,
                sf.field.nxm_header().unwrap_or(NxmHeader { vendor: 0, class: 0, field: 0, len: 0 }),
                false,
                sf.field.n_bytes(),
            );
            out.put_u16(sf.n_bits);
            finish(out, s, 24);
        }
        Action::Sample(sm) => {
            let sub = if sm.direction != 0 {
                NXAST_SAMPLE3
            } else if sm.sampling_port != ports::NONE {
                NXAST_SAMPLE2
            } else {
                NXAST_SAMPLE
            };
            let s = nx_start(out, sub);
            out.put_u16(sm.probability);
            out.put_u32(sm.collector_set_id);
            out.put_u32(sm.obs_domain_id);
            out.put_u32(sm.obs_point_id);
            if sub != NXAST_SAMPLE {
                out.put_u16(sm.sampling_port);
                out.put_u8(sm.direction);
            }
            finish(out, s, if sub == NXAST_SAMPLE { 24 } else { 32 });
        }
        Action::Conjunction { id, clause, n_clauses } => {
            let s = nx_start(out, NXAST_CONJUNCTION);
            out.put_u8(*clause);
            out.put_u8(*n_clauses);
            out.put_u32(*id);
            finish(out, s, 16);
        }
        Action::Ct(ct) => {
            let s = nx_start(out, NXAST_CT);
            out.put_u16(ct.flags);
            match ct.zone {
                CtZone::Imm(z) => {
                    out.put_u32(0);
                    out.put_u16(z);
                }
                CtZone::Field(sf) => {
                    out.put_u32(nx_header32(sf.field));
                    out.put_u16(sf.ofs_nbits());
                }
            }
            out.put_u8(ct.table);
            out.put_zeros(3);
            out.put_u16(ct.alg);
            encode_actions(&ct.actions, out);
            finish(out, s, 24);
        }
        Action::Nat(n) => {
            let s = nx_start(out, NXAST_NAT);
            out.put_zeros(2);
            out.put_u16(n.flags);
            let pres_at = out.len();
            out.put_u16(0);
            let mut present = 0u16;
            match n.addrs {
                Some(NatAddrs::V4(min, max)) => {
                    if min != 0 {
                        out.put_u32(min);
                        present |= 1;
                    }
                    if max != 0 {
                        out.put_u32(max);
                        present |= 2;
                    }
                }
                Some(NatAddrs::V6(min, max)) => {
                    if min != 0 {
                        out.put_u128(min);
                        present |= 4;
                    }
                    if max != 0 {
                        out.put_u128(max);
                        present |= 8;
                    }
                }
                None => {}
            }
            if n.addrs.is_some() {
                if n.proto_min != 0 {
                    out.put_u16(n.proto_min);
                    present |= 16;
                }
                if n.proto_max != 0 {
                    out.put_u16(n.proto_max);
                    present |= 32;
                }
            }
            out.set_u16(pres_at, present);
            finish(out, s, 16);
        }
        Action::Clone(acts) => {
            let s = nx_start(out, NXAST_CLONE);
            out.put_zeros(6);
            encode_actions(acts, out);
            finish(out, s, 16);
        }
        Action::CheckPktLarger { pkt_len, dst } => {
            let s = nx_start(out, NXAST_CHECK_PKT_LARGER);
            out.put_u16(*pkt_len);
            out.put_u16(dst.ofs);
            put_raw_header(
                out,
                dst.field.nxm_header().unwrap_or(NxmHeader { vendor: 0, class: 0, field: 0, len: 0 }),
                false,
                dst.field.n_bytes(),
            );
            finish(out, s, 24);
        }
        Action::Learn(l) => encode_learn(l, out),
        Action::Multipath(m) => {
            let s = nx_start(out, NXAST_MULTIPATH);
            out.put_u16(m.fields);
            out.put_u16(m.basis);
            out.put_zeros(2);
            out.put_u16(m.algorithm);
            out.put_u16(m.max_link);
            out.put_u32(m.arg);
            out.put_zeros(2);
            out.put_u16(m.dst.ofs_nbits());
            out.put_u32(nx_header32(m.dst.field));
            finish(out, s, 32);
        }
        Action::Bundle(b) => {
            let s = nx_start(out, if b.dst.is_some() { NXAST_BUNDLE_LOAD } else { NXAST_BUNDLE });
            out.put_u16(b.algorithm);
            out.put_u16(b.fields);
            out.put_u16(b.basis);
            out.put_u32(nx_header32(Field::IN_PORT));
            out.put_u16(b.members.len() as u16);
            out.put_u16(b.dst.map_or(0, |d| d.ofs_nbits()));
            out.put_u32(b.dst.map_or(0, |d| nx_header32(d.field)));
            out.put_zeros(4);
            for m in &b.members {
                out.put_u16(*m);
            }
            finish(out, s, 32);
        }
        Action::Unknown(raw) => out.extend_from_slice(raw),
        // Instructions inside an action list cannot be encoded; the instruction encoder
        // handles them.
        Action::GotoTable(_) | Action::WriteMetadata { .. } | Action::ClearActions | Action::WriteActions(_) => {}
    }
}

fn encode_learn(l: &Learn, out: &mut Vec<u8>) {
    let v2 = l.limit != 0 || l.result_dst.is_some();
    let s = nx_start(out, if v2 { NXAST_LEARN2 } else { NXAST_LEARN });
    out.put_u16(l.idle_timeout);
    out.put_u16(l.hard_timeout);
    out.put_u16(l.priority);
    out.put_u64(l.cookie);
    out.put_u16(l.flags);
    out.put_u8(l.table_id);
    out.put_u8(0);
    out.put_u16(l.fin_idle_timeout);
    out.put_u16(l.fin_hard_timeout);
    if v2 {
        out.put_u32(l.limit);
        out.put_u16(l.result_dst.map_or(0, |d| d.ofs));
        out.put_zeros(2);
        if let Some(d) = l.result_dst {
            out.put_u32(nx_header32(d.field));
        }
    }
    for sp in &l.specs {
        let src_bit = if matches!(sp.src, LearnSrc::Imm(_)) { 1 << 13 } else { 0 };
        let dst_bits = match sp.dst {
            LearnDst::Match(_) => 0,
            LearnDst::Load(_) => 1 << 11,
            LearnDst::Output => 2 << 11,
        };
        out.put_u16(src_bit | dst_bits | (sp.n_bits & 0x3ff));
        match &sp.src {
            LearnSrc::Field(sf) => {
                out.put_u32(nx_header32(sf.field));
                out.put_u16(sf.ofs);
            }
            LearnSrc::Imm(b) => {
                let n = usize::from(sp.n_bits).div_ceil(16) * 2;
                let pad = n.saturating_sub(b.len());
                out.put_zeros(pad);
                out.extend_from_slice(b.get(b.len().saturating_sub(n)..).unwrap_or_default());
            }
        }
        if let LearnDst::Match(sf) | LearnDst::Load(sf) = sp.dst {
            out.put_u32(nx_header32(sf.field));
            out.put_u16(sf.ofs);
        }
    }
    finish(out, s, if v2 { 40 } else { 32 });
}

/// Decode OpenFlow 1.5 instructions into an action list (instructions other than
/// apply-actions appear as their own `Action` variants, in wire order).
pub fn decode_instructions(buf: &[u8]) -> Result<Vec<Action>> {
    let mut r = Reader::new(buf, "instructions");
    let mut v = Vec::new();
    while !r.is_empty() {
        let itype = r.peek_u16(0)?;
        let len = usize::from(r.peek_u16(2)?);
        if len < 8 || len % 8 != 0 {
            return Err(DecodeError::BadLength { what: "instruction", len });
        }
        let mut i = r.sub(len, "instruction")?;
        i.skip(4)?;
        match itype {
            OFPIT_APPLY_ACTIONS => {
                i.skip(4)?;
                v.extend(decode_actions(i.take_rest())?);
            }
            OFPIT_WRITE_ACTIONS => {
                i.skip(4)?;
                v.push(Action::WriteActions(decode_actions(i.take_rest())?));
            }
            OFPIT_CLEAR_ACTIONS => v.push(Action::ClearActions),
            OFPIT_GOTO_TABLE => v.push(Action::GotoTable(i.u8()?)),
            OFPIT_WRITE_METADATA => {
                i.skip(4)?;
                let value = i.u64()?;
                let mask = i.u64()?;
                v.push(Action::WriteMetadata { value, mask });
            }
            t => return Err(DecodeError::Unsupported { what: "instruction", value: t.into() }),
        }
    }
    Ok(v)
}

/// Append the OpenFlow 1.5 instructions for an action list: plain actions go into one
/// apply-actions instruction; an empty list (drop) has no instructions at all.
pub fn encode_instructions(actions: &[Action], out: &mut Vec<u8>) {
    let is_inst = |a: &Action| {
        matches!(
            a,
            Action::GotoTable(_) | Action::WriteMetadata { .. } | Action::ClearActions | Action::WriteActions(_)
        )
    };
    let plain: Vec<&Action> = actions.iter().filter(|a| !is_inst(a)).collect();
    if !plain.is_empty() {
        let s = out.len();
        out.put_u16(OFPIT_APPLY_ACTIONS);
        out.put_u16(0);
        out.put_zeros(4);
        for a in plain {
            encode_action(a, out);
        }
        let len = out.len() - s;
        out.set_u16(s + 2, len as u16);
    }
    for a in actions.iter().filter(|a| matches!(a, Action::ClearActions)) {
        let _ = a;
        out.put_u16(OFPIT_CLEAR_ACTIONS);
        out.put_u16(8);
        out.put_zeros(4);
    }
    for a in actions {
        if let Action::WriteActions(acts) = a {
            let s = out.len();
            out.put_u16(OFPIT_WRITE_ACTIONS);
            out.put_u16(0);
            out.put_zeros(4);
            encode_actions(acts, out);
            let len = out.len() - s;
            out.set_u16(s + 2, len as u16);
        }
    }
    for a in actions {
        if let Action::WriteMetadata { value, mask } = a {
            out.put_u16(OFPIT_WRITE_METADATA);
            out.put_u16(24);
            out.put_zeros(4);
            out.put_u64(*value);
            out.put_u64(*mask);
        }
    }
    for a in actions {
        if let Action::GotoTable(t) = a {
            out.put_u16(OFPIT_GOTO_TABLE);
            out.put_u16(8);
            out.put_u8(*t);
            out.put_zeros(3);
        }
    }
}

/// Encoded length of an action list (for headers that carry it).
pub fn actions_len(actions: &[Action]) -> usize {
    let mut v = Vec::new();
    encode_actions(actions, &mut v);
    round8(v.len())
}
