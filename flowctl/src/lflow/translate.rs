//! Logical_Flow rows to OpenFlow, as 23.03's `consider_logical_flow__` and
//! `add_matches_to_flow_table` (controller/lflow.c) do: for each local datapath of a flow,
//! its actions and match are compiled (templates expanded first), the matches get the
//! datapath's `metadata`, matches on a switch naming a port that is not related to this
//! chassis are dropped, and each remaining match becomes a flow in table 8 + table_id
//! (ingress) or 42 + table_id (egress), cookie = first 32 bits of the flow's UUID; a match
//! with conjunctions gets only its `conjunction()` actions, merged with other flows' on the
//! same match.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use shared::openflow::{Action, Field};
use shared::ovn::tables;
use shared::ovsdb::{Row, Uuid};

use super::actions::{self, dhcp::OptionTables, EncodeCtx, Features, ParseCtx, Parsed};
use super::cache::{hash_numbers, hash_of, Dep, Entry, Key, Recorder, Recording};
use super::context::{Datapath, DatapathLookups};
use super::expr::{self, lexer::expand_templates, Lookups};
use super::incremental::Changed;
use super::state::LflowState;
use super::LflowInput;
use crate::db::Db;
use crate::desired::{DesiredTable, Source};
use crate::flows::{DesiredFlow, DesiredGroup, DesiredMeter, FlowKey};
use crate::ofctrl::ids::IdTable;

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

    /// Everything of the row the translation reads.
    fn hash(&self) -> u64 {
        hash_of(&(
            self.ingress,
            self.table_id,
            self.priority,
            self.match_text,
            self.actions_text,
            self.io_port,
            self.controller_meter,
        ))
    }

    fn cookie(&self) -> u64 {
        u64::from(u32::from_be_bytes(self.uuid.as_bytes()[..4].try_into().unwrap_or([0; 4])))
    }
}

/// The Southbound facts that do not depend on the flow, gathered once.
struct Shared<'a> {
    input: &'a LflowInput<'a>,
    options: OptionTables,
    meters_by_name: HashMap<&'a str, &'a Row>,
    /// Template variables change every flow that uses one; rare enough to key all on them.
    template_hash: u64,
    /// Translate again even where the cached translation still holds (`recompute`).
    retranslate: bool,
}

/// Translates the Logical_Flows of the local datapaths into `desired`: every flow (`changed`
/// is `None`), or only those that `changed` names, reusing the cached translation of each
/// (flow, datapath) whose inputs did not change. Returns the groups and meters in use.
pub fn logical_flows(
    input: &LflowInput<'_>,
    ids: &mut LflowState,
    desired: &mut DesiredTable,
    changed: Option<Changed>,
) -> (BTreeMap<u32, DesiredGroup>, BTreeMap<u32, DesiredMeter>) {
    let sb = input.sb;
    let shared = Shared {
        input,
        options: OptionTables::ovn_23_03(),
        meters_by_name: sb.rows("Meter").filter_map(|(_, r)| Some((r.get_str("name")?, r))).collect(),
        template_hash: hash_of(&input.ctx.template_vars.iter().collect::<BTreeMap<_, _>>()),
        retranslate: std::mem::take(&mut ids.retranslate),
    };
    ids.cache.hits = 0;
    ids.cache.misses = 0;
    match changed {
        None => {
            let mut seen = HashSet::new();
            for (uuid, row) in sb.rows("Logical_Flow") {
                seen.insert(*uuid);
                consider(&shared, *uuid, Some(row), ids, desired);
            }
            for lflow in ids.cache.lflows().into_iter().filter(|l| !seen.contains(l)) {
                consider(&shared, lflow, None, ids, desired);
            }
        }
        Some(c) => {
            let mut todo = c.lflows;
            for name in &c.names {
                todo.extend(ids.cache.lflows_using(name));
            }
            for dp in &c.datapaths {
                todo.extend(ids.cache.lflows_on(dp));
            }
            for uuid in todo {
                consider(&shared, uuid, sb.row("Logical_Flow", &uuid), ids, desired);
            }
        }
    }
    groups_and_meters(&shared, ids)
}

/// Brings the entries of one logical flow (`None`: deleted) up to date.
fn consider(shared: &Shared<'_>, uuid: Uuid, row: Option<&Row>, ids: &mut LflowState, desired: &mut DesiredTable) {
    let ctx = shared.input.ctx;
    let dps = row.map(|r| ctx.flow_datapaths(r)).unwrap_or_default();
    for dp in ids.cache.datapaths_of(&uuid) {
        if !dps.contains(&dp) {
            drop_entry(ids, desired, (uuid, dp));
        }
    }
    let Some(row) = row.filter(|_| !dps.is_empty()) else { return };
    let Some(lflow) = LogicalFlow::from_row(uuid, row) else {
        ids.warn_once(uuid, "logical flow with invalid pipeline, table or priority");
        for dp in dps {
            drop_entry(ids, desired, (uuid, dp));
        }
        return;
    };
    let base_hash = lflow.hash();
    // Parsed at most once per flow, and only if some datapath needs a new translation.
    let mut parsed: Option<Option<Parsed>> = None;
    for dp_uuid in dps {
        let Some(dp) = ctx.datapaths.get(&dp_uuid) else { continue };
        let row_hash = hash_of(&(base_hash, dp.key, dp.is_switch, dp.snat_ct_zone_set, shared.template_hash));
        let key = (lflow.uuid, dp_uuid);
        if !shared.retranslate && still_valid(shared, dp, key, row_hash, ids) {
            ids.cache.hits += 1;
            continue;
        }
        ids.cache.misses += 1;
        let old = take_entry(ids, key);
        let parsed = parsed.get_or_insert_with(|| parse_actions(shared, &lflow, ids));
        let mut entry = match parsed {
            Some(p) => FlowCx { shared, lflow: &lflow, dp_uuid, dp }.translate(p, ids),
            // Cached empty, so that a bad flow is not parsed (and warned about) again.
            None => Entry::default(),
        };
        entry.row_hash = row_hash;
        // Kept until the flow or what it looked up changes.
        entry.flows.shrink_to_fit();
        entry.conj.shrink_to_fit();
        entry.deps.shrink_to_fit();
        put_entry(ids, desired, key, entry, old);
    }
}

/// Whether the cached translation of `key` still holds.
fn still_valid(shared: &Shared<'_>, dp: &Datapath, key: Key, row_hash: u64, ids: &mut LflowState) -> bool {
    let LflowState { groups, meters, conj, cache, .. } = ids;
    let Some(entry) = cache.get(key) else { return false };
    if entry.row_hash != row_hash {
        return false;
    }
    let lookups = shared.input.ctx.lookups(dp);
    let env = DepEnv { shared, dp, lookups: &lookups };
    if !entry.deps.iter().all(|(dep, value)| env.eval(dep, groups, meters) == *value) {
        return false;
    }
    entry.n_conjs == 0 || conj.assign(key.0, key.1, entry.n_conjs) == Some(entry.conj_start)
}

/// Caches a new translation of `key` and puts its difference from the `old` one (taken
/// out with [`take_entry`]) in the desired table.
fn put_entry(ids: &mut LflowState, desired: &mut DesiredTable, key: Key, mut entry: Entry, old: Option<Entry>) {
    let source = Source::Lflow(key.0, key.1);
    match &old {
        Some(o) => desired.replace(source, (&o.flows, &o.conj), (&mut entry.flows, &mut entry.conj)),
        None => desired.add(source, &entry.flows, &entry.conj),
    }
    for g in &entry.groups {
        *ids.group_refs.entry(g.clone()).or_default() += 1;
    }
    for m in &entry.meters {
        *ids.meter_refs.entry(m.clone()).or_default() += 1;
    }
    ids.cache.insert(key, entry);
}

/// Takes a translation out of the cache, releasing its conjunction ids and its uses of
/// groups and meters; its flows stay in the desired table until replaced or withdrawn.
fn take_entry(ids: &mut LflowState, key: Key) -> Option<Entry> {
    let entry = ids.cache.remove(key)?;
    ids.conj.release(key.0, key.1);
    for (refs, names) in [(&mut ids.group_refs, &entry.groups), (&mut ids.meter_refs, &entry.meters)] {
        for n in names {
            if let Some(c) = refs.get_mut(n) {
                *c = c.saturating_sub(1);
                if *c == 0 {
                    refs.remove(n);
                }
            }
        }
    }
    Some(entry)
}

/// Withdraws a translation: its flows, its conjunction ids, its uses of groups and meters.
fn drop_entry(ids: &mut LflowState, desired: &mut DesiredTable, key: Key) {
    if let Some(entry) = take_entry(ids, key) {
        desired.remove(Source::Lflow(key.0, key.1), &entry.flows, &entry.conj);
    }
}

/// The groups and meters the cached translations use; ids of the others are released.
fn groups_and_meters(
    shared: &Shared<'_>,
    ids: &mut LflowState,
) -> (BTreeMap<u32, DesiredGroup>, BTreeMap<u32, DesiredMeter>) {
    let used_groups: BTreeSet<String> = ids.group_refs.keys().cloned().collect();
    let used_meters: BTreeSet<String> = ids.meter_refs.keys().cloned().collect();
    ids.groups.retain(&used_groups);
    ids.meters.retain(&used_meters);
    let mut groups = BTreeMap::new();
    for desc in used_groups {
        if let Some(id) = ids.groups.assign(&desc) {
            groups.insert(id, DesiredGroup { id, spec: desc });
        }
    }
    let mut meters = BTreeMap::new();
    for name in used_meters {
        if let Some(id) = ids.meters.assign(&name) {
            if let Some(spec) = meter_spec(shared.input.sb, &name, &shared.meters_by_name) {
                meters.insert(id, DesiredMeter { id, name, spec });
            }
        }
    }
    (groups, meters)
}

/// Re-evaluates a recorded lookup, as the translation made it.
struct DepEnv<'a> {
    shared: &'a Shared<'a>,
    dp: &'a Datapath,
    lookups: &'a DatapathLookups<'a>,
}

impl DepEnv<'_> {
    fn eval(&self, dep: &Dep, groups: &mut IdTable, meters: &mut IdTable) -> u64 {
        let input = self.shared.input;
        let ctx = input.ctx;
        match dep {
            Dep::AddressSet(n) => hash_numbers(self.lookups.address_set(n)),
            Dep::PortGroup(n) => hash_of(&self.lookups.port_group(n)),
            Dep::MatchPort(n) => hash_of(&self.lookups.port_key(n)),
            Dep::Resident(n) => hash_of(&self.lookups.is_chassis_resident(n)),
            Dep::ActionPort(n) => hash_of(&self.dp.port_keys.get(n)),
            Dep::TunnelOfport(n) => hash_of(&tunnel_ofport(input, self.dp, n)),
            Dep::Collector(id) => hash_of(&input.collector_ids.contains(id)),
            Dep::Related(d, p) => hash_of(&ctx.related_keys.contains(&(*d, *p))),
            Dep::PortIds(n) => hash_of(&ctx.port_ids.get(n)),
            Dep::Group(desc) => hash_of(&groups.assign(desc)),
            Dep::Meter(name) => hash_of(&meters.assign(name)),
        }
    }
}

fn tunnel_ofport(input: &LflowInput<'_>, dp: &Datapath, port: &str) -> Option<u16> {
    let chassis = input.ctx.port_chassis.get(port).filter(|(d, _)| *d == dp.key)?;
    input.tunnel_ofports.get(&chassis.1).copied()
}

fn parse_actions(shared: &Shared<'_>, lflow: &LogicalFlow<'_>, ids: &mut LflowState) -> Option<Parsed> {
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
struct FlowCx<'a> {
    shared: &'a Shared<'a>,
    lflow: &'a LogicalFlow<'a>,
    dp_uuid: Uuid,
    dp: &'a Datapath,
}

impl FlowCx<'_> {
    /// Compiles and encodes, recording every lookup made.
    fn translate(&self, parsed: &Parsed, ids: &mut LflowState) -> Entry {
        let rec = Recorder::default();
        let mut entry = Entry::default();
        self.translate_into(parsed, ids, &rec, &mut entry);
        entry.deps = rec.take();
        entry
    }

    fn translate_into(&self, parsed: &Parsed, ids: &mut LflowState, rec: &Recorder, entry: &mut Entry) {
        let ctx = self.shared.input.ctx;
        let lflow = self.lflow;
        // A flow tagged with the port it is about matters only where that port is related.
        if let Some(port) = lflow.io_port {
            let port_ids = ctx.port_ids.get(port);
            rec.record(Dep::PortIds(port.to_string()), hash_of(&port_ids));
            let Some((_, port_key)) = port_ids else { return };
            let related = ctx.related_keys.contains(&(self.dp.key, *port_key));
            rec.record(Dep::Related(self.dp.key, *port_key), hash_of(&related));
            if !related {
                return;
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
        let recording = Recording { inner: &lookups, rec };
        let mut compiled = match expr::compile_with_prereqs(&match_text, prereqs, &recording) {
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
            entry.conj_start = start;
            entry.n_conjs = compiled.n_conjs;
        }
        let ofpacts = self.encode(parsed, ids, rec, entry);
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
                if port != 0 {
                    let related = ctx.related_keys.contains(&(self.dp.key, port));
                    rec.record(Dep::Related(self.dp.key, port), hash_of(&related));
                    if !related {
                        continue;
                    }
                }
            }
            if em.conjunctions.is_empty() {
                entry.flows.push(DesiredFlow::new(ptable, lflow.priority, em.m, lflow.cookie(), ofpacts.clone()));
            } else {
                // The expression compiler counts clauses from 1 as ovs-ofctl prints them; the
                // action holds them from 0 as on the wire.
                let conj: Vec<Action> = em
                    .conjunctions
                    .iter()
                    .filter_map(|c| {
                        let clause = u8::try_from(c.clause.checked_sub(1)?).ok()?;
                        Some(Action::Conjunction { id: c.id, clause, n_clauses: u8::try_from(c.n_clauses).ok()? })
                    })
                    .collect();
                entry.conj.push((Arc::new(FlowKey::new(ptable, lflow.priority, em.m)), Arc::from(conj)));
            }
        }
    }

    fn encode(&self, parsed: &Parsed, ids: &mut LflowState, rec: &Recorder, entry: &mut Entry) -> Vec<Action> {
        let input = self.shared.input;
        let lflow = self.lflow;
        let dp = self.dp;
        let (groups, meters) = (&mut ids.groups, &mut ids.meters);
        let (used_groups, used_meters) = (RefCell::new(Vec::new()), RefCell::new(Vec::new()));
        let mut meter_id = |name: &str| -> u32 {
            let id = meters.assign(name);
            rec.record(Dep::Meter(name.to_string()), hash_of(&id));
            let Some(id) = id else {
                tracing::warn!("Unable to assign id for meter: {name}");
                return 0;
            };
            used_meters.borrow_mut().push(name.to_string());
            id
        };
        let ctrl_meter = lflow.controller_meter.map(&mut meter_id).filter(|id| *id != 0);
        let mut group_id = |desc: &str| -> u32 {
            let id = groups.assign(desc);
            rec.record(Dep::Group(desc.to_string()), hash_of(&id));
            let Some(id) = id else {
                tracing::warn!("Unable to assign id for group: {desc}");
                return 0;
            };
            used_groups.borrow_mut().push(desc.to_string());
            id
        };
        let port_key = |p: &str| {
            let r = dp.port_keys.get(p).copied();
            rec.record(Dep::ActionPort(p.to_string()), hash_of(&r.as_ref()));
            r
        };
        let tunnel_ofport = |p: &str| {
            let r = tunnel_ofport(input, dp, p);
            rec.record(Dep::TunnelOfport(p.to_string()), hash_of(&r));
            r
        };
        let collector_ids = |id: u32| {
            let r = input.collector_ids.contains(&id);
            rec.record(Dep::Collector(id), hash_of(&r));
            r
        };
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
        let ofpacts = actions::encode(&parsed.actions, &mut ectx);
        entry.groups = used_groups.into_inner();
        entry.meters = used_meters.into_inner();
        ofpacts
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
