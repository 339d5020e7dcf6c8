//! Flow mods against ovs-ofctl: for each flow text, ovs-ofctl's OpenFlow 1.5 encoding must
//! equal ours byte for byte, and our decode+print of its bytes must equal its ofp-print.

mod openflow_oracle;

use openflow_oracle::flows::FLOWS;
use openflow_oracle::{capture, have_ovs_ofctl, ofp_print, strip_header};
use shared::openflow::messages::{Message, OfMessage};
use shared::openflow::text::{format_flow_mod, parse_flow};
use shared::openflow::wire::to_hex;

fn check(flow: &str, failures: &mut Vec<String>) {
    let got = capture(&["-O", "OpenFlow15", "--no-names", "add-flow", "SW", flow]);
    let Some(ovs) = got.into_iter().find(|m| m.get(1) == Some(&14)) else {
        failures.push(format!(
            "{flow}: ovs-ofctl sent no flow mod: {}",
            openflow_oracle::capture_with(&["-O", "OpenFlow15", "--no-names", "add-flow", "SW", flow], &|_| None).1
        ));
        return;
    };
    let xid = u32::from_be_bytes([ovs[4], ovs[5], ovs[6], ovs[7]]);
    let ovs_text = strip_header(&ofp_print(&ovs));

    // Decode OVS's bytes and print: must read the same.
    match OfMessage::decode(&ovs) {
        Ok(OfMessage { body: Message::FlowMod(fm), .. }) => {
            let ours = format_flow_mod(&fm);
            if ours != ovs_text {
                failures.push(format!("{flow}\n  decode+print: {ours}\n  ovs-ofctl:    {ovs_text}"));
            }
        }
        other => failures.push(format!("{flow}: decode of ovs bytes: {other:?}")),
    }

    // Parse the text and encode: must be the same bytes.
    match parse_flow(flow) {
        Ok(fm) => {
            let mine = OfMessage::new(xid, Message::FlowMod(fm)).encode();
            if mine != ovs {
                failures.push(format!(
                    "{flow}\n  ours: {}\n  ovs:  {}\n  ours prints: {}",
                    to_hex(&mine),
                    to_hex(&ovs),
                    strip_header(&ofp_print(&mine))
                ));
            }
        }
        Err(e) => failures.push(format!("{flow}: parse: {e}")),
    }
}

#[test]
fn flow_mods_match_ovs_ofctl() {
    if !have_ovs_ofctl("flow_mods_match_ovs_ofctl") {
        return;
    }
    let mut failures = Vec::new();
    for f in FLOWS {
        check(f, &mut failures);
    }
    assert!(failures.is_empty(), "{} of {} flows differ:\n{}", failures.len(), FLOWS.len(), failures.join("\n"));
}
