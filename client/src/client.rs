//! `Client`: one typed async method per SPEC.md command, over a multiplexed redis-rs connection.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{Cmd, Value};

use crate::error::Result;
use crate::reply::{self, Begin, BucketReply, FenceValue, IdempStatus, LockInfo};

/// Durations travel as integer milliseconds, like `PX`.
pub(crate) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A connection to one fencepost node; cheap to clone (clones share the socket).
#[derive(Clone)]
pub struct Client {
    conn: MultiplexedConnection,
}

impl Client {
    /// Connects to `redis://host:port` (or `redis://:pass@host:port`).
    pub async fn connect(url: &str) -> Result<Client> {
        let client = redis::Client::open(url)?;
        // No response timeout: LOCK ACQUIRE ... WAIT legitimately blocks; callers bound it.
        let conn = client.get_multiplexed_async_connection().await?;
        Ok(Client { conn })
    }

    /// Wraps an existing connection.
    pub fn from_connection(conn: MultiplexedConnection) -> Client {
        Client { conn }
    }

    /// Sends one command and returns its raw reply (errors already mapped).
    pub async fn raw(&self, cmd: &Cmd) -> Result<Value> {
        let mut conn = self.conn.clone();
        Ok(cmd.query_async::<Value>(&mut conn).await?)
    }

    /// `PING`.
    pub async fn ping(&self) -> Result<()> {
        let v = self.raw(&redis::cmd("PING")).await?;
        match reply::bytes(&v)?.as_slice() {
            b"PONG" => Ok(()),
            _ => Err(crate::Error::Protocol(format!("PING: got {v:?}"))),
        }
    }

    /// `LOCK ACQUIRE`: the fencing token, or None if held by another (or WAIT ran out).
    pub async fn lock_acquire(
        &self,
        name: impl AsRef<[u8]>,
        owner: impl AsRef<[u8]>,
        ttl: Duration,
        wait: Option<Duration>,
    ) -> Result<Option<u64>> {
        let mut cmd = redis::cmd("LOCK");
        cmd.arg("ACQUIRE").arg(name.as_ref()).arg(owner.as_ref()).arg(ms(ttl));
        if let Some(w) = wait {
            cmd.arg("WAIT").arg(ms(w));
        }
        reply::token_opt(&self.raw(&cmd).await?)
    }

    /// `LOCK RELEASE`: true if it was held by `owner` with `token`.
    pub async fn lock_release(&self, name: impl AsRef<[u8]>, owner: impl AsRef<[u8]>, token: u64) -> Result<bool> {
        let mut cmd = redis::cmd("LOCK");
        cmd.arg("RELEASE").arg(name.as_ref()).arg(owner.as_ref()).arg(token);
        reply::flag(&self.raw(&cmd).await?)
    }

    /// `LOCK EXTEND`: true if the TTL was reset to `ttl` from now.
    pub async fn lock_extend(
        &self,
        name: impl AsRef<[u8]>,
        owner: impl AsRef<[u8]>,
        token: u64,
        ttl: Duration,
    ) -> Result<bool> {
        let mut cmd = redis::cmd("LOCK");
        cmd.arg("EXTEND")
            .arg(name.as_ref())
            .arg(owner.as_ref())
            .arg(token)
            .arg(ms(ttl));
        reply::flag(&self.raw(&cmd).await?)
    }

    /// `LOCK INFO`: None when free.
    pub async fn lock_info(&self, name: impl AsRef<[u8]>) -> Result<Option<LockInfo>> {
        let mut cmd = redis::cmd("LOCK");
        cmd.arg("INFO").arg(name.as_ref());
        reply::lock_info(&self.raw(&cmd).await?)
    }

    /// `FENCE ADVANCE [LOCK name]`: the accepted token, or `Error::Stale`.
    pub async fn fence_advance(&self, resource: impl AsRef<[u8]>, token: u64, lock: Option<&[u8]>) -> Result<u64> {
        let mut cmd = redis::cmd("FENCE");
        cmd.arg("ADVANCE").arg(resource.as_ref()).arg(token);
        if let Some(l) = lock {
            cmd.arg("LOCK").arg(l);
        }
        reply::uint(&self.raw(&cmd).await?)
    }

    /// `FENCE SET [LOCK name]`: stores `value` under `token`, or `Error::Stale`.
    pub async fn fence_set(
        &self,
        key: impl AsRef<[u8]>,
        token: u64,
        value: impl AsRef<[u8]>,
        lock: Option<&[u8]>,
    ) -> Result<()> {
        let mut cmd = redis::cmd("FENCE");
        cmd.arg("SET").arg(key.as_ref()).arg(token).arg(value.as_ref());
        if let Some(l) = lock {
            cmd.arg("LOCK").arg(l);
        }
        reply::ok(&self.raw(&cmd).await?)
    }

    /// `FENCE GET`: None when the fence does not exist.
    pub async fn fence_get(&self, key: impl AsRef<[u8]>) -> Result<Option<FenceValue>> {
        let mut cmd = redis::cmd("FENCE");
        cmd.arg("GET").arg(key.as_ref());
        reply::fence_get(&self.raw(&cmd).await?)
    }

    /// `TOKENBUCKET key capacity refill period COST cost`.
    pub async fn token_bucket(
        &self,
        key: impl AsRef<[u8]>,
        capacity: u64,
        refill: u64,
        period: Duration,
        cost: u64,
    ) -> Result<BucketReply> {
        let mut cmd = redis::cmd("TOKENBUCKET");
        cmd.arg(key.as_ref())
            .arg(capacity)
            .arg(refill)
            .arg(ms(period))
            .arg("COST")
            .arg(cost);
        reply::bucket(&self.raw(&cmd).await?)
    }

    /// `IDEMP BEGIN [LEASE ms]`: started (do the work), pending, or done (replay).
    pub async fn idemp_begin(
        &self,
        key: impl AsRef<[u8]>,
        fingerprint: impl AsRef<[u8]>,
        ttl: Duration,
        lease: Option<Duration>,
    ) -> Result<Begin> {
        let mut cmd = redis::cmd("IDEMP");
        cmd.arg("BEGIN")
            .arg(key.as_ref())
            .arg(fingerprint.as_ref())
            .arg(ms(ttl));
        if let Some(l) = lease {
            cmd.arg("LEASE").arg(ms(l));
        }
        reply::begin(&self.raw(&cmd).await?)
    }

    /// `IDEMP COMPLETE`: stores the response; `Error::Stale` if the claim was taken over.
    pub async fn idemp_complete(&self, key: impl AsRef<[u8]>, token: u64, response: impl AsRef<[u8]>) -> Result<()> {
        let mut cmd = redis::cmd("IDEMP");
        cmd.arg("COMPLETE").arg(key.as_ref()).arg(token).arg(response.as_ref());
        reply::ok(&self.raw(&cmd).await?)
    }

    /// `IDEMP ABORT`: drops the claim so a retry may start again.
    pub async fn idemp_abort(&self, key: impl AsRef<[u8]>, token: u64) -> Result<()> {
        let mut cmd = redis::cmd("IDEMP");
        cmd.arg("ABORT").arg(key.as_ref()).arg(token);
        reply::ok(&self.raw(&cmd).await?)
    }

    /// `IDEMP GET`: None when the key is unknown.
    pub async fn idemp_get(&self, key: impl AsRef<[u8]>) -> Result<Option<IdempStatus>> {
        let mut cmd = redis::cmd("IDEMP");
        cmd.arg("GET").arg(key.as_ref());
        reply::idemp_get(&self.raw(&cmd).await?)
    }
}
