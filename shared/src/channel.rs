//! Async ends of a framed channel (supervisor <-> child, flowctl <-> pinctrl): a reader task
//! that turns frames into typed messages, and a writer task behind a bounded queue so a peer
//! that stops reading (SIGSTOP, a busy loop) can never block the sender's event loop.

use serde::{de::DeserializeOwned, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::sync::mpsc;

use crate::frame::FrameDecoder;
use crate::ipc;

/// Messages queued for a peer before sends start failing.
const QUEUE_DEPTH: usize = 1024;

/// The sending end. Cloning shares the queue.
#[derive(Clone)]
pub struct Sender {
    queue: mpsc::Sender<Vec<u8>>,
}

impl Sender {
    /// Queues a message; false if the queue is full or the peer is gone (the caller decides
    /// whether that matters: a lost heartbeat does not, a lost reply is answered by a timeout).
    pub fn send<T: Serialize>(&self, msg: &T) -> bool {
        match ipc::encode(msg) {
            Ok(bytes) => self.queue.try_send(bytes).is_ok(),
            Err(e) => {
                tracing::error!("cannot encode message: {e}");
                false
            }
        }
    }
}

/// Splits a connected stream into a sender and a receiver of decoded messages. The receiver
/// yields `None` once the peer closed or sent something unreadable (logged with `label`).
pub fn open<In>(stream: UnixStream, label: &'static str) -> (Sender, mpsc::Receiver<In>)
where
    In: DeserializeOwned + Send + 'static,
{
    let (read, write) = stream.into_split();
    let (queue, outbox) = mpsc::channel(QUEUE_DEPTH);
    let (inbox, received) = mpsc::channel(QUEUE_DEPTH);
    tokio::spawn(write_loop(write, outbox));
    tokio::spawn(read_loop(read, inbox, label));
    (Sender { queue }, received)
}

async fn write_loop(mut write: OwnedWriteHalf, mut outbox: mpsc::Receiver<Vec<u8>>) {
    while let Some(bytes) = outbox.recv().await {
        if write.write_all(&bytes).await.is_err() {
            return;
        }
    }
}

async fn read_loop<In: DeserializeOwned>(mut read: OwnedReadHalf, inbox: mpsc::Sender<In>, label: &'static str) {
    let mut decoder = FrameDecoder::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match read.read(&mut buf).await {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) => {
                tracing::warn!("{label}: read failed: {e}");
                return;
            }
        };
        decoder.push(buf.get(..n).unwrap_or_default());
        loop {
            match decoder.next_frame() {
                Ok(Some(payload)) => match ipc::decode::<In>(&payload) {
                    Ok(msg) => {
                        if inbox.send(msg).await.is_err() {
                            return;
                        }
                    }
                    // One bad message is skipped: framing is intact, so the rest still reads.
                    Err(e) => tracing::warn!("{label}: skipping message: {e}"),
                },
                Ok(None) => break,
                Err(e) => {
                    tracing::error!("{label}: closing channel: {e}");
                    return;
                }
            }
        }
    }
}
