//! The node's one snapshot file, written by two paths that may overlap: a snapshot this
//! node builds (encoded by a forked child, `snapshot_fork`) and one it installs from the
//! leader. Every replacement is published under one lock and only if it is not older
//! than what the file holds, so a slow build can never put an older snapshot over a
//! newer installed one (the log is purged up to the newer one: a restart would find a
//! gap between the snapshot and the log).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use super::durable_file;
use super::snapshot_fork;
use super::types::SnapshotMeta;

/// The state machine as stored in a snapshot file.
#[derive(Serialize, Deserialize)]
pub struct StoredSnapshot {
    pub meta: SnapshotMeta,
    pub data: Vec<u8>,
}

pub struct SnapshotFile {
    path: PathBuf,
    /// Where a forked build writes before it is published.
    building: PathBuf,
    /// Where an install writes before it is published.
    installing: PathBuf,
    /// What the published file holds (its meta); held while publishing.
    published: Mutex<Option<SnapshotMeta>>,
}

impl SnapshotFile {
    /// The snapshot file `snapshot` under `dir`, and what it holds (if anything).
    pub fn open(dir: &Path) -> anyhow::Result<(SnapshotFile, Option<StoredSnapshot>)> {
        let path = dir.join("snapshot");
        let stored = match durable_file::read_checked(&path)? {
            Some(bytes) => Some(postcard::from_bytes::<StoredSnapshot>(&bytes)?),
            None => None,
        };
        let file = SnapshotFile {
            building: dir.join("snapshot.building"),
            installing: dir.join("snapshot.installing"),
            published: Mutex::new(stored.as_ref().map(|s| s.meta.clone())),
            path,
        };
        Ok((file, stored))
    }

    fn lock(&self) -> MutexGuard<'_, Option<SnapshotMeta>> {
        self.published.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The published snapshot, if any.
    pub fn read(&self) -> std::io::Result<Option<StoredSnapshot>> {
        let _held = self.lock();
        read_file(&self.path)
    }

    /// Makes `stored` the snapshot, unless the file already covers more of the log.
    pub fn install(&self, stored: &StoredSnapshot) -> std::io::Result<()> {
        self.write_and_publish(&self.installing, stored).map(drop)
    }

    /// Starts a build from the state as it is now: call with the state frozen (its lock
    /// held) and release it when this returns. `encode` runs in a forked child.
    pub fn fork_build(
        &self,
        encode: impl FnOnce() -> Result<Vec<u8>, postcard::Error>,
    ) -> Option<snapshot_fork::Child> {
        snapshot_fork::spawn(&self.building, encode)
    }

    /// Publishes what a forked build of `meta` wrote, and returns the meta of what the
    /// file now holds: the build's, or a newer one installed meanwhile.
    pub fn finish_build(&self, meta: &SnapshotMeta) -> std::io::Result<SnapshotMeta> {
        self.publish(&self.building, meta)
    }

    /// Encodes and publishes a snapshot built in this process (when no fork could);
    /// returns the meta of what the file holds, as [`Self::finish_build`] does.
    pub fn write_built(&self, stored: &StoredSnapshot) -> std::io::Result<SnapshotMeta> {
        self.write_and_publish(&self.building, stored)
    }

    /// Encodes `stored` into `tmp`, fsynced, then publishes it.
    fn write_and_publish(&self, tmp: &Path, stored: &StoredSnapshot) -> std::io::Result<SnapshotMeta> {
        let bytes = postcard::to_allocvec(stored).map_err(std::io::Error::other)?;
        durable_file::write_temp(tmp, &bytes)?;
        self.publish(tmp, &stored.meta)
    }

    /// Makes `written` the file unless the file covers more of the log; returns the
    /// meta of what the file holds afterwards.
    fn publish(&self, written: &Path, meta: &SnapshotMeta) -> std::io::Result<SnapshotMeta> {
        let mut published = self.lock();
        if let Some(newer) = published.as_ref().filter(|p| meta.last_log_id < p.last_log_id) {
            tracing::info!(last = ?meta.last_log_id, published = ?newer.last_log_id, "older snapshot not published over a newer one");
            let newer = newer.clone();
            std::fs::remove_file(written)?;
            return Ok(newer);
        }
        durable_file::publish(written, &self.path)?;
        *published = Some(meta.clone());
        Ok(meta.clone())
    }
}

fn read_file(path: &Path) -> std::io::Result<Option<StoredSnapshot>> {
    match durable_file::read_checked(path)? {
        Some(bytes) => postcard::from_bytes(&bytes).map(Some).map_err(std::io::Error::other),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::types::LogId;

    fn stored(index: u64) -> StoredSnapshot {
        let leader = openraft::impls::leader_id_adv::LeaderId { term: 2, node_id: 1 };
        StoredSnapshot {
            meta: SnapshotMeta {
                last_log_id: Some(LogId::new(leader, index)),
                last_membership: Default::default(),
            },
            data: format!("state at {index}").into_bytes(),
        }
    }

    fn published_index(file: &SnapshotFile) -> Option<u64> {
        let s = file.read().expect("read").expect("a snapshot");
        assert_eq!(
            s.data,
            format!("state at {}", s.meta.last_log_id.expect("id").index).into_bytes()
        );
        s.meta.last_log_id.map(|l| l.index)
    }

    /// A build that finishes after a newer install must not replace it; a newer build
    /// does, and whatever is published survives a reopen.
    #[test]
    fn an_older_snapshot_never_replaces_a_newer_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (file, none) = SnapshotFile::open(dir.path()).expect("open");
        assert!(none.is_none());
        file.install(&stored(10)).expect("install");
        // A forked build of index 7 that started before the install.
        let child = file.fork_build(|| postcard::to_allocvec(&stored(7))).expect("fork");
        child.wait().expect("child wrote");
        let got = file.finish_build(&stored(7).meta).expect("finish");
        assert_eq!(got.last_log_id.map(|l| l.index), Some(10));
        file.write_built(&stored(9)).expect("in-process build");
        assert_eq!(published_index(&file), Some(10));
        let child = file.fork_build(|| postcard::to_allocvec(&stored(12))).expect("fork");
        child.wait().expect("child wrote");
        let got = file.finish_build(&stored(12).meta).expect("finish");
        assert_eq!(got.last_log_id.map(|l| l.index), Some(12));
        assert_eq!(published_index(&file), Some(12));
        file.install(&stored(11))
            .expect("stale install is dropped, not an error");
        drop(file);
        let (file, again) = SnapshotFile::open(dir.path()).expect("reopen");
        assert_eq!(again.and_then(|s| s.meta.last_log_id).map(|l| l.index), Some(12));
        assert_eq!(published_index(&file), Some(12));
    }

    /// A child that fails (here: nothing to encode) is reported, and publishes nothing.
    #[test]
    fn a_failed_child_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (file, _) = SnapshotFile::open(dir.path()).expect("open");
        let child = file
            .fork_build(|| Err(postcard::Error::SerializeBufferFull))
            .expect("fork");
        assert!(child.wait().is_err());
        assert!(file.read().expect("read").is_none());
    }
}
