//! JSON-RPC 1.0 as ovsdb-server speaks it: messages are JSON objects written back to back
//! on the stream with no delimiter and no length prefix.

use serde_json::{json, Value};

use super::error::{proto, Error, Result};

/// One JSON-RPC 1.0 message.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// A call that expects a reply with the same `id`.
    Request { method: String, params: Value, id: Value },
    /// A call with `id: null`; no reply (ovsdb-server's `update2`, `update3`, ...).
    Notification { method: String, params: Value },
    /// Successful reply (`error` is null).
    Reply { id: Value, result: Value },
    /// Failed reply (`error` is non-null).
    Error { id: Value, error: Value },
}

impl Message {
    pub fn request(method: &str, params: Value, id: Value) -> Message {
        Message::Request { method: method.to_owned(), params, id }
    }

    pub fn to_json(&self) -> Value {
        match self {
            Message::Request { method, params, id } => {
                json!({"method": method, "params": params, "id": id})
            }
            Message::Notification { method, params } => {
                json!({"method": method, "params": params, "id": null})
            }
            Message::Reply { id, result } => json!({"id": id, "result": result, "error": null}),
            Message::Error { id, error } => json!({"id": id, "result": null, "error": error}),
        }
    }

    /// Serialized bytes, ready to write.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serializing a Value cannot fail.
        serde_json::to_vec(&self.to_json()).unwrap_or_default()
    }

    pub fn from_json(v: Value) -> Result<Message> {
        let Value::Object(mut o) = v else {
            return Err(proto("JSON-RPC message is not an object"));
        };
        let id = o.remove("id").unwrap_or(Value::Null);
        if let Some(method) = o.remove("method") {
            let Value::String(method) = method else {
                return Err(proto("JSON-RPC method is not a string"));
            };
            let params = o.remove("params").unwrap_or(Value::Array(Vec::new()));
            if !params.is_array() {
                return Err(proto(format!("{method}: params is not an array")));
            }
            return Ok(if id.is_null() {
                Message::Notification { method, params }
            } else {
                Message::Request { method, params, id }
            });
        }
        let error = o.remove("error").unwrap_or(Value::Null);
        if !error.is_null() {
            return Ok(Message::Error { id, error });
        }
        match o.remove("result") {
            Some(result) if !id.is_null() => Ok(Message::Reply { id, result }),
            _ => Err(proto("JSON-RPC message is neither request nor reply")),
        }
    }
}

/// Splits a byte stream into JSON-RPC messages.
///
/// A small scanner finds where each top-level object ends (tracking nesting and strings), and
/// only then the object is parsed. Unlike re-running a streaming parser on every read, this
/// stays linear for very large messages (an initial Southbound sync can be hundreds of MB).
#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    /// Start of the message being scanned.
    start: usize,
    /// How far `buf` has been scanned.
    pos: usize,
    depth: usize,
    in_string: bool,
    escape: bool,
    max_message: usize,
}

/// Default cap on one message: large enough for an initial sync of a big Southbound DB.
pub const DEFAULT_MAX_MESSAGE: usize = 1 << 30;

impl Default for Framer {
    fn default() -> Self {
        Framer::new(DEFAULT_MAX_MESSAGE)
    }
}

impl Framer {
    pub fn new(max_message: usize) -> Framer {
        Framer { buf: Vec::new(), start: 0, pos: 0, depth: 0, in_string: false, escape: false, max_message }
    }

    /// Appends bytes read from the socket.
    pub fn push(&mut self, data: &[u8]) {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.pos -= self.start;
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Bytes of a partial message kept for the next read.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Returns the next complete message, `Ok(None)` if more bytes are needed. After an error
    /// the stream is unusable: the caller must drop the connection (and the framer).
    pub fn next_message(&mut self) -> Result<Option<Message>> {
        while let Some(&b) = self.buf.get(self.pos) {
            self.pos += 1;
            if self.in_string {
                if self.escape {
                    self.escape = false;
                } else if b == b'\\' {
                    self.escape = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match b {
                b'"' if self.depth > 0 => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' if self.depth > 0 => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        let frame = &self.buf[self.start..self.pos];
                        self.start = self.pos;
                        let v: Value = serde_json::from_slice(frame).map_err(|e| Error::Json(e.to_string()))?;
                        return Message::from_json(v).map(Some);
                    }
                }
                b' ' | b'\t' | b'\r' | b'\n' if self.depth == 0 => self.start = self.pos,
                _ if self.depth == 0 => return Err(Error::Json(format!("unexpected byte {b:#04x} between messages"))),
                _ => {}
            }
            if self.pos - self.start > self.max_message {
                return Err(Error::Json(format!("message larger than {} bytes", self.max_message)));
            }
        }
        if self.pos - self.start > self.max_message {
            return Err(Error::Json(format!("message larger than {} bytes", self.max_message)));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all(f: &mut Framer) -> Vec<Message> {
        let mut out = Vec::new();
        while let Some(m) = f.next_message().unwrap() {
            out.push(m);
        }
        out
    }

    #[test]
    fn classifies_messages() {
        let m = Message::from_json(json!({"method":"echo","params":[],"id":"echo"})).unwrap();
        assert!(matches!(m, Message::Request { .. }));
        let m = Message::from_json(json!({"method":"update2","params":[1,{}],"id":null})).unwrap();
        assert!(matches!(m, Message::Notification { .. }));
        let m = Message::from_json(json!({"id":3,"result":{},"error":null})).unwrap();
        assert_eq!(m, Message::Reply { id: json!(3), result: json!({}) });
        let m = Message::from_json(json!({"id":3,"result":null,"error":"unknown method"})).unwrap();
        assert!(matches!(m, Message::Error { .. }));
        assert!(Message::from_json(json!([1])).is_err());
        assert!(Message::from_json(json!({"method":1})).is_err());
        assert!(Message::from_json(json!({"method":"x","params":{}})).is_err());
        assert!(Message::from_json(json!({"id":null,"result":1})).is_err());
    }

    #[test]
    fn splits_concatenated_objects_byte_by_byte() {
        let text = br#"{"id":1,"result":"a}\"{","error":null}  {"method":"echo","params":["x]"],"id":"echo"}"#;
        let mut f = Framer::default();
        let mut got = Vec::new();
        for b in text.iter() {
            f.push(&[*b]);
            got.extend(all(&mut f));
        }
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], Message::Reply { id: json!(1), result: json!("a}\"{") });
        assert_eq!(f.pending(), 0);
    }

    #[test]
    fn rejects_garbage_and_oversize() {
        let mut f = Framer::default();
        f.push(b"nope");
        assert!(f.next_message().is_err());
        let mut f = Framer::default();
        f.push(b"{\"id\":1,,}");
        assert!(f.next_message().is_err());
        let mut f = Framer::new(16);
        f.push(b"{\"id\":1,\"result\":\"0123456789abcdef\"");
        assert!(f.next_message().is_err());
    }

    proptest! {
        #[test]
        fn any_split_yields_same_messages(
            strs in proptest::collection::vec("[ -~]{0,12}", 1..5),
            cut in 0usize..200,
        ) {
            let msgs: Vec<Message> = strs.iter().enumerate().map(|(i, s)| Message::Reply {
                id: json!(i), result: json!({"s": s, "a": [s, {"t": s}]}) }).collect();
            let mut bytes = Vec::new();
            for m in &msgs { bytes.extend(m.to_bytes()); bytes.push(b'\n'); }
            let cut = cut.min(bytes.len());
            let mut f = Framer::default();
            f.push(&bytes[..cut]);
            let mut got = all(&mut f);
            f.push(&bytes[cut..]);
            got.extend(all(&mut f));
            prop_assert_eq!(got, msgs);
        }
    }
}
