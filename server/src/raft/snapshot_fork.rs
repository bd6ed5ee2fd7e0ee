//! Encoding a snapshot from a frozen view of the state, so applies never wait for it.
//!
//! Encoding a large state takes tens of milliseconds (~35 ms per million objects), and
//! it must see one consistent state. Encoding under the state's read lock stalled
//! every apply behind it (measured: 187 ms pauses with a million held locks). Instead
//! the node forks while it holds the read lock: the child gets a copy-on-write image
//! of memory frozen at that instant, encodes it and writes the snapshot file, while the
//! parent releases the lock at once (the fork itself copies page tables only, a few
//! milliseconds for a few hundred MiB). redis-server's BGSAVE works the same way.
//!
//! Why a fork is safe here although the process has other threads: the child runs
//! only this module's code (encoding, file writes, `_exit`). It never touches a lock
//! another thread could have held at the fork (no logging, no runtime, no channels),
//! except the allocator's, and glibc's fork takes and resets malloc's locks around the
//! fork for exactly this use. It exits with `_exit`, so no destructor or exit handler
//! of the parent's runs twice.

// The crate denies unsafe code; fork, waitpid and _exit are the exception, kept here.
#![allow(unsafe_code)]

use std::io;
use std::path::Path;

/// How much of the snapshot file the child writes before it waits for the disk.
/// Written all at once, a file of a hundred megabytes sat in the disk's queue ahead
/// of the nodes' WAL fsyncs, which waited behind it (lock-cycle max 40-60 ms while
/// snapshots of a million locks were written, 10 ms without snapshots).
const PIECE: usize = 1 << 20;

/// `ioprio_set(IOPRIO_WHO_PROCESS, ...)` and `IOPRIO_PRIO_VALUE(IOPRIO_CLASS_IDLE, 0)`:
/// the child's I/O goes last where the block scheduler ranks by priority.
const IOPRIO_WHO_PROCESS: libc::c_long = 1;
const IOPRIO_IDLE: libc::c_long = 3 << 13;

/// Pushes one written piece to the disk and waits for it, so the page cache never holds
/// more than one piece of the snapshot waiting to be written.
fn write_out(file: &std::fs::File, offset: u64, len: usize) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER;
    let (offset, len) = (offset as libc::off64_t, len as libc::off64_t);
    // SAFETY: the fd is open for the call's duration; the call only starts and awaits writeback.
    if unsafe { libc::sync_file_range(file.as_raw_fd(), offset, len, flags) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A child encoding a snapshot.
pub struct Child {
    pid: libc::pid_t,
}

/// Forks a child that writes `encode()`'s bytes to `tmp` and fsyncs them
/// (`durable_file::write_temp`; the parent publishes them). Call with the state frozen
/// (its lock held); the lock may be released as soon as this returns. `None` when fork
/// is unavailable: the caller must encode in-process.
pub fn spawn(tmp: &Path, encode: impl FnOnce() -> Result<Vec<u8>, postcard::Error>) -> Option<Child> {
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: see the module comment; the child only encodes, writes and `_exit`s.
    match unsafe { libc::fork() } {
        -1 => {
            tracing::warn!(error = %io::Error::last_os_error(), "fork for snapshot failed; encoding in-process");
            None
        }
        0 => {
            // A child that outlived its node would hold the data dir's lock and could
            // write beside the node's next run: it dies with its parent. (Checked
            // after asking, in case the parent died first.) Linux sends this signal
            // when the forking *thread* ends, not the process; that thread is the one
            // blocked in `Child::wait` until the child exits, so it cannot end first
            // unless the whole process does.
            // SAFETY: prctl and getppid only affect and read this process.
            let orphan =
                unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 || libc::getppid() != parent };
            if orphan {
                // SAFETY: ends the child without running the parent's exit handlers.
                unsafe { libc::_exit(2) }
            }
            // Run only on otherwise idle CPU time: on a busy machine the child would
            // otherwise take cores from the nodes' request paths. A snapshot that
            // takes longer only keeps the log in memory a little longer.
            let idle = libc::sched_param { sched_priority: 0 };
            // SAFETY: changes only this (child) process's own scheduling policy.
            let _ = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &idle) };
            // SAFETY: changes only this (child) process's own I/O priority.
            let _ = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, IOPRIO_IDLE) };
            let ok = encode()
                .map_err(io::Error::other)
                .and_then(|bytes| super::durable_file::write_temp_paced(tmp, &bytes, PIECE, write_out))
                .is_ok();
            // SAFETY: ends the child without running the parent's exit handlers.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        pid => Some(Child { pid }),
    }
}

impl Child {
    /// Blocks until the child is done; Ok when it wrote the snapshot file.
    pub fn wait(self) -> io::Result<()> {
        let mut status: libc::c_int = 0;
        loop {
            // SAFETY: waits for our own child, whose pid we hold.
            let r = unsafe { libc::waitpid(self.pid, &mut status, 0) };
            if r == self.pid {
                break;
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
        if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "snapshot child failed (wait status {status})"
            )))
        }
    }
}
