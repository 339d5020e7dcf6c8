//! A minimal OVSDB monitor client for the benchmark's clocks: one Unix-socket connection to the
//! Southbound database, monitoring `Chassis_Private` (name, nb_cfg) and `Port_Binding`
//! (logical_port, chassis, up). Every update is applied to a local copy and stamped with the
//! `Instant` it was read (SB_Global.nb_cfg too, to split a change's latency into northd's
//! part and the controller's), so "the controller wrote X" is timed without spawning ovn-sbctl in a
//! polling loop (which would compete with the controller for the 2 CPUs).

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Binding {
    pub logical_port: String,
    /// Chassis UUID, empty when unbound.
    pub chassis: String,
    pub up: bool,
}

#[derive(Default)]
struct State {
    /// Chassis_Private uuid -> (name, nb_cfg, when that nb_cfg arrived).
    chassis_private: HashMap<String, (String, i64, Option<Instant>)>,
    /// Port_Binding uuid -> row.
    bindings: HashMap<String, Binding>,
    by_name: HashMap<String, String>,
    /// SB_Global.nb_cfg (what northd last propagated) and when it arrived.
    sb_nb_cfg: (i64, Option<Instant>),
    /// Bumped on every update message.
    generation: u64,
    closed: Option<String>,
}

/// The watcher. Dropping it closes the connection (the reader thread then ends).
pub struct SbWatch {
    state: Arc<(Mutex<State>, Condvar)>,
    stream: UnixStream,
}

fn row_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        // ["uuid", "..."]
        Value::Array(a) if a.len() == 2 && a[0] == "uuid" => a[1].as_str().unwrap_or_default().to_string(),
        // ["set", []] (empty optional reference) or ["set", [x]]
        Value::Array(a) if a.len() == 2 && a[0] == "set" => {
            a[1].as_array().and_then(|s| s.first()).map(row_str).unwrap_or_default()
        }
        _ => String::new(),
    }
}

fn row_bool(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Array(a) if a.len() == 2 && a[0] == "set" => {
            a[1].as_array().and_then(|s| s.first()).is_some_and(row_bool)
        }
        _ => false,
    }
}

fn apply(st: &mut State, updates: &Value, at: Instant) {
    if let Some(rows) = updates.get("Chassis_Private").and_then(Value::as_object) {
        for (uuid, change) in rows {
            match change.get("new") {
                Some(new) => {
                    let e = st.chassis_private.entry(uuid.clone()).or_default();
                    if let Some(n) = new.get("name") {
                        e.0 = row_str(n);
                    }
                    if let Some(c) = new.get("nb_cfg").and_then(Value::as_i64) {
                        if e.1 != c {
                            e.2 = Some(at);
                        }
                        e.1 = c;
                    }
                }
                None => {
                    st.chassis_private.remove(uuid);
                }
            }
        }
    }
    if let Some(rows) = updates.get("SB_Global").and_then(Value::as_object) {
        for change in rows.values() {
            if let Some(c) = change.get("new").and_then(|n| n.get("nb_cfg")).and_then(Value::as_i64) {
                st.sb_nb_cfg = (c, Some(at));
            }
        }
    }
    if let Some(rows) = updates.get("Port_Binding").and_then(Value::as_object) {
        for (uuid, change) in rows {
            match change.get("new") {
                Some(new) => {
                    let e = st.bindings.entry(uuid.clone()).or_default();
                    if let Some(n) = new.get("logical_port") {
                        e.logical_port = row_str(n);
                    }
                    if let Some(c) = new.get("chassis") {
                        e.chassis = row_str(c);
                    }
                    if let Some(u) = new.get("up") {
                        e.up = row_bool(u);
                    }
                    let name = e.logical_port.clone();
                    st.by_name.insert(name, uuid.clone());
                }
                None => {
                    if let Some(b) = st.bindings.remove(uuid) {
                        st.by_name.remove(&b.logical_port);
                    }
                }
            }
        }
    }
    st.generation += 1;
}

impl SbWatch {
    /// Connects to the SB database at `socket` and waits for the initial contents.
    pub fn connect(socket: &Path) -> Result<SbWatch, String> {
        let mut stream = UnixStream::connect(socket).map_err(|e| format!("connecting to {socket:?}: {e}"))?;
        let reader = stream.try_clone().map_err(|e| e.to_string())?;
        let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
        let req = json!({
            "id": "watch",
            "method": "monitor",
            "params": ["OVN_Southbound", null, {
                "Chassis_Private": {"columns": ["name", "nb_cfg"]},
                "Port_Binding": {"columns": ["logical_port", "chassis", "up"]},
                "SB_Global": {"columns": ["nb_cfg"]},
            }],
        });
        stream.write_all(req.to_string().as_bytes()).map_err(|e| e.to_string())?;
        let state: Arc<(Mutex<State>, Condvar)> = Arc::default();
        let st = state.clone();
        thread::spawn(move || {
            let msgs = serde_json::Deserializer::from_reader(std::io::BufReader::new(reader)).into_iter::<Value>();
            let mut why = "connection closed".to_string();
            for msg in msgs {
                let msg = match msg {
                    Ok(m) => m,
                    Err(e) => {
                        why = e.to_string();
                        break;
                    }
                };
                let method = msg.get("method").and_then(Value::as_str);
                if method == Some("echo") {
                    let reply = json!({"id": msg["id"], "result": msg["params"], "error": null});
                    let _ = writer.write_all(reply.to_string().as_bytes());
                    continue;
                }
                let updates = match method {
                    Some("update") => msg.get("params").and_then(|p| p.get(1)),
                    None if msg.get("id") == Some(&json!("watch")) => {
                        if !msg["error"].is_null() {
                            why = format!("monitor failed: {}", msg["error"]);
                            break;
                        }
                        msg.get("result")
                    }
                    _ => None,
                };
                if let Some(u) = updates {
                    let at = Instant::now();
                    let (lock, cv) = &*st;
                    let mut s = lock.lock().unwrap();
                    apply(&mut s, u, at);
                    cv.notify_all();
                }
            }
            let (lock, cv) = &*st;
            lock.lock().unwrap().closed = Some(why);
            cv.notify_all();
        });
        let w = SbWatch { state, stream };
        w.wait(Duration::from_secs(120), |s| s.generation > 0)?;
        Ok(w)
    }

    fn wait(&self, timeout: Duration, mut pred: impl FnMut(&State) -> bool) -> Result<Instant, String> {
        self.wait_at(timeout, |s| pred(s).then(Instant::now))
    }

    /// Waits until `pred` returns a time.
    fn wait_at(&self, timeout: Duration, mut pred: impl FnMut(&State) -> Option<Instant>) -> Result<Instant, String> {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.state;
        let mut s = lock.lock().unwrap();
        loop {
            if let Some(t) = pred(&s) {
                return Ok(t);
            }
            if let Some(why) = &s.closed {
                return Err(format!("SB watch: {why}"));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!("SB watch: timed out after {timeout:?}"));
            }
            s = cv.wait_timeout(s, deadline - now).unwrap().0;
        }
    }

    /// Waits until Chassis_Private `name` has nb_cfg >= `cfg`; returns when that update arrived.
    pub fn wait_nb_cfg(&self, name: &str, cfg: i64, timeout: Duration) -> Result<Instant, String> {
        self.wait_at(timeout, |s| {
            s.chassis_private
                .values()
                .find(|(n, c, _)| n == name && *c >= cfg)
                .map(|r| r.2.unwrap_or_else(Instant::now))
        })
        .map_err(|e| format!("{e} (Chassis_Private {name} nb_cfg >= {cfg})"))
    }

    /// Waits until SB_Global.nb_cfg >= `cfg` (northd has propagated that NB configuration).
    pub fn wait_sb_nb_cfg(&self, cfg: i64, timeout: Duration) -> Result<Instant, String> {
        self.wait_at(timeout, |s| (s.sb_nb_cfg.0 >= cfg).then(|| s.sb_nb_cfg.1.unwrap_or_else(Instant::now)))
            .map_err(|e| format!("{e} (SB_Global nb_cfg >= {cfg})"))
    }

    /// Waits until `pred` holds for Port_Binding `lport` (None: no such row).
    pub fn wait_binding(
        &self,
        lport: &str,
        timeout: Duration,
        mut pred: impl FnMut(Option<&Binding>) -> bool,
    ) -> Result<Instant, String> {
        self.wait(timeout, |s| pred(s.by_name.get(lport).and_then(|u| s.bindings.get(u))))
            .map_err(|e| format!("{e} (Port_Binding {lport})"))
    }
}

impl Drop for SbWatch {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// One OVSDB transaction on the Southbound database at `socket`, on a connection of its own;
/// returns the array of operation results. ovn-sbctl downloads the whole database on every
/// invocation (seconds with 75,000 logical flows), so the benchmark's own Southbound reads and
/// writes go through this instead.
pub fn transact(socket: &Path, ops: Vec<Value>) -> Result<Vec<Value>, String> {
    transact_db(socket, "OVN_Southbound", ops)
}

/// One OVSDB transaction on database `db` at `socket` (see [`transact`]).
pub fn transact_db(socket: &Path, db: &str, ops: Vec<Value>) -> Result<Vec<Value>, String> {
    let mut stream = UnixStream::connect(socket).map_err(|e| format!("connecting to {socket:?}: {e}"))?;
    let mut params = vec![json!(db)];
    params.extend(ops);
    let req = json!({"id": "txn", "method": "transact", "params": params});
    stream.write_all(req.to_string().as_bytes()).map_err(|e| e.to_string())?;
    let reader = stream.try_clone().map_err(|e| e.to_string())?;
    for msg in serde_json::Deserializer::from_reader(std::io::BufReader::new(reader)).into_iter::<Value>() {
        let msg = msg.map_err(|e| format!("transact: {e}"))?;
        if msg.get("method").and_then(Value::as_str) == Some("echo") {
            let reply = json!({"id": msg["id"], "result": msg["params"], "error": null});
            stream.write_all(reply.to_string().as_bytes()).map_err(|e| e.to_string())?;
            continue;
        }
        if msg.get("id") != Some(&json!("txn")) {
            continue;
        }
        if !msg["error"].is_null() {
            return Err(format!("transact: {}", msg["error"]));
        }
        let results = msg["result"].as_array().cloned().unwrap_or_default();
        if let Some(err) = results.iter().find(|r| r.get("error").is_some()) {
            return Err(format!("transact: {err}"));
        }
        return Ok(results);
    }
    Err("transact: connection closed".into())
}

/// `select` of `columns` from every row of `table`.
pub fn select_all(socket: &Path, table: &str, columns: &[&str]) -> Result<Vec<Value>, String> {
    let r = transact(socket, vec![json!({"op": "select", "table": table, "where": [], "columns": columns})])?;
    Ok(r.first().and_then(|r| r["rows"].as_array()).cloned().unwrap_or_default())
}

/// The UUID string of an `["uuid", "..."]` value.
pub fn uuid_of(v: &Value) -> String {
    row_str(v)
}
