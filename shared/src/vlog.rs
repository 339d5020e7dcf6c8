//! Logging in OVS's vlog line format, with OVS's run-time controls.
//!
//! Every chassisd process writes `2026-11-28T07:24:50.123Z|00042|flowctl.ovsdb|INFO|text` lines:
//! the module column carries the process name, so one shared log file still tells who spoke.
//! Levels are per module and per destination (console = stderr, syslog, file), set with OVS's
//! `-v`/`vlog/set` spec syntax, and the file can be reopened after rotation.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level as TracingLevel, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// OVS log levels, least to most verbose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Off,
    Emer,
    Err,
    Warn,
    Info,
    Dbg,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Off => "OFF",
            Level::Emer => "EMER",
            Level::Err => "ERR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Dbg => "DBG",
        }
    }

    fn parse(word: &str) -> Option<Level> {
        Some(match word.to_ascii_lowercase().as_str() {
            "off" => Level::Off,
            "emer" => Level::Emer,
            "err" => Level::Err,
            "warn" => Level::Warn,
            "info" => Level::Info,
            "dbg" | "debug" => Level::Dbg,
            _ => return None,
        })
    }

    fn from_tracing(level: &TracingLevel) -> Level {
        match *level {
            TracingLevel::ERROR => Level::Err,
            TracingLevel::WARN => Level::Warn,
            TracingLevel::INFO => Level::Info,
            _ => Level::Dbg,
        }
    }
}

/// Where a line can go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination {
    Console = 0,
    Syslog = 1,
    File = 2,
}

const DESTINATIONS: [Destination; 3] = [Destination::Console, Destination::Syslog, Destination::File];

impl Destination {
    fn parse(word: &str) -> Option<Destination> {
        Some(match word.to_ascii_lowercase().as_str() {
            "console" => Destination::Console,
            "syslog" => Destination::Syslog,
            "file" => Destination::File,
            _ => return None,
        })
    }
}

/// Per-module, per-destination levels. Modules not named yet take the defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Levels {
    defaults: [Level; 3],
    modules: BTreeMap<String, [Level; 3]>,
}

impl Default for Levels {
    fn default() -> Self {
        // As OVS: everything at INFO; a detached daemon turns the console off.
        Levels { defaults: [Level::Info, Level::Info, Level::Info], modules: BTreeMap::new() }
    }
}

impl Levels {
    pub fn level(&self, module: &str, dest: Destination) -> Level {
        self.modules.get(module).unwrap_or(&self.defaults)[dest as usize]
    }

    /// Applies one OVS vlog spec: colon-separated words, each a module, a destination or a
    /// level, in any order; a missing module or destination means all of them (`ANY`).
    pub fn apply_spec(&mut self, spec: &str, known_modules: &BTreeSet<String>) -> Result<(), String> {
        let mut module: Option<String> = None;
        let mut dest: Option<Destination> = None;
        let mut level: Option<Level> = None;
        for word in spec.split([':', ' ', ',']).filter(|w| !w.is_empty()) {
            if word.eq_ignore_ascii_case("any") {
                continue;
            }
            if word.eq_ignore_ascii_case("pattern") {
                return Err("custom log patterns are not supported".to_string());
            }
            if let Some(d) = Destination::parse(word) {
                if dest.replace(d).is_some() {
                    return Err(format!("cannot specify multiple destinations in \"{spec}\""));
                }
            } else if let Some(l) = Level::parse(word) {
                if level.replace(l).is_some() {
                    return Err(format!("cannot specify multiple levels in \"{spec}\""));
                }
            } else if known_modules.contains(word) {
                if module.replace(word.to_string()).is_some() {
                    return Err(format!("cannot specify multiple modules in \"{spec}\""));
                }
            } else {
                return Err(format!("unknown module \"{word}\""));
            }
        }
        // OVS: a spec without a level means "debug" (so `-v` alone turns everything up).
        let level = level.unwrap_or(Level::Dbg);
        let dests: Vec<Destination> = dest.map_or(DESTINATIONS.to_vec(), |d| vec![d]);
        match module {
            Some(m) => {
                let entry = self.modules.entry(m).or_insert(self.defaults);
                for d in dests {
                    entry[d as usize] = level;
                }
            }
            None => {
                for d in dests {
                    self.defaults[d as usize] = level;
                    for levels in self.modules.values_mut() {
                        levels[d as usize] = level;
                    }
                }
            }
        }
        Ok(())
    }

    /// The `vlog/list` table, as OVS prints it.
    pub fn render(&self, modules: &BTreeSet<String>) -> String {
        let mut out = String::from("                 console    syslog    file\n");
        out.push_str("                 -------    ------    ------\n");
        for m in modules {
            let _ = writeln!(
                out,
                "{:<16}  {:>4}       {:>4}       {:>4}",
                m,
                self.level(m, Destination::Console).name(),
                self.level(m, Destination::Syslog).name(),
                self.level(m, Destination::File).name()
            );
        }
        out
    }
}

/// Every module name any chassisd process logs under. One list for all processes, so a spec
/// naming a pinctrl module is valid in the supervisor and in flowctl too (it simply matches
/// nothing there), and `vlog/set` can be broadcast as is.
pub const ALL_MODULES: &[&str] = &[
    "chassisd",
    "flowctl",
    "pinctrl",
    "backoff",
    "channel",
    "child",
    "control",
    "daemon",
    "notify",
    "run",
    "spawn",
    "unixctl",
    "ovsdb",
    "openflow",
    "ofctrl",
    "lflow",
    "physical",
    "binding",
    "chassis",
    "encaps",
    "ctzone",
    "patch",
    "dhcp",
    "dns",
    "arp",
    "nd",
    "igmp",
    "svc_monitor",
];

/// The module set `-v` specs are checked against.
pub fn known_modules() -> BTreeSet<String> {
    ALL_MODULES.iter().map(|m| m.to_string()).collect()
}

struct Logger {
    process: String,
    seq: AtomicU32,
    levels: RwLock<Levels>,
    modules: RwLock<BTreeSet<String>>,
    file: Mutex<Option<(PathBuf, File)>>,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Module name of a tracing target: the first path segment below the crate
/// (`shared::ovsdb::client` -> `ovsdb`), or the process name for a crate's root.
fn module_of<'a>(target: &'a str, process: &'a str) -> &'a str {
    let mut parts = target.split("::");
    let _crate = parts.next();
    parts.next().unwrap_or(process)
}

/// Installs the logger for this process. `modules` are the module names `vlog/set` accepts
/// before anything was logged from them; more are added as they log.
pub fn init(process: &str, modules: &[&str], log_file: Option<&Path>, specs: &[String]) -> Result<(), String> {
    let mut known = known_modules();
    known.extend(modules.iter().map(|m| m.to_string()));
    known.insert(process.to_string());
    let mut levels = Levels::default();
    for spec in specs {
        levels.apply_spec(spec, &known)?;
    }
    let file = match log_file {
        Some(path) => Some((path.to_path_buf(), open_log(path)?)),
        None => None,
    };
    let ident = std::ffi::CString::new(process).map_err(|e| e.to_string())?;
    // openlog keeps the pointer: leak one small string for the life of the process.
    let ident: &'static std::ffi::CStr = Box::leak(ident.into_boxed_c_str());
    // SAFETY: ident is a valid NUL-terminated string that lives forever.
    unsafe { libc::openlog(ident.as_ptr(), libc::LOG_NDELAY | libc::LOG_PID, libc::LOG_DAEMON) };
    let logger = Logger {
        process: process.to_string(),
        seq: AtomicU32::new(0),
        levels: RwLock::new(levels),
        modules: RwLock::new(known),
        file: Mutex::new(file),
    };
    LOGGER.set(logger).map_err(|_| "logging initialised twice".to_string())?;
    tracing_subscriber::registry().with(VlogLayer).try_init().map_err(|e| e.to_string())
}

fn open_log(path: &Path) -> Result<File, String> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("{}: cannot open log file: {e}", path.display()))
}

/// `vlog/set SPEC...`: applies each spec, or none if one is bad.
pub fn set(specs: &[String]) -> Result<(), String> {
    let logger = LOGGER.get().ok_or("logging not initialised")?;
    let known = logger.modules.read().map_err(|e| e.to_string())?.clone();
    let mut levels = logger.levels.write().map_err(|e| e.to_string())?;
    let mut next = levels.clone();
    for spec in specs {
        next.apply_spec(spec, &known)?;
    }
    *levels = next;
    Ok(())
}

/// `vlog/list`.
pub fn list() -> String {
    let Some(logger) = LOGGER.get() else { return String::new() };
    let (Ok(levels), Ok(modules)) = (logger.levels.read(), logger.modules.read()) else {
        return String::new();
    };
    levels.render(&modules)
}

/// `vlog/reopen` and SIGHUP: reopen the log file by name, so rotation works.
pub fn reopen() -> Result<(), String> {
    let logger = LOGGER.get().ok_or("logging not initialised")?;
    let mut guard = logger.file.lock().map_err(|e| e.to_string())?;
    if let Some((path, file)) = guard.as_mut() {
        *file = open_log(path)?;
    }
    Ok(())
}

/// The log file in use, to hand to child processes.
pub fn log_file() -> Option<PathBuf> {
    let logger = LOGGER.get()?;
    let guard = logger.file.lock().ok()?;
    guard.as_ref().map(|(path, _)| path.clone())
}

/// Stops writing to the console: a detached daemon has no terminal.
pub fn disable_console() {
    if let Some(logger) = LOGGER.get() {
        if let Ok(mut levels) = logger.levels.write() {
            levels.defaults[Destination::Console as usize] = Level::Off;
            for l in levels.modules.values_mut() {
                l[Destination::Console as usize] = Level::Off;
            }
        }
    }
}

struct VlogLayer;

struct MessageVisitor(String);

impl Visit for MessageVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

impl<S: Subscriber> Layer<S> for VlogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let Some(logger) = LOGGER.get() else { return };
        let meta = event.metadata();
        let module = module_of(meta.target(), &logger.process);
        let level = Level::from_tracing(meta.level());
        let wanted = {
            let Ok(levels) = logger.levels.read() else { return };
            DESTINATIONS.map(|d| level <= levels.level(module, d) && levels.level(module, d) != Level::Off)
        };
        if !logger.modules.read().map(|m| m.contains(module)).unwrap_or(true) {
            if let Ok(mut m) = logger.modules.write() {
                m.insert(module.to_string());
            }
        }
        if !wanted.iter().any(|w| *w) {
            return;
        }
        let mut message = MessageVisitor(String::new());
        event.record(&mut message);
        let seq = logger.seq.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        let column =
            if module == logger.process { module.to_string() } else { format!("{}.{}", logger.process, module) };
        let line = format!("{}|{:05}|{}|{}|{}\n", timestamp_now(), seq, column, level.name(), message.0);
        if wanted[Destination::Console as usize] {
            // One write per line so concurrent processes do not interleave mid-line.
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
        if wanted[Destination::Syslog as usize] {
            write_syslog(level, &line);
        }
        if wanted[Destination::File as usize] {
            if let Ok(mut guard) = logger.file.lock() {
                if let Some((_, file)) = guard.as_mut() {
                    let _ = file.write_all(line.as_bytes());
                }
            }
        }
    }
}

fn write_syslog(level: Level, line: &str) {
    let priority = match level {
        Level::Emer => libc::LOG_EMERG,
        Level::Err => libc::LOG_ERR,
        Level::Warn => libc::LOG_WARNING,
        Level::Info => libc::LOG_INFO,
        _ => libc::LOG_DEBUG,
    };
    // Skip the timestamp and sequence: syslog adds its own.
    let text = line.splitn(3, '|').nth(2).unwrap_or(line).trim_end();
    if let Ok(c) = std::ffi::CString::new(text) {
        // SAFETY: both strings are valid and NUL-terminated; "%s" consumes exactly one.
        unsafe { libc::syslog(priority, c"%s".as_ptr(), c.as_ptr()) };
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC, as OVS writes it.
pub fn timestamp_now() -> String {
    format_system_time(SystemTime::now())
}

pub fn format_system_time(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format_timestamp(since.as_secs() as i64, since.subsec_millis())
}

fn format_timestamp(secs: i64, millis: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z", rem / 3600, (rem % 3600) / 60, rem % 60)
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> BTreeSet<String> {
        ["flowctl", "ovsdb", "unixctl"].iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn timestamps_match_ovs_format() {
        assert_eq!(format_timestamp(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_timestamp(1_795_851_890, 123), "2026-11-28T07:44:50.123Z");
        assert_eq!(format_timestamp(951_782_400, 5), "2000-02-29T00:00:00.005Z");
    }

    #[test]
    fn specs_follow_ovs_grammar() {
        let mut l = Levels::default();
        l.apply_spec("console:off", &known()).unwrap();
        assert_eq!(l.level("ovsdb", Destination::Console), Level::Off);
        assert_eq!(l.level("ovsdb", Destination::File), Level::Info);
        l.apply_spec("ovsdb:file:dbg", &known()).unwrap();
        assert_eq!(l.level("ovsdb", Destination::File), Level::Dbg);
        assert_eq!(l.level("unixctl", Destination::File), Level::Info);
        l.apply_spec("warn:ANY:unixctl", &known()).unwrap();
        assert_eq!(l.level("unixctl", Destination::Syslog), Level::Warn);
        l.apply_spec("", &known()).unwrap();
        assert_eq!(l.level("unixctl", Destination::Console), Level::Dbg);
        assert!(l.apply_spec("nosuch:dbg", &known()).is_err());
        assert!(l.apply_spec("info:warn", &known()).is_err());
        assert!(l.apply_spec("console:file", &known()).is_err());
    }

    #[test]
    fn list_renders_a_row_per_module() {
        let text = Levels::default().render(&known());
        assert!(text.starts_with("                 console    syslog    file\n"));
        assert!(text.contains("\novsdb             INFO       INFO       INFO\n"), "{text}");
    }

    #[test]
    fn module_comes_from_the_target() {
        assert_eq!(module_of("shared::ovsdb::client", "flowctl"), "ovsdb");
        assert_eq!(module_of("flowctl", "flowctl"), "flowctl");
    }
}
