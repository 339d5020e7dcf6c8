//! Logical flow translation: everything on br-int that 23.03's lflow.c derives from the
//! Southbound database (the physical flows are `crate::physical`'s).
//!
//! - [`translate`]: Logical_Flow rows of local datapaths, tables 8-36 and 42-63;
//! - [`neighbor`]: MAC_Binding and Static_MAC_Binding, tables 66-67;
//! - [`fdb`]: FDB, tables 71-72;
//! - [`port_sec`]: port security of local VIFs, tables 73-75;
//! - [`lb_hairpin`]: load balancer hairpin, tables 68-70.
//!
//! Each builder reads the same [`LflowInput`]; their flows go to the [`DesiredTable`], which
//! keeps them between computations: the translator only revisits the logical flows that a
//! change concerns ([`incremental`]), the other builders' outputs are compared with their last.

// Until the translator uses every part of the compiler.
#![allow(dead_code)]

pub mod actions;
pub mod cache;
pub mod context;
pub mod expr;
pub mod fdb;
pub mod incremental;
pub mod lb_hairpin;
pub mod neighbor;
pub mod port_sec;
pub mod state;
pub mod translate;

use std::collections::{BTreeMap, BTreeSet};

use shared::ovsdb::Uuid;

use crate::db::{Db, Touched};
use crate::desired::{DesiredTable, Source};
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

/// The groups and meters the translated flows use (few: handed over whole).
#[derive(Debug, Default)]
pub struct GroupsAndMeters {
    pub groups: BTreeMap<u32, DesiredGroup>,
    pub meters: BTreeMap<u32, DesiredMeter>,
}

type Builder = fn(&LflowInput<'_>, &mut Vec<DesiredFlow>);

/// The builders besides the translator, with the Southbound tables each reads (besides the
/// local datapaths and this chassis, whose change makes every builder run).
const BUILDERS: [(Builder, &[&str]); 4] = [
    (neighbor::flows, &["Port_Binding", "Datapath_Binding", "MAC_Binding", "Static_MAC_Binding"]),
    (fdb::flows, &["FDB", "Datapath_Binding"]),
    (port_sec::flows, &["Port_Binding", "Datapath_Binding", "Chassis"]),
    (
        lb_hairpin::flows,
        &["Load_Balancer", "SB_Global", "Chassis_Template_Var", "Logical_DP_Group", "Datapath_Binding"],
    ),
];

/// Runs the builders into `desired`: every one when `changed` is `None` (a full computation),
/// else the translator on what `changed` names and the builders whose tables are `touched`.
pub fn compute(
    input: &LflowInput<'_>,
    state: &mut state::LflowState,
    desired: &mut DesiredTable,
    changed: Option<incremental::Changed>,
    touched: &Touched,
) -> GroupsAndMeters {
    let full = changed.is_none();
    let (groups, meters) = translate::logical_flows(input, state, desired, changed);
    for (i, (build, tables)) in (0u8..).zip(BUILDERS) {
        if full || tables.iter().any(|t| touched.contains_key(*t)) {
            let mut flows = Vec::new();
            build(input, &mut flows);
            desired.replace_builder(Source::Builder(i), flows);
        }
    }
    GroupsAndMeters { groups, meters }
}
