//! openraft's view of the state machine: applies committed entries to the pure
//! `sm::StateMachine`, builds and installs snapshots (one durable file), and tells the
//! node what an apply changed (waiter outcomes, next deadlines).

use std::io::Cursor;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use futures::{Stream, StreamExt};
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder};

use super::durable_file;
use super::snapshot_file::{SnapshotFile, StoredSnapshot};
use super::types::{LogId, Snapshot, SnapshotData, SnapshotMeta, StoredMembership, TypeConfig};
use crate::sm::{Event, Millis, StateMachine};

/// Deadlines the leader must propose a Tick for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deadlines {
    pub waiter: Option<Millis>,
    pub gc: Option<Millis>,
}

/// Told about every applied batch, on every replica.
pub trait ApplyObserver: Send + Sync + 'static {
    fn applied(&self, events: Vec<Event>, deadlines: Deadlines, last_applied: Option<LogId>);
}

/// State that reads share with the apply loop.
#[derive(Default)]
pub struct SmState {
    pub sm: StateMachine,
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
}

struct Shared {
    state: RwLock<SmState>,
    /// Client operations applied since the last snapshot: entries carry batches, so
    /// the snapshot cadence follows operations, not entries.
    ops_since_snapshot: AtomicU64,
    /// Bumped whenever the ACL users may have changed (an ACL entry applied, a
    /// snapshot installed): connections re-read their user when it moves, and never
    /// look the user up otherwise.
    acl_epoch: AtomicU64,
    observer: Arc<dyn ApplyObserver>,
    snapshot: SnapshotFile,
}

/// Cheap to clone; shared between openraft and the node's readers.
#[derive(Clone)]
pub struct StateMachineStore {
    shared: Arc<Shared>,
}

impl StateMachineStore {
    /// Loads the last snapshot under `dir` (if any); the log replays the rest.
    pub fn open(dir: &Path, observer: Arc<dyn ApplyObserver>) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let (snapshot, stored) = SnapshotFile::open(dir)?;
        let mut state = SmState::default();
        if let Some(stored) = stored {
            state.sm = postcard::from_bytes(&stored.data)?;
            state.last_applied = stored.meta.last_log_id;
            state.membership = stored.meta.last_membership.clone();
            tracing::info!(last_applied = ?state.last_applied, "snapshot loaded");
        }
        Ok(Self {
            shared: Arc::new(Shared {
                state: RwLock::new(state),
                ops_since_snapshot: AtomicU64::new(0),
                acl_epoch: AtomicU64::new(1),
                observer,
                snapshot,
            }),
        })
    }

    /// Writes `data` (a state machine's snapshot encoding) as the snapshot under `dir`,
    /// covering the log up to `meta`'s log id: what `fencepost restore` leaves for a
    /// new node to start from.
    pub fn write_restored(dir: &Path, meta: SnapshotMeta, data: Vec<u8>) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)?;
        let _: StateMachine = postcard::from_bytes(&data)?;
        let bytes = postcard::to_allocvec(&StoredSnapshot { meta, data })?;
        durable_file::write_atomic(&dir.join("snapshot"), &bytes)?;
        Ok(())
    }

    /// Client operations applied since the last snapshot was built or installed.
    pub fn ops_since_snapshot(&self) -> u64 {
        self.shared.ops_since_snapshot.load(Ordering::Relaxed)
    }

    /// The ACL epoch: it moves whenever the replicated users may have changed.
    pub fn acl_epoch(&self) -> u64 {
        self.shared.acl_epoch.load(Ordering::Acquire)
    }

    /// Read access for linearizable reads (taken after ReadIndex).
    pub fn read(&self) -> RwLockReadGuard<'_, SmState> {
        self.shared.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, SmState> {
        self.shared.state.write().unwrap_or_else(|p| p.into_inner())
    }

    fn notify(&self, events: Vec<Event>) {
        let (deadlines, last_applied) = {
            let st = self.read();
            (
                Deadlines {
                    waiter: st.sm.next_waiter_deadline(),
                    gc: st.sm.next_gc_deadline(),
                },
                st.last_applied,
            )
        };
        self.shared.observer.applied(events, deadlines, last_applied);
    }

    /// Publishes an installed snapshot (off the async runtime) and hands it back, so
    /// its data is never copied just to be kept.
    async fn persist_installed(&self, stored: StoredSnapshot) -> std::io::Result<StoredSnapshot> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            me.shared.snapshot.install(&stored)?;
            Ok::<StoredSnapshot, std::io::Error>(stored)
        })
        .await
        .map_err(std::io::Error::other)?
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> std::io::Result<Snapshot> {
        // Off the async runtime: the fork and the wait block, and the in-process
        // fallback encodes for tens of milliseconds.
        let me = self.clone();
        let started = std::time::Instant::now();
        let snapshot = tokio::task::spawn_blocking(move || me.encode_snapshot())
            .await
            .map_err(std::io::Error::other)??;
        crate::metrics::METRICS.snapshot_seconds.observe(started.elapsed());
        tracing::info!(last = ?snapshot.meta.last_log_id, "snapshot built");
        Ok(snapshot)
    }
}

impl StateMachineStore {
    /// Writes the snapshot file from a forked child that sees the state as it is now,
    /// so applies go on meanwhile (`snapshot_fork`). Falls back to encoding under the
    /// read lock if the child fails.
    ///
    /// The snapshot handed back carries no data when the child wrote it: openraft
    /// 0.10 keeps only a built snapshot's meta (`core/sm/worker.rs`, `build_snapshot`)
    /// and reads the file through `get_current_snapshot` when it sends one, so reading
    /// tens of MiB back here would only cost CPU and memory.
    fn encode_snapshot(&self) -> std::io::Result<Snapshot> {
        let file = &self.shared.snapshot;
        let (meta, child) = {
            let st = self.read();
            let frozen = std::time::Instant::now();
            self.shared.ops_since_snapshot.store(0, Ordering::Relaxed);
            let meta = SnapshotMeta {
                last_log_id: st.last_applied,
                last_membership: st.membership.clone(),
            };
            let child = file.fork_build(|| {
                let data = postcard::to_allocvec(&st.sm)?;
                postcard::to_allocvec(&StoredSnapshot {
                    meta: meta.clone(),
                    data,
                })
            });
            drop(st);
            // What applies waited for (the fork), as opposed to the whole build.
            tracing::info!(
                held_ms = frozen.elapsed().as_secs_f64() * 1e3,
                "snapshot state frozen by fork"
            );
            (meta, child)
        };
        let forked = match child.map(|c| c.wait()) {
            Some(Ok(())) => file.finish_build(&meta),
            Some(Err(e)) => Err(e),
            None => Err(std::io::Error::other("fork unavailable")),
        };
        match forked {
            Ok(meta) => Ok(Snapshot {
                meta,
                snapshot: Cursor::new(Vec::new()),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "forked snapshot failed; encoding under the read lock");
                let st = self.read();
                let stored = StoredSnapshot {
                    meta: SnapshotMeta {
                        last_log_id: st.last_applied,
                        last_membership: st.membership.clone(),
                    },
                    data: postcard::to_allocvec(&st.sm).map_err(std::io::Error::other)?,
                };
                drop(st);
                Ok(Snapshot {
                    meta: file.write_built(&stored)?,
                    snapshot: Cursor::new(Vec::new()),
                })
            }
        }
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = StateMachineStore;

    async fn applied_state(&mut self) -> std::io::Result<(Option<LogId>, StoredMembership)> {
        let st = self.read();
        Ok((st.last_applied, st.membership.clone()))
    }

    /// Applies what is ready in one write-lock hold, then answers the proposers and
    /// tells the node what changed (waiter outcomes, deadlines).
    async fn apply<Strm>(&mut self, mut entries: Strm) -> std::io::Result<()>
    where
        Strm: Stream<Item = std::io::Result<EntryResponder<TypeConfig>>> + Unpin + OptionalSend,
    {
        let mut events = Vec::new();
        let mut answers = Vec::new();
        let mut acl_changed = false;
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            let reply = {
                let mut st = self.write();
                st.last_applied = Some(entry.log_id);
                match entry.payload {
                    EntryPayload::Blank => Vec::new(),
                    EntryPayload::Normal(ref batch) => {
                        let index = entry.log_id.index;
                        self.shared
                            .ops_since_snapshot
                            .fetch_add(batch.0.len() as u64, Ordering::Relaxed);
                        if batch.0.iter().any(|req| req.op.changes_acl()) {
                            // Published after the write lock is released below, so a
                            // reader that sees the new epoch also sees the new users.
                            acl_changed = true;
                        }
                        batch.0.iter().map(|req| st.sm.apply(index, req, &mut events)).collect()
                    }
                    EntryPayload::Membership(ref m) => {
                        st.membership = StoredMembership::new(Some(entry.log_id), m.clone());
                        Vec::new()
                    }
                }
            };
            if let Some(r) = responder {
                answers.push((r, reply));
            }
        }
        if acl_changed {
            self.shared.acl_epoch.fetch_add(1, Ordering::Release);
        }
        for (r, reply) in answers {
            r.send(reply);
        }
        self.notify(events);
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(&mut self, meta: &SnapshotMeta, snapshot: SnapshotData) -> std::io::Result<()> {
        let data = snapshot.into_inner();
        let sm: StateMachine = postcard::from_bytes(&data).map_err(std::io::Error::other)?;
        self.persist_installed(StoredSnapshot {
            meta: meta.clone(),
            data,
        })
        .await?;
        let old = {
            let mut st = self.write();
            st.last_applied = meta.last_log_id;
            st.membership = meta.last_membership.clone();
            std::mem::replace(&mut st.sm, sm)
        };
        // Freeing a large state takes a while: not while holding the lock.
        drop(old);
        self.shared.acl_epoch.fetch_add(1, Ordering::Release);
        self.shared.ops_since_snapshot.store(0, Ordering::Relaxed);
        self.notify(Vec::new());
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> std::io::Result<Option<Snapshot>> {
        Ok(self.shared.snapshot.read()?.map(|stored| Snapshot {
            meta: stored.meta,
            snapshot: Cursor::new(stored.data),
        }))
    }
}
