//! The installer against a simulated switch (no sockets): what it sends on connect, the
//! difference-only batches, error attribution, and the dip-free reconnect.

use std::collections::BTreeMap;

use shared::openflow::errors::ErrorMsg;
use shared::openflow::header::split_frame;
use shared::openflow::messages::{
    bundle, flow_mod_command, mp, FlowMod, FlowStats, MultipartReply, MultipartReplyBody, MultipartRequestBody, TlvMap,
    TlvTableReply,
};
use shared::openflow::text::parse_flow;
use shared::openflow::{Message, OfMessage};

use super::installer::{Event, FlowBody, FlowKey, Installer, Out};
use crate::flows::{DesiredFlow, DesiredGroup, DesiredMeter, DesiredState};

/// A switch model: a flow table, bundles applied atomically, and a rule to reject flows.
#[derive(Default)]
struct FakeSwitch {
    flows: BTreeMap<(u8, u16, String), (FlowKey, FlowBody)>,
    tlv: Vec<TlvMap>,
    staged: Vec<OfMessage>,
    /// Flow mods received (in bundles).
    flow_mods: usize,
    /// Reject flows of this priority inside bundles.
    reject_priority: Option<u16>,
    /// The smallest table size ever visible (for the no-dip check).
    min_seen: Option<usize>,
}

fn k(key: &FlowKey) -> (u8, u16, String) {
    (key.table, key.priority, format!("{:?}", key.m))
}

impl FakeSwitch {
    fn handle(&mut self, out: Out) -> Vec<OfMessage> {
        let mut replies = Vec::new();
        for chunk in super::installer::encode_chunks(out.msgs, |x| panic!("xid {x} too long")) {
            let mut buf = chunk.as_slice();
            while let Ok(Some((frame, rest))) = split_frame(buf) {
                buf = rest;
                let Ok(m) = OfMessage::decode(frame) else { panic!("undecodable") };
                self.one(m, frame, &mut replies);
            }
            assert!(buf.is_empty());
        }
        replies
    }

    fn one(&mut self, m: OfMessage, frame: &[u8], replies: &mut Vec<OfMessage>) {
        let reply = |body| OfMessage::new(m.xid, body);
        match &m.body {
            Message::TlvTableRequest => replies.push(reply(Message::TlvTableReply(TlvTableReply {
                max_option_space: 256,
                max_fields: 64,
                maps: self.tlv.clone(),
            }))),
            Message::TlvTableMod(t) => self.tlv.extend(t.maps.iter().copied()),
            Message::BarrierRequest => replies.push(reply(Message::BarrierReply)),
            Message::MultipartRequest(r) => {
                let body = match &r.body {
                    MultipartRequestBody::Flow(_) => MultipartReplyBody::Flow(
                        self.flows
                            .values()
                            .map(|(key, b)| FlowStats {
                                table_id: key.table,
                                reason: 0,
                                priority: key.priority,
                                idle_timeout: 0,
                                hard_timeout: 0,
                                flags: 0,
                                importance: 0,
                                cookie: b.cookie,
                                matches: key.m.clone(),
                                duration: None,
                                idle_age: None,
                                packet_count: None,
                                byte_count: None,
                                actions: b.actions.clone(),
                            })
                            .collect(),
                    ),
                    other => MultipartReplyBody::Other { mp_type: other.mp_type(), body: Vec::new() },
                };
                replies.push(reply(Message::MultipartReply(MultipartReply { flags: 0, body })));
            }
            Message::BundleControl(c) if c.ctrl_type == bundle::OPEN_REQUEST => self.staged.clear(),
            Message::BundleAdd(a) => {
                assert_eq!(a.message.xid, m.xid, "OVS requires the inner xid to equal the add's");
                assert_eq!(a.flags, bundle::ATOMIC | bundle::ORDERED);
                self.staged.push((*a.message).clone());
            }
            Message::BundleControl(c) if c.ctrl_type == bundle::COMMIT_REQUEST => {
                let mut next = self.flows.clone();
                let mut failed = false;
                for s in std::mem::take(&mut self.staged) {
                    let Message::FlowMod(fm) = &s.body else { continue };
                    self.flow_mods += 1;
                    if Some(fm.priority) == self.reject_priority && fm.command != flow_mod_command::DELETE_STRICT {
                        let data = s.encode();
                        let e = ErrorMsg::from_name("OFPBAC_BAD_OUT_GROUP", data).unwrap();
                        replies.push(OfMessage::new(s.xid, Message::Error(e)));
                        failed = true;
                        continue;
                    }
                    apply(&mut next, fm);
                }
                if failed {
                    let e = ErrorMsg::from_name("OFPBFC_MSG_FAILED", frame.to_vec()).unwrap();
                    replies.push(OfMessage::new(m.xid, Message::Error(e)));
                } else {
                    self.flows = next;
                }
                let n = self.flows.len();
                self.min_seen = Some(self.min_seen.map_or(n, |x| x.min(n)));
            }
            _ => {}
        }
    }
}

fn apply(t: &mut BTreeMap<(u8, u16, String), (FlowKey, FlowBody)>, fm: &FlowMod) {
    let key = FlowKey::new(fm.table_id, fm.priority, fm.matches.clone());
    match fm.command {
        flow_mod_command::DELETE_STRICT => {
            t.remove(&k(&key));
        }
        flow_mod_command::MODIFY_STRICT => {
            if let Some(e) = t.get_mut(&k(&key)) {
                e.1.actions = fm.actions.clone();
            }
        }
        _ => {
            t.insert(k(&key), (key, FlowBody { cookie: fm.cookie, actions: fm.actions.clone() }));
        }
    }
}

fn flow(s: &str) -> DesiredFlow {
    let fm = parse_flow(s).unwrap();
    DesiredFlow::new(fm.table_id, fm.priority, fm.matches, fm.cookie, fm.actions)
}

fn state(n: usize, variant: &str) -> DesiredState {
    let mut s = DesiredState::default();
    for i in 0..n {
        s.flows.push(flow(&format!(
            "table=10,priority=100,reg14={i},metadata=0x1,actions=load:{i}->NXM_NX_REG15[],resubmit(,{variant})"
        )));
    }
    s
}

/// Run messages back and forth until quiet; returns the events.
fn pump(inst: &mut Installer, sw: &mut FakeSwitch, first: Out) -> Vec<Event> {
    let mut events = first.events.clone();
    let mut replies = sw.handle(first);
    while !replies.is_empty() {
        let mut next = Vec::new();
        for r in replies {
            let out = inst.on_message(&r);
            events.extend(out.events.iter().cloned());
            next.extend(sw.handle(out));
        }
        replies = next;
    }
    events
}

#[test]
fn connect_maps_geneve_and_installs_only_what_is_missing() {
    let mut inst = Installer::new();
    let mut sw = FakeSwitch::default();
    let _ = inst.set_desired(&state(50, "11"), 1);
    let first = inst.on_connected();
    let ev = pump(&mut inst, &mut sw, first);
    assert_eq!(sw.tlv.len(), 1);
    assert_eq!((sw.tlv[0].option_class, sw.tlv[0].option_type, sw.tlv[0].option_len), (0x0102, 0x80, 4));
    assert!(ev.contains(&Event::Geneve(Some(0))));
    assert!(ev.contains(&Event::Installed { generation: 1 }));
    assert_eq!(sw.flows.len(), 50);
    assert_eq!(sw.flow_mods, 50);

    // Reconnect with the same desired state: the TLV map is reused, zero flow mods.
    inst.on_disconnected();
    sw.flow_mods = 0;
    sw.min_seen = None;
    let first = inst.on_connected();
    let ev = pump(&mut inst, &mut sw, first);
    assert_eq!(sw.tlv.len(), 1);
    assert_eq!(sw.flow_mods, 0);
    assert_eq!(inst.stats.dumped_flows, 50);
    // A batch with nothing to do sends just a barrier and still reports the generation.
    assert!(ev.contains(&Event::Installed { generation: 1 }));
}

#[test]
fn a_change_sends_only_the_difference() {
    let mut inst = Installer::new();
    let mut sw = FakeSwitch::default();
    let first = inst.on_connected();
    pump(&mut inst, &mut sw, first);
    let out = inst.set_desired(&state(300, "11"), 1);
    pump(&mut inst, &mut sw, out);
    assert_eq!(sw.flows.len(), 300);

    // Remove the first 100, change the next 100 (actions), add 100, keep 100.
    let mut s = state(300, "11");
    s.flows.drain(..100);
    for f in s.flows.iter_mut().take(100) {
        *f = flow(&format!("table=10,priority=100,{},actions=drop", shared::openflow::text::format_match(f.m(), None)));
    }
    s.flows.extend(state(400, "11").flows.drain(300..));
    sw.flow_mods = 0;
    let before = inst.stats.clone();
    let out = inst.set_desired(&s, 2);
    let ev = pump(&mut inst, &mut sw, out);
    assert_eq!(ev, vec![Event::Installed { generation: 2 }]);
    assert_eq!(sw.flow_mods, 300);
    assert_eq!(inst.stats.flow_adds - before.flow_adds, 100);
    assert_eq!(inst.stats.flow_modifies - before.flow_modifies, 100);
    assert_eq!(inst.stats.flow_deletes - before.flow_deletes, 100);
    assert_eq!(sw.flows.len(), 300);
    assert_eq!(sw.min_seen, Some(300));

    // A cookie change is an ADD (MODIFY would keep the old cookie).
    let mut s2 = s.clone();
    std::sync::Arc::make_mut(&mut s2.flows[0].body).cookie = 0xabc;
    let out = inst.set_desired(&s2, 3);
    pump(&mut inst, &mut sw, out);
    assert!(sw.flows.values().any(|(_, b)| b.cookie == 0xabc));
}

#[test]
fn a_rejected_flow_is_attributed_and_the_rest_installed() {
    let mut inst = Installer::new();
    let mut sw = FakeSwitch { reject_priority: Some(666), ..FakeSwitch::default() };
    let first = inst.on_connected();
    pump(&mut inst, &mut sw, first);
    let mut s = state(20, "11");
    s.flows.push(flow("table=10,priority=666,reg14=1,actions=group:77"));
    let out = inst.set_desired(&s, 1);
    let ev = pump(&mut inst, &mut sw, out);
    // First batch failed atomically, the retry without the culprit succeeded.
    assert_eq!(ev, vec![Event::Installed { generation: 1 }]);
    assert_eq!(sw.flows.len(), 20);
    assert_eq!(inst.stats.batches, 3); // the connect batch, the failed one, the retry
    assert_eq!(inst.stats.errors, 2); // the flow's error and the commit's
                                      // The same failing flow is not sent again on the next change.
    let mut s2 = s.clone();
    s2.flows.push(flow("table=10,priority=5,actions=drop"));
    sw.flow_mods = 0;
    let out = inst.set_desired(&s2, 2);
    let ev = pump(&mut inst, &mut sw, out);
    assert_eq!(ev, vec![Event::Installed { generation: 2 }]);
    assert_eq!(sw.flow_mods, 1);
}

#[test]
fn groups_and_meters_by_id_and_table_lists() {
    let mut inst = Installer::new();
    let mut sw = FakeSwitch::default();
    let first = inst.on_connected();
    pump(&mut inst, &mut sw, first);
    let mut s = state(1, "11");
    s.groups.insert(
        1,
        DesiredGroup { id: 1, spec: "type=select,selection_method=dp_hash,bucket=bucket_id=0,weight:100,actions=ct(commit,table=12,zone=NXM_NX_REG13[0..15],nat(dst=10.0.0.2:80))".into() },
    );
    s.meters.insert(
        3,
        DesiredMeter {
            id: 3,
            name: "__string: pktps burst stats bands=type=drop rate=10 burst_size=10".into(),
            spec: "pktps,burst,stats,bands=type=drop,rate=10,burst_size=10".into(),
        },
    );
    let out = inst.set_desired(&s, 1);
    let ev = pump(&mut inst, &mut sw, out);
    assert_eq!(ev, vec![Event::Installed { generation: 1 }]);
    assert_eq!(inst.stats.group_mods, 1);
    assert_eq!(inst.stats.meter_mods, 1);
    assert!(inst.group_table_list().ends_with(": 1\n"), "{}", inst.group_table_list());
    assert_eq!(inst.meter_table_list(), "__string: pktps burst stats bands=type=drop rate=10 burst_size=10: 3\n");
    // Unchanged: nothing re-sent. Removed: deleted.
    let out = inst.set_desired(&s, 2);
    pump(&mut inst, &mut sw, out);
    assert_eq!((inst.stats.group_mods, inst.stats.meter_mods), (1, 1));
    let out = inst.set_desired(&state(1, "11"), 3);
    pump(&mut inst, &mut sw, out);
    assert_eq!((inst.stats.group_mods, inst.stats.meter_mods), (2, 2));
    assert_eq!(inst.group_table_list(), "");
}

#[test]
fn unrelated_and_truncated_input_is_ignored() {
    let mut inst = Installer::new();
    let _ = inst.on_connected();
    let junk = OfMessage::new(999, Message::BarrierReply);
    assert!(inst.on_message(&junk).msgs.is_empty());
    let e = ErrorMsg::from_name("OFPBRC_BAD_TYPE", vec![6, 0]).unwrap();
    assert!(inst.on_message(&OfMessage::new(5, Message::Error(e))).msgs.is_empty());
    let r = MultipartReply {
        flags: mp::MORE,
        body: MultipartReplyBody::Other { mp_type: mp::GROUP_DESC, body: vec![0, 3] },
    };
    assert!(inst.on_message(&OfMessage::new(1, Message::MultipartReply(r))).msgs.is_empty());
}

/// How long the installer itself takes to diff and encode 270,000 new flows (not a timed
/// assertion): `cargo test --release -p flowctl timing_270k -- --ignored --nocapture`.
#[test]
#[ignore]
fn timing_270k() {
    let mut inst = Installer::new();
    let mut sw = FakeSwitch::default();
    let first = inst.on_connected();
    pump(&mut inst, &mut sw, first);
    let s = state(270_000, "11");
    let t = std::time::Instant::now();
    let out = inst.set_desired(&s, 1);
    let built = t.elapsed();
    let t = std::time::Instant::now();
    let n = out.msgs.len();
    let bytes: usize = super::installer::encode_chunks(out.msgs, |_| ()).map(|c| c.len()).sum();
    let encoded = t.elapsed();
    eprintln!("TIMING encode {n} messages: {encoded:?}");
    let reply = OfMessage::new(inst_last_xid(&inst), Message::BarrierReply);
    let t = std::time::Instant::now();
    let ev = inst.on_message(&reply);
    let done = t.elapsed();
    assert_eq!(ev.events, vec![Event::Installed { generation: 1 }]);
    eprintln!("TIMING set_desired+diff {built:?} ({bytes} bytes encoded), barrier bookkeeping {done:?}");
}

fn inst_last_xid(inst: &Installer) -> u32 {
    inst.last_xid()
}

#[test]
fn a_delta_sends_only_its_keys_and_a_rejected_one_is_not_resent() {
    let mut inst = Installer::new();
    let mut sw = FakeSwitch { reject_priority: Some(666), ..FakeSwitch::default() };
    let first = inst.on_connected();
    pump(&mut inst, &mut sw, first);
    let s = state(50, "11");
    let out = inst.set_desired(&s, 1);
    pump(&mut inst, &mut sw, out);
    assert_eq!(sw.flows.len(), 50);
    let (none, no_meters) = (BTreeMap::new(), BTreeMap::new());

    // One flow changed, one removed, one added, one rejected: four flow mods, no more.
    let changed = flow("table=10,priority=100,reg14=2,metadata=0x1,actions=drop");
    let removed = &s.flows[1];
    let added = flow("table=11,priority=5,actions=drop");
    let bad = flow("table=10,priority=666,reg14=1,actions=drop");
    sw.flow_mods = 0;
    let delta = vec![
        (changed.key.clone(), Some(changed.body.clone())),
        (removed.key.clone(), None),
        (added.key.clone(), Some(added.body.clone())),
        (bad.key.clone(), Some(bad.body.clone())),
    ];
    let out = inst.apply_delta(&delta, &none, &no_meters, 2);
    let ev = pump(&mut inst, &mut sw, out);
    assert_eq!(ev, vec![Event::Installed { generation: 2 }]);
    // The failed bundle (4 mods), then its retry without the culprit (3).
    assert_eq!(sw.flow_mods, 7);
    assert_eq!(sw.flows.len(), 50);
    assert!(sw.flows.contains_key(&k(&added.key)) && !sw.flows.contains_key(&k(&removed.key)));

    // A delta that does not name the rejected flow does not send it again.
    sw.flow_mods = 0;
    let other = flow("table=12,priority=5,actions=drop");
    let out = inst.apply_delta(&[(other.key.clone(), Some(other.body.clone()))], &none, &no_meters, 3);
    assert_eq!(pump(&mut inst, &mut sw, out), vec![Event::Installed { generation: 3 }]);
    assert_eq!(sw.flow_mods, 1);
}
