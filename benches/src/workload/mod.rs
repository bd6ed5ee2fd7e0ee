//! Workloads: what one client does in a loop, in each target's dialect.
//! One operation ("op") is one full cycle of the workload: a lock cycle is ACQUIRE + RELEASE,
//! a hand-off is one grant (wait + RELEASE), a bucket op is one TOKENBUCKET call, an
//! idempotent request is BEGIN + COMPLETE, a redis-py lock cycle is SET NX PX + EVALSHA.

mod bucket;
mod contended;
mod idemp;
mod lock_cycle;
mod redis_lock;
mod scripts;
mod semaphore;
mod sliding;

use std::net::SocketAddr;

use anyhow::{bail, Result};
use rand::rngs::SmallRng;

use crate::etcd::{self, Etcd};
use crate::resp::{Conn, Reply, Security};

/// Lease each etcd client holds for its locks; longer than any one run, which revokes it at the end.
const ETCD_LEASE_TTL_S: u64 = 60;

/// A workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// Acquire a random uncontended lock, then release it: two round trips per op.
    LockCycle,
    /// Every client hands 8 hot locks around: acquire (waiting) then release.
    Contended,
    /// One token-bucket decision on one of 10,000 buckets.
    TokenBucket,
    /// Claim a fresh idempotency key, then store its response.
    Idempotency,
    /// One permit of a fresh semaphore, then its release (fencepost only).
    SemaphoreCycle,
    /// One exact sliding-window decision on one of 10,000 keys (fencepost only).
    SlidingWindow,
    /// redis-py's `Lock` acquire + release as it goes over the wire (SET NX PX + EVALSHA of
    /// its release script), on fencepost and redis alike. Not in the default sweep: name it.
    RedisLockCycle,
}

impl Workload {
    /// Every workload, in the order the report lists them.
    pub const ALL: [Workload; 6] = [
        Workload::LockCycle,
        Workload::Contended,
        Workload::TokenBucket,
        Workload::Idempotency,
        Workload::SemaphoreCycle,
        Workload::SlidingWindow,
    ];

    /// Every workload, the opt-in ones too, in the order the report lists them.
    pub const EVERY: [Workload; 7] = [
        Workload::LockCycle,
        Workload::RedisLockCycle,
        Workload::Contended,
        Workload::TokenBucket,
        Workload::Idempotency,
        Workload::SemaphoreCycle,
        Workload::SlidingWindow,
    ];

    /// Name used in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Workload::LockCycle => "lock-cycle",
            Workload::Contended => "contended",
            Workload::TokenBucket => "token-bucket",
            Workload::Idempotency => "idempotency",
            Workload::SemaphoreCycle => "semaphore-cycle",
            Workload::SlidingWindow => "sliding-window",
            Workload::RedisLockCycle => "redis-lock-cycle",
        }
    }

    /// Why `dialect` cannot run this workload at `pipeline`, if it cannot.
    pub fn not_applicable(self, dialect: Dialect, pipeline: usize) -> Option<&'static str> {
        match (self, dialect) {
            (Workload::SemaphoreCycle | Workload::SlidingWindow, Dialect::Redis | Dialect::Etcd) => Some(
                "compared with fencepost's own lock cycle and token bucket in the same run (the issue's targets)",
            ),
            (Workload::RedisLockCycle, Dialect::Etcd) => Some("redis-py's Lock speaks RESP"),
            (Workload::TokenBucket, Dialect::Etcd) => {
                Some("etcd has no token bucket (a txn-based one would be a different algorithm)")
            }
            (_, Dialect::Etcd) if pipeline > 1 => {
                Some("etcd's gateway answers one request per HTTP/1.1 round trip: no pipelining")
            }
            (Workload::Contended, _) if pipeline > 1 => Some(
                "a client holds one lock at a time: queued waits on one connection answer in order and would block each other",
            ),
            _ => None,
        }
    }

    /// How the workload is done on each dialect, for the report.
    pub fn recipe(self) -> &'static str {
        match self {
            Workload::LockCycle => "fencepost: LOCK ACQUIRE name owner 10000 + LOCK RELEASE name owner token; redis: SET name owner NX PX 10000 + compare-and-delete Lua (EVALSHA); etcd: v3 lock service (lock/lock with one lease per client + lock/unlock). Fresh random name per op.",
            Workload::Contended => "8 lock names shared by all clients. fencepost: LOCK ACQUIRE name owner 5000 WAIT 10000 (replicated FIFO queue) + RELEASE; redis: no queue, so the usual SET NX PX 5000 retry loop sleeping ~1 ms between tries, + compare-and-delete; etcd: lock/lock blocks natively. Counts grants.",
            Workload::TokenBucket => "fencepost: TOKENBUCKET key 1000 1000 1000; redis: the usual Lua token bucket (EVALSHA, refill computed from redis TIME inside the script, hash of level+stamp); etcd: n/a. 10,000 keys, random key per op.",
            Workload::SemaphoreCycle => "fencepost: SEMAPHORE ACQUIRE name holder 10 10000 + SEMAPHORE RELEASE name holder token, fresh random name per op (the lock cycle's shape); redis, etcd: n/a.",
            Workload::SlidingWindow => "fencepost: RATELIMIT SLIDING key 100 1000 (exact log of admissions), 10,000 keys, random key per op (the token bucket's keys); redis, etcd: n/a.",
            Workload::RedisLockCycle => "every RESP target alike, fencepost included: what redis-py's redis.lock.Lock sends for an uncontended acquire(blocking=False) + release(): SET name token NX PX 10000 (fresh uuid-hex token) + EVALSHA of redis-py's own release script (get, compare, del), loaded with SCRIPT LOAD before the run; etcd: n/a. Fresh random name per op.",
            Workload::Idempotency => "fencepost: IDEMP BEGIN key fp 60000 + IDEMP COMPLETE key token resp; redis: SET key pending NX PX 60000 + SET key resp PX 60000 (no fencing token, no fingerprint check); etcd: txn put-if-absent (compare create_revision = 0) + put, without TTL. Fresh random key per op.",
        }
    }
}

/// The command set a target speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// fencepost's own commands.
    Fencepost,
    /// Plain redis commands and Lua scripts.
    Redis,
    /// etcd v3 over its JSON gateway.
    Etcd,
}

/// One client's connection, in the target's protocol.
pub enum Client {
    /// A RESP connection.
    Resp(Conn),
    /// An etcd connection with the lease this client's locks hang on.
    Etcd {
        /// The connection.
        etcd: Etcd,
        /// The client's lease (granted once, at connect).
        lease: i64,
    },
}

/// Result of one batch of `pipeline` ops.
#[derive(Debug, Default)]
pub struct Batch {
    /// Ops that completed as intended.
    pub ok: u64,
    /// Ops that got an unexpected reply.
    pub failed: u64,
    /// The first unexpected reply, to show the reader.
    pub first_error: Option<String>,
}

impl Batch {
    fn fail(&mut self, what: String) {
        self.failed += 1;
        self.first_error.get_or_insert(what);
    }

    /// Books an etcd refusal as a failed op; passes connection errors up.
    fn etcd_result<T>(&mut self, what: &str, r: Result<T>) -> Result<Option<T>> {
        match r {
            Ok(v) => Ok(Some(v)),
            Err(e) if etcd::is_refused(&e) => {
                self.fail(format!("{what}: {e:#}"));
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// A workload bound to one target, ready to run batches from many clients.
pub struct Plan {
    workload: Workload,
    dialect: Dialect,
    pipeline: usize,
    /// SHA1s of the Lua scripts as loaded on the target (Redis dialect only).
    release_sha: Vec<u8>,
    bucket_sha: Vec<u8>,
    /// SHA1 of redis-py's release script as loaded (redis-lock-cycle only, every RESP dialect).
    redis_py_release_sha: Vec<u8>,
    /// How each client connects (TLS, user).
    security: Security,
}

impl Plan {
    /// Does per-target setup (loading scripts) on a connection of its own.
    pub async fn prepare(
        workload: Workload,
        dialect: Dialect,
        pipeline: usize,
        addr: SocketAddr,
        security: Security,
    ) -> Result<Plan> {
        if let Some(why) = workload.not_applicable(dialect, pipeline) {
            bail!("{} at pipeline {pipeline}: n/a: {why}", workload.name());
        }
        let (mut release_sha, mut bucket_sha) = (Vec::new(), Vec::new());
        if dialect == Dialect::Redis {
            let mut c = Conn::connect(addr).await?;
            release_sha = load_script(&mut c, scripts::REDIS_RELEASE).await?;
            bucket_sha = load_script(&mut c, scripts::REDIS_TOKEN_BUCKET).await?;
        }
        let mut redis_py_release_sha = Vec::new();
        if workload == Workload::RedisLockCycle {
            let mut c = Conn::connect(addr).await?;
            redis_py_release_sha = load_script(&mut c, redis_lock::REDIS_PY_RELEASE).await?;
            if redis_py_release_sha != redis_lock::REDIS_PY_RELEASE_SHA {
                bail!(
                    "SCRIPT LOAD of redis-py's release script answered {}, not redis-py's SHA {}",
                    String::from_utf8_lossy(&redis_py_release_sha),
                    String::from_utf8_lossy(redis_lock::REDIS_PY_RELEASE_SHA)
                );
            }
        }
        Ok(Plan {
            workload,
            dialect,
            pipeline: pipeline.max(1),
            release_sha,
            bucket_sha,
            redis_py_release_sha,
            security,
        })
    }

    /// Opens one client's connection (for etcd, also grants its lease).
    pub async fn connect(&self, addr: SocketAddr) -> Result<Client> {
        match self.dialect {
            Dialect::Etcd => {
                let mut etcd = Etcd::connect(addr).await?;
                let lease = etcd.lease_grant(ETCD_LEASE_TTL_S).await?;
                Ok(Client::Etcd { etcd, lease })
            }
            _ => Ok(Client::Resp(Conn::open(addr, &self.security).await?)),
        }
    }

    /// Gives back what `connect` took (etcd's lease), so that later runs do not pay for its expiry.
    pub async fn disconnect(&self, client: Client) -> Result<()> {
        if let Client::Etcd { mut etcd, lease } = client {
            etcd.lease_revoke(lease).await?;
        }
        Ok(())
    }

    /// Runs one batch; `Err` only when the connection itself fails.
    pub async fn batch(&self, client: &mut Client, owner: &[u8], rng: &mut SmallRng) -> Result<Batch> {
        match client {
            Client::Resp(conn) => match self.workload {
                Workload::LockCycle => lock_cycle::resp(self, conn, owner, rng).await,
                Workload::Contended => contended::resp(self, conn, owner, rng).await,
                Workload::TokenBucket => bucket::resp(self, conn, rng).await,
                Workload::Idempotency => idemp::resp(self, conn, rng).await,
                Workload::SemaphoreCycle => semaphore::resp(self, conn, owner, rng).await,
                Workload::SlidingWindow => sliding::resp(self, conn, rng).await,
                Workload::RedisLockCycle => redis_lock::resp(self, conn, rng).await,
            },
            Client::Etcd { etcd, lease } => match self.workload {
                Workload::LockCycle => lock_cycle::etcd(etcd, *lease, rng).await,
                Workload::Contended => contended::etcd(etcd, *lease, rng).await,
                Workload::Idempotency => idemp::etcd(etcd, rng).await,
                Workload::TokenBucket => bail!("token bucket is n/a on etcd"),
                Workload::SemaphoreCycle | Workload::SlidingWindow | Workload::RedisLockCycle => {
                    bail!("n/a on etcd")
                }
            },
        }
    }
}

async fn load_script(c: &mut Conn, source: &str) -> Result<Vec<u8>> {
    match c.call(&[b"SCRIPT", b"LOAD", source.as_bytes()]).await? {
        Reply::Bulk(Some(sha)) => Ok(sha),
        other => bail!("SCRIPT LOAD: {other:?}"),
    }
}
