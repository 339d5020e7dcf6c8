//! Southbound connections of a controller, from the kernel's socket table (`ss -tinpH`): the
//! Southbound ovsdb-server gets an extra `ptcp:PORT:127.0.0.1` remote and the controller's
//! ovn-remote points at it, so its connections are TCP sockets with TCP_INFO counters. The
//! benchmark's own clients (ovn-sbctl, the watcher) use the Unix socket and are not counted.

use std::process::Command;

#[derive(Clone, Debug, Default)]
pub struct SbConns {
    /// Established connections to the SB TCP port owned by one of `pids`.
    pub count: usize,
    /// Sum of their `bytes_received` (what the controller received from the SB).
    pub bytes_received: u64,
    /// Sum of their `bytes_acked` (what the controller sent).
    pub bytes_sent: u64,
    /// "comm[pid]" of the owning processes.
    pub owners: Vec<String>,
}

fn field(info: &str, key: &str) -> Option<u64> {
    info.split_whitespace().find_map(|w| w.strip_prefix(key)?.strip_prefix(':')?.parse().ok())
}

/// Connections from `pids` to 127.0.0.1:`port`.
pub fn sb_conns(port: u16, pids: &[i32]) -> Result<SbConns, String> {
    let out = Command::new("ss")
        .args(["-tinpH", "state", "established", "dst", &format!("127.0.0.1:{port}")])
        .output()
        .map_err(|e| format!("ss: {e}"))?;
    if !out.status.success() {
        return Err(format!("ss failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    // One socket per line, its TCP_INFO on the following indented line(s).
    let mut sockets: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with(char::is_whitespace) {
            if let Some(last) = sockets.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
            }
        } else if !line.trim().is_empty() {
            sockets.push(line.to_string());
        }
    }
    let mut r = SbConns::default();
    for s in sockets {
        // users:(("flowctl",pid=123,fd=9))
        let owner = s.split("users:((").nth(1).and_then(|u| {
            let name = u.split('"').nth(1)?.to_string();
            let pid: i32 = u.split("pid=").nth(1)?.split([',', ')']).next()?.parse().ok()?;
            Some((name, pid))
        });
        let Some((name, pid)) = owner else { continue };
        if !pids.contains(&pid) {
            continue;
        }
        r.count += 1;
        r.bytes_received += field(&s, "bytes_received").unwrap_or(0);
        r.bytes_sent += field(&s, "bytes_acked").unwrap_or(0);
        r.owners.push(format!("{name}[{pid}]"));
    }
    Ok(r)
}

/// Any free TCP port on 127.0.0.1 (bound and released; the SB server binds it right after).
pub fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}
