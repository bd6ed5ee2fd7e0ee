//! The replicated state machine: pure and deterministic. Every replica applies the same
//! entries with the same stamps and reaches the same state, bit for bit, so nothing
//! here reads a clock, draws a random number, does I/O or iterates a hashed collection.

pub mod types;
pub use types::*;

pub mod acl;
mod bucket;
mod ctx;
pub mod data;
mod fence;
mod gc_index;
mod idemp;
mod keyspace;
mod keyspace_serde;
mod leases;
mod lock;
mod lock_delay;
mod object;
pub mod rval;
mod rwlock;
pub mod script;
mod semaphore;
mod slab;
mod small_bytes;
mod snapshot_compat;
mod tick;
mod wait_queue;
pub mod window;

#[cfg(test)]
mod tests;

use bytes::Bytes;
use serde::Serialize;

use acl::{AclTable, AclUser};
use ctx::Ctx;
use data::cmd::{DataCmd, ScriptRef};
use keyspace::Keyspace;
use rval::RVal;
use script::{ScriptCache, Store};

/// The name exists as another kind of object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
pub struct WrongType;

fn noscript() -> RVal {
    RVal::err("NOSCRIPT No matching script. Please use EVAL.")
}

/// A data command inside an entry; scripts and the script cache need the state
/// machine's cache as well as the keyspace.
fn run_data(
    ks: &mut Keyspace,
    cx: &mut Ctx<'_>,
    scripts: &mut ScriptCache,
    c: &DataCmd,
    user: script::ScriptUser<'_>,
) -> RVal {
    match c {
        DataCmd::Eval { script, keys, args, .. } => {
            let (body, sha) = match script {
                ScriptRef::Body(b) => (b.clone(), scripts.load(b)),
                ScriptRef::Sha(s) => match scripts.get(s) {
                    Some(b) => (b.clone(), String::from_utf8_lossy(s).into_owned()),
                    None => return noscript(),
                },
            };
            // Seeded by the entry: the same on every replica, new for every entry.
            let seed = cx.index;
            script::run(Store::Write(ks, cx), user, &body, &sha, keys, args, seed)
        }
        DataCmd::ScriptLoad(body) => RVal::Bulk(Bytes::from(scripts.load(body))),
        DataCmd::ScriptFlush => {
            scripts.flush();
            RVal::Ok
        }
        DataCmd::ScriptExists(shas) => RVal::Array(
            shas.iter()
                .map(|s| RVal::Int(scripts.get(&s.to_ascii_lowercase()).is_some() as i64))
                .collect(),
        ),
        other => data::exec(ks, cx, other),
    }
}

/// Whom a script runs as: the user as the replicated ACL has it now. A user deleted
/// since the script was sent may do nothing; the `default` user before any change
/// may do anything (it is only sent here when it was limited, so that cannot happen
/// unless the node's view was newer than this entry's: then limit it by nothing more).
fn script_user(acl: &AclTable, name: &[u8]) -> AclUser {
    match acl.get(name) {
        Some(u) => u.clone(),
        None if name == acl::DEFAULT_USER => AclUser::config_default(None),
        None => AclUser::default(),
    }
}

/// A hash of the live object under `key` (0 if absent): its serde form, so any change
/// of value, kind or expiry changes it. FNV-1a: the same on every node.
fn fingerprint(ks: &Keyspace, key: &[u8], now: Millis) -> u64 {
    let Some(obj) = ks.get_live(key, now) else {
        return 0;
    };
    let bytes = postcard::to_allocvec(obj).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h.max(1)
}

/// All replicated state: the clock, the token sequence and the keyspace. Its serde form
/// is the snapshot (the deadline indexes are rebuilt on decode, not stored); see
/// `snapshot_compat` for how snapshots of earlier releases still decode.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StateMachine {
    now: Millis,
    last_token: u64,
    /// Highest LOCK waiter id issued: one log entry may queue several waiters, so ids
    /// come from their own sequence rather than the entry's index.
    #[serde(default)]
    last_waiter: u64,
    keys: Keyspace,
    /// EVAL's script cache: replicated, so EVALSHA works on every node and after
    /// failover.
    #[serde(default)]
    scripts: ScriptCache,
    /// ACL users (every one but an unchanged `default`).
    #[serde(default)]
    acl: AclTable,
}

impl StateMachine {
    /// An empty state machine at time 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one log entry. `index` is the Raft log index (strictly increasing across calls;
    /// gaps are possible because membership/blank entries do not reach here). Events for
    /// waiting clients are pushed onto `events`.
    pub fn apply(&mut self, index: u64, req: &Request, events: &mut Vec<Event>) -> Response {
        self.now = self.now.max(req.time);
        let scripts = &mut self.scripts;
        let ks = &mut self.keys;
        let acl = &mut self.acl;
        let cx = &mut Ctx {
            now: self.now,
            index,
            last_token: &mut self.last_token,
            last_waiter: &mut self.last_waiter,
            events,
        };
        match &req.op {
            Op::LockAcquire {
                name,
                owner,
                ttl_ms,
                wait_ms,
            } => lock::acquire(
                ks,
                cx,
                lock::Acquire {
                    name,
                    owner,
                    ttl_ms: *ttl_ms,
                    wait_ms: *wait_ms,
                    delay_ms: 0,
                },
            ),
            Op::LockAcquireDelayed {
                name,
                owner,
                ttl_ms,
                wait_ms,
                delay_ms,
            } => lock::acquire(
                ks,
                cx,
                lock::Acquire {
                    name,
                    owner,
                    ttl_ms: *ttl_ms,
                    wait_ms: *wait_ms,
                    delay_ms: *delay_ms,
                },
            ),
            Op::LockRelease { name, owner, token } => lock::release(ks, cx, name, owner, *token),
            Op::LockExtend {
                name,
                owner,
                token,
                ttl_ms,
            } => lock::extend(ks, cx, name, owner, *token, *ttl_ms),
            Op::LockCancelWait { name, waiter } => lock::cancel_wait(ks, cx, name, *waiter),
            Op::FenceAdvance { resource, token, lock } => fence::advance(ks, cx, resource, *token, lock.as_ref()),
            Op::FenceSet {
                key,
                token,
                value,
                lock,
            } => fence::set(ks, cx, key, *token, value, lock.as_ref()),
            Op::Bucket { key, params, cost } => bucket::take(ks, cx, key, *params, *cost),
            Op::IdempBegin {
                key,
                fingerprint,
                ttl_ms,
                lease_ms,
            } => idemp::begin(ks, cx, key, fingerprint, *ttl_ms, *lease_ms),
            Op::IdempComplete { key, token, response } => idemp::complete(ks, cx, key, *token, response),
            Op::IdempAbort { key, token } => idemp::abort(ks, cx, key, *token),
            Op::Tick => tick::tick(ks, cx),
            Op::Data(c) => Response::Value(run_data(ks, cx, scripts, c, None)),
            Op::Multi { watched, cmds } => {
                let now = cx.now;
                if watched.iter().any(|(k, fp)| fingerprint(ks, k, now) != *fp) {
                    return Response::Value(RVal::NilArray);
                }
                Response::Value(RVal::Array(
                    cmds.iter()
                        .map(|c| match c {
                            Ok(c) => run_data(ks, cx, scripts, c, None),
                            Err(e) => RVal::Err(e.clone()),
                        })
                        .collect(),
                ))
            }
            Op::AclSetUser { user, if_absent, rules } => {
                acl.set_user(user, if_absent, rules);
                Response::Ok
            }
            Op::AclDelUser { users } => Response::Value(RVal::Int(acl.del_users(users) as i64)),
            Op::SemAcquire {
                name,
                holder,
                limit,
                ttl_ms,
                count,
                wait_ms,
            } => semaphore::acquire(
                ks,
                cx,
                semaphore::Acquire {
                    name,
                    holder,
                    limit: *limit,
                    ttl_ms: *ttl_ms,
                    count: *count,
                    wait_ms: *wait_ms,
                },
            ),
            Op::SemRelease { name, holder, token } => {
                leases::release::<semaphore::Semaphore>(ks, cx, name, holder, *token)
            }
            Op::SemExtend {
                name,
                holder,
                token,
                ttl_ms,
            } => leases::extend::<semaphore::Semaphore>(ks, cx, name, holder, *token, *ttl_ms),
            Op::Sliding { key, params, cost } => window::take(ks, cx, key, *params, *cost),
            Op::RwAcquire {
                name,
                owner,
                write,
                ttl_ms,
                wait_ms,
            } => rwlock::acquire(
                ks,
                cx,
                rwlock::Acquire {
                    name,
                    owner,
                    write: *write,
                    ttl_ms: *ttl_ms,
                    wait_ms: *wait_ms,
                },
            ),
            Op::RwRelease { name, owner, token } => leases::release::<rwlock::RwLock>(ks, cx, name, owner, *token),
            Op::RwExtend {
                name,
                owner,
                token,
                ttl_ms,
            } => leases::extend::<rwlock::RwLock>(ks, cx, name, owner, *token, *ttl_ms),
            Op::Scripted { user, cmd } => {
                let who = script_user(acl, user);
                Response::Value(run_data(ks, cx, scripts, cmd, Some((user, &who))))
            }
        }
    }

    /// A read-only data command (or EVAL_RO) at `now`, after ReadIndex; `user` limits
    /// what a script's `redis.call` may touch (`None`: anything).
    pub fn data_read(&self, c: &DataCmd, now: Millis, user: Option<&[u8]>) -> RVal {
        let now = now.max(self.now);
        let who = user.map(|u| (u, script_user(&self.acl, u)));
        match c {
            DataCmd::Eval { script, keys, args, .. } => {
                let (body, sha) = match script {
                    ScriptRef::Body(b) => (b.clone(), script::sha1::sha1_hex(b)),
                    ScriptRef::Sha(s) => match self.scripts.get(s) {
                        Some(b) => (b.clone(), String::from_utf8_lossy(s).into_owned()),
                        None => return noscript(),
                    },
                };
                script::run(
                    Store::Read(&self.keys, now),
                    who.as_ref().map(|(n, u)| (*n, u)),
                    &body,
                    &sha,
                    keys,
                    args,
                    now,
                )
            }
            DataCmd::ScriptExists(shas) => RVal::Array(
                shas.iter()
                    .map(|s| RVal::Int(self.scripts.get(&s.to_ascii_lowercase()).is_some() as i64))
                    .collect(),
            ),
            other => data::read(&self.keys, now, other),
        }
    }

    /// The replicated ACL users.
    pub fn acl(&self) -> &AclTable {
        &self.acl
    }

    /// What WATCH remembers of `key` at `now`; EXEC proceeds only if it is unchanged.
    pub fn watch_fingerprint(&self, key: &[u8], now: Millis) -> u64 {
        fingerprint(&self.keys, key, now.max(self.now))
    }

    /// The state machine's "now": max of all stamps applied so far (0 initially).
    pub fn now(&self) -> Millis {
        self.now
    }

    /// Highest fencing token ever issued (0 if none).
    pub fn last_token(&self) -> u64 {
        self.last_token
    }

    /// Earliest stamped time at which a Tick would grant or drop a queued LOCK waiter
    /// (a held lock with a non-empty queue expires, or a waiter's WAIT deadline passes).
    pub fn next_waiter_deadline(&self) -> Option<Millis> {
        self.keys.next_waiter_due()
    }

    /// Earliest stamped time at which a Tick would forget an expired object (GC).
    pub fn next_gc_deadline(&self) -> Option<Millis> {
        self.keys.next_gc_due()
    }

    /// LOCK INFO at `now`. An expired lease reads as free even while live waiters are
    /// queued for it (the Tick that hands it over is already due).
    pub fn lock_info(&self, name: &[u8], now: Millis) -> Result<Option<LockView>, WrongType> {
        let now = now.max(self.now);
        Ok(self.keys.read::<lock::Lock>(name, now)?.and_then(|l| l.view(now)))
    }

    /// SEMAPHORE INFO at `now`.
    pub fn semaphore_info(&self, name: &[u8], now: Millis) -> Result<Option<SemaphoreView>, WrongType> {
        let now = now.max(self.now);
        Ok(self.keys.read::<semaphore::Semaphore>(name, now)?.map(|s| s.view(now)))
    }

    /// RWLOCK INFO at `now`.
    pub fn rwlock_info(&self, name: &[u8], now: Millis) -> Result<Option<RwLockView>, WrongType> {
        let now = now.max(self.now);
        Ok(self.keys.read::<rwlock::RwLock>(name, now)?.and_then(|l| l.view(now)))
    }

    /// RATELIMIT SLIDING ... COST 0 (peek).
    pub fn sliding_peek(
        &self,
        key: &[u8],
        params: window::SlidingParams,
        now: Millis,
    ) -> Result<BucketReply, WrongType> {
        window::peek(&self.keys, key, params, now.max(self.now))
    }

    /// FENCE GET: the highest token and the value, if the fence exists.
    pub fn fence_get(&self, key: &[u8]) -> Result<Option<(u64, Option<Bytes>)>, WrongType> {
        Ok(self
            .keys
            .read::<fence::Fence>(key, self.now)?
            .map(|f| (f.highest, f.value.clone())))
    }

    /// IDEMP GET at `now`.
    pub fn idemp_get(&self, key: &[u8], now: Millis) -> Result<Option<IdempView>, WrongType> {
        let now = now.max(self.now);
        Ok(self.keys.read::<idemp::Idemp>(key, now)?.map(|r| r.view(now)))
    }

    /// TOKENBUCKET ... COST 0 (peek): the reply without taking anything.
    pub fn bucket_peek(&self, key: &[u8], params: BucketParams, now: Millis) -> Result<BucketReply, WrongType> {
        bucket::peek(&self.keys, key, params, now.max(self.now))
    }

    /// Stored objects per kind, as `(kind, count)` (`fencepost_keys{kind}`).
    pub fn kind_counts(&self) -> Vec<(&'static str, u64)> {
        object::KINDS.iter().copied().zip(self.keys.kind_counts()).collect()
    }

    /// The `n` locks with the most live waiters at `now`, most first (the status page).
    pub fn most_waited_locks(&self, n: usize, now: Millis) -> Vec<(Bytes, LockView)> {
        let now = now.max(self.now);
        let mut locks: Vec<(Bytes, LockView)> = self
            .keys
            .queued_names()
            .filter_map(|name| {
                let view = self.keys.read::<lock::Lock>(name.as_slice(), now).ok()??.view(now)?;
                Some((Bytes::from(name), view))
            })
            .collect();
        locks.sort_by(|a, b| b.1.waiters.cmp(&a.1.waiters).then_with(|| a.0.cmp(&b.0)));
        locks.dedup_by(|a, b| a.0 == b.0);
        locks.truncate(n);
        locks
    }

    /// DBSIZE: number of live (unexpired at `now`) objects.
    pub fn len_live(&self, now: Millis) -> usize {
        self.keys.live_count(now.max(self.now))
    }
}
