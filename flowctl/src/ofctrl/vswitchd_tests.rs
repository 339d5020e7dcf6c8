//! The installer against the real ovs-vswitchd (dummy datapath, the harness's sandbox).
//! Skipped when OVS is not installed (see `chassisd_tests::require_ovn!`).
//!
//! Benchmark (not a timed test; release build recommended):
//! `cargo test --release -p flowctl bench_270k -- --ignored --nocapture`

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chassisd_tests::{require_ovn, Sandbox};
use shared::openflow::messages::FlowStats;
use shared::openflow::text::{format_flow_stats_no_stats, parse_flow};
use shared::switch::SwitchConfig;
use tokio::sync::mpsc::UnboundedReceiver;

use super::{Ofctrl, OfctrlEvent, OfctrlHandle};
use crate::flows::{DesiredFlow, DesiredGroup, DesiredState};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn sandbox() -> Sandbox {
    Sandbox::builder().vswitchd().start()
}

fn start(sb: &Sandbox) -> (OfctrlHandle, UnboundedReceiver<OfctrlEvent>) {
    Ofctrl::start_with(SwitchConfig::new(sb.ovs_dir().join("br-int.mgmt")))
}

fn flow(s: &str) -> DesiredFlow {
    let fm = parse_flow(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    DesiredFlow::new(fm.table_id, fm.priority, fm.matches, fm.cookie, fm.actions)
}

/// `n` flows of the shapes OVN installs (register and metadata matches, L3 fields, ct, loads,
/// resubmits), `variant` changes actions.
fn flow_texts(n: usize, variant: u32) -> Vec<String> {
    (0..n)
        .map(|i| {
            let table = 8 + (i % 30);
            let dp = 1 + i / 10_000;
            let port = i % 10_000;
            match i % 3 {
                0 => format!(
                    "table={table},priority=100,reg14={port},metadata={dp},cookie=0x{i:x},actions=load:{variant}->NXM_NX_REG15[],resubmit(,{})",
                    table + 1
                ),
                1 => format!(
                    "table={table},priority=90,ip,metadata={dp},nw_dst=10.{}.{}.{},cookie=0x{i:x},actions=ct(table={},zone=NXM_NX_REG13[0..15]),load:{variant}->NXM_NX_XXREG0[96..127]",
                    dp & 0xff,
                    (port >> 8) & 0xff,
                    port & 0xff,
                    table + 1
                ),
                _ => format!(
                    "table={table},priority=50,reg15={port},metadata={dp},dl_dst=00:00:00:{:02x}:{:02x}:{:02x},cookie=0x{i:x},actions=mod_dl_src:00:00:00:00:00:{:02x},resubmit(,{})",
                    (port >> 8) & 0xff,
                    port & 0xff,
                    dp & 0xff,
                    variant % 256,
                    table + 1
                ),
            }
        })
        .collect()
}

fn state_of(texts: &[String]) -> DesiredState {
    DesiredState { flows: texts.iter().map(|t| flow(t)).collect(), ..DesiredState::default() }
}

/// What `ovs-ofctl dump-flows --no-stats` prints for these flows.
fn expected_dump(s: &DesiredState) -> BTreeSet<String> {
    s.flows
        .iter()
        .map(|f| {
            format_flow_stats_no_stats(&FlowStats {
                table_id: f.table(),
                reason: 0,
                priority: f.priority(),
                idle_timeout: 0,
                hard_timeout: 0,
                flags: 0,
                importance: 0,
                cookie: f.cookie(),
                matches: f.m().clone(),
                duration: None,
                idle_age: None,
                packet_count: None,
                byte_count: None,
                actions: f.actions().to_vec(),
            })
        })
        .collect()
}

fn dump(sb: &Sandbox) -> BTreeSet<String> {
    sb.ofctl(["-O", "OpenFlow15", "--no-stats", "dump-flows", "br-int"])
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("OFPST_FLOW"))
        .map(str::to_string)
        .collect()
}

fn flow_count(sb: &Sandbox) -> Option<usize> {
    let out = sb.try_ofctl(["-O", "OpenFlow15", "dump-aggregate", "br-int"]).ok()?;
    out.split("flow_count=").nth(1)?.trim().parse().ok()
}

async fn wait_installed(ev: &mut UnboundedReceiver<OfctrlEvent>, generation: u64) {
    let r = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(e) = ev.recv().await {
            if e == (OfctrlEvent::Installed { generation }) {
                return;
            }
        }
        panic!("installer stopped");
    })
    .await;
    assert!(r.is_ok(), "generation {generation} not installed in time");
}

#[test]
fn install_10000_then_difference_then_reconnect_without_dip() {
    require_ovn!();
    let sb = sandbox();
    let rt = rt();
    let texts = flow_texts(10_000, 1);
    let s1 = state_of(&texts);
    let (h, mut ev) = rt.block_on(async { start(&sb) });

    rt.block_on(async {
        h.set_desired(std::sync::Arc::new(s1.clone()), 1);
        wait_installed(&mut ev, 1).await;
    });
    let dumped = dump(&sb);
    assert_eq!(dumped.len(), 10_000);
    let want = expected_dump(&s1);
    let diff: Vec<_> = want.symmetric_difference(&dumped).take(5).collect();
    assert!(diff.is_empty(), "dump differs from desired, e.g. {diff:?}");

    // Remove 100, change 100 (actions), add 100: exactly 300 flow mods.
    let mut s2 = s1.clone();
    s2.flows.drain(..100);
    let changed = flow_texts(200, 2);
    for (f, t) in s2.flows.iter_mut().zip(changed.iter().skip(100)).take(100) {
        *f = flow(t);
    }
    s2.flows.extend(state_of(&flow_texts(10_100, 1)).flows.drain(10_000..));
    let before = rt.block_on(h.stats());
    rt.block_on(async {
        h.set_desired(std::sync::Arc::new(s2.clone()), 2);
        wait_installed(&mut ev, 2).await;
    });
    let after = rt.block_on(h.stats());
    assert_eq!(after.flow_adds - before.flow_adds, 100);
    assert_eq!(after.flow_modifies - before.flow_modifies, 100);
    assert_eq!(after.flow_deletes - before.flow_deletes, 100);
    let dumped = dump(&sb);
    assert_eq!(dumped, expected_dump(&s2));

    // Reconnect, and a fresh installer (a flowctl restart): zero mods, no dip in the count.
    let stop = AtomicBool::new(false);
    let (min, samples) = std::thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let (mut min, mut n) = (usize::MAX, 0);
            while !stop.load(Ordering::Relaxed) {
                if let Some(c) = flow_count(&sb) {
                    min = min.min(c);
                    n += 1;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            (min, n)
        });
        rt.block_on(async {
            let before = h.stats().await;
            h.reconnect();
            let _ = tokio::time::timeout(Duration::from_secs(10), async {
                while let Some(e) = ev.recv().await {
                    if e == OfctrlEvent::Connected {
                        break;
                    }
                }
            })
            .await;
            wait_installed(&mut ev, 2).await;
            let after = h.stats().await;
            assert_eq!(after.flow_mods(), before.flow_mods(), "reconnect must send no flow mods");
            assert_eq!(after.dumped_flows, 10_000);

            let (h2, mut ev2) = start(&sb);
            h2.set_desired(std::sync::Arc::new(s2.clone()), 7);
            wait_installed(&mut ev2, 7).await;
            let st = h2.stats().await;
            assert_eq!(st.flow_mods(), 0, "restart must send no flow mods: {st:?}");
        });
        stop.store(true, Ordering::Relaxed);
        sampler.join().unwrap()
    });
    eprintln!("flow count sampled {samples} times during reconnect and restart, minimum {min}");
    assert!(samples > 0);
    assert_eq!(min, 10_000);
}

#[test]
fn rejected_flow_is_attributed_and_the_rest_installed() {
    require_ovn!();
    let sb = sandbox();
    let rt = rt();
    let mut s = state_of(&flow_texts(100, 1));
    s.groups.insert(
        1,
        DesiredGroup { id: 1, spec: "type=select,bucket=bucket_id=0,weight:100,actions=resubmit(,9)".into() },
    );
    s.flows.push(flow("table=7,priority=10,reg14=1,actions=group:1"));
    s.flows.push(flow("table=7,priority=10,reg14=2,actions=group:4242"));
    let (h, mut ev) = rt.block_on(async { start(&sb) });
    rt.block_on(async {
        h.set_desired(std::sync::Arc::new(s.clone()), 1);
        wait_installed(&mut ev, 1).await;
        let st = h.stats().await;
        assert!(st.errors >= 1, "{st:?}");
        assert_eq!(st.connections, 1, "an error must not reconnect");
        assert!(h.group_table_list().await.ends_with(": 1\n"));
    });
    let dumped = dump(&sb);
    assert_eq!(dumped.len(), 101, "all but the bad flow");
    assert!(dumped.iter().any(|l| l.contains("actions=group:1")));
    assert!(!dumped.iter().any(|l| l.contains("4242")));
    // OVN's Geneve option got a tun_metadata field.
    let tlv = sb.ofctl(["-O", "OpenFlow15", "dump-tlv-map", "br-int"]);
    assert!(
        tlv.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["0x102", "0x80", "4", "tun_metadata0"]),
        "{tlv}"
    );
    let groups = sb.ofctl(["-O", "OpenFlow15", "dump-groups", "br-int"]);
    assert!(groups.contains("group_id=1,type=select"), "{groups}");
}

/// 270,000 flows: chassisd's installer beside `ovs-ofctl --bundle add-flows` of the same
/// flows, each into a freshly started vswitchd, alternating, `CHASSISD_BENCH_ROUNDS` rounds
/// (default 3); the medians are compared (the machine is shared, single runs are noisy).
#[test]
#[ignore]
fn bench_270k() {
    require_ovn!();
    let n = 270_000;
    let rounds: usize = std::env::var("CHASSISD_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(3);
    let texts = flow_texts(n, 1);
    let state = state_of(&texts);
    let (mut ofctl, mut ours) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let sb = sandbox();
        let file = sb.dir().join("flows.txt");
        std::fs::write(&file, texts.join("\n") + "\n").unwrap();
        let t = Instant::now();
        sb.ofctl(["-O", "OpenFlow15", "--bundle", "add-flows", "br-int", file.to_str().unwrap()]);
        ofctl.push(t.elapsed().as_secs_f64());
        assert_eq!(flow_count(&sb), Some(n));
        drop(sb);

        let sb = sandbox();
        let rt = rt();
        let (h, mut ev) = rt.block_on(async { start(&sb) });
        // Connected and the (empty) first install done, so that only the batch is timed.
        rt.block_on(async {
            h.set_desired(std::sync::Arc::new(DesiredState::default()), 0);
            wait_installed(&mut ev, 0).await;
        });
        let t = Instant::now();
        rt.block_on(async {
            h.set_desired(std::sync::Arc::new(state.clone()), 1);
            wait_installed(&mut ev, 1).await;
        });
        ours.push(t.elapsed().as_secs_f64());
        assert_eq!(flow_count(&sb), Some(n));
        eprintln!("BENCH round {round}: ovs-ofctl {:.2}s, chassisd {:.2}s", ofctl[round], ours[round]);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (o, c) = (median(&mut ofctl), median(&mut ours));
    eprintln!(
        "BENCH {n} flows, median of {rounds}: ovs-ofctl --bundle add-flows {o:.2}s ({:.0} flows/s); chassisd installer {c:.2}s ({:.0} flows/s); ratio {:.2}x",
        n as f64 / o,
        n as f64 / c,
        c / o
    );
}
