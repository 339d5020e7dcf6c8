//! Test harness: real ovsdb-server processes in a short temp dir, stopped by pid on drop.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use shared::ovsdb::{Client, Event, Remote, Replica, UpdateKind};
use tokio::sync::mpsc::UnboundedReceiver;

pub const VSWITCH_SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";
pub const SB_SCHEMA: &str = "/usr/share/ovn/ovn-sb.ovsschema";

/// One ovsdb-server process serving one database file.
pub struct Server {
    pub name: String,
    dir: PathBuf,
    pub db: PathBuf,
    pub sock: PathBuf,
    /// Extra `--remote` arguments (e.g. `ptcp:PORT:127.0.0.1`).
    pub extra_remotes: Vec<String>,
    pid: Option<i32>,
}

impl Server {
    fn new(dir: &Path, name: &str) -> Server {
        Server {
            name: name.to_owned(),
            dir: dir.to_owned(),
            db: dir.join(format!("{name}.db")),
            sock: dir.join(format!("{name}.sock")),
            extra_remotes: Vec::new(),
            pid: None,
        }
    }

    pub fn remote(&self) -> Remote {
        Remote::Unix(self.sock.clone())
    }

    pub fn is_running(&self) -> bool {
        self.pid.is_some()
    }

    pub fn start(&mut self) {
        assert!(self.pid.is_none(), "{} already running", self.name);
        let f = |ext: &str| self.dir.join(format!("{}.{ext}", self.name));
        let pidfile = f("pid");
        let out = Command::new("ovsdb-server")
            .arg(&self.db)
            .arg(format!("--remote=punix:{}", self.sock.display()))
            .args(self.extra_remotes.iter().map(|r| format!("--remote={r}")))
            .arg(format!("--pidfile={}", pidfile.display()))
            .arg(format!("--unixctl={}", f("ctl").display()))
            .arg(format!("--log-file={}", f("log").display()))
            .args(["--detach", "--no-chdir", "-vconsole:off"])
            .output()
            .expect("run ovsdb-server");
        assert!(out.status.success(), "ovsdb-server failed: {}", String::from_utf8_lossy(&out.stderr));
        let pid: i32 = std::fs::read_to_string(&pidfile).expect("pidfile").trim().parse().expect("pid");
        self.pid = Some(pid);
    }

    /// Stops exactly the process this harness started, and waits until it is gone.
    pub fn stop(&mut self) {
        let Some(pid) = self.pid.take() else { return };
        let pid = Pid::from_raw(pid);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(pid) {
            if Instant::now() > deadline {
                let _ = kill(pid, Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_file(&self.sock);
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("{}.log", self.name))).unwrap_or_default()
    }
}

/// Running and not a zombie (a detached server is reaped by init, maybe not at once).
fn alive(pid: Pid) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn tool(args: &[&str]) {
    let out = Command::new("ovsdb-tool").args(args).output().expect("run ovsdb-tool");
    assert!(out.status.success(), "ovsdb-tool {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Servers sharing one temp dir; fields drop in order, so servers stop before the dir goes.
pub struct Servers {
    pub members: Vec<Server>,
    _dir: tempfile::TempDir,
}

impl Servers {
    pub fn remotes(&self) -> Vec<Remote> {
        self.members.iter().map(Server::remote).collect()
    }
}

fn tempdir() -> tempfile::TempDir {
    // Unix socket paths are limited to 108 bytes: stay short.
    tempfile::Builder::new().prefix("ov").tempdir_in("/tmp").expect("tempdir")
}

/// A standalone database server.
pub fn standalone(schema: &str) -> Servers {
    let dir = tempdir();
    let mut s = Server::new(dir.path(), "s1");
    tool(&["create", s.db.to_str().unwrap(), schema]);
    s.start();
    Servers { members: vec![s], _dir: dir }
}

/// A standalone server also listening on TCP at 127.0.0.1; returns the port.
pub fn standalone_tcp(schema: &str) -> (Servers, u16) {
    let dir = tempdir();
    // Ask the kernel for a free port; the tiny race with other processes is acceptable here.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let mut s = Server::new(dir.path(), "s1");
    s.extra_remotes.push(format!("ptcp:{port}:127.0.0.1"));
    tool(&["create", s.db.to_str().unwrap(), schema]);
    s.start();
    (Servers { members: vec![s], _dir: dir }, port)
}

/// An `n`-member Raft cluster, Raft traffic over unix sockets in the temp dir.
pub fn cluster(schema: &str, db_name: &str, n: usize) -> Servers {
    let dir = tempdir();
    let raft = |i: usize| format!("unix:{}/r{i}.sock", dir.path().display());
    let mut members = Vec::new();
    for i in 1..=n {
        let s = Server::new(dir.path(), &format!("s{i}"));
        let db = s.db.to_str().unwrap().to_owned();
        if i == 1 {
            tool(&["--election-timer=1000", "create-cluster", &db, schema, &raft(1)]);
        } else {
            tool(&["join-cluster", &db, db_name, &raft(i), &raft(1)]);
        }
        members.push(s);
    }
    for s in &mut members {
        s.start();
    }
    // A member stopped before its join completed cannot start again ("server does not belong
    // to cluster"): tests stop members, so wait until every one has joined.
    let deadline = Instant::now() + Duration::from_secs(20);
    for s in &members {
        let ctl = s.dir.join(format!("{}.ctl", s.name));
        loop {
            let out = Command::new("ovs-appctl")
                .args(["-t", &ctl.display().to_string(), "cluster/status", db_name])
                .output()
                .expect("run ovs-appctl");
            let text = String::from_utf8_lossy(&out.stdout);
            if text.lines().any(|l| l.trim() == "Status: cluster member") {
                break;
            }
            assert!(Instant::now() < deadline, "{} never joined the cluster: {text}", s.name);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Servers { members, _dir: dir }
}

/// Receives the next event, failing the test after `secs`.
pub async fn next_event(rx: &mut UnboundedReceiver<Event>, secs: u64) -> Event {
    tokio::time::timeout(Duration::from_secs(secs), rx.recv())
        .await
        .expect("timed out waiting for an ovsdb event")
        .expect("client task ended")
}

/// Feeds events to `replica` until `done` holds for the replica; returns the events seen.
pub async fn run_until(
    rx: &mut UnboundedReceiver<Event>,
    replica: &mut Replica,
    secs: u64,
    mut done: impl FnMut(&Replica) -> bool,
) -> Vec<Event> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut seen = Vec::new();
    while !done(replica) {
        let left = deadline.saturating_duration_since(Instant::now());
        let ev = tokio::time::timeout(left, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out; events so far: {seen:#?}"))
            .expect("client task ended");
        apply(replica, &ev);
        seen.push(ev);
    }
    seen
}

pub fn apply(replica: &mut Replica, ev: &Event) {
    match ev {
        Event::Connected { schema, .. } => replica.set_schema(schema.clone()),
        Event::Update(u) => u.clone().apply_to(replica).expect("apply update"),
        _ => {}
    }
}

/// Waits for the next connection: `Connected` then its monitor reply, both applied.
pub async fn connected(rx: &mut UnboundedReceiver<Event>, replica: &mut Replica, secs: u64) -> Vec<Event> {
    let mut seen = Vec::new();
    loop {
        let ev = next_event(rx, secs).await;
        apply(replica, &ev);
        let is_update = matches!(ev, Event::Update(_));
        let was_connected = seen.iter().any(|e| matches!(e, Event::Connected { .. }));
        seen.push(ev);
        if is_update && was_connected {
            return seen;
        }
    }
}

/// Kinds of the updates among `events`.
pub fn update_kinds(events: &[Event]) -> Vec<UpdateKind> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Update(u) => Some(u.kind),
            _ => None,
        })
        .collect()
}

/// Retries a transaction until the server accepts it (a restarted cluster member may need a
/// moment to elect a leader).
pub async fn transact_retry(c: &Client, ops: Vec<shared::ovsdb::Operation>) -> Vec<shared::ovsdb::OpResult> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match c.transact(ops.clone()).await {
            Ok(r) => return r,
            Err(e @ shared::ovsdb::Error::Transaction { .. }) if e.to_string().contains("violation") => {
                panic!("transact failed: {e}")
            }
            Err(e) if Instant::now() < deadline => {
                eprintln!("transact: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("transact failed: {e}"),
        }
    }
}
