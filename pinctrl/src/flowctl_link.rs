//! pinctrl's end of the flowctl channel: it connects (and reconnects) to flowctl's socket,
//! keeps the last state flowctl sent, and keeps every Southbound write intent until flowctl
//! acknowledges it. When flowctl is down, the state stays as it was: handlers keep serving.

use std::time::Duration;

use shared::channel;
use shared::pinctrl_link::{FromFlowctl, FromPinctrl, IntentKind, IntentQueue, State, PROTOCOL_VERSION};

/// Distinct Southbound rows pinctrl keeps waiting for flowctl; beyond this, new rows are
/// dropped (counted) so a flood cannot grow memory without bound while flowctl is away.
pub const MAX_PENDING_INTENTS: usize = 10_000;
use tokio::net::UnixStream;
use tokio::sync::mpsc;

pub enum LinkEvent {
    Connected(channel::Sender),
    Message(FromFlowctl),
    Disconnected,
}

/// Keeps a connection to flowctl up, retrying with a short backoff: flowctl may restart.
pub fn spawn_connector(events: mpsc::Sender<LinkEvent>) {
    tokio::spawn(async move {
        let path = shared::pinctrl_link::socket_path();
        let mut delay = Duration::from_millis(50);
        loop {
            match UnixStream::connect(&path).await {
                Ok(stream) => {
                    delay = Duration::from_millis(50);
                    let (sender, mut inbox) = channel::open::<FromFlowctl>(stream, "flowctl channel");
                    if events.send(LinkEvent::Connected(sender)).await.is_err() {
                        return;
                    }
                    while let Some(msg) = inbox.recv().await {
                        if events.send(LinkEvent::Message(msg)).await.is_err() {
                            return;
                        }
                    }
                    if events.send(LinkEvent::Disconnected).await.is_err() {
                        return;
                    }
                }
                Err(e) => tracing::debug!("flowctl channel {}: {e}", path.display()),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(1));
        }
    });
}

pub struct FlowctlLink {
    sender: Option<channel::Sender>,
    pub state: State,
    seq: Option<u64>,
    pub intents: IntentQueue,
    pub snapshots: u64,
    /// Intents dropped because [`MAX_PENDING_INTENTS`] were waiting.
    pub intents_dropped: u64,
    /// Intents sent (first time, not replays).
    pub intents_sent: u64,
}

impl FlowctlLink {
    pub fn new(session: u64) -> FlowctlLink {
        FlowctlLink {
            sender: None,
            state: State::default(),
            seq: None,
            intents: IntentQueue::new(session),
            snapshots: 0,
            intents_dropped: 0,
            intents_sent: 0,
        }
    }

    /// A snapshot has arrived since the last gap: the state is flowctl's.
    pub fn has_state(&self) -> bool {
        self.seq.is_some()
    }

    pub fn connected(&self) -> bool {
        self.sender.is_some()
    }

    /// Queues a Southbound write and sends it now if flowctl is connected; it stays queued
    /// until acknowledged and is replayed after a reconnect.
    pub fn push_intent(&mut self, kind: IntentKind) {
        if self.intents.len() >= MAX_PENDING_INTENTS {
            self.intents_dropped += 1;
            return;
        }
        if let Some(intent) = self.intents.push(kind) {
            self.intents_sent += 1;
            if let Some(s) = &self.sender {
                s.send(&FromPinctrl::Intents { intents: vec![intent] });
            }
        }
    }

    pub fn on_event(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::Connected(sender) => {
                tracing::info!("connected to flowctl");
                sender.send(&FromPinctrl::Hello { version: PROTOCOL_VERSION });
                let unacked = self.intents.unacked();
                if !unacked.is_empty() {
                    tracing::info!("replaying {} unacknowledged intents", unacked.len());
                    sender.send(&FromPinctrl::Intents { intents: unacked });
                }
                self.sender = Some(sender);
            }
            LinkEvent::Disconnected => {
                tracing::warn!("flowctl channel closed; serving from the last state");
                self.sender = None;
            }
            LinkEvent::Message(msg) => self.on_message(msg),
        }
    }

    fn on_message(&mut self, msg: FromFlowctl) {
        match msg {
            FromFlowctl::Hello { version } if version != PROTOCOL_VERSION => {
                tracing::error!("flowctl speaks channel protocol {version}, pinctrl {PROTOCOL_VERSION}");
                self.sender = None;
            }
            FromFlowctl::Hello { .. } => {}
            FromFlowctl::Snapshot { seq, records } => {
                self.state = State::from_records(records);
                self.seq = Some(seq);
                self.snapshots += 1;
            }
            FromFlowctl::Delta { seq, upserts, removals } => {
                if self.seq.is_some_and(|s| s + 1 == seq) {
                    self.state.apply(upserts, removals);
                    self.seq = Some(seq);
                } else {
                    tracing::warn!("flowctl delta {seq} after {:?}: asking for a snapshot", self.seq);
                    self.seq = None;
                    if let Some(s) = &self.sender {
                        s.send(&FromPinctrl::Resync);
                    }
                }
            }
            FromFlowctl::Ack { ids } => self.intents.ack(&ids),
        }
    }
}
