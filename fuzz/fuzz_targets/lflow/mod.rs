//! flowctl's expression compiler and action encoder, by path, without the rest of flowctl's
//! `lflow` module (which depends on flowctl's own crate).

#[allow(dead_code, unused_imports)]
#[path = "../../../flowctl/src/lflow/expr/mod.rs"]
pub mod expr;

#[allow(dead_code, unused_imports)]
#[path = "../../../flowctl/src/lflow/actions/mod.rs"]
pub mod actions;
