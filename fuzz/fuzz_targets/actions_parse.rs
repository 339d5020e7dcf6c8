//! Fuzzes the Logical_Flow action parser and encoder (flowctl/src/lflow/actions): any input
//! must parse and encode, or give an error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "lflow/mod.rs"]
mod lflow;

fuzz_target!(|data: &[u8]| {
    lflow::actions::fuzz_one(data);
});
