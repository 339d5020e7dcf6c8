//! ovs-ofctl compatible text for matches, actions and flow mods: what chassisd logs and
//! dumps reads the same as what `ovs-ofctl` prints.

mod format;
mod group_meter;
mod message;
mod parse;

pub use format::{
    format_actions, format_field_value, format_flow_mod, format_flow_stats_no_stats, format_match, format_port,
    format_subfield,
};
pub use group_meter::{
    decode_selection_method, encode_selection_method, format_group_mod, format_meter_mod, parse_group_mod,
    parse_meter_mod, SelectionMethod,
};
pub use message::{format_message, hex_dump};
pub use parse::{parse_actions, parse_flow, parse_match, ParseError, ParsedFlow};
