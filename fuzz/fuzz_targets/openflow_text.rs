//! ovs-ofctl text parsers on arbitrary input: no panics, and print/parse agree.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    shared::openflow::fuzz_text_one(data);
});
