//! Normalising ovs-ofctl dumps so that two runs (or two controllers) can be compared.

/// The lines of an ovs-ofctl dump without the "... reply (OF1.5) (xid=...):" header.
pub(crate) fn reply_lines(out: &str) -> impl Iterator<Item = &str> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !(l.contains(" reply") && l.contains("(xid=")))
}

/// Removes the per-run counters from one dump-flows line.
pub fn strip_flow_stats(line: &str) -> String {
    const VOLATILE: [&str; 5] = [
        "duration=",
        "n_packets=",
        "n_bytes=",
        "idle_age=",
        "hard_age=",
    ];
    line.trim()
        .split(", ")
        .filter(|f| !VOLATILE.iter().any(|v| f.starts_with(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_counters_keeps_cookie_and_match() {
        let dump = "OFPST_FLOW reply (OF1.5) (xid=0x4):\n \
            cookie=0x8f3a1c2b, duration=0.013s, table=8, n_packets=3, n_bytes=126, idle_age=0, \
            priority=50,reg14=0x1,metadata=0x1 actions=resubmit(,9)\n";
        let lines: Vec<String> = reply_lines(dump).map(strip_flow_stats).collect();
        assert_eq!(
            lines,
            ["cookie=0x8f3a1c2b, table=8, priority=50,reg14=0x1,metadata=0x1 actions=resubmit(,9)"]
        );
    }
}
