//! (being written)

use super::{LflowInput, LflowOutput};

pub fn logical_flows(_input: &LflowInput<'_>, _out: &mut LflowOutput) {}
