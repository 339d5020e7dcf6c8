//! The guard: cleans up a sandbox whose test process died before `Drop` could run.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};

use crate::cmd::search_path;
use crate::sandbox::Keep;

/// Runs beside each sandbox, in its own process group (so a terminal's Ctrl-C does not reach
/// it) and without the sandbox environment (so the stray scan never matches it). It learns each
/// daemon's "pid:starttime" on stdin. "done" means the sandbox cleaned up itself. EOF without
/// "done" means the test process died before Drop could run (SIGKILL, nextest timeout,
/// Ctrl-C): then it stops those daemons and anything carrying the sandbox's OVN_RUNDIR, and
/// removes the directory.
const GUARD_SCRIPT: &str = r#"
dir=$1 marker=$2 keep=$3 pids=
while read -r line; do
  [ "$line" = done ] && exit 0
  pids="$pids $line"
done
same() {
  want=$2
  stat=$(cat /proc/$1/stat 2>/dev/null) || return 1
  set -- $stat
  [ "$3" != Z ] && [ "${22}" = "$want" ]
}
strays() {
  for e in /proc/[0-9]*/environ; do
    p=${e#/proc/}; p=${p%/environ}
    [ "$p" = $$ ] && continue
    grep -qzF "$marker" "$e" 2>/dev/null && echo "$p"
  done
}
for sig in TERM KILL; do
  for p in $pids; do same "${p%:*}" "${p#*:}" && kill -$sig "${p%:*}" 2>/dev/null; done
  for p in $(strays); do kill -$sig "$p" 2>/dev/null; done
  i=0
  while [ $i -lt 30 ]; do
    alive=
    for p in $pids; do same "${p%:*}" "${p#*:}" && alive=1; done
    [ -z "$alive" ] && [ -z "$(strays)" ] && break
    sleep 0.1; i=$((i+1))
  done
done
[ "$keep" = 1 ] || rm -rf "$dir"
"#;

pub(crate) fn spawn_guard(dir: &Path, marker: &str, keep: Keep) -> Option<(Child, ChildStdin)> {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(GUARD_SCRIPT)
        .arg("chassisd-sandbox-guard")
        .arg(dir)
        .arg(marker)
        .arg(if keep == Keep::Never { "0" } else { "1" })
        .env_clear()
        .env("PATH", search_path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .ok()?;
    let stdin = child.stdin.take()?;
    Some((child, stdin))
}
