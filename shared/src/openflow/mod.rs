//! OpenFlow 1.5 codec with the Nicira (OVS) extensions that ovn-controller 23.03 uses.
//!
//! Sans-IO: bytes in, typed messages out, and back. Text printing and parsing follow
//! `ovs-ofctl` syntax so that tests, logs and dumps read the same as OVS's.
//!
//! - [`wire`]: checked big-endian reader and writer helpers.
//! - [`header`]: the OpenFlow header, type numbers and stream framing.
//! - [`fields`]: the field catalogue (names, widths, NXM/OXM code points).
//! - [`flow_match`]: matches and their OXM encoding.
//! - [`actions`]: actions and instructions.
//! - [`messages`]: the message types.
//! - [`errors`]: error messages and their names.
//! - [`text`]: ovs-ofctl compatible text for matches, actions and flow mods.

pub mod actions;
pub mod errors;
pub mod fields;
pub mod flow_match;
pub mod header;
pub mod messages;
pub mod props;
pub mod text;
pub mod wire;

pub use actions::Action;
pub use fields::Field;
pub use flow_match::Match;
pub use header::Header;
pub use messages::{Message, OfMessage};
pub use wire::DecodeError;
