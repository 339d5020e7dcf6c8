//! Fuzzes the controller(userdata=...) decoder that pinctrl runs on every packet-in
//! (shared::ovn::controller_ops): never a panic, and what decodes re-encodes alike.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    shared::ovn::controller_ops::fuzz_one(data);
});
