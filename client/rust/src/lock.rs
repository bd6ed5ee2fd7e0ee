//! `Lock`: a held lease with its fencing token, kept alive in the background until released.

use std::time::{Duration, Instant};

use crate::client::Client;
use crate::error::Result;
use crate::renew::{guard_methods, Held, Kind};

/// The optional parts of `LOCK ACQUIRE`, so new options need no new signatures.
///
/// ```
/// # use std::time::Duration;
/// let opts = fencepost_client::LockOptions::default()
///     .wait(Duration::from_secs(5))
///     .delay(Duration::from_secs(15));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LockOptions {
    /// `WAIT ms`: queue (FIFO) for up to this long instead of answering nil at once.
    pub wait: Option<Duration>,
    /// `DELAY ms` (Consul's lock-delay): if this lease later ends by expiry rather than
    /// RELEASE, nobody is granted the lock until this long after the expiry, giving a
    /// holder that stalled (GC pause, partition) time to notice before a successor acts.
    pub delay: Option<Duration>,
}

impl LockOptions {
    /// Sets `WAIT`.
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = Some(wait);
        self
    }

    /// Sets `DELAY`.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }
}

/// A granted lock. Use `token()` to fence every write made under it.
pub struct Lock {
    held: Held,
}

impl Lock {
    /// `LOCK ACQUIRE` and start renewing; None if the lock is held elsewhere (or WAIT ran out).
    pub async fn acquire(
        client: &Client,
        name: impl AsRef<[u8]>,
        owner: impl AsRef<[u8]>,
        ttl: Duration,
        wait: Option<Duration>,
    ) -> Result<Option<Lock>> {
        let opts = LockOptions { wait, delay: None };
        Lock::acquire_with(client, name, owner, ttl, opts).await
    }

    /// [`Lock::acquire`] with every option of `LOCK ACQUIRE` (WAIT, DELAY).
    pub async fn acquire_with(
        client: &Client,
        name: impl AsRef<[u8]>,
        owner: impl AsRef<[u8]>,
        ttl: Duration,
        opts: LockOptions,
    ) -> Result<Option<Lock>> {
        let (name, owner) = (name.as_ref().to_vec(), owner.as_ref().to_vec());
        let sent = Instant::now();
        let Some(token) = client.lock_acquire_with(&name, &owner, ttl, opts).await? else {
            return Ok(None);
        };
        let held = Held::start(Kind::Lock, client, name, owner, token, ttl, sent);
        Ok(Some(Lock { held }))
    }

    guard_methods!();
}
