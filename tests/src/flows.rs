//! Normalising ovs-ofctl dumps so that two runs (or two controllers) can be compared.

/// The lines of an ovs-ofctl dump without the "... reply (OF1.5) (xid=...):" header.
pub(crate) fn reply_lines(out: &str) -> impl Iterator<Item = &str> {
    out.lines().filter(|l| !l.trim().is_empty()).filter(|l| !(l.contains(" reply") && l.contains("(xid=")))
}

/// Removes the per-run counters from one dump-flows line.
pub fn strip_flow_stats(line: &str) -> String {
    const VOLATILE: [&str; 5] = ["duration=", "n_packets=", "n_bytes=", "idle_age=", "hard_age="];
    line.trim().split(", ").filter(|f| !VOLATILE.iter().any(|v| f.starts_with(v))).collect::<Vec<_>>().join(", ")
}

/// Id spaces a controller allocates itself, so that two correct controllers (or two runs)
/// may number differently: conjunction ids, group ids, meter ids.
pub const ALLOCATED_IDS: [&str; 6] = ["conjunction(", "conj_id=", "group:", "group_id=", "meter:", "meter_id="];

/// Replaces the number (decimal or 0x hex) right after each occurrence of any of `prefixes`
/// with `*`, as OVN's own testsuite does with sed. E.g. with [`ALLOCATED_IDS`]:
/// `actions=group:3` becomes `actions=group:*`.
pub fn mask_ids(line: &str, prefixes: &[&str]) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    loop {
        let next = prefixes.iter().filter_map(|p| rest.find(p).map(|i| (i, p.len()))).min();
        let Some((at, len)) = next else {
            out.push_str(rest);
            return out;
        };
        let (head, tail) = rest.split_at(at + len);
        out.push_str(head);
        let digits = match tail.strip_prefix("0x") {
            Some(hex) => 2 + hex.bytes().take_while(u8::is_ascii_hexdigit).count(),
            None => tail.bytes().take_while(u8::is_ascii_digit).count(),
        };
        if digits > 0 {
            out.push('*');
        }
        rest = &tail[digits..];
    }
}

/// The table number of a dump-flows line.
pub fn table_of(line: &str) -> Option<u8> {
    line.split("table=").nth(1)?.split(',').next()?.parse().ok()
}

/// br-int's flows in `tables`, allocated ids masked ([`ALLOCATED_IDS`]), sorted.
pub fn masked_flows_in_tables(hv: &crate::Hv, tables: &[u8]) -> Vec<String> {
    let mut lines: Vec<String> = hv
        .dump_flows("br-int")
        .into_iter()
        .filter(|l| table_of(l).is_some_and(|t| tables.contains(&t)))
        .map(|l| mask_ids(&l, &ALLOCATED_IDS))
        .collect();
    lines.sort();
    lines
}

/// One dump-flows line with allocated ids masked and its `conjunction()` actions sorted:
/// a controller appends the conjunctions of several logical flows on one match in the order
/// it happens to process them.
pub fn normalize_flow(line: &str) -> String {
    let masked = mask_ids(line, &ALLOCATED_IDS);
    let Some((head, actions)) = masked.split_once(" actions=") else { return masked };
    if !actions.starts_with("conjunction(") {
        return masked;
    }
    let mut conj: Vec<&str> = actions.split("),").map(|a| a.trim_end_matches(')')).collect();
    conj.sort();
    let conj: Vec<String> = conj.iter().map(|c| format!("{c})")).collect();
    format!("{head} actions={}", conj.join(","))
}

/// Compares two flow (or any line) lists as multisets. `None` if equal, else a readable
/// report: `-` lines only in `expected`, `+` lines only in `actual`.
pub fn diff_lines(expected: &[String], actual: &[String]) -> Option<String> {
    let mut missing: Vec<&String> = Vec::new();
    let mut extra: Vec<&String> = actual.iter().collect();
    extra.sort();
    for line in expected {
        match extra.binary_search(&line) {
            Ok(at) => {
                extra.remove(at);
            }
            Err(_) => missing.push(line),
        }
    }
    if missing.is_empty() && extra.is_empty() {
        return None;
    }
    let mut out = format!("{} missing, {} extra\n", missing.len(), extra.len());
    for l in missing {
        out.push_str(&format!("- {l}\n"));
    }
    for l in extra {
        out.push_str(&format!("+ {l}\n"));
    }
    Some(out)
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
        assert_eq!(lines, ["cookie=0x8f3a1c2b, table=8, priority=50,reg14=0x1,metadata=0x1 actions=resubmit(,9)"]);
    }

    #[test]
    fn masks_allocated_ids() {
        let f = "table=44, priority=2000,conj_id=12,ip actions=conjunction(7,1/2),group:3,meter:0x1a";
        assert_eq!(
            mask_ids(f, &ALLOCATED_IDS),
            "table=44, priority=2000,conj_id=*,ip actions=conjunction(*,1/2),group:*,meter:*"
        );
        assert_eq!(mask_ids("group_id=5,type=select", &ALLOCATED_IDS), "group_id=*,type=select");
        assert_eq!(mask_ids("no ids here", &ALLOCATED_IDS), "no ids here");
    }

    #[test]
    fn conjunctions_are_sorted() {
        let f = "table=44, priority=2000,ip actions=conjunction(7,2/2),conjunction(3,1/2)";
        assert_eq!(normalize_flow(f), "table=44, priority=2000,ip actions=conjunction(*,1/2),conjunction(*,2/2)");
        assert_eq!(table_of(f), Some(44));
    }

    #[test]
    fn diff_is_a_multiset_diff() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(diff_lines(&v(&["a", "b", "b"]), &v(&["b", "a", "b"])), None);
        assert_eq!(diff_lines(&v(&["a", "b", "b"]), &v(&["b", "c"])).unwrap(), "2 missing, 1 extra\n- a\n- b\n+ c\n");
    }
}
