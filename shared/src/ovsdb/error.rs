//! One error type for the whole module: protocol errors are values, never panics.

use std::fmt;

/// Everything that can go wrong talking to an OVSDB server.
#[derive(Debug)]
pub enum Error {
    /// Socket or file error.
    Io(std::io::Error),
    /// The bytes were not valid JSON, or a single message exceeded the size cap.
    Json(String),
    /// Valid JSON that violates RFC 7047, ovsdb-server's extensions or the schema.
    Protocol(String),
    /// The server answered a request with `"error"` set.
    Rpc { error: String, details: Option<String> },
    /// A transaction operation failed (the server's per-operation error).
    Transaction {
        /// Index of the failed operation in the request (or of the extra trailing error).
        index: usize,
        error: String,
        details: Option<String>,
    },
    /// The connection went away before a reply arrived.
    Disconnected,
    /// A remote or feature that this client does not implement.
    NotSupported(String),
    /// Bad argument from the caller (e.g. a malformed remote string).
    Invalid(String),
    /// `ssl:` remotes: unreadable or bad key/certificate files, bad TLS options, or a failed
    /// handshake (e.g. the server's certificate does not chain to the CA).
    Tls(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Json(m) => write!(f, "JSON error: {m}"),
            Error::Protocol(m) => write!(f, "protocol error: {m}"),
            Error::Rpc { error, details } => match details {
                Some(d) => write!(f, "server error: {error} ({d})"),
                None => write!(f, "server error: {error}"),
            },
            Error::Transaction { index, error, details } => match details {
                Some(d) => write!(f, "transaction operation {index} failed: {error} ({d})"),
                None => write!(f, "transaction operation {index} failed: {error}"),
            },
            Error::Disconnected => write!(f, "connection closed"),
            Error::NotSupported(m) => write!(f, "not supported: {m}"),
            Error::Invalid(m) => write!(f, "invalid argument: {m}"),
            Error::Tls(m) => write!(f, "SSL: {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

/// Shorthand for a protocol error with a formatted message.
pub(crate) fn proto(msg: impl Into<String>) -> Error {
    Error::Protocol(msg.into())
}

pub type Result<T> = std::result::Result<T, Error>;
