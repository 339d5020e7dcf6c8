//! (being written)

use super::LflowInput;
use crate::flows::DesiredFlow;

pub fn flows(_input: &LflowInput<'_>, _out: &mut Vec<DesiredFlow>) {}
