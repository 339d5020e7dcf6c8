//! Register layout of 23.03's logical pipeline (include/ovn/logical-fields.h).

/// OpenFlow `metadata` holds the logical datapath's tunnel key.
pub const LOG_DATAPATH: &str = "metadata";
/// reg10: MLF_* flags.
pub const LOG_FLAGS: &str = "reg10";
/// reg11/reg12: DNAT/SNAT conntrack zones of a gateway router.
pub const LOG_DNAT_ZONE: &str = "reg11";
pub const LOG_SNAT_ZONE: &str = "reg12";
/// reg13: the logical port's conntrack zone.
pub const LOG_CT_ZONE: &str = "reg13";
/// reg14/reg15: logical input and output port tunnel keys.
pub const LOG_INPORT: &str = "reg14";
pub const LOG_OUTPORT: &str = "reg15";

/// MLF_* bits of reg10.
pub mod flags {
    pub const ALLOW_LOOPBACK: u32 = 1 << 0;
    pub const RCV_FROM_RAMP: u32 = 1 << 1;
    pub const FORCE_SNAT_FOR_DNAT: u32 = 1 << 2;
    pub const FORCE_SNAT_FOR_LB: u32 = 1 << 3;
    pub const LOCAL_ONLY: u32 = 1 << 4;
    pub const NESTED_CONTAINER: u32 = 1 << 5;
    pub const LOOKUP_MAC: u32 = 1 << 6;
    pub const LOOKUP_LB_HAIRPIN: u32 = 1 << 7;
    pub const LOOKUP_FDB: u32 = 1 << 8;
    pub const SKIP_SNAT_FOR_LB: u32 = 1 << 9;
    pub const LOCALPORT: u32 = 1 << 10;
    pub const USE_SNAT_ZONE: u32 = 1 << 11;
    pub const CHECK_PORT_SEC: u32 = 1 << 12;
    pub const LOOKUP_COMMIT_ECMP_NH: u32 = 1 << 13;
    pub const USE_LB_AFF_SESSION: u32 = 1 << 14;
}

/// ct_mark bits OVN uses.
pub mod ct_mark {
    pub const BLOCKED: u32 = 1 << 0;
    pub const NATTED: u32 = 1 << 1;
    pub const LB_SKIP_SNAT: u32 = 1 << 2;
    pub const LB_FORCE_SNAT: u32 = 1 << 3;
}
