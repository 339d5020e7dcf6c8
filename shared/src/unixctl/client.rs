//! A blocking unixctl client, for tests and tools; speaks exactly what ovs-appctl sends.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use super::codec::JsonStream;

/// Sends one command; the outer error is transport, the inner one the server's error text.
pub fn call(socket: &Path, method: &str, args: &[&str], timeout: Duration) -> std::io::Result<Result<String, String>> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let request = json!({"method": method, "params": args, "id": 0});
    stream.write_all(request.to_string().as_bytes())?;
    let mut parser = JsonStream::default();
    let mut buf = [0u8; 4096];
    loop {
        match parser.next_value() {
            Ok(Some(reply)) => return Ok(parse_reply(&reply)),
            Ok(None) => {}
            Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())),
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        parser.push(buf.get(..n).unwrap_or_default());
    }
}

fn parse_reply(reply: &Value) -> Result<String, String> {
    match (reply.get("result"), reply.get("error")) {
        (_, Some(Value::String(e))) => Err(e.clone()),
        (Some(Value::String(r)), _) => Ok(r.clone()),
        _ => Err(format!("malformed reply: {reply}")),
    }
}

/// The control socket of a daemon, found as ovs-appctl finds it: `<rundir>/<name>.pid`
/// names the pid, and the socket is `<rundir>/<name>.<pid>.ctl`.
pub fn socket_of(rundir: &Path, name: &str) -> std::io::Result<PathBuf> {
    let pid = std::fs::read_to_string(rundir.join(format!("{name}.pid")))?;
    Ok(rundir.join(format!("{name}.{}.ctl", pid.trim())))
}
