//! RWLOCK: typed calls on `Client`, and `ReadGuard` / `WriteGuard`, renewed leases.
//!
//! Readers at the head of the queue are granted together; a queued writer holds back
//! every reader that arrives after it, so writers do not starve.

use std::time::{Duration, Instant};

use crate::client::{ms, Client};
use crate::error::Result;
use crate::renew::{guard_methods, Held, Kind};
use crate::reply::{self, RwLockInfo, RwMode};

impl Client {
    /// `RWLOCK READ`: a shared lease's token, or None (a writer holds or is queued ahead,
    /// or WAIT ran out). Asking again as the same owner renews it with the same token.
    pub async fn rwlock_read(
        &self,
        name: impl AsRef<[u8]>,
        owner: impl AsRef<[u8]>,
        ttl: Duration,
        wait: Option<Duration>,
    ) -> Result<Option<u64>> {
        self.rwlock_acquire(RwMode::Read, name.as_ref(), owner.as_ref(), ttl, wait)
            .await
    }

    /// `RWLOCK WRITE`: the exclusive lease's token, or None (held by others, or WAIT ran
    /// out). The writer's token passes `FENCE ... LOCK <name>` as a LOCK holder's does.
    pub async fn rwlock_write(
        &self,
        name: impl AsRef<[u8]>,
        owner: impl AsRef<[u8]>,
        ttl: Duration,
        wait: Option<Duration>,
    ) -> Result<Option<u64>> {
        self.rwlock_acquire(RwMode::Write, name.as_ref(), owner.as_ref(), ttl, wait)
            .await
    }

    async fn rwlock_acquire(
        &self,
        mode: RwMode,
        name: &[u8],
        owner: &[u8],
        ttl: Duration,
        wait: Option<Duration>,
    ) -> Result<Option<u64>> {
        let mut cmd = redis::cmd("RWLOCK");
        cmd.arg(match mode {
            RwMode::Read => "READ",
            RwMode::Write => "WRITE",
        })
        .arg(name)
        .arg(owner)
        .arg(ms(ttl));
        if let Some(w) = wait {
            cmd.arg("WAIT").arg(ms(w));
        }
        reply::token_opt(&self.raw(&cmd).await?)
    }

    /// `RWLOCK RELEASE`: true if `owner` held a lease (read or write) with `token`.
    pub async fn rwlock_release(&self, name: impl AsRef<[u8]>, owner: impl AsRef<[u8]>, token: u64) -> Result<bool> {
        let mut cmd = redis::cmd("RWLOCK");
        cmd.arg("RELEASE").arg(name.as_ref()).arg(owner.as_ref()).arg(token);
        reply::flag(&self.raw(&cmd).await?)
    }

    /// `RWLOCK EXTEND`: true if the lease's TTL was reset to `ttl` from now.
    pub async fn rwlock_extend(
        &self,
        name: impl AsRef<[u8]>,
        owner: impl AsRef<[u8]>,
        token: u64,
        ttl: Duration,
    ) -> Result<bool> {
        let mut cmd = redis::cmd("RWLOCK");
        cmd.arg("EXTEND")
            .arg(name.as_ref())
            .arg(owner.as_ref())
            .arg(token)
            .arg(ms(ttl));
        reply::flag(&self.raw(&cmd).await?)
    }

    /// `RWLOCK INFO`: None when nobody holds or waits.
    pub async fn rwlock_info(&self, name: impl AsRef<[u8]>) -> Result<Option<RwLockInfo>> {
        let mut cmd = redis::cmd("RWLOCK");
        cmd.arg("INFO").arg(name.as_ref());
        reply::rwlock_info(&self.raw(&cmd).await?)
    }
}

/// Acquires in `mode` and starts renewing.
async fn acquire(
    mode: RwMode,
    client: &Client,
    name: &[u8],
    owner: &[u8],
    ttl: Duration,
    wait: Option<Duration>,
) -> Result<Option<Held>> {
    let sent = Instant::now();
    let token = client.rwlock_acquire(mode, name, owner, ttl, wait).await?;
    Ok(token.map(|t| Held::start(Kind::RwLock, client, name.to_vec(), owner.to_vec(), t, ttl, sent)))
}

/// A shared (read) lease, renewed in the background until released or dropped.
pub struct ReadGuard {
    held: Held,
}

impl ReadGuard {
    /// `RWLOCK READ` and start renewing; None if not granted (or WAIT ran out).
    pub async fn acquire(
        client: &Client,
        name: impl AsRef<[u8]>,
        owner: impl AsRef<[u8]>,
        ttl: Duration,
        wait: Option<Duration>,
    ) -> Result<Option<ReadGuard>> {
        let held = acquire(RwMode::Read, client, name.as_ref(), owner.as_ref(), ttl, wait).await?;
        Ok(held.map(|held| ReadGuard { held }))
    }

    guard_methods!();
}

/// The exclusive (write) lease, renewed in the background until released or dropped.
/// Fence writes with `token()` (`FENCE ... LOCK <name>` accepts it while it holds).
pub struct WriteGuard {
    held: Held,
}

impl WriteGuard {
    /// `RWLOCK WRITE` and start renewing; None if not granted (or WAIT ran out).
    pub async fn acquire(
        client: &Client,
        name: impl AsRef<[u8]>,
        owner: impl AsRef<[u8]>,
        ttl: Duration,
        wait: Option<Duration>,
    ) -> Result<Option<WriteGuard>> {
        let held = acquire(RwMode::Write, client, name.as_ref(), owner.as_ref(), ttl, wait).await?;
        Ok(held.map(|held| WriteGuard { held }))
    }

    guard_methods!();
}
