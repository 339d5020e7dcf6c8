//! Intent bookkeeping on both ends. pinctrl's [`IntentQueue`] keeps every intent until flowctl
//! acknowledges it and replays the rest after a reconnect; flowctl's [`IntentLedger`] queues
//! what arrives, hands out batches for its Southbound transactions, and recognises replays of
//! what it already committed, so nothing is written twice and nothing is dropped.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::messages::{Intent, IntentId, IntentKind};

/// What makes two intents write the same row: a newer one supersedes an older one.
fn row_key(kind: &IntentKind) -> (u8, u32, String, String) {
    match kind {
        IntentKind::MacBinding { datapath_key, logical_port, ip, .. } => {
            (0, *datapath_key, logical_port.clone(), ip.clone())
        }
        IntentKind::Fdb { datapath_key, mac, .. } => (1, *datapath_key, mac.clone(), String::new()),
        IntentKind::IgmpGroup { datapath_key, address, .. } => (2, *datapath_key, address.clone(), String::new()),
        IntentKind::ControllerEvent { event_type, info } => {
            (3, 0, event_type.clone(), info.iter().map(|(k, v)| format!("{k}={v}\n")).collect())
        }
        IntentKind::BindVport { datapath_key, vport_key, .. } => {
            (4, *datapath_key, vport_key.to_string(), String::new())
        }
        IntentKind::ServiceMonitorStatus { uuid, .. } => (5, 0, uuid.clone(), String::new()),
    }
}

/// pinctrl's side.
pub struct IntentQueue {
    session: u64,
    next_seq: u64,
    pending: BTreeMap<IntentId, Intent>,
    by_row: HashMap<(u8, u32, String, String), IntentId>,
}

impl IntentQueue {
    pub fn new(session: u64) -> IntentQueue {
        IntentQueue { session, next_seq: 1, pending: BTreeMap::new(), by_row: HashMap::new() }
    }

    /// Records a new intent. Returns it for sending, or None if the same write is already
    /// waiting (a repeated ARP reply does not queue twice). A different value for the same
    /// row replaces the waiting one, so memory is bounded by the rows, not the packets.
    pub fn push(&mut self, kind: IntentKind) -> Option<Intent> {
        let row = row_key(&kind);
        if let Some(old) = self.by_row.get(&row) {
            if self.pending.get(old).is_some_and(|i| i.kind == kind) {
                return None;
            }
            self.pending.remove(old);
        }
        let id = IntentId { session: self.session, seq: self.next_seq };
        self.next_seq += 1;
        let intent = Intent { id, kind };
        self.by_row.insert(row, id);
        self.pending.insert(id, intent.clone());
        Some(intent)
    }

    pub fn ack(&mut self, ids: &[IntentId]) {
        for id in ids {
            if let Some(i) = self.pending.remove(id) {
                let row = row_key(&i.kind);
                if self.by_row.get(&row) == Some(id) {
                    self.by_row.remove(&row);
                }
            }
        }
    }

    /// Everything not yet acknowledged, oldest first: sent again after a reconnect.
    pub fn unacked(&self) -> Vec<Intent> {
        self.pending.values().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// flowctl's side.
#[derive(Default)]
pub struct IntentLedger {
    queued: VecDeque<Intent>,
    in_flight: Vec<Intent>,
    /// Per pinctrl session, every seq up to this one is resolved (committed or moot).
    done_through: HashMap<u64, u64>,
}

impl IntentLedger {
    /// Takes intents from pinctrl; returns the ids to acknowledge at once (replays of
    /// intents already committed).
    pub fn receive(&mut self, intents: Vec<Intent>) -> Vec<IntentId> {
        let mut ack_now = Vec::new();
        for i in intents {
            let done = self.done_through.get(&i.id.session).copied().unwrap_or(0);
            if i.id.seq <= done {
                ack_now.push(i.id);
            } else if !self.queued.iter().chain(&self.in_flight).any(|q| q.id == i.id) {
                self.queued.push_back(i);
            }
        }
        ack_now
    }

    /// Up to `max` intents for the next transaction; they stay in flight until resolved.
    pub fn take_batch(&mut self, max: usize) -> Vec<Intent> {
        if !self.in_flight.is_empty() {
            return Vec::new();
        }
        let n = max.min(self.queued.len());
        self.in_flight = self.queued.drain(..n).collect();
        self.in_flight.clone()
    }

    /// The transaction carrying the batch committed: returns the ids to acknowledge.
    pub fn committed(&mut self) -> Vec<IntentId> {
        let batch = std::mem::take(&mut self.in_flight);
        for i in &batch {
            let done = self.done_through.entry(i.id.session).or_insert(0);
            *done = (*done).max(i.id.seq);
        }
        batch.into_iter().map(|i| i.id).collect()
    }

    /// The transaction failed: the batch goes back to the front, to be retried.
    pub fn failed(&mut self) {
        for i in std::mem::take(&mut self.in_flight).into_iter().rev() {
            self.queued.push_front(i);
        }
    }

    pub fn queued(&self) -> usize {
        self.queued.len() + self.in_flight.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac_binding(ip: &str, mac: &str) -> IntentKind {
        IntentKind::MacBinding { datapath_key: 1, logical_port: "lrp0".into(), ip: ip.into(), mac: mac.into() }
    }

    #[test]
    fn repeats_coalesce_and_changes_supersede() {
        let mut q = IntentQueue::new(7);
        assert!(q.push(mac_binding("10.0.0.1", "aa")).is_some());
        assert!(q.push(mac_binding("10.0.0.1", "aa")).is_none());
        let newer = q.push(mac_binding("10.0.0.1", "bb")).unwrap();
        assert_eq!(q.unacked(), vec![newer.clone()]);
        q.ack(&[newer.id]);
        assert!(q.is_empty());
    }

    #[test]
    fn replays_after_a_flowctl_restart_are_committed_once() {
        let mut q = IntentQueue::new(1);
        let a = q.push(mac_binding("10.0.0.1", "aa")).unwrap();
        let b = q.push(mac_binding("10.0.0.2", "bb")).unwrap();
        let mut ledger = IntentLedger::default();
        assert!(ledger.receive(vec![a.clone(), b.clone()]).is_empty());
        assert_eq!(ledger.take_batch(1), vec![a.clone()]);
        ledger.failed();
        assert_eq!(ledger.take_batch(10), vec![a.clone(), b.clone()]);
        assert_eq!(ledger.committed(), vec![a.id, b.id]);
        // The ack was lost; pinctrl replays: acknowledged at once, not queued again.
        assert_eq!(ledger.receive(q.unacked()), vec![a.id, b.id]);
        assert_eq!(ledger.queued(), 0);
        // A fresh flowctl (empty ledger) queues them again: the upsert itself is idempotent.
        let mut fresh = IntentLedger::default();
        assert!(fresh.receive(q.unacked()).is_empty());
        assert_eq!(fresh.queued(), 2);
    }

    #[test]
    fn duplicates_in_flight_are_not_queued_twice() {
        let mut q = IntentQueue::new(3);
        let a = q.push(mac_binding("10.0.0.1", "aa")).unwrap();
        let mut ledger = IntentLedger::default();
        ledger.receive(vec![a.clone()]);
        ledger.take_batch(10);
        ledger.receive(vec![a.clone()]);
        assert_eq!(ledger.queued(), 1);
    }
}
