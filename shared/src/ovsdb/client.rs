//! The async OVSDB client: one background task per database connection that connects,
//! monitors, answers echoes, probes, reconnects and resumes; the owner talks to it through a
//! [`Client`] handle and receives [`Event`]s.
//!
//! Connection sequence (like OVS's ovsdb-cs): `monitor_cond` on `_Server.Database` to learn
//! whether this member is usable (clustered and connected, leader if required, not stale),
//! `get_schema`, `set_db_change_aware`, then `monitor_cond_since` with the last transaction
//! id seen so that a reconnect only transfers what changed.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, timeout, Instant};
use uuid::Uuid;

use super::datum::Datum;
use super::error::{proto, Error, Result};
use super::jsonrpc::{Framer, Message, DEFAULT_MAX_MESSAGE};
use super::monitor::MonitorSpec;
use super::remote::Remote;
use super::replica::Replica;
use super::schema::DatabaseSchema;
use super::tls::{self, TlsConfig};
use super::transact::{parse_transact_reply, transact_params, Condition, OpResult, Operation};
use super::update::{parse_since_reply, parse_update2_params, parse_update3_params, TableUpdates};

/// Client settings. [`ClientConfig::new`] gives ovn-controller's defaults.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Tried in order, moving on when one fails or is not usable.
    pub remotes: Vec<Remote>,
    pub database: String,
    pub monitor: MonitorSpec,
    /// Send an echo after this long without traffic, drop the connection after twice as
    /// long. `None` disables probing (ovn-controller's default for `unix:`).
    pub probe_interval: Option<Duration>,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    pub connect_timeout: Duration,
    /// Cap on a single message; large because an initial SB sync can be huge.
    pub max_message: usize,
    /// Only accept the Raft leader of a clustered database.
    pub leader_only: bool,
    /// Use `monitor_cond_since` (resume) rather than `monitor_cond`.
    pub use_monitor_since: bool,
    /// Try the remotes in a random order, so that many chassis spread over the members of
    /// a cluster (OVS does the same by default).
    pub shuffle_remotes: bool,
    /// Keys and certificates for `ssl:` remotes (`None`: connecting to one fails). The files
    /// are read at every connection attempt, so renewed ones are used from the next reconnect.
    pub tls: Option<TlsConfig>,
}

impl ClientConfig {
    pub fn new(remotes: Vec<Remote>, database: &str, monitor: MonitorSpec) -> ClientConfig {
        ClientConfig {
            remotes,
            database: database.to_owned(),
            monitor,
            probe_interval: Some(Duration::from_secs(5)),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(8),
            connect_timeout: Duration::from_secs(10),
            max_message: DEFAULT_MAX_MESSAGE,
            leader_only: false,
            use_monitor_since: true,
            shuffle_remotes: true,
            tls: None,
        }
    }
}

/// How to apply an [`Update`] to the replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateKind {
    /// Full contents after (re)connect: replaces the replica.
    Snapshot,
    /// `monitor_cond_since` found our last transaction: only what changed since.
    Resumed,
    /// An `update2`/`update3` notification.
    Incremental,
}

#[derive(Clone, Debug)]
pub struct Update {
    pub kind: UpdateKind,
    pub updates: TableUpdates,
    /// Transaction id after this update (monitor_cond_since only).
    pub last_txn_id: Option<Uuid>,
}

impl Update {
    /// Applies the update to `replica` (replacing its contents for a snapshot).
    pub fn apply_to(self, replica: &mut Replica) -> Result<()> {
        match self.kind {
            UpdateKind::Snapshot => replica.replace(self.updates),
            UpdateKind::Resumed | UpdateKind::Incremental => replica.apply(self.updates),
        }
    }
}

/// What the client reports, in order.
#[derive(Clone, Debug)]
pub enum Event {
    /// A connection is up and its monitor reply follows as the next event. `schema` holds
    /// only the monitored tables and columns (use [`Client::get_schema`] for all of it).
    Connected {
        remote: Remote,
        schema: Arc<DatabaseSchema>,
    },
    Update(Update),
    /// The server applied every condition set up to `seqno` (see [`Client::set_condition`]).
    ConditionsAcked {
        seqno: u64,
    },
    Disconnected {
        remote: Remote,
        reason: String,
    },
}

enum Command {
    Call { method: String, params: Value, reply: oneshot::Sender<Result<Value>> },
    Transact { ops: Vec<Operation>, reply: oneshot::Sender<Result<Vec<OpResult>>> },
    SetCondition { table: String, condition: Vec<Condition>, seqno: u64 },
    Reconnect { resync: bool },
    ResetMinIndex,
    SetRemotes(Vec<Remote>),
    SetProbeInterval(Option<Duration>),
}

#[derive(Default)]
struct Shared {
    connected: AtomicBool,
    last_txn_id: Mutex<Option<Uuid>>,
    cond_seqno: Mutex<u64>,
}

/// Handle to the background connection task. Cheap to clone; the task stops when the last
/// handle is dropped.
#[derive(Clone)]
pub struct Client {
    tx: mpsc::UnboundedSender<Command>,
    shared: Arc<Shared>,
}

impl Client {
    /// Starts the connection task on the current tokio runtime (current-thread is fine).
    pub fn start(config: ClientConfig) -> (Client, mpsc::UnboundedReceiver<Event>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::default());
        let task = Task::new(config, rx, ev_tx, shared.clone());
        tokio::spawn(task.run());
        (Client { tx, shared }, ev_rx)
    }

    /// Runs a transaction on the current connection. Fails with [`Error::Disconnected`] if
    /// there is none or it drops before the reply (the outcome is then unknown, as in OVS).
    pub async fn transact(&self, ops: Vec<Operation>) -> Result<Vec<OpResult>> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::Transact { ops, reply }).map_err(|_| Error::Disconnected)?;
        rx.await.map_err(|_| Error::Disconnected)?
    }

    /// Sends any request (e.g. `get_schema`, `list_dbs`, `echo`) and returns its result.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::Call { method: method.to_owned(), params, reply }).map_err(|_| Error::Disconnected)?;
        rx.await.map_err(|_| Error::Disconnected)?
    }

    pub async fn get_schema(&self, database: &str) -> Result<DatabaseSchema> {
        DatabaseSchema::parse(&self.call("get_schema", json!([database])).await?)
    }

    /// Replaces the monitor condition of `table` (empty = all rows) and returns a sequence
    /// number; [`Event::ConditionsAcked`] with a seqno at least as large means the replica
    /// reflects it. Sent with `monitor_cond_change`, or with the next monitor request.
    pub fn set_condition(&self, table: &str, condition: Vec<Condition>) -> u64 {
        let seqno = {
            let mut s = self.shared.cond_seqno.lock().unwrap_or_else(|e| e.into_inner());
            *s += 1;
            *s
        };
        let _ = self.tx.send(Command::SetCondition { table: table.to_owned(), condition, seqno });
        seqno
    }

    /// Drops the connection and reconnects; with `resync`, forgets the last transaction id
    /// so the next monitor reply is a full snapshot (e.g. when the replica is inconsistent).
    pub fn reconnect(&self, resync: bool) {
        let _ = self.tx.send(Command::Reconnect { resync });
    }

    /// Forgets the highest Raft index seen, for when the clustered database was rebuilt from
    /// scratch (ovn-controller's `sb-cluster-state-reset`); otherwise every member would look
    /// stale.
    pub fn reset_min_index(&self) {
        let _ = self.tx.send(Command::ResetMinIndex);
    }

    /// Replaces the remote list (e.g. `external_ids:ovn-remote` changed). The current
    /// connection is kept if its remote is still listed, otherwise the client reconnects.
    pub fn set_remotes(&self, remotes: Vec<Remote>) {
        let _ = self.tx.send(Command::SetRemotes(remotes));
    }

    /// Changes the inactivity probe interval (`None` or zero disables probing).
    pub fn set_probe_interval(&self, interval: Option<Duration>) {
        let _ = self.tx.send(Command::SetProbeInterval(interval));
    }

    /// True while a monitored connection is up.
    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Relaxed)
    }

    /// Last transaction id received (what a reconnect will resume from).
    pub fn last_txn_id(&self) -> Option<Uuid> {
        *self.shared.last_txn_id.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Per-table condition state, as ovsdb-cs keeps it: `ack` is what the server applies,
/// `req` is in flight, `new` is waiting to be sent.
#[derive(Default)]
struct CondState {
    ack: Vec<Condition>,
    req: Option<(Vec<Condition>, u64)>,
    new: Option<(Vec<Condition>, u64)>,
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

struct Task {
    cfg: ClientConfig,
    cmds: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Event>,
    shared: Arc<Shared>,
    conds: BTreeMap<String, CondState>,
    acked_seqno: u64,
    reported_seqno: u64,
    last_id: Option<Uuid>,
    /// Highest Raft index seen, so we never go back to a member with older data.
    min_index: i64,
}

/// Why a session ended.
enum End {
    Shutdown,
    Failed(String),
    Reconnect,
}

impl From<Error> for End {
    fn from(e: Error) -> Self {
        End::Failed(e.to_string())
    }
}

const DATA_MONID: &str = "data";
const SERVER_MONID: &str = "server";

impl Task {
    fn new(
        cfg: ClientConfig,
        cmds: mpsc::UnboundedReceiver<Command>,
        events: mpsc::UnboundedSender<Event>,
        shared: Arc<Shared>,
    ) -> Task {
        let conds = cfg
            .monitor
            .tables
            .iter()
            .map(|(t, m)| (t.clone(), CondState { ack: m.condition.clone().unwrap_or_default(), ..Default::default() }))
            .collect();
        Task { cfg, cmds, events, shared, conds, acked_seqno: 0, reported_seqno: 0, last_id: None, min_index: 0 }
    }

    fn emit(&self, e: Event) {
        // The owner may have dropped the receiver (transaction-only use): not an error.
        let _ = self.events.send(e);
    }

    fn report_acked(&mut self) {
        if self.acked_seqno > self.reported_seqno {
            self.reported_seqno = self.acked_seqno;
            self.emit(Event::ConditionsAcked { seqno: self.acked_seqno });
        }
    }

    fn set_last_id(&mut self, id: Option<Uuid>) {
        // An all-zero id means "no history": never resume from it.
        self.last_id = id.filter(|u| !u.is_nil());
        *self.shared.last_txn_id.lock().unwrap_or_else(|e| e.into_inner()) = self.last_id;
    }

    async fn run(mut self) {
        if self.cfg.remotes.is_empty() {
            tracing::warn!("ovsdb: no remotes configured for {}", self.cfg.database);
        }
        if self.cfg.shuffle_remotes {
            shuffle(&mut self.cfg.remotes);
        }
        let mut backoff = self.cfg.backoff_min;
        let mut next = 0usize;
        let mut failures = 0usize;
        loop {
            let n = self.cfg.remotes.len();
            if n > 0 {
                let remote = self.cfg.remotes[next % n].clone();
                next = next.wrapping_add(1);
                let mut reached = false;
                let started = Instant::now();
                let end = self.session(&remote, &mut reached).await;
                self.shared.connected.store(false, Ordering::Relaxed);
                let (reason, requested) = match end {
                    End::Shutdown => return,
                    End::Failed(r) => (r, false),
                    End::Reconnect => ("reconnect requested".to_owned(), true),
                };
                if reached {
                    if requested {
                        tracing::info!("ovsdb: {remote}: reconnecting ({reason})");
                    } else {
                        tracing::warn!("ovsdb: {remote}: connection dropped ({reason})");
                    }
                    self.emit(Event::Disconnected { remote: remote.clone(), reason: reason.clone() });
                }
                // A session that lasted counts as a success: try the next member right
                // away (a cluster usually has one alive). One that dropped at once counts as
                // a failure, so a server that keeps accepting and dropping cannot make us spin.
                if reached && started.elapsed() >= self.cfg.backoff_max {
                    backoff = self.cfg.backoff_min;
                    failures = 0;
                    if n > 1 {
                        continue;
                    }
                } else {
                    if !reached {
                        tracing::warn!("ovsdb: {remote}: {reason}");
                    }
                    failures += 1;
                    // Every member failed once in a row: back off before another round.
                    if failures < n {
                        continue;
                    }
                }
            }
            if !self.idle(backoff).await {
                return;
            }
            failures = 0;
            backoff = (backoff * 2).min(self.cfg.backoff_max);
        }
    }

    /// Waits `d` while disconnected, serving commands. Returns false on shutdown.
    async fn idle(&mut self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        loop {
            tokio::select! {
                _ = sleep_until(deadline) => return true,
                cmd = self.cmds.recv() => match cmd {
                    None => return false,
                    Some(c) => self.offline_command(c),
                },
            }
        }
    }

    fn offline_command(&mut self, c: Command) {
        match c {
            Command::Call { reply, .. } => {
                let _ = reply.send(Err(Error::Disconnected));
            }
            Command::Transact { reply, .. } => {
                let _ = reply.send(Err(Error::Disconnected));
            }
            Command::SetCondition { table, condition, seqno } => {
                self.conds.entry(table).or_default().new = Some((condition, seqno));
            }
            Command::Reconnect { resync } => {
                if resync {
                    self.set_last_id(None);
                }
            }
            Command::ResetMinIndex => self.min_index = 0,
            Command::SetRemotes(r) => {
                self.set_remotes(r);
            }
            Command::SetProbeInterval(p) => self.cfg.probe_interval = p,
        }
    }

    /// Returns whether the list changed.
    fn set_remotes(&mut self, mut remotes: Vec<Remote>) -> bool {
        let mut old = self.cfg.remotes.clone();
        let mut new = remotes.clone();
        old.sort_by_key(ToString::to_string);
        new.sort_by_key(ToString::to_string);
        if old == new {
            return false;
        }
        if self.cfg.shuffle_remotes {
            shuffle(&mut remotes);
        }
        self.cfg.remotes = remotes;
        true
    }

    async fn connect(&self, remote: &Remote) -> Result<Box<dyn Io>> {
        let fut = async {
            match remote {
                Remote::Unix(p) => Ok(Box::new(tokio::net::UnixStream::connect(p).await?) as Box<dyn Io>),
                Remote::Tcp(a) => {
                    let s = tokio::net::TcpStream::connect(a.as_str()).await?;
                    s.set_nodelay(true)?;
                    Ok(Box::new(s) as Box<dyn Io>)
                }
                Remote::Ssl(a) => Ok(Box::new(tls::connect(self.cfg.tls.as_ref(), a).await?) as Box<dyn Io>),
            }
        };
        timeout(self.cfg.connect_timeout, fut)
            .await
            .map_err(|_| Error::Io(std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out")))?
    }

    /// Moves conditions around before a monitor request, as ovsdb-cs does: with a last id
    /// we must resume with the conditions the server had acked (otherwise rows that start
    /// matching a new condition but did not change since that id would be missed), and send
    /// newer ones as a follow-up `monitor_cond_change`. Without one, use the newest now.
    fn sync_conditions(&mut self) {
        let ack_all = self.last_id.is_none();
        let mut max_seqno = None;
        for c in self.conds.values_mut() {
            if ack_all {
                if let Some(n) = c.new.take() {
                    c.req = Some(n);
                }
                if let Some((cond, seqno)) = c.req.take() {
                    c.ack = cond;
                    max_seqno = max_seqno.max(Some(seqno));
                }
            } else if let Some(r) = c.req.take() {
                if c.new.is_none() {
                    c.new = Some(r);
                }
            }
        }
        if let Some(s) = max_seqno {
            self.acked_seqno = self.acked_seqno.max(s);
        }
    }

    async fn session(&mut self, remote: &Remote, reached: &mut bool) -> End {
        let io = match self.connect(remote).await {
            Ok(io) => io,
            Err(e) => return End::Failed(format!("connection attempt failed: {e}")),
        };
        let mut s = Session::new(io, &self.cfg);

        // 1. Is this server usable for our database?
        let server_req = json!(["_Server", [SERVER_MONID], {"Database": [{"columns":
            ["name", "model", "connected", "leader", "schema", "cid", "index"]}]}]);
        let mut server_rows: BTreeMap<Uuid, BTreeMap<String, Datum>> = BTreeMap::new();
        let mut have_server = false;
        match s.call("monitor_cond", server_req).await {
            Ok(r) => {
                if let Err(e) = apply_server_update(&mut server_rows, &r) {
                    return e.into();
                }
                have_server = true;
                if let Err(e) = self.check_server(&server_rows) {
                    return e.into();
                }
            }
            // Servers without _Server (very old ones) are standalone: nothing to check.
            Err(Error::Rpc { error, .. }) => {
                tracing::debug!("ovsdb: {remote}: no _Server ({error})")
            }
            Err(e) => return e.into(),
        }

        // 2. Schema.
        let schema = match s.call("get_schema", json!([self.cfg.database])).await {
            Ok(v) => match DatabaseSchema::parse(&v) {
                Ok(s) => Arc::new(s),
                Err(e) => return e.into(),
            },
            Err(e) => return e.into(),
        };
        let full_schema = schema;
        let schema = match self.cfg.monitor.restrict(&full_schema) {
            Ok(s) => Arc::new(s),
            Err(e) => return e.into(),
        };

        // 3. Ask to be told about schema changes instead of being disconnected.
        if have_server {
            if let Err(e) = s.call("set_db_change_aware", json!([true])).await {
                tracing::debug!("ovsdb: {remote}: set_db_change_aware: {e}");
            }
        }

        // 4. Monitor.
        self.sync_conditions();
        let ack: BTreeMap<String, Vec<Condition>> =
            self.conds.iter().map(|(t, c)| (t.clone(), c.ack.clone())).collect();
        let requests = self.cfg.monitor.requests_json(&ack, &full_schema);
        let since = self.cfg.use_monitor_since;
        let db = self.cfg.database.clone();
        let first = if since {
            let last = self.last_id.unwrap_or(Uuid::nil()).to_string();
            match s.call("monitor_cond_since", json!([db, [DATA_MONID], requests, last])).await {
                Ok(r) => Some(r),
                Err(Error::Rpc { error, .. }) => {
                    tracing::info!("ovsdb: {remote}: monitor_cond_since refused ({error}), using monitor_cond");
                    None
                }
                Err(e) => return e.into(),
            }
        } else {
            None
        };
        let update = match first {
            Some(r) => {
                let parsed = parse_since_reply(&r)
                    .and_then(|(found, txn, u)| Ok((found, txn, TableUpdates::parse(u, &schema)?)));
                match parsed {
                    Ok((found, txn, updates)) => {
                        // Resuming is only correct from the id we asked for.
                        let resumed = found && self.last_id.is_some();
                        self.set_last_id(Some(txn));
                        Update {
                            kind: if resumed { UpdateKind::Resumed } else { UpdateKind::Snapshot },
                            updates,
                            last_txn_id: self.last_id,
                        }
                    }
                    Err(e) => {
                        self.set_last_id(None);
                        return e.into();
                    }
                }
            }
            None => {
                let r = match s.call("monitor_cond", json!([db, [DATA_MONID], requests])).await {
                    Ok(r) => r,
                    Err(e) => return e.into(),
                };
                match TableUpdates::parse(&r, &schema) {
                    Ok(updates) => Update { kind: UpdateKind::Snapshot, updates, last_txn_id: None },
                    Err(e) => return e.into(),
                }
            }
        };
        tracing::info!(
            "ovsdb: {remote}: connected to {db}, {} ({} rows)",
            if update.kind == UpdateKind::Resumed { "resumed" } else { "full snapshot" },
            update.updates.len()
        );
        *reached = true;
        self.shared.connected.store(true, Ordering::Relaxed);
        self.emit(Event::Connected { remote: remote.clone(), schema: schema.clone() });
        self.emit(Event::Update(update));
        self.report_acked();

        // 5. Monitoring.
        let mut m = Monitoring {
            remote: remote.clone(),
            pending: HashMap::new(),
            cond_change_in_flight: false,
            server_rows,
            schema,
        };
        // Requests in flight are dropped with `m`: their callers see Disconnected.
        self.monitoring(&mut s, &mut m).await
    }

    fn check_server(&mut self, rows: &BTreeMap<Uuid, BTreeMap<String, Datum>>) -> Result<()> {
        let row = rows
            .values()
            .find(|r| r.get("name").and_then(Datum::as_str) == Some(self.cfg.database.as_str()))
            .ok_or_else(|| proto(format!("server does not have the {} database", self.cfg.database)))?;
        let get_bool = |c: &str| row.get(c).and_then(Datum::as_bool).unwrap_or(false);
        if row.get("model").and_then(Datum::as_str) != Some("clustered") {
            return Ok(());
        }
        if row.get("schema").and_then(Datum::as_str).is_none() {
            return Err(proto("clustered database server has not yet joined the cluster"));
        }
        if !get_bool("connected") {
            return Err(proto("clustered database server is disconnected from the cluster"));
        }
        if self.cfg.leader_only && !get_bool("leader") {
            return Err(proto("clustered database server is not the cluster leader"));
        }
        let index = row.get("index").and_then(Datum::as_i64).unwrap_or(0);
        if index < self.min_index {
            return Err(proto("clustered database server has stale data"));
        }
        self.min_index = index;
        Ok(())
    }

    async fn monitoring(&mut self, s: &mut Session, m: &mut Monitoring) -> End {
        if let Err(e) = self.maybe_send_cond_change(s, m).await {
            return e.into();
        }
        // Notifications that arrived while setup waited for replies (e.g. _Server changes).
        while let Some(msg) = s.deferred.pop_front() {
            if let Err(e) = self.handle_message(s, m, msg).await {
                return e;
            }
        }
        loop {
            // Handle everything already buffered before waiting again.
            loop {
                match s.framer.next_message() {
                    Ok(Some(msg)) => {
                        if let Err(e) = self.handle_message(s, m, msg).await {
                            return e;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => return e.into(),
                }
            }
            let deadline = s.probe_deadline();
            tokio::select! {
                r = s.reader.read(&mut s.buf) => match r {
                    Ok(0) => return End::Failed("connection closed by server".into()),
                    Ok(n) => s.received(n),
                    Err(e) => return End::Failed(format!("read error: {e}")),
                },
                cmd = self.cmds.recv() => match cmd {
                    None => return End::Shutdown,
                    Some(c) => if let Err(e) = self.command(s, m, c).await { return e },
                },
                _ = sleep_until(deadline), if s.probe.is_some() => {
                    if let Err(e) = s.on_idle().await { return e.into() }
                }
            }
        }
    }

    async fn command(&mut self, s: &mut Session, m: &mut Monitoring, c: Command) -> std::result::Result<(), End> {
        match c {
            Command::Call { method, params, reply } => {
                let id = s.send_request(&method, params).await?;
                m.pending.insert(id, Pending::Call(reply));
            }
            Command::Transact { ops, reply } => {
                let n = ops.len();
                let id = s.send_request("transact", transact_params(&self.cfg.database, &ops)).await?;
                m.pending.insert(id, Pending::Transact(n, reply));
            }
            Command::SetCondition { table, condition, seqno } => {
                self.conds.entry(table).or_default().new = Some((condition, seqno));
                self.maybe_send_cond_change(s, m).await?;
            }
            Command::Reconnect { resync } => {
                if resync {
                    self.set_last_id(None);
                }
                return Err(End::Reconnect);
            }
            Command::ResetMinIndex => self.min_index = 0,
            Command::SetRemotes(r) => {
                if self.set_remotes(r) && !self.cfg.remotes.contains(&m.remote) {
                    return Err(End::Reconnect);
                }
            }
            Command::SetProbeInterval(p) => {
                self.cfg.probe_interval = p;
                s.probe = p.filter(|d| !d.is_zero());
            }
        }
        Ok(())
    }

    /// One `monitor_cond_change` at a time, as ovsdb-cs does.
    async fn maybe_send_cond_change(&mut self, s: &mut Session, m: &mut Monitoring) -> Result<()> {
        if m.cond_change_in_flight {
            return Ok(());
        }
        let mut reqs = serde_json::Map::new();
        let mut max_seqno = 0;
        for (t, c) in self.conds.iter_mut() {
            if !self.cfg.monitor.tables.contains_key(t) {
                tracing::warn!("ovsdb: condition for unmonitored table {t} ignored");
                c.new = None;
                continue;
            }
            if let Some((cond, seqno)) = c.new.take() {
                reqs.insert(t.clone(), json!([{"where": super::transact::conditions_to_json(&cond)}]));
                max_seqno = max_seqno.max(seqno);
                c.req = Some((cond, seqno));
            }
        }
        if reqs.is_empty() {
            return Ok(());
        }
        let id =
            s.send_request("monitor_cond_change", json!([[DATA_MONID], [DATA_MONID], Value::Object(reqs)])).await?;
        m.pending.insert(id, Pending::CondChange(max_seqno));
        m.cond_change_in_flight = true;
        Ok(())
    }

    async fn handle_message(
        &mut self,
        s: &mut Session,
        m: &mut Monitoring,
        msg: Message,
    ) -> std::result::Result<(), End> {
        match msg {
            Message::Request { method, params, id } => {
                if method == "echo" {
                    s.send(&Message::Reply { id, result: params }).await?;
                } else {
                    s.send(&Message::Error { id, error: json!(format!("unknown method {method}")) }).await?;
                }
            }
            Message::Notification { method, params } => {
                self.notification(m, &method, &params)?;
            }
            Message::Reply { id, result } => self.reply(s, m, id, Ok(result)).await?,
            Message::Error { id, error } => {
                let (error, details) = rpc_error(&error);
                self.reply(s, m, id, Err(Error::Rpc { error, details })).await?
            }
        }
        Ok(())
    }

    fn notification(&mut self, m: &mut Monitoring, method: &str, params: &Value) -> std::result::Result<(), End> {
        match method {
            "update3" => {
                let (mid, txn, u) = parse_update3_params(params)?;
                if mid != &json!([DATA_MONID]) {
                    return Err(End::Failed(format!("update3 for unknown monitor {mid}")));
                }
                let updates = TableUpdates::parse(u, &m.schema).inspect_err(|_| self.set_last_id(None))?;
                self.set_last_id(Some(txn));
                self.emit(Event::Update(Update { kind: UpdateKind::Incremental, updates, last_txn_id: self.last_id }));
            }
            "update2" => {
                let (mid, u) = parse_update2_params(params)?;
                if mid == &json!([SERVER_MONID]) {
                    apply_server_update(&mut m.server_rows, u)?;
                    self.check_server(&m.server_rows)?;
                } else if mid == &json!([DATA_MONID]) {
                    let updates = TableUpdates::parse(u, &m.schema).inspect_err(|_| self.set_last_id(None))?;
                    self.emit(Event::Update(Update { kind: UpdateKind::Incremental, updates, last_txn_id: None }));
                } else {
                    return Err(End::Failed(format!("update2 for unknown monitor {mid}")));
                }
            }
            "monitor_canceled" => {
                // The database was removed or its schema changed: start over (keeping the
                // last id, the server will tell whether it can resume).
                return Err(End::Failed("monitor canceled by server".into()));
            }
            "locked" | "stolen" => {}
            _ => tracing::debug!("ovsdb: ignoring notification {method}"),
        }
        Ok(())
    }

    async fn reply(
        &mut self,
        s: &mut Session,
        m: &mut Monitoring,
        id: Value,
        r: Result<Value>,
    ) -> std::result::Result<(), End> {
        let Some(n) = id.as_u64() else {
            // Our probes use id "echo"; any traffic already counted as a sign of life.
            return Ok(());
        };
        match m.pending.remove(&n) {
            Some(Pending::Call(tx)) => {
                let _ = tx.send(r);
            }
            Some(Pending::Transact(n_ops, tx)) => {
                let _ = tx.send(r.and_then(|v| parse_transact_reply(&v, n_ops)));
            }
            Some(Pending::CondChange(seqno)) => {
                m.cond_change_in_flight = false;
                if let Err(e) = r {
                    return Err(End::Failed(format!("monitor_cond_change failed: {e}")));
                }
                for c in self.conds.values_mut() {
                    if let Some((cond, _)) = c.req.take() {
                        c.ack = cond;
                    }
                }
                self.acked_seqno = self.acked_seqno.max(seqno);
                self.report_acked();
                self.maybe_send_cond_change(s, m).await?;
            }
            None => tracing::debug!("ovsdb: reply to unknown request {n}"),
        }
        Ok(())
    }
}

enum Pending {
    Call(oneshot::Sender<Result<Value>>),
    Transact(usize, oneshot::Sender<Result<Vec<OpResult>>>),
    CondChange(u64),
}

struct Monitoring {
    remote: Remote,
    pending: HashMap<u64, Pending>,
    cond_change_in_flight: bool,
    server_rows: BTreeMap<Uuid, BTreeMap<String, Datum>>,
    schema: Arc<DatabaseSchema>,
}

/// Fisher-Yates with a seed from std's per-process random hasher keys (no rand crate).
fn shuffle<T>(v: &mut [T]) {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    let mut x = h.finish() | 1;
    for i in (1..v.len()).rev() {
        // xorshift64
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
}

fn rpc_error(e: &Value) -> (String, Option<String>) {
    match e {
        Value::String(s) => (s.clone(), None),
        Value::Object(o) => (
            o.get("error").and_then(Value::as_str).map_or_else(|| e.to_string(), str::to_owned),
            o.get("details").and_then(Value::as_str).map(str::to_owned),
        ),
        _ => (e.to_string(), None),
    }
}

/// Applies a `_Server.Database` update2 (all columns are optional scalars, so a modify
/// carries new values).
fn apply_server_update(rows: &mut BTreeMap<Uuid, BTreeMap<String, Datum>>, v: &Value) -> Result<()> {
    let Some(db) = v.as_object().and_then(|o| o.get("Database")) else {
        return Ok(());
    };
    let db = db.as_object().ok_or_else(|| proto("_Server update is not an object"))?;
    for (u, ru) in db {
        let uuid = Uuid::parse_str(u).map_err(|_| proto(format!("_Server: bad uuid {u}")))?;
        let ru = ru.as_object().ok_or_else(|| proto("_Server: bad row update"))?;
        if ru.contains_key("delete") {
            rows.remove(&uuid);
            continue;
        }
        let body = ru
            .get("initial")
            .or_else(|| ru.get("insert"))
            .or_else(|| ru.get("modify"))
            .and_then(Value::as_object)
            .ok_or_else(|| proto("_Server: bad row update"))?;
        let row = rows.entry(uuid).or_default();
        for (c, d) in body {
            row.insert(c.clone(), Datum::from_json(d)?);
        }
    }
    Ok(())
}

/// One connection: framing, request ids and inactivity probes.
struct Session {
    reader: tokio::io::ReadHalf<Box<dyn Io>>,
    writer: tokio::io::WriteHalf<Box<dyn Io>>,
    framer: Framer,
    buf: Vec<u8>,
    next_id: u64,
    probe: Option<Duration>,
    last_rx: Instant,
    probe_sent: bool,
    /// Messages received during setup that are not the awaited reply.
    deferred: std::collections::VecDeque<Message>,
}

impl Session {
    fn new(io: Box<dyn Io>, cfg: &ClientConfig) -> Session {
        let (reader, writer) = tokio::io::split(io);
        Session {
            reader,
            writer,
            framer: Framer::new(cfg.max_message),
            buf: vec![0; 64 * 1024],
            next_id: 0,
            probe: cfg.probe_interval.filter(|d| !d.is_zero()),
            last_rx: Instant::now(),
            probe_sent: false,
            deferred: Default::default(),
        }
    }

    async fn send(&mut self, msg: &Message) -> Result<()> {
        self.writer.write_all(&msg.to_bytes()).await?;
        Ok(())
    }

    async fn send_request(&mut self, method: &str, params: Value) -> Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&Message::request(method, params, json!(id))).await?;
        Ok(id)
    }

    fn received(&mut self, n: usize) {
        self.last_rx = Instant::now();
        self.probe_sent = false;
        self.framer.push(self.buf.get(..n).unwrap_or_default());
    }

    /// When to act if nothing arrives: send a probe, or give up on an unanswered one.
    fn probe_deadline(&self) -> Instant {
        let p = self.probe.unwrap_or(Duration::from_secs(3600));
        self.last_rx + if self.probe_sent { p * 2 } else { p }
    }

    async fn on_idle(&mut self) -> Result<()> {
        if Instant::now() < self.probe_deadline() {
            return Ok(());
        }
        if self.probe_sent {
            let secs = self.probe.map_or(0, |p| (p * 2).as_secs());
            return Err(proto(format!("no response to inactivity probe after {secs} seconds")));
        }
        self.probe_sent = true;
        self.send(&Message::request("echo", json!([]), json!("echo"))).await
    }

    /// A request during connection setup: waits for its reply, answering echoes. Nothing
    /// else can be in flight yet, apart from `_Server` updates, which the check after the
    /// monitor reply covers.
    async fn call(&mut self, method: &str, params: Value) -> Result<Value> {
        let id = self.send_request(method, params).await?;
        loop {
            while let Some(msg) = self.framer.next_message()? {
                match msg {
                    Message::Request { method, params, id } if method == "echo" => {
                        self.send(&Message::Reply { id, result: params }).await?;
                    }
                    Message::Reply { id: rid, result } if rid == json!(id) => return Ok(result),
                    Message::Error { id: rid, error } if rid == json!(id) => {
                        let (error, details) = rpc_error(&error);
                        return Err(Error::Rpc { error, details });
                    }
                    other => self.deferred.push_back(other),
                }
            }
            let deadline = self.probe_deadline();
            tokio::select! {
                r = self.reader.read(&mut self.buf) => match r? {
                    0 => return Err(Error::Disconnected),
                    n => self.received(n),
                },
                _ = sleep_until(deadline) => self.on_idle().await?,
            }
        }
    }
}
