//! Which controller a sandbox runs, and where its binary is.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::cmd::find_bin;

/// Which chassis controller a sandbox runs. Both get the same command line and environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Controller {
    /// The real `ovn-controller` 23.03: the reference.
    OvnController,
    /// This project's `chassisd` supervisor (with `flowctl` and `pinctrl` next to it).
    Chassisd,
}

impl Controller {
    /// From `CHASSISD_CONTROLLER=chassisd|ovn-controller`; `ovn-controller` when unset.
    /// Panics on any other value so a typo in CI is not silently the reference.
    pub fn from_env() -> Controller {
        let v = std::env::var("CHASSISD_CONTROLLER").ok();
        Controller::parse(v.as_deref()).unwrap_or_else(|e| panic!("CHASSISD_CONTROLLER: {e}"))
    }

    /// Parses a controller name; `None` or "" is the reference, ovn-controller.
    pub fn parse(name: Option<&str>) -> Result<Controller, String> {
        match name {
            None | Some("") | Some("ovn-controller") => Ok(Controller::OvnController),
            Some("chassisd") => Ok(Controller::Chassisd),
            Some(other) => Err(format!("{other:?}: expected chassisd or ovn-controller")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Controller::OvnController => "ovn-controller",
            Controller::Chassisd => "chassisd",
        }
    }

    /// Absolute path of the binary to run.
    pub fn binary(self) -> Result<PathBuf, String> {
        match self {
            Controller::OvnController => {
                find_bin("ovn-controller").ok_or_else(|| "ovn-controller not found in PATH".into())
            }
            Controller::Chassisd => chassisd_bin(),
        }
    }
}

impl fmt::Display for Controller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Locates `chassisd` and checks that `flowctl` and `pinctrl` sit next to it.
///
/// Order: `$CHASSISD_BIN`; the profile directory this test binary was built into
/// (`target/<profile>/deps/..`); `$CARGO_TARGET_DIR/debug`; `<workspace>/target/debug`.
/// `cargo test -p chassisd-tests` does not build other packages' binaries, hence the hint.
pub fn chassisd_bin() -> Result<PathBuf, String> {
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os("CHASSISD_BIN") {
        candidates.push(PathBuf::from(p));
    } else {
        if let Ok(exe) = std::env::current_exe() {
            if let Some(deps) = exe.parent().filter(|d| d.ends_with("deps")) {
                if let Some(profile) = deps.parent() {
                    candidates.push(profile.join("chassisd"));
                }
            }
        }
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
            candidates.push(workspace.join(t).join("debug/chassisd"));
        }
        candidates.push(workspace.join("target/debug/chassisd"));
    }
    let bin = candidates.iter().find(|p| p.is_file()).ok_or_else(|| {
        format!(
            "chassisd binary not found (tried {candidates:?}); build it with \
             `cargo build -p supervisor -p flowctl -p pinctrl` or set CHASSISD_BIN"
        )
    })?;
    for sibling in ["flowctl", "pinctrl"] {
        let s = bin.with_file_name(sibling);
        if !s.is_file() {
            return Err(format!("{} has no {sibling} next to it ({s:?})", bin.display()));
        }
    }
    Ok(bin.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names() {
        assert_eq!(Controller::parse(None), Ok(Controller::OvnController));
        assert_eq!(Controller::parse(Some("")), Ok(Controller::OvnController));
        assert_eq!(Controller::parse(Some("chassisd")), Ok(Controller::Chassisd));
        assert_eq!(Controller::parse(Some(Controller::OvnController.name())), Ok(Controller::OvnController));
        assert!(Controller::parse(Some("chasisd")).is_err());
    }
}
