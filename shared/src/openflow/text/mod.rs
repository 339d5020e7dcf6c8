//! ovs-ofctl compatible text for matches, actions and flow mods: what chassisd logs and
//! dumps reads the same as what `ovs-ofctl` prints.

mod format;
mod parse;

pub use format::{
    format_actions, format_field_value, format_flow_mod, format_flow_stats_no_stats, format_match, format_port,
    format_subfield,
};
pub use parse::{parse_actions, parse_flow, parse_match, ParseError, ParsedFlow};
