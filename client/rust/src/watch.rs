//! LOCK WATCH: learn who holds a lock as it changes (etcd's election Observe, Curator's
//! leader listener) without polling LOCK INFO.

use std::time::Duration;

use crate::client::{ms, Client};
use crate::error::Result;
use crate::reply::{self, LockInfo};

/// How long each `LOCK WATCH` of a [`Watch`] blocks before it asks again. Long enough
/// that an idle watch costs next to nothing, short enough that a half-dead connection
/// is noticed.
pub const WATCH_ROUND: Duration = Duration::from_secs(30);

/// The token `LOCK WATCH` compares against: the holder's, or 0 for "free".
fn token_of(info: &Option<LockInfo>) -> u64 {
    info.as_ref().map_or(0, |i| i.token)
}

impl Client {
    /// `LOCK WATCH name token timeout`: blocks until the holder's token differs from
    /// `token` (0: until anyone holds it), then answers as `LOCK INFO` would (None when
    /// free); when `timeout` passes first, answers `LOCK INFO` as it stands.
    ///
    /// The server answers a connection's requests in order, so while this blocks, later
    /// calls on this `Client` (and its clones) wait behind it, lease renewals included.
    /// Block on a [`Client::detached`] one, as [`Client::watch`] does.
    pub async fn lock_watch(&self, name: impl AsRef<[u8]>, token: u64, timeout: Duration) -> Result<Option<LockInfo>> {
        let mut cmd = redis::cmd("LOCK");
        cmd.arg("WATCH").arg(name.as_ref()).arg(token).arg(ms(timeout));
        reply::lock_info(&self.raw(&cmd).await?)
    }

    /// Follows lock `name`'s holder: see [`Watch`]. It runs on a connection of its own, so
    /// it holds up no other call on this `Client`.
    pub fn watch(&self, name: impl AsRef<[u8]>) -> Watch {
        Watch {
            client: self.detached(),
            name: name.as_ref().to_vec(),
            round: WATCH_ROUND,
            seen: None,
        }
    }
}

/// The holders of one lock, one change at a time: the first `next()` answers the state
/// now, each later one the next state whose token differs from the last one answered
/// (None while the lock is free). States that last less than a round trip may be
/// skipped, as with etcd's Observe: a watch reports where the lock is, not every step.
///
/// `next()` is cancel-safe (nothing is remembered until a reply arrives) and after an
/// error it may simply be called again: LOCK WATCH is a read, so resending is harmless.
/// For a `Stream`, wrap it: `futures::stream::unfold(w, |mut w| async { Some((w.next().await, w)) })`.
pub struct Watch {
    client: Client,
    name: Vec<u8>,
    round: Duration,
    /// Token of the state last answered (0: free); None before the first.
    seen: Option<u64>,
}

impl Watch {
    /// Sets how long each `LOCK WATCH` blocks before asking again (default [`WATCH_ROUND`]).
    pub fn round(mut self, round: Duration) -> Self {
        self.round = round.max(Duration::from_millis(1));
        self
    }

    /// The current state on the first call; afterwards, waits for the next change.
    pub async fn next(&mut self) -> Result<Option<LockInfo>> {
        let Some(last) = self.seen else {
            let info = self.client.lock_info(&self.name).await?;
            self.seen = Some(token_of(&info));
            return Ok(info);
        };
        loop {
            let info = self.client.lock_watch(&self.name, last, self.round).await?;
            // A timed-out round answers the unchanged state: ask again.
            if token_of(&info) != last {
                self.seen = Some(token_of(&info));
                return Ok(info);
            }
        }
    }
}
