//! SEMAPHORE: typed calls on `Client` and `Permit`, a renewed lease of permits.
//!
//! A semaphore is a bulkhead shared by every process: at most `limit` permits are leased
//! at any instant, each lease with its own token and TTL, queued FIFO.

use std::time::{Duration, Instant};

use crate::client::{ms, Client};
use crate::error::Result;
use crate::renew::{guard_methods, Held, Kind};
use crate::reply::{self, SemaphoreInfo};

impl Client {
    /// `SEMAPHORE ACQUIRE name holder limit ttl COUNT count [WAIT ms]`: the lease's token,
    /// or None when `count` permits are not free (or WAIT ran out first). Asking again as
    /// the same `holder` renews the lease: same token, COUNT unchanged.
    pub async fn semaphore_acquire(
        &self,
        name: impl AsRef<[u8]>,
        holder: impl AsRef<[u8]>,
        limit: u64,
        ttl: Duration,
        count: u64,
        wait: Option<Duration>,
    ) -> Result<Option<u64>> {
        let mut cmd = redis::cmd("SEMAPHORE");
        cmd.arg("ACQUIRE")
            .arg(name.as_ref())
            .arg(holder.as_ref())
            .arg(limit)
            .arg(ms(ttl))
            .arg("COUNT")
            .arg(count);
        if let Some(w) = wait {
            cmd.arg("WAIT").arg(ms(w));
        }
        reply::token_opt(&self.raw(&cmd).await?)
    }

    /// `SEMAPHORE RELEASE`: true if `holder` held a lease with `token`.
    pub async fn semaphore_release(
        &self,
        name: impl AsRef<[u8]>,
        holder: impl AsRef<[u8]>,
        token: u64,
    ) -> Result<bool> {
        let mut cmd = redis::cmd("SEMAPHORE");
        cmd.arg("RELEASE").arg(name.as_ref()).arg(holder.as_ref()).arg(token);
        reply::flag(&self.raw(&cmd).await?)
    }

    /// `SEMAPHORE EXTEND`: true if the lease's TTL was reset to `ttl` from now.
    pub async fn semaphore_extend(
        &self,
        name: impl AsRef<[u8]>,
        holder: impl AsRef<[u8]>,
        token: u64,
        ttl: Duration,
    ) -> Result<bool> {
        let mut cmd = redis::cmd("SEMAPHORE");
        cmd.arg("EXTEND")
            .arg(name.as_ref())
            .arg(holder.as_ref())
            .arg(token)
            .arg(ms(ttl));
        reply::flag(&self.raw(&cmd).await?)
    }

    /// `SEMAPHORE INFO`: None when nobody holds or waits (an idle semaphore is not stored).
    pub async fn semaphore_info(&self, name: impl AsRef<[u8]>) -> Result<Option<SemaphoreInfo>> {
        let mut cmd = redis::cmd("SEMAPHORE");
        cmd.arg("INFO").arg(name.as_ref());
        reply::semaphore_info(&self.raw(&cmd).await?)
    }
}

/// A granted lease of `count()` permits, renewed in the background until released (or
/// dropped). Once a renewal is refused or fails uncertainly, `is_valid()` turns false:
/// stop the work the permit was guarding.
pub struct Permit {
    held: Held,
    count: u64,
}

impl Permit {
    /// `SEMAPHORE ACQUIRE` and start renewing; None when the permits are not free (or WAIT
    /// ran out first).
    pub async fn acquire(
        client: &Client,
        name: impl AsRef<[u8]>,
        holder: impl AsRef<[u8]>,
        limit: u64,
        ttl: Duration,
        count: u64,
        wait: Option<Duration>,
    ) -> Result<Option<Permit>> {
        let (name, holder) = (name.as_ref().to_vec(), holder.as_ref().to_vec());
        let sent = Instant::now();
        let Some(token) = client
            .semaphore_acquire(&name, &holder, limit, ttl, count, wait)
            .await?
        else {
            return Ok(None);
        };
        let held = Held::start(Kind::Semaphore, client, name, holder, token, ttl, sent);
        Ok(Some(Permit { held, count }))
    }

    /// The permits asked for. The server keeps one lease per holder and name, so if this
    /// holder already had one, that lease (and its count) is what this guard renews, and
    /// releasing either guard releases it for both: give each concurrent user its own holder.
    pub fn count(&self) -> u64 {
        self.count
    }

    guard_methods!();
}
