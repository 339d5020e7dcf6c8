//! The client against a real clustered Southbound database: resume with
//! `monitor_cond_since` after a restart (no full resync), failover between members,
//! leader-only selection, and refusal of a member cut off from the cluster.

mod ovsdb_common;

use std::time::Duration;

use ovsdb_common::*;
use shared::ovsdb::{
    Atom, Client, ClientConfig, Condition, Datum, Event, MonitorSpec, Operation, Remote, Replica, RowData, UpdateKind,
};

const DB: &str = "OVN_Southbound";

fn config(remotes: Vec<Remote>, monitor: MonitorSpec) -> ClientConfig {
    let mut c = ClientConfig::new(remotes, DB, monitor);
    c.backoff_min = Duration::from_millis(100);
    c.backoff_max = Duration::from_millis(500);
    c
}

fn row(cols: &[(&str, Datum)]) -> RowData {
    cols.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

fn chassis_monitor() -> MonitorSpec {
    MonitorSpec::new().table_columns("Chassis", &["name", "hostname", "external_ids"])
}

fn hostname(r: &Replica, name: &str) -> Option<String> {
    r.table("Chassis")?
        .iter()
        .find(|(_, row)| row.get_str("name") == Some(name))
        .and_then(|(_, row)| row.get_str("hostname").map(str::to_owned))
}

fn set_hostname(name: &str, host: &str) -> Vec<Operation> {
    vec![Operation::Update {
        table: "Chassis".into(),
        conditions: vec![Condition::eq("name", name)],
        row: row(&[("hostname", host.into())]),
    }]
}

/// A writer client (no monitor) plus a chassis row and a large row: ovsdb-server keeps no
/// more transaction history (in atoms) than the database holds, so a tiny database would
/// always answer `found: false`.
async fn seed(remotes: Vec<Remote>) -> Client {
    let (writer, _rx) = Client::start(config(remotes, MonitorSpec::new()));
    let addresses: Vec<String> = (0..1000).map(|i| format!("10.0.{}.{}", i / 250, i % 250)).collect();
    transact_retry(
        &writer,
        vec![
            Operation::Insert {
                table: "Address_Set".into(),
                row: row(&[("name", "big".into()), ("addresses", Datum::set(addresses))]),
                uuid_name: None,
            },
            Operation::Insert {
                table: "Encap".into(),
                row: row(&[("type", "geneve".into()), ("ip", "192.0.2.1".into()), ("chassis_name", "hv1".into())]),
                uuid_name: Some("e".into()),
            },
            Operation::Insert {
                table: "Chassis".into(),
                row: row(&[
                    ("name", "hv1".into()),
                    ("hostname", "h0".into()),
                    ("encaps", Datum::scalar(Atom::NamedUuid("e".into()))),
                ]),
                uuid_name: None,
            },
        ],
    )
    .await;
    writer
}

#[tokio::test]
async fn resume_after_server_restart() {
    let mut servers = cluster(SB_SCHEMA, DB, 1);
    let writer = seed(servers.remotes()).await;
    let (client, mut rx) = Client::start(config(servers.remotes(), chassis_monitor()));
    let mut r = Replica::new();
    let ev = connected(&mut rx, &mut r, 20).await;
    assert_eq!(update_kinds(&ev), vec![UpdateKind::Snapshot]);
    assert_eq!(hostname(&r, "hv1").as_deref(), Some("h0"));
    transact_retry(&writer, set_hostname("hv1", "h1")).await;
    run_until(&mut rx, &mut r, 10, |r| hostname(r, "hv1").as_deref() == Some("h1")).await;
    let before = client.last_txn_id().expect("update3 gave a txn id");
    r.take_changes();

    servers.members[0].stop();
    servers.members[0].start();
    // A change the client misses while it is away (it may also reconnect first; then the
    // change arrives as an ordinary update3 after the resumed reply).
    transact_retry(&writer, set_hostname("hv1", "h2")).await;

    let ev = connected(&mut rx, &mut r, 30).await;
    assert!(matches!(ev[0], Event::Disconnected { .. }), "{ev:#?}");
    let resumed = ev
        .iter()
        .find_map(|e| match e {
            Event::Update(u) => Some(u),
            _ => None,
        })
        .unwrap();
    // No full resync: the server found our last transaction and sent only what changed.
    assert_eq!(resumed.kind, UpdateKind::Resumed, "{ev:#?}");
    assert!(resumed.updates.len() <= 1, "{:#?}", resumed.updates);
    assert_ne!(client.last_txn_id(), None);
    run_until(&mut rx, &mut r, 10, |r| hostname(r, "hv1").as_deref() == Some("h2")).await;
    let ch = r.take_changes();
    let t = ch.table("Chassis").unwrap();
    assert!(t.inserted.is_empty() && t.deleted.is_empty(), "{t:#?}");
    assert_eq!(t.modified.len(), 1);
    assert_ne!(client.last_txn_id(), Some(before));
}

#[tokio::test]
async fn failover_between_members() {
    let mut servers = cluster(SB_SCHEMA, DB, 3);
    let writer = seed(servers.remotes()).await;
    let (client, mut rx) = Client::start(config(servers.remotes(), chassis_monitor()));
    let mut r = Replica::new();
    let ev = connected(&mut rx, &mut r, 30).await;
    let Event::Connected { remote: first, .. } =
        ev.iter().find(|e| matches!(e, Event::Connected { .. })).unwrap().clone()
    else {
        unreachable!()
    };
    run_until(&mut rx, &mut r, 10, |r| hostname(r, "hv1").is_some()).await;
    transact_retry(&writer, set_hostname("hv1", "h1")).await;
    run_until(&mut rx, &mut r, 10, |r| hostname(r, "hv1").as_deref() == Some("h1")).await;
    r.take_changes();

    // Kill the member the client uses: it moves to another one and resumes there (every
    // member has the same transaction ids, from the Raft log).
    let idx = servers.members.iter().position(|s| s.remote() == first).unwrap();
    servers.members[idx].stop();
    let ev = connected(&mut rx, &mut r, 30).await;
    let second = ev
        .iter()
        .find_map(|e| match e {
            Event::Connected { remote, .. } => Some(remote.clone()),
            _ => None,
        })
        .unwrap();
    assert_ne!(second, first);
    assert!(update_kinds(&ev).contains(&UpdateKind::Resumed), "{ev:#?}");
    assert!(r.take_changes().is_empty());

    transact_retry(&writer, set_hostname("hv1", "h2")).await;
    run_until(&mut rx, &mut r, 20, |r| hostname(r, "hv1").as_deref() == Some("h2")).await;
    assert!(client.is_connected());
}

/// Which member is the Raft leader, read from each member's `_Server` database with the
/// same client (any database can be monitored).
async fn leader(servers: &Servers) -> Option<Remote> {
    for s in &servers.members {
        let mut cfg = ClientConfig::new(
            vec![s.remote()],
            "_Server",
            MonitorSpec::new().table_columns("Database", &["name", "leader"]),
        );
        cfg.backoff_min = Duration::from_millis(100);
        let (_c, mut rx) = Client::start(cfg);
        let mut r = Replica::new();
        connected(&mut rx, &mut r, 10).await;
        let is_leader = r
            .table("Database")
            .unwrap()
            .iter()
            .any(|(_, row)| row.get_str("name") == Some(DB) && row.get_bool("leader") == Some(true));
        if is_leader {
            return Some(s.remote());
        }
    }
    None
}

#[tokio::test]
async fn leader_only_skips_followers() {
    let servers = cluster(SB_SCHEMA, DB, 3);
    let _writer = seed(servers.remotes()).await;
    let mut leader_remote = None;
    for _ in 0..50 {
        leader_remote = leader(&servers).await;
        if leader_remote.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let leader_remote = leader_remote.expect("cluster has a leader");
    // Followers first in the list.
    let mut remotes = servers.remotes();
    remotes.retain(|r| *r != leader_remote);
    remotes.push(leader_remote.clone());
    let mut cfg = config(remotes, chassis_monitor());
    cfg.leader_only = true;
    let (_client, mut rx) = Client::start(cfg);
    let mut r = Replica::new();
    let ev = connected(&mut rx, &mut r, 30).await;
    let got = ev
        .iter()
        .find_map(|e| match e {
            Event::Connected { remote, .. } => Some(remote.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(got, leader_remote);
}

#[tokio::test]
async fn refuses_member_cut_off_from_cluster() {
    let mut servers = cluster(SB_SCHEMA, DB, 3);
    let _writer = seed(servers.remotes()).await;
    drop(_writer);
    // Leave s1 alone: without quorum it reports connected=false after failed elections.
    servers.members[1].stop();
    servers.members[2].stop();
    let lonely = servers.members[0].remote();
    let mut cut_off = false;
    for _ in 0..100 {
        let mut cfg = ClientConfig::new(
            vec![lonely.clone()],
            "_Server",
            MonitorSpec::new().table_columns("Database", &["name", "connected"]),
        );
        cfg.backoff_min = Duration::from_millis(100);
        let (_c, mut rx) = Client::start(cfg);
        let mut r = Replica::new();
        connected(&mut rx, &mut r, 10).await;
        cut_off = r
            .table("Database")
            .unwrap()
            .iter()
            .any(|(_, row)| row.get_str("name") == Some(DB) && row.get_bool("connected") == Some(false));
        if cut_off {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(cut_off, "member never reported losing the cluster");

    let (client, mut rx) = Client::start(config(vec![lonely], chassis_monitor()));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(rx.try_recv().is_err(), "client used a member without quorum");
    assert!(!client.is_connected());

    // Quorum back: the same member becomes usable and the client connects.
    servers.members[1].start();
    let mut r = Replica::new();
    connected(&mut rx, &mut r, 30).await;
    assert_eq!(hostname(&r, "hv1").as_deref(), Some("h0"));
}

/// A condition set while disconnected: the client must resume with the condition the server
/// had acked (the history only covers that one), then switch with `monitor_cond_change`.
#[tokio::test]
async fn condition_changed_while_disconnected() {
    let mut servers = cluster(SB_SCHEMA, DB, 1);
    let writer = seed(servers.remotes()).await;
    transact_retry(
        &writer,
        vec![
            Operation::Insert {
                table: "Encap".into(),
                row: row(&[("type", "geneve".into()), ("ip", "192.0.2.2".into()), ("chassis_name", "hv2".into())]),
                uuid_name: Some("e".into()),
            },
            Operation::Insert {
                table: "Chassis".into(),
                row: row(&[
                    ("name", "hv2".into()),
                    ("hostname", "x0".into()),
                    ("encaps", Datum::scalar(Atom::NamedUuid("e".into()))),
                ]),
                uuid_name: None,
            },
        ],
    )
    .await;
    let monitor = chassis_monitor().table_where("Chassis", vec![Condition::eq("name", "hv1")]);
    let (client, mut rx) = Client::start(config(servers.remotes(), monitor));
    let mut r = Replica::new();
    connected(&mut rx, &mut r, 20).await;
    transact_retry(&writer, set_hostname("hv1", "h1")).await;
    run_until(&mut rx, &mut r, 10, |r| hostname(r, "hv1").as_deref() == Some("h1")).await;
    assert!(hostname(&r, "hv2").is_none());

    servers.members[0].stop();
    // Wait until the client noticed, then change the condition while it is away.
    loop {
        if let Event::Disconnected { .. } = next_event(&mut rx, 10).await {
            break;
        }
    }
    let seqno = client.set_condition("Chassis", vec![Condition::eq("name", "hv2")]);
    servers.members[0].start();

    let ev = connected(&mut rx, &mut r, 30).await;
    assert_eq!(update_kinds(&ev), vec![UpdateKind::Resumed], "{ev:#?}");
    let mut acked = false;
    let ev = run_until(&mut rx, &mut r, 10, |r| hostname(r, "hv2").is_some() && hostname(r, "hv1").is_none()).await;
    acked |= ev.iter().any(|e| matches!(e, Event::ConditionsAcked { seqno: s } if *s >= seqno));
    while !acked {
        if let Event::ConditionsAcked { seqno: s } = next_event(&mut rx, 10).await {
            acked = s >= seqno;
        }
    }
    assert_eq!(hostname(&r, "hv2").as_deref(), Some("x0"));
}
