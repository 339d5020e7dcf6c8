//! The Southbound database over ssl:, with certificates made by ovs-pki and configured the way
//! operators do it: `ovn-sbctl set-ssl/set-connection` on the server side and the OVS
//! database's SSL table (`ovs-vsctl set-ssl`) on the chassis, for both controllers.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use chassisd_tests::{wait_until, Controller, Sandbox};

macro_rules! both_controllers {
    ($($name:ident),* $(,)?) => {
        $(mod $name {
            #[test]
            fn ovn_controller() {
                chassisd_tests::require_ovn!();
                super::$name(chassisd_tests::Controller::OvnController);
            }
            #[test]
            fn chassisd() {
                chassisd_tests::require_ovn!();
                super::$name(chassisd_tests::Controller::Chassisd);
            }
        })*
    };
}

both_controllers!(southbound_over_ssl_with_the_ovs_ssl_table);

fn ovs_pki(dir: &Path, args: &[&str]) {
    let out = Command::new("ovs-pki")
        .arg(format!("--dir={}", dir.join("pki").display()))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run ovs-pki");
    assert!(out.status.success(), "ovs-pki {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn southbound_over_ssl_with_the_ovs_ssl_table(c: Controller) {
    if chassisd_tests::find_bin("ovs-pki").is_none() {
        eprintln!("skipped: ovs-pki not installed");
        return;
    }
    let mut sb = Sandbox::builder().infra().start();
    let pki = sb.dir().join("pki-work");
    std::fs::create_dir_all(&pki).unwrap();
    ovs_pki(&pki, &["init"]);
    ovs_pki(&pki, &["req+sign", "sb", "controller"]);
    ovs_pki(&pki, &["req+sign", "hv1", "switch"]);
    let p = |f: &str| pki.join(f).display().to_string();
    sb.sbctl(["set-ssl", &p("sb-privkey.pem"), &p("sb-cert.pem"), &p("pki/switchca/cacert.pem")]);
    sb.sbctl(["set-connection", "pssl:0:127.0.0.1"]);
    let log = sb.central_dir().join("ovnsb_db.log");
    let mut port = 0u16;
    wait_until(Duration::from_secs(10), "the SB ssl listener", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        port = text.lines().rev().find_map(|l| l.split("listening on port ").nth(1)?.trim().parse().ok()).unwrap_or(0);
        port != 0
    });
    sb.vsctl(["set-ssl", &p("hv1-privkey.pem"), &p("hv1-cert.pem"), &p("pki/controllerca/cacert.pem")]);
    sb.vsctl(["set", "Open_vSwitch", ".", &format!("external_ids:ovn-remote=ssl:127.0.0.1:{port}")]);
    sb.start_controller(c);
    sb.wait_chassis_registered();
    sb.nbctl(["ls-add", "sw0", "--", "lsp-add", "sw0", "lp1"]);
    sb.add_vif("vif1", "lp1");
    sb.wait_port_bound("lp1");
    sb.ovn_nbctl_wait_hv_sync();
    assert!(sb.ovn_appctl(["connection-status"]).starts_with("connected"));
}
