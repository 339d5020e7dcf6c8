//! OpenFlow table numbers of ovn-controller 23.03 (controller/lflow.h).

/// Physical to logical: classify packets from local ports and tunnels.
pub const PHY_TO_LOG: u8 = 0;
/// First table of the logical ingress pipeline: Logical_Flow table_id N is OpenFlow table
/// `LOG_INGRESS_PIPELINE + N`.
pub const LOG_INGRESS_PIPELINE: u8 = 8;
pub const OUTPUT_LARGE_PKT_DETECT: u8 = 37;
pub const OUTPUT_LARGE_PKT_PROCESS: u8 = 38;
pub const REMOTE_OUTPUT: u8 = 39;
pub const LOCAL_OUTPUT: u8 = 40;
pub const CHECK_LOOPBACK: u8 = 41;
/// Where ingress `output` goes.
pub const OUTPUT_INIT: u8 = OUTPUT_LARGE_PKT_DETECT;
/// First table of the logical egress pipeline.
pub const LOG_EGRESS_PIPELINE: u8 = 42;
pub const SAVE_INPORT: u8 = 64;
pub const LOG_TO_PHY: u8 = 65;
pub const MAC_BINDING: u8 = 66;
pub const MAC_LOOKUP: u8 = 67;
pub const CHK_LB_HAIRPIN: u8 = 68;
pub const CHK_LB_HAIRPIN_REPLY: u8 = 69;
pub const CT_SNAT_HAIRPIN: u8 = 70;
pub const GET_FDB: u8 = 71;
pub const LOOKUP_FDB: u8 = 72;
pub const CHK_IN_PORT_SEC: u8 = 73;
pub const CHK_IN_PORT_SEC_ND: u8 = 74;
pub const CHK_OUT_PORT_SEC: u8 = 75;
pub const ECMP_NH_MAC: u8 = 76;
pub const ECMP_NH: u8 = 77;
pub const CHK_LB_AFFINITY: u8 = 78;

/// Tables per logical pipeline (lib/ovn-util.h).
pub const LOG_PIPELINE_LEN: u8 = 29;

/// The OpenFlow table of a logical flow's stage.
pub fn logical_table(ingress: bool, table_id: u8) -> Option<u8> {
    if table_id >= LOG_PIPELINE_LEN {
        return None;
    }
    Some(if ingress { LOG_INGRESS_PIPELINE } else { LOG_EGRESS_PIPELINE } + table_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipelines_fit_between_their_neighbours() {
        assert_eq!(logical_table(true, 0), Some(8));
        assert_eq!(logical_table(true, LOG_PIPELINE_LEN - 1), Some(36));
        assert!(logical_table(true, LOG_PIPELINE_LEN - 1).unwrap() < OUTPUT_LARGE_PKT_DETECT);
        assert_eq!(logical_table(false, LOG_PIPELINE_LEN - 1), Some(70));
        assert_eq!(logical_table(false, LOG_PIPELINE_LEN), None);
    }
}
