//! The client against a real standalone ovsdb-server: monitor, transact, conditions,
//! probes, restart.

mod ovsdb_common;

use std::time::Duration;

use ovsdb_common::*;
use shared::ovsdb::{
    Atom, Client, ClientConfig, Condition, Datum, Error, Event, MonitorSpec, Mutation, Mutator, OpResult, Operation,
    Replica, RowData, UpdateKind,
};

fn config(servers: &Servers, monitor: MonitorSpec) -> ClientConfig {
    let mut c = ClientConfig::new(servers.remotes(), "Open_vSwitch", monitor);
    c.backoff_min = Duration::from_millis(100);
    c.backoff_max = Duration::from_millis(400);
    c
}

fn row(cols: &[(&str, Datum)]) -> RowData {
    cols.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

fn bridge_named<'a>(r: &'a Replica, name: &str) -> Option<&'a shared::ovsdb::Row> {
    r.table("Bridge")?.iter().map(|(_, row)| row).find(|row| row.get_str("name") == Some(name))
}

#[tokio::test]
async fn monitor_and_transact() {
    let mut servers = standalone(VSWITCH_SCHEMA);
    let monitor = MonitorSpec::new()
        .table("Open_vSwitch")
        .table_columns("Bridge", &["name", "ports", "external_ids", "fail_mode"])
        .table_columns("Port", &["name", "tag", "interfaces"])
        .table_columns("Interface", &["name", "type"]);
    let (client, mut rx) = Client::start(config(&servers, monitor));
    let mut r = Replica::new();
    let events = connected(&mut rx, &mut r, 10).await;
    assert!(matches!(events[0], Event::Connected { .. }));
    assert_eq!(update_kinds(&events), vec![UpdateKind::Snapshot]);
    assert!(client.is_connected());
    // Standalone databases keep no transaction history.
    assert!(r.table("Open_vSwitch").unwrap().is_empty());
    r.take_changes();

    // insert with named-uuid references, mutate, comment.
    let res = client
        .transact(vec![
            Operation::Insert { table: "Open_vSwitch".into(), row: RowData::new(), uuid_name: None },
            Operation::Insert {
                table: "Interface".into(),
                row: row(&[("name", "p1".into()), ("type", "internal".into())]),
                uuid_name: Some("i1".into()),
            },
            Operation::Insert {
                table: "Port".into(),
                row: row(&[("name", "p1".into()), ("interfaces", Datum::scalar(Atom::NamedUuid("i1".into())))]),
                uuid_name: Some("p1".into()),
            },
            Operation::Insert {
                table: "Bridge".into(),
                row: row(&[
                    ("name", "br-int".into()),
                    ("fail_mode", "secure".into()),
                    ("ports", Datum::scalar(Atom::NamedUuid("p1".into()))),
                ]),
                uuid_name: Some("br".into()),
            },
            Operation::Mutate {
                table: "Open_vSwitch".into(),
                conditions: vec![],
                mutations: vec![Mutation::new("bridges", Mutator::Insert, Datum::scalar(Atom::NamedUuid("br".into())))],
            },
            Operation::Comment("chassisd test: create br-int".into()),
        ])
        .await
        .expect("transact");
    let OpResult::Inserted(br_uuid) = res[3] else { panic!("{res:?}") };
    assert_eq!(res[4], OpResult::Count(1));
    run_until(&mut rx, &mut r, 10, |r| r.row("Bridge", &br_uuid).is_some()).await;
    let ch = r.take_changes();
    assert_eq!(ch.table("Bridge").unwrap().inserted.len(), 1);
    assert_eq!(ch.table("Port").unwrap().inserted.len(), 1);
    assert_eq!(ch.table("Open_vSwitch").unwrap().inserted.len(), 1);
    let ovs = r.table("Open_vSwitch").unwrap().iter().next().unwrap().1;
    assert_eq!(ovs.get("bridges"), Some(&Datum::from(br_uuid)));
    let port_uuid = r.row("Bridge", &br_uuid).unwrap().get_uuid("ports").unwrap();
    assert_eq!(r.row("Port", &port_uuid).unwrap().get_str("name"), Some("p1"));

    // update + map mutations + wait (optimistic check that holds).
    let br = Condition::eq("name", "br-int");
    client
        .transact(vec![
            Operation::Wait {
                table: "Bridge".into(),
                conditions: vec![br.clone()],
                columns: vec!["fail_mode".into()],
                until_equal: true,
                rows: vec![row(&[("fail_mode", "secure".into())])],
                timeout_ms: Some(0),
            },
            Operation::Update {
                table: "Bridge".into(),
                conditions: vec![br.clone()],
                row: row(&[("fail_mode", Datum::empty_set())]),
            },
            Operation::Mutate {
                table: "Bridge".into(),
                conditions: vec![br.clone()],
                mutations: vec![Mutation::new(
                    "external_ids",
                    Mutator::Insert,
                    Datum::map([("ovn-nb-cfg", "1"), ("x", "y")]),
                )],
            },
            Operation::Mutate {
                table: "Port".into(),
                conditions: vec![Condition::uuid(port_uuid)],
                mutations: vec![Mutation::new("tag", Mutator::Insert, Datum::from(10i64))],
            },
        ])
        .await
        .expect("update");
    run_until(&mut rx, &mut r, 10, |r| {
        r.row("Bridge", &br_uuid).unwrap().get_map_str("external_ids", "x") == Some("y")
    })
    .await;
    let b = r.row("Bridge", &br_uuid).unwrap();
    assert_eq!(b.get("fail_mode"), Some(&Datum::empty_set()));
    let ch = r.take_changes();
    let m = &ch.table("Bridge").unwrap().modified[&br_uuid];
    assert!(m.columns.contains("fail_mode") && m.columns.contains("external_ids"));
    assert_eq!(m.old.get_str("fail_mode"), Some("secure"));
    assert_eq!(r.row("Port", &port_uuid).unwrap().get_i64("tag"), Some(10));

    // A wait that does not hold fails the whole transaction, nothing is applied.
    let err = client
        .transact(vec![
            Operation::Delete { table: "Port".into(), conditions: vec![] },
            Operation::Wait {
                table: "Bridge".into(),
                conditions: vec![br.clone()],
                columns: vec!["name".into()],
                until_equal: true,
                rows: vec![row(&[("name", "other".into())])],
                timeout_ms: Some(0),
            },
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transaction { index: 1, .. }), "{err}");

    // Map delete by key, then delete rows.
    client
        .transact(vec![
            Operation::Mutate {
                table: "Bridge".into(),
                conditions: vec![br.clone()],
                mutations: vec![Mutation::new("external_ids", Mutator::Delete, Datum::set(["x"]))],
            },
            Operation::Update {
                table: "Open_vSwitch".into(),
                conditions: vec![],
                row: row(&[("bridges", Datum::empty_set())]),
            },
        ])
        .await
        .expect("delete");
    run_until(&mut rx, &mut r, 10, |r| r.table("Bridge").unwrap().is_empty()).await;
    let ch = r.take_changes();
    // Garbage collection of unreferenced rows shows up as deletes.
    assert_eq!(ch.table("Bridge").unwrap().deleted.len(), 1);
    assert_eq!(ch.table("Port").unwrap().deleted.len(), 1);
    assert_eq!(ch.table("Interface").unwrap().deleted.len(), 1);

    // Raw calls work too.
    let schema = client.get_schema("Open_vSwitch").await.unwrap();
    assert!(schema.table("Bridge").is_some());
    let echo = client.call("echo", serde_json::json!(["ping"])).await.unwrap();
    assert_eq!(echo, serde_json::json!(["ping"]));

    // Restart: standalone servers keep no history, so the replica is refreshed with a full
    // snapshot, which the replica turns into a delta (here: nothing changed).
    servers.members[0].stop();
    servers.members[0].start();
    let events = connected(&mut rx, &mut r, 15).await;
    assert!(matches!(events[0], Event::Disconnected { .. }), "{events:?}");
    assert_eq!(update_kinds(&events), vec![UpdateKind::Snapshot]);
    let ch = r.take_changes();
    assert!(ch.is_empty(), "{ch:#?}");
}

#[tokio::test]
async fn condition_change() {
    let servers = standalone(VSWITCH_SCHEMA);
    let monitor =
        MonitorSpec::new().table_columns("Bridge", &["name"]).table_where("Bridge", vec![Condition::eq("name", "br1")]);
    let (client, mut rx) = Client::start(config(&servers, monitor));
    let mut r = Replica::new();
    connected(&mut rx, &mut r, 10).await;
    client
        .transact(vec![
            Operation::Insert {
                table: "Bridge".into(),
                row: row(&[("name", "br1".into())]),
                uuid_name: Some("b1".into()),
            },
            Operation::Insert {
                table: "Bridge".into(),
                row: row(&[("name", "br2".into())]),
                uuid_name: Some("b2".into()),
            },
            // Bridge is not a root table: unreferenced rows would be garbage collected.
            Operation::Insert {
                table: "Open_vSwitch".into(),
                row: row(&[("bridges", Datum::set([Atom::NamedUuid("b1".into()), Atom::NamedUuid("b2".into())]))]),
                uuid_name: None,
            },
        ])
        .await
        .unwrap();
    run_until(&mut rx, &mut r, 10, |r| bridge_named(r, "br1").is_some()).await;
    // Give a stray br2 update the chance to show up before checking it did not.
    tokio::time::sleep(Duration::from_millis(200)).await;
    while let Ok(e) = rx.try_recv() {
        apply(&mut r, &e);
    }
    assert!(bridge_named(&r, "br2").is_none());
    r.take_changes();

    let seqno = client.set_condition("Bridge", vec![Condition::eq("name", "br2")]);
    let mut acked = false;
    run_until(&mut rx, &mut r, 10, |r| bridge_named(r, "br2").is_some() && bridge_named(r, "br1").is_none()).await;
    // The ack may come before or after the update.
    while !acked {
        if let Event::ConditionsAcked { seqno: s } = next_event(&mut rx, 10).await {
            acked = s >= seqno;
        }
    }
    let ch = r.take_changes();
    assert_eq!(ch.table("Bridge").unwrap().inserted.len(), 1);
    assert_eq!(ch.table("Bridge").unwrap().deleted.len(), 1);

    // Empty condition: all rows.
    client.set_condition("Bridge", vec![]);
    run_until(&mut rx, &mut r, 10, |r| r.table("Bridge").unwrap().len() == 2).await;
}

#[tokio::test]
async fn probes_keep_an_idle_connection() {
    let servers = standalone(VSWITCH_SCHEMA);
    let mut cfg = config(&servers, MonitorSpec::new().table("Open_vSwitch"));
    cfg.probe_interval = Some(Duration::from_millis(100));
    let (client, mut rx) = Client::start(cfg);
    let mut r = Replica::new();
    connected(&mut rx, &mut r, 10).await;
    // Many probe intervals of silence: echoes go out, replies come back, no reconnect.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(rx.try_recv().is_err(), "unexpected event");
    assert!(client.is_connected());
}

#[tokio::test]
async fn transact_without_connection_fails_fast() {
    let mut cfg = ClientConfig::new(
        vec![shared::ovsdb::Remote::Unix("/nonexistent/db.sock".into())],
        "Open_vSwitch",
        MonitorSpec::new(),
    );
    cfg.backoff_min = Duration::from_millis(50);
    let (client, _rx) = Client::start(cfg);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let e = client.transact(vec![Operation::Comment("x".into())]).await.unwrap_err();
    assert!(matches!(e, Error::Disconnected), "{e}");
    assert!(!client.is_connected());
}

#[tokio::test]
async fn ssl_is_reported_unsupported() {
    let mut cfg = ClientConfig::new(
        shared::ovsdb::Remote::parse_list("ssl:127.0.0.1:6642").unwrap(),
        "OVN_Southbound",
        MonitorSpec::new(),
    );
    cfg.backoff_min = Duration::from_millis(50);
    let (client, _rx) = Client::start(cfg);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!client.is_connected());
}

#[tokio::test]
async fn tcp_remote() {
    let (_servers, port) = standalone_tcp(VSWITCH_SCHEMA);
    let remotes = shared::ovsdb::Remote::parse_list(&format!("tcp:127.0.0.1:{port}")).unwrap();
    let mut cfg = ClientConfig::new(remotes, "Open_vSwitch", MonitorSpec::new().table("Open_vSwitch"));
    cfg.backoff_min = Duration::from_millis(100);
    let (client, mut rx) = Client::start(cfg);
    let mut r = Replica::new();
    connected(&mut rx, &mut r, 10).await;
    client
        .transact(vec![Operation::Insert {
            table: "Open_vSwitch".into(),
            row: row(&[("external_ids", Datum::map([("system-id", "hv1")]))]),
            uuid_name: None,
        }])
        .await
        .unwrap();
    run_until(&mut rx, &mut r, 10, |r| {
        r.table("Open_vSwitch")
            .unwrap()
            .iter()
            .any(|(_, row)| row.get_map_str("external_ids", "system-id") == Some("hv1"))
    })
    .await;
}

/// Plain `monitor_cond` with `update2` notifications (for servers or setups without
/// `monitor_cond_since`).
#[tokio::test]
async fn monitor_cond_update2() {
    let servers = standalone(VSWITCH_SCHEMA);
    let mut cfg = config(&servers, MonitorSpec::new().table_columns("Open_vSwitch", &["external_ids"]));
    cfg.use_monitor_since = false;
    let (client, mut rx) = Client::start(cfg);
    let mut r = Replica::new();
    let ev = connected(&mut rx, &mut r, 10).await;
    assert_eq!(update_kinds(&ev), vec![UpdateKind::Snapshot]);
    client
        .transact(vec![Operation::Insert {
            table: "Open_vSwitch".into(),
            row: row(&[("external_ids", Datum::map([("k", "v")]))]),
            uuid_name: None,
        }])
        .await
        .unwrap();
    let ev = run_until(&mut rx, &mut r, 10, |r| !r.table("Open_vSwitch").unwrap().is_empty()).await;
    let Some(Event::Update(u)) = ev.last() else { panic!("{ev:?}") };
    assert_eq!((u.kind, u.last_txn_id), (UpdateKind::Incremental, None));
    assert_eq!(client.last_txn_id(), None);
}

/// An initial sync of many rows arrives as one multi-megabyte message.
#[tokio::test]
async fn large_snapshot() {
    let servers = standalone(SB_SCHEMA);
    let remotes = servers.remotes();
    let mut cfg = ClientConfig::new(remotes.clone(), "OVN_Southbound", MonitorSpec::new());
    cfg.backoff_min = Duration::from_millis(100);
    let (writer, _wrx) = Client::start(cfg);
    let n = 20_000;
    let ops: Vec<Operation> = (0..n)
        .map(|i| Operation::Insert {
            table: "Datapath_Binding".into(),
            row: row(&[
                ("tunnel_key", Datum::from(i as i64 + 1)),
                ("external_ids", Datum::map([("name", format!("ls-{i}"))])),
            ]),
            uuid_name: None,
        })
        .collect();
    transact_retry(&writer, ops).await;

    let mut cfg = ClientConfig::new(
        remotes,
        "OVN_Southbound",
        MonitorSpec::new().table_columns("Datapath_Binding", &["tunnel_key", "external_ids"]),
    );
    cfg.backoff_min = Duration::from_millis(100);
    let (_c, mut rx) = Client::start(cfg);
    let mut r = Replica::new();
    let by_key = r.create_index("Datapath_Binding", vec!["tunnel_key".into()]);
    connected(&mut rx, &mut r, 60).await;
    assert_eq!(r.table("Datapath_Binding").unwrap().len(), n);
    assert_eq!(r.take_changes().table("Datapath_Binding").unwrap().inserted.len(), n);
    let (_, row) = r.lookup_rows(by_key, &[Datum::from(777i64)]).next().unwrap();
    assert_eq!(row.get_map_str("external_ids", "name"), Some("ls-776"));
}

#[tokio::test]
async fn set_remotes_switches_servers() {
    let a = standalone(VSWITCH_SCHEMA);
    let b = standalone(VSWITCH_SCHEMA);
    let (client, mut rx) = Client::start(config(&a, MonitorSpec::new().table("Open_vSwitch")));
    let mut r = Replica::new();
    connected(&mut rx, &mut r, 10).await;
    client
        .transact(vec![Operation::Insert { table: "Open_vSwitch".into(), row: RowData::new(), uuid_name: None }])
        .await
        .unwrap();
    run_until(&mut rx, &mut r, 10, |r| r.table("Open_vSwitch").unwrap().len() == 1).await;
    r.take_changes();

    // Same list: nothing happens.
    client.set_remotes(a.remotes());
    client.set_probe_interval(Some(Duration::from_millis(200)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.try_recv().is_err());

    // Another server: reconnect there; its (empty) snapshot shows up as a delete.
    client.set_remotes(b.remotes());
    let ev = connected(&mut rx, &mut r, 10).await;
    let Event::Connected { remote, .. } = &ev[1] else { panic!("{ev:?}") };
    assert_eq!(*remote, b.remotes()[0]);
    assert_eq!(r.take_changes().table("Open_vSwitch").unwrap().deleted.len(), 1);
}
