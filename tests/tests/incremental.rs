//! Incremental translation gives the table a full recompute gives: after sequences of random
//! changes (ports, ACLs, address-set members, port-group members, load balancer backends,
//! MAC bindings, routes), chassisd's table equals what it installs right after
//! `inc-engine/recompute`, which drops every cached translation. The seed is printed; set
//! CHASSISD_TEST_SEED to replay one.

use chassisd_tests::flows::{diff_lines, normalize_flow};
use chassisd_tests::{require_ovn, topo, Controller, Sandbox};

/// xorshift64*: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

fn table(sb: &Sandbox) -> Vec<String> {
    let mut v: Vec<String> = sb.dump_flows("br-int").iter().map(|l| normalize_flow(l)).collect();
    v.extend(sb.dump_groups("br-int").iter().map(|g| normalize_flow(g)));
    v.sort();
    v
}

fn base_topology(sb: &Sandbox) {
    sb.wait_chassis_registered();
    let nb = |args: &[&str]| {
        sb.nbctl(args);
    };
    nb(&["ls-add", "sw0", "--", "ls-add", "sw1", "--", "lr-add", "lr0"]);
    nb(&["lrp-add", "lr0", "lr0-sw0", "00:00:00:00:ff:01", "10.0.0.1/24"]);
    nb(&["lrp-add", "lr0", "lr0-sw1", "00:00:00:00:ff:02", "10.0.1.1/24"]);
    topo::attach_router(sb, "lr0", &[("sw0", "lr0-sw0"), ("sw1", "lr0-sw1")]);
    // A switch port of the router in the group: the ACL below has flows from the start, so
    // address-set and group changes change them.
    nb(&["pg-add", "pg1", "sw0-lr0"]);
    nb(&["create", "Address_Set", "name=as1", "addresses=10.9.9.9"]);
    nb(&["acl-add", "pg1", "to-lport", "1001", "outport == @pg1 && ip4.src == $as1 && tcp.dst == 22", "allow-related"]);
    nb(&["lb-add", "lb0", "10.0.0.100:80", "10.0.0.2:8080", "tcp"]);
    nb(&["ls-lb-add", "sw0", "lb0"]);
    sb.ovn_nbctl_wait_hv_sync();
}

/// One random change; `n` numbers new objects.
fn change(sb: &Sandbox, rng: &mut Rng, n: u32) -> String {
    let nb = |args: &[&str]| {
        sb.nbctl(args);
    };
    let sw = if rng.below(2) == 0 { "sw0" } else { "sw1" };
    let subnet = if sw == "sw0" { 0 } else { 1 };
    match rng.below(8) {
        0 if n > 2 => {
            // An earlier port, if it was added (lsp-del of a missing port is refused: ignored).
            let port = format!("p{}", 1 + rng.below(u64::from(n - 1)));
            let _ = sb.try_nbctl(["lsp-del", &port]);
            format!("delete port {port} if present")
        }
        0 | 1 => {
            let port = format!("p{n}");
            let addr = format!("00:00:00:00:{:02x}:{:02x} 10.0.{subnet}.{}", n / 256, n % 256, 10 + n % 200);
            nb(&["lsp-add", sw, &port, "--", "lsp-set-addresses", &port, &addr]);
            sb.add_vif(&format!("v{n}"), &port);
            sb.wait_port_up(&port);
            format!("add bound port {port} on {sw}")
        }
        2 => {
            let members: &[&str] = match rng.below(3) {
                0 => &["sw0-lr0"],
                1 => &["sw1-lr0"],
                _ => &["sw0-lr0", "sw1-lr0"],
            };
            nb(&[&["pg-set-ports", "pg1"], members].concat());
            format!("set port group members to {members:?}")
        }
        3 => {
            if rng.below(3) == 0 {
                nb(&["remove", "Address_Set", "as1", "addresses", "10.9.9.9"]);
                nb(&["add", "Address_Set", "as1", "addresses", &format!("10.7.{}.{}", n / 256, n % 256)]);
                "replace an address-set member".into()
            } else {
                nb(&["add", "Address_Set", "as1", "addresses", &format!("10.8.{}.{}", n / 256, n % 256)]);
                "add an address-set member".into()
            }
        }
        4 => {
            let m = format!("outport == @pg1 && udp.dst == {}", 1000 + n);
            nb(&["acl-add", "pg1", "to-lport", &format!("{}", 900 + n % 50), &m, "drop"]);
            "add an ACL".into()
        }
        5 => {
            let backends = format!("10.0.0.2:8080,10.0.0.{}:8080", 3 + n % 100);
            nb(&["--may-exist", "lb-add", "lb0", "10.0.0.100:80", &backends, "tcp"]);
            "change LB backends".into()
        }
        6 => {
            let dp = sb.sbctl(["--bare", "--columns=_uuid", "find", "Datapath_Binding", "external_ids:name=lr0"]);
            let mac = format!("mac=\"00:00:00:00:ee:{:02x}\"", n % 256);
            let ip = format!("ip=10.0.1.{}", 100 + n % 100);
            sb.sbctl(["create", "MAC_Binding", "logical_port=lr0-sw1", &ip, &mac, &format!("datapath={}", dp.trim())]);
            "add a MAC binding".into()
        }
        _ => {
            nb(&["--may-exist", "lr-route-add", "lr0", &format!("192.168.{}.0/24", n % 250), "10.0.1.2"]);
            "add a static route".into()
        }
    }
}

#[test]
fn incremental_table_equals_recomputed_table() {
    require_ovn!();
    let seed = std::env::var("CHASSISD_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1
    });
    eprintln!("seed {seed} (CHASSISD_TEST_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let sb = Sandbox::builder().infra().controller(Controller::Chassisd).start();
    base_topology(&sb);
    let mut n = 0;
    for round in 0..6 {
        let mut done = Vec::new();
        for _ in 0..5 {
            n += 1;
            done.push(change(&sb, &mut rng, n));
        }
        sb.ovn_nbctl_wait_hv_sync();
        let incremental = table(&sb);
        sb.ovn_appctl(["inc-engine/recompute"]);
        sb.ovn_nbctl_wait_hv_sync();
        let recomputed = table(&sb);
        if let Some(diff) = diff_lines(&recomputed, &incremental) {
            panic!(
                "seed {seed}, round {round} after {done:?}: incremental differs (- recompute, + incremental):\n{diff}"
            );
        }
        eprintln!("round {round}: {} flows equal after {done:?}", incremental.len());
    }
}
