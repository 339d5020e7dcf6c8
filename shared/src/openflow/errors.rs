//! OFPT_ERROR bodies and the error names OVS uses for them.

use super::header::{NX_VENDOR_ID, ONF_VENDOR_ID};
use super::wire::{Put, Reader, Result};

/// `ofp_error_msg`: type/code (or experimenter code), plus usually the start of the
/// offending request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorMsg {
    pub err_type: u16,
    pub code: u16,
    /// Set for `OFPET_EXPERIMENTER` (type 0xffff): the experimenter id after the code.
    pub experimenter: Option<u32>,
    pub data: Vec<u8>,
}

/// `OFPET_EXPERIMENTER` in OpenFlow 1.2+.
pub const OFPET_EXPERIMENTER: u16 = 0xffff;

impl ErrorMsg {
    /// Build an error from its OVS name (e.g. `"OFPBRC_BAD_TYPE"`); `None` if unknown.
    pub fn from_name(name: &str, data: Vec<u8>) -> Option<ErrorMsg> {
        let &(t, c, e, _) = ERRORS.iter().find(|x| x.3 == name)?;
        Some(ErrorMsg { err_type: t, code: c, experimenter: (e != 0).then_some(e), data })
    }

    /// The OVS name of this error (`OFPBRC_BAD_LEN`, `NXBRC_NXM_INVALID`, ...).
    pub fn name(&self) -> Option<&'static str> {
        error_name(self.err_type, self.code, self.experimenter)
    }

    /// Header of the request that failed (OVS echoes at least its first 64 bytes), so the
    /// error can be matched to the request by xid.
    pub fn request_header(&self) -> Option<super::header::Header> {
        super::header::Header::decode(&self.data).ok()
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<ErrorMsg> {
        let err_type = r.u16()?;
        let code = r.u16()?;
        let experimenter = if err_type == OFPET_EXPERIMENTER { Some(r.u32()?) } else { None };
        Ok(ErrorMsg { err_type, code, experimenter, data: r.take_rest().to_vec() })
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.put_u16(self.err_type);
        out.put_u16(self.code);
        if self.err_type == OFPET_EXPERIMENTER {
            out.put_u32(self.experimenter.unwrap_or(0));
        }
        out.extend_from_slice(&self.data);
    }
}

/// Name of an OpenFlow 1.5 error as OVS spells it.
pub fn error_name(err_type: u16, code: u16, experimenter: Option<u32>) -> Option<&'static str> {
    let exp = if err_type == OFPET_EXPERIMENTER { experimenter.unwrap_or(0) } else { 0 };
    ERRORS.iter().find(|x| x.0 == err_type && x.1 == code && x.2 == exp).map(|x| x.3)
}

const _: () = assert!(NX_VENDOR_ID == 0x2320 && ONF_VENDOR_ID == 0x4f4e4600);

/// (type, code, experimenter or 0, name) for OpenFlow 1.5, from the annotations in OVS 3.1
/// `include/openvswitch/ofp-errors.h`.
static ERRORS: &[(u16, u16, u32, &str)] = &[
    (0x0000, 0, 0x0, "OFPHFC_INCOMPATIBLE"),
    (0x0000, 1, 0x0, "OFPHFC_EPERM"),
    (0x0001, 0, 0x0, "OFPBRC_BAD_VERSION"),
    (0x0001, 1, 0x0, "OFPBRC_BAD_TYPE"),
    (0x0001, 2, 0x0, "OFPBRC_BAD_STAT"),
    (0x0001, 3, 0x0, "OFPBRC_BAD_VENDOR"),
    (0x0001, 4, 0x0, "OFPBRC_BAD_SUBTYPE"),
    (0x0001, 5, 0x0, "OFPBRC_EPERM"),
    (0x0001, 6, 0x0, "OFPBRC_BAD_LEN"),
    (0x0001, 7, 0x0, "OFPBRC_BUFFER_EMPTY"),
    (0x0001, 8, 0x0, "OFPBRC_BUFFER_UNKNOWN"),
    (0x0001, 9, 0x0, "OFPBRC_BAD_TABLE_ID"),
    (0x0001, 10, 0x0, "OFPBRC_IS_SECONDARY"),
    (0x0001, 11, 0x0, "OFPBRC_BAD_PORT"),
    (0x0001, 12, 0x0, "OFPBRC_BAD_PACKET"),
    (0x0001, 13, 0x0, "OFPBRC_MULTIPART_BUFFER_OVERFLOW"),
    (0x0001, 14, 0x0, "OFPBRC_MULTIPART_REQUEST_TIMEOUT"),
    (0x0001, 15, 0x0, "OFPBRC_MULTIPART_REPLY_TIMEOUT"),
    (0x0001, 16, 0x0, "OFPBRC_MULTIPART_BAD_SCHED"),
    (0x0001, 17, 0x0, "OFPBRC_PIPELINE_FIELDS_ONLY"),
    (0x0001, 18, 0x0, "OFPBRC_UNKNOWN"),
    (0xffff, 2, 0x2320, "NXBRC_NXM_INVALID"),
    (0xffff, 3, 0x2320, "NXBRC_NXM_BAD_TYPE"),
    (0xffff, 4, 0x2320, "NXBRC_MUST_BE_ZERO"),
    (0xffff, 5, 0x2320, "NXBRC_BAD_REASON"),
    (0xffff, 9, 0x2320, "NXBRC_FM_BAD_EVENT"),
    (0xffff, 10, 0x2320, "NXBRC_UNENCODABLE_ERROR"),
    (0x0002, 0, 0x0, "OFPBAC_BAD_TYPE"),
    (0x0002, 1, 0x0, "OFPBAC_BAD_LEN"),
    (0x0002, 2, 0x0, "OFPBAC_BAD_VENDOR"),
    (0x0002, 3, 0x0, "OFPBAC_BAD_VENDOR_TYPE"),
    (0x0002, 4, 0x0, "OFPBAC_BAD_OUT_PORT"),
    (0x0002, 5, 0x0, "OFPBAC_BAD_ARGUMENT"),
    (0x0002, 6, 0x0, "OFPBAC_EPERM"),
    (0x0002, 7, 0x0, "OFPBAC_TOO_MANY"),
    (0x0002, 8, 0x0, "OFPBAC_BAD_QUEUE"),
    (0x0002, 9, 0x0, "OFPBAC_BAD_OUT_GROUP"),
    (0x0002, 10, 0x0, "OFPBAC_MATCH_INCONSISTENT"),
    (0x0002, 11, 0x0, "OFPBAC_UNSUPPORTED_ORDER"),
    (0x0002, 12, 0x0, "OFPBAC_BAD_TAG"),
    (0x0002, 13, 0x0, "OFPBAC_BAD_SET_TYPE"),
    (0x0002, 14, 0x0, "OFPBAC_BAD_SET_LEN"),
    (0x0002, 15, 0x0, "OFPBAC_BAD_SET_ARGUMENT"),
    (0x0002, 16, 0x0, "OFPBAC_BAD_SET_MASK"),
    (0x0002, 17, 0x0, "OFPBAC_BAD_METER"),
    (0xffff, 11, 0x2320, "NXBAC_MUST_BE_ZERO"),
    (0xffff, 15, 0x2320, "NXBAC_BAD_CONJUNCTION"),
    (0xffff, 39, 0x2320, "NXBAC_BAD_HEADER_TYPE"),
    (0xffff, 40, 0x2320, "NXBAC_UNKNOWN_ED_PROP"),
    (0xffff, 41, 0x2320, "NXBAC_BAD_ED_PROP"),
    (0xffff, 42, 0x2320, "NXBAC_CT_DATAPATH_SUPPORT"),
    (0x0003, 0, 0x0, "OFPBIC_UNKNOWN_INST"),
    (0x0003, 1, 0x0, "OFPBIC_UNSUP_INST"),
    (0x0003, 2, 0x0, "OFPBIC_BAD_TABLE_ID"),
    (0x0003, 3, 0x0, "OFPBIC_UNSUP_METADATA"),
    (0x0003, 4, 0x0, "OFPBIC_UNSUP_METADATA_MASK"),
    (0x0003, 5, 0x0, "OFPBIC_BAD_EXPERIMENTER"),
    (0x0003, 6, 0x0, "OFPBIC_BAD_EXP_TYPE"),
    (0x0003, 7, 0x0, "OFPBIC_BAD_LEN"),
    (0x0003, 8, 0x0, "OFPBIC_EPERM"),
    (0x0003, 9, 0x0, "OFPBIC_DUP_INST"),
    (0x0004, 0, 0x0, "OFPBMC_BAD_TYPE"),
    (0x0004, 1, 0x0, "OFPBMC_BAD_LEN"),
    (0x0004, 2, 0x0, "OFPBMC_BAD_TAG"),
    (0x0004, 3, 0x0, "OFPBMC_BAD_DL_ADDR_MASK"),
    (0x0004, 4, 0x0, "OFPBMC_BAD_NW_ADDR_MASK"),
    (0x0004, 5, 0x0, "OFPBMC_BAD_WILDCARDS"),
    (0x0004, 6, 0x0, "OFPBMC_BAD_FIELD"),
    (0x0004, 7, 0x0, "OFPBMC_BAD_VALUE"),
    (0x0004, 8, 0x0, "OFPBMC_BAD_MASK"),
    (0x0004, 9, 0x0, "OFPBMC_BAD_PREREQ"),
    (0x0004, 10, 0x0, "OFPBMC_DUP_FIELD"),
    (0x0004, 11, 0x0, "OFPBMC_EPERM"),
    (0xffff, 43, 0x2320, "NXBMC_CT_DATAPATH_SUPPORT"),
    (0x0005, 0, 0x0, "OFPFMFC_UNKNOWN"),
    (0x0005, 1, 0x0, "OFPFMFC_TABLE_FULL"),
    (0x0005, 2, 0x0, "OFPFMFC_BAD_TABLE_ID"),
    (0x0005, 3, 0x0, "OFPFMFC_OVERLAP"),
    (0x0005, 4, 0x0, "OFPFMFC_EPERM"),
    (0x0005, 5, 0x0, "OFPFMFC_BAD_TIMEOUT"),
    (0x0005, 6, 0x0, "OFPFMFC_BAD_COMMAND"),
    (0x0005, 7, 0x0, "OFPFMFC_BAD_FLAGS"),
    (0x0005, 8, 0x0, "OFPFMFC_CANT_SYNC"),
    (0x0005, 9, 0x0, "OFPFMFC_BAD_PRIORITY"),
    (0x0005, 10, 0x0, "OFPFMFC_IS_SYNC"),
    (0xffff, 12, 0x2320, "NXFMFC_HARDWARE"),
    (0xffff, 13, 0x2320, "NXFMFC_BAD_TABLE_ID"),
    (0xffff, 37, 0x2320, "NXFMFC_INVALID_TLV_FIELD"),
    (0x0006, 0, 0x0, "OFPGMFC_GROUP_EXISTS"),
    (0x0006, 1, 0x0, "OFPGMFC_INVALID_GROUP"),
    (0x0006, 2, 0x0, "OFPGMFC_WEIGHT_UNSUPPORTED"),
    (0x0006, 3, 0x0, "OFPGMFC_OUT_OF_GROUPS"),
    (0x0006, 4, 0x0, "OFPGMFC_OUT_OF_BUCKETS"),
    (0x0006, 5, 0x0, "OFPGMFC_CHAINING_UNSUPPORTED"),
    (0x0006, 6, 0x0, "OFPGMFC_WATCH_UNSUPPORTED"),
    (0x0006, 7, 0x0, "OFPGMFC_LOOP"),
    (0x0006, 8, 0x0, "OFPGMFC_UNKNOWN_GROUP"),
    (0x0006, 9, 0x0, "OFPGMFC_CHAINED_GROUP"),
    (0x0006, 10, 0x0, "OFPGMFC_BAD_TYPE"),
    (0x0006, 11, 0x0, "OFPGMFC_BAD_COMMAND"),
    (0x0006, 12, 0x0, "OFPGMFC_BAD_BUCKET"),
    (0x0006, 13, 0x0, "OFPGMFC_BAD_WATCH"),
    (0x0006, 14, 0x0, "OFPGMFC_EPERM"),
    (0x0006, 15, 0x0, "OFPGMFC_UNKNOWN_BUCKET"),
    (0x0006, 16, 0x0, "OFPGMFC_BUCKET_EXISTS"),
    (0x0007, 0, 0x0, "OFPPMFC_BAD_PORT"),
    (0x0007, 1, 0x0, "OFPPMFC_BAD_HW_ADDR"),
    (0x0007, 2, 0x0, "OFPPMFC_BAD_CONFIG"),
    (0x0007, 3, 0x0, "OFPPMFC_BAD_ADVERTISE"),
    (0x0007, 4, 0x0, "OFPPMFC_EPERM"),
    (0x0008, 0, 0x0, "OFPTMFC_BAD_TABLE"),
    (0x0008, 1, 0x0, "OFPTMFC_BAD_CONFIG"),
    (0x0008, 2, 0x0, "OFPTMFC_EPERM"),
    (0x0009, 0, 0x0, "OFPQOFC_BAD_PORT"),
    (0x0009, 1, 0x0, "OFPQOFC_BAD_QUEUE"),
    (0x0009, 2, 0x0, "OFPQOFC_EPERM"),
    (0xffff, 23, 0x2320, "NXQOFC_QUEUE_ERROR"),
    (0x000a, 0, 0x0, "OFPSCFC_BAD_FLAGS"),
    (0x000a, 1, 0x0, "OFPSCFC_BAD_LEN"),
    (0x000a, 2, 0x0, "OFPSCFC_EPERM"),
    (0x000b, 0, 0x0, "OFPRRFC_STALE"),
    (0x000b, 1, 0x0, "OFPRRFC_UNSUP"),
    (0x000b, 2, 0x0, "OFPRRFC_BAD_ROLE"),
    (0x000b, 3, 0x0, "OFPRRFC_ID_UNSUP"),
    (0x000b, 4, 0x0, "OFPRRFC_ID_IN_USE"),
    (0x000c, 0, 0x0, "OFPMMFC_UNKNOWN"),
    (0x000c, 1, 0x0, "OFPMMFC_METER_EXISTS"),
    (0x000c, 2, 0x0, "OFPMMFC_INVALID_METER"),
    (0x000c, 3, 0x0, "OFPMMFC_UNKNOWN_METER"),
    (0x000c, 4, 0x0, "OFPMMFC_BAD_COMMAND"),
    (0x000c, 5, 0x0, "OFPMMFC_BAD_FLAGS"),
    (0x000c, 6, 0x0, "OFPMMFC_BAD_RATE"),
    (0x000c, 7, 0x0, "OFPMMFC_BAD_BURST"),
    (0x000c, 8, 0x0, "OFPMMFC_BAD_BAND"),
    (0x000c, 9, 0x0, "OFPMMFC_BAD_BAND_VALUE"),
    (0x000c, 10, 0x0, "OFPMMFC_OUT_OF_METERS"),
    (0x000c, 11, 0x0, "OFPMMFC_OUT_OF_BANDS"),
    (0x000d, 0, 0x0, "OFPTFFC_BAD_TABLE"),
    (0x000d, 1, 0x0, "OFPTFFC_BAD_METADATA"),
    (0x000d, 5, 0x0, "OFPTFFC_EPERM"),
    (0x000d, 6, 0x0, "OFPTFFC_BAD_CAPA"),
    (0x000d, 7, 0x0, "OFPTFFC_BAD_MAX_ENT"),
    (0x000d, 8, 0x0, "OFPTFFC_BAD_FEATURES"),
    (0x000d, 9, 0x0, "OFPTFFC_BAD_COMMAND"),
    (0x000d, 10, 0x0, "OFPTFFC_TOO_MANY"),
    (0xffff, 44, 0x2320, "NXTFFC_DUP_TABLE"),
    (0x000e, 0, 0x0, "OFPBPC_BAD_TYPE"),
    (0x000e, 1, 0x0, "OFPBPC_BAD_LEN"),
    (0x000e, 2, 0x0, "OFPBPC_BAD_VALUE"),
    (0x000e, 3, 0x0, "OFPBPC_TOO_MANY"),
    (0x000e, 4, 0x0, "OFPBPC_DUP_TYPE"),
    (0x000e, 5, 0x0, "OFPBPC_BAD_EXPERIMENTER"),
    (0x000e, 6, 0x0, "OFPBPC_BAD_EXP_TYPE"),
    (0x000e, 7, 0x0, "OFPBPC_BAD_EXP_VALUE"),
    (0x000e, 8, 0x0, "OFPBPC_EPERM"),
    (0x000f, 0, 0x0, "OFPACFC_INVALID"),
    (0x000f, 1, 0x0, "OFPACFC_UNSUPPORTED"),
    (0x000f, 2, 0x0, "OFPACFC_EPERM"),
    (0x0011, 0, 0x0, "OFPBFC_UNKNOWN"),
    (0x0011, 1, 0x0, "OFPBFC_EPERM"),
    (0x0011, 2, 0x0, "OFPBFC_BAD_ID"),
    (0x0011, 3, 0x0, "OFPBFC_BUNDLE_EXIST"),
    (0x0011, 4, 0x0, "OFPBFC_BUNDLE_CLOSED"),
    (0x0011, 5, 0x0, "OFPBFC_OUT_OF_BUNDLES"),
    (0x0011, 6, 0x0, "OFPBFC_BAD_TYPE"),
    (0x0011, 7, 0x0, "OFPBFC_BAD_FLAGS"),
    (0x0011, 8, 0x0, "OFPBFC_MSG_BAD_LEN"),
    (0x0011, 9, 0x0, "OFPBFC_MSG_BAD_XID"),
    (0x0011, 10, 0x0, "OFPBFC_MSG_UNSUP"),
    (0x0011, 11, 0x0, "OFPBFC_MSG_CONFLICT"),
    (0x0011, 12, 0x0, "OFPBFC_MSG_TOO_MANY"),
    (0x0011, 13, 0x0, "OFPBFC_MSG_FAILED"),
    (0x0011, 14, 0x0, "OFPBFC_TIMEOUT"),
    (0x0011, 15, 0x0, "OFPBFC_BUNDLE_IN_PROGRESS"),
    (0x0011, 16, 0x0, "OFPBFC_SCHED_NOT_SUPPORTED"),
    (0x0011, 17, 0x0, "OFPBFC_SCHED_FUTURE"),
    (0x0011, 18, 0x0, "OFPBFC_SCHED_PAST"),
    (0xffff, 22, 0x2320, "OFPBFC_BAD_VERSION"),
    (0x0010, 0, 0x0, "OFPMOFC_UNKNOWN"),
    (0x0010, 1, 0x0, "OFPMOFC_MONITOR_EXISTS"),
    (0x0010, 2, 0x0, "OFPMOFC_INVALID_MONITOR"),
    (0x0010, 3, 0x0, "OFPMOFC_UNKNOWN_MONITOR"),
    (0x0010, 4, 0x0, "OFPMOFC_BAD_COMMAND"),
    (0x0010, 5, 0x0, "OFPMOFC_BAD_FLAGS"),
    (0x0010, 6, 0x0, "OFPMOFC_BAD_TABLE_ID"),
    (0x0010, 7, 0x0, "OFPMOFC_BAD_OUT"),
    (0xffff, 16, 0x2320, "NXTTMFC_BAD_COMMAND"),
    (0xffff, 17, 0x2320, "NXTTMFC_BAD_OPT_LEN"),
    (0xffff, 18, 0x2320, "NXTTMFC_BAD_FIELD_IDX"),
    (0xffff, 19, 0x2320, "NXTTMFC_TABLE_FULL"),
    (0xffff, 20, 0x2320, "NXTTMFC_ALREADY_MAPPED"),
    (0xffff, 21, 0x2320, "NXTTMFC_DUP_ENTRY"),
    (0xffff, 38, 0x2320, "NXTTMFC_INVALID_TLV_DEL"),
    (0xffff, 34, 0x2320, "NXR_NOT_SUPPORTED"),
    (0xffff, 35, 0x2320, "NXR_STALE"),
    (0xffff, 36, 0x2320, "NXST_NOT_CONFIGURED"),
];
