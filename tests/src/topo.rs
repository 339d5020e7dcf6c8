//! Topology pieces the scenario tests share: router ports on switches, addressed ports, DHCP
//! options, binding VIFs to ports, and a physical bridge for localnet ports.

use crate::Hv;

/// A port `lsp` of type router on `switch`, addresses `router`, peer of the logical router
/// port `lrp`.
pub fn router_port(hv: &Hv, switch: &str, lsp: &str, lrp: &str) {
    hv.nbctl([
        "lsp-add",
        switch,
        lsp,
        "--",
        "lsp-set-type",
        lsp,
        "router",
        "--",
        "lsp-set-options",
        lsp,
        &format!("router-port={lrp}"),
    ]);
    hv.nbctl(["lsp-set-addresses", lsp, "router"]);
}

/// Connects each `(switch, lrp)` to `router`'s port `lrp` (which exists or is added later)
/// through a router port `<switch>-<router>`.
pub fn attach_router(hv: &Hv, router: &str, links: &[(&str, &str)]) {
    for (switch, lrp) in links {
        router_port(hv, switch, &format!("{switch}-{router}"), lrp);
    }
}

/// Adds `router`'s port `lrp` (`mac`, `networks`) and attaches `switch` to it as in
/// [`attach_router`].
pub fn connect(hv: &Hv, router: &str, switch: &str, lrp: &str, mac: &str, networks: &[&str]) {
    let mut args = vec!["lrp-add", router, lrp, mac];
    args.extend_from_slice(networks);
    hv.nbctl(args);
    attach_router(hv, router, &[(switch, lrp)]);
}

/// Adds each `(switch, port, mac, ips)` as a port with addresses `"<mac> <ips>"`.
pub fn add_ports(hv: &Hv, ports: &[(&str, &str, &str, &str)]) {
    for (switch, port, mac, ips) in ports {
        hv.nbctl(["lsp-add", switch, port, "--", "lsp-set-addresses", port, &format!("{mac} {ips}")]);
    }
}

/// DHCPv4 options for `cidr` with `options` (`key=value`), set on `port`.
pub fn dhcpv4_options(hv: &Hv, port: &str, cidr: &str, options: &[&str]) {
    let dhcp = hv.nbctl(["create", "DHCP_Options", &format!("cidr={cidr}")]).trim().to_string();
    let mut args = vec!["dhcp-options-set-options", &dhcp];
    args.extend_from_slice(options);
    hv.nbctl(args);
    hv.nbctl(["lsp-set-dhcpv4-options", port, &dhcp]);
}

/// Binds each `(vif, port)` (a dummy VIF on br-int), waits for every port to be up, then for
/// every chassis to catch up with the Northbound database.
pub fn bind_and_sync(hv: &Hv, vifs: &[(&str, &str)]) {
    for (vif, port) in vifs {
        hv.add_vif(vif, port);
    }
    for (_, port) in vifs {
        hv.wait_port_up(port);
    }
    hv.ovn_nbctl_wait_hv_sync();
}

/// A localnet port `lsp` on `switch` (addresses `unknown`) for the physical network
/// `network` of `ovn-bridge-mappings`.
pub fn localnet_port(hv: &Hv, switch: &str, lsp: &str, network: &str) {
    hv.nbctl([
        "lsp-add",
        switch,
        lsp,
        "--",
        "lsp-set-type",
        lsp,
        "localnet",
        "--",
        "lsp-set-addresses",
        lsp,
        "unknown",
    ]);
    hv.nbctl(["lsp-set-options", lsp, &format!("network_name={network}")]);
}

/// A physical bridge `bridge` (what `ovn-bridge-mappings` names) with one dummy port `port`
/// whose traffic is captured like a VIF's (`Hv::tx_pcap` / `rx_pcap`).
pub fn physical_bridge(hv: &Hv, bridge: &str, port: &str) {
    hv.vsctl(["add-br", bridge]);
    hv.vsctl([
        "add-port",
        bridge,
        port,
        "--",
        "set",
        "interface",
        port,
        "type=dummy",
        &format!("options:tx_pcap=\"{}\"", hv.tx_pcap(port).display()),
        &format!("options:rxq_pcap=\"{}\"", hv.rx_pcap(port).display()),
    ]);
}
