//! Running the OVS/OVN tools: binary lookup, a clean environment, timeouts, readable errors.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::procs::ProcId;

const OVS_BINARIES: [&str; 6] = ["ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-appctl", "ovs-ofctl"];
const OVN_BINARIES: [&str; 5] = ["ovn-northd", "ovn-nbctl", "ovn-sbctl", "ovn-appctl", "ovn-controller"];

/// The OVS/OVN programs the harness needs that are not installed (empty: all present).
pub fn missing_binaries() -> Vec<&'static str> {
    OVS_BINARIES.iter().chain(OVN_BINARIES.iter()).copied().filter(|b| find_bin(b).is_none()).collect()
}

/// Runs each named scenario `fn name(c: Controller)` as two tests, `name::ovn_controller` and
/// `name::chassisd`: the real ovn-controller proves the test, then chassisd must pass it.
#[macro_export]
macro_rules! both_controllers {
    ($($name:ident),* $(,)?) => {
        $(mod $name {
            #[test]
            fn ovn_controller() {
                $crate::require_ovn!();
                super::$name($crate::Controller::OvnController);
            }
            #[test]
            fn chassisd() {
                $crate::require_ovn!();
                super::$name($crate::Controller::Chassisd);
            }
        })*
    };
}

/// Returns early from a test, with a message, when OVS/OVN are not installed. With
/// `CHASSISD_REQUIRE_OVN=1` (for CI) a missing binary is a failure instead of a skip.
#[macro_export]
macro_rules! require_ovn {
    () => {
        let missing = $crate::missing_binaries();
        if !missing.is_empty() {
            if std::env::var_os("CHASSISD_REQUIRE_OVN").is_some_and(|v| v != "0") {
                panic!("CHASSISD_REQUIRE_OVN is set but these are missing: {missing:?}");
            }
            // libtest names each test's thread after the test.
            let thread = std::thread::current();
            let test = thread.name().unwrap_or(module_path!());
            eprintln!("SKIPPED {test}: OVS/OVN binaries not installed: {missing:?}");
            return;
        }
    };
}

/// PATH for every command: the caller's, plus the sbin directories where Debian puts
/// ovsdb-server and ovs-vswitchd (often missing from a non-root PATH).
pub(crate) fn search_path() -> OsString {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    for d in ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
        if !dirs.iter().any(|x| x == Path::new(d)) {
            dirs.push(d.into());
        }
    }
    std::env::join_paths(dirs).unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into())
}

/// Absolute path of `name` in the harness PATH.
pub fn find_bin(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&search_path()).map(|d| d.join(name)).find(|p| p.is_file())
}

pub(crate) fn find_schema(env_dir: &str, defaults: &[&str], file: &str) -> Result<PathBuf, String> {
    let mut dirs: Vec<PathBuf> = std::env::var_os(env_dir).map(PathBuf::from).into_iter().collect();
    dirs.extend(defaults.iter().map(PathBuf::from));
    dirs.iter()
        .map(|d| d.join(file))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("{file} not found in {dirs:?} (set {env_dir})"))
}

/// A failed command: what ran, how it ended, and everything it printed.
#[derive(Debug)]
pub struct CmdError {
    pub cmd: String,
    /// None if it could not be started or was killed on timeout.
    pub status: Option<ExitStatus>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

impl fmt::Display for CmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.timed_out, self.status) {
            (true, _) => write!(f, "`{}` timed out", self.cmd)?,
            (false, Some(s)) => write!(f, "`{}` failed: {s}", self.cmd)?,
            (false, None) => write!(f, "`{}` could not run", self.cmd)?,
        }
        if !self.stderr.trim().is_empty() {
            write!(f, "\nstderr: {}", self.stderr.trim_end())?;
        }
        if !self.stdout.trim().is_empty() {
            write!(f, "\nstdout: {}", self.stdout.trim_end())?;
        }
        Ok(())
    }
}

impl std::error::Error for CmdError {}

pub(crate) fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "\"'\\$".contains(c)) {
            s.push_str(&format!(" '{}'", a.replace('\'', "'\\''")));
        } else {
            s.push(' ');
            s.push_str(&a);
        }
    }
    s
}

/// Runs `cmd` to completion, capturing output; kills it after `timeout` so a wedged
/// `--wait=hv` or a vsctl waiting for an absent vswitchd fails the test instead of hanging it.
pub(crate) fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Result<Output, CmdError> {
    let desc = describe(&cmd);
    let fail = |status, timed_out, stdout: &[u8], stderr: String| CmdError {
        cmd: desc.clone(),
        status,
        timed_out,
        stdout: String::from_utf8_lossy(stdout).into_owned(),
        stderr,
    };
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().map_err(|e| fail(None, false, b"", e.to_string()))?;
    let id = ProcId::of(child.id() as i32);
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let (result, timed_out) = match rx.recv_timeout(timeout) {
        Ok(r) => (r, false),
        Err(_) => {
            // `exists`, not `is_alive`: the latter reaps zombies, and the waiter thread must
            // be the one to reap its child.
            if let Some(id) = id.filter(ProcId::exists) {
                let _ = kill(Pid::from_raw(id.pid), Signal::SIGKILL);
            }
            match rx.recv_timeout(Duration::from_secs(5)) {
                Ok(r) => (r, true),
                Err(_) => return Err(fail(None, true, b"", "(output still held open)".into())),
            }
        }
    };
    let out = result.map_err(|e| fail(None, timed_out, b"", e.to_string()))?;
    if timed_out || !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        return Err(fail(Some(out.status), timed_out, &out.stdout, stderr));
    }
    Ok(out)
}
