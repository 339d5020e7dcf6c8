//! Logical_Flow rows to OpenFlow, as 23.03's `consider_logical_flow__` and
//! `add_matches_to_flow_table` (controller/lflow.c) do: for each local datapath of a flow,
//! its actions and match are compiled (templates expanded first), the matches get the
//! datapath's `metadata`, matches on a switch naming a port that is not related to this
//! chassis are dropped, and each remaining match becomes a flow in table 8 + table_id
//! (ingress) or 42 + table_id (egress), cookie = first 32 bits of the flow's UUID; a match
//! with conjunctions gets only its `conjunction()` actions, merged with other flows' on the
//! same match.

use std::collections::{BTreeSet, HashMap};

use shared::openflow::{Action, Field, Match};
use shared::ovn::tables;
use shared::ovsdb::{Row, Uuid};

use super::actions::{self, dhcp::OptionTables, EncodeCtx, Features, ParseCtx, Parsed};
use super::context::Datapath;
use super::expr::{self, lexer::expand_templates};
use super::ids::LflowIds;
use super::{LflowInput, LflowOutput};
use crate::db::Db;
use crate::flows::{DesiredFlow, DesiredGroup, DesiredMeter};

/// One Logical_Flow's columns, as read from its row.
struct LogicalFlow<'a> {
    uuid: Uuid,
    ingress: bool,
    table_id: u8,
    priority: u16,
    match_text: &'a str,
    actions_text: &'a str,
    io_port: Option<&'a str>,
    controller_meter: Option<&'a str>,
}

impl<'a> LogicalFlow<'a> {
    fn from_row(uuid: Uuid, row: &'a Row) -> Option<LogicalFlow<'a>> {
        Some(LogicalFlow {
            uuid,
            ingress: row.get_str("pipeline")? == "ingress",
            table_id: u8::try_from(row.get_i64("table_id")?).ok().filter(|t| *t < tables::LOG_PIPELINE_LEN)?,
            priority: u16::try_from(row.get_i64("priority")?).ok()?,
            match_text: row.get_str("match")?,
            actions_text: row.get_str("actions")?,
            io_port: row.get_map_str("tags", "in_out_port"),
            controller_meter: row.get_str("controller_meter").filter(|m| !m.is_empty()),
        })
    }

    fn cookie(&self) -> u64 {
        u64::from(u32::from_be_bytes(self.uuid.as_bytes()[..4].try_into().unwrap_or([0; 4])))
    }
}

/// Flows being built, keyed as the switch keys them, so that conjunction actions of several
/// logical flows on one match end up on one flow (23.03's `ofctrl_add_or_append_flow`).
#[derive(Default)]
struct FlowTable {
    flows: Vec<DesiredFlow>,
    conj_only: HashMap<(u8, u16, Match), usize>,
}

impl FlowTable {
    fn add(&mut self, flow: DesiredFlow) {
        self.flows.push(flow);
    }

    fn add_or_append_conj(&mut self, table: u8, priority: u16, m: Match, conj: Vec<Action>) {
        match self.conj_only.get(&(table, priority, m.clone())) {
            Some(i) => {
                if let Some(f) = self.flows.get_mut(*i) {
                    for a in conj {
                        if !f.actions.contains(&a) {
                            f.actions.push(a);
                        }
                    }
                }
            }
            None => {
                self.conj_only.insert((table, priority, m.clone()), self.flows.len());
                self.flows.push(DesiredFlow { table, priority, m, cookie: 0, actions: conj });
            }
        }
    }
}

/// The Southbound facts that do not depend on the flow, gathered once.
struct Shared<'a> {
    input: &'a LflowInput<'a>,
    options: OptionTables,
    meters_by_name: HashMap<&'a str, &'a Row>,
}

/// Translates every Logical_Flow of the local datapaths.
pub fn logical_flows(input: &LflowInput<'_>, ids: &mut LflowIds, out: &mut LflowOutput) {
    let sb = input.sb;
    let shared = Shared {
        input,
        options: OptionTables::ovn_23_03(),
        meters_by_name: sb.rows("Meter").filter_map(|(_, r)| Some((r.get_str("name")?, r))).collect(),
    };
    let mut table = FlowTable::default();
    let mut used_groups = BTreeSet::new();
    let mut used_meters = BTreeSet::new();
    ids.conj.begin();
    for (uuid, row) in sb.rows("Logical_Flow") {
        let dps = input.ctx.flow_datapaths(row);
        if dps.is_empty() {
            continue;
        }
        let Some(lflow) = LogicalFlow::from_row(*uuid, row) else {
            ids.warn_once(*uuid, "logical flow with invalid pipeline, table or priority");
            continue;
        };
        let Some(parsed) = parse_actions(&shared, &lflow, ids) else { continue };
        for dp_uuid in dps {
            let Some(dp) = input.ctx.datapaths.get(&dp_uuid) else { continue };
            let mut cx = FlowCx {
                shared: &shared,
                lflow: &lflow,
                dp_uuid,
                dp,
                used_groups: &mut used_groups,
                used_meters: &mut used_meters,
            };
            cx.translate(&parsed, ids, out, &mut table);
        }
    }
    ids.conj.end();
    ids.groups.retain(&used_groups);
    ids.meters.retain(&used_meters);
    out.flows.extend(table.flows);
}

fn parse_actions(shared: &Shared<'_>, lflow: &LogicalFlow<'_>, ids: &mut LflowIds) -> Option<Parsed> {
    let ctx = ParseCtx {
        ingress: lflow.ingress,
        table: lflow.table_id,
        n_tables: tables::LOG_PIPELINE_LEN,
        options: &shared.options,
    };
    let vars = &shared.input.ctx.template_vars;
    let (text, _) = expand_templates(lflow.actions_text, &|n| vars.get(n).cloned());
    match actions::parse(&text, ctx) {
        Ok(p) => Some(p),
        Err(e) => {
            ids.warn_once(lflow.uuid, &format!("error parsing actions \"{}\": {e}", lflow.actions_text));
            None
        }
    }
}

/// One logical flow on one local datapath.
struct FlowCx<'a, 'b> {
    shared: &'a Shared<'a>,
    lflow: &'a LogicalFlow<'a>,
    dp_uuid: Uuid,
    dp: &'a Datapath,
    used_groups: &'b mut BTreeSet<String>,
    used_meters: &'b mut BTreeSet<String>,
}

impl FlowCx<'_, '_> {
    fn translate(&mut self, parsed: &Parsed, ids: &mut LflowIds, out: &mut LflowOutput, table: &mut FlowTable) {
        let ctx = self.shared.input.ctx;
        let lflow = self.lflow;
        // A flow tagged with the port it is about matters only where that port is related.
        if let Some(port) = lflow.io_port {
            match ctx.port_ids.get(port) {
                Some((_, port_key)) if ctx.related_keys.contains(&(self.dp.key, *port_key)) => {}
                _ => return,
            }
        }
        let prereqs = match parsed.prereqs_text().map(|p| expr::parse_prereqs(&p)).transpose() {
            Ok(p) => p,
            Err(e) => {
                ids.warn_once(lflow.uuid, &format!("error parsing action prerequisites: {e}"));
                return;
            }
        };
        let vars = &ctx.template_vars;
        let (match_text, _) = expand_templates(lflow.match_text, &|n| vars.get(n).cloned());
        let lookups = ctx.lookups(self.dp);
        let mut compiled = match expr::compile_with_prereqs(&match_text, prereqs, &lookups) {
            Ok(c) => c,
            Err(e) => {
                ids.warn_once(lflow.uuid, &format!("error parsing match \"{}\": {e}", lflow.match_text));
                return;
            }
        };
        if compiled.matches.is_empty() {
            return;
        }
        if compiled.n_conjs > 0 {
            let Some(start) = ids.conj.assign(lflow.uuid, self.dp_uuid, compiled.n_conjs) else {
                tracing::error!("32-bit conjunction ids exhausted!");
                return;
            };
            if let Err(e) = compiled.offset_conj_ids(start - 1) {
                ids.warn_once(lflow.uuid, &format!("conjunction ids: {e}"));
                return;
            }
        }
        let ofpacts = self.encode(parsed, ids, out);
        let ptable =
            if lflow.ingress { tables::LOG_INGRESS_PIPELINE } else { tables::LOG_EGRESS_PIPELINE } + lflow.table_id;
        let port_field = if lflow.ingress { Field::REG14 } else { Field::REG15 };
        for mut em in compiled.matches {
            if em.m.set_u128(Field::METADATA, u128::from(self.dp.key)).is_err() {
                continue;
            }
            if self.dp.is_switch {
                let port =
                    em.m.get(port_field).map_or(0, |(v, _)| v.iter().fold(0u32, |a, &b| (a << 8) | u32::from(b)));
                if port != 0 && !ctx.related_keys.contains(&(self.dp.key, port)) {
                    continue;
                }
            }
            if em.conjunctions.is_empty() {
                table.add(DesiredFlow {
                    table: ptable,
                    priority: lflow.priority,
                    m: em.m,
                    cookie: lflow.cookie(),
                    actions: ofpacts.clone(),
                });
            } else {
                // The expression compiler counts clauses from 1 as ovs-ofctl prints them; the
                // action holds them from 0 as on the wire.
                let conj = em
                    .conjunctions
                    .iter()
                    .filter_map(|c| {
                        let clause = u8::try_from(c.clause.checked_sub(1)?).ok()?;
                        Some(Action::Conjunction { id: c.id, clause, n_clauses: u8::try_from(c.n_clauses).ok()? })
                    })
                    .collect();
                table.add_or_append_conj(ptable, lflow.priority, em.m, conj);
            }
        }
    }

    fn encode(&mut self, parsed: &Parsed, ids: &mut LflowIds, out: &mut LflowOutput) -> Vec<Action> {
        let input = self.shared.input;
        let lflow = self.lflow;
        let dp = self.dp;
        let meters_by_name = &self.shared.meters_by_name;
        let (groups, meters) = (&mut ids.groups, &mut ids.meters);
        let (used_groups, used_meters) = (&mut *self.used_groups, &mut *self.used_meters);
        let (out_groups, out_meters) = (&mut out.groups, &mut out.meters);
        let mut meter_id = |name: &str| -> u32 {
            let Some(id) = meters.assign(name) else {
                tracing::warn!("Unable to assign id for meter: {name}");
                return 0;
            };
            used_meters.insert(name.to_string());
            if let Some(spec) = meter_spec(input.sb, name, meters_by_name) {
                out_meters.insert(id, DesiredMeter { id, name: name.to_string(), spec });
            }
            id
        };
        let ctrl_meter = lflow.controller_meter.map(&mut meter_id).filter(|id| *id != 0);
        let mut group_id = |desc: &str| -> u32 {
            let Some(id) = groups.assign(desc) else {
                tracing::warn!("Unable to assign id for group: {desc}");
                return 0;
            };
            used_groups.insert(desc.to_string());
            out_groups.insert(id, DesiredGroup { id, spec: desc.to_string() });
            id
        };
        let port_key = |p: &str| dp.port_keys.get(p).copied();
        let tunnel_ofport = |p: &str| {
            let chassis = input.ctx.port_chassis.get(p).filter(|(d, _)| *d == dp.key)?;
            input.tunnel_ofports.get(&chassis.1).copied()
        };
        let collector_ids = |id: u32| input.collector_ids.contains(&id);
        let uuid = lflow.uuid.to_string();
        let mut ectx = EncodeCtx {
            ingress: lflow.ingress,
            is_switch: dp.is_switch,
            snat_ct_zone_set: dp.snat_ct_zone_set,
            ctrl_meter,
            output_table: actions::output_table(lflow.ingress),
            features: Features::OVS_3_1,
            port_key: &port_key,
            tunnel_ofport: &tunnel_ofport,
            lflow_uuid: &uuid,
            dp_key: dp.key,
            collector_ids: &collector_ids,
            group_id: &mut group_id,
            meter_id: &mut meter_id,
        };
        actions::encode(&parsed.actions, &mut ectx)
    }
}

/// The ovs-ofctl text of a meter after `meter=N,`: from the Southbound Meter row of that
/// name (ofctrl.c `update_ovs_meter`), or the text a `set_meter` name carries after its
/// `__string: uuid <uuid> ` prefix. `None` when there is no such meter (23.03 installs none).
fn meter_spec(sb: &Db, name: &str, meters_by_name: &HashMap<&str, &Row>) -> Option<String> {
    if let Some(rest) = name.strip_prefix("__string: uuid ") {
        return rest.get(37..).map(|s| s.replace(' ', ","));
    }
    let meter = meters_by_name.get(name)?;
    let unit = if meter.get_str("unit") == Some("pktps") { "pktps" } else { "kbps" };
    let mut burst = false;
    let mut bands = Vec::new();
    for band in crate::db::uuid_set(meter, "bands").iter().filter_map(|u| sb.row("Meter_Band", u)) {
        let rate = band.get_i64("rate").unwrap_or(0);
        let burst_size = band.get_i64("burst_size").unwrap_or(0);
        burst |= burst_size != 0;
        bands.push(format!("type=drop,rate={rate},burst_size={burst_size}"));
    }
    let burst = if burst { "burst," } else { "" };
    Some(format!("{unit},{burst}stats,bands={}", bands.join(",")))
}
