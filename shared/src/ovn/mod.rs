//! OVN 23.03's fixed definitions that flowctl and pinctrl must agree on: OpenFlow table
//! numbers and the logical register layout. Later OVN releases renumber the tables, so they
//! live here and nowhere else.

pub mod controller_ops;
pub mod logical_fields;
pub mod tables;
