//! Logical flow translation: everything on br-int that 23.03's lflow.c derives from the
//! Southbound database (the physical flows are `crate::physical`'s).
//!
//! - [`translate`]: Logical_Flow rows of local datapaths, tables 8-36 and 42-63;
//! - [`neighbor`]: MAC_Binding and Static_MAC_Binding, tables 66-67;
//! - [`fdb`]: FDB, tables 71-72;
//! - [`port_sec`]: port security of local VIFs, tables 73-75;
//! - [`lb_hairpin`]: load balancer hairpin, tables 68-70.
//!
//! Each builder reads the same [`LflowInput`] and appends to the same [`LflowOutput`].

// Until the translator uses every part of the compiler.
#![allow(dead_code)]

pub mod actions;
pub mod cache;
pub mod context;
pub mod expr;
pub mod fdb;
pub mod lb_hairpin;
pub mod neighbor;
pub mod port_sec;
pub mod state;
pub mod translate;

use std::collections::{BTreeMap, BTreeSet};

use shared::ovsdb::Uuid;

use crate::db::Db;
use crate::flows::{DesiredFlow, DesiredGroup, DesiredMeter};
use context::SbContext;

/// What the builders read: the Southbound replica and the facts gathered from it once per
/// computation.
pub struct LflowInput<'a> {
    pub sb: &'a Db,
    pub ctx: &'a SbContext,
    /// This chassis' Chassis row, once registered.
    pub chassis: Option<Uuid>,
    /// This chassis' name (system-id).
    pub chassis_name: &'a str,
    /// Tunnel ofports on br-int by remote chassis name (`fwd_group` liveness).
    pub tunnel_ofports: &'a BTreeMap<String, u16>,
    /// Flow_Sample_Collector_Set ids in the OVS database (`sample`).
    pub collector_ids: &'a BTreeSet<u32>,
}

/// What the builders produce.
#[derive(Debug, Default)]
pub struct LflowOutput {
    pub flows: Vec<DesiredFlow>,
    pub groups: BTreeMap<u32, DesiredGroup>,
    pub meters: BTreeMap<u32, DesiredMeter>,
}

/// Runs every builder.
pub fn compute(input: &LflowInput<'_>, state: &mut state::LflowState) -> LflowOutput {
    let mut out = LflowOutput::default();
    translate::logical_flows(input, state, &mut out);
    neighbor::flows(input, &mut out.flows);
    fdb::flows(input, &mut out.flows);
    port_sec::flows(input, &mut out.flows);
    lb_hairpin::flows(input, &mut out.flows);
    out
}
