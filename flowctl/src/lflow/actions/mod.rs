//! The action language of `Logical_Flow.actions`, as OVN 23.03 defines it (lib/actions.c,
//! include/ovn/actions.h): a parser to a typed [`OvnAction`] list (with the prerequisites the
//! actions add to the flow's match), and an encoder to OpenFlow [`Action`]s given an
//! [`EncodeCtx`].
//!
//! Tokens come from the expression lexer; fields and subfields (`reg9[4]`, `ct_mark.blocked`,
//! `outport`) resolve through the expression symbol table, as `expr_resolve_field` does.
//! Actions that need the controller put `controller(userdata=...)` bytes built by
//! [`shared::ovn::controller_ops`].
//!
//! Covered: every action of 23.03's parser (lib/actions.c `parse_action`): `next`,
//! `output`, `drop`, assignments, `<->`, `push`/`pop`, `ip.ttl--`, conntrack (`ct_next`,
//! `ct_commit` both forms, `ct_dnat`/`ct_snat` and `_in_czone`, `ct_commit_nat`, `ct_clear`,
//! `ct_lb`/`ct_lb_mark` with backends, hash fields and skip/force SNAT, `ct_snat_to_vip`),
//! the nested controller actions (`arp`, `nd_ns`, `nd_na`, `nd_na_router`, `icmp4`,
//! `icmp4_error`, `icmp6`, `icmp6_error`, `tcp_reset`, `sctp_abort`, `reject`) and `clone`,
//! MAC bindings (`get_arp`/`put_arp`/`get_nd`/`put_nd`, `lookup_arp(_ip)`, `lookup_nd(_ip)`),
//! FDB (`put_fdb`/`get_fdb`/`lookup_fdb`), port security, LB hairpin, ECMP and LB affinity
//! lookups and commits (learn), DHCPv4/DHCPv6/ND RA options, `dns_lookup`, `log`, `igmp`,
//! `bind_vport`, `handle_svc_check`, `handle_dhcpv6_reply`, `handle_bfd_msg`,
//! `trigger_event`, `check_pkt_larger`, `set_queue`, `set_meter`, `fwd_group`,
//! `icmp4/6.frag_mtu`, `select`, `sample`.

use std::collections::BTreeSet;
use std::net::IpAddr;

use shared::openflow::actions::{
    Controller, Ct, CtZone, Nat, NatAddrs, Subfield, NX_CT_F_COMMIT, NX_CT_RECIRC_NONE, NX_NAT_F_DST, NX_NAT_F_SRC,
};
use shared::openflow::{Action, Field};
use shared::ovn::controller_ops::{field_header, severity, verdict, ControllerOp, Opcode, Payload};
use shared::ovn::logical_fields::flags;
use shared::ovn::tables;

use super::expr::lexer::{tokenize, NumFormat, Number, Spanned, Token};
use super::expr::symtab::{Level, SymbolKind, Symtab};
use dhcp::{GenOption, OptionTables};

pub mod dhcp;
#[cfg(test)]
mod golden;
#[cfg(test)]
mod tests;

/// Why an action string was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionError(pub String);

impl std::fmt::Display for ActionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ActionError {}

type R<T> = Result<T, ActionError>;

fn err<T>(msg: impl Into<String>) -> R<T> {
    Err(ActionError(msg.into()))
}

/// A field or subfield named in an action, resolved to its OpenFlow subfield.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRef {
    /// As written (`reg9[4]`, `outport`).
    pub text: String,
    pub sf: Subfield,
    /// A logical port name field (`inport`, `outport`): assigned from a string.
    pub is_port: bool,
}

/// A constant on the right of `=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Const {
    Num(Number),
    Str(String),
}

/// `ct_dnat`/`ct_snat` flavours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatKind {
    Dnat,
    Snat,
    DnatInCzone,
    SnatInCzone,
}

/// ct_lb flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LbFlag {
    None,
    SkipSnat,
    ForceSnat,
}

/// One parsed OVN action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OvnAction {
    /// `next;`, `next(N);`, `next(pipeline=P, table=N);`: `ingress`, logical table.
    Next {
        ingress: bool,
        table: u8,
    },
    Output,
    Load {
        dst: FieldRef,
        value: Const,
    },
    Move {
        dst: FieldRef,
        src: FieldRef,
    },
    Exchange {
        a: FieldRef,
        b: FieldRef,
    },
    DecTtl,
    CtNext {
        table: u8,
    },
    CtCommit(Vec<OvnAction>),
    CtCommitV1 {
        mark: Option<(u32, u32)>,
        label: Option<(u128, u128)>,
    },
    CtNat {
        kind: NatKind,
        table: u8,
        ip: Option<IpAddr>,
        ports: Option<(u16, u16)>,
    },
    CtCommitNat {
        table: u8,
    },
    CtClear,
    CtLb {
        mark: bool,
        table: u8,
        backends: Vec<(IpAddr, u16)>,
        hash_fields: Option<String>,
        flag: LbFlag,
    },
    Clone(Vec<OvnAction>),
    /// A controller action with nested actions (`arp {...}`, `reject {...}`, ...).
    Nested {
        opcode: Opcode,
        actions: Vec<OvnAction>,
    },
    GetMac {
        nd: bool,
        port: FieldRef,
        ip: FieldRef,
    },
    PutMac {
        nd: bool,
        port: FieldRef,
        ip: FieldRef,
        mac: FieldRef,
    },
    Log {
        name: Option<String>,
        verdict: u8,
        severity: u8,
        meter: Option<String>,
    },
    /// A controller action with no payload (`igmp`).
    SimpleController(Opcode),
    /// `dst = check_in_port_sec();` and the other 1-bit lookups through a table.
    Result {
        kind: ResultKind,
        dst: FieldRef,
    },
    /// `dst = lookup_arp(port, ip, mac);` / `lookup_nd`.
    LookupMac {
        nd: bool,
        dst: FieldRef,
        port: FieldRef,
        ip: FieldRef,
        mac: FieldRef,
    },
    /// `dst = lookup_arp_ip(port, ip);` / `lookup_nd_ip`.
    LookupMacIp {
        nd: bool,
        dst: FieldRef,
        port: FieldRef,
        ip: FieldRef,
    },
    /// `dst = get_fdb(mac);`
    GetFdb {
        dst: FieldRef,
        mac: FieldRef,
    },
    /// `dst = lookup_fdb(port, mac);`
    LookupFdb {
        dst: FieldRef,
        port: FieldRef,
        mac: FieldRef,
    },
    /// `put_fdb(port, mac);`
    PutFdb {
        port: FieldRef,
        mac: FieldRef,
    },
    /// `handle_svc_check(port);`
    HandleSvcCheck {
        port: FieldRef,
    },
    /// `bind_vport("vport", parent);`
    BindVport {
        vport: String,
        parent: FieldRef,
    },
    /// `ct_snat_to_vip;`
    CtSnatToVip,
    /// `dst = put_nd_ra_opts(...)`.
    PutNdRaOpts {
        dst: FieldRef,
        options: Vec<GenOption>,
    },
    /// `dst = put_dhcp_opts(...)` (`v6` false) / `put_dhcpv6_opts(...)`.
    PutDhcpOpts {
        v6: bool,
        dst: FieldRef,
        options: Vec<GenOption>,
    },
    /// `dst = check_pkt_larger(len);`
    CheckPktLarger {
        dst: FieldRef,
        len: u16,
    },
    /// `set_queue(id);`
    SetQueue(u32),
    /// `set_meter(rate[, burst]);` (kbps, kb)
    SetMeter {
        rate: u64,
        burst: u64,
    },
    /// `fwd_group(liveness=..., childports=...);`
    FwdGroup {
        liveness: bool,
        ports: Vec<String>,
    },
    /// `trigger_event(event = "...", option = "value", ...)`: event type and (code, value).
    TriggerEvent {
        event: u32,
        options: Vec<(u16, String)>,
    },
    /// `icmp4.frag_mtu = N;` (`icmp6` = true for `icmp6.frag_mtu`).
    FragMtu {
        icmp6: bool,
        mtu: u32,
    },
    /// `sample(probability=.., collector_set=.., obs_domain=.., obs_point=..|$cookie)`;
    /// `obs_point` `None` = the flow's cookie.
    Sample {
        probability: u16,
        collector_set: u32,
        obs_domain: u8,
        obs_point: Option<u32>,
    },
    /// `commit_ecmp_nh(ipv6 = B, proto = P);` (IP protocol number).
    CommitEcmpNh {
        ipv6: bool,
        proto: u8,
    },
    /// `commit_lb_aff(vip = "...", backend = "...", [proto = P,] timeout = T);`
    CommitLbAff {
        vip: IpAddr,
        vip_port: u16,
        backend: IpAddr,
        backend_port: u16,
        proto: u8,
        timeout: u16,
    },
    /// `push(f);` / `pop(f);`
    Push(FieldRef),
    Pop(FieldRef),
    /// `dst = dns_lookup();`
    DnsLookup {
        dst: FieldRef,
    },
    /// `dst = select(id=weight, ...);`: (id, weight) members, next table.
    Select {
        dst: FieldRef,
        members: Vec<(u16, u16)>,
        table: u8,
    },
}

/// The `dst = name();` actions that resubmit to a table and copy one flag bit back
/// (`encode_result_action__`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultKind {
    CheckInPortSec,
    CheckOutPortSec,
    ChkLbHairpin,
    ChkLbHairpinReply,
    ChkEcmpNhMac,
    ChkEcmpNh,
    ChkLbAff,
}

impl ResultKind {
    fn from_name(name: &str) -> Option<ResultKind> {
        Some(match name {
            "check_in_port_sec" => ResultKind::CheckInPortSec,
            "check_out_port_sec" => ResultKind::CheckOutPortSec,
            "chk_lb_hairpin" => ResultKind::ChkLbHairpin,
            "chk_lb_hairpin_reply" => ResultKind::ChkLbHairpinReply,
            "chk_ecmp_nh_mac" => ResultKind::ChkEcmpNhMac,
            "chk_ecmp_nh" => ResultKind::ChkEcmpNh,
            "chk_lb_aff" => ResultKind::ChkLbAff,
            _ => return None,
        })
    }

    /// (table, MLF_* bit of reg10)
    fn table_bit(self) -> (u8, u16) {
        let bit = flag_bit;
        match self {
            ResultKind::CheckInPortSec => (tables::CHK_IN_PORT_SEC, bit(flags::CHECK_PORT_SEC)),
            ResultKind::CheckOutPortSec => (tables::CHK_OUT_PORT_SEC, bit(flags::CHECK_PORT_SEC)),
            ResultKind::ChkLbHairpin => (tables::CHK_LB_HAIRPIN, bit(flags::LOOKUP_LB_HAIRPIN)),
            ResultKind::ChkLbHairpinReply => (tables::CHK_LB_HAIRPIN_REPLY, bit(flags::LOOKUP_LB_HAIRPIN)),
            ResultKind::ChkEcmpNhMac => (tables::ECMP_NH_MAC, bit(flags::LOOKUP_COMMIT_ECMP_NH)),
            ResultKind::ChkEcmpNh => (tables::ECMP_NH, bit(flags::LOOKUP_COMMIT_ECMP_NH)),
            ResultKind::ChkLbAff => (tables::CHK_LB_AFFINITY, bit(flags::USE_LB_AFF_SESSION)),
        }
    }
}

/// Parsed actions and the prerequisites they add to the match.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    pub actions: Vec<OvnAction>,
    /// Prerequisite expressions (each a match expression such as `ip4`), to be ANDed with
    /// the flow's match (see [`Parsed::prereqs_text`]).
    pub prereqs: BTreeSet<String>,
}

impl Parsed {
    /// The prerequisites as one expression for `expr::parse_prereqs`, or `None`.
    pub fn prereqs_text(&self) -> Option<String> {
        if self.prereqs.is_empty() {
            return None;
        }
        Some(self.prereqs.iter().map(|p| format!("({p})")).collect::<Vec<_>>().join(" && "))
    }
}

/// Where the flow sits and the option tables (what `ovnact_parse_params` gives the parser).
#[derive(Debug, Clone, Copy)]
pub struct ParseCtx<'a> {
    pub ingress: bool,
    /// The flow's logical table.
    pub table: u8,
    /// Tables in the pipeline ([`tables::LOG_PIPELINE_LEN`] for real flows).
    pub n_tables: u8,
    /// DHCPv4/DHCPv6 options by name (Southbound DHCP_Options / DHCPv6_Options).
    pub options: &'a OptionTables,
}

/// `MAX_NESTED_ACTION_DEPTH` of lib/actions.c.
const MAX_NESTED_DEPTH: usize = 32;

struct Parser<'a> {
    toks: &'a [Spanned],
    pos: usize,
    ctx: ParseCtx<'a>,
    prereqs: BTreeSet<String>,
    depth: usize,
    /// Inside `ct_commit { }`: only ct_mark and ct_label may be written (WR_CT_COMMIT).
    ct_commit_scope: bool,
}

/// Parses an action string.
pub fn parse(text: &str, ctx: ParseCtx<'_>) -> R<Parsed> {
    let toks = tokenize(text).map_err(|e| ActionError(e.msg))?;
    let mut p = Parser { toks: &toks, pos: 0, ctx, prereqs: BTreeSet::new(), depth: 0, ct_commit_scope: false };
    let actions = p.action_list(false)?;
    Ok(Parsed { actions, prereqs: p.prereqs })
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos).map(|s| &s.tok)
    }
    fn peek_at(&self, n: usize) -> Option<&Token> {
        self.toks.get(self.pos + n).map(|s| &s.tok)
    }
    fn bump(&mut self) -> Option<&Token> {
        let t = self.toks.get(self.pos).map(|s| &s.tok);
        self.pos += 1;
        t
    }
    fn eat(&mut self, t: &Token) -> bool {
        if self.peek() == Some(t) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, t: &Token) -> R<()> {
        if self.eat(t) {
            Ok(())
        } else {
            err(format!("Syntax error at `{}' expecting `{t}'.", self.here()))
        }
    }
    fn here(&self) -> String {
        self.peek().map_or_else(|| "end of input".into(), |t| t.to_string())
    }
    fn eat_id(&mut self, id: &str) -> bool {
        if matches!(self.peek(), Some(Token::Id(s)) if s == id) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn id(&mut self) -> R<String> {
        match self.bump() {
            Some(Token::Id(s)) => Ok(s.clone()),
            _ => err("Syntax error: expecting identifier."),
        }
    }
    fn num(&mut self) -> R<Number> {
        match self.bump() {
            Some(Token::Num(n)) => Ok(*n),
            _ => err("Syntax error: expecting constant."),
        }
    }
    fn int(&mut self) -> R<u128> {
        let n = self.num()?;
        if n.mask.is_some() {
            return err("Syntax error: expecting integer.");
        }
        Ok(n.value)
    }
    fn string(&mut self) -> R<String> {
        match self.bump() {
            Some(Token::Str(s)) => Ok(s.clone()),
            _ => err("Syntax error: expecting string."),
        }
    }
    fn prereq(&mut self, p: &str) {
        self.prereqs.insert(p.to_string());
    }
    fn next_table(&self, name: &str) -> R<u8> {
        if u16::from(self.ctx.table) + 1 >= u16::from(self.ctx.n_tables) {
            return err(format!("\"{name}\" action not allowed in last table."));
        }
        Ok(self.ctx.table + 1)
    }

    /// `action; action; ...` up to end of input, or `}` when `nested`.
    fn action_list(&mut self, nested: bool) -> R<Vec<OvnAction>> {
        let mut out = Vec::new();
        let mut dropped = false;
        loop {
            match self.peek() {
                None if !nested => break,
                None => return err("Syntax error at end of input expecting `}'."),
                Some(Token::RCurly) if nested => {
                    self.pos += 1;
                    break;
                }
                _ => {}
            }
            if self.eat_id("drop") {
                dropped = true;
                self.expect(&Token::Semicolon)?;
                continue;
            }
            if dropped {
                return err("Syntax error: \"drop\" must be the last action.");
            }
            self.action(&mut out)?;
            self.expect(&Token::Semicolon)?;
        }
        if dropped && !out.is_empty() {
            return err("Syntax error: \"drop\" must be the only action.");
        }
        Ok(out)
    }

    /// `{ actions }` (`parse_nested_action`). With `prereq` (arp, icmp4, ct_commit, ...)
    /// the inner actions' prerequisites are dropped and `prereq` is added instead, since
    /// they apply to the new packet; without (clone, reject) they add to the outer ones.
    fn nested(&mut self, prereq: Option<&str>) -> R<Vec<OvnAction>> {
        self.expect(&Token::LCurly)?;
        if self.depth + 1 >= MAX_NESTED_DEPTH {
            return err("maximum depth of nested actions reached");
        }
        let outer = std::mem::take(&mut self.prereqs);
        self.depth += 1;
        let v = self.action_list(true);
        self.depth -= 1;
        let inner = std::mem::replace(&mut self.prereqs, outer);
        match prereq {
            Some(p) => self.prereq(p),
            None => self.prereqs.extend(inner),
        }
        v
    }

    fn action(&mut self, out: &mut Vec<OvnAction>) -> R<()> {
        let Some(Token::Id(name)) = self.peek().cloned() else {
            return err(format!("Syntax error at `{}' expecting action.", self.here()));
        };
        // Assignments: `f = ...`, `f <-> g`, `f[..] = ...`, `ip.ttl--`.
        if matches!(self.peek_at(1), Some(Token::Equals | Token::Exchange | Token::LSquare | Token::Decrement)) {
            return self.assignment(out);
        }
        self.pos += 1;
        let a = match name.as_str() {
            "next" => self.next_action()?,
            "output" => OvnAction::Output,
            "ct_next" => {
                self.prereq("ip");
                OvnAction::CtNext { table: self.next_table("ct_next")? }
            }
            "ct_commit" => self.ct_commit()?,
            "ct_dnat" => self.ct_nat(NatKind::Dnat, &name)?,
            "ct_snat" => self.ct_nat(NatKind::Snat, &name)?,
            "ct_dnat_in_czone" => self.ct_nat(NatKind::DnatInCzone, &name)?,
            "ct_snat_in_czone" => self.ct_nat(NatKind::SnatInCzone, &name)?,
            "ct_commit_nat" => {
                self.prereq("ip");
                OvnAction::CtCommitNat { table: self.next_table(&name)? }
            }
            "ct_clear" => OvnAction::CtClear,
            "ct_lb" => self.ct_lb(false)?,
            "ct_lb_mark" => self.ct_lb(true)?,
            "clone" => OvnAction::Clone(self.nested(None)?),
            "arp" => self.nested_op(Opcode::Arp, "ip4")?,
            "nd_ns" => self.nested_op(Opcode::NdNs, "ip6")?,
            "nd_na" => self.nested_op(Opcode::NdNa, "nd_ns")?,
            "nd_na_router" => self.nested_op(Opcode::NdNaRouter, "nd_ns")?,
            "icmp4" => self.nested_op(Opcode::Icmp, "ip4")?,
            "icmp4_error" => self.nested_op(Opcode::Icmp4Error, "ip4")?,
            "icmp6" => self.nested_op(Opcode::Icmp, "ip6")?,
            "icmp6_error" => self.nested_op(Opcode::Icmp6Error, "ip6")?,
            "tcp_reset" => self.nested_op(Opcode::TcpReset, "tcp")?,
            "sctp_abort" => self.nested_op(Opcode::SctpAbort, "sctp")?,
            "reject" => OvnAction::Nested { opcode: Opcode::Reject, actions: self.nested(None)? },
            "get_arp" => self.get_mac(false)?,
            "get_nd" => self.get_mac(true)?,
            "put_arp" => self.put_mac(false)?,
            "put_nd" => self.put_mac(true)?,
            "log" => self.log()?,
            "igmp" => OvnAction::SimpleController(Opcode::Igmp),
            "ct_snat_to_vip" => OvnAction::CtSnatToVip,
            "put_fdb" => {
                self.expect(&Token::LParen)?;
                let port = self.field()?;
                self.expect(&Token::Comma)?;
                let mac = self.field()?;
                self.expect(&Token::RParen)?;
                check_arg(&port, 32, true)?;
                check_arg(&mac, 48, false)?;
                OvnAction::PutFdb { port, mac }
            }
            "handle_svc_check" => {
                self.expect(&Token::LParen)?;
                let port = self.field()?;
                self.expect(&Token::RParen)?;
                check_arg(&port, 32, true)?;
                OvnAction::HandleSvcCheck { port }
            }
            "bind_vport" => {
                self.expect(&Token::LParen)?;
                let vport = self.string()?;
                self.expect(&Token::Comma)?;
                let parent = self.field()?;
                self.expect(&Token::RParen)?;
                check_arg(&parent, 32, true)?;
                OvnAction::BindVport { vport, parent }
            }
            "handle_dhcpv6_reply" => OvnAction::SimpleController(Opcode::Dhcp6Server),
            "handle_bfd_msg" => {
                self.expect(&Token::LParen)?;
                self.expect(&Token::RParen)?;
                OvnAction::SimpleController(Opcode::BfdMsg)
            }
            "set_queue" => {
                self.expect(&Token::LParen)?;
                let id = self.int()?;
                self.expect(&Token::RParen)?;
                if id > 61440 {
                    return err(format!("Queue ID {id} for set_queue is not in valid range 0 to 61440."));
                }
                OvnAction::SetQueue(id as u32)
            }
            "set_meter" => {
                self.expect(&Token::LParen)?;
                let dec = |p: &mut Self| match p.bump() {
                    Some(Token::Num(n)) if n.format == NumFormat::Decimal && n.mask.is_none() => {
                        u64::try_from(n.value).unwrap_or(0)
                    }
                    _ => 0,
                };
                let rate = dec(self);
                let burst = if self.eat(&Token::Comma) { dec(self) } else { 0 };
                self.expect(&Token::RParen)?;
                if rate == 0 {
                    return err("Rate 0 for set_meter is not in valid.");
                }
                OvnAction::SetMeter { rate, burst }
            }
            "fwd_group" => self.fwd_group()?,
            "sample" => self.sample()?,
            "commit_ecmp_nh" => {
                let invalid = || ActionError("Syntax error: invalid parameter.".into());
                self.expect(&Token::LParen)?;
                if !self.eat_id("ipv6") || !self.eat(&Token::Equals) {
                    return Err(invalid());
                }
                let ipv6 = self.bool_arg()?;
                self.expect(&Token::Comma)?;
                if !self.eat_id("proto") || !self.eat(&Token::Equals) {
                    return Err(invalid());
                }
                let proto = self.proto_arg()?;
                self.expect(&Token::RParen)?;
                OvnAction::CommitEcmpNh { ipv6, proto }
            }
            "commit_lb_aff" => self.commit_lb_aff()?,
            "trigger_event" => self.trigger_event()?,
            "push" | "pop" => {
                self.expect(&Token::LParen)?;
                let f = self.field()?;
                self.expect(&Token::RParen)?;
                if f.is_port {
                    return err(format!("Cannot use string field {} where numeric field is required.", f.text));
                }
                if name == "pop" {
                    self.check_writable(&f)?;
                    OvnAction::Pop(f)
                } else {
                    OvnAction::Push(f)
                }
            }
            n => return err(format!("Syntax error at `{n}' expecting action.")),
        };
        out.push(a);
        Ok(())
    }

    fn nested_op(&mut self, opcode: Opcode, prereq: &str) -> R<OvnAction> {
        Ok(OvnAction::Nested { opcode, actions: self.nested(Some(prereq))? })
    }

    fn next_action(&mut self) -> R<OvnAction> {
        let mut ingress = self.ctx.ingress;
        let mut table = u128::from(self.ctx.table) + 1;
        if self.eat(&Token::LParen) {
            if matches!(self.peek(), Some(Token::Num(_))) {
                table = self.int()?;
            } else {
                loop {
                    if self.eat_id("pipeline") {
                        self.expect(&Token::Equals)?;
                        if self.eat_id("ingress") {
                            ingress = true;
                        } else if self.eat_id("egress") {
                            ingress = false;
                        } else {
                            return err("Syntax error: expecting \"ingress\" or \"egress\".");
                        }
                    } else if self.eat_id("table") {
                        self.expect(&Token::Equals)?;
                        table = self.int()?;
                    } else {
                        return err("Syntax error: expecting \"pipeline\" or \"table\".");
                    }
                    if !self.eat(&Token::Comma) {
                        break;
                    }
                }
            }
            self.expect(&Token::RParen)?;
        }
        match u8::try_from(table) {
            Ok(t) if t < self.ctx.n_tables => Ok(OvnAction::Next { ingress, table: t }),
            _ => err(format!("\"next\" action cannot advance beyond table {}.", self.ctx.n_tables.saturating_sub(1))),
        }
    }

    /// A field reference: `name` or `name[i]` or `name[lo..hi]`.
    fn field(&mut self) -> R<FieldRef> {
        let name = self.id()?;
        let symtab = Symtab::ovn();
        let id = symtab
            .lookup(&name)
            .ok_or_else(|| ActionError(format!("Syntax error at `{name}' expecting field name.")))?;
        let sym = symtab.get(id).ok_or_else(|| ActionError(format!("Unknown symbol {name}.")))?;
        if let Some(p) = sym.prereqs {
            self.prereq(p);
        }
        let (mut sf, is_port) = resolve(symtab, id)?;
        let mut text = name.clone();
        if matches!(self.peek(), Some(Token::LSquare)) {
            if is_port {
                return err(format!("Cannot select subfield of string field {name}."));
            }
            if sym.level == Level::Nominal {
                return err(format!("Cannot select subfield of nominal field {name}."));
            }
        }
        if self.eat(&Token::LSquare) {
            let lo = self.int()?;
            let hi = if self.eat(&Token::Ellipsis) { self.int()? } else { lo };
            self.expect(&Token::RSquare)?;
            let width = u128::from(sf.n_bits);
            if is_port || lo > hi || hi >= width {
                return err(format!("Invalid subfield {name}[{lo}..{hi}]."));
            }
            // lo, hi < width <= 128 here.
            sf.ofs += lo as u16;
            sf.n_bits = (hi - lo + 1) as u16;
            text = if lo == hi { format!("{name}[{lo}]") } else { format!("{name}[{lo}..{hi}]") };
        }
        Ok(FieldRef { text, sf, is_port })
    }

    /// `expr_type_check`'s write check: ct_mark and ct_label only inside `ct_commit {}`,
    /// other fields only outside it, and only those OVS can modify.
    fn check_writable(&self, f: &FieldRef) -> R<()> {
        let ct = matches!(f.sf.field, Field::CT_MARK | Field::CT_LABEL);
        let ok = if self.ct_commit_scope { ct } else { !ct && (f.is_port || f.sf.field.def().writable) };
        if ok {
            Ok(())
        } else {
            err(format!("Field {} is not modifiable.", f.text.split('[').next().unwrap_or(&f.text)))
        }
    }

    fn assignment(&mut self, out: &mut Vec<OvnAction>) -> R<()> {
        if let Some(Token::Id(name)) = self.peek() {
            let symtab = Symtab::ovn();
            if let Some(sym) = symtab.lookup(name).and_then(|id| symtab.get(id)) {
                if sym.kind == SymbolKind::OvnField {
                    let (icmp6, width) = (sym.name.starts_with("icmp6"), sym.width);
                    self.pos += 1;
                    self.expect(&Token::Equals)?;
                    let n = self.num()?;
                    if n.mask.is_some() || (width < 128 && n.value >> width != 0) {
                        return err(format!("Constant too wide for {width}-bit field {}.", sym.name));
                    }
                    out.push(OvnAction::FragMtu { icmp6, mtu: n.value as u32 });
                    return Ok(());
                }
            }
        }
        let dst = self.field()?;
        if !matches!(self.peek(), Some(Token::Decrement)) {
            self.check_writable(&dst)?;
        }
        if self.eat(&Token::Decrement) {
            if dst.text != "ip.ttl" {
                return err(format!("Syntax error at `--' (only ip.ttl can be decremented, not {}).", dst.text));
            }
            self.prereq("ip");
            out.push(OvnAction::DecTtl);
            return Ok(());
        }
        if self.eat(&Token::Exchange) {
            let src = self.field()?;
            if dst.is_port != src.is_port {
                let (d, s) = (&dst.text, &src.text);
                return err(if dst.is_port {
                    format!("Can't exchange string field ({d}) with integer field ({s}).")
                } else {
                    format!("Can't exchange integer field ({d}) with string field ({s}).")
                });
            }
            check_widths(&dst, &src)?;
            self.check_writable(&src)?;
            out.push(OvnAction::Exchange { a: dst, b: src });
            return Ok(());
        }
        self.expect(&Token::Equals)?;
        match self.peek().cloned() {
            Some(Token::Num(n)) => {
                self.pos += 1;
                if dst.is_port {
                    return err(format!("Cannot assign an integer to string field {}.", dst.text));
                }
                let width = u32::from(dst.sf.n_bits);
                let fits = |v: u128| width >= 128 || v >> width == 0;
                if !fits(n.value) || !n.mask.is_none_or(fits) {
                    return err(format!("Constant too wide for {}-bit field {}.", width, dst.text));
                }
                out.push(OvnAction::Load { dst, value: Const::Num(n) });
            }
            Some(Token::Str(s)) => {
                self.pos += 1;
                if !dst.is_port {
                    return err(format!("Cannot assign a string to integer field {}.", dst.text));
                }
                out.push(OvnAction::Load { dst, value: Const::Str(s) });
            }
            Some(Token::Id(f)) if matches!(self.peek_at(1), Some(Token::LParen)) => {
                self.pos += 2;
                out.push(self.result_action(&f, dst)?);
            }
            Some(Token::Id(_)) => {
                let src = self.field()?;
                if dst.is_port != src.is_port {
                    let (d, s) = (&dst.text, &src.text);
                    return err(if dst.is_port {
                        format!("Can't assign integer field ({s}) to string field ({d}).")
                    } else {
                        format!("Can't assign string field ({s}) to integer field ({d}).")
                    });
                }
                check_widths(&dst, &src)?;
                out.push(OvnAction::Move { dst, src });
            }
            _ => return err(format!("Syntax error at `{}' expecting constant or field.", self.here())),
        }
        Ok(())
    }

    /// `dst = name(...)`, with `dst = name(` consumed.
    fn result_action(&mut self, name: &str, dst: FieldRef) -> R<OvnAction> {
        let one_bit = |dst: &FieldRef| {
            if dst.is_port || dst.sf.n_bits != 1 {
                return err(format!(
                    "Cannot use {}-bit field {} where 1-bit field is required.",
                    dst.sf.n_bits, dst.text
                ));
            }
            Ok(())
        };
        if let Some(kind) = ResultKind::from_name(name) {
            if !self.eat(&Token::RParen) {
                return err(format!("{name} doesn't take any parameters"));
            }
            one_bit(&dst)?;
            return Ok(OvnAction::Result { kind, dst });
        }
        match name {
            "lookup_arp" | "lookup_nd" => {
                one_bit(&dst)?;
                let nd = name == "lookup_nd";
                let port = self.field()?;
                self.expect(&Token::Comma)?;
                let ip = self.field()?;
                self.expect(&Token::Comma)?;
                let mac = self.field()?;
                self.expect(&Token::RParen)?;
                check_arg(&port, 32, true)?;
                check_arg(&ip, if nd { 128 } else { 32 }, false)?;
                check_arg(&mac, 48, false)?;
                Ok(OvnAction::LookupMac { nd, dst, port, ip, mac })
            }
            "lookup_arp_ip" | "lookup_nd_ip" => {
                one_bit(&dst)?;
                let nd = name == "lookup_nd_ip";
                let port = self.field()?;
                self.expect(&Token::Comma)?;
                let ip = self.field()?;
                self.expect(&Token::RParen)?;
                check_arg(&port, 32, true)?;
                check_arg(&ip, if nd { 128 } else { 32 }, false)?;
                Ok(OvnAction::LookupMacIp { nd, dst, port, ip })
            }
            "get_fdb" => {
                if !dst.is_port && dst.sf.n_bits != 32 {
                    return err(format!(
                        "Cannot use {}-bit field {} where 32-bit field is required.",
                        dst.sf.n_bits, dst.text
                    ));
                }
                let mac = self.field()?;
                self.expect(&Token::RParen)?;
                check_arg(&mac, 48, false)?;
                Ok(OvnAction::GetFdb { dst, mac })
            }
            "lookup_fdb" => {
                one_bit(&dst)?;
                let port = self.field()?;
                self.expect(&Token::Comma)?;
                let mac = self.field()?;
                self.expect(&Token::RParen)?;
                check_arg(&port, 32, true)?;
                check_arg(&mac, 48, false)?;
                Ok(OvnAction::LookupFdb { dst, port, mac })
            }
            "put_dhcp_opts" | "put_dhcpv6_opts" | "put_nd_ra_opts" => {
                one_bit(&dst)?;
                let v6 = name == "put_dhcpv6_opts";
                let (table, kind) = match name {
                    "put_dhcpv6_opts" => (&self.ctx.options.dhcpv6, "DHCPv6"),
                    "put_nd_ra_opts" => (&self.ctx.options.nd_ra, "IPv6 ND RA"),
                    _ => (&self.ctx.options.dhcpv4, "DHCPv4"),
                };
                let mut options = Vec::new();
                while !self.eat(&Token::RParen) {
                    let oname = match self.bump() {
                        Some(Token::Id(n)) => n.clone(),
                        _ => return err("Syntax error: expecting option name."),
                    };
                    let def = table.get(&oname).cloned().ok_or_else(|| {
                        ActionError(format!("Syntax error at `{oname}' expecting {kind} option name."))
                    })?;
                    self.expect(&Token::Equals)?;
                    let values = self.constant_set()?;
                    let o = GenOption { name: oname, def, values };
                    dhcp::check_values(kind, &o)?;
                    options.push(o);
                    self.eat(&Token::Comma);
                }
                if name == "put_nd_ra_opts" {
                    return self.check_nd_ra(dst, options);
                }
                if !v6 && !options.iter().any(|o| o.def.code == 0) {
                    return err("put_dhcp_opts requires offerip to be specified.");
                }
                Ok(OvnAction::PutDhcpOpts { v6, dst, options })
            }
            "check_pkt_larger" => {
                one_bit(&dst)?;
                let len = u16::try_from(self.int()?).map_err(|_| ActionError("Packet length too large.".into()))?;
                self.expect(&Token::RParen)?;
                Ok(OvnAction::CheckPktLarger { dst, len })
            }
            "dns_lookup" => {
                if !self.eat(&Token::RParen) {
                    return err("dns_lookup doesn't take any parameters");
                }
                one_bit(&dst)?;
                self.prereq("udp");
                Ok(OvnAction::DnsLookup { dst })
            }
            "select" => {
                let table = self.next_table("select")?;
                if dst.is_port || dst.sf.n_bits < 16 {
                    return err(format!(
                        "cannot use {}-bit field {} for \"select\", which requires at least 16 bits.",
                        dst.sf.n_bits, dst.text
                    ));
                }
                let mut members = Vec::new();
                while !self.eat(&Token::RParen) {
                    let id =
                        u16::try_from(self.int()?).map_err(|_| ActionError("Syntax error: expecting id.".into()))?;
                    let mut weight = 100;
                    if self.eat(&Token::Equals) {
                        weight = u16::try_from(self.int()?)
                            .ok()
                            .filter(|w| *w != 0)
                            .ok_or(ActionError("Syntax error: weight can't be 0".into()))?;
                    }
                    self.eat(&Token::Comma);
                    members.push((id, weight));
                }
                if members.len() <= 1 {
                    return err("Syntax error: expecting at least 2 group members.");
                }
                Ok(OvnAction::Select { dst, members, table })
            }
            n => err(format!("Syntax error at `{n}' expecting field name.")),
        }
    }

    /// One constant or `{c, c, ...}` (`expr_constant_set_parse`), all of one type.
    fn constant_set(&mut self) -> R<Vec<Const>> {
        let one = |p: &mut Self| -> R<Const> {
            match p.bump() {
                Some(Token::Num(n)) => Ok(Const::Num(*n)),
                Some(Token::Str(s)) => Ok(Const::Str(s.clone())),
                _ => err("Syntax error: expecting constant."),
            }
        };
        let v = if self.eat(&Token::LCurly) {
            let mut v = Vec::new();
            while !self.eat(&Token::RCurly) {
                v.push(one(self)?);
                self.eat(&Token::Comma);
            }
            v
        } else {
            vec![one(self)?]
        };
        let strings = v.iter().filter(|c| matches!(c, Const::Str(_))).count();
        if strings != 0 && strings != v.len() {
            return err("Syntax error: constants must all be integers or all strings.");
        }
        if v.is_empty() {
            return err("Syntax error: empty constant set.");
        }
        Ok(v)
    }

    fn sample(&mut self) -> R<OvnAction> {
        let (mut probability, mut collector_set, mut obs_domain, mut obs_point) = (0u16, 0u32, 0u8, Some(0u32));
        let dec = |t: Option<&Token>| match t {
            Some(Token::Num(n)) if n.format == NumFormat::Decimal && n.mask.is_none() => Some(n.value),
            _ => None,
        };
        if self.eat(&Token::LParen) {
            while !self.eat(&Token::RParen) {
                let key = self.id()?;
                self.expect(&Token::Equals)?;
                match key.as_str() {
                    "probability" => {
                        if let Some(v) = dec(self.peek()) {
                            probability = u16::try_from(v)
                                .map_err(|_| ActionError("probability must be in range 0...65535.".into()))?;
                            self.pos += 1;
                        }
                    }
                    "obs_point" => {
                        obs_point = match self.bump() {
                            Some(Token::AddrSet(m)) if m == "cookie" => None,
                            t => match dec(t) {
                                Some(v) => Some(v as u32),
                                None => return err("Syntax error: malformed sample observation_point_id."),
                            },
                        }
                    }
                    "obs_domain" => {
                        if let Some(v) = dec(self.peek()) {
                            obs_domain = u8::try_from(v)
                                .map_err(|_| ActionError("Syntax error: obs_domain must be 8-bit long.".into()))?;
                        }
                        self.pos += 1;
                    }
                    "collector_set" => {
                        if let Some(v) = dec(self.peek()) {
                            collector_set = v as u32;
                        }
                        self.pos += 1;
                    }
                    k => return err(format!("Syntax error at `{k}' unknown argument.")),
                }
                self.eat(&Token::Comma);
            }
        }
        if probability == 0 {
            return err("probability must be greater than zero");
        }
        Ok(OvnAction::Sample { probability, collector_set, obs_domain, obs_point })
    }

    /// `parse_put_nd_ra_opts`'s checks.
    fn check_nd_ra(&mut self, dst: FieldRef, options: Vec<GenOption>) -> R<OvnAction> {
        use dhcp::nd_ra;
        let (mut stateful, mut prefix, mut slla) = (false, false, false);
        for o in &options {
            let invalid = || ActionError(format!("Invalid value for \"{}\" option", o.name));
            let [c] = o.values.as_slice() else { return Err(invalid()) };
            let (s, n) = match c {
                Const::Str(s) => (Some(s.as_str()), None),
                Const::Num(n) => (None, Some(n)),
            };
            let ok = match o.def.code {
                nd_ra::ADDR_MODE => {
                    stateful |= s == Some("dhcpv6_stateful");
                    matches!(s, Some("slaac" | "dhcpv6_stateful" | "dhcpv6_stateless"))
                }
                nd_ra::PRF => matches!(s, Some("MEDIUM" | "HIGH" | "LOW")),
                nd_ra::SLLA => {
                    slla = true;
                    n.is_some_and(|n| n.format == NumFormat::Ethernet)
                }
                nd_ra::PREFIX => {
                    prefix = true;
                    n.is_some_and(|n| n.format == NumFormat::Ipv6 && n.mask.is_some())
                }
                nd_ra::MTU => n.is_some_and(|n| n.format == NumFormat::Decimal),
                nd_ra::RDNSS => n.is_some_and(|n| n.format == NumFormat::Ipv6),
                nd_ra::DNSSL | nd_ra::ROUTE_INFO => s.is_some(),
                _ => true,
            };
            if !ok {
                return Err(invalid());
            }
        }
        if !slla {
            return err("slla option not present");
        }
        if !stateful && !prefix {
            return err("prefix option needs to be set when address mode is slaac/dhcpv6_stateless.");
        }
        self.prereq("ip6");
        Ok(OvnAction::PutNdRaOpts { dst, options })
    }

    fn bool_arg(&mut self) -> R<bool> {
        match self.bump() {
            Some(Token::Str(s) | Token::Id(s)) if s == "true" => Ok(true),
            Some(Token::Str(s) | Token::Id(s)) if s == "false" => Ok(false),
            _ => err("Syntax error: expecting true or false."),
        }
    }

    fn proto_arg(&mut self) -> R<u8> {
        match self.bump() {
            Some(Token::Id(s)) if s == "tcp" => Ok(6),
            Some(Token::Id(s)) if s == "udp" => Ok(17),
            Some(Token::Id(s)) if s == "sctp" => Ok(132),
            _ => err("Syntax error: invalid protocol."),
        }
    }

    fn commit_lb_aff(&mut self) -> R<OvnAction> {
        let invalid = || ActionError("Syntax error: invalid parameter.".into());
        self.expect(&Token::LParen)?;
        let lb_key = |p: &mut Self, name: &str| -> R<(IpAddr, u16)> {
            if !p.eat_id(name) || !p.eat(&Token::Equals) {
                return Err(invalid());
            }
            let s = p.string()?;
            parse_lb_key(&s).ok_or_else(invalid)
        };
        let (vip, vip_port) = lb_key(self, "vip")?;
        self.expect(&Token::Comma)?;
        let (backend, backend_port) = lb_key(self, "backend")?;
        if vip.is_ipv4() != backend.is_ipv4() {
            return err("Syntax error: invalid protocol family.");
        }
        self.expect(&Token::Comma)?;
        let mut proto = 0;
        if vip_port != 0 {
            if !self.eat_id("proto") || !self.eat(&Token::Equals) {
                return Err(invalid());
            }
            proto = self.proto_arg()?;
            self.expect(&Token::Comma)?;
        }
        if !self.eat_id("timeout") || !self.eat(&Token::Equals) {
            return Err(invalid());
        }
        let timeout = u16::try_from(self.int()?).map_err(|_| ActionError("affinity timeout out of range.".into()))?;
        self.expect(&Token::RParen)?;
        Ok(OvnAction::CommitLbAff { vip, vip_port, backend, backend_port, proto, timeout })
    }

    fn fwd_group(&mut self) -> R<OvnAction> {
        let mut liveness = false;
        let mut ports = Vec::new();
        if self.eat(&Token::LParen) {
            if self.eat_id("liveness") {
                self.expect(&Token::Equals)?;
                liveness = match self.bump() {
                    Some(Token::Str(s) | Token::Id(s)) if s == "true" => true,
                    Some(Token::Str(s) | Token::Id(s)) if s == "false" => false,
                    _ => return err("Syntax error: expecting true or false."),
                };
                self.expect(&Token::Comma)?;
            }
            if self.eat_id("childports") {
                self.expect(&Token::Equals)?;
                while !self.eat(&Token::RParen) {
                    match self.bump() {
                        Some(Token::Str(s)) => ports.push(s.clone()),
                        _ => return err("Syntax error: expecting logical switch port."),
                    }
                    self.eat(&Token::Comma);
                }
            }
        }
        Ok(OvnAction::FwdGroup { liveness, ports })
    }

    fn trigger_event(&mut self) -> R<OvnAction> {
        self.expect(&Token::LParen)?;
        if !self.eat_id("event") {
            return err("Syntax error: Expecting 'event' option.");
        }
        self.expect(&Token::Equals)?;
        let event = match self.string()?.as_str() {
            "empty_lb_backends" => 0,
            e => return err(format!("Syntax error: Unknown event '{e}'.")),
        };
        self.eat(&Token::Comma);
        let mut options = Vec::new();
        while !self.eat(&Token::RParen) {
            let name = self.id()?;
            let code = match name.as_str() {
                "vip" => 1,
                "protocol" => 2,
                "load_balancer" => 3,
                _ => return err(format!("Syntax error at `{name}' expecting empty_lb_backends option name.")),
            };
            self.expect(&Token::Equals)?;
            let v = self.constant_set()?;
            let [Const::Str(value)] = v.as_slice() else {
                return err(format!("Invalid value for \"{name}\" option"));
            };
            match code {
                1 if !valid_vip(value) => return err(format!("Invalid load balancer VIP '{value}'")),
                2 if !["tcp", "udp", "sctp"].contains(&value.as_str()) => {
                    return err(format!("Load balancer protocol '{value}' is not 'tcp', 'udp', or 'sctp'"))
                }
                3 if !valid_uuid(value) => return err(format!("Load balancer '{value}' is not a UUID")),
                _ => {}
            }
            options.push((code, value.clone()));
            self.eat(&Token::Comma);
        }
        Ok(OvnAction::TriggerEvent { event, options })
    }

    fn ct_commit(&mut self) -> R<OvnAction> {
        self.prereq("ip");
        if matches!(self.peek(), Some(Token::LCurly)) {
            let outer = std::mem::replace(&mut self.ct_commit_scope, true);
            let nested = self.nested(Some("ip"));
            self.ct_commit_scope = outer;
            return Ok(OvnAction::CtCommit(nested?));
        }
        if !self.eat(&Token::LParen) {
            return Ok(OvnAction::CtCommit(Vec::new()));
        }
        let (mut mark, mut label) = (None, None);
        while !self.eat(&Token::RParen) {
            let which = self.id()?;
            self.expect(&Token::Equals)?;
            let n = self.num()?;
            match which.as_str() {
                "ct_mark" => {
                    let v = u32::try_from(n.value).map_err(|_| ActionError("ct_mark too wide.".into()))?;
                    let m = match n.mask {
                        Some(m) => u32::try_from(m).map_err(|_| ActionError("ct_mark mask too wide.".into()))?,
                        None => u32::MAX,
                    };
                    mark = Some((v, m));
                }
                "ct_label" => label = Some((n.value, n.mask.unwrap_or(u128::MAX))),
                _ => return err(format!("Syntax error at `{which}'.")),
            }
            self.eat(&Token::Comma);
        }
        Ok(OvnAction::CtCommitV1 { mark, label })
    }

    fn ct_nat(&mut self, kind: NatKind, name: &str) -> R<OvnAction> {
        self.prereq("ip");
        let table = self.next_table(name)?;
        let (mut ip, mut ports) = (None, None);
        if self.eat(&Token::LParen) {
            let n = self.num()?;
            ip =
                Some(number_ip(&n).ok_or_else(|| ActionError("Syntax error: expecting IPv4 or IPv6 address.".into()))?);
            if self.eat(&Token::Comma) {
                let lo = self.int()?;
                let lo = u16::try_from(lo).ok().filter(|l| *l != 0).ok_or(ActionError("range can't be 0".into()))?;
                let mut hi = 0;
                if self.eat(&Token::Hyphen) {
                    hi = u16::try_from(self.int()?)
                        .ok()
                        .filter(|h| *h > lo)
                        .ok_or(ActionError("range high should be greater than range low".into()))?;
                }
                ports = Some((lo, hi));
            }
            self.expect(&Token::RParen)?;
        }
        Ok(OvnAction::CtNat { kind, table, ip, ports })
    }

    fn ct_lb(&mut self, mark: bool) -> R<OvnAction> {
        self.prereq("ip");
        let table = self.next_table(if mark { "ct_lb_mark" } else { "ct_lb" })?;
        let mut backends = Vec::new();
        let mut hash_fields = None;
        let mut flag = LbFlag::None;
        if self.eat(&Token::LParen) {
            if self.eat_id("backends") {
                self.expect(&Token::Equals)?;
                loop {
                    let bracketed = self.eat(&Token::LSquare);
                    let n = self.num()?;
                    let ip = number_ip(&n).ok_or(ActionError("Syntax error: expecting IP address.".into()))?;
                    if bracketed {
                        if !ip.is_ipv6() {
                            return err("Syntax error: expecting IPv6 address.");
                        }
                        self.expect(&Token::RSquare)?;
                    }
                    let mut port = 0;
                    if self.eat(&Token::Colon) {
                        port = u16::try_from(self.int()?)
                            .map_err(|_| ActionError("Syntax error: expecting port number.".into()))?;
                    }
                    backends.push((ip, port));
                    if !self.eat(&Token::Comma) {
                        break;
                    }
                    if !matches!(self.peek(), Some(Token::Num(_) | Token::LSquare)) {
                        break;
                    }
                }
                self.eat(&Token::Semicolon);
            }
            if self.eat_id("hash_fields") {
                self.expect(&Token::Equals)?;
                hash_fields = Some(self.string()?);
                self.eat(&Token::Semicolon);
            }
            if self.eat_id("skip_snat") {
                flag = LbFlag::SkipSnat;
            } else if self.eat_id("force_snat") {
                flag = LbFlag::ForceSnat;
            }
            self.expect(&Token::RParen)?;
        }
        Ok(OvnAction::CtLb { mark, table, backends, hash_fields, flag })
    }

    fn get_mac(&mut self, nd: bool) -> R<OvnAction> {
        self.expect(&Token::LParen)?;
        let port = self.field()?;
        self.expect(&Token::Comma)?;
        let ip = self.field()?;
        self.expect(&Token::RParen)?;
        check_arg(&port, 32, true)?;
        check_arg(&ip, if nd { 128 } else { 32 }, false)?;
        Ok(OvnAction::GetMac { nd, port, ip })
    }

    fn put_mac(&mut self, nd: bool) -> R<OvnAction> {
        self.expect(&Token::LParen)?;
        let port = self.field()?;
        self.expect(&Token::Comma)?;
        let ip = self.field()?;
        self.expect(&Token::Comma)?;
        let mac = self.field()?;
        self.expect(&Token::RParen)?;
        check_arg(&port, 32, true)?;
        check_arg(&ip, if nd { 128 } else { 32 }, false)?;
        check_arg(&mac, 48, false)?;
        Ok(OvnAction::PutMac { nd, port, ip, mac })
    }

    fn log(&mut self) -> R<OvnAction> {
        let (mut name, mut meter) = (None, None);
        let (mut v, mut sev) = (None, severity::INFO);
        if self.eat(&Token::LParen) {
            while !self.eat(&Token::RParen) {
                let key = self.id()?;
                self.expect(&Token::Equals)?;
                match key.as_str() {
                    "name" => name = Some(self.string()?),
                    "meter" => meter = Some(self.string()?),
                    "verdict" => {
                        v = Some(match self.id()?.as_str() {
                            "allow" => verdict::ALLOW,
                            "drop" => verdict::DROP,
                            "reject" => verdict::REJECT,
                            o => return err(format!("Syntax error at `{o}' unknown verdict.")),
                        })
                    }
                    "severity" => {
                        sev = match self.id()?.as_str() {
                            "alert" => severity::ALERT,
                            "warning" => severity::WARNING,
                            "notice" => severity::NOTICE,
                            "info" => severity::INFO,
                            "debug" => severity::DEBUG,
                            o => return err(format!("Syntax error at `{o}' unknown severity.")),
                        }
                    }
                    o => return err(format!("Syntax error at `{o}'.")),
                }
                self.eat(&Token::Comma);
            }
        }
        let verdict = v.ok_or(ActionError("Syntax error: expecting verdict.".into()))?;
        Ok(OvnAction::Log { name, verdict, severity: sev, meter })
    }
}

fn check_widths(a: &FieldRef, b: &FieldRef) -> R<()> {
    if a.sf.n_bits != b.sf.n_bits {
        return err(format!(
            "Can't assign {}-bit value to {}-bit destination ({} vs {}).",
            b.sf.n_bits, a.sf.n_bits, b.text, a.text
        ));
    }
    Ok(())
}

fn check_arg(f: &FieldRef, width: u16, port: bool) -> R<()> {
    if f.is_port != port || (!port && f.sf.n_bits != width) {
        return err(format!("{} is not a {width}-bit {}.", f.text, if port { "string field" } else { "field" }));
    }
    Ok(())
}

/// The OpenFlow subfield of a symbol (`expr_resolve_field`): subfields add their offset
/// up to the whole field; string fields are their 32-bit register.
fn resolve(symtab: &Symtab, mut id: usize) -> R<(Subfield, bool)> {
    let width = symtab.get(id).map_or(0, |s| s.width);
    let mut ofs: u32 = 0;
    for _ in 0..8 {
        let sym = symtab.get(id).ok_or_else(|| ActionError("bad symbol".into()))?;
        match &sym.kind {
            SymbolKind::Field(f) => {
                let n_bits = u16::try_from(width).map_err(|_| ActionError("field too wide".into()))?;
                let ofs = u16::try_from(ofs).map_err(|_| ActionError("field offset too large".into()))?;
                return Ok((Subfield { field: *f, ofs, n_bits }, false));
            }
            SymbolKind::Str(f) => return Ok((Subfield::whole(*f), true)),
            SymbolKind::Subfield { parent, ofs: o } => {
                ofs += o;
                id = *parent;
            }
            SymbolKind::Predicate(_) => {
                return err(format!("Predicate symbol {} used where field required.", sym.name))
            }
            SymbolKind::OvnField => return err(format!("OVN field {} can only be assigned a constant.", sym.name)),
        }
    }
    err("Symbol nesting too deep.")
}

/// `inet_parse_active(vip, 0)`: an address with an optional port (`[v6]:port` for IPv6).
fn valid_vip(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok() || s.parse::<std::net::SocketAddr>().is_ok()
}

/// `ip_address_and_port_from_lb_key`: `ip`, `ip:port`, `[ip6]:port`.
fn parse_lb_key(s: &str) -> Option<(IpAddr, u16)> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some((ip, 0));
    }
    s.parse::<std::net::SocketAddr>().ok().map(|a| (a.ip(), a.port()))
}

/// The learn actions of `commit_ecmp_nh` and `commit_lb_aff`, as ovs-ofctl text (OVS's own
/// syntax, parsed by the codec): (table 76 for the new connection, table 77 for replies).
fn ecmp_learn_text(nw_conn: bool, ipv6: bool, proto: u8) -> String {
    let (src, dst, eth) = if ipv6 {
        ("NXM_NX_IPV6_SRC[]", "NXM_NX_IPV6_DST[]", "0x86dd")
    } else {
        ("NXM_OF_IP_SRC[]", "NXM_OF_IP_DST[]", "0x800")
    };
    let (tsrc, tdst) = match proto {
        6 => ("NXM_OF_TCP_SRC[]", "NXM_OF_TCP_DST[]"),
        17 => ("NXM_OF_UDP_SRC[]", "NXM_OF_UDP_DST[]"),
        _ => ("OXM_OF_SCTP_SRC[]", "OXM_OF_SCTP_DST[]"),
    };
    let bit = flag_bit(flags::LOOKUP_COMMIT_ECMP_NH);
    if nw_conn {
        format!(
            "learn(table={},idle_timeout=20,hard_timeout=30,delete_learned,OXM_OF_METADATA[],NXM_OF_ETH_SRC[],\
             eth_type={eth},{src},{dst},nw_proto={proto},{tsrc},{tdst},load:0x1->NXM_NX_REG10[{bit}])",
            tables::ECMP_NH_MAC
        )
    } else {
        format!(
            "learn(table={},idle_timeout=20,hard_timeout=30,delete_learned,OXM_OF_METADATA[],eth_type={eth},\
             {src}={dst},{dst}={src},nw_proto={proto},{tsrc}={tdst},{tdst}={tsrc},load:0x1->NXM_NX_REG10[{bit}])",
            tables::ECMP_NH
        )
    }
}

fn lb_aff_learn_text(
    vip: IpAddr,
    vip_port: u16,
    backend: IpAddr,
    backend_port: u16,
    proto: u8,
    timeout: u16,
) -> String {
    let (eth, src, dst, backend_load) = match (vip, backend) {
        (IpAddr::V6(v), b) => {
            let b = match b {
                IpAddr::V6(b) => u128::from(b),
                IpAddr::V4(b) => u128::from(b.to_ipv6_mapped()),
            };
            ("0x86dd", "NXM_NX_IPV6_SRC[]", format!("ipv6_dst={v}"), format!("load:{b:#x}->NXM_NX_XXREG0[]"))
        }
        (IpAddr::V4(v), b) => {
            let b = match b {
                IpAddr::V4(b) => u32::from(b),
                IpAddr::V6(_) => 0,
            };
            ("0x800", "NXM_OF_IP_SRC[]", format!("ip_dst={v}"), format!("load:{b:#x}->NXM_NX_REG4[]"))
        }
    };
    let mut s = format!(
        "learn(table={},idle_timeout={timeout},delete_learned,OXM_OF_METADATA[],eth_type={eth},{src},{dst}",
        tables::CHK_LB_AFFINITY
    );
    if proto != 0 {
        let tp = match proto {
            6 => "tcp_dst",
            17 => "udp_dst",
            _ => "sctp_dst",
        };
        s.push_str(&format!(",nw_proto={proto},{tp}={vip_port}"));
    }
    s.push_str(&format!(",load:0x1->NXM_NX_REG10[{}],{backend_load}", flag_bit(flags::USE_LB_AFF_SESSION)));
    if backend_port != 0 {
        s.push_str(&format!(",load:{backend_port:#x}->NXM_NX_REG8[0..15]"));
    }
    s.push(')');
    s
}

/// Actions from ovs-ofctl text built above (never fails for the texts built here; a
/// failure would drop the learn action rather than panic).
fn from_text(text: &str, out: &mut Vec<Action>) {
    if let Ok(a) = shared::openflow::text::parse_actions(text) {
        out.extend(a);
    }
}

fn valid_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
}

fn number_ip(n: &Number) -> Option<IpAddr> {
    if n.mask.is_some() {
        return None;
    }
    match n.format {
        NumFormat::Ipv4 => Some(IpAddr::V4(u32::try_from(n.value).ok()?.into())),
        NumFormat::Ipv6 => Some(IpAddr::V6(n.value.into())),
        _ => None,
    }
}

/// What the encoder needs to know (`ovnact_encode_params`).
pub struct EncodeCtx<'a> {
    /// The flow's pipeline.
    pub ingress: bool,
    /// The flow's datapath is a logical switch (conntrack zone reg13, else reg11/reg12).
    pub is_switch: bool,
    /// The datapath's external_ids has `snat-ct-zone` (the `_in_czone` actions then use the
    /// SNAT zone, else the DNAT zone).
    pub snat_ct_zone_set: bool,
    /// Meter for controller actions (`ctrl_meter_id`); `None` = no meter.
    pub ctrl_meter: Option<u32>,
    /// Where `output` resubmits: [`tables::OUTPUT_INIT`] in ingress, [`tables::SAVE_INPORT`]
    /// in egress (see [`output_table`]).
    pub output_table: u8,
    /// OVS features that change the encoding (23.03 probes them at run time).
    pub features: Features,
    /// A logical port's tunnel key on this datapath.
    pub port_key: &'a dyn Fn(&str) -> Option<u32>,
    /// The OpenFlow port of the tunnel to a logical port's chassis (`fwd_group` liveness).
    pub tunnel_ofport: &'a dyn Fn(&str) -> Option<u16>,
    /// The Logical_Flow's UUID (names `set_meter` meters; `sample`'s `$cookie`).
    pub lflow_uuid: &'a str,
    /// The datapath's tunnel key (`sample` observation domain).
    pub dp_key: u32,
    /// Whether a Flow_Sample_Collector_Set with this id exists (`sample`).
    pub collector_ids: &'a dyn Fn(u32) -> bool,
    /// A group id for a group description (`type=select,...` as ovs-ofctl text), allocated
    /// once per distinct description (23.03's extend table).
    pub group_id: &'a mut dyn FnMut(&str) -> u32,
    /// A meter id for a named meter.
    pub meter_id: &'a mut dyn FnMut(&str) -> u32,
}

/// The OVS datapath features 23.03's encoder asks about (`ovs_feature_is_supported`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// OVS_CT_ZERO_SNAT_SUPPORT: `ct_commit` adds `nat(src)` (all-zero SNAT).
    pub ct_zero_snat: bool,
    /// OVS_DP_METER_SUPPORT: controller actions carry their meter.
    pub dp_meter: bool,
    /// OVS_DP_HASH_L4_SYM_SUPPORT: `select` groups ask for symmetric L4 dp_hash.
    pub dp_hash_l4_sym: bool,
}

impl Features {
    /// What OVS 3.1 (userspace and kernel datapaths) supports.
    pub const OVS_3_1: Features = Features { ct_zero_snat: true, dp_meter: true, dp_hash_l4_sym: true };
    /// None of them (what OVN's test-ovn assumes).
    pub const NONE: Features = Features { ct_zero_snat: false, dp_meter: false, dp_hash_l4_sym: false };
}

/// The table `output` resubmits to in a pipeline (lflow.c `output_ptable`).
pub fn output_table(ingress: bool) -> u8 {
    if ingress {
        tables::OUTPUT_INIT
    } else {
        tables::SAVE_INPORT
    }
}

impl EncodeCtx<'_> {
    fn first_table(&self, ingress: bool) -> u8 {
        if ingress {
            tables::LOG_INGRESS_PIPELINE
        } else {
            tables::LOG_EGRESS_PIPELINE
        }
    }
    fn ct_zone(&self) -> CtZone {
        CtZone::Field(Subfield { field: if self.is_switch { Field::REG13 } else { Field::REG11 }, ofs: 0, n_bits: 16 })
    }
}

fn resubmit(table: u8) -> Action {
    Action::Resubmit { in_port: shared::openflow::actions::ports::IN_PORT, table, ct: false }
}

fn controller(ctx: &EncodeCtx<'_>, op: ControllerOp, pause: bool, meter: Option<u32>) -> Action {
    let meter_id = if ctx.features.dp_meter { meter.unwrap_or(0) } else { 0 };
    Action::Controller(Controller { userdata: op.encode(), pause, meter_id, ..Controller::default() })
}

fn zero_snat(ctx: &EncodeCtx<'_>) -> Vec<Action> {
    if ctx.features.ct_zero_snat {
        vec![Action::Nat(Nat { flags: NX_NAT_F_SRC, addrs: None, proto_min: 0, proto_max: 0 })]
    } else {
        Vec::new()
    }
}

/// `set_field` of `value` (and `mask`, both right-aligned to the subfield) into `sf`.
fn set_subfield(sf: &Subfield, value: u128, mask: Option<u128>) -> Action {
    let n_bytes = sf.field.n_bytes();
    let n_bits = u32::from(sf.n_bits);
    let ones = if n_bits >= 128 { u128::MAX } else { (1u128 << n_bits) - 1 };
    let ofs = u32::from(sf.ofs);
    let shift = |v: u128| v.checked_shl(ofs).unwrap_or(0);
    let (v, m) = (shift(value & ones), shift(mask.unwrap_or(ones) & ones));
    let bytes = |x: u128| {
        let b = x.to_be_bytes();
        b.get(16usize.saturating_sub(n_bytes)..).unwrap_or(&b).to_vec()
    };
    let full = sf.ofs == 0 && usize::from(sf.n_bits) == sf.field.n_bits() && mask.is_none();
    Action::SetField { field: sf.field, value: bytes(v), mask: (!full).then(|| bytes(m)) }
}

fn whole(f: Field) -> Subfield {
    Subfield::whole(f)
}

/// Saves, loads and restores arguments the way `encode_setup_args` does.
fn setup_args(args: &[(Subfield, Field)], out: &mut Vec<Action>) {
    let differs = |(src, dst): &&(Subfield, Field)| !(src.field == *dst && src.ofs == 0);
    for (_, dst) in args.iter().filter(differs) {
        out.push(Action::StackPush(whole(*dst)));
    }
    for (src, _) in args.iter().rev().filter(differs) {
        out.push(Action::StackPush(*src));
    }
    for (_, dst) in args.iter().filter(differs) {
        out.push(Action::StackPop(whole(*dst)));
    }
}

fn restore_args(args: &[(Subfield, Field)], out: &mut Vec<Action>) {
    let differs = |(src, dst): &&(Subfield, Field)| !(src.field == *dst && src.ofs == 0);
    for (_, dst) in args.iter().rev().filter(differs) {
        out.push(Action::StackPop(whole(*dst)));
    }
}

/// 23.03 quirk, reproduced so that the flows are the same: `encode_CT_COMMIT_V1/V2` finish
/// the action at the *start* of the buffer (`ofpacts->header = ofpbuf_push_uninit(...)`)
/// instead of the `ct` they just added. When `ct_commit` is not the first action of its list
/// (e.g. after `log(...)` in a logged reject ACL), the first action's length then spans the
/// `ct`, and every action after the first one up to and including the `ct` disappears from
/// the installed flow. Returns true when that happened (`out` is truncated to its first
/// action). Not modelled inside `clone {}`, which shares its parent's buffer in 23.03.
fn ct_commit_swallowed(out: &mut Vec<Action>) -> bool {
    if out.is_empty() {
        return false;
    }
    out.truncate(1);
    true
}

fn flag_bit(f: u32) -> u16 {
    f.trailing_zeros() as u16
}

/// `encode_result_action__`: clear the flag bit, look up, copy the bit to `dst`.
fn result_lookup(dst: &FieldRef, table: u8, bit: u16, out: &mut Vec<Action>) {
    let flag = Subfield { field: Field::REG10, ofs: bit, n_bits: 1 };
    out.push(set_subfield(&flag, 0, None));
    out.push(resubmit(table));
    out.push(Action::Move { src: flag, dst: dst.sf });
}

/// Encodes parsed actions to OpenFlow.
pub fn encode(actions: &[OvnAction], ctx: &mut EncodeCtx<'_>) -> Vec<Action> {
    let mut out = Vec::new();
    for a in actions {
        encode_one(a, ctx, &mut out);
    }
    out
}

fn ip_nat(ip: IpAddr) -> NatAddrs {
    match ip {
        IpAddr::V4(a) => NatAddrs::V4(a.into(), 0),
        IpAddr::V6(a) => NatAddrs::V6(a.into(), 0),
    }
}

fn encode_one(a: &OvnAction, ctx: &mut EncodeCtx<'_>, out: &mut Vec<Action>) {
    match a {
        OvnAction::Next { ingress, table } => out.push(resubmit(ctx.first_table(*ingress).saturating_add(*table))),
        OvnAction::Output => out.push(resubmit(ctx.output_table)),
        OvnAction::Load { dst, value } => match value {
            Const::Num(n) => out.push(set_subfield(&dst.sf, n.value, n.mask)),
            Const::Str(s) => out.push(set_subfield(&dst.sf, u128::from((ctx.port_key)(s).unwrap_or(0)), None)),
        },
        OvnAction::Move { dst, src } => out.push(Action::Move { src: src.sf, dst: dst.sf }),
        OvnAction::Exchange { a, b } => {
            out.push(Action::StackPush(b.sf));
            out.push(Action::StackPush(a.sf));
            out.push(Action::StackPop(b.sf));
            out.push(Action::StackPop(a.sf));
        }
        // NXAST_DEC_TTL_CNT_IDS without ids, as 23.03 encodes it (ovs-ofctl prints `dec_ttl()`).
        OvnAction::DecTtl => out.push(Action::DecTtl(Some(Vec::new()))),
        OvnAction::CtNext { table } => out.push(Action::Ct(Ct {
            flags: 0,
            zone: ctx.ct_zone(),
            table: ctx.first_table(ctx.ingress).saturating_add(*table),
            alg: 0,
            actions: Vec::new(),
        })),
        OvnAction::CtCommit(nested) => {
            if ct_commit_swallowed(out) {
                return;
            }
            let mut acts = zero_snat(ctx);
            acts.extend(encode(nested, ctx));
            out.push(Action::Ct(Ct {
                flags: NX_CT_F_COMMIT,
                zone: ctx.ct_zone(),
                table: NX_CT_RECIRC_NONE,
                alg: 0,
                actions: acts,
            }));
        }
        OvnAction::CtCommitV1 { mark, label } => {
            if ct_commit_swallowed(out) {
                return;
            }
            let mut acts = zero_snat(ctx);
            if let Some((v, m)) = mark {
                acts.push(set_subfield(&whole(Field::CT_MARK), u128::from(*v), Some(u128::from(*m))));
            }
            if let Some((v, m)) = label {
                acts.push(set_subfield(&whole(Field::CT_LABEL), *v, Some(*m)));
            }
            let zone = CtZone::Field(Subfield { field: Field::REG13, ofs: 0, n_bits: 16 });
            out.push(Action::Ct(Ct { flags: NX_CT_F_COMMIT, zone, table: NX_CT_RECIRC_NONE, alg: 0, actions: acts }));
        }
        OvnAction::CtNat { kind, table, ip, ports } => {
            let zone_reg = match kind {
                NatKind::Dnat => Field::REG11,
                NatKind::Snat => Field::REG12,
                // `get_common_nat_zone`: the SNAT zone if the datapath sets snat-ct-zone.
                NatKind::DnatInCzone | NatKind::SnatInCzone => {
                    if ctx.snat_ct_zone_set {
                        Field::REG12
                    } else {
                        Field::REG11
                    }
                }
            };
            let flags = match (kind, ip) {
                (_, None) => 0,
                (NatKind::Dnat | NatKind::DnatInCzone, Some(_)) => NX_NAT_F_DST,
                (NatKind::Snat | NatKind::SnatInCzone, Some(_)) => NX_NAT_F_SRC,
            };
            let (proto_min, proto_max) = ports.unwrap_or((0, 0));
            let nat = Nat { flags, addrs: ip.map(ip_nat), proto_min, proto_max };
            out.push(Action::Ct(Ct {
                flags: if ip.is_some() { NX_CT_F_COMMIT } else { 0 },
                zone: CtZone::Field(Subfield { field: zone_reg, ofs: 0, n_bits: 16 }),
                table: ctx.first_table(ctx.ingress).saturating_add(*table),
                alg: 0,
                actions: vec![Action::Nat(nat)],
            }));
        }
        OvnAction::CtCommitNat { table } => {
            let zone = if ctx.is_switch { Field::REG13 } else { Field::REG11 };
            out.push(Action::Ct(Ct {
                flags: NX_CT_F_COMMIT,
                zone: CtZone::Field(Subfield { field: zone, ofs: 0, n_bits: 16 }),
                table: ctx.first_table(ctx.ingress).saturating_add(*table),
                alg: 0,
                actions: vec![Action::Nat(Nat { flags: 0, addrs: None, proto_min: 0, proto_max: 0 })],
            }));
        }
        OvnAction::CtClear => out.push(Action::CtClear),
        OvnAction::CtLb { mark, table, backends, hash_fields, flag } => {
            let recirc = ctx.first_table(ctx.ingress).saturating_add(*table);
            if backends.is_empty() {
                out.push(Action::Ct(Ct {
                    flags: 0,
                    zone: ctx.ct_zone(),
                    table: recirc,
                    alg: 0,
                    actions: vec![Action::Nat(Nat { flags: 0, addrs: None, proto_min: 0, proto_max: 0 })],
                }));
                return;
            }
            let desc = ct_lb_group(ctx, *mark, recirc, backends, hash_fields.as_deref(), *flag);
            out.push(Action::Group((ctx.group_id)(&desc)));
        }
        OvnAction::Clone(nested) => {
            let inner = encode(nested, ctx);
            out.push(Action::Clone(inner));
        }
        OvnAction::Nested { opcode, actions } => {
            let inner = encode(actions, ctx);
            out.push(controller(ctx, ControllerOp::new(*opcode, Payload::Nested(inner)), false, ctx.ctrl_meter));
        }
        OvnAction::GetMac { nd, port, ip } => {
            let args = [(port.sf, Field::REG15), (ip.sf, if *nd { Field::XXREG0 } else { Field::REG0 })];
            setup_args(&args, out);
            out.push(set_subfield(&whole(Field::ETH_DST), 0, None));
            out.push(resubmit(tables::MAC_BINDING));
            restore_args(&args, out);
        }
        OvnAction::PutMac { nd, port, ip, mac } => {
            let args = [
                (port.sf, Field::REG14),
                (ip.sf, if *nd { Field::XXREG0 } else { Field::REG0 }),
                (mac.sf, Field::ETH_SRC),
            ];
            setup_args(&args, out);
            let op = if *nd { Opcode::PutNd } else { Opcode::PutArp };
            out.push(controller(ctx, ControllerOp::new(op, Payload::Empty), false, ctx.ctrl_meter));
            restore_args(&args, out);
        }
        OvnAction::Log { name, verdict, severity, meter } => {
            let meter_id = meter.as_deref().map(|m| (ctx.meter_id)(m));
            let payload = Payload::Log {
                verdict: *verdict,
                severity: *severity,
                name: name.clone().unwrap_or_default().into_bytes(),
            };
            // A log without a meter has no meter (not the controller meter).
            out.push(controller(ctx, ControllerOp::new(Opcode::Log, payload), false, meter_id));
        }
        OvnAction::Result { kind, dst } => {
            let (table, bit) = kind.table_bit();
            result_lookup(dst, table, bit, out);
        }
        OvnAction::LookupMac { nd, dst, port, ip, mac } => {
            let args = [
                (port.sf, Field::REG14),
                (ip.sf, if *nd { Field::XXREG0 } else { Field::REG0 }),
                (mac.sf, Field::ETH_SRC),
            ];
            setup_args(&args, out);
            result_lookup(dst, tables::MAC_LOOKUP, flag_bit(flags::LOOKUP_MAC), out);
            restore_args(&args, out);
        }
        OvnAction::LookupMacIp { nd, dst, port, ip } => {
            let args = [(port.sf, Field::REG15), (ip.sf, if *nd { Field::XXREG0 } else { Field::REG0 })];
            setup_args(&args, out);
            out.push(Action::StackPush(whole(Field::ETH_DST)));
            result_lookup(dst, tables::MAC_BINDING, flag_bit(flags::LOOKUP_MAC), out);
            out.push(Action::StackPop(whole(Field::ETH_DST)));
            restore_args(&args, out);
        }
        OvnAction::GetFdb { dst, mac } => {
            let args = [(mac.sf, Field::ETH_DST)];
            setup_args(&args, out);
            out.push(set_subfield(&whole(Field::REG15), 0, None));
            out.push(resubmit(tables::GET_FDB));
            restore_args(&args, out);
            if dst.sf.field != Field::REG15 {
                out.push(Action::Move { src: whole(Field::REG15), dst: dst.sf });
            }
        }
        OvnAction::LookupFdb { dst, port, mac } => {
            let args = [(port.sf, Field::REG14), (mac.sf, Field::ETH_SRC)];
            setup_args(&args, out);
            let bit = flag_bit(flags::LOOKUP_FDB);
            out.push(set_subfield(&Subfield { field: Field::REG10, ofs: bit, n_bits: 1 }, 0, None));
            out.push(resubmit(tables::LOOKUP_FDB));
            restore_args(&args, out);
            out.push(Action::Move { src: Subfield { field: Field::REG10, ofs: bit, n_bits: 1 }, dst: dst.sf });
        }
        OvnAction::PutFdb { port, mac } => {
            let args = [(port.sf, Field::REG14), (mac.sf, Field::ETH_SRC)];
            setup_args(&args, out);
            out.push(controller(ctx, ControllerOp::new(Opcode::PutFdb, Payload::Empty), false, ctx.ctrl_meter));
            restore_args(&args, out);
        }
        OvnAction::HandleSvcCheck { port } => {
            let args = [(port.sf, Field::REG14)];
            setup_args(&args, out);
            out.push(controller(ctx, ControllerOp::new(Opcode::HandleSvcCheck, Payload::Empty), false, ctx.ctrl_meter));
            restore_args(&args, out);
        }
        OvnAction::BindVport { vport, parent } => {
            // Nothing when the virtual port is unknown, as 23.03 does.
            let Some(key) = (ctx.port_key)(vport) else { return };
            let args = [(parent.sf, Field::REG14)];
            setup_args(&args, out);
            let op = ControllerOp::new(Opcode::BindVport, Payload::Raw(key.to_be_bytes().to_vec()));
            out.push(controller(ctx, op, false, ctx.ctrl_meter));
            restore_args(&args, out);
        }
        OvnAction::CtSnatToVip => out.push(resubmit(tables::CT_SNAT_HAIRPIN)),
        OvnAction::PutNdRaOpts { dst, options } => {
            let mut payload = field_header(dst.sf.field);
            payload.extend_from_slice(&u32::from(dst.sf.ofs).to_be_bytes());
            payload.extend(dhcp::nd_ra_message(options));
            out.push(controller(
                ctx,
                ControllerOp::new(Opcode::PutNdRaOpts, Payload::Raw(payload)),
                true,
                ctx.ctrl_meter,
            ));
        }
        OvnAction::PutDhcpOpts { v6, dst, options } => {
            let dst_header = field_header(dst.sf.field);
            let dst_ofs = u32::from(dst.sf.ofs);
            let payload = if *v6 {
                let options = options.iter().map(|o| (o.def.code, dhcp::dhcpv6_value(o))).collect();
                Payload::PutDhcpv6Opts { dst_header, dst_ofs, options }
            } else {
                // offerip first (as the address, no TLV), then bootfile_name (67),
                // bootfile_name_alt (254) and next_server (253), then the rest in order.
                let find = |code: u16| options.iter().find(|o| o.def.code == code);
                let offer = find(0).map(dhcp::dhcpv4_value).unwrap_or_default();
                let offer_ip: [u8; 4] = offer.get(..4).and_then(|s| s.try_into().ok()).unwrap_or([0; 4]);
                let mut tlvs = Vec::new();
                for code in [67, 254, 253] {
                    if let Some(o) = find(code) {
                        tlvs.push((code as u8, dhcp::dhcpv4_value(o)));
                    }
                }
                for o in options.iter().filter(|o| ![0, 67, 254, 253].contains(&o.def.code)) {
                    tlvs.push((u8::try_from(o.def.code).unwrap_or(u8::MAX), dhcp::dhcpv4_value(o)));
                }
                Payload::PutDhcpOpts { dst_header, dst_ofs, offer_ip, options: tlvs }
            };
            let op = if *v6 { Opcode::PutDhcpv6Opts } else { Opcode::PutDhcpOpts };
            out.push(controller(ctx, ControllerOp::new(op, payload), true, ctx.ctrl_meter));
        }
        OvnAction::CheckPktLarger { dst, len } => out.push(Action::CheckPktLarger { pkt_len: *len, dst: dst.sf }),
        OvnAction::SetQueue(id) => out.push(Action::SetQueue(*id)),
        OvnAction::SetMeter { rate, burst } => {
            // "__string:" names describe the meter itself (23.03's extend table).
            let name = if *burst != 0 {
                format!(
                    "__string: uuid {} kbps burst stats bands=type=drop rate={rate} burst_size={burst}",
                    ctx.lflow_uuid
                )
            } else {
                format!("__string: uuid {} kbps stats bands=type=drop rate={rate}", ctx.lflow_uuid)
            };
            out.push(Action::Meter((ctx.meter_id)(&name)));
        }
        OvnAction::FwdGroup { liveness, ports } => {
            if ports.is_empty() {
                return;
            }
            let mut d = String::from("type=select,selection_method=dp_hash");
            for p in ports {
                let Some(key) = (ctx.port_key)(p) else { return };
                d.push_str(",bucket=");
                if *liveness {
                    let Some(ofport) = (ctx.tunnel_ofport)(p) else { return };
                    d.push_str(&format!("watch_port:{ofport},"));
                }
                // 23.03 prints the key in decimal after "0x"; kept for identical group text.
                d.push_str(&format!("load=0x{key}->NXM_NX_REG15[0..15],resubmit(,{})", ctx.output_table));
            }
            out.push(Action::Group((ctx.group_id)(&d)));
        }
        OvnAction::TriggerEvent { event, options } => {
            let mut payload = event.to_be_bytes().to_vec();
            for (code, v) in options {
                payload.extend_from_slice(&code.to_be_bytes());
                payload.extend_from_slice(&u16::try_from(v.len()).unwrap_or(u16::MAX).to_be_bytes());
                payload.extend_from_slice(v.as_bytes());
            }
            out.push(controller(ctx, ControllerOp::new(Opcode::Event, Payload::Raw(payload)), false, ctx.ctrl_meter));
        }
        OvnAction::FragMtu { icmp6, mtu } => {
            let (op, payload) = if *icmp6 {
                (Opcode::PutIcmp6FragMtu, mtu.to_be_bytes().to_vec())
            } else {
                (Opcode::PutIcmp4FragMtu, (*mtu as u16).to_be_bytes().to_vec())
            };
            out.push(controller(ctx, ControllerOp::new(op, Payload::Raw(payload)), true, ctx.ctrl_meter));
        }
        OvnAction::Sample { probability, collector_set, obs_domain, obs_point } => {
            // Nothing without a Flow_Sample_Collector_Set of that id, as 23.03 does.
            if !(ctx.collector_ids)(*collector_set) {
                return;
            }
            let cookie = ctx.lflow_uuid.get(..8).and_then(|h| u32::from_str_radix(h, 16).ok()).unwrap_or(0);
            out.push(Action::Sample(shared::openflow::actions::Sample {
                probability: *probability,
                collector_set_id: *collector_set,
                obs_domain_id: (u32::from(*obs_domain) << 24) | (ctx.dp_key & 0xff_ffff),
                obs_point_id: obs_point.unwrap_or(cookie),
                sampling_port: shared::openflow::actions::ports::NONE,
                direction: 0,
            }));
        }
        OvnAction::CommitEcmpNh { ipv6, proto } => {
            from_text(&ecmp_learn_text(true, *ipv6, *proto), out);
            from_text(&ecmp_learn_text(false, *ipv6, *proto), out);
        }
        OvnAction::CommitLbAff { vip, vip_port, backend, backend_port, proto, timeout } => {
            from_text(&lb_aff_learn_text(*vip, *vip_port, *backend, *backend_port, *proto, *timeout), out);
        }
        OvnAction::Push(f) => out.push(Action::StackPush(f.sf)),
        OvnAction::Pop(f) => out.push(Action::StackPop(f.sf)),
        OvnAction::DnsLookup { dst } => {
            let mut payload = field_header(dst.sf.field);
            payload.extend_from_slice(&u32::from(dst.sf.ofs).to_be_bytes());
            out.push(controller(
                ctx,
                ControllerOp::new(Opcode::DnsLookup, Payload::Raw(payload)),
                true,
                ctx.ctrl_meter,
            ));
        }
        OvnAction::Select { dst, members, table } => {
            let recirc = ctx.first_table(ctx.ingress).saturating_add(*table);
            let mut d = String::from("type=select,selection_method=dp_hash");
            if ctx.features.dp_hash_l4_sym {
                // l4_symmetric: the upper 32 bits of selection_method_param set to 1.
                d.push_str(",selection_method_param=0x100000000");
            }
            let name = dst.sf.field.name();
            let (lo, hi) = (dst.sf.ofs, dst.sf.ofs + dst.sf.n_bits.saturating_sub(1));
            for (i, (id, weight)) in members.iter().enumerate() {
                d.push_str(&format!(
                    ",bucket=bucket_id={i},weight:{weight},actions=load:{id}->{name}[{lo}..{hi}],resubmit(,{recirc})"
                ));
            }
            out.push(Action::Group((ctx.group_id)(&d)));
        }
        OvnAction::SimpleController(op) => {
            out.push(controller(ctx, ControllerOp::new(*op, Payload::Empty), false, ctx.ctrl_meter))
        }
    }
}

/// The select group of `ct_lb`/`ct_lb_mark`, as ovs-ofctl text (what 23.03 hands its group
/// table).
fn ct_lb_group(
    ctx: &EncodeCtx<'_>,
    mark: bool,
    recirc: u8,
    backends: &[(IpAddr, u16)],
    hash_fields: Option<&str>,
    flag: LbFlag,
) -> String {
    let zone_reg = if ctx.is_switch { 13 } else { 11 };
    let flag_reg = if mark { "ct_mark" } else { "ct_label" };
    let mut s = format!("type=select,selection_method={}", if hash_fields.is_some() { "hash" } else { "dp_hash" });
    if let Some(h) = hash_fields {
        s.push_str(&format!(",fields({h})"));
    }
    for (i, (ip, port)) in backends.iter().enumerate() {
        let addr = match (ip, port) {
            (IpAddr::V6(a), p) if *p != 0 => format!("[{a}]"),
            (a, _) => a.to_string(),
        };
        let port = if *port != 0 { format!(":{port}") } else { String::new() };
        s.push_str(&format!(
            ",bucket=bucket_id={i},weight:100,actions=ct(nat(dst={addr}{port}),commit,table={recirc},\
             zone=NXM_NX_REG{zone_reg}[0..15],exec(set_field:2/2->{flag_reg}"
        ));
        match flag {
            LbFlag::SkipSnat => s.push_str(&format!(",set_field:4/4->{flag_reg}")),
            LbFlag::ForceSnat => s.push_str(&format!(",set_field:8/8->{flag_reg}")),
            LbFlag::None => {}
        }
        s.push_str("))");
    }
    s
}

/// The fuzz target's body (replayed by a unit test): parsing arbitrary text never panics,
/// and whatever parses encodes without panicking.
#[doc(hidden)]
pub fn fuzz_one(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for (ingress, table) in [(true, 0), (false, 5), (true, tables::LOG_PIPELINE_LEN - 1)] {
        let options = OptionTables::ovn_23_03();
        let pctx = ParseCtx { ingress, table, n_tables: tables::LOG_PIPELINE_LEN, options: &options };
        if let Ok(p) = parse(text, pctx) {
            let mut g = |_: &str| 1;
            let mut m = |_: &str| 1;
            let mut ctx = EncodeCtx {
                ingress,
                is_switch: table == 0,
                snat_ct_zone_set: false,
                ctrl_meter: None,
                output_table: output_table(ingress),
                features: Features::OVS_3_1,
                port_key: &|_| Some(1),
                tunnel_ofport: &|_| Some(1),
                lflow_uuid: "00000000-0000-0000-0000-000000000000",
                dp_key: 1,
                collector_ids: &|_| true,
                group_id: &mut g,
                meter_id: &mut m,
            };
            let _ = encode(&p.actions, &mut ctx);
            let _ = p.prereqs_text();
        }
    }
}
