//! The figures, the Markdown table (medians, min–max, ratio chassisd / ovn-controller), the
//! SVG of the scale curves and the latency CDFs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;

use super::stats::{summary, Summary};

/// A figure measured per run: key (in the JSON), what it is, unit.
pub struct Figure {
    pub key: &'static str,
    pub label: &'static str,
    pub unit: &'static str,
}

/// Every figure, in table order. A later figure (flows installed per second, packet-in
/// latency, recompute time, ...) is one more entry here and one more key in the run's map.
pub const FIGURES: &[Figure] = &[
    Figure { key: "cold_start_s", label: "cold start: start → Chassis_Private.nb_cfg = bumped nb_cfg", unit: "s" },
    Figure { key: "cpu_s", label: "CPU to sync, all processes summed", unit: "s" },
    Figure { key: "peak_rss_mib", label: "peak RSS (VmHWM) at sync, summed", unit: "MiB" },
    Figure { key: "sb_conns", label: "Southbound connections", unit: "" },
    Figure { key: "sb_rx_mib", label: "bytes received from the SB, start → sync", unit: "MiB" },
    Figure { key: "of_flows", label: "OpenFlow flows on br-int at sync", unit: "" },
    Figure { key: "flows_per_s", label: "cold start: flows installed per second (empty → full table)", unit: "/s" },
    Figure { key: "install_s", label: "cold start: empty → full table", unit: "s" },
    Figure { key: "processes", label: "controller processes", unit: "" },
    Figure { key: "claim_p50_ms", label: "add a VIF: → Port_Binding.chassis set, median", unit: "ms" },
    Figure { key: "claim_p99_ms", label: "add a VIF: → Port_Binding.chassis set, p99", unit: "ms" },
    Figure { key: "up_p50_ms", label: "add a VIF: → Port_Binding.up = true, median", unit: "ms" },
    Figure { key: "up_p99_ms", label: "add a VIF: → Port_Binding.up = true, p99", unit: "ms" },
    Figure { key: "release_p50_ms", label: "remove a VIF: → Port_Binding.chassis cleared, median", unit: "ms" },
    Figure { key: "release_p99_ms", label: "remove a VIF: → Port_Binding.chassis cleared, p99", unit: "ms" },
    Figure { key: "cpu_per_add_ms", label: "CPU per VIF added (phase total / changes)", unit: "ms" },
    Figure { key: "cpu_per_release_ms", label: "CPU per VIF removed (phase total / changes)", unit: "ms" },
    Figure { key: "acl_p50_ms", label: "add an ACL: → installed (nb_cfg), median", unit: "ms" },
    Figure { key: "acl_p99_ms", label: "add an ACL: → installed, p99", unit: "ms" },
    Figure {
        key: "acl_ctl_p50_ms",
        label: "add an ACL: controller's share (SB nb_cfg → installed), median",
        unit: "ms",
    },
    Figure { key: "cpu_per_acl_ms", label: "CPU per ACL added", unit: "ms" },
    Figure { key: "as_p50_ms", label: "add an address-set member: → installed, median", unit: "ms" },
    Figure { key: "as_p99_ms", label: "add an address-set member: → installed, p99", unit: "ms" },
    Figure { key: "as_ctl_p50_ms", label: "add an address-set member: controller's share, median", unit: "ms" },
    Figure { key: "cpu_per_as_ms", label: "CPU per address-set member added", unit: "ms" },
    Figure { key: "mb_p50_ms", label: "add a SB MAC_Binding: → installed, median", unit: "ms" },
    Figure { key: "mb_p99_ms", label: "add a SB MAC_Binding: → installed, p99", unit: "ms" },
    Figure { key: "mb_ctl_p50_ms", label: "add a SB MAC_Binding: SB nb_cfg → installed, median", unit: "ms" },
    Figure { key: "cpu_per_mb_ms", label: "CPU per MAC binding added", unit: "ms" },
    Figure { key: "recompute_ms", label: "full recompute: command → nb_cfg reported and idle, median", unit: "ms" },
    Figure { key: "recompute_cpu_ms", label: "full recompute: CPU, median", unit: "ms" },
    Figure { key: "pin_idle_p50_ms", label: "DHCP packet-in latency, idle, median", unit: "ms" },
    Figure { key: "pin_idle_p99_ms", label: "DHCP packet-in latency, idle, p99", unit: "ms" },
    Figure { key: "pin_idle_max_ms", label: "DHCP packet-in latency, idle, max", unit: "ms" },
    Figure { key: "pin_idle_lost", label: "DHCP discovers unanswered (2 s), idle", unit: "" },
    Figure { key: "pin_storm_p50_ms", label: "DHCP packet-in latency, recompute storm, median", unit: "ms" },
    Figure { key: "pin_storm_p99_ms", label: "DHCP packet-in latency, recompute storm, p99", unit: "ms" },
    Figure { key: "pin_storm_max_ms", label: "DHCP packet-in latency, recompute storm, max", unit: "ms" },
    Figure { key: "pin_storm_lost", label: "DHCP discovers unanswered (2 s), storm", unit: "" },
    Figure { key: "pin_rate_per_s", label: "sustained packet-in rate: offers per second in a burst", unit: "/s" },
    Figure { key: "pin_burst_answered", label: "burst: fraction of discovers answered", unit: "" },
    Figure { key: "cpu_end_s", label: "CPU before the restarts (sync + all changes + idle), summed", unit: "s" },
    Figure { key: "peak_rss_end_mib", label: "peak RSS before the restarts, summed", unit: "MiB" },
    Figure { key: "sb_rx_end_mib", label: "bytes received from the SB, start → before the restarts", unit: "MiB" },
    Figure { key: "restart_s", label: "kill -9 the controller, start it: → nb_cfg reported again", unit: "s" },
    Figure { key: "restart_min_flows", label: "kill -9 + start: minimum installed flows meanwhile", unit: "" },
    Figure { key: "restart_min_frac", label: "kill -9 + start: minimum / steady installed flows", unit: "" },
    Figure { key: "flowctl_restart_s", label: "kill -9 flowctl alone: → nb_cfg reported again", unit: "s" },
    Figure { key: "flowctl_restart_min_flows", label: "kill -9 flowctl alone: minimum installed flows", unit: "" },
    Figure { key: "flowctl_restart_min_frac", label: "kill -9 flowctl alone: minimum / steady flows", unit: "" },
];

/// One controller's figures in one run.
#[derive(Clone, Debug)]
pub struct RunFigures {
    pub tier: String,
    pub logical_flows: usize,
    pub controller: &'static str,
    pub values: BTreeMap<&'static str, f64>,
    /// Latency samples by distribution key (`up_ms`, `acl_ms`, `pin_idle_ms`, ...), ms.
    pub dists: BTreeMap<String, Vec<f64>>,
}

/// Distributions plotted in latency.svg and packet-in.svg: key, panel title.
pub const CHANGE_DISTS: &[(&str, &str)] = &[
    ("up_ms", "VIF added → Port_Binding.up"),
    ("acl_ms", "ACL added → installed"),
    ("as_ms", "address-set member → installed"),
    ("mb_ms", "MAC_Binding → installed"),
];
pub const PACKET_IN_DISTS: &[(&str, &str)] =
    &[("pin_idle_ms", "DHCP DISCOVER → OFFER, idle"), ("pin_storm_ms", "DHCP DISCOVER → OFFER, recompute storm")];

impl RunFigures {
    /// Reads back a run's JSON file (as `chassisd-bench` writes it).
    pub fn from_json(doc: &serde_json::Value) -> Option<RunFigures> {
        let res = &doc["result"];
        let controller = CONTROLLERS.iter().copied().find(|c| res["controller"] == *c)?;
        let figs = res["figures"].as_object()?;
        let values = FIGURES.iter().filter_map(|f| Some((f.key, figs.get(f.key)?.as_f64()?))).collect();
        let floats = |v: &serde_json::Value| -> Vec<f64> {
            v.as_array().map(|a| a.iter().filter_map(|v| v.as_f64()).collect()).unwrap_or_default()
        };
        let mut dists: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        if let Some(d) = res["dists"].as_object() {
            for (k, v) in d {
                dists.insert(k.clone(), floats(v));
            }
        }
        // Run files from before "dists" existed.
        dists.entry("up_ms".into()).or_insert_with(|| floats(&res["changes"]["up_ms"]));
        Some(RunFigures {
            tier: doc["tier"].as_str()?.to_string(),
            logical_flows: doc["topology"]["logical_flows"].as_u64()? as usize,
            controller,
            values,
            dists,
        })
    }
}

pub const CONTROLLERS: [&str; 2] = ["ovn-controller", "chassisd"];

fn collect(runs: &[RunFigures], tier: &str, ctl: &str, key: &str) -> Option<Summary> {
    let xs: Vec<f64> = runs
        .iter()
        .filter(|r| r.tier == tier && r.controller == ctl)
        .filter_map(|r| r.values.get(key))
        .copied()
        .collect();
    summary(&xs)
}

fn fmt_num(x: f64) -> String {
    let a = x.abs();
    if (x.fract() == 0.0 && a < 1e15) || a >= 1000.0 {
        format!("{x:.0}")
    } else if a >= 100.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

fn cell(s: Option<Summary>) -> String {
    match s {
        None => "–".into(),
        Some(s) if s.n == 1 || s.min == s.max => fmt_num(s.median),
        Some(s) => format!("{} ({}–{})", fmt_num(s.median), fmt_num(s.min), fmt_num(s.max)),
    }
}

/// The Markdown table: one section per tier.
pub fn markdown(runs: &[RunFigures], tiers: &[(String, usize, String)]) -> String {
    let mut out = String::new();
    for (tier, lflows, desc) in tiers {
        let n = runs.iter().filter(|r| &r.tier == tier && r.controller == CONTROLLERS[0]).count();
        let _ = writeln!(out, "\n### {tier}: {desc}, {lflows} logical flows ({n} runs; median (min–max))\n");
        let _ = writeln!(out, "| figure | unit | ovn-controller 23.03 | chassisd | chassisd / ovn-controller |");
        let _ = writeln!(out, "| --- | --- | ---: | ---: | ---: |");
        for f in FIGURES {
            let a = collect(runs, tier, CONTROLLERS[0], f.key);
            let b = collect(runs, tier, CONTROLLERS[1], f.key);
            if a.is_none() && b.is_none() {
                continue;
            }
            let ratio = match (a, b) {
                (Some(a), Some(b)) if a.median != 0.0 => format!("{:.2}", b.median / a.median),
                (Some(a), Some(b)) if a.median == 0.0 && b.median == 0.0 => "1.00".into(),
                _ => "n/a".into(),
            };
            let _ = writeln!(out, "| {} | {} | {} | {} | {} |", f.label, f.unit, cell(a), cell(b), ratio);
        }
    }
    out
}

/// Scale curves: for a few figures, the median of each controller against the logical flows
/// of the tier, one panel per figure.
pub fn plot(path: &Path, runs: &[RunFigures], tiers: &[(String, usize, String)]) -> Result<(), String> {
    const PANELS: [&str; 8] = [
        "cold_start_s",
        "cpu_s",
        "peak_rss_mib",
        "sb_rx_mib",
        "up_p50_ms",
        "cpu_per_add_ms",
        "recompute_ms",
        "pin_storm_p99_ms",
    ];
    let root = SVGBackend::new(path, (1200, 1600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root
        .titled("chassisd vs ovn-controller 23.03: scale curves (median per tier)", ("sans-serif", 22))
        .map_err(|e| e.to_string())?;
    let areas = root.split_evenly((4, 2));
    let xmax = tiers.iter().map(|t| t.1).max().unwrap_or(1) as f64 * 1.1;
    let colors = [RGBColor(200, 60, 40), RGBColor(30, 90, 200)];
    for (area, key) in areas.iter().zip(PANELS) {
        let fig = FIGURES.iter().find(|f| f.key == key).ok_or("unknown figure")?;
        let series: Vec<Vec<(f64, f64)>> = CONTROLLERS
            .iter()
            .map(|c| {
                tiers.iter().filter_map(|(t, lf, _)| collect(runs, t, c, key).map(|s| (*lf as f64, s.median))).collect()
            })
            .collect();
        let ymax = series.iter().flatten().map(|p| p.1).fold(0.0, f64::max).max(1e-3) * 1.15;
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{} [{}]", fig.key, fig.unit), ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..xmax, 0.0..ymax)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("logical flows")
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&|x| format!("{:.0}k", x / 1000.0))
            .draw()
            .map_err(|e| e.to_string())?;
        for ((name, pts), color) in CONTROLLERS.iter().zip(&series).zip(colors) {
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
            chart.draw_series(pts.iter().map(|p| Circle::new(*p, 4, color.filled()))).map_err(|e| e.to_string())?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

/// Latency distributions: one row per tier, one panel per distribution in `panels` (key,
/// title): the empirical CDF over every sample of every run, one line per controller.
pub fn plot_cdfs(
    path: &Path,
    title: &str,
    runs: &[RunFigures],
    tiers: &[(String, usize, String)],
    panels: &[(&str, &str)],
) -> Result<(), String> {
    let rows = tiers.len().max(1);
    let cols = panels.len().max(1);
    let root = SVGBackend::new(path, (480 * cols as u32, 380 * rows as u32 + 40)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root.titled(title, ("sans-serif", 20)).map_err(|e| e.to_string())?;
    let colors = [RGBColor(200, 60, 40), RGBColor(30, 90, 200)];
    let areas = root.split_evenly((rows, cols));
    for (r, (tier, lflows, _)) in tiers.iter().enumerate() {
        for (c, (key, what)) in panels.iter().enumerate() {
            let area = &areas[r * cols + c];
            let cdfs: Vec<Vec<(f64, f64)>> = CONTROLLERS
                .iter()
                .map(|ctl| {
                    let mut xs: Vec<f64> = runs
                        .iter()
                        .filter(|x| &x.tier == tier && x.controller == *ctl)
                        .flat_map(|x| x.dists.get(*key).into_iter().flatten().copied())
                        .collect();
                    xs.sort_by(|a, b| a.total_cmp(b));
                    let len = xs.len() as f64;
                    xs.iter().enumerate().map(|(i, x)| (*x, (i + 1) as f64 / len)).collect()
                })
                .collect();
            let xmax = cdfs.iter().flatten().map(|p| p.0).fold(0.0, f64::max).max(1e-3) * 1.05;
            let mut chart = ChartBuilder::on(area)
                .caption(format!("{what} — {tier} ({lflows} lflows)"), ("sans-serif", 14))
                .margin(10)
                .x_label_area_size(32)
                .y_label_area_size(44)
                .build_cartesian_2d(0.0..xmax, 0.0..1.0)
                .map_err(|e| e.to_string())?;
            chart.configure_mesh().x_desc("ms").y_desc("fraction").draw().map_err(|e| e.to_string())?;
            for ((name, pts), color) in CONTROLLERS.iter().zip(&cdfs).zip(colors) {
                // A step line: each sample raises the curve.
                let mut steps = Vec::new();
                let mut prev = 0.0;
                for (x, y) in pts {
                    steps.push((*x, prev));
                    steps.push((*x, *y));
                    prev = *y;
                }
                chart
                    .draw_series(LineSeries::new(steps, color.stroke_width(2)))
                    .map_err(|e| e.to_string())?
                    .label(format!("{name} (n={})", pts.len()))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(|e| e.to_string())?;
        }
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}
