//! See shared::fuzzing::ovsdb: arbitrary bytes must not panic the parser.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    shared::fuzzing::ovsdb(data);
});
