//! ovs-ofctl as an independent oracle: it encodes flows for a fake switch (so we can
//! compare bytes) and decodes our bytes (`ofp-print`) so we can compare text.

#![allow(dead_code)]

pub mod flows;

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use shared::openflow::wire::to_hex;

/// True if ovs-ofctl is installed; otherwise prints why the test is skipped.
pub fn have_ovs_ofctl(test: &str) -> bool {
    let ok = Command::new("ovs-ofctl").arg("--version").stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    if !ok {
        eprintln!("{test}: skipped, ovs-ofctl not installed");
    }
    ok
}

/// `ovs-ofctl ofp-print HEX`, stdout (stderr appended if any).
pub fn ofp_print(msg: &[u8]) -> String {
    ofp_print_args(msg, &[])
}

pub fn ofp_print_args(msg: &[u8], extra: &[&str]) -> String {
    let out = Command::new("ovs-ofctl").args(extra).arg("ofp-print").arg(to_hex(msg)).output().expect("run ovs-ofctl");
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    // Log lines (e.g. "OFPAT_SET_MPLS_TTL is deprecated in OpenFlow15") are not output.
    let e = String::from_utf8_lossy(&out.stderr);
    for l in e.lines().filter(|l| !l.contains("|INFO|")) {
        s.push_str(l);
        s.push('\n');
    }
    s
}

fn read_msg(c: &mut impl Read) -> Option<Vec<u8>> {
    let mut h = [0u8; 8];
    c.read_exact(&mut h).ok()?;
    let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let mut m = h.to_vec();
    m.resize(len.max(8), 0);
    c.read_exact(&mut m[8..]).ok()?;
    Some(m)
}

/// Run `ovs-ofctl ARGS` against a fake OpenFlow 1.5 switch ("SW" in ARGS is replaced by
/// its address). Returns the messages ovs-ofctl sent (minus hello/echo/barrier), and its
/// stdout. `reply` may answer a request (e.g. a multipart request) with raw bytes.
pub fn capture_with(args: &[&str], reply: &dyn Fn(&[u8]) -> Option<Vec<u8>>) -> (Vec<Vec<u8>>, String) {
    let dir = tempfile::Builder::new().prefix("ofc").tempdir_in("/tmp").expect("tempdir");
    let path = dir.path().join("s");
    let listener = UnixListener::bind(&path).expect("bind");
    let target = format!("unix:{}", path.display());
    let args: Vec<String> = args.iter().map(|a| if *a == "SW" { target.clone() } else { a.to_string() }).collect();
    let mut child = Command::new("ovs-ofctl")
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ovs-ofctl");
    listener.set_nonblocking(true).expect("nonblocking");
    // ovs-ofctl may reject its arguments before connecting: then there is nothing to accept.
    let mut c = loop {
        match listener.accept() {
            Ok((c, _)) => break c,
            Err(_) => {
                if child.try_wait().ok().flatten().is_some() {
                    let out = child.wait_with_output().expect("wait ovs-ofctl");
                    return (Vec::new(), String::from_utf8_lossy(&out.stderr).into_owned());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    };
    c.set_nonblocking(false).ok();
    c.set_read_timeout(Some(Duration::from_secs(5))).ok();
    c.write_all(&[6, 0, 0, 16, 0, 0, 0, 0, 0, 1, 0, 8, 0, 0, 0, 0x40]).expect("hello");
    let mut got = Vec::new();
    while let Some(m) = read_msg(&mut c) {
        let (t, xid) = (m[1], &m[4..8]);
        match t {
            0 => {}
            2 => {
                let mut r = m.clone();
                r[1] = 3;
                c.write_all(&r).ok();
            }
            20 => {
                let mut r = vec![m[0], 21, 0, 8];
                r.extend_from_slice(xid);
                c.write_all(&r).ok();
            }
            _ => {
                if let Some(r) = reply(&m) {
                    c.write_all(&r).ok();
                } else if t == 18 && m[8..10] == [0, 12] {
                    // Table-features request: refuse it, as ovs-ofctl then carries on.
                    let mut r = vec![m[0], 1, 0, 0];
                    r.extend_from_slice(xid);
                    r.extend_from_slice(&[0, 1, 0, 2]);
                    r.extend_from_slice(&m);
                    let l = r.len() as u16;
                    r[2..4].copy_from_slice(&l.to_be_bytes());
                    c.write_all(&r).ok();
                    continue;
                }
                got.push(m);
            }
        }
    }
    drop(c);
    let out = child.wait_with_output().expect("wait ovs-ofctl");
    (got, String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

pub fn capture(args: &[&str]) -> Vec<Vec<u8>> {
    capture_with(args, &|_| None).0
}

/// Strip ofp-print's `OFPT_X (OF1.5) (xid=0x..):` prefix from the first line.
pub fn strip_header(text: &str) -> String {
    let t = text.trim_end();
    match t.find("): ") {
        Some(i) => t[i + 3..].to_string(),
        None => match t.find("):") {
            Some(i) => t[i + 2..].trim_start_matches(['\n', ' ']).to_string(),
            None => t.to_string(),
        },
    }
}
