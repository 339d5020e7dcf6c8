//! Unit tests of the physical-flow builder on hand-made inputs (the golden comparison with
//! ovn-controller is in golden.rs).

use super::*;

#[test]
fn cookie_is_the_first_32_bits_of_the_uuid() {
    assert_eq!(uuid_cookie("8f3a1c2b-0000-4000-8000-000000000000"), 0x8f3a1c2b);
    assert_eq!(uuid_cookie("zz"), 0);
    assert_eq!(uuid_cookie(""), 0);
}
