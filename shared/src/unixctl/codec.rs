//! Sans-IO half of unixctl: splitting a byte stream into JSON values, checking requests the
//! way OVS's server does, and writing replies in OVS 3.1's exact shape.

use serde_json::{json, Value};

use crate::ipc::CommandSpec;

/// A request larger than this is refused: appctl commands are a few words.
pub const MAX_MESSAGE: usize = 1 << 20;

#[derive(Debug, PartialEq, Eq)]
pub enum StreamError {
    TooLarge,
    Syntax(String),
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamError::TooLarge => write!(f, "message exceeds {MAX_MESSAGE} bytes"),
            StreamError::Syntax(e) => write!(f, "syntax error: {e}"),
        }
    }
}

/// Reassembles JSON values from a stream that may split or join them anywhere.
#[derive(Default)]
pub struct JsonStream {
    buf: Vec<u8>,
}

impl JsonStream {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete value. After an error the stream cannot be resynchronised.
    pub fn next_value(&mut self) -> Result<Option<Value>, StreamError> {
        let mut values = serde_json::Deserializer::from_slice(&self.buf).into_iter::<Value>();
        match values.next() {
            Some(Ok(value)) => {
                let used = values.byte_offset();
                self.buf.drain(..used);
                Ok(Some(value))
            }
            Some(Err(e)) if e.is_eof() => {
                if self.buf.len() > MAX_MESSAGE {
                    Err(StreamError::TooLarge)
                } else {
                    Ok(None)
                }
            }
            Some(Err(e)) => Err(StreamError::Syntax(e.to_string())),
            None => {
                self.buf.clear();
                Ok(None)
            }
        }
    }
}

/// A checked request.
#[derive(Debug, PartialEq)]
pub struct Request {
    pub id: Value,
    pub method: String,
    pub params: Vec<String>,
}

/// Checks a JSON-RPC request against the command table, in OVS's order and with OVS's
/// messages. The error carries the id to answer with.
pub fn check_request(value: Value, commands: &[CommandSpec]) -> Result<Request, (Value, String)> {
    let Value::Object(mut obj) = value else {
        return Err((Value::Null, "request is not a JSON object".to_string()));
    };
    let id = obj.remove("id").unwrap_or(Value::Null);
    let method = match obj.remove("method") {
        Some(Value::String(m)) => m,
        _ => return Err((id, "request has no \"method\" string".to_string())),
    };
    let params = match obj.remove("params") {
        Some(Value::Array(p)) => p,
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err((id, "\"params\" is not an array".to_string())),
    };
    let Some(spec) = commands.iter().find(|c| c.name == method) else {
        return Err((
            id,
            format!("\"{method}\" is not a valid command (use \"list-commands\" to see a list of valid commands)"),
        ));
    };
    if params.len() < spec.min_args {
        return Err((id, format!("\"{method}\" command requires at least {} arguments", spec.min_args)));
    }
    if params.len() > spec.max_args {
        return Err((id, format!("\"{method}\" command takes at most {} arguments", spec.max_args)));
    }
    let mut args = Vec::with_capacity(params.len());
    for p in params {
        match p {
            Value::String(s) => args.push(s),
            _ => return Err((id, format!("\"{method}\" command has non-string argument"))),
        }
    }
    Ok(Request { id, method, params: args })
}

/// Success: `{"id":X,"result":"text","error":null}`; OVS 3.1 ends a non-empty text with a
/// newline, and ovs-appctl prints it verbatim.
pub fn reply_ok(id: Value, text: &str) -> Vec<u8> {
    let mut text = text.to_string();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    json!({"id": id, "result": text, "error": Value::Null}).to_string().into_bytes()
}

/// Failure: `{"id":X,"error":"text"}`, without a result key, as OVS 3.1 sends it.
pub fn reply_err(id: Value, text: &str) -> Vec<u8> {
    let mut text = text.to_string();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    json!({"id": id, "error": text}).to_string().into_bytes()
}

/// `list-commands` text, as OVS formats it.
pub fn list_commands(commands: &[CommandSpec]) -> String {
    let mut sorted: Vec<&CommandSpec> = commands.iter().collect();
    sorted.sort_by_key(|c| c.name);
    let mut out = String::from("The available commands are:\n");
    for c in sorted {
        out.push_str(&format!("  {:<23} {}\n", c.name, c.usage));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TABLE: &[CommandSpec] = &[
        CommandSpec { name: "version", usage: "", min_args: 0, max_args: 0 },
        CommandSpec { name: "vlog/set", usage: "{spec}", min_args: 0, max_args: usize::MAX },
        CommandSpec { name: "one", usage: "ARG", min_args: 1, max_args: 1 },
    ];

    #[test]
    fn joined_and_split_messages_are_reassembled() {
        let mut s = JsonStream::default();
        s.push(br#"{"method":"version","params":[],"id":0}{"method":"on"#);
        assert_eq!(s.next_value().unwrap().unwrap()["id"], 0);
        assert_eq!(s.next_value().unwrap(), None);
        s.push(br#"e","params":["x"],"id":"a"}"#);
        let req = check_request(s.next_value().unwrap().unwrap(), TABLE).unwrap();
        assert_eq!(req, Request { id: json!("a"), method: "one".into(), params: vec!["x".into()] });
    }

    #[test]
    fn errors_use_ovs_wording() {
        let check = |v: Value| check_request(v, TABLE).unwrap_err().1;
        assert_eq!(
            check(json!({"method":"nope","params":[],"id":1})),
            "\"nope\" is not a valid command (use \"list-commands\" to see a list of valid commands)"
        );
        assert_eq!(
            check(json!({"method":"version","params":["x"],"id":1})),
            "\"version\" command takes at most 0 arguments"
        );
        assert_eq!(check(json!({"method":"one","params":[],"id":1})), "\"one\" command requires at least 1 arguments");
        assert_eq!(check(json!({"method":"one","params":[3],"id":1})), "\"one\" command has non-string argument");
        assert!(check_request(json!([1, 2]), TABLE).is_err());
    }

    #[test]
    fn garbage_and_floods_are_errors_not_panics() {
        let mut s = JsonStream::default();
        s.push(b"}}}garbage");
        assert!(matches!(s.next_value(), Err(StreamError::Syntax(_))));
        let mut s = JsonStream::default();
        s.push(b"[\"");
        s.push(&vec![b'a'; MAX_MESSAGE + 1]);
        assert_eq!(s.next_value(), Err(StreamError::TooLarge));
    }

    #[test]
    fn replies_have_ovs_shape() {
        let ok: Value = serde_json::from_slice(&reply_ok(json!(7), "text")).unwrap();
        assert_eq!(ok, json!({"id":7,"result":"text\n","error":null}));
        let empty: Value = serde_json::from_slice(&reply_ok(json!(7), "")).unwrap();
        assert_eq!(empty["result"], "");
        let err: Value = serde_json::from_slice(&reply_err(json!("x"), "bad")).unwrap();
        assert_eq!(err, json!({"id":"x","error":"bad\n"}));
    }

    #[test]
    fn list_commands_is_sorted_and_aligned() {
        let text = list_commands(TABLE);
        assert_eq!(
            text,
            "The available commands are:\n  one                     ARG\n  version                 \n  vlog/set                {spec}\n"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut s = JsonStream::default();
            s.push(&bytes);
            while let Ok(Some(v)) = s.next_value() {
                let _ = check_request(v, TABLE);
            }
        }
    }
}
