//! Who writes the Raft log's WAL, and where its fsync runs (`--wal-writer`):
//! - on the writer thread: it drains whatever is queued, appends it, fsyncs once, then
//!   acknowledges every append in the batch (group commit). The async runtime never
//!   blocks on the disk, at the price of two thread hand-offs per batch (runtime to
//!   writer, writer back to runtime), each a context switch when the other side sleeps;
//! - inline: an append is written at once on the runtime thread that made it, and one
//!   fsync, run on that same thread after every task already ready there has run,
//!   covers all of them (group commit without a hand-off). The runtime blocks for the
//!   fsync, as redis-server's one thread does with `appendfsync always`.
//!
//! `auto` appends inline while the node follows and through the thread while it leads,
//! unless the leader has a lone writer (see `WalWriter::Auto`). Either way an append is
//! acknowledged only after an fsync that covers it, and appends reach the WAL in
//! submission order: an inline append waits its turn (goes to the thread) while anything
//! sent to the thread is unwritten.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};

use bytes::Bytes;
use openraft::storage::IOFlushed;
use tokio::sync::oneshot;

use super::types::TypeConfig;
use super::wal::Wal;

/// Where the WAL's writes and fsyncs run (`--wal-writer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WalWriter {
    /// A dedicated thread group-commits; the runtime never waits on the disk.
    Thread,
    /// The runtime thread writes and fsyncs itself, once per burst of appends.
    Inline,
    /// Inline while following (a follower's runtime has nothing better to do during
    /// its fsync), the thread while leading (the leader's runtime serves clients
    /// meanwhile). Measured best of the three (README, Benchmarks). A leader whose
    /// appends have lately carried one client write each (a lone writer) still appends
    /// inline: its runtime has nothing to overlap with the fsync, and the thread's two
    /// hand-offs were a third of its context switches per request (README, issue 19).
    /// The fsync still runs after the tasks already ready, so the followers get the
    /// entry first.
    #[default]
    Auto,
}

/// Records for the WAL: `(index, encoded entry)`.
pub type Records = Vec<(u64, Bytes)>;
type Flushed = IOFlushed<TypeConfig>;

/// The WAL's writer: a thread, or the caller's own thread, chosen per append.
pub struct LogWriter {
    shared: Arc<Shared>,
    jobs: mpsc::Sender<Job>,
    /// Append inline (when nothing is queued for the thread).
    inline: AtomicBool,
    /// Append a lone writer's writes inline even while `inline` is off (`WalWriter::Auto`).
    lone_write_inline: bool,
    /// Client writes per append, a moving average (x256): a single write in an append
    /// after a large batch is a straggler of a busy load, not a lone writer. Inline
    /// writes there stalled the leader's runtime behind each straggler's fsync while the
    /// next batch piled up (-15% at 50 clients).
    writes_per_append: AtomicU32,
}

/// `writes_per_append` fixed point, and the average at or below which a leader's single
/// writes go inline.
const AVERAGE_ONE: u32 = 256;
const LONE_WRITER_AVERAGE: u32 = AVERAGE_ONE * 3 / 2;

/// What the writer thread and inline appends share.
struct Shared {
    state: Mutex<WalState>,
    /// Jobs sent to the thread and not yet written: an inline append must not overtake them.
    queued: AtomicUsize,
    /// An inline flush task is spawned and has not yet taken the unsynced appends.
    flush_scheduled: AtomicBool,
}

impl LogWriter {
    pub fn start(wal: Wal, kind: WalWriter) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(WalState {
                wal,
                unsynced: Vec::new(),
                failed: None,
            }),
            queued: AtomicUsize::new(0),
            flush_scheduled: AtomicBool::new(false),
        });
        let (jobs, rx) = mpsc::channel();
        let for_thread = shared.clone();
        std::thread::Builder::new().name("wal-writer".into()).spawn(move || {
            dont_preempt_on_wake_up();
            run_thread(&for_thread, rx)
        })?;
        Ok(LogWriter {
            shared,
            jobs,
            // Auto starts as a follower does; the node switches it when it leads.
            inline: AtomicBool::new(kind != WalWriter::Thread),
            lone_write_inline: kind == WalWriter::Auto,
            writes_per_append: AtomicU32::new(AVERAGE_ONE),
        })
    }

    /// Chooses where later appends go (`WalWriter::Auto` follows the node's role).
    pub fn set_inline(&self, inline: bool) {
        self.inline.store(inline, Ordering::Relaxed);
    }

    /// Queues `records`, which carry `writes` client writes; `flushed` fires once an
    /// fsync covers them (or they failed).
    pub fn append(&self, records: Records, writes: usize, flushed: Flushed) -> std::io::Result<()> {
        if self.inline.load(Ordering::Relaxed) || (self.lone_write_inline && self.lone_writer(writes)) {
            let mut st = self.shared.lock();
            // Checked under the lock, which the thread holds while it writes.
            if self.shared.queued.load(Ordering::Acquire) == 0 {
                st.append(&records, flushed);
                drop(st);
                self.shared.schedule_flush();
                return Ok(());
            }
        }
        self.send(Job::Append { records, flushed })
    }

    /// Whether this append, of `writes` client writes, comes from a lone writer; keeps
    /// the average. Appends come one at a time from Raft's core, so relaxed is enough.
    fn lone_writer(&self, writes: usize) -> bool {
        // Capped so that the fixed point cannot overflow; any large batch counts as busy.
        let sample = writes.min(4096) as u32 * AVERAGE_ONE;
        let average = self.writes_per_append.load(Ordering::Relaxed);
        let average = average - average / 8 + sample / 8;
        self.writes_per_append.store(average, Ordering::Relaxed);
        writes <= 1 && average <= LONE_WRITER_AVERAGE
    }

    /// Cuts the log from index `from` on, after earlier appends are durable.
    pub async fn truncate(&self, from: u64) -> std::io::Result<()> {
        let (done, wait) = oneshot::channel();
        self.send(Job::Truncate { from, done })?;
        wait.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// Removes whole segments up to `upto` (the snapshot covers them).
    pub fn purge(&self, upto: u64) -> std::io::Result<()> {
        self.send(Job::Purge { upto })
    }

    fn send(&self, job: Job) -> std::io::Result<()> {
        self.shared.queued.fetch_add(1, Ordering::AcqRel);
        self.jobs.send(job).map_err(|_| {
            self.shared.queued.fetch_sub(1, Ordering::AcqRel);
            stopped()
        })
    }
}

/// The writer thread is woken as the leader's runtime hands it a batch, while that
/// runtime still has the batch's AppendEntries to send. On a busy machine the wake-up
/// preempted the runtime on its own CPU, and the followers got the batch later.
/// `SCHED_BATCH` keeps the thread's share of the CPU but not the right to preempt on
/// wake-up; it runs when the runtime sleeps, or on a free CPU. Measured at 1 client:
/// one context switch fewer per request, p50 2.03x against 2.34x redis-always (median of
/// five alternating rounds, README, issue 19). Best effort: a refusal changes nothing
/// else.
#[allow(unsafe_code)]
fn dont_preempt_on_wake_up() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: sets this thread's own scheduling policy; `param` outlives the call.
        let _ = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
    }
}

fn stopped() -> std::io::Error {
    std::io::Error::other("wal writer stopped")
}

fn purge(wal: &mut Wal, upto: u64) {
    if let Err(e) = wal.purge_upto(upto) {
        // The WAL is poisoned now: later appends fail and the node stops taking writes
        // rather than risk the log. Say so loudly.
        tracing::error!(error = %e, upto, "wal purge failed; the log refuses further writes");
    }
}

/// Work for the writer thread, processed strictly in submission order.
pub enum Job {
    Append {
        records: Records,
        flushed: Flushed,
    },
    Truncate {
        from: u64,
        done: oneshot::Sender<std::io::Result<()>>,
    },
    Purge {
        upto: u64,
    },
}

/// The WAL with the appends no fsync has covered yet.
struct WalState {
    wal: Wal,
    unsynced: Vec<Flushed>,
    /// The first failure since the last flush: every append it covers fails with it.
    failed: Option<String>,
}

impl WalState {
    fn append(&mut self, records: &Records, flushed: Flushed) {
        if self.failed.is_none() {
            let refs: Vec<(u64, &[u8])> = records.iter().map(|(i, b)| (*i, b.as_ref())).collect();
            if let Err(e) = self.wal.append(&refs) {
                self.failed = Some(e.to_string());
            }
        }
        self.unsynced.push(flushed);
    }

    /// One fsync for every unsynced append, then their acknowledgements.
    fn flush(&mut self) {
        if self.unsynced.is_empty() {
            return;
        }
        if self.failed.is_none() {
            let since = std::time::Instant::now();
            match self.wal.sync() {
                Ok(()) => crate::timings::WAL_FSYNC.record(since, self.unsynced.len() as u64),
                Err(e) => self.failed = Some(e.to_string()),
            }
        }
        let failed = self.failed.take();
        for cb in self.unsynced.drain(..) {
            match &failed {
                None => cb.io_completed(Ok(())),
                Some(msg) => cb.io_completed(Err(std::io::Error::other(msg.clone()))),
            }
        }
    }
}

/// The writer thread: drains whatever is queued, appends it, fsyncs once, then
/// acknowledges every append in the batch. This is the group commit. Truncations and
/// purges always come here, so they stay in order with the appends around them.
fn run_thread(shared: &Shared, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
            if batch.len() >= 4096 {
                break;
            }
        }
        let mut st = shared.lock();
        for job in batch {
            match job {
                Job::Append { records, flushed } => st.append(&records, flushed),
                Job::Truncate { from, done } => {
                    // Earlier appends must be durable (and acknowledged) before they are cut.
                    st.flush();
                    let r = st.wal.truncate_from(from).map_err(std::io::Error::other);
                    let _ = done.send(r);
                }
                Job::Purge { upto } => purge(&mut st.wal, upto),
            }
            shared.queued.fetch_sub(1, Ordering::AcqRel);
        }
        st.flush();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, WalState> {
        // Poisoned: a panic mid-write elsewhere. The WAL poisons itself on a failed
        // write, so what it holds is still safe to use or to refuse.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn schedule_flush(self: &Arc<Self>) {
        if self.flush_scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            // Everything already ready on this thread runs first (more AppendEntries
            // read from the same socket buffer, more proposals), so one fsync covers
            // all of it. yield_now defers the wake-up until the runtime has also
            // polled its I/O driver.
            tokio::task::yield_now().await;
            me.flush_scheduled.store(false, Ordering::Release);
            me.lock().flush();
        });
    }
}

#[cfg(test)]
mod tests {
    use openraft::type_config::TypeConfigExt;

    use super::*;
    use crate::raft::wal::{Wal, WalOptions};

    fn records(from: u64, to: u64) -> Records {
        (from..=to).map(|i| (i, Bytes::from(format!("entry {i}")))).collect()
    }

    /// Appends `from..=to` and returns the wait for its acknowledgement.
    fn append(w: &LogWriter, from: u64, to: u64) -> impl std::future::Future<Output = std::io::Result<()>> {
        let (tx, rx) = TypeConfig::oneshot();
        let writes = (to + 1 - from) as usize;
        let sent = w.append(records(from, to), writes, IOFlushed::signal(tx));
        async move {
            sent?;
            rx.await.map_err(std::io::Error::other)?
        }
    }

    /// Switching between inline and thread writes keeps the log in order, whatever is
    /// still queued for the thread; every append is acknowledged, and what was
    /// acknowledged is what a reopen finds. Whether the thread has written 4-5 when 6
    /// arrives is a race, so the switch is run many times.
    #[tokio::test(flavor = "current_thread")]
    async fn inline_and_thread_appends_stay_in_order_and_durable() {
        for _ in 0..30 {
            switch_back_and_forth().await;
        }
    }

    async fn switch_back_and_forth() {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = WalOptions::default();
        let (wal, _) = Wal::open(dir.path(), opts.clone()).expect("open");
        let w = LogWriter::start(wal, WalWriter::Auto).expect("start");
        append(&w, 1, 3).await.expect("inline append");
        w.set_inline(false);
        let threaded = append(&w, 4, 5);
        // Inline again at once: 4-5 may still sit in the thread's queue, and 6-8 must
        // not overtake them.
        w.set_inline(true);
        let mut waits = vec![Box::pin(threaded) as std::pin::Pin<Box<dyn std::future::Future<Output = _>>>];
        for i in 0..3 {
            waits.push(Box::pin(append(&w, 6 + i, 6 + i)));
        }
        for wait in waits {
            wait.await.expect("append acknowledged");
        }
        w.truncate(8).await.expect("truncate");
        append(&w, 8, 9).await.expect("append after truncate");
        w.set_inline(false);
        append(&w, 10, 11).await.expect("thread append");
        drop(w);
        let (_, recovered) = Wal::open(dir.path(), opts).expect("reopen");
        let indexes: Vec<u64> = recovered.iter().map(|r| r.0).collect();
        assert_eq!(indexes, (1..=11).collect::<Vec<_>>());
        assert_eq!(recovered[7].1, b"entry 8");
    }

    /// While leading, lone writes go inline and larger appends to the thread: a lone
    /// write sent while a larger append still waits for the thread must not overtake it.
    #[tokio::test(flavor = "current_thread")]
    async fn a_leaders_lone_writes_do_not_overtake_its_batches() {
        for _ in 0..30 {
            let dir = tempfile::tempdir().expect("tempdir");
            let (wal, _) = Wal::open(dir.path(), WalOptions::default()).expect("open");
            let w = LogWriter::start(wal, WalWriter::Auto).expect("start");
            w.set_inline(false);
            let mut waits = Vec::new();
            let mut next = 1;
            for round in 0..10u64 {
                let len = if round % 2 == 0 { 3 } else { 1 };
                waits.push(Box::pin(append(&w, next, next + len - 1)));
                next += len;
            }
            for wait in waits {
                wait.await.expect("append acknowledged");
            }
            drop(w);
            let (_, recovered) = Wal::open(dir.path(), WalOptions::default()).expect("reopen");
            let indexes: Vec<u64> = recovered.iter().map(|r| r.0).collect();
            assert_eq!(indexes, (1..next).collect::<Vec<_>>());
        }
    }

    /// A failed write fails its own acknowledgement instead of being reported durable.
    #[tokio::test(flavor = "current_thread")]
    async fn an_append_that_does_not_continue_the_log_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (wal, _) = Wal::open(dir.path(), WalOptions::default()).expect("open");
        let w = LogWriter::start(wal, WalWriter::Inline).expect("start");
        append(&w, 1, 2).await.expect("append");
        assert!(append(&w, 5, 5).await.is_err(), "a gap must not be acknowledged");
    }
}
