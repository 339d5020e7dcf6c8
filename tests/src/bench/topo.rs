//! Topology generator: `switches` logical switches of `ports` ports each behind one logical
//! router, built with ovn-nbctl in large batched transactions, with real ovn-northd turning it
//! into the Southbound logical flows.
//!
//! Per switch `swI` (subnet 10.(I/256).(I%256).0/24): a router port `lr0-swI` on `lr0`, ports
//! `pI-0` .. `pI-(P-1)` with MAC and IP, DHCPv4 options for the subnet on `pI-0` and `pI-1`, load
//! balancer `lb0` (also on `lr0`). Port group `pg0` holds every `pI-0` and `pI-1`, with three
//! ACLs, one of them matching address set `as0` (200 addresses).
//!
//! Binding: `pI-0` is the measured chassis' VIF (a dummy interface `vI` on its br-int with
//! `external_ids:iface-id=pI-0`); every other port is bound to `fake0`, a second chassis that
//! exists only as Southbound rows (`ovn-sbctl chassis-add`), so it is remote for the measured
//! chassis; every datapath is local to it.

use std::time::Instant;

use chassisd_tests::Sandbox;
use serde_json::{json, Value};

use super::watch::{select_all, transact, uuid_of};

/// A scale tier.
#[derive(Clone, Debug)]
pub struct Tier {
    pub name: String,
    pub switches: usize,
    pub ports: usize,
}

impl Tier {
    /// small, medium, large: about 4,000, 30,000 and 75,000 logical flows.
    pub fn named(name: &str) -> Option<Tier> {
        let (switches, ports) = match name {
            "small" => (45, 10),
            "medium" => (360, 10),
            "large" => (900, 10),
            _ => {
                // Custom: SWITCHESxPORTS, e.g. 200x5.
                let (s, p) = name.split_once('x')?;
                (s.parse().ok()?, p.parse().ok()?)
            }
        };
        (switches > 0 && (2..=250).contains(&ports)).then(|| Tier { name: name.into(), switches, ports })
    }
}

/// What the generator built, as the Southbound database shows it.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub logical_flows: usize,
    pub port_bindings: usize,
    pub datapaths: usize,
    pub local_vifs: usize,
    pub build_s: f64,
}

pub const FAKE_CHASSIS: &str = "fake0";

/// The local VIF that the packet-in measurements use (bound to `p0-0`, which has DHCPv4
/// options, and is bound to the measured chassis) and its MAC.
pub const PING_VIF: &str = "v0";
pub fn ping_mac() -> String {
    // Numbered as `build` numbers the ports: lr0-sw0 is 1, p0-0 is 2.
    mac(2)
}

pub fn subnet(i: usize) -> String {
    format!("10.{}.{}", i / 256, i % 256)
}

fn mac(n: usize) -> String {
    format!("0a:00:{:02x}:{:02x}:{:02x}:{:02x}", (n >> 24) & 255, (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

/// Runs a tool with many commands, a few thousand per invocation: `cmds` are argument lists
/// joined with `--`.
fn batched(sb: &Sandbox, tool: &str, global: &[&str], cmds: Vec<Vec<String>>, per_call: usize) -> Result<(), String> {
    for chunk in cmds.chunks(per_call) {
        let mut args: Vec<String> = global.iter().map(|s| s.to_string()).collect();
        for c in chunk {
            args.push("--".into());
            args.extend(c.iter().cloned());
        }
        let r = match tool {
            "ovn-nbctl" => sb.try_nbctl(&args),
            "ovn-sbctl" => sb.try_sbctl(&args),
            _ => sb.try_vsctl(&args),
        };
        r.map_err(|e| {
            let mut cmd = e.cmd.clone();
            if cmd.len() > 300 {
                cmd.truncate(300);
                cmd.push_str(" ...");
            }
            let how = if e.timed_out { "timed out".to_string() } else { format!("{:?}", e.status) };
            format!("`{cmd}` failed ({how}): {}", e.stderr.trim())
        })?;
    }
    Ok(())
}

fn v(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// Counts the rows of a Southbound table.
pub fn sb_rows(sb: &Sandbox, table: &str) -> Result<usize, String> {
    Ok(select_all(&sb.sb_socket(), table, &["_uuid"])?.len())
}

/// Builds the topology and waits for northd to have computed it.
pub fn build(sb: &Sandbox, tier: &Tier, progress: &dyn Fn(&str)) -> Result<Facts, String> {
    let started = Instant::now();
    let e = |r: Result<String, chassisd_tests::CmdError>| r.map(drop).map_err(|e| e.to_string());
    // northd would recompute after every batch; let it do so once at the end.
    e(sb.try_run_central("ovn-appctl", ["-t", "ovn-northd", "pause"]))?;

    let mut cmds: Vec<Vec<String>> = Vec::new();
    cmds.push(v(&["lr-add", "lr0"]));
    let as0: Vec<String> = (0..200).map(|k| format!("\"172.17.{}.{}\"", k / 250, k % 250 + 1)).collect();
    cmds.push(vec!["create".into(), "Address_Set".into(), "name=as0".into(), format!("addresses=[{}]", as0.join(","))]);
    cmds.push(v(&["lb-add", "lb0", "172.16.0.1:80", "10.0.0.2:80,10.0.1.2:80", "tcp"]));
    cmds.push(v(&["lr-lb-add", "lr0", "lb0"]));
    let mut n = 0usize;
    for i in 0..tier.switches {
        let (sw, net) = (format!("sw{i}"), subnet(i));
        let rp = format!("lr0-sw{i}");
        let sp = format!("sw{i}-lr0");
        n += 1;
        cmds.push(vec!["ls-add".into(), sw.clone()]);
        cmds.push(vec!["lrp-add".into(), "lr0".into(), rp.clone(), mac(n), format!("{net}.1/24")]);
        cmds.push(vec!["lsp-add".into(), sw.clone(), sp.clone()]);
        cmds.push(vec!["lsp-set-type".into(), sp.clone(), "router".into()]);
        cmds.push(vec!["lsp-set-addresses".into(), sp.clone(), "router".into()]);
        cmds.push(vec!["lsp-set-options".into(), sp.clone(), format!("router-port={rp}")]);
        cmds.push(vec!["ls-lb-add".into(), sw.clone(), "lb0".into()]);
        let dhcp = format!("@dhcp{i}");
        cmds.push(vec![
            format!("--id={dhcp}"),
            "create".into(),
            "DHCP_Options".into(),
            format!("cidr={net}.0/24"),
            "options:lease_time=3600".into(),
            format!("options:router={net}.1"),
            format!("options:server_id={net}.1"),
            "options:server_mac=\"c0:ff:ee:00:00:01\"".into(),
        ]);
        for j in 0..tier.ports {
            n += 1;
            let lp = format!("p{i}-{j}");
            cmds.push(vec!["lsp-add".into(), sw.clone(), lp.clone()]);
            cmds.push(vec!["lsp-set-addresses".into(), lp.clone(), format!("{} {net}.{}", mac(n), j + 2)]);
            if j < 2 {
                cmds.push(vec!["set".into(), "Logical_Switch_Port".into(), lp, format!("dhcpv4_options={dhcp}")]);
            }
        }
    }
    let total = cmds.len();
    // One batch per 150 switches (a DHCP_Options @id must stay in the batch that uses it).
    let per_switch = 8 + 2 * tier.ports + tier.ports.min(2);
    let per_call = per_switch * 150;
    let head = 4;
    batched(sb, "ovn-nbctl", &[], cmds[..head].to_vec(), head)?;
    let body: Vec<Vec<String>> = cmds[head..].to_vec();
    batched(sb, "ovn-nbctl", &[], body, per_call)?;
    progress(&format!("  NB: {total} ovn-nbctl commands in {:.1}s", started.elapsed().as_secs_f64()));

    let mut pg = vec!["pg-add".to_string(), "pg0".into()];
    for i in 0..tier.switches {
        pg.push(format!("p{i}-0"));
        pg.push(format!("p{i}-1"));
    }
    let acls = vec![
        pg,
        v(&["acl-add", "pg0", "from-lport", "1002", "inport == @pg0 && ip4", "allow-related"]),
        v(&[
            "acl-add",
            "pg0",
            "to-lport",
            "1002",
            "outport == @pg0 && ip4 && ip4.src == $as0 && tcp.dst == 22",
            "allow-related",
        ]),
        v(&["acl-add", "pg0", "to-lport", "1001", "outport == @pg0 && ip4", "drop"]),
    ];
    batched(sb, "ovn-nbctl", &[], acls, 10)?;
    e(sb.try_run_central("ovn-appctl", ["-t", "ovn-northd", "resume"]))?;
    e(sb.try_nbctl(["--wait=sb", "sync"]))?;
    progress(&format!("  northd done at {:.1}s", started.elapsed().as_secs_f64()));

    // The remote chassis and the ports bound to it.
    e(sb.try_sbctl(["chassis-add", FAKE_CHASSIS, "geneve", "192.168.0.2"]))?;
    let sock = sb.sb_socket();
    let fake = select_all(&sock, "Chassis", &["_uuid", "name"])?
        .iter()
        .find(|r| r["name"] == FAKE_CHASSIS)
        .map(|r| uuid_of(&r["_uuid"]))
        .ok_or("chassis-add did not add the chassis")?;
    let local: std::collections::HashSet<String> = (0..tier.switches).map(|i| format!("p{i}-0")).collect();
    let binds: Vec<Value> = select_all(&sock, "Port_Binding", &["_uuid", "logical_port", "type"])?
        .iter()
        .filter(|r| r["type"] == "" && !local.contains(r["logical_port"].as_str().unwrap_or_default()))
        .map(|r| {
            json!({"op": "update", "table": "Port_Binding", "where": [["_uuid", "==", r["_uuid"]]],
                   "row": {"chassis": ["uuid", fake]}})
        })
        .collect();
    let nbinds = binds.len();
    transact(&sock, binds)?;
    progress(&format!("  SB: {nbinds} ports bound to {FAKE_CHASSIS} at {:.1}s", started.elapsed().as_secs_f64()));
    // The local VIFs. The measurements give `PING_VIF` pcap files of its own when they use it.
    let vifs: Vec<Vec<String>> = (0..tier.switches)
        .flat_map(|i| {
            [
                vec!["add-port".to_string(), "br-int".into(), format!("v{i}")],
                vec![
                    "set".to_string(),
                    "Interface".into(),
                    format!("v{i}"),
                    "type=dummy".into(),
                    format!("external_ids:iface-id=p{i}-0"),
                ],
            ]
        })
        .collect();
    batched(sb, "ovs-vsctl", &[], vifs, 1000)?;
    progress(&format!("  OVS: VIFs added at {:.1}s", started.elapsed().as_secs_f64()));
    e(sb.try_nbctl(["--wait=sb", "sync"]))?;

    let facts = Facts {
        logical_flows: sb_rows(sb, "Logical_Flow")?,
        port_bindings: sb_rows(sb, "Port_Binding")?,
        datapaths: sb_rows(sb, "Datapath_Binding")?,
        local_vifs: tier.switches,
        build_s: started.elapsed().as_secs_f64(),
    };
    Ok(facts)
}
