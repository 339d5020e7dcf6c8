//! The unixctl server: accepts `ovs-appctl` connections and hands each checked request to the
//! owner's event loop with a one-shot reply slot. Parsing and checks happen in the connection
//! tasks, so a bad or slow client never reaches, or stalls, the owner.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

use super::codec::{check_request, list_commands, reply_err, reply_ok, JsonStream};
use crate::ipc::CommandSpec;

/// A checked request waiting for its answer.
pub struct Incoming {
    pub method: String,
    pub args: Vec<String>,
    reply: oneshot::Sender<Result<String, String>>,
}

impl Incoming {
    pub fn respond(self, result: Result<String, String>) {
        // The client may have gone; nothing to do then.
        let _ = self.reply.send(result);
    }
}

/// Owns the socket file: removed when dropped.
pub struct Server {
    path: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Listens on `path` (a stale socket file there is replaced). `list-commands` is answered here
/// from `commands`; every other valid request arrives on the returned receiver.
pub fn serve(path: &Path, commands: Vec<CommandSpec>) -> std::io::Result<(Server, mpsc::Receiver<Incoming>)> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    let (tx, rx) = mpsc::channel(64);
    let commands: Arc<[CommandSpec]> = commands.into();
    tokio::spawn(accept_loop(listener, commands, tx));
    Ok((Server { path: path.to_path_buf() }, rx))
}

async fn accept_loop(listener: UnixListener, commands: Arc<[CommandSpec]>, tx: mpsc::Sender<Incoming>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(connection(stream, commands.clone(), tx.clone()));
            }
            Err(e) => {
                tracing::warn!("unixctl: accept failed: {e}");
                // EMFILE and friends: back off instead of spinning.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
        if tx.is_closed() {
            return;
        }
    }
}

async fn connection(mut stream: UnixStream, commands: Arc<[CommandSpec]>, tx: mpsc::Sender<Incoming>) {
    let mut parser = JsonStream::default();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        // Answer everything already buffered, one request at a time, in order.
        loop {
            let value = match parser.next_value() {
                Ok(Some(v)) => v,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!("unixctl: closing connection: {e}");
                    let _ = stream.write_all(&reply_err(Value::Null, &e.to_string())).await;
                    return;
                }
            };
            let reply = match check_request(value, &commands) {
                Err((id, msg)) => reply_err(id, &msg),
                Ok(req) if req.method == "list-commands" => reply_ok(req.id, &list_commands(&commands)),
                Ok(req) => {
                    let (reply_tx, reply_rx) = oneshot::channel();
                    let incoming = Incoming { method: req.method, args: req.params, reply: reply_tx };
                    if tx.send(incoming).await.is_err() {
                        return;
                    }
                    match reply_rx.await {
                        Ok(Ok(text)) => reply_ok(req.id, &text),
                        Ok(Err(text)) => reply_err(req.id, &text),
                        Err(_) => reply_err(req.id, "command abandoned: the daemon is stopping"),
                    }
                }
            };
            if stream.write_all(&reply).await.is_err() {
                return;
            }
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => parser.push(buf.get(..n).unwrap_or_default()),
        }
    }
}
