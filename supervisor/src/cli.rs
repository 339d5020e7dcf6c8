//! ovn-controller's command line, so chassisd drops into the same unit files and scripts.

use std::path::{Path, PathBuf};

use clap::Parser;

#[derive(Parser, Debug, PartialEq)]
#[command(
    name = "chassisd",
    about = "OVN chassis controller: a drop-in replacement for ovn-controller 23.03",
    disable_version_flag = true
)]
pub struct Cli {
    /// OVS database to connect to [default: unix:$OVS_RUNDIR/db.sock]
    pub ovs_remote: Option<String>,

    /// Create pidfile (default: $OVN_RUNDIR/ovn-controller.pid)
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "", value_name = "FILE")]
    pub pidfile: Option<String>,

    /// With --pidfile, start even if the pidfile names a running daemon
    #[arg(long)]
    pub overwrite_pidfile: bool,

    /// Run in background as a daemon
    #[arg(long)]
    pub detach: bool,

    /// Do not chdir to '/'
    #[arg(long)]
    pub no_chdir: bool,

    /// Accepted for compatibility: chassisd always supervises its processes
    #[arg(long)]
    pub monitor: bool,

    /// Accepted for compatibility, as ovn-controller's --no-monitor
    #[arg(long, hide = true)]
    pub no_monitor: bool,

    /// Log to FILE (default: $OVN_LOGDIR/ovn-controller.log)
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "", value_name = "FILE")]
    pub log_file: Option<String>,

    /// Set log levels: [MODULE][:DESTINATION][:LEVEL]; -v alone means debug everywhere
    #[arg(short = 'v', long = "verbose", num_args = 0..=1, require_equals = true, default_missing_value = "", value_name = "SPEC")]
    pub verbose: Vec<String>,

    /// Print version information
    #[arg(short = 'V', long = "version")]
    pub version: bool,

    /// Chassis name, overriding external_ids:system-id
    #[arg(short = 'n', long = "chassis", value_name = "CHASSIS")]
    pub chassis: Option<String>,

    /// SSL private key file (PEM)
    #[arg(short = 'p', long = "private-key", value_name = "FILE")]
    pub private_key: Option<String>,

    /// SSL certificate file (PEM)
    #[arg(short = 'c', long = "certificate", value_name = "FILE")]
    pub certificate: Option<String>,

    /// SSL CA certificate file (PEM)
    #[arg(short = 'C', long = "ca-cert", value_name = "FILE")]
    pub ca_cert: Option<String>,

    /// CA certificate to trust on first use, saved to FILE
    #[arg(long = "bootstrap-ca-cert", value_name = "FILE")]
    pub bootstrap_ca_cert: Option<String>,

    /// Accepted for compatibility with OVS (peer CA certificate)
    #[arg(long = "peer-ca-cert", value_name = "FILE")]
    pub peer_ca_cert: Option<String>,

    /// SSL protocols to enable
    #[arg(long = "ssl-protocols", value_name = "PROTOS")]
    pub ssl_protocols: Option<String>,

    /// SSL ciphers to enable
    #[arg(long = "ssl-ciphers", value_name = "CIPHERS")]
    pub ssl_ciphers: Option<String>,
}

/// getopt's optional arguments are attached (`-vconsole:off`); clap's short options with
/// optional values want `-v=SPEC`. Spell them the long way before clap sees them.
pub fn normalize_args(args: impl IntoIterator<Item = String>) -> Vec<String> {
    args.into_iter()
        .map(|a| match a.strip_prefix("-v") {
            Some("") => "--verbose".to_string(),
            Some(spec) if !spec.starts_with('=') && !a.starts_with("--") => format!("--verbose={spec}"),
            _ => a,
        })
        .collect()
}

/// Run directories, as OVS and OVN resolve them.
pub fn ovs_rundir() -> PathBuf {
    std::env::var_os("OVS_RUNDIR").map_or_else(|| PathBuf::from("/var/run/openvswitch"), PathBuf::from)
}

pub fn ovn_rundir() -> PathBuf {
    std::env::var_os("OVN_RUNDIR").map_or_else(|| PathBuf::from("/var/run/ovn"), PathBuf::from)
}

pub fn ovn_logdir() -> PathBuf {
    std::env::var_os("OVN_LOGDIR").map_or_else(|| PathBuf::from("/var/log/ovn"), PathBuf::from)
}

/// A file option: empty means the default name, a relative name is under `dir`.
fn resolve(value: &str, dir: &Path, default_name: &str) -> PathBuf {
    if value.is_empty() {
        dir.join(default_name)
    } else if value.starts_with('/') {
        PathBuf::from(value)
    } else {
        dir.join(value)
    }
}

impl Cli {
    pub fn ovs_remote(&self) -> String {
        self.ovs_remote.clone().unwrap_or_else(|| format!("unix:{}/db.sock", ovs_rundir().display()))
    }

    pub fn pidfile_path(&self) -> Option<PathBuf> {
        self.pidfile.as_deref().map(|p| resolve(p, &ovn_rundir(), "ovn-controller.pid"))
    }

    pub fn log_file_path(&self) -> Option<PathBuf> {
        self.log_file.as_deref().map(|p| resolve(p, &ovn_logdir(), "ovn-controller.log"))
    }

    /// The options flowctl applies, by ovn-controller's long names.
    pub fn passthrough(&self) -> std::collections::BTreeMap<String, String> {
        [
            ("chassis", &self.chassis),
            ("private-key", &self.private_key),
            ("certificate", &self.certificate),
            ("ca-cert", &self.ca_cert),
            ("bootstrap-ca-cert", &self.bootstrap_ca_cert),
            ("peer-ca-cert", &self.peer_ca_cert),
            ("ssl-protocols", &self.ssl_protocols),
            ("ssl-ciphers", &self.ssl_ciphers),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_string(), v.clone()?)))
        .collect()
    }

    /// Rejects remotes flowctl could never use, before anything starts.
    pub fn check(&self) -> Result<(), String> {
        let remote = self.ovs_remote();
        let known = ["unix:", "tcp:", "ssl:"].iter().any(|p| remote.starts_with(p));
        if !known || remote.ends_with(':') {
            return Err(format!(
                "{remote}: invalid OVS database remote (expected unix:PATH, tcp:IP:PORT or ssl:IP:PORT)"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(normalize_args(std::iter::once("chassisd").chain(args.iter().copied()).map(String::from)))
    }

    #[test]
    fn ovn_controller_command_lines_parse() {
        let cli = parse(&[
            "unix:/run/db.sock",
            "--pidfile",
            "--detach",
            "--no-chdir",
            "--monitor",
            "--log-file=/tmp/x.log",
            "-vconsole:off",
            "--verbose=file:dbg",
            "-v",
        ])
        .unwrap();
        assert_eq!(cli.ovs_remote.as_deref(), Some("unix:/run/db.sock"));
        assert_eq!(cli.pidfile.as_deref(), Some(""));
        assert_eq!(cli.log_file.as_deref(), Some("/tmp/x.log"));
        assert_eq!(cli.verbose, vec!["console:off", "file:dbg", ""]);
        assert!(cli.detach && cli.no_chdir && cli.monitor);
        let cli =
            parse(&["-n", "hv9", "-p", "k.pem", "-c", "c.pem", "-C", "ca.pem", "--ssl-protocols=TLSv1.2"]).unwrap();
        let opts = cli.passthrough();
        assert_eq!(opts.get("chassis").map(String::as_str), Some("hv9"));
        assert_eq!(opts.get("ca-cert").map(String::as_str), Some("ca.pem"));
        assert_eq!(opts.len(), 5);
    }

    #[test]
    fn optional_values_never_swallow_the_remote() {
        let cli = parse(&["--pidfile", "unix:/x", "-v"]).unwrap();
        assert_eq!(cli.ovs_remote.as_deref(), Some("unix:/x"));
        assert_eq!(cli.pidfile.as_deref(), Some(""));
    }

    #[test]
    fn bad_options_are_errors() {
        assert!(parse(&["--bogus"]).is_err());
        assert!(parse(&["a", "b"]).is_err());
        assert!(parse(&["nonsense"]).unwrap().check().is_err());
        assert!(parse(&["tcp:127.0.0.1:6640"]).unwrap().check().is_ok());
    }

    #[test]
    fn file_options_resolve_like_ovs() {
        assert_eq!(resolve("", Path::new("/r"), "d.pid"), PathBuf::from("/r/d.pid"));
        assert_eq!(resolve("x.pid", Path::new("/r"), "d.pid"), PathBuf::from("/r/x.pid"));
        assert_eq!(resolve("/a/x.pid", Path::new("/r"), "d.pid"), PathBuf::from("/a/x.pid"));
    }
}
