//! flowctl's main loop: the local OVS database and the Southbound database feed their
//! replicas; after every change the loop recomputes what this chassis should look like in
//! both and sends the difference, one transaction per database at a time.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::child::{Event as LinkEvent, Link};
use shared::ovsdb::{ClientConfig, MonitorSpec, Operation, Remote, TlsConfig, Uuid};
use tokio::sync::mpsc;

use crate::binding;
use crate::bridge;
use crate::chassis;
use crate::config::{chassis_value, ChassisConfig};
use crate::coverage;
use crate::ctzone::{CtZones, EXTERNAL_ID_PREFIX};
use crate::db::{string_map, Db, DbId, TxnOutcome};
use crate::desired::{DesiredTable, Source};
use crate::flows::{DesiredGroup, DesiredMeter};
use crate::lflow::context::{SbContext, ThisChassis};
use crate::lflow::incremental::{self, LastInputs};
use crate::lflow::{self, state::LflowState, LflowInput};
use crate::monitor::{self, Interest};
use crate::ofctrl::{Ofctrl, OfctrlEvent, OfctrlHandle};
use crate::patch;
use crate::pinctrl_server::{self, PeerEvent, PinctrlServer};
use crate::{inject, stopwatch};
use crate::{physical, physical_input};

/// How long after start flowctl leaves unexpected patch ports alone.
const STARTED_RECENTLY: Duration = Duration::from_secs(10);

/// After a failed transaction, wait this long before the next one on that database.
const RETRY_AFTER_FAILURE: Duration = Duration::from_millis(500);

pub struct Flowctl {
    started: Instant,
    paused: bool,
    ovs: Db,
    sb: Option<Db>,
    epoch: u64,
    txn_tx: mpsc::UnboundedSender<TxnOutcome>,
    txn_rx: mpsc::UnboundedReceiver<TxnOutcome>,
    retry_at: BTreeMap<&'static str, Instant>,
    cfg: Option<ChassisConfig>,
    last_config_error: Option<String>,
    hwaddr: String,
    local_hostname: String,
    ct_zones: Option<CtZones>,
    bound: BTreeMap<String, Uuid>,
    /// The bindings and what they were computed from.
    bindings: Option<(BindingKey, binding::Bindings)>,
    local_datapaths: BTreeSet<Uuid>,
    lflow_state: LflowState,
    chassis_override: Option<String>,
    /// SSL material from the command line; the OVS database's SSL table overrides it.
    cli_tls: Option<TlsConfig>,
    pinctrl: Option<PinctrlServer>,
    peer_tx: mpsc::Sender<PeerEvent>,
    peer_rx: mpsc::Receiver<PeerEvent>,
    /// The flow installer on the integration bridge: (bridge name, handle, events).
    ofctrl: Option<(String, OfctrlHandle, mpsc::UnboundedReceiver<OfctrlEvent>)>,
    /// tun_metadata index of OVN's Geneve option, once the installer learned it.
    geneve: Option<u8>,
    /// Generation of the last desired state handed to the installer, and of the last one
    /// it reported installed.
    generation: u64,
    installed_generation: u64,
    /// The desired table, kept between computations.
    desired: DesiredTable,
    /// The installer has the desired table (deltas may follow); false for a new installer.
    installer_told: bool,
    last_groups_meters: (BTreeMap<u32, DesiredGroup>, BTreeMap<u32, DesiredMeter>),
    /// What the physical flows were last computed from.
    last_physical: Option<LastPhysical>,
    /// What the last flow computation was made from: nothing to compute while it holds.
    last_flow_inputs: Option<FlowInputs>,
    bindings_serial: u64,
    /// What the zones were last updated from, and whether br-int's ids need them again.
    zone_input: Option<(u64, bool)>,
    zones_changed: bool,
    /// The ct-zone ids br-int should have, as the zones last stood.
    zone_ids_wanted: Option<BTreeMap<String, String>>,
    /// br-int's interfaces by iface-id, and the OVS revision and bridge they were read at.
    ifaces: Option<(IfacesKey, BTreeMap<String, binding::LocalIface>)>,
    /// Patch ports were in order for these inputs.
    patch_idle: Option<PatchKey>,
    conditions_for: Option<(Interest, BTreeMap<&'static str, Vec<shared::ovsdb::Condition>>)>,
    /// The inputs of the last plan, if it had nothing to write.
    idle_plan: Option<PlanKey>,
    /// pinctrl's state, section by section.
    pinctrl_state: pinctrl_server::StateBuilder,
    /// The Southbound nb_cfg each generation reflects; what is reported back once installed.
    generation_nb_cfg: BTreeMap<u64, i64>,
    installed_nb_cfg: Option<i64>,
    /// Southbound monitor conditions last requested, per conditional table.
    sb_conditions: BTreeMap<&'static str, Vec<shared::ovsdb::Condition>>,
    /// When the transaction in flight on each database was sent (`stopwatch/show`).
    txn_started: BTreeMap<&'static str, Instant>,
}

/// The Southbound tables the physical flows are made of (with the OVS database, the chassis
/// settings, the ct zones and the local datapaths).
const PHYSICAL_TABLES: &[&str] =
    &["Port_Binding", "Datapath_Binding", "Multicast_Group", "Chassis", "Encap", "HA_Chassis_Group", "HA_Chassis"];

#[derive(Debug, PartialEq)]
struct PhysicalKey {
    ovs: (u64, u64),
    sb_epoch: u64,
    zones: BTreeMap<String, u16>,
    geneve: u8,
    cfg: ChassisConfig,
    local_dps: BTreeSet<Uuid>,
}

/// The last physical computation: what it was made from and the facts the translator takes
/// from its input.
struct LastPhysical {
    key: PhysicalKey,
    iface_ids: BTreeSet<String>,
    tunnel_ofports: BTreeMap<String, u16>,
}

type IfacesKey = (u64, u64, Uuid);

#[derive(Debug, PartialEq)]
struct PatchKey {
    ovs: (u64, u64),
    sb: (u64, Vec<u64>),
    mappings: BTreeMap<String, String>,
    local_dps: BTreeSet<Uuid>,
    chassis: Uuid,
    keep_stale: bool,
}

#[derive(Debug, PartialEq)]
struct PlanKey {
    ovs: (u64, u64, bool),
    sb: Option<(u64, u64, bool)>,
    retry: Vec<&'static str>,
    installed: (Option<i64>, u64, u64, Option<u8>),
    started_recently: bool,
}

/// What [`binding::Bindings`] are computed from.
type BindingKey = ((u64, Vec<u64>), (u64, u64), Uuid, ChassisConfig);

fn db_key(id: DbId) -> &'static str {
    match id {
        DbId::Ovs => "ovs",
        DbId::Sb => "sb",
    }
}

const OVS_TABLES: &[&str] = &[bridge::OPEN_VSWITCH, "Bridge", "Port", "Interface"];

fn ovs_monitor() -> MonitorSpec {
    MonitorSpec::new()
        .table_columns(bridge::OPEN_VSWITCH, &["external_ids", "iface_types", "bridges", "other_config", "ssl"])
        .table_columns("SSL", &["private_key", "certificate", "ca_cert", "bootstrap_ca_cert"])
        .table_columns("Bridge", &["name", "ports", "fail_mode", "other_config", "external_ids", "datapath_type"])
        .table_columns("Port", &["name", "interfaces", "external_ids"])
        .table_columns("Interface", &["name", "type", "options", "external_ids", "ofport"])
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl Flowctl {
    /// `chassis_override` is `-n`, or else the `system-id-override` file, as in 23.03.
    pub fn new(ovs_remote: &str, chassis_override: Option<String>, tls: Option<TlsConfig>) -> Result<Flowctl, String> {
        let remotes = Remote::parse_list(ovs_remote).map_err(|e| format!("{ovs_remote}: {e}"))?;
        let mut config = ClientConfig::new(remotes, "Open_vSwitch", ovs_monitor());
        // A local unix socket needs no probes, as in ovn-controller.
        config.probe_interval = None;
        config.tls = tls.clone();
        let (txn_tx, txn_rx) = mpsc::unbounded_channel();
        let (peer_tx, peer_rx) = mpsc::channel(1024);
        Ok(Flowctl {
            started: Instant::now(),
            paused: false,
            ovs: Db::start(DbId::Ovs, config, ovs_remote.to_string(), 1),
            sb: None,
            epoch: 1,
            txn_tx,
            txn_rx,
            retry_at: BTreeMap::new(),
            cfg: None,
            last_config_error: None,
            hwaddr: bridge::random_hwaddr(),
            local_hostname: hostname(),
            ct_zones: None,
            bound: BTreeMap::new(),
            bindings: None,
            local_datapaths: BTreeSet::new(),
            lflow_state: LflowState::default(),
            sb_conditions: BTreeMap::new(),
            txn_started: BTreeMap::new(),
            chassis_override,
            cli_tls: tls,
            pinctrl: None,
            ofctrl: None,
            geneve: None,
            generation: 0,
            installed_generation: 0,
            desired: DesiredTable::default(),
            installer_told: false,
            last_groups_meters: Default::default(),
            last_physical: None,
            last_flow_inputs: None,
            pinctrl_state: pinctrl_server::StateBuilder::default(),
            idle_plan: None,
            bindings_serial: 0,
            zone_input: None,
            zones_changed: false,
            zone_ids_wanted: None,
            ifaces: None,
            patch_idle: None,
            conditions_for: None,
            generation_nb_cfg: BTreeMap::new(),
            installed_nb_cfg: None,
            peer_tx,
            peer_rx,
        })
    }

    /// Runs until the supervisor asks us to stop; returns the exit code.
    pub async fn run(mut self, mut link: Link) -> i32 {
        match pinctrl_server::listen(self.peer_tx.clone()) {
            Ok(server) => self.pinctrl = Some(server),
            // pinctrl then has no state and no way to write: loud, but flows still work.
            Err(e) => tracing::error!("cannot open the pinctrl channel: {e}"),
        }
        coverage::start();
        link.ready();
        let mut last_status = String::new();
        loop {
            let wake =
                self.retry_at.values().min().copied().unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                Some(ev) = self.ovs.events.recv() => { self.ovs.on_event(ev); }
                Some(ev) = async { match self.sb.as_mut() { Some(sb) => sb.events.recv().await, None => std::future::pending().await } } => {
                    if let Some(sb) = self.sb.as_mut() { sb.on_event(ev); }
                }
                Some(outcome) = self.txn_rx.recv() => self.on_txn(outcome),
                Some(ev) = async { match self.ofctrl.as_mut() { Some((_, _, rx)) => rx.recv().await, None => std::future::pending().await } } => {
                    self.on_ofctrl(ev);
                }
                Some(ev) = self.peer_rx.recv() => {
                    if let Some(p) = self.pinctrl.as_mut() { p.on_event(ev); }
                }
                event = link.next_event() => match event {
                    LinkEvent::Command { id, name, args } => {
                        let result = self.command(&name, &args).await;
                        link.reply(id, result);
                    }
                    LinkEvent::Shutdown { cleanup } => {
                        if cleanup {
                            self.leave_cluster().await;
                        }
                        tracing::info!("flowctl stopping after {} s (cleanup: {cleanup})", self.started.elapsed().as_secs());
                        return 0;
                    }
                },
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
            let now = Instant::now();
            self.retry_at.retain(|_, t| *t > now);
            if !self.paused {
                let start = Instant::now();
                self.run_once();
                stopwatch::record(stopwatch::FLOW_GENERATION, start);
                coverage::FLOW_GENERATION_RUN.inc();
            }
            let status = self.status_line();
            if status != last_status {
                link.status(status.clone());
                last_status = status;
            }
        }
    }

    fn on_ofctrl(&mut self, event: OfctrlEvent) {
        match event {
            OfctrlEvent::Connected => tracing::info!("connected to the integration bridge"),
            OfctrlEvent::Disconnected => tracing::warn!("integration bridge connection lost"),
            OfctrlEvent::Geneve(index) => {
                // No Geneve option (an old switch): tunnel metadata index 0, as 23.03 falls back.
                self.geneve = Some(index.and_then(|i| u8::try_from(i).ok()).unwrap_or(0));
            }
            OfctrlEvent::Installed { generation } => {
                self.installed_generation = self.installed_generation.max(generation);
                let done = self.generation_nb_cfg.range(..=generation).map(|(_, cfg)| *cfg).max();
                if done.is_some() {
                    self.installed_nb_cfg = done.max(self.installed_nb_cfg);
                }
                self.generation_nb_cfg.retain(|g, _| *g > generation);
                if generation >= self.generation {
                    self.lflow_state.installed();
                }
            }
        }
    }

    /// Hands the flow table for the current state to the installer, once the Southbound
    /// replica is complete for the current monitor conditions (a partial table would make the
    /// installer delete flows that are still needed: the restart dip 23.03 suffers from).
    fn update_flows(&mut self, cfg: &ChassisConfig, nb_cfg: Option<i64>) {
        let (Some(sb), Some(geneve)) = (self.sb.as_ref(), self.geneve) else { return };
        if !sb.synced || sb.cond_acked < sb.cond_requested {
            return;
        }
        if bridge::bridge_by_name(&self.ovs, &cfg.bridge).is_none() {
            return;
        }
        let zones = self.ct_zones.as_ref().map(CtZones::map).unwrap_or_default();
        let inputs = FlowInputs {
            ovs: (self.ovs.epoch, self.ovs.revision),
            sb: (sb.epoch, sb.revision),
            local_datapaths: self.local_datapaths.clone(),
            zones: zones.clone(),
            geneve,
            cfg: cfg.clone(),
        };
        if self.last_flow_inputs.as_ref() != Some(&inputs) {
            self.compute_flows(cfg, zones, geneve);
            self.last_flow_inputs = Some(inputs);
        }
        self.note_nb_cfg(nb_cfg);
    }

    /// Brings the desired table up to date and hands what changed to the installer.
    fn compute_flows(&mut self, cfg: &ChassisConfig, zones: BTreeMap<String, u16>, geneve: u8) {
        let Some(sb) = self.sb.as_mut() else { return };
        let touched = std::mem::take(&mut sb.touched);
        let sb = &*sb;
        let Some((_, br)) = bridge::bridge_by_name(&self.ovs, &cfg.bridge) else { return };
        // A new Southbound connection starts from an empty replica: rows deleted meanwhile
        // never show as changes, so only a full computation can drop their flows.
        let new_sb = self.lflow_state.last.as_ref().is_some_and(|l| l.sb_epoch != sb.epoch);
        let full = std::mem::take(&mut self.lflow_state.full_next) || new_sb;

        // Physical flows: computed again only when what they are made of moved.
        let physical_key = PhysicalKey {
            ovs: (self.ovs.epoch, self.ovs.revision),
            sb_epoch: sb.epoch,
            zones: zones.clone(),
            geneve,
            cfg: cfg.clone(),
            local_dps: self.local_datapaths.clone(),
        };
        let physical_due = full
            || PHYSICAL_TABLES.iter().any(|t| touched.contains_key(*t))
            || self.last_physical.as_ref().is_none_or(|l| l.key != physical_key);
        if physical_due {
            let input = physical_input::build(&self.ovs, sb, cfg, br, &self.local_datapaths, zones, geneve);
            let mut tunnel_ofports = BTreeMap::new();
            for t in &input.tunnels {
                tunnel_ofports.entry(t.chassis_id.clone()).or_insert(t.ofport);
            }
            let iface_ids = input.vifs.keys().cloned().collect();
            self.desired.replace_builder(Source::Physical, physical::compute(&input));
            self.last_physical = Some(LastPhysical { key: physical_key, iface_ids, tunnel_ofports });
        }
        let Some(physical) = self.last_physical.as_ref() else { return };

        let chassis = chassis::by_name(sb, "Chassis", &cfg.chassis_id).map(|(u, _)| u);
        let facts = LastInputs {
            sb_epoch: sb.epoch,
            local_dps: self.local_datapaths.clone(),
            chassis,
            chassis_name: cfg.chassis_id.clone(),
            iface_ids: physical.iface_ids.clone(),
            tunnel_ofports: physical.tunnel_ofports.clone(),
        };
        let here = ThisChassis { uuid: chassis, name: &cfg.chassis_id, iface_ids: &facts.iface_ids };
        let last = self.lflow_state.last.take().filter(|_| !full);
        // The context is updated in place unless what relatedness is judged by moved.
        let same_base = last.as_ref().is_some_and(|l| {
            (&l.local_dps, l.chassis, &l.chassis_name, &l.iface_ids)
                == (&facts.local_dps, facts.chassis, &facts.chassis_name, &facts.iface_ids)
        });
        let prev_ctx = self.lflow_state.ctx.take();
        let (ctx, change) =
            SbContext::update(prev_ctx, sb, &self.local_datapaths, &here, same_base.then_some(&touched));
        let lflow_input = LflowInput {
            sb,
            ctx: &ctx,
            chassis,
            chassis_name: &cfg.chassis_id,
            tunnel_ofports: &facts.tunnel_ofports,
            collector_ids: &BTreeSet::new(),
        };
        let changed =
            last.as_ref().and_then(|l| incremental::changed(l, &change, &lflow_input, touched.get("Logical_Flow")));
        drop(change);
        let gm = lflow::compute(&lflow_input, &mut self.lflow_state, &mut self.desired, changed, &touched);
        self.lflow_state.ctx = Some(ctx);
        self.lflow_state.last = Some(facts);
        coverage::LFLOW_RUN.inc();
        coverage::LFLOW_CACHE_HIT.add(self.lflow_state.cache.hits);
        coverage::LFLOW_CACHE_MISS.add(self.lflow_state.cache.misses);

        let flows = self.desired.take_changes();
        let groups_meters = (gm.groups, gm.meters);
        if flows.is_empty() && self.installer_told && self.last_groups_meters == groups_meters {
            return;
        }
        self.generation += 1;
        if let Some((_, handle, _)) = &self.ofctrl {
            let (groups, meters) = groups_meters.clone();
            if self.installer_told {
                handle.apply_delta(flows, groups, meters, self.generation);
            } else {
                handle.set_desired(Arc::new(self.desired.snapshot(groups, meters)), self.generation);
                self.installer_told = true;
            }
        }
        self.last_groups_meters = groups_meters;
    }

    /// Reports `nb_cfg` once the table computed for it is installed.
    fn note_nb_cfg(&mut self, nb_cfg: Option<i64>) {
        if let Some(nb_cfg) = nb_cfg {
            if self.installed_generation >= self.generation {
                // Nothing new to install: this configuration is already in the switch.
                self.installed_nb_cfg = Some(nb_cfg).max(self.installed_nb_cfg);
            } else {
                let slot = self.generation_nb_cfg.entry(self.generation).or_insert(nb_cfg);
                *slot = (*slot).max(nb_cfg);
            }
        }
    }

    /// Starts the installer on the integration bridge (again, if the bridge changed).
    fn ensure_ofctrl(&mut self, cfg: &ChassisConfig) {
        if self.ofctrl.as_ref().is_some_and(|(b, _, _)| *b == cfg.bridge) {
            return;
        }
        let probe = (cfg.openflow_probe_interval_s > 0).then(|| Duration::from_secs(cfg.openflow_probe_interval_s));
        let (handle, events) = Ofctrl::start(&cfg.bridge, probe);
        self.ofctrl = Some((cfg.bridge.clone(), handle, events));
        self.geneve = None;
        self.installer_told = false;
        self.last_flow_inputs = None;
    }

    fn on_txn(&mut self, outcome: TxnOutcome) {
        let db = match outcome.db {
            DbId::Ovs => Some(&mut self.ovs),
            DbId::Sb => self.sb.as_mut(),
        };
        let Some(db) = db.filter(|d| d.epoch == outcome.epoch) else { return };
        db.txn_in_flight = false;
        if let Some(start) = self.txn_started.remove(db_key(outcome.db)) {
            let name = if outcome.db == DbId::Sb { stopwatch::SB_TXN } else { stopwatch::OVS_TXN };
            stopwatch::record(name, start);
        }
        if outcome.result.is_err() {
            coverage::TXN_ERROR.inc();
        }
        if outcome.db == DbId::Sb {
            if let Some(p) = self.pinctrl.as_mut() {
                p.batch_done(outcome.result.is_ok());
            }
        }
        if let Err(e) = outcome.result {
            tracing::warn!("{:?} transaction failed: {e}", outcome.db);
            self.retry_at.insert(db_key(outcome.db), Instant::now() + RETRY_AFTER_FAILURE);
        }
    }

    fn submit(&mut self, id: DbId, ops: Vec<Operation>) {
        if ops.is_empty() || self.retry_at.contains_key(db_key(id)) {
            return;
        }
        let db = match id {
            DbId::Ovs => Some(&mut self.ovs),
            DbId::Sb => self.sb.as_mut(),
        };
        if let Some(db) = db {
            if db.submit(ops, &self.txn_tx) {
                self.txn_started.insert(db_key(id), Instant::now());
                if id == DbId::Sb { &coverage::SB_TXN } else { &coverage::OVS_TXN }.inc();
            }
        }
    }

    fn status_line(&self) -> String {
        let sb = match &self.sb {
            Some(sb) if sb.connected => "SB connected",
            Some(_) => "SB connecting",
            None => "SB not configured",
        };
        let pinctrl = match &self.pinctrl {
            Some(p) if p.connected() > 0 => format!("pinctrl connected, {} intents queued", p.ledger.queued()),
            Some(_) => "pinctrl not connected".to_string(),
            None => "no pinctrl channel".to_string(),
        };
        format!("{}, {} local ports, {pinctrl}", sb, self.bound.len())
    }

    /// Everything planning reads besides its own state: while it holds and the last plan had
    /// nothing to write, planning again would find nothing either (events from pinctrl, echo
    /// replies and idle wake-ups then cost nothing).
    fn plan_key(&self) -> PlanKey {
        PlanKey {
            ovs: (self.ovs.epoch, self.ovs.events_applied, self.ovs.txn_in_flight),
            sb: self.sb.as_ref().map(|s| (s.epoch, s.events_applied, s.txn_in_flight)),
            retry: self.retry_at.keys().copied().collect(),
            installed: (self.installed_nb_cfg, self.generation, self.installed_generation, self.geneve),
            started_recently: self.started.elapsed() < STARTED_RECENTLY,
        }
    }

    /// One pass: bring the OVS and SB databases to what they should be.
    fn run_once(&mut self) {
        let (mut ovs_ops, mut sb_ops) = (Vec::new(), Vec::new());
        if self.idle_plan.as_ref() != Some(&self.plan_key()) {
            let reported = self.installed_nb_cfg;
            (ovs_ops, sb_ops) = self.plan();
            if self.installed_nb_cfg != reported && sb_ops.is_empty() {
                // Planning found this configuration already installed: plan again, so that it
                // is reported now rather than at the next database event. The second plan
                // supersedes the first (planning is idempotent; only the report differs).
                (ovs_ops, sb_ops) = self.plan();
            }
            // The key after planning: planning itself moves some of it (a computation).
            let idle = ovs_ops.is_empty() && sb_ops.is_empty();
            self.idle_plan = idle.then(|| self.plan_key());
        }
        // pinctrl's intents ride in the next Southbound transaction, if one can go now.
        let sb_free = self.sb.as_ref().is_some_and(|s| s.synced && s.connected && !s.txn_in_flight)
            && !self.retry_at.contains_key(db_key(DbId::Sb));
        if let (true, Some(p), Some(sb)) = (sb_free, self.pinctrl.as_mut(), self.sb.as_ref()) {
            let intent_ops = p.batch_ops(sb, now_ms());
            if intent_ops.is_empty() && sb_ops.is_empty() {
                // Nothing to write: every intent in the batch was already true (or moot).
                p.batch_done(true);
            } else {
                sb_ops.extend(intent_ops);
            }
        }
        self.submit(DbId::Sb, sb_ops);
        self.submit(DbId::Ovs, ovs_ops);
    }

    /// The configuration in the OVS database, or the operations to create br-int first.
    fn read_config(&mut self) -> Option<Result<ChassisConfig, Vec<Operation>>> {
        if !self.ovs.synced {
            return None;
        }
        let (root_uuid, root) = bridge::root(&self.ovs)?;
        let ids = string_map(root, "external_ids");
        let iface_types: Vec<String> =
            root.get_set("iface_types").filter_map(|a| a.as_str().map(String::from)).collect();
        let system_id = self.chassis_override.clone().or_else(|| ids.get("system-id").cloned()).unwrap_or_default();
        let br_name = chassis_value(&ids, &system_id, "ovn-bridge").unwrap_or("br-int").to_string();
        let Some((_, br)) = bridge::bridge_by_name(&self.ovs, &br_name) else {
            if !self.ovs.txn_in_flight {
                tracing::info!("creating integration bridge {br_name}");
            }
            return Some(Err(bridge::create_bridge(root_uuid, &br_name, &self.hwaddr)));
        };
        let overridden = self.chassis_override.as_deref();
        match ChassisConfig::from_ovs(&ids, &iface_types, br.get_str("datapath_type"), overridden, &self.local_hostname)
        {
            Ok(cfg) => {
                self.last_config_error = None;
                Some(Ok(cfg))
            }
            Err(e) => {
                if self.last_config_error.as_deref() != Some(&e.to_string()) {
                    tracing::info!("{e}");
                    self.last_config_error = Some(e.to_string());
                }
                None
            }
        }
    }

    fn plan(&mut self) -> (Vec<Operation>, Vec<Operation>) {
        let cfg = match self.read_config() {
            None => return (Vec::new(), Vec::new()),
            Some(Err(create_bridge)) => return (create_bridge, Vec::new()),
            Some(Ok(cfg)) => cfg,
        };
        self.ensure_sb(&cfg);
        self.cfg = Some(cfg.clone());
        let Some((br_uuid, br)) = bridge::bridge_by_name(&self.ovs, &cfg.bridge) else {
            return (Vec::new(), Vec::new());
        };
        let ids = bridge::root(&self.ovs).map(|(_, r)| string_map(r, "external_ids")).unwrap_or_default();
        let br_ids = string_map(br, "external_ids");
        let mut ovs_ops: Vec<Operation> = bridge::assert_fail_mode(br_uuid, br).into_iter().collect();
        let zones = self.ct_zones.get_or_insert_with(|| CtZones::restore(&br_ids));
        let Some(sb) = self.sb.as_ref().filter(|sb| sb.synced) else { return (ovs_ops, Vec::new()) };

        // Southbound writes are planned only when one can be sent: planning from a stale copy
        // while disconnected (or while a transaction is out) would only repeat itself.
        let sb_writable = sb.connected && !sb.txn_in_flight && !self.retry_at.contains_key(db_key(DbId::Sb));
        let mut sb_ops = if sb_writable { chassis::sync_chassis(sb, &cfg) } else { Vec::new() };
        let chassis_uuid = chassis::by_name(sb, "Chassis", &cfg.chassis_id).map(|(u, _)| u);
        let ifaces_key = (self.ovs.epoch, self.ovs.revision, br_uuid);
        if self.ifaces.as_ref().is_none_or(|(k, _)| *k != ifaces_key) {
            self.ifaces = Some((ifaces_key, binding::local_ifaces(&self.ovs, br)));
        }
        let ifaces = self.ifaces.as_ref().map(|(_, i)| i.clone()).unwrap_or_default();
        if let Some(chassis_uuid) = chassis_uuid {
            // Walks every port binding: only when one of its inputs moved.
            let key = (sb.revisions(binding::TABLES), (self.ovs.epoch, self.ovs.revision), chassis_uuid, cfg.clone());
            if self.bindings.as_ref().is_none_or(|(k, _)| *k != key) {
                self.bindings = Some((key, binding::Bindings::compute(sb, &ifaces, chassis_uuid, &cfg)));
                self.bindings_serial += 1;
            }
            let Some((_, bindings)) = self.bindings.as_ref() else { return (ovs_ops, sb_ops) };
            if sb_writable {
                sb_ops.extend(binding::sync_claims(sb, bindings, chassis_uuid));
            }
            let wanted = bindings.wanted.clone();
            self.local_datapaths = bindings.local_datapaths.clone();
            for (lport, iface) in &ifaces {
                // An interface whose binding is ours in the database is installed.
                let ours = wanted
                    .get(lport)
                    .and_then(|u| sb.row("Port_Binding", u))
                    .is_some_and(|pb| pb.get_uuid("chassis") == Some(chassis_uuid));
                let Some(row) = self.ovs.row("Interface", &iface.iface) else { continue };
                let installed = row.get_map_str("external_ids", "ovn-installed").is_some();
                let keys: BTreeMap<String, Option<String>> = if ours && !installed {
                    tracing::info!("Setting lport {lport} ovn-installed in OVS");
                    BTreeMap::from([
                        ("ovn-installed".into(), Some("true".into())),
                        ("ovn-installed-ts".into(), Some(now_ms().to_string())),
                    ])
                } else if !ours && installed {
                    tracing::info!("Removing iface {} ovn-installed in OVS", iface.name);
                    BTreeMap::from([("ovn-installed".into(), None), ("ovn-installed-ts".into(), None)])
                } else {
                    BTreeMap::new()
                };
                ovs_ops.extend(bridge::set_map_keys("Interface", iface.iface, "external_ids", &keys));
            }
            // Zones are freed only from a complete view: right after a start the conditional
            // monitor has not delivered every local datapath yet, and dropping their restored
            // zones would renumber live connections.
            let complete = sb.cond_acked >= sb.cond_requested && self.started.elapsed() >= STARTED_RECENTLY;
            let zone_input = (self.bindings_serial, complete);
            if self.zone_input != Some(zone_input) {
                let keys = &bindings.zone_keys;
                self.zones_changed |= if complete { zones.update(keys) } else { zones.add(keys) };
                self.zone_input = Some(zone_input);
            }
            self.bound = wanted;
        }
        // br-int's ct-zone ids are compared with what the zones want (formatted again only
        // when the zones change), and rewritten while they differ.
        if std::mem::take(&mut self.zones_changed) || self.zone_ids_wanted.is_none() {
            self.zone_ids_wanted =
                Some(zones.external_ids(&BTreeMap::new()).into_iter().filter_map(|(k, v)| Some((k, v?))).collect());
        }
        let zone_ids = br_ids.iter().filter(|(k, _)| k.starts_with(EXTERNAL_ID_PREFIX));
        let mut br_keys = if zone_ids.eq(self.zone_ids_wanted.iter().flatten()) {
            BTreeMap::new()
        } else {
            zones.external_ids(&br_ids)
        };
        // A configuration counts as seen only once our own Southbound writes for it (chassis,
        // claims) are done: flows computed before a claim lands are not its flows.
        let sb_settled = sb_writable && sb_ops.is_empty();
        // Report the configuration whose flows are installed, as 23.03 does.
        if sb_writable && sb_ops.is_empty() {
            if let Some(nb_cfg) = self.installed_nb_cfg {
                sb_ops.extend(chassis::report_nb_cfg(sb, &cfg.chassis_id, nb_cfg, now_ms()));
                if br_ids.get("ovn-nb-cfg") != Some(&nb_cfg.to_string()) {
                    br_keys.insert("ovn-nb-cfg".into(), Some(nb_cfg.to_string()));
                    br_keys.insert("ovn-nb-cfg-ts".into(), Some(now_ms().to_string()));
                }
            }
        }
        let br_keys = bridge::map_changes(br, "external_ids", &br_keys);
        ovs_ops.extend(bridge::set_map_keys("Bridge", br_uuid, "external_ids", &br_keys));
        if chassis_uuid.is_some() {
            let tunnels = chassis::wanted_tunnels(sb, &cfg, &ids);
            let idx = ids.get(&format!("ovn-chassis-idx-{}", cfg.chassis_id)).map_or("", String::as_str);
            ovs_ops.extend(bridge::sync_tunnels(&self.ovs, br_uuid, br, &tunnels, idx));
        }
        if let Some(chassis_uuid) = chassis_uuid {
            // Right after a start the Southbound contents may be incomplete: removing a patch
            // port then would cut a physical network that is still in use (23.03 waits too).
            let keep_stale = self.started.elapsed() < STARTED_RECENTLY;
            // Walks the port bindings: skipped while its inputs hold and it had nothing to do.
            let key = PatchKey {
                ovs: (self.ovs.epoch, self.ovs.revision),
                sb: sb.revisions(&["Port_Binding", "Datapath_Binding"]),
                mappings: cfg.bridge_mappings.clone(),
                local_dps: self.local_datapaths.clone(),
                chassis: chassis_uuid,
                keep_stale,
            };
            if self.patch_idle.as_ref() != Some(&key) {
                let br = (br_uuid, br);
                let ops = patch::sync(
                    &self.ovs,
                    sb,
                    br,
                    &cfg.bridge_mappings,
                    &self.local_datapaths,
                    chassis_uuid,
                    keep_stale,
                );
                self.patch_idle = ops.is_empty().then_some(key);
                ovs_ops.extend(ops);
            }
        }
        // pinctrl's state, rebuilt by the sections whose tables moved.
        if let Some(p) = self.pinctrl.as_mut() {
            let change =
                self.pinctrl_state.update(sb, &cfg.chassis_id, &cfg.bridge, &self.local_datapaths, chassis_uuid);
            p.publish(change);
        }
        let interest = Interest {
            monitor_all: cfg.monitor_all,
            chassis: chassis_uuid.map(|u| (u, cfg.chassis_id.clone())),
            local_ifaces: ifaces.keys().cloned().collect(),
            local_datapaths: self.local_datapaths.clone(),
        };
        let mut requested = None;
        if self.conditions_for.as_ref().is_none_or(|(i, _)| *i != interest) {
            let conditions = monitor::conditions(&interest);
            self.conditions_for = Some((interest, conditions));
        }
        for (table, cond) in self.conditions_for.iter().flat_map(|(_, c)| c) {
            if self.sb_conditions.get(table) != Some(cond) {
                requested = Some(sb.client.set_condition(table, cond.clone()));
                self.sb_conditions.insert(table, cond.clone());
            }
        }
        let nb_cfg = sb.rows("SB_Global").next().and_then(|(_, g)| g.get_i64("nb_cfg"));
        if let (Some(seqno), Some(sb)) = (requested, self.sb.as_mut()) {
            sb.cond_requested = sb.cond_requested.max(seqno);
        }
        self.ensure_ofctrl(&cfg);
        self.flush_new_ct_zones();
        self.update_flows(&cfg, nb_cfg.filter(|_| sb_settled));
        (ovs_ops, sb_ops)
    }

    /// Starts (or restarts, when `ovn-remote` changed) the Southbound connection.
    fn ensure_sb(&mut self, cfg: &ChassisConfig) {
        let Some(remote) = cfg.sb_remote.as_deref() else {
            if self.sb.take().is_some() {
                tracing::warn!("ovn-remote removed: disconnecting from the Southbound database");
            }
            return;
        };
        let tls = self.sb_tls();
        if self.sb.as_ref().is_some_and(|sb| sb.remote_text == remote && sb.tls == tls) {
            return;
        }
        let remotes = match Remote::parse_list(remote) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("ovn-remote {remote}: {e}");
                return;
            }
        };
        tracing::info!("connecting to the Southbound database at {remote}");
        let initial = Interest { monitor_all: cfg.monitor_all, ..Interest::default() };
        self.sb_conditions = monitor::conditions(&initial);
        let mut config = ClientConfig::new(remotes, "OVN_Southbound", monitor::sb_monitor(&initial));
        config.probe_interval = (cfg.sb_probe_interval_ms > 0).then(|| Duration::from_millis(cfg.sb_probe_interval_ms));
        config.tls = tls.clone();
        self.epoch += 1;
        let mut db = Db::start(DbId::Sb, config, remote.to_string(), self.epoch);
        db.tls = tls;
        self.sb = Some(db);
    }

    /// The SSL material for the Southbound connection: the OVS database's SSL table, as
    /// ovn-controller reads it, else the command line.
    fn sb_tls(&self) -> Option<TlsConfig> {
        let ssl = bridge::root(&self.ovs).and_then(|(_, r)| r.get_uuid("ssl")).and_then(|u| self.ovs.row("SSL", &u));
        let Some(ssl) = ssl else { return self.cli_tls.clone() };
        let (Some(key), Some(cert), Some(ca)) =
            (ssl.get_str("private_key"), ssl.get_str("certificate"), ssl.get_str("ca_cert"))
        else {
            return self.cli_tls.clone();
        };
        let mut tls = TlsConfig::new(key, cert, ca);
        tls.bootstrap_ca_cert = ssl.get_bool("bootstrap_ca_cert").unwrap_or(false);
        if let Some(cli) = &self.cli_tls {
            tls.protocols = cli.protocols.clone();
            tls.ciphers = cli.ciphers.clone();
        }
        Some(tls)
    }

    /// `exit`: remove this chassis from the Southbound database and its tunnels from OVS,
    /// waiting a bounded time for both.
    async fn leave_cluster(&mut self) {
        let Some(cfg) = self.cfg.clone() else { return };
        let deadline = Duration::from_secs(5);
        if let Some(sb) = self.sb.as_ref().filter(|s| s.connected) {
            let ops = chassis::remove_chassis(sb, &cfg.chassis_id);
            if let Err(e) = tokio::time::timeout(deadline, sb.client.transact(ops))
                .await
                .unwrap_or(Err(shared::ovsdb::Error::Disconnected))
            {
                tracing::warn!("could not remove chassis {}: {e}", cfg.chassis_id);
            }
        }
        if let Some((br_uuid, br)) = bridge::bridge_by_name(&self.ovs, &cfg.bridge) {
            let ops = bridge::sync_tunnels(&self.ovs, br_uuid, br, &[], "");
            if !ops.is_empty() {
                let _ = tokio::time::timeout(deadline, self.ovs.client.transact(ops)).await;
            }
        }
    }

    async fn command(&mut self, name: &str, args: &[String]) -> Result<String, String> {
        // A command may change what planning does (recompute, pause, a reset).
        self.idle_plan = None;
        let handle = self.ofctrl.as_ref().map(|(_, h, _)| h.clone());
        match name {
            "group-table-list" => Ok(match handle {
                Some(h) => h.group_table_list().await,
                None => String::new(),
            }),
            "meter-table-list" => Ok(match handle {
                Some(h) => h.meter_table_list().await,
                None => String::new(),
            }),
            "recompute" | "inc-engine/recompute" => {
                // 23.03 recomputes every engine node and puts the result; flowctl computes the
                // whole table on every pass anyway, so: re-read what the switch has and hand
                // the installer a fresh computation (the pass after this command), so any
                // difference, including changes made behind our back, is sent.
                tracing::info!("User triggered force recompute.");
                coverage::RECOMPUTE.inc();
                if let Some(h) = handle {
                    h.resync();
                }
                self.last_flow_inputs = None;
                self.lflow_state.forget_translations();
                Ok(String::new())
            }
            "inject-pkt" => {
                coverage::INJECT_PKT.inc();
                let microflow = args.first().ok_or("\"inject-pkt\" command requires at least 1 arguments")?;
                let lookups = self.microflow_lookups().ok_or("ovn-controller not ready.")?;
                let po = inject::packet_out(microflow, &lookups)?;
                let h = handle.ok_or("OpenFlow channel not ready.")?;
                h.packet_out(po).await.map(|()| String::new())
            }
            "stopwatch/show" => stopwatch::show(args),
            "stopwatch/reset" => Ok(stopwatch::reset(args)),
            "coverage/show" => Ok(coverage::show()),
            "coverage/read-counter" => coverage::read_counter(args.first().map_or("", String::as_str)),
            "debug/pause" => {
                self.paused = true;
                Ok(String::new())
            }
            "debug/resume" => {
                self.paused = false;
                Ok(String::new())
            }
            "debug/status" => Ok(if self.paused { "paused" } else { "running" }.to_string()),
            "connection-status" => {
                Ok(if self.sb.as_ref().is_some_and(|s| s.connected) { "connected" } else { "not connected" }
                    .to_string())
            }
            "memory/show" => {
                let mut out = format!("idl-cells-Open_vSwitch:{}", self.ovs.cells(OVS_TABLES));
                if let Some(sb) = &self.sb {
                    out = format!("idl-cells-OVN_Southbound:{} {out}", sb.cells(monitor::SB_TABLES));
                }
                Ok(out)
            }
            "ct-zone-list" => Ok(self.ct_zones.as_ref().map(CtZones::list).unwrap_or_default()),
            "debug/dump-local-bindings" => Ok(self.dump_local_bindings()),
            "sb-cluster-state-reset" => {
                if let Some(sb) = &self.sb {
                    tracing::info!("Resetting southbound database cluster state");
                    sb.client.reconnect(true);
                }
                Ok(String::new())
            }
            other => Err(format!("\"{other}\" is not a flowctl command")),
        }
    }

    /// Flush the conntrack zones allocated since the last pass (23.03 flushes a zone when it
    /// is given to a new port or datapath), before the flows that use them are installed.
    fn flush_new_ct_zones(&mut self) {
        let (Some(zones), Some((_, h, _))) = (self.ct_zones.as_mut(), self.ofctrl.as_ref()) else { return };
        h.flush_ct_zones(zones.take_fresh());
    }

    /// What `inject-pkt` resolves names with: the OpenFlow port of each interface on br-int
    /// by `iface-id`, the Southbound address sets and port groups. None before br-int and the
    /// chassis exist (23.03: "ovn-controller not ready.").
    fn microflow_lookups(&self) -> Option<inject::MicroflowLookups> {
        let cfg = self.cfg.as_ref()?;
        let sb = self.sb.as_ref().filter(|sb| sb.synced)?;
        chassis::by_name(sb, "Chassis", &cfg.chassis_id)?;
        let (_, br) = bridge::bridge_by_name(&self.ovs, &cfg.bridge)?;
        let mut l = inject::MicroflowLookups::default();
        for (uuid, iface) in bridge::interfaces(&self.ovs, br) {
            let _ = uuid;
            let Some(id) = iface.get_map_str("external_ids", "iface-id") else { continue };
            let Some(ofport) = iface.get_i64("ofport").and_then(|p| u32::try_from(p).ok()) else { continue };
            if (1..=0xff00).contains(&ofport) {
                l.ofports.entry(id.to_string()).or_insert(ofport);
            }
        }
        let strings = |row: &shared::ovsdb::Row, col: &str| -> Vec<String> {
            row.get_set(col).filter_map(|a| a.as_str().map(String::from)).collect()
        };
        for (_, row) in sb.rows("Address_Set") {
            if let Some(name) = row.get_str("name") {
                l.address_sets
                    .insert(name.to_string(), crate::lflow::expr::parse_address_set(&strings(row, "addresses")));
            }
        }
        for (_, row) in sb.rows("Port_Group") {
            if let Some(name) = row.get_str("name") {
                l.port_groups.insert(name.to_string(), strings(row, "ports"));
            }
        }
        Some(l)
    }

    fn dump_local_bindings(&self) -> String {
        let mut out = String::from("Local bindings:\n");
        let ifaces: BTreeMap<String, String> =
            bridge::bridge_by_name(&self.ovs, self.cfg.as_ref().map_or("br-int", |c| c.bridge.as_str()))
                .map(|(_, br)| binding::local_ifaces(&self.ovs, br).into_iter().map(|(k, v)| (k, v.name)).collect())
                .unwrap_or_default();
        for (lport, iface) in &ifaces {
            let bound = self.bound.contains_key(lport);
            out.push_str(&format!(
                "name: [{lport}], OVS interface name : [{iface}], num binding lports : [{}]\n",
                usize::from(bound)
            ));
            if bound {
                out.push_str(&format!("primary lport : [{lport}]\n"));
            }
            out.push_str("----------------------------------------\n");
        }
        out
    }
}

/// The inputs of a flow computation, compared to skip recomputing an unchanged table.
#[derive(PartialEq)]
struct FlowInputs {
    ovs: (u64, u64),
    sb: (u64, u64),
    local_datapaths: BTreeSet<Uuid>,
    zones: BTreeMap<String, u16>,
    geneve: u8,
    cfg: ChassisConfig,
}
