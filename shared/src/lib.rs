//! Everything more than one chassisd process needs: the wire formats (one definition each,
//! used by both ends), OVN constants, and logging in OVS's format.
pub mod openflow;
