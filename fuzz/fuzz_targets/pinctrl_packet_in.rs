//! Fuzzes pinctrl's packet-in path (pinctrl::engine): a NXT_PACKET_IN2 message, or userdata
//! plus packet, through the userdata decoder, the packet parser and every handler. Never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pinctrl::engine::fuzz_one(data);
});
