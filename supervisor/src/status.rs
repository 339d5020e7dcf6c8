//! `supervisor/status` in text and JSON, and the one-line summary for systemd's STATUS=.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::run::Supervisor;
use crate::slot::Slot;

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 10.0).round() / 10.0
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{:.1}s", d.as_secs_f64()),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// e.g. "flowctl ready pid 10, pinctrl backoff (restart in 0.4s)".
pub fn summary(sup: &Supervisor) -> String {
    let now = Instant::now();
    sup.slots
        .iter()
        .map(|s| match (s.pid, s.restart_at) {
            (Some(pid), _) => format!("{} {} pid {pid}", s.name(), s.state.name()),
            (None, Some(at)) => {
                format!("{} {} (restart in {})", s.name(), s.state.name(), human(at.saturating_duration_since(now)))
            }
            (None, None) => format!("{} {}", s.name(), s.state.name()),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn child_json(slot: &mut Slot, now: Instant, window: Duration) -> Value {
    let last_exit = slot.last_exit.as_ref().map(|e| {
        json!({
            "code": e.code,
            "signal": e.signal_name(),
            "core_dumped": e.core_dumped,
            "watchdog": e.watchdog,
            "at": shared::vlog::format_system_time(e.at),
            "description": e.describe(),
        })
    });
    json!({
        "name": slot.name(),
        "state": slot.state.name(),
        "pid": slot.pid,
        "uptime_s": slot.started_at.filter(|_| slot.pid.is_some()).map(|t| secs(now.duration_since(t))),
        "ready_for_s": slot.ready_since.map(|t| secs(now.duration_since(t))),
        "restarts": slot.restarts,
        "deaths_in_window": slot.policy.deaths_in_window(now, window),
        "last_exit": last_exit,
        "next_restart_in_s": slot.restart_at.map(|t| secs(t.saturating_duration_since(now))),
        "status": slot.status_line,
    })
}

pub fn as_json(sup: &mut Supervisor) -> Value {
    let now = Instant::now();
    let window = sup.tuning.crash_loop_window;
    let children: Vec<Value> = sup.slots.iter_mut().map(|s| child_json(s, now, window)).collect();
    json!({
        "pid": std::process::id(),
        "uptime_s": secs(now.duration_since(sup.started)),
        "crash_loop": {"max_deaths": sup.tuning.crash_loop_deaths, "window_s": sup.tuning.crash_loop_window.as_secs()},
        "children": children,
    })
}

pub fn as_text(sup: &mut Supervisor) -> String {
    let doc = as_json(sup);
    let mut out =
        format!("chassisd pid {}, up {}\n", std::process::id(), human(Instant::now().duration_since(sup.started)));
    let window = sup.tuning.crash_loop_window.as_secs();
    for child in doc["children"].as_array().into_iter().flatten() {
        let _ = write!(out, "{}: {}", child["name"].as_str().unwrap_or("?"), child["state"].as_str().unwrap_or("?"));
        if let Some(pid) = child["pid"].as_i64() {
            let _ = write!(out, ", pid {pid}");
        }
        if let Some(up) = child["uptime_s"].as_f64() {
            let _ = write!(out, ", up {}", human(Duration::from_secs_f64(up)));
        }
        let _ =
            write!(out, ", restarts {} ({} deaths in last {window}s)", child["restarts"], child["deaths_in_window"]);
        if let Some(eta) = child["next_restart_in_s"].as_f64() {
            let _ = write!(out, ", restart in {eta:.1}s");
        }
        out.push('\n');
        if let Some(desc) = child["last_exit"]["description"].as_str() {
            let _ = writeln!(out, "  last exit: {desc} at {}", child["last_exit"]["at"].as_str().unwrap_or("?"));
        }
        if let Some(line) = child["status"].as_str().filter(|l| !l.is_empty()) {
            let _ = writeln!(out, "  status: {line}");
        }
    }
    out
}
