//! OVS daemon conventions: --detach (the parent returns once the daemon is ready) and a
//! pidfile held with a POSIX write lock, which is what ovs-appctl checks to find us.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::unistd::{fork, pipe, setsid, ForkResult};

/// Forks; the parent waits for the daemon's "ready" byte and exits, so this returns only in
/// the daemon, with the pipe to signal on. Must be called while single-threaded.
pub fn detach() -> Result<File, String> {
    let (read, write) = pipe().map_err(|e| format!("pipe: {e}"))?;
    // SAFETY: called from main before any thread or runtime exists.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Parent { .. } => {
            drop(write);
            let mut byte = [0u8; 1];
            let mut pipe = File::from(read);
            match pipe.read(&mut byte) {
                Ok(1) if byte[0] == b'R' => std::process::exit(0),
                Ok(1) => std::process::exit(i32::from(byte[0])),
                _ => {
                    eprintln!("chassisd: daemon exited before it was ready (see its log)");
                    std::process::exit(1)
                }
            }
        }
        ForkResult::Child => {
            drop(read);
            setsid().map_err(|e| format!("setsid: {e}"))?;
            Ok(File::from(write))
        }
    }
}

/// Tells the waiting parent we are ready, then lets go of the terminal.
pub fn complete(mut pipe: File, chdir: bool) {
    let _ = pipe.write_all(b"R");
    drop(pipe);
    if chdir {
        let _ = std::env::set_current_dir("/");
    }
    if let Ok(null) = OpenOptions::new().read(true).write(true).open("/dev/null") {
        for fd in 0..=2 {
            // SAFETY: dup2 onto the standard descriptors, which this process owns.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
}

/// The pidfile, locked for as long as this value lives; removed when dropped.
pub struct Pidfile {
    path: PathBuf,
    _lock: OwnedFd,
}

impl Drop for Pidfile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn whole_file_lock(kind: libc::c_short) -> libc::flock {
    // SAFETY: flock is plain old data; all-zero is a valid value before the fields are set.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock
}

/// The pid holding a write lock on `path`, if any: that is a live daemon.
fn locked_by(path: &Path) -> Option<i32> {
    let file = File::open(path).ok()?;
    let mut lock = whole_file_lock(libc::F_WRLCK as libc::c_short);
    // SAFETY: F_GETLK with a valid flock pointer on an open fd.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut lock) };
    (rc == 0 && lock.l_type != libc::F_UNLCK as libc::c_short).then_some(lock.l_pid)
}

/// Creates the pidfile as OVS does: write and lock a temporary file, refuse if a live daemon
/// holds the real one (unless `overwrite`), then rename it into place.
pub fn create_pidfile(path: &Path, overwrite: bool) -> Result<Pidfile, String> {
    if !overwrite {
        if let Some(pid) = locked_by(path) {
            return Err(format!("{}: already running as pid {pid}, aborting", path.display()));
        }
    }
    let tmp = path.with_extension(format!("pid.tmp{}", std::process::id()));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| format!("{}: create failed: {e}", tmp.display()))?;
    let lock = whole_file_lock(libc::F_WRLCK as libc::c_short);
    // SAFETY: F_SETLK with a valid flock pointer on an open fd.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &lock) } != 0 {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("{}: fcntl lock failed: {}", tmp.display(), std::io::Error::last_os_error()));
    }
    let written = writeln!(file, "{}", std::process::id()).and_then(|_| file.flush());
    if let Err(e) = written.and_then(|_| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("{}: {e}", path.display()));
    }
    Ok(Pidfile { path: path.to_path_buf(), _lock: OwnedFd::from(file) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pidfile_holds_our_pid_and_a_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pid");
        let pidfile = create_pidfile(&path, false).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{}\n", std::process::id()));
        // POSIX locks are per process: the holder sees its own lock as absent, so check the
        // stale-file path instead: after drop the file is gone.
        drop(pidfile);
        assert!(!path.exists());
    }

    #[test]
    fn a_stale_pidfile_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pid");
        std::fs::write(&path, "999999\n").unwrap();
        let _pidfile = create_pidfile(&path, false).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{}\n", std::process::id()));
    }
}
