//! Workloads: what one client does in a loop, in each target's dialect.

use std::net::SocketAddr;

use anyhow::{bail, Result};
use rand::rngs::SmallRng;
use rand::Rng;

use crate::resp::{Conn, Reply};

/// Compare-and-delete: the standard safe release of a redis lock.
pub const REDIS_RELEASE: &str = r#"if redis.call("get",KEYS[1]) == ARGV[1] then return redis.call("del",KEYS[1]) else return 0 end"#;

/// Lease used by the lock cycle; long enough never to expire inside a cycle.
const LOCK_TTL_MS: &[u8] = b"10000";

/// A workload (more to come: fence writes, token buckets, idempotency keys, contention).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// Acquire a random uncontended lock, then release it: two round trips per cycle.
    LockCycle,
}

impl Workload {
    /// Name used in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Workload::LockCycle => "lock-cycle",
        }
    }
}

/// The command set a target speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// `LOCK ACQUIRE` / `LOCK RELEASE`.
    Fencepost,
    /// `SET NX PX` / compare-and-delete script.
    Redis,
}

/// Result of one batch of `pipeline` cycles.
#[derive(Debug, Default)]
pub struct Batch {
    /// Cycles that completed as intended.
    pub ok: u64,
    /// Cycles that got an unexpected reply.
    pub failed: u64,
    /// The first unexpected reply, to show the reader.
    pub first_error: Option<String>,
}

impl Batch {
    fn fail(&mut self, what: String) {
        self.failed += 1;
        self.first_error.get_or_insert(what);
    }
}

/// A workload bound to one target, ready to run batches from many clients.
pub struct Plan {
    workload: Workload,
    dialect: Dialect,
    pipeline: usize,
    /// SHA1 of REDIS_RELEASE as loaded on the target (Redis dialect only).
    release_sha: Vec<u8>,
}

impl Plan {
    /// Does per-target setup (loading the release script) on a connection of its own.
    pub async fn prepare(
        workload: Workload,
        dialect: Dialect,
        pipeline: usize,
        addr: SocketAddr,
    ) -> Result<Plan> {
        let mut release_sha = Vec::new();
        if dialect == Dialect::Redis {
            let mut c = Conn::connect(addr).await?;
            match c
                .call(&[b"SCRIPT", b"LOAD", REDIS_RELEASE.as_bytes()])
                .await?
            {
                Reply::Bulk(Some(sha)) => release_sha = sha,
                other => bail!("SCRIPT LOAD: {other:?}"),
            }
        }
        Ok(Plan {
            workload,
            dialect,
            pipeline: pipeline.max(1),
            release_sha,
        })
    }

    /// Cycles per batch (the pipeline depth).
    pub fn pipeline(&self) -> usize {
        self.pipeline
    }

    /// Runs one batch; `Err` only when the connection itself fails.
    pub async fn batch(&self, conn: &mut Conn, owner: &[u8], rng: &mut SmallRng) -> Result<Batch> {
        match self.workload {
            Workload::LockCycle => self.lock_cycle(conn, owner, rng).await,
        }
    }

    /// `pipeline` acquires in one write, then the releases of those granted in a second.
    async fn lock_cycle(&self, conn: &mut Conn, owner: &[u8], rng: &mut SmallRng) -> Result<Batch> {
        // A 64-bit name space makes collisions (and so contention) practically impossible.
        let names: Vec<Vec<u8>> = (0..self.pipeline)
            .map(|_| format!("lock:{}", rng.random::<u64>()).into_bytes())
            .collect();
        for n in &names {
            match self.dialect {
                Dialect::Fencepost => conn.push(&[b"LOCK", b"ACQUIRE", n, owner, LOCK_TTL_MS]),
                Dialect::Redis => conn.push(&[b"SET", n, owner, b"NX", b"PX", LOCK_TTL_MS]),
            }
        }
        conn.flush().await?;
        let mut out = Batch::default();
        // Each granted name with what its release must present (the token for fencepost).
        let mut held: Vec<(&[u8], Vec<u8>)> = Vec::with_capacity(names.len());
        for n in &names {
            match (self.dialect, conn.read().await?) {
                (Dialect::Fencepost, Reply::Int(t)) if t > 0 => {
                    held.push((n, t.to_string().into_bytes()))
                }
                (Dialect::Redis, Reply::Simple(s)) if s == "OK" => held.push((n, Vec::new())),
                (_, r) => out.fail(format!("acquire: {r:?}")),
            }
        }
        if held.is_empty() {
            return Ok(out);
        }
        for (n, token) in &held {
            match self.dialect {
                Dialect::Fencepost => conn.push(&[b"LOCK", b"RELEASE", n, owner, token]),
                Dialect::Redis => conn.push(&[b"EVALSHA", &self.release_sha, b"1", n, owner]),
            }
        }
        conn.flush().await?;
        for _ in &held {
            match conn.read().await? {
                Reply::Int(1) => out.ok += 1,
                r => out.fail(format!("release: {r:?}")),
            }
        }
        Ok(out)
    }
}
