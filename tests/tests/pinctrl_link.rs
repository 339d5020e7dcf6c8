//! The flowctl <-> pinctrl channel with the real processes: pinctrl gets flowctl's state and
//! keeps it while flowctl is down; intents become Southbound rows exactly once, replays
//! included (a test peer speaks the channel protocol next to the real pinctrl).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use chassisd_tests::{require_ovn, wait_until, Controller, Sandbox};
use shared::frame::FrameDecoder;
use shared::pinctrl_link::{
    FromFlowctl, FromPinctrl, IntentId, IntentKind, IntentQueue, PROTOCOL_VERSION, SOCKET_NAME,
};

fn status(sb: &Sandbox) -> String {
    sb.ovn_appctl(["pinctrl/status"])
}

fn field(status: &str, name: &str) -> String {
    status.lines().find_map(|l| l.strip_prefix(&format!("{name}: "))).unwrap_or_default().to_string()
}

/// The child's pid, or 0 while it is not running.
fn child_pid(sb: &Sandbox, name: &str) -> i32 {
    let st: serde_json::Value =
        serde_json::from_str(&sb.ovn_appctl(["supervisor/status", "--format", "json"])).unwrap();
    let child = st["children"].as_array().unwrap().iter().find(|c| c["name"] == name).cloned().unwrap_or_default();
    child["pid"].as_i64().unwrap_or(0) as i32
}

#[test]
fn pinctrl_gets_state_and_keeps_it_while_flowctl_is_down() {
    require_ovn!();
    let sb = Sandbox::builder().infra().controller(Controller::Chassisd).start();
    sb.wait_chassis_registered();
    sb.nbctl(["ls-add", "sw0", "--", "lsp-add", "sw0", "lp1", "--", "lsp-add", "sw0", "lp2"]);
    sb.add_vif("vif1", "lp1");
    sb.wait_port_bound("lp1");
    wait_until(Duration::from_secs(10), "pinctrl state", || {
        let s = status(&sb);
        field(&s, "flowctl channel") == "connected"
            && field(&s, "chassis") == "hv1"
            && s.contains("1 datapaths, 2 ports")
    });
    assert_eq!(field(&status(&sb), "integration bridge"), "br-int");
    let flowctl = child_pid(&sb, "flowctl");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(flowctl), nix::sys::signal::Signal::SIGKILL).unwrap();
    wait_until(Duration::from_secs(5), "pinctrl notices", || {
        field(&status(&sb), "flowctl channel") == "not connected" || child_pid(&sb, "flowctl") != flowctl
    });
    assert!(status(&sb).contains("1 datapaths, 2 ports"), "state kept: {}", status(&sb));
    wait_until(Duration::from_secs(10), "reconnected after flowctl restart", || {
        let s = status(&sb);
        field(&s, "flowctl channel") == "connected" && s.contains("(2 snapshots received)")
    });
}

/// A channel peer in the test: frames over a plain Unix socket.
struct Peer {
    stream: UnixStream,
    decoder: FrameDecoder,
}

impl Peer {
    fn connect(sb: &Sandbox) -> Peer {
        let stream = UnixStream::connect(sb.ovn_dir().join(SOCKET_NAME)).unwrap();
        stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let mut p = Peer { stream, decoder: FrameDecoder::default() };
        p.send(&FromPinctrl::Hello { version: PROTOCOL_VERSION });
        p
    }

    fn send(&mut self, msg: &FromPinctrl) {
        self.stream.write_all(&shared::ipc::encode(msg).unwrap()).unwrap();
    }

    /// Reads until an Ack naming `id`.
    fn wait_ack(&mut self, id: IntentId) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 65536];
        loop {
            while let Some(frame) = self.decoder.next_frame().unwrap() {
                if let FromFlowctl::Ack { ids } = shared::ipc::decode::<FromFlowctl>(&frame).unwrap() {
                    if ids.contains(&id) {
                        return;
                    }
                }
            }
            assert!(Instant::now() < deadline, "no ack for {id:?}");
            match self.stream.read(&mut buf) {
                Ok(0) => panic!("flowctl closed the channel"),
                Ok(n) => self.decoder.push(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => panic!("{e}"),
            }
        }
    }
}

fn mac_bindings(sb: &Sandbox) -> Vec<String> {
    sb.sbctl(["--bare", "--columns=logical_port,ip,mac", "list", "MAC_Binding"])
        .split("\n\n")
        .map(|r| r.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|r| !r.is_empty())
        .collect()
}

#[test]
fn intents_are_written_once_and_replays_are_acknowledged() {
    require_ovn!();
    let sb = Sandbox::builder().infra().controller(Controller::Chassisd).start();
    sb.wait_chassis_registered();
    sb.nbctl(["ls-add", "sw0", "--", "lsp-add", "sw0", "lp1"]);
    sb.add_vif("vif1", "lp1");
    sb.wait_port_bound("lp1");
    let dp_key: u32 = sb.sbctl(["--bare", "--columns=tunnel_key", "list", "Datapath_Binding"]).trim().parse().unwrap();
    let mut queue = IntentQueue::new(42);
    let kind = IntentKind::MacBinding {
        datapath_key: dp_key,
        logical_port: "lp1".into(),
        ip: "10.0.0.9".into(),
        mac: "00:00:00:00:00:09".into(),
    };
    let intent = queue.push(kind.clone()).unwrap();
    let mut peer = Peer::connect(&sb);
    peer.send(&FromPinctrl::Intents { intents: vec![intent.clone()] });
    peer.wait_ack(intent.id);
    assert_eq!(mac_bindings(&sb), vec!["lp1 10.0.0.9 00:00:00:00:00:09"]);

    // The same intent again (its ack was "lost"): acknowledged, not written twice.
    peer.send(&FromPinctrl::Intents { intents: vec![intent.clone()] });
    peer.wait_ack(intent.id);
    // A new pinctrl session with the same write, after a flowctl restart: one row still.
    let flowctl = child_pid(&sb, "flowctl");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(flowctl), nix::sys::signal::Signal::SIGKILL).unwrap();
    wait_until(Duration::from_secs(10), "flowctl back", || {
        ![0, flowctl].contains(&child_pid(&sb, "flowctl")) && field(&status(&sb), "flowctl channel") == "connected"
    });
    let mut fresh = IntentQueue::new(43);
    let again = fresh.push(kind).unwrap();
    let mut peer = Peer::connect(&sb);
    peer.send(&FromPinctrl::Intents { intents: vec![again.clone()] });
    peer.wait_ack(again.id);
    assert_eq!(mac_bindings(&sb), vec!["lp1 10.0.0.9 00:00:00:00:00:09"]);

    // A changed MAC updates the row in place.
    let moved = fresh
        .push(IntentKind::MacBinding {
            datapath_key: dp_key,
            logical_port: "lp1".into(),
            ip: "10.0.0.9".into(),
            mac: "00:00:00:00:00:0a".into(),
        })
        .unwrap();
    peer.send(&FromPinctrl::Intents { intents: vec![moved.clone()] });
    peer.wait_ack(moved.id);
    assert_eq!(mac_bindings(&sb), vec!["lp1 10.0.0.9 00:00:00:00:00:0a"]);
}
