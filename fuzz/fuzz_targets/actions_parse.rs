//! Fuzzes the Logical_Flow action parser and encoder (flowctl/src/lflow/actions): any input
//! must parse and encode, or give an error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod lflow {
    #[allow(dead_code, unused_imports)]
    #[path = "../../../../flowctl/src/lflow/expr/mod.rs"]
    pub mod expr;

    #[allow(dead_code, unused_imports)]
    #[path = "../../../../flowctl/src/lflow/actions/mod.rs"]
    pub mod actions;
}

fuzz_target!(|data: &[u8]| {
    lflow::actions::fuzz_one(data);
});
