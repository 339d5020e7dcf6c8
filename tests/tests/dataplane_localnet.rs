//! End to end localnet and localport: with `ovn-bridge-mappings=phys:br-phys`, a localnet port
//! connects the logical switch to br-phys through a patch port pair, and traffic for unknown
//! MACs leaves (and enters) there; a localport talks to local VIFs only, never to the physical
//! network. Each scenario runs against the real ovn-controller (which proves the test) and
//! against chassisd.
//!
//! ```text
//! sw0: lp1    00:00:00:00:00:01 10.0.0.1   vif1
//!      lport0 00:00:00:00:00:0a 10.0.0.10  vif10  (localport)
//!      ln0    localnet, network_name=phys, unknown  ── patch ── br-phys ── phys0 (dummy)
//! the physical network: a host 00:00:00:00:99:99 10.0.0.50 behind phys0
//! ```

use chassisd_tests::packets::{Ip4, Net};
use chassisd_tests::{both_controllers, wait_until, Controller, Sandbox, TIMEOUT};

both_controllers!(localnet_bridge_mapping, localport_stays_local);

const LP1: &str = "00:00:00:00:00:01";
const LPORT: &str = "00:00:00:00:00:0a";
const PHYS_HOST: &str = "00:00:00:00:99:99";
const VIFS: [&str; 3] = ["vif1", "vif10", "phys0"];

fn topology(c: Controller) -> Sandbox {
    let sb = Sandbox::builder().controller(c).external_id("ovn-bridge-mappings", "phys:br-phys").start();
    sb.wait_chassis_registered();
    chassisd_tests::topo::physical_bridge(&sb, "br-phys", "phys0");
    sb.nbctl(["ls-add", "sw0"]);
    sb.nbctl(["lsp-add", "sw0", "lp1", "--", "lsp-set-addresses", "lp1", &format!("{LP1} 10.0.0.1")]);
    sb.nbctl(["lsp-add", "sw0", "lport0", "--", "lsp-set-type", "lport0", "localport"]);
    sb.nbctl(["lsp-set-addresses", "lport0", &format!("{LPORT} 10.0.0.10")]);
    chassisd_tests::topo::localnet_port(&sb, "sw0", "ln0", "phys");
    sb.add_vif("vif1", "lp1");
    sb.add_vif("vif10", "lport0");
    sb.wait_port_up("lp1");
    sb.ovn_nbctl_wait_hv_sync();
    // The controller plugs the localnet port into br-phys with a patch port pair.
    wait_until(TIMEOUT, "a patch port from br-phys to br-int", || {
        sb.vsctl(["list-ports", "br-phys"]).lines().any(|p| {
            p != "phys0"
                && sb.try_vsctl(["get", "Interface", p, "type"]).is_ok_and(|t| t.trim() == "patch")
                && sb.try_vsctl(["get", "Interface", p, "options:peer"]).is_ok_and(|peer| {
                    let peer = peer.trim().trim_matches('"').to_string();
                    sb.vsctl(["list-ports", "br-int"]).lines().any(|q| q == peer)
                })
        })
    });
    sb
}

fn localnet_bridge_mapping(c: Controller) {
    let sb = topology(c);
    let net = Net::new(&sb, &VIFS);
    // A VM's traffic for a MAC the switch does not know leaves through the localnet port,
    // unchanged (no tag: the localnet port has none).
    let out = Ip4::udp(LP1, PHYS_HOST, "10.0.0.1", "10.0.0.50", 1000, 2000, "to-phys");
    net.send("vif1", &out.to_bytes());
    assert_eq!(net.wait_tagged("phys0", "to-phys"), out);
    // And from the physical network to the VM.
    let inbound = Ip4::udp(PHYS_HOST, LP1, "10.0.0.50", "10.0.0.1", 2000, 1000, "from-phys");
    net.send("phys0", &inbound.to_bytes());
    assert_eq!(net.wait_tagged("vif1", "from-phys"), inbound);
    // Broadcast from the VM: to the physical network and to the localport.
    let bcast = Ip4::udp(LP1, "ff:ff:ff:ff:ff:ff", "10.0.0.1", "10.0.0.255", 1000, 2000, "bcast");
    net.send("vif1", &bcast.to_bytes());
    net.wait_tagged("phys0", "bcast");
    net.wait_tagged("vif10", "bcast");
    // Broadcast from the physical network reaches the VM.
    let pbcast = Ip4::udp(PHYS_HOST, "ff:ff:ff:ff:ff:ff", "10.0.0.50", "10.0.0.255", 1000, 2000, "phys-bcast");
    net.send("phys0", &pbcast.to_bytes());
    net.wait_tagged("vif1", "phys-bcast");
    assert!(net.tagged_on("to-phys") == ["phys0"] && net.tagged_on("from-phys") == ["vif1"], "{}", net.report());
}

fn localport_stays_local(c: Controller) {
    let sb = topology(c);
    let net = Net::new(&sb, &VIFS);
    let barrier = |tag: &str| Ip4::udp(LPORT, LP1, "10.0.0.10", "10.0.0.1", 5000, 5000, tag);
    // The localport and the local VIF reach each other.
    let to_vm = Ip4::udp(LPORT, LP1, "10.0.0.10", "10.0.0.1", 67, 68, "lport-to-vm");
    net.send("vif10", &to_vm.to_bytes());
    assert_eq!(net.wait_tagged("vif1", "lport-to-vm"), to_vm);
    let to_lport = Ip4::udp(LP1, LPORT, "10.0.0.1", "10.0.0.10", 68, 67, "vm-to-lport");
    net.send("vif1", &to_lport.to_bytes());
    assert_eq!(net.wait_tagged("vif10", "vm-to-lport"), to_lport);
    // Nothing from the localport goes to the physical network: not its broadcasts, not its
    // traffic for unknown MACs.
    let bcast = Ip4::udp(LPORT, "ff:ff:ff:ff:ff:ff", "10.0.0.10", "10.0.0.255", 1000, 2000, "lport-bcast");
    net.send_with_barrier("vif10", &bcast.to_bytes(), &barrier("b1"), "vif1");
    let unknown = Ip4::udp(LPORT, PHYS_HOST, "10.0.0.10", "10.0.0.50", 1000, 2000, "lport-unknown");
    net.send_with_barrier("vif10", &unknown.to_bytes(), &barrier("b2"), "vif1");
    assert_eq!(net.tagged_on("lport-bcast"), ["vif1"], "localport broadcast: local VIF only; {}", net.report());
    assert!(net.tagged_on("lport-unknown").is_empty(), "{}", net.report());
    assert!(net.new_frames("phys0").is_empty(), "nothing from the localport on br-phys; {}", net.report());
}
