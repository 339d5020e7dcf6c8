//! shared::switch against a scripted peer on a unix socket: hello and version check, echo,
//! bad input (skipped or reset, never a crash), probe, reconnect, and the bounded send queue.

use std::time::Duration;

use shared::openflow::header::{OFP13_VERSION, OFP15_VERSION};
use shared::openflow::{Message, OfMessage};
use shared::switch::{Switch, SwitchConfig, SwitchEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc::Receiver;
use tokio::time::timeout;

const T: Duration = Duration::from_secs(5);

fn config(dir: &tempfile::TempDir) -> SwitchConfig {
    let mut c = SwitchConfig::new(dir.path().join("br-int.mgmt"));
    c.backoff_min = Duration::from_millis(20);
    c.backoff_max = Duration::from_millis(100);
    c
}

async fn read_msg(s: &mut UnixStream) -> OfMessage {
    let mut h = [0u8; 8];
    s.read_exact(&mut h).await.unwrap();
    let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let mut body = vec![0u8; len - 8];
    s.read_exact(&mut body).await.unwrap();
    let mut all = h.to_vec();
    all.extend(body);
    OfMessage::decode(&all).unwrap()
}

/// Accept one connection and do the HELLO exchange offering `bitmap`.
async fn accept(l: &UnixListener, bitmap: u32) -> UnixStream {
    let (mut s, _) = timeout(T, l.accept()).await.unwrap().unwrap();
    let hello = read_msg(&mut s).await;
    assert_eq!(hello.body, Message::Hello { version_bitmap: 1 << OFP15_VERSION });
    s.write_all(&OfMessage::new(1, Message::Hello { version_bitmap: bitmap }).encode()).await.unwrap();
    s
}

async fn next(ev: &mut Receiver<SwitchEvent>) -> SwitchEvent {
    timeout(T, ev.recv()).await.expect("event in time").expect("switch task alive")
}

#[tokio::test]
async fn hello_echo_messages_and_bad_input_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let l = UnixListener::bind(dir.path().join("br-int.mgmt")).unwrap();
    let (sw, mut ev) = Switch::start(config(&dir));
    let mut s = accept(&l, 0x7e).await;
    let SwitchEvent::Connected { conn, version } = next(&mut ev).await else { panic!("not connected") };
    assert_eq!(version, OFP15_VERSION);

    s.write_all(&OfMessage::new(7, Message::EchoRequest(vec![1, 2, 3])).encode()).await.unwrap();
    let r = read_msg(&mut s).await;
    assert_eq!((r.xid, r.body), (7, Message::EchoReply(vec![1, 2, 3])));

    // A body too short for its type (FLOW_MOD of 12 bytes), then an unknown type: neither
    // ends the connection; a following barrier reply arrives.
    s.write_all(&[6, 14, 0, 12, 0, 0, 0, 9, 1, 2, 3, 4]).await.unwrap();
    s.write_all(&[6, 200, 0, 8, 0, 0, 0, 10]).await.unwrap();
    s.write_all(&OfMessage::new(11, Message::BarrierReply).encode()).await.unwrap();
    loop {
        match next(&mut ev).await {
            SwitchEvent::Message(m) if m.body == Message::BarrierReply => {
                assert_eq!(m.xid, 11);
                break;
            }
            SwitchEvent::Message(_) => {}
            e => panic!("unexpected {e:?}"),
        }
    }

    // Owner's sends arrive; xids are fresh and non-zero.
    let xid = sw.next_xid();
    assert_ne!(xid, 0);
    assert!(sw.send(conn, OfMessage::new(xid, Message::BarrierRequest).encode()).await);
    let r = read_msg(&mut s).await;
    assert_eq!((r.xid, r.body), (xid, Message::BarrierRequest));
}

#[tokio::test]
async fn unframeable_input_resets_then_reconnects_and_stale_sends_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let l = UnixListener::bind(dir.path().join("br-int.mgmt")).unwrap();
    let (sw, mut ev) = Switch::start(config(&dir));
    let mut s = accept(&l, 1 << OFP15_VERSION).await;
    let SwitchEvent::Connected { conn: c1, .. } = next(&mut ev).await else { panic!() };
    s.write_all(&[6, 0, 0, 4, 0, 0, 0, 0]).await.unwrap(); // length 4 < header: cannot resync
    assert!(matches!(next(&mut ev).await, SwitchEvent::Disconnected { .. }));
    // A send for the old connection must not reach the new one.
    assert!(sw.send(c1, OfMessage::new(99, Message::BarrierRequest).encode()).await);
    let mut s2 = accept(&l, 1 << OFP15_VERSION).await;
    let SwitchEvent::Connected { conn: c2, .. } = next(&mut ev).await else { panic!() };
    assert_ne!(c1, c2);
    assert!(sw.send(c2, OfMessage::new(100, Message::BarrierRequest).encode()).await);
    assert_eq!(read_msg(&mut s2).await.xid, 100);
}

#[tokio::test]
async fn version_mismatch_is_not_a_connection() {
    let dir = tempfile::tempdir().unwrap();
    let l = UnixListener::bind(dir.path().join("br-int.mgmt")).unwrap();
    let (_sw, mut ev) = Switch::start(config(&dir));
    let _s = accept(&l, 1 << OFP13_VERSION).await;
    // It retries; the second attempt gets OF1.5.
    let _s2 = accept(&l, 1 << OFP15_VERSION).await;
    assert!(matches!(next(&mut ev).await, SwitchEvent::Connected { .. }));
}

#[tokio::test]
async fn inactivity_probe_then_drop() {
    let dir = tempfile::tempdir().unwrap();
    let l = UnixListener::bind(dir.path().join("br-int.mgmt")).unwrap();
    let mut c = config(&dir);
    c.probe_interval = Some(Duration::from_millis(200));
    let (_sw, mut ev) = Switch::start(c);
    let mut s = accept(&l, 1 << OFP15_VERSION).await;
    assert!(matches!(next(&mut ev).await, SwitchEvent::Connected { .. }));
    let probe = timeout(T, read_msg(&mut s)).await.unwrap();
    assert_eq!(probe.body, Message::EchoRequest(Vec::new()));
    let SwitchEvent::Disconnected { reason } = next(&mut ev).await else { panic!() };
    assert!(reason.contains("probe"), "{reason}");
}

#[tokio::test]
async fn a_switch_that_does_not_read_stops_the_sender() {
    let dir = tempfile::tempdir().unwrap();
    let l = UnixListener::bind(dir.path().join("br-int.mgmt")).unwrap();
    let mut c = config(&dir);
    c.queue_chunks = 4;
    let (sw, mut ev) = Switch::start(c);
    let _s = accept(&l, 1 << OFP15_VERSION).await; // never reads again
    let SwitchEvent::Connected { conn, .. } = next(&mut ev).await else { panic!() };
    let chunk: Vec<u8> = (0..1000).flat_map(|i| OfMessage::new(i, Message::BarrierRequest).encode()).collect();
    let mut sent = 0usize;
    loop {
        match timeout(Duration::from_millis(300), sw.send(conn, chunk.clone())).await {
            Ok(ok) => assert!(ok),
            Err(_) => break, // blocked: backpressure
        }
        sent += 1;
        assert!(sent < 10_000, "queue grew without bound");
    }
    // Socket buffers plus at most the queue and the chunk being written.
    assert!(sw.pending() <= 4 + 2, "pending {}", sw.pending());
}
