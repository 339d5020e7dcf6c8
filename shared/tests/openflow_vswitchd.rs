//! Against a real ovs-vswitchd (dummy datapath, own ovsdb-server, in a short temp dir):
//! flows we encode are accepted, the flow table vswitchd reports decodes and prints exactly
//! as `ovs-ofctl dump-flows` prints it, and a paused controller action reaches us as
//! NXT_PACKET_IN2 with userdata and a continuation that NXT_RESUME accepts.

mod openflow_oracle;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use openflow_oracle::flows::FLOWS;
use openflow_oracle::have_ovs_ofctl;
use shared::openflow::header::{split_frame, OFP15_VERSION};
use shared::openflow::messages::*;
use shared::openflow::text::{format_flow_stats_no_stats, parse_flow};
use shared::openflow::Match;

struct Ovs {
    dir: tempfile::TempDir,
    children: Vec<Child>,
}

impl Drop for Ovs {
    fn drop(&mut self) {
        // Only the processes this test started.
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn run(cmd: &str, args: &[&str], env_dir: &Path) -> String {
    let out = Command::new(cmd)
        .args(args)
        .env("OVS_RUNDIR", env_dir)
        .env("OVS_LOGDIR", env_dir)
        .env("OVS_DBDIR", env_dir)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_for(p: &Path) {
    let t = Instant::now();
    while !p.exists() {
        assert!(t.elapsed() < Duration::from_secs(20), "{} never appeared", p.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn start_ovs() -> Option<Ovs> {
    let have = |c: &str| Command::new(c).arg("--version").stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    if !["ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovsdb-tool"].iter().all(|c| have(c)) {
        eprintln!("skipped: OVS daemons not installed");
        return None;
    }
    let dir = tempfile::Builder::new().prefix("ofv").tempdir_in("/tmp").unwrap();
    let d = dir.path().to_path_buf();
    let ds = d.to_str().unwrap().to_string();
    run("ovsdb-tool", &["create", &format!("{ds}/conf.db"), "/usr/share/openvswitch/vswitch.ovsschema"], &d);
    let mut ovs = Ovs { dir, children: Vec::new() };
    let db = Command::new("ovsdb-server")
        .args([
            &format!("{ds}/conf.db"),
            &format!("--remote=punix:{ds}/db.sock"),
            &format!("--unixctl={ds}/ovsdb.ctl"),
            &format!("--log-file={ds}/ovsdb.log"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    ovs.children.push(db);
    wait_for(&d.join("db.sock"));
    let dbr = format!("--db=unix:{ds}/db.sock");
    run("ovs-vsctl", &[&dbr, "--no-wait", "init"], &d);
    let vs = Command::new("ovs-vswitchd")
        .args([
            "--enable-dummy=override",
            &format!("unix:{ds}/db.sock"),
            &format!("--unixctl={ds}/vswitchd.ctl"),
            &format!("--log-file={ds}/vswitchd.log"),
        ])
        .env("OVS_RUNDIR", &d)
        .env("OVS_LOGDIR", &d)
        .env("OVS_DBDIR", &d)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    ovs.children.push(vs);
    run(
        "ovs-vsctl",
        &[
            &dbr,
            "--timeout=20",
            "add-br",
            "br-int",
            "--",
            "set",
            "bridge",
            "br-int",
            "datapath_type=dummy",
            "fail-mode=secure",
            "--",
            "add-port",
            "br-int",
            "p1",
            "--",
            "set",
            "interface",
            "p1",
            "type=dummy",
            "ofport_request=1",
        ],
        &d,
    );
    wait_for(&d.join("br-int.mgmt"));
    Some(ovs)
}

struct Conn {
    s: UnixStream,
    buf: Vec<u8>,
    xid: u32,
}

impl Conn {
    fn open(path: &Path) -> Conn {
        let s = UnixStream::connect(path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut c = Conn { s, buf: Vec::new(), xid: 100 };
        c.send(Message::Hello { version_bitmap: 1 << OFP15_VERSION });
        let h = c.recv();
        assert!(matches!(h.body, Message::Hello { .. }), "{h:?}");
        c
    }

    fn send(&mut self, body: Message) -> u32 {
        self.xid += 1;
        let m = OfMessage::new(self.xid, body);
        self.s.write_all(&m.encode()).unwrap();
        self.xid
    }

    fn send_msg(&mut self, m: &OfMessage) {
        self.s.write_all(&m.encode()).unwrap();
    }

    fn recv(&mut self) -> OfMessage {
        loop {
            if let Some((m, rest)) = split_frame(&self.buf).unwrap() {
                let msg = OfMessage::decode(m)
                    .unwrap_or_else(|e| panic!("decode {}: {e}", shared::openflow::wire::to_hex(m)));
                self.buf = rest.to_vec();
                if let Message::EchoRequest(d) = &msg.body {
                    let r = OfMessage { version: msg.version, xid: msg.xid, body: Message::EchoReply(d.clone()) };
                    self.send_msg(&r);
                    continue;
                }
                return msg;
            }
            let mut tmp = [0u8; 65536];
            let n = self.s.read(&mut tmp).unwrap();
            assert!(n > 0, "connection closed");
            self.buf.extend_from_slice(&tmp[..n]);
        }
    }

    /// Send a barrier and collect everything before its reply.
    fn barrier(&mut self) -> Vec<OfMessage> {
        let x = self.send(Message::BarrierRequest);
        let mut v = Vec::new();
        loop {
            let m = self.recv();
            if m.xid == x && m.body == Message::BarrierReply {
                return v;
            }
            v.push(m);
        }
    }
}

fn error_text(m: &OfMessage) -> Option<String> {
    match &m.body {
        Message::Error(e) => Some(format!("xid {}: {}", m.xid, e.name().unwrap_or("?"))),
        _ => None,
    }
}

fn dump_flows(c: &mut Conn) -> Vec<String> {
    let x = c.send(Message::MultipartRequest(MultipartRequest {
        flags: 0,
        body: MultipartRequestBody::Flow(FlowStatsRequest {
            table_id: OFPTT_ALL,
            out_port: OFPP_ANY,
            out_group: OFPG_ANY,
            cookie: 0,
            cookie_mask: 0,
            matches: Match::new(),
        }),
    }));
    let mut lines = Vec::new();
    loop {
        let m = c.recv();
        assert_eq!(m.xid, x, "{m:?}");
        let Message::MultipartReply(r) = m.body else { panic!("{m:?}") };
        let MultipartReplyBody::Flow(fs) = r.body else { panic!("not a flow reply") };
        lines.extend(fs.iter().map(format_flow_stats_no_stats));
        if r.flags & mp::MORE == 0 {
            break;
        }
    }
    lines.sort();
    lines
}

fn ofctl_dump(mgmt: &Path) -> Vec<String> {
    let out = Command::new("ovs-ofctl")
        .args(["-O", "OpenFlow15", "--no-stats", "--no-names", "dump-flows"])
        .arg(format!("unix:{}", mgmt.display()))
        .output()
        .unwrap();
    let mut v: Vec<String> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
    v.sort();
    v
}

#[test]
fn vswitchd_accepts_our_flows_and_we_read_them_back() {
    if !have_ovs_ofctl("vswitchd_accepts_our_flows_and_we_read_them_back") {
        return;
    }
    let Some(ovs) = start_ovs() else { return };
    let mgmt: PathBuf = ovs.dir.path().join("br-int.mgmt");
    let mut c = Conn::open(&mgmt);

    // Geneve option mapping, a group and a meter that the flows refer to.
    c.send(Message::TlvTableMod(TlvTableMod {
        command: tlv_command::ADD,
        maps: vec![TlvMap { option_class: 0x102, option_type: 0x80, option_len: 4, index: 0 }],
    }));
    c.send(Message::GroupMod(GroupMod {
        command: group_command::ADD,
        group_type: group_type::SELECT,
        group_id: 3,
        command_bucket_id: 0xffff_ffff,
        buckets: vec![Bucket {
            bucket_id: 0,
            actions: shared::openflow::text::parse_actions("output:1").unwrap(),
            weight: Some(100),
            watch_port: None,
            watch_group: None,
        }],
        properties: vec![],
    }));
    c.send(Message::MeterMod(MeterMod {
        command: meter::ADD,
        flags: meter::PKTPS | meter::BURST | meter::STATS,
        meter_id: 2,
        bands: vec![MeterBand { band_type: 1, rate: 100, burst_size: 20, prec_level: 0 }],
    }));
    c.send(Message::MeterMod(MeterMod {
        command: meter::ADD,
        flags: meter::PKTPS,
        meter_id: 5,
        bands: vec![MeterBand { band_type: 1, rate: 10, burst_size: 0, prec_level: 0 }],
    }));
    c.send(Message::MeterMod(MeterMod {
        command: meter::ADD,
        flags: meter::PKTPS,
        meter_id: 7,
        bands: vec![MeterBand { band_type: 1, rate: 10, burst_size: 0, prec_level: 0 }],
    }));
    let errs: Vec<String> = c.barrier().iter().filter_map(error_text).collect();
    assert!(errs.is_empty(), "setup errors: {errs:?}");

    // All flows in one atomic, ordered bundle, as ovn-controller installs them.
    let open = c.send(Message::BundleControl(BundleControl {
        bundle_id: 1,
        ctrl_type: bundle::OPEN_REQUEST,
        flags: bundle::ATOMIC | bundle::ORDERED,
        properties: vec![],
    }));
    let r = c.recv();
    assert_eq!(r.xid, open);
    assert!(matches!(r.body, Message::BundleControl(BundleControl { ctrl_type: bundle::OPEN_REPLY, .. })), "{r:?}");
    let mut xids = Vec::new();
    for f in FLOWS {
        let fm = parse_flow(f).unwrap();
        c.xid += 1;
        let inner = OfMessage::new(c.xid, Message::FlowMod(fm));
        let m = OfMessage::new(
            c.xid,
            Message::BundleAdd(BundleAdd {
                bundle_id: 1,
                flags: bundle::ATOMIC | bundle::ORDERED,
                message: Box::new(inner),
            }),
        );
        c.send_msg(&m);
        xids.push((c.xid, *f));
    }
    let commit = c.send(Message::BundleControl(BundleControl {
        bundle_id: 1,
        ctrl_type: bundle::COMMIT_REQUEST,
        flags: bundle::ATOMIC | bundle::ORDERED,
        properties: vec![],
    }));
    let mut errs = Vec::new();
    for m in c.barrier() {
        if let Some(e) = error_text(&m) {
            let flow = xids.iter().find(|(x, _)| *x == m.xid).map_or("", |(_, f)| f);
            errs.push(format!("{e} {flow}"));
        } else if m.xid == commit {
            assert!(
                matches!(m.body, Message::BundleControl(BundleControl { ctrl_type: bundle::COMMIT_REPLY, .. })),
                "{m:?}"
            );
        }
    }
    assert!(errs.is_empty(), "vswitchd rejected:\n{}", errs.join("\n"));

    let ours = dump_flows(&mut c);
    let theirs = ofctl_dump(&mgmt);
    assert_eq!(ours.len(), FLOWS.len(), "{ours:#?}");
    let only_ours: Vec<&String> = ours.iter().filter(|l| !theirs.contains(l)).collect();
    let only_theirs: Vec<&String> = theirs.iter().filter(|l| !ours.contains(l)).collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "we print:\n{only_ours:#?}\novs-ofctl prints:\n{only_theirs:#?}"
    );
}

#[test]
fn packet_in2_continuation_and_resume() {
    if !have_ovs_ofctl("packet_in2_continuation_and_resume") {
        return;
    }
    let Some(ovs) = start_ovs() else { return };
    let d = ovs.dir.path().to_path_buf();
    let mgmt = d.join("br-int.mgmt");
    let mut c = Conn::open(&mgmt);
    // What pinctrl does on connect: ask for async messages and NXT_PACKET_IN2.
    c.send(Message::SetConfig(SwitchConfig { flags: 0, miss_send_len: u16::MAX }));
    c.send(Message::SetPacketInFormat(NXPIF_NXT_PACKET_IN2));
    for f in [
        "table=0,priority=100,in_port=1,arp,actions=load:0x5->NXM_NX_REG14[],controller(userdata=00.00.00.02.00.00.00.00.00.01.02.03,pause),resubmit(,1)",
        "table=1,priority=100,reg14=0x5,actions=load:0x7->NXM_NX_REG15[],controller(userdata=00.00.00.07.00.00.00.00)",
    ] {
        c.send(Message::FlowMod(parse_flow(f).unwrap()));
    }
    let errs: Vec<String> = c.barrier().iter().filter_map(error_text).collect();
    assert!(errs.is_empty(), "{errs:?}");

    let arp = "ffffffffffff0000000000010806000108000604000100000000000\
               10a0000010000000000000a000002";
    run("ovs-appctl", &["-t", d.join("vswitchd.ctl").to_str().unwrap(), "netdev-dummy/receive", "p1", arp], &d);
    let pin = loop {
        let m = c.recv();
        if let Message::PacketIn2(p) = m.body {
            break p;
        }
    };
    assert_eq!(pin.userdata.as_deref(), Some(&[0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 2, 3][..]));
    assert_eq!(pin.table_id, Some(0));
    assert_eq!(pin.reason, Some(1));
    assert_eq!(pin.packet.len(), 42);
    let cont = pin.continuation.clone().expect("paused controller action carries a continuation");
    assert!(!cont.is_empty());
    let md = pin.metadata.clone().expect("metadata");
    assert_eq!(md.get(shared::openflow::Field::REG14).map(|v| v.0), Some(vec![0, 0, 0, 5]));

    // Resume: processing continues after the pause and reaches the second controller action.
    let resume = PacketIn2 { userdata: None, ..pin };
    c.send(Message::Resume(resume));
    let pin2 = loop {
        let m = c.recv();
        if let Some(e) = error_text(&m) {
            panic!("resume rejected: {e}");
        }
        if let Message::PacketIn2(p) = m.body {
            break p;
        }
    };
    assert_eq!(pin2.userdata.as_deref(), Some(&[0, 0, 0, 7, 0, 0, 0, 0][..]));
    assert_eq!(pin2.continuation, None);
    let md2 = pin2.metadata.expect("metadata");
    assert_eq!(md2.get(shared::openflow::Field::REG15).map(|v| v.0), Some(vec![0, 0, 0, 7]));
    // Port status: async, like packet-ins.
    let dbr = format!("--db=unix:{}/db.sock", d.display());
    run(
        "ovs-vsctl",
        &[&dbr, "add-port", "br-int", "p2", "--", "set", "interface", "p2", "type=dummy", "ofport_request=2"],
        &d,
    );
    let ps = loop {
        if let Message::PortStatus(ps) = c.recv().body {
            if ps.desc.name_str() == "p2" {
                break ps;
            }
        }
    };
    assert_eq!(ps.desc.port_no, 2);
}

#[test]
fn features_and_port_description() {
    if !have_ovs_ofctl("features_and_port_description") {
        return;
    }
    let Some(ovs) = start_ovs() else { return };
    let mut c = Conn::open(&ovs.dir.path().join("br-int.mgmt"));
    let x = c.send(Message::FeaturesRequest);
    let m = c.recv();
    assert_eq!(m.xid, x);
    assert!(matches!(m.body, Message::FeaturesReply(FeaturesReply { n_tables: 254, .. })), "{m:?}");

    let x = c.send(Message::MultipartRequest(MultipartRequest::simple(mp::METER_FEATURES)));
    let m = c.recv();
    assert_eq!(m.xid, x);
    let Message::MultipartReply(MultipartReply { body: MultipartReplyBody::MeterFeatures(mf), .. }) = m.body else {
        panic!("{m:?}")
    };
    assert!(mf.max_meter > 0, "{mf:?}");

    let x = c.send(Message::MultipartRequest(MultipartRequest::simple(mp::GROUP_FEATURES)));
    let m = c.recv();
    assert_eq!(m.xid, x);
    let Message::MultipartReply(MultipartReply { body: MultipartReplyBody::GroupFeatures(gf), .. }) = m.body else {
        panic!("{m:?}")
    };
    assert!(gf.max_groups[1] > 0, "{gf:?}");

    let x = c.send(Message::MultipartRequest(MultipartRequest::simple(mp::PORT_DESC)));
    let m = c.recv();
    assert_eq!(m.xid, x);
    let Message::MultipartReply(MultipartReply { body: MultipartReplyBody::PortDesc(ports), .. }) = m.body else {
        panic!("{m:?}")
    };
    let mut names: Vec<String> = ports.iter().map(|p| p.name_str()).collect();
    names.sort();
    assert_eq!(names, ["br-int", "p1"]);

    let x = c.send(Message::GetConfigRequest);
    let m = c.recv();
    assert_eq!(m.xid, x);
    assert!(matches!(m.body, Message::GetConfigReply(_)), "{m:?}");
}
