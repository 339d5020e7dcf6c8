//! Logical flow translation.
// Not yet wired into flowctl's main loop: the lflow translator (issue 5, part 2) does that.
#![allow(dead_code)]

pub mod actions;
pub mod context;
pub mod expr;
