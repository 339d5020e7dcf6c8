//! OpenFlow decoder on arbitrary bytes: no panics, and decode/encode agree.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    shared::openflow::fuzz_one(data);
});
