//! `ssl:` remotes against a real ovsdb-server listening on `pssl:`, with certificates made by
//! `ovs-pki` (as an OVN deployment makes them): monitor and transact, a client certificate
//! the server does not trust, a server certificate from another CA, renewed files picked up
//! on reconnect, and `--bootstrap-ca-cert`.

mod ovsdb_common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use ovsdb_common::*;
use shared::ovsdb::{
    Client, ClientConfig, Condition, Datum, Event, MonitorSpec, OpResult, Operation, Remote, Replica, RowData,
    TlsConfig,
};
use tokio::sync::mpsc::UnboundedReceiver;

/// A throwaway PKI made with `ovs-pki` in a short temp dir: `controllerca` signs the server
/// certificate `sb`, `switchca` signs the chassis certificate `hv1`, and `rogue` is a
/// self-signed chassis certificate.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        // Unix socket paths (the server's control socket) are limited to 108 bytes.
        let dir = tempfile::Builder::new().prefix("os").tempdir_in("/tmp").expect("tempdir");
        let pki = Pki { dir };
        pki.ovs_pki(&["init"]);
        pki.ovs_pki(&["req+sign", "sb", "controller"]);
        pki.ovs_pki(&["req+sign", "hv1", "switch"]);
        pki.ovs_pki(&["req", "rogue"]);
        pki.ovs_pki(&["self-sign", "rogue"]);
        pki
    }

    fn ovs_pki(&self, args: &[&str]) {
        let out = Command::new("ovs-pki")
            .arg(format!("--dir={}", self.path("pki").display()))
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run ovs-pki");
        assert!(out.status.success(), "ovs-pki {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn key(&self, who: &str) -> PathBuf {
        self.path(&format!("{who}-privkey.pem"))
    }

    fn cert(&self, who: &str) -> PathBuf {
        self.path(&format!("{who}-cert.pem"))
    }

    /// `controller` or `switch`.
    fn ca(&self, which: &str) -> PathBuf {
        self.path(&format!("pki/{which}ca/cacert.pem"))
    }

    /// TLS settings for chassis certificate `who`, trusting `ca_file`.
    fn tls(&self, who: &str, ca_file: PathBuf) -> TlsConfig {
        TlsConfig::new(self.key(who), self.cert(who), ca_file)
    }
}

/// One ovsdb-server on `pssl:0:127.0.0.1` (the kernel picks the port, read from its log),
/// stopped by pid on drop, even when the test panics.
struct SslServer {
    pid: Pid,
    port: u16,
    log: PathBuf,
}

impl SslServer {
    /// Serves a fresh Open_vSwitch database with `who`'s key and certificate, trusting
    /// clients signed by `client_ca`; `extra` are more options (`--peer-ca-cert=`, ...).
    fn start(pki: &Pki, name: &str, who: &str, client_ca: &Path, extra: &[String]) -> SslServer {
        let f = |ext: &str| pki.path(&format!("{name}.{ext}"));
        let db = f("db");
        let out = Command::new("ovsdb-tool").arg("create").arg(&db).arg(VSWITCH_SCHEMA).output().expect("ovsdb-tool");
        assert!(out.status.success(), "ovsdb-tool: {}", String::from_utf8_lossy(&out.stderr));
        let pidfile = f("pid");
        let log = f("log");
        let out = Command::new("ovsdb-server")
            .arg(&db)
            .arg("--remote=pssl:0:127.0.0.1")
            .arg(format!("--private-key={}", pki.key(who).display()))
            .arg(format!("--certificate={}", pki.cert(who).display()))
            .arg(format!("--ca-cert={}", client_ca.display()))
            .args(extra)
            .arg(format!("--pidfile={}", pidfile.display()))
            .arg(format!("--unixctl={}", f("ctl").display()))
            .arg(format!("--log-file={}", log.display()))
            .args(["--detach", "--no-chdir", "-vconsole:off"])
            .output()
            .expect("run ovsdb-server");
        assert!(out.status.success(), "ovsdb-server failed: {}", String::from_utf8_lossy(&out.stderr));
        let pid: i32 = std::fs::read_to_string(&pidfile).expect("pidfile").trim().parse().expect("pid");
        // From here on, Drop stops it.
        let mut s = SslServer { pid: Pid::from_raw(pid), port: 0, log };
        s.port = s.learn_port();
        s
    }

    /// `socket_util|INFO|0:127.0.0.1: listening on port N`.
    fn learn_port(&self) -> u16 {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let log = self.log();
            let port = log.lines().find_map(|l| l.split("listening on port ").nth(1)?.trim().parse().ok());
            if let Some(p) = port {
                return p;
            }
            assert!(Instant::now() < deadline, "no listening port in the log:\n{log}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn remote(&self) -> Remote {
        Remote::parse(&format!("ssl:127.0.0.1:{}", self.port)).expect("remote")
    }
}

/// Running and not a zombie (a detached server is reaped by init, maybe not at once).
fn alive(pid: Pid) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

impl Drop for SslServer {
    fn drop(&mut self) {
        let _ = kill(self.pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(self.pid) {
            if Instant::now() > deadline {
                let _ = kill(self.pid, Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn start_client(server: &SslServer, tls: TlsConfig, monitor: MonitorSpec) -> (Client, UnboundedReceiver<Event>) {
    let mut cfg = ClientConfig::new(vec![server.remote()], "Open_vSwitch", monitor);
    cfg.backoff_min = Duration::from_millis(100);
    cfg.backoff_max = Duration::from_millis(400);
    cfg.connect_timeout = Duration::from_secs(5);
    cfg.tls = Some(tls);
    Client::start(cfg)
}

/// Asserts that no connection comes up for `secs` (several attempts at this backoff).
async fn never_connects(client: &Client, rx: &mut UnboundedReceiver<Event>, secs: u64) {
    match tokio::time::timeout(Duration::from_secs(secs), rx.recv()).await {
        Err(_) => {}
        Ok(ev) => panic!("expected no connection, got {ev:?}"),
    }
    assert!(!client.is_connected());
}

/// Copies `from` over `to` through a rename, as a certificate renewal would.
fn replace_file(from: &Path, to: &Path) {
    let tmp = to.with_extension("new");
    std::fs::copy(from, &tmp).expect("copy");
    std::fs::rename(&tmp, to).expect("rename");
}

/// The first PEM certificate block of a file, without the `-text` dump ovs-pki puts first.
fn pem_block(path: &Path) -> String {
    let s = std::fs::read_to_string(path).expect("read pem");
    let start = s.find("-----BEGIN CERTIFICATE-----").expect("BEGIN");
    let end = s.find("-----END CERTIFICATE-----").expect("END");
    s[start..end].to_owned()
}

/// An Open_vSwitch row (a root table, so it stays without references).
fn insert_root(next_cfg: i64) -> Operation {
    Operation::Insert {
        table: "Open_vSwitch".into(),
        row: RowData::from([("next_cfg".to_owned(), Datum::from(next_cfg))]),
        uuid_name: None,
    }
}

#[tokio::test]
async fn monitor_and_transact_over_ssl() {
    let pki = Pki::new();
    let server = SslServer::start(&pki, "s1", "sb", &pki.ca("switch"), &[]);
    // The server's certificate names "sb id:<uuid>", not 127.0.0.1: accepted, as by OVS.
    let tls = pki.tls("hv1", pki.ca("controller"));
    let (client, mut rx) = start_client(&server, tls, MonitorSpec::new().table("Open_vSwitch"));
    let mut r = Replica::new();
    let events = connected(&mut rx, &mut r, 10).await;
    match &events[0] {
        Event::Connected { remote, .. } => assert_eq!(remote, &server.remote()),
        e => panic!("{e:?}"),
    }
    assert!(client.is_connected());

    let res = client.transact(vec![insert_root(1)]).await.expect("transact");
    let OpResult::Inserted(uuid) = res[0] else { panic!("{res:?}") };
    run_until(&mut rx, &mut r, 10, |r| r.row("Open_vSwitch", &uuid).is_some()).await;
    let cfg = |r: &Replica| r.row("Open_vSwitch", &uuid).and_then(|row| row.get("next_cfg").cloned());
    assert_eq!(cfg(&r), Some(Datum::from(1i64)));

    let res = client
        .transact(vec![Operation::Update {
            table: "Open_vSwitch".into(),
            conditions: vec![Condition::uuid(uuid)],
            row: RowData::from([("next_cfg".to_owned(), Datum::from(2i64))]),
        }])
        .await
        .expect("transact");
    assert_eq!(res[0], OpResult::Count(1));
    run_until(&mut rx, &mut r, 10, |r| cfg(r) == Some(Datum::from(2i64))).await;
    let schema = client.get_schema("Open_vSwitch").await.expect("get_schema");
    assert!(schema.tables.contains_key("Bridge"));
}

#[tokio::test]
async fn client_certificate_not_signed_by_the_ca_is_refused() {
    let pki = Pki::new();
    let server = SslServer::start(&pki, "s1", "sb", &pki.ca("switch"), &[]);
    // The client's own copies, so that they can be "renewed" in place.
    let (key, cert) = (pki.path("me-privkey.pem"), pki.path("me-cert.pem"));
    std::fs::copy(pki.key("rogue"), &key).expect("copy");
    std::fs::copy(pki.cert("rogue"), &cert).expect("copy");
    let tls = TlsConfig::new(&key, &cert, pki.ca("controller"));
    let (client, mut rx) = start_client(&server, tls, MonitorSpec::new().table("Open_vSwitch"));
    never_connects(&client, &mut rx, 3).await;
    assert!(client.transact(vec![insert_root(1)]).await.is_err());
    let refusals = server.log().matches("certificate verify failed").count();
    assert!(refusals >= 2, "the client should keep retrying; server log:\n{}", server.log());

    // A certificate signed by the CA appears in place: the next attempt reads and uses it.
    replace_file(&pki.key("hv1"), &key);
    replace_file(&pki.cert("hv1"), &cert);
    let mut r = Replica::new();
    connected(&mut rx, &mut r, 10).await;
    assert!(client.is_connected());
}

#[tokio::test]
async fn server_certificate_from_another_ca_is_refused() {
    let pki = Pki::new();
    // The server presents a certificate signed by switchca; the client trusts controllerca.
    let server = SslServer::start(&pki, "s1", "hv1", &pki.ca("switch"), &[]);
    let ca = pki.path("my-ca.pem");
    std::fs::copy(pki.ca("controller"), &ca).expect("copy");
    // --bootstrap-ca-cert changes nothing once the CA file exists.
    let tls = TlsConfig { bootstrap_ca_cert: true, ..pki.tls("hv1", ca.clone()) };
    let (client, mut rx) = start_client(&server, tls, MonitorSpec::new().table("Open_vSwitch"));
    never_connects(&client, &mut rx, 3).await;
    // Our side refused it (the server accepted our certificate, signed by its CA).
    let refusals = server.log().matches("alert unknown ca").count();
    assert!(refusals >= 2, "the client should refuse, then retry; server log:\n{}", server.log());

    // Trusting the server's CA (file replaced, read at the next attempt) lets it through,
    // so the refusal was the chain check.
    replace_file(&pki.ca("switch"), &ca);
    let mut r = Replica::new();
    connected(&mut rx, &mut r, 10).await;
    assert!(client.is_connected());
}

#[tokio::test]
async fn missing_files_fail_each_attempt_without_panicking() {
    let pki = Pki::new();
    let server = SslServer::start(&pki, "s1", "sb", &pki.ca("switch"), &[]);
    let tls = TlsConfig::new(pki.path("none-key.pem"), pki.cert("hv1"), pki.ca("controller"));
    let (client, mut rx) = start_client(&server, tls, MonitorSpec::new().table("Open_vSwitch"));
    never_connects(&client, &mut rx, 1).await;

    // No TLS settings at all: refused the same way.
    let mut cfg = ClientConfig::new(vec![server.remote()], "Open_vSwitch", MonitorSpec::new());
    cfg.backoff_min = Duration::from_millis(100);
    let (client, mut rx) = Client::start(cfg);
    never_connects(&client, &mut rx, 1).await;
}

#[tokio::test]
async fn bootstrap_ca_cert_trusts_and_saves_the_servers_ca() {
    let pki = Pki::new();
    let controller_ca = pki.ca("controller");
    let server =
        SslServer::start(&pki, "s1", "sb", &pki.ca("switch"), &[format!("--peer-ca-cert={}", controller_ca.display())]);
    let ca = pki.path("boot-ca.pem");
    let mut tls = pki.tls("hv1", ca.clone());
    tls.bootstrap_ca_cert = true;
    let (client, mut rx) = start_client(&server, tls, MonitorSpec::new().table("Open_vSwitch"));
    let mut r = Replica::new();
    connected(&mut rx, &mut r, 10).await;
    assert!(client.is_connected());
    assert_eq!(pem_block(&ca), pem_block(&controller_ca));
    let leftovers: Vec<_> = std::fs::read_dir(pki.dir.path())
        .expect("read_dir")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.starts_with("boot-ca.pem.tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn bootstrap_needs_the_server_to_send_its_ca() {
    let pki = Pki::new();
    let server = SslServer::start(&pki, "s1", "sb", &pki.ca("switch"), &[]);
    let ca = pki.path("boot-ca.pem");
    let mut tls = pki.tls("hv1", ca.clone());
    tls.bootstrap_ca_cert = true;
    let (client, mut rx) = start_client(&server, tls, MonitorSpec::new().table("Open_vSwitch"));
    never_connects(&client, &mut rx, 1).await;
    assert!(!ca.exists());
    assert!(server.log().contains("handshake failure"), "{}", server.log());
}

#[tokio::test]
async fn ssl_protocols_and_ciphers_are_applied() {
    let pki = Pki::new();
    let server_opts = ["--ssl-protocols=TLSv1.2".to_owned(), "--ssl-ciphers=ECDHE-RSA-AES256-GCM-SHA384".to_owned()];
    let server = SslServer::start(&pki, "s1", "sb", &pki.ca("switch"), &server_opts);
    let tls = |protocols: Option<&str>, ciphers: Option<&str>| TlsConfig {
        protocols: protocols.map(str::to_owned),
        ciphers: ciphers.map(str::to_owned),
        ..pki.tls("hv1", pki.ca("controller"))
    };
    let monitor = || MonitorSpec::new().table("Open_vSwitch");

    // No TLS 1.2 suite in common.
    let (client, mut rx) = start_client(&server, tls(None, Some("ECDHE-RSA-AES128-GCM-SHA256")), monitor());
    never_connects(&client, &mut rx, 1).await;
    assert!(server.log().contains("no shared cipher"), "{}", server.log());
    drop(client);
    // The server speaks TLS 1.2 only.
    let (client, mut rx) = start_client(&server, tls(Some("TLSv1.3"), None), monitor());
    never_connects(&client, &mut rx, 1).await;
    assert!(server.log().contains("unsupported protocol"), "{}", server.log());
    drop(client);
    // OpenSSL keywords and the server's suite; TLSv1 and TLSv1.1 are accepted and ignored.
    let ciphers = Some("HIGH:!aNULL:!MD5:ECDHE-RSA-AES256-GCM-SHA384");
    let (client, mut rx) = start_client(&server, tls(Some("TLSv1,TLSv1.1,TLSv1.2"), ciphers), monitor());
    let mut r = Replica::new();
    connected(&mut rx, &mut r, 10).await;
    assert!(client.is_connected());

    // Options rustls cannot apply at all are configuration errors, found before connecting.
    assert!(tls(Some("TLSv1,TLSv1.1"), None).check().is_err());
    assert!(tls(Some("SSLv3"), None).check().is_err());
    assert!(tls(None, Some("!ECDHE-RSA-AES256-GCM-SHA384:!TLS_AES_128_GCM_SHA256")).check().is_ok());
}
