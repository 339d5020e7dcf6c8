//! Connection targets: `unix:PATH`, `tcp:HOST:PORT`, `ssl:HOST:PORT` (comma-separated lists).

use std::fmt;
use std::path::PathBuf;

use super::error::{Error, Result};

/// Default OVSDB port when a `tcp:` remote has none.
pub const DEFAULT_PORT: u16 = 6640;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Remote {
    Unix(PathBuf),
    /// `host:port`, as accepted by `TcpStream::connect` (IPv6 in brackets).
    Tcp(String),
    /// `host:port` over TLS with the client's [`super::TlsConfig`].
    Ssl(String),
}

fn host_port(rest: &str) -> Result<String> {
    if rest.is_empty() {
        return Err(Error::Invalid("missing host".into()));
    }
    // "[v6]:port", "[v6]", "host:port", "host"; a bare IPv6 address has several colons.
    let has_port = if rest.starts_with('[') { rest.contains("]:") } else { rest.matches(':').count() == 1 };
    if has_port {
        let port = rest.rsplit(':').next().unwrap_or_default();
        port.parse::<u16>().map_err(|_| Error::Invalid(format!("bad port in {rest:?}")))?;
        Ok(rest.to_owned())
    } else if rest.contains(':') && !rest.starts_with('[') {
        Ok(format!("[{rest}]:{DEFAULT_PORT}"))
    } else {
        Ok(format!("{rest}:{DEFAULT_PORT}"))
    }
}

impl Remote {
    pub fn parse(s: &str) -> Result<Remote> {
        let s = s.trim();
        if let Some(p) = s.strip_prefix("unix:") {
            if p.is_empty() {
                return Err(Error::Invalid("unix: remote without a path".into()));
            }
            Ok(Remote::Unix(PathBuf::from(p)))
        } else if let Some(r) = s.strip_prefix("tcp:") {
            Ok(Remote::Tcp(host_port(r)?))
        } else if let Some(r) = s.strip_prefix("ssl:") {
            Ok(Remote::Ssl(host_port(r)?))
        } else {
            Err(Error::Invalid(format!("unsupported remote {s:?} (expected unix:, tcp: or ssl:)")))
        }
    }

    /// Parses a comma-separated list, as in `external_ids:ovn-remote`.
    pub fn parse_list(s: &str) -> Result<Vec<Remote>> {
        let v = s.split(',').filter(|p| !p.trim().is_empty()).map(Remote::parse).collect::<Result<Vec<_>>>()?;
        if v.is_empty() {
            return Err(Error::Invalid("empty remote list".into()));
        }
        Ok(v)
    }
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Remote::Unix(p) => write!(f, "unix:{}", p.display()),
            Remote::Tcp(a) => write!(f, "tcp:{a}"),
            Remote::Ssl(a) => write!(f, "ssl:{a}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_remotes() {
        assert_eq!(
            Remote::parse("unix:/run/ovn/ovnsb_db.sock").unwrap(),
            Remote::Unix("/run/ovn/ovnsb_db.sock".into())
        );
        assert_eq!(Remote::parse("tcp:127.0.0.1:6642").unwrap(), Remote::Tcp("127.0.0.1:6642".into()));
        assert_eq!(Remote::parse("tcp:127.0.0.1").unwrap(), Remote::Tcp("127.0.0.1:6640".into()));
        assert_eq!(Remote::parse("tcp:[::1]:6642").unwrap(), Remote::Tcp("[::1]:6642".into()));
        assert_eq!(Remote::parse("tcp:::1").unwrap(), Remote::Tcp("[::1]:6640".into()));
        assert!(Remote::parse("tcp:1.2.3.4:x").is_err());
        assert!(Remote::parse("punix:/x").is_err());
        let l = Remote::parse_list("tcp:10.0.0.1:6642,ssl:10.0.0.2:6642, unix:/a").unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(l[1].to_string(), "ssl:10.0.0.2:6642");
        assert!(Remote::parse_list(" , ").is_err());
    }
}
