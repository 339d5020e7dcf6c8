//! The flow installer (23.03's ofctrl): keeps the integration bridge's flow table, groups and
//! meters equal to flowctl's desired state over its own OpenFlow connection.
//!
//! [`installer`] is the state machine (no IO, unit-tested); this module drives it with a
//! [`shared::switch::Switch`]. flowctl's loop uses [`Ofctrl::start`], then
//! [`OfctrlHandle::set_desired`] (a whole table) or [`OfctrlHandle::apply_delta`] (what changed)
//! after each computation and waits for [`OfctrlEvent::Installed`] to report nb_cfg /
//! ovn-installed. Updates accumulate in the installer's desired table while a batch is on the
//! wire; the next batch carries their net difference.

pub mod ids;
pub mod installer;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod vswitchd_tests;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use shared::switch::{Switch, SwitchConfig, SwitchEvent};
use tokio::sync::{mpsc, oneshot};

use shared::openflow::messages::PacketOut;

use crate::desired::FlowChange;
use crate::flows::{DesiredGroup, DesiredMeter, DesiredState};
use crate::stopwatch;
pub use installer::{Event, Installer, Stats};

/// What the installer reports to flowctl's loop.
#[derive(Clone, Debug, PartialEq)]
pub enum OfctrlEvent {
    Connected,
    Disconnected,
    /// Desired state of this generation is installed (barrier acknowledged).
    Installed {
        generation: u64,
    },
    /// tun_metadata index of OVN's Geneve option (None: unavailable).
    Geneve(Option<u16>),
}

/// A change of the desired state, applied by the installer in the order sent.
enum Update {
    /// A whole table (replaces what the installer wanted before).
    Full(Arc<DesiredState>, u64),
    /// Flows changed since the previous update; the complete groups and meters.
    Delta {
        flows: Vec<FlowChange>,
        groups: BTreeMap<u32, DesiredGroup>,
        meters: BTreeMap<u32, DesiredMeter>,
        generation: u64,
    },
}

enum Query {
    GroupTableList(oneshot::Sender<String>),
    MeterTableList(oneshot::Sender<String>),
    Stats(oneshot::Sender<Stats>),
    Reconnect,
    PacketOut(PacketOut, oneshot::Sender<Result<(), String>>),
    FlushCtZones(Vec<u16>),
    Resync,
}

/// flowctl's handle on the installer task.
#[derive(Clone)]
pub struct OfctrlHandle {
    desired: mpsc::UnboundedSender<Update>,
    queries: mpsc::UnboundedSender<Query>,
}

impl OfctrlHandle {
    /// Install this whole state (replacing what was desired before).
    pub fn set_desired(&self, state: Arc<DesiredState>, generation: u64) {
        let _ = self.desired.send(Update::Full(state, generation));
    }

    /// Apply these flow changes to the desired state, with the complete groups and meters.
    pub fn apply_delta(
        &self,
        flows: Vec<FlowChange>,
        groups: BTreeMap<u32, DesiredGroup>,
        meters: BTreeMap<u32, DesiredMeter>,
        generation: u64,
    ) {
        let _ = self.desired.send(Update::Delta { flows, groups, meters, generation });
    }

    async fn ask<T>(&self, q: impl FnOnce(oneshot::Sender<T>) -> Query) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.queries.send(q(tx)).ok()?;
        rx.await.ok()
    }

    /// `group-table-list` output.
    pub async fn group_table_list(&self) -> String {
        self.ask(Query::GroupTableList).await.unwrap_or_default()
    }

    /// `meter-table-list` output.
    pub async fn meter_table_list(&self) -> String {
        self.ask(Query::MeterTableList).await.unwrap_or_default()
    }

    /// Counters of what was sent.
    pub async fn stats(&self) -> Stats {
        self.ask(Query::Stats).await.unwrap_or_default()
    }

    /// Drop the switch connection and reconnect (tests; recovery).
    pub fn reconnect(&self) {
        let _ = self.queries.send(Query::Reconnect);
    }

    /// Send a packet_out on the installer's connection (`inject-pkt`).
    pub async fn packet_out(&self, po: PacketOut) -> Result<(), String> {
        self.ask(|tx| Query::PacketOut(po, tx)).await.unwrap_or_else(|| Err("OpenFlow channel not ready.".into()))
    }

    /// Flush these conntrack zones. Call before [`OfctrlHandle::set_desired`] of the state
    /// that uses them: the flush then reaches the switch before those flows.
    pub fn flush_ct_zones(&self, zones: Vec<u16>) {
        if !zones.is_empty() {
            let _ = self.queries.send(Query::FlushCtZones(zones));
        }
    }

    /// Re-read the switch's tables and send any difference (`recompute`).
    pub fn resync(&self) {
        let _ = self.queries.send(Query::Resync);
    }
}

pub struct Ofctrl;

impl Ofctrl {
    /// Connect to `$OVS_RUNDIR/<bridge>.mgmt` (OVS's default rundir if unset), as 23.03 does.
    pub fn start(
        bridge: &str,
        probe_interval: Option<Duration>,
    ) -> (OfctrlHandle, mpsc::UnboundedReceiver<OfctrlEvent>) {
        let rundir = std::env::var("OVS_RUNDIR").unwrap_or_else(|_| "/var/run/openvswitch".into());
        let mut config = SwitchConfig::new(std::path::Path::new(&rundir).join(format!("{bridge}.mgmt")));
        config.probe_interval = probe_interval;
        Ofctrl::start_with(config)
    }

    /// Start with explicit connection settings (on the current tokio runtime).
    pub fn start_with(config: SwitchConfig) -> (OfctrlHandle, mpsc::UnboundedReceiver<OfctrlEvent>) {
        let (desired_tx, desired_rx) = mpsc::unbounded_channel();
        let (q_tx, q_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        tokio::spawn(drive(config, desired_rx, q_rx, ev_tx));
        (OfctrlHandle { desired: desired_tx, queries: q_tx }, ev_rx)
    }
}

async fn drive(
    config: SwitchConfig,
    mut desired: mpsc::UnboundedReceiver<Update>,
    mut queries: mpsc::UnboundedReceiver<Query>,
    events: mpsc::UnboundedSender<OfctrlEvent>,
) {
    let (switch, mut sw_events) = Switch::start(config);
    let mut inst = Installer::new();
    let mut conn = 0u64;
    loop {
        let mut sample = None;
        let out = tokio::select! {
            // Queries first: a ct-zone flush sent before a desired state is handled before it.
            biased;
            q = queries.recv() => match q {
                None => return,
                Some(Query::Resync) => inst.resync(),
                Some(Query::GroupTableList(tx)) => { let _ = tx.send(inst.group_table_list()); continue; }
                Some(Query::MeterTableList(tx)) => { let _ = tx.send(inst.meter_table_list()); continue; }
                Some(Query::Stats(tx)) => { let _ = tx.send(inst.stats.clone()); continue; }
                Some(Query::Reconnect) => { switch.reconnect(); continue; }
                Some(Query::PacketOut(po, tx)) => match inst.packet_out(po) {
                    Ok(out) => {
                        let _ = tx.send(Ok(()));
                        out
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        continue;
                    }
                },
                Some(Query::FlushCtZones(zones)) => {
                    let mut out = installer::Out::default();
                    for z in zones {
                        out.extend(inst.flush_ct_zone(z));
                    }
                    out
                }
            },
            ev = sw_events.recv() => match ev {
                None => return,
                Some(SwitchEvent::Connected { conn: c, .. }) => {
                    conn = c;
                    let _ = events.send(OfctrlEvent::Connected);
                    inst.on_connected()
                }
                Some(SwitchEvent::Disconnected { .. }) => {
                    inst.on_disconnected();
                    let _ = events.send(OfctrlEvent::Disconnected);
                    continue;
                }
                Some(SwitchEvent::Message(m)) => inst.on_message(&m),
            },
            u = desired.recv() => {
                let Some(mut u) = u else { return }; // handle dropped
                // 23.03's "flow-installation": computing the difference and queueing it.
                sample = Some(std::time::Instant::now());
                let mut out = installer::Out::default();
                loop {
                    out.extend(match &u {
                        Update::Full(state, generation) => inst.set_desired(state, *generation),
                        Update::Delta { flows, groups, meters, generation } => {
                            inst.apply_delta(flows, groups, meters, *generation)
                        }
                    });
                    match desired.try_recv() {
                        Ok(next) => u = next,
                        Err(_) => break,
                    }
                }
                out
            }
        };
        for ev in out.events {
            let e = match ev {
                Event::Installed { generation } => OfctrlEvent::Installed { generation },
                Event::Geneve(i) => OfctrlEvent::Geneve(i),
            };
            let _ = events.send(e);
        }
        // Encoded chunk by chunk while the switch works on the previous ones; send waits while
        // the queue is full, so a slow switch slows us and memory stays bounded.
        let mut too_long = Vec::new();
        for chunk in installer::encode_chunks(out.msgs, |xid| too_long.push(xid)) {
            if !switch.send(conn, chunk).await {
                return;
            }
        }
        for xid in too_long {
            inst.unsendable(xid);
        }
        if let Some(start) = sample {
            stopwatch::record(stopwatch::FLOW_INSTALLATION, start);
        }
    }
}
