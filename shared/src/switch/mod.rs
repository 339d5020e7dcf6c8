//! An OpenFlow 1.5 connection to a switch's management socket (`unix:<rundir>/<br>.mgmt`),
//! as OVS's rconn does it for ovn-controller: HELLO with a version bitmap, version check,
//! echo replies, an optional inactivity probe, reconnect with backoff.
//!
//! The owner gets [`SwitchEvent`]s and sends already-encoded bytes (one or many messages per
//! chunk) through a bounded queue: [`Switch::send`] waits while the queue is full, so a slow
//! switch stops the sender instead of growing memory. [`Switch::pending`] tells how many chunks
//! are queued or being written (0 = everything reached the socket, 23.03's `tx_counter`).
//! Chunks are tagged with the connection they were made for and dropped if that connection is
//! gone: a request is never replayed on a later connection whose state the owner has not seen.
//!
//! Request/reply correlation is the owner's (it allocates xids with [`Switch::next_xid`]); this
//! layer answers ECHO_REQUEST itself and hands everything else up. Bad input never panics: a
//! frame whose length can't resynchronise resets the connection, a body that does not decode
//! is logged and skipped.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};

use crate::openflow::header::{negotiate_version, split_frame, OFP15_VERSION};
use crate::openflow::{Message, OfMessage};

/// Connection settings.
#[derive(Clone, Debug)]
pub struct SwitchConfig {
    /// Path of the unix socket (without `unix:`).
    pub path: PathBuf,
    /// Send an echo request after this long without input, drop the connection after twice
    /// as long (`ovn-openflow-probe-interval`; None or zero = off, 23.03's default for ofctrl).
    pub probe_interval: Option<Duration>,
    /// Chunks the send queue holds before [`Switch::send`] waits.
    pub queue_chunks: usize,
    /// First and largest reconnect delay (rconn: 1 s doubling to 8 s).
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl SwitchConfig {
    pub fn new(path: impl Into<PathBuf>) -> SwitchConfig {
        SwitchConfig {
            path: path.into(),
            probe_interval: None,
            queue_chunks: 16,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(8),
        }
    }
}

/// What the connection tells its owner.
#[derive(Debug)]
pub enum SwitchEvent {
    /// HELLO exchanged; `conn` tags this connection's sends.
    Connected { conn: u64, version: u8 },
    /// A decoded message other than echo (already answered).
    Message(OfMessage),
    /// The connection ended; a reconnect follows after the backoff.
    Disconnected { reason: String },
}

struct Chunk {
    conn: u64,
    bytes: Vec<u8>,
}

enum Control {
    Reconnect,
}

/// The owner's handle. Dropping it (and the event receiver) stops the connection task.
pub struct Switch {
    tx: mpsc::Sender<Chunk>,
    control: mpsc::UnboundedSender<Control>,
    pending: Arc<AtomicUsize>,
    xid: Arc<AtomicU32>,
    conn: Arc<AtomicU64>,
}

impl Switch {
    /// Start connecting (on the current tokio runtime); events arrive on the receiver.
    pub fn start(config: SwitchConfig) -> (Switch, mpsc::Receiver<SwitchEvent>) {
        let (tx, rx) = mpsc::channel(config.queue_chunks.max(1));
        let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::channel(1024);
        let pending = Arc::new(AtomicUsize::new(0));
        let conn = Arc::new(AtomicU64::new(0));
        let task =
            Task { config, rx: Some(rx), ctl: ctl_rx, events: ev_tx, pending: pending.clone(), conn: conn.clone() };
        tokio::spawn(task.run());
        (Switch { tx, control: ctl_tx, pending, xid: Arc::new(AtomicU32::new(1)), conn }, ev_rx)
    }

    /// A fresh transaction id (never 0, which echo probes use).
    pub fn next_xid(&self) -> u32 {
        loop {
            let x = self.xid.fetch_add(1, Ordering::Relaxed);
            if x != 0 {
                return x;
            }
        }
    }

    /// The current connection's tag (0 before the first connect).
    pub fn conn(&self) -> u64 {
        self.conn.load(Ordering::Relaxed)
    }

    /// Queue encoded bytes for connection `conn`; waits while the queue is full (cancel-safe).
    /// Returns false if the connection task has ended.
    pub async fn send(&self, conn: u64, bytes: Vec<u8>) -> bool {
        if bytes.is_empty() {
            return true;
        }
        // Reserve first so that a cancelled send leaves the count right.
        let Ok(permit) = self.tx.reserve().await else {
            return false;
        };
        self.pending.fetch_add(1, Ordering::SeqCst);
        permit.send(Chunk { conn, bytes });
        true
    }

    /// Chunks queued or being written.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    /// Drop the current connection and connect again at once (tests; a reset on request).
    pub fn reconnect(&self) {
        let _ = self.control.send(Control::Reconnect);
    }
}

struct Task {
    config: SwitchConfig,
    rx: Option<mpsc::Receiver<Chunk>>,
    ctl: mpsc::UnboundedReceiver<Control>,
    events: mpsc::Sender<SwitchEvent>,
    pending: Arc<AtomicUsize>,
    conn: Arc<AtomicU64>,
}

/// How a connection ended.
enum End {
    Lost(String),
    Reconnect,
    OwnerGone,
}

impl Task {
    async fn run(mut self) {
        let mut backoff = self.config.backoff_min;
        loop {
            let stream = match UnixStream::connect(&self.config.path).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!("{}: connect failed: {e}", self.config.path.display());
                    if self.sleep_or_quit(backoff).await {
                        return;
                    }
                    backoff = (backoff * 2).min(self.config.backoff_max);
                    continue;
                }
            };
            let conn = self.conn.fetch_add(1, Ordering::SeqCst) + 1;
            let (end, was_up) = self.serve(stream, conn).await;
            let reason = match end {
                End::OwnerGone => return,
                End::Reconnect => {
                    backoff = Duration::ZERO;
                    "reconnect requested".to_string()
                }
                End::Lost(r) => r,
            };
            tracing::info!("{}: connection closed: {reason}", self.config.path.display());
            if was_up && self.events.send(SwitchEvent::Disconnected { reason }).await.is_err() {
                return;
            }
            if was_up {
                backoff = backoff.min(self.config.backoff_min);
            }
            if self.sleep_or_quit(backoff).await {
                return;
            }
            backoff = (backoff * 2).clamp(self.config.backoff_min, self.config.backoff_max);
        }
    }

    /// Sleep; true if the owner is gone.
    async fn sleep_or_quit(&mut self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => false,
            _ = self.events.closed() => true,
        }
    }

    async fn serve(&mut self, stream: UnixStream, conn: u64) -> (End, bool) {
        let (mut rd, mut wr) = stream.into_split();
        let hello = OfMessage::new(0, Message::Hello { version_bitmap: 1 << OFP15_VERSION }).encode();
        if let Err(e) = wr.write_all(&hello).await {
            return (End::Lost(format!("send hello: {e}")), false);
        }
        let mut buf = Vec::with_capacity(1 << 16);
        let version = match self.read_hello(&mut rd, &mut buf).await {
            Ok(v) => v,
            Err(e) => return (End::Lost(e), false),
        };
        tracing::info!("{}: connected (OpenFlow version {version:#x})", self.config.path.display());
        if self.events.send(SwitchEvent::Connected { conn, version }).await.is_err() {
            return (End::OwnerGone, false);
        }
        // The writer owns the queue while the connection lives and hands it back at the end.
        let Some(rx) = self.rx.take() else {
            return (End::OwnerGone, true);
        };
        let (echo_tx, echo_rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = oneshot::channel();
        let writer = tokio::spawn(writer(wr, rx, echo_rx, stop_rx, conn, self.pending.clone()));
        let end = self.read_loop(&mut rd, &mut buf, &echo_tx).await;
        let _ = stop_tx.send(());
        match writer.await {
            Ok((rx, werr)) => {
                self.rx = Some(rx);
                match (end, werr) {
                    (End::Lost(r), _) => (End::Lost(r), true),
                    (e, None) => (e, true),
                    (End::Reconnect, Some(_)) => (End::Reconnect, true),
                    (End::OwnerGone, _) => (End::OwnerGone, true),
                }
            }
            Err(_) => (End::OwnerGone, true),
        }
    }

    async fn read_hello(&mut self, rd: &mut OwnedReadHalf, buf: &mut Vec<u8>) -> Result<u8, String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match split_frame(buf) {
                Err(e) => return Err(format!("bad frame: {e}")),
                Ok(Some((frame, _))) => {
                    let n = frame.len();
                    let msg = OfMessage::decode(frame).map_err(|e| format!("bad hello: {e}"))?;
                    let Message::Hello { version_bitmap } = msg.body else {
                        return Err("first message is not HELLO".into());
                    };
                    buf.drain(..n);
                    return negotiate_version(1 << OFP15_VERSION, msg.version, version_bitmap)
                        .ok_or_else(|| format!("no common OpenFlow version (peer {:#x})", msg.version));
                }
                Ok(None) => {}
            }
            match tokio::time::timeout_at(deadline, rd.read_buf(buf)).await {
                Err(_) => return Err("timeout waiting for HELLO".into()),
                Ok(Ok(0)) => return Err("connection closed before HELLO".into()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(format!("read: {e}")),
            }
        }
    }

    async fn read_loop(
        &mut self,
        rd: &mut OwnedReadHalf,
        buf: &mut Vec<u8>,
        echo: &mpsc::UnboundedSender<Vec<u8>>,
    ) -> End {
        let probe = self.config.probe_interval.filter(|d| !d.is_zero());
        let mut last_input = tokio::time::Instant::now();
        let mut probe_sent = false;
        loop {
            // Decode everything complete in the buffer.
            let mut used = 0;
            loop {
                let rest = buf.get(used..).unwrap_or_default();
                match split_frame(rest) {
                    Err(e) => return End::Lost(format!("unframeable input: {e}")),
                    Ok(None) => break,
                    Ok(Some((frame, _))) => {
                        used += frame.len();
                        match OfMessage::decode(frame) {
                            Err(e) => tracing::warn!("skipping undecodable OpenFlow message: {e}"),
                            Ok(m) => match m.body {
                                Message::EchoRequest(data) => {
                                    let _ = echo.send(OfMessage::new(m.xid, Message::EchoReply(data)).encode());
                                }
                                Message::EchoReply(_) if m.xid == 0 => {}
                                _ => {
                                    if self.events.send(SwitchEvent::Message(m)).await.is_err() {
                                        return End::OwnerGone;
                                    }
                                }
                            },
                        }
                    }
                }
            }
            buf.drain(..used.min(buf.len()));
            let wake = probe.map(|p| last_input + if probe_sent { p * 2 } else { p });
            tokio::select! {
                r = rd.read_buf(buf) => match r {
                    Ok(0) => return End::Lost("connection closed by peer".into()),
                    Ok(_) => { last_input = tokio::time::Instant::now(); probe_sent = false; }
                    Err(e) => return End::Lost(format!("read: {e}")),
                },
                c = self.ctl.recv() => match c {
                    Some(Control::Reconnect) => return End::Reconnect,
                    None => return End::OwnerGone,
                },
                _ = async { match wake { Some(w) => tokio::time::sleep_until(w).await, None => std::future::pending().await } } => {
                    if probe_sent {
                        return End::Lost("no response to inactivity probe".into());
                    }
                    probe_sent = true;
                    let _ = echo.send(OfMessage::new(0, Message::EchoRequest(Vec::new())).encode());
                }
            }
        }
    }
}

/// Writes queued chunks of this connection (dropping stale ones) and echo traffic, until told
/// to stop or a write fails. Returns the queue and the write error, if any.
async fn writer(
    mut wr: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Chunk>,
    mut echo: mpsc::UnboundedReceiver<Vec<u8>>,
    mut stop: oneshot::Receiver<()>,
    conn: u64,
    pending: Arc<AtomicUsize>,
) -> (mpsc::Receiver<Chunk>, Option<String>) {
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => return (rx, None),
            Some(e) = echo.recv() => {
                if let Err(err) = wr.write_all(&e).await {
                    return (rx, Some(err.to_string()));
                }
            }
            c = rx.recv() => {
                let Some(c) = c else { return (rx, None) };
                let r = if c.conn == conn { wr.write_all(&c.bytes).await } else { Ok(()) };
                pending.fetch_sub(1, Ordering::SeqCst);
                if let Err(err) = r {
                    return (rx, Some(err.to_string()));
                }
            }
        }
    }
}
