//! The client against a scripted fake server: what a real ovsdb-server will not do on
//! demand (malformed JSON, schema violations, silence, echo requests).

mod ovsdb_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ovsdb_common::{connected, next_event};
use serde_json::{json, Value};
use shared::ovsdb::jsonrpc::{Framer, Message};
use shared::ovsdb::{Client, ClientConfig, Event, MonitorSpec, Remote, Replica, UpdateKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

const SCHEMA: &str = include_str!("../src/ovsdb/testdata/sb-subset.ovsschema");
const TXN1: &str = "11111111-1111-1111-1111-111111111111";
const CHASSIS: &str = "22222222-2222-2222-2222-222222222222";

#[derive(Clone, Copy, PartialEq)]
enum Script {
    /// Malformed JSON after the monitor reply.
    Garbage,
    /// An update3 that does not fit the schema.
    SchemaViolation,
    /// Sends an echo request and expects the reply.
    Echo,
    /// Never answers anything after the monitor reply.
    Silent,
}

struct Fake {
    /// Requests received, per connection.
    requests: Arc<Mutex<Vec<Vec<Value>>>>,
    _dir: tempfile::TempDir,
    sock: std::path::PathBuf,
}

async fn read_msg(s: &mut UnixStream, f: &mut Framer) -> Option<Message> {
    let mut buf = [0u8; 4096];
    loop {
        if let Ok(Some(m)) = f.next_message() {
            return Some(m);
        }
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => f.push(&buf[..n]),
        }
    }
}

async fn send(s: &mut UnixStream, v: Value) {
    let _ = s.write_all(v.to_string().as_bytes()).await;
}

/// Serves the connection handshake, then the script on the first connection only; later
/// connections just stay monitoring (so a reconnect can be observed).
async fn serve(mut s: UnixStream, conn: usize, script: Script, log: Arc<Mutex<Vec<Vec<Value>>>>) {
    let mut f = Framer::default();
    log.lock().unwrap().push(Vec::new());
    loop {
        let Some(m) = read_msg(&mut s, &mut f).await else {
            return;
        };
        let Message::Request { method, params, id } = m else {
            continue;
        };
        log.lock().unwrap()[conn].push(json!({"method": method, "params": params}));
        match method.as_str() {
            "monitor_cond" => send(&mut s, json!({"id": id, "result": null, "error": "unknown database"})).await,
            "get_schema" => {
                let schema: Value = serde_json::from_str(SCHEMA).unwrap();
                send(&mut s, json!({"id": id, "result": schema, "error": null})).await
            }
            "monitor_cond_since" => {
                let found = params[3] == json!(TXN1);
                let updates =
                    if found { json!({}) } else { json!({"Chassis": {CHASSIS: {"initial": {"name": "hv1"}}}}) };
                send(&mut s, json!({"id": id, "result": [found, TXN1, updates], "error": null})).await;
                if conn > 0 {
                    continue;
                }
                match script {
                    Script::Garbage => {
                        s.write_all(b"{\"id\":null,\"method\":\"update3\",\"params\":[[\"data\"],}}").await.unwrap();
                    }
                    Script::SchemaViolation => {
                        send(
                            &mut s,
                            json!({"id": null, "method": "update3", "params": [["data"],
                            "33333333-3333-3333-3333-333333333333",
                            {"Chassis": {CHASSIS: {"modify": {"hostname": 42}}}}]}),
                        )
                        .await
                    }
                    Script::Echo => {
                        send(&mut s, json!({"id": "e1", "method": "echo", "params": ["x"]})).await;
                        let reply = read_msg(&mut s, &mut f).await;
                        let ok = reply == Some(Message::Reply { id: json!("e1"), result: json!(["x"]) });
                        log.lock().unwrap()[conn].push(json!({"echo_reply_ok": ok}));
                    }
                    Script::Silent => {
                        // Read and drop everything, never answer.
                        let mut buf = [0u8; 4096];
                        while let Ok(n) = s.read(&mut buf).await {
                            if n == 0 {
                                return;
                            }
                            log.lock().unwrap()[conn].push(json!({"silent_read": n}));
                        }
                        return;
                    }
                }
            }
            _ => send(&mut s, json!({"id": id, "result": {}, "error": null})).await,
        }
    }
}

fn fake(script: Script) -> Fake {
    let dir = tempfile::Builder::new().prefix("ov").tempdir_in("/tmp").unwrap();
    let sock = dir.path().join("fake.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let log = requests.clone();
    tokio::spawn(async move {
        let mut conn = 0;
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(serve(s, conn, script, log.clone()));
            conn += 1;
        }
    });
    Fake { requests, _dir: dir, sock }
}

fn client(f: &Fake) -> (Client, tokio::sync::mpsc::UnboundedReceiver<Event>) {
    let mut cfg = ClientConfig::new(
        vec![Remote::Unix(f.sock.clone())],
        "OVN_Southbound",
        MonitorSpec::new().table_columns("Chassis", &["name", "hostname"]),
    );
    cfg.backoff_min = Duration::from_millis(50);
    cfg.probe_interval = Some(Duration::from_millis(100));
    Client::start(cfg)
}

fn since_param(f: &Fake, conn: usize) -> Value {
    let reqs = f.requests.lock().unwrap();
    reqs[conn].iter().find(|r| r["method"] == "monitor_cond_since").map(|r| r["params"][3].clone()).unwrap()
}

#[tokio::test]
async fn malformed_json_resets_and_resumes() {
    let f = fake(Script::Garbage);
    let (_c, mut rx) = client(&f);
    let mut r = Replica::new();
    let ev = connected(&mut rx, &mut r, 5).await;
    assert_eq!(ovsdb_common::update_kinds(&ev), vec![UpdateKind::Snapshot]);
    let ev = connected(&mut rx, &mut r, 5).await;
    let Event::Disconnected { reason, .. } = &ev[0] else { panic!("{ev:?}") };
    assert!(reason.contains("JSON"), "{reason}");
    // The stream was broken, not the data: resume from the last good transaction.
    assert_eq!(since_param(&f, 1), json!(TXN1));
    assert_eq!(ovsdb_common::update_kinds(&ev), vec![UpdateKind::Resumed]);
}

#[tokio::test]
async fn schema_violation_resets_and_resyncs() {
    let f = fake(Script::SchemaViolation);
    let (_c, mut rx) = client(&f);
    let mut r = Replica::new();
    connected(&mut rx, &mut r, 5).await;
    let ev = connected(&mut rx, &mut r, 5).await;
    let Event::Disconnected { reason, .. } = &ev[0] else { panic!("{ev:?}") };
    assert!(reason.contains("hostname"), "{reason}");
    // The replica cannot trust what it missed: full resync (zero txn id).
    assert_eq!(since_param(&f, 1), json!("00000000-0000-0000-0000-000000000000"));
    assert_eq!(ovsdb_common::update_kinds(&ev), vec![UpdateKind::Snapshot]);
    assert!(r.take_changes().table("Chassis").unwrap().inserted.len() == 1);
}

#[tokio::test]
async fn answers_server_echo() {
    let f = fake(Script::Echo);
    let (c, mut rx) = client(&f);
    let mut r = Replica::new();
    connected(&mut rx, &mut r, 5).await;
    for _ in 0..50 {
        let ok = f.requests.lock().unwrap()[0].iter().any(|r| r.get("echo_reply_ok") == Some(&json!(true)));
        if ok {
            assert!(c.is_connected());
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no echo reply: {:?}", f.requests.lock().unwrap());
}

#[tokio::test]
async fn silent_server_is_dropped_after_probe() {
    let f = fake(Script::Silent);
    let (_c, mut rx) = client(&f);
    let mut r = Replica::new();
    connected(&mut rx, &mut r, 5).await;
    let start = tokio::time::Instant::now();
    let ev = next_event(&mut rx, 5).await;
    let Event::Disconnected { reason, .. } = ev else { panic!("{ev:?}") };
    assert!(reason.contains("inactivity probe"), "{reason}");
    // Probe after 100 ms of silence, give up 200 ms later.
    assert!(start.elapsed() < Duration::from_secs(2));
    // The probe was an echo request.
    let reqs = f.requests.lock().unwrap();
    assert!(reqs[0].iter().any(|r| r.get("silent_read").is_some()));
}
