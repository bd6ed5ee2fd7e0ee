//! The replicated state machine's inputs and outputs. These values travel in Raft log
//! entries and snapshots (serde), so changing them changes the on-disk format.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::acl::AclRule;
use super::data::cmd::DataCmd;
use super::rval::RVal;
use super::window::SlidingParams;

/// Milliseconds since the Unix epoch, as stamped by the leader on a log entry.
pub type Millis = u64;

/// Default IDEMP lease when BEGIN names none (SPEC.md).
pub const DEFAULT_IDEMP_LEASE_MS: u64 = 30_000;

/// One log entry's payload: the operation plus the leader's time stamp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Leader's wall clock when it proposed the entry. The state machine never reads a
    /// clock of its own: it uses max(previous stamp, this stamp) as "now".
    pub time: Millis,
    pub op: Op,
}

/// Every mutation the state machine knows. Reads never travel through the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    LockAcquire {
        name: Bytes,
        owner: Bytes,
        ttl_ms: u64,
        wait_ms: Option<u64>,
    },
    LockRelease {
        name: Bytes,
        owner: Bytes,
        token: u64,
    },
    LockExtend {
        name: Bytes,
        owner: Bytes,
        token: u64,
        ttl_ms: u64,
    },
    /// A waiting client went away: drop its queue entry (no-op if already resolved).
    LockCancelWait {
        name: Bytes,
        waiter: u64,
    },
    FenceAdvance {
        resource: Bytes,
        token: u64,
        lock: Option<Bytes>,
    },
    FenceSet {
        key: Bytes,
        token: u64,
        value: Bytes,
        lock: Option<Bytes>,
    },
    Bucket {
        key: Bytes,
        params: BucketParams,
        cost: u64,
    },
    IdempBegin {
        key: Bytes,
        fingerprint: Bytes,
        ttl_ms: u64,
        lease_ms: u64,
    },
    IdempComplete {
        key: Bytes,
        token: u64,
        response: Bytes,
    },
    IdempAbort {
        key: Bytes,
        token: u64,
    },
    /// Proposed by the leader when a deadline falls due (lock expiry with waiters,
    /// waiter timeout) and periodically to forget expired objects. Carries only time.
    Tick,
    /// A Redis data command or script (EVAL runs inside apply on every replica).
    Data(DataCmd),
    /// MULTI ... EXEC: the queued commands, applied together in one entry, unless a
    /// WATCHed key's fingerprint (see `StateMachine::watch_fingerprint`) changed.
    /// A queued command whose arguments were refused carries its error reply.
    Multi {
        watched: Vec<(Bytes, u64)>,
        cmds: Vec<Result<DataCmd, String>>,
    },
    /// ACL SETUSER: `if_absent` builds the user when it does not exist yet (see
    /// `AclTable::set_user`), then `rules` apply in order. Passwords are digests.
    AclSetUser {
        user: Bytes,
        if_absent: Vec<AclRule>,
        rules: Vec<AclRule>,
    },
    /// ACL DELUSER: replies with how many existed.
    AclDelUser {
        users: Vec<Bytes>,
    },
    SemAcquire {
        name: Bytes,
        holder: Bytes,
        limit: u64,
        ttl_ms: u64,
        count: u64,
        wait_ms: Option<u64>,
    },
    SemRelease {
        name: Bytes,
        holder: Bytes,
        token: u64,
    },
    SemExtend {
        name: Bytes,
        holder: Bytes,
        token: u64,
        ttl_ms: u64,
    },
    /// RATELIMIT SLIDING.
    Sliding {
        key: Bytes,
        params: SlidingParams,
        cost: u64,
    },
    /// A script run by a user whose permissions are limited: every `redis.call` is
    /// checked against that user as the replicated ACL has it when the entry applies.
    Scripted {
        user: Bytes,
        cmd: DataCmd,
    },
    /// RWLOCK READ (`write` false) or WRITE.
    RwAcquire {
        name: Bytes,
        owner: Bytes,
        write: bool,
        ttl_ms: u64,
        wait_ms: Option<u64>,
    },
    RwRelease {
        name: Bytes,
        owner: Bytes,
        token: u64,
    },
    RwExtend {
        name: Bytes,
        owner: Bytes,
        token: u64,
        ttl_ms: u64,
    },
    /// LOCK ACQUIRE ... DELAY ms (a variant of its own, so that entries without a delay
    /// keep the format every release reads).
    LockAcquireDelayed {
        name: Bytes,
        owner: Bytes,
        ttl_ms: u64,
        wait_ms: Option<u64>,
        delay_ms: u64,
    },
}

impl Op {
    /// Whether applying this may change the ACL users.
    pub fn changes_acl(&self) -> bool {
        matches!(self, Op::AclSetUser { .. } | Op::AclDelUser { .. })
    }

    /// Every name the op touches, for the ACL key patterns: lock names, fence
    /// resources and the lock a fenced write names, bucket, idempotency and data keys.
    pub fn keys(&self) -> Vec<&[u8]> {
        match self {
            Op::LockAcquire { name, .. }
            | Op::LockAcquireDelayed { name, .. }
            | Op::LockRelease { name, .. }
            | Op::LockExtend { name, .. }
            | Op::LockCancelWait { name, .. } => vec![name],
            Op::FenceAdvance {
                resource: key, lock, ..
            }
            | Op::FenceSet { key, lock, .. } => std::iter::once(key.as_ref()).chain(lock.as_deref()).collect(),
            Op::SemAcquire { name, .. }
            | Op::SemRelease { name, .. }
            | Op::SemExtend { name, .. }
            | Op::RwAcquire { name, .. }
            | Op::RwRelease { name, .. }
            | Op::RwExtend { name, .. } => vec![name],
            Op::Bucket { key, .. }
            | Op::Sliding { key, .. }
            | Op::IdempBegin { key, .. }
            | Op::IdempComplete { key, .. }
            | Op::IdempAbort { key, .. } => vec![key],
            Op::Data(c) | Op::Scripted { cmd: c, .. } => c.keys(),
            Op::Multi { cmds, .. } => cmds.iter().flatten().flat_map(|c| c.keys()).collect(),
            Op::Tick | Op::AclSetUser { .. } | Op::AclDelUser { .. } => Vec::new(),
        }
    }
}

/// TOKENBUCKET parameters as given on each call (they may change between calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketParams {
    pub capacity: u64,
    pub refill_tokens: u64,
    pub refill_period_ms: u64,
}

/// The five-integer TOKENBUCKET reply, in redis-cell's CL.THROTTLE field order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketReply {
    pub limited: bool,
    pub capacity: u64,
    pub remaining: u64,
    /// -1 when allowed.
    pub retry_after_ms: i64,
    pub reset_after_ms: u64,
}

/// What LOCK INFO shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockView {
    pub owner: Bytes,
    pub token: u64,
    pub ttl_remaining_ms: u64,
    pub waiters: u64,
}

/// What SEMAPHORE INFO shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SemaphoreView {
    pub limit: u64,
    pub used: u64,
    pub holders: u64,
    pub waiters: u64,
}

/// What RWLOCK INFO shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RwLockView {
    /// Whether the holder is a writer (else readers).
    pub write: bool,
    pub holders: u64,
    /// The writer's token; `None` while readers hold.
    pub token: Option<u64>,
    pub waiters: u64,
}

/// What IDEMP GET (and BEGIN) can find.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdempView {
    Pending { retry_after_ms: u64 },
    Done { response: Bytes },
}

/// Why a fenced write was refused (-STALE).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StaleReason {
    /// The token is older than the highest the fence has seen.
    Older { token: u64, highest: u64 },
    /// `LOCK <name>` was given and the token is not the current holder's.
    NotHolder { lock: Bytes, token: u64 },
    /// IDEMP COMPLETE/ABORT with a token whose claim was taken over or is gone.
    ClaimLost { token: u64 },
}

/// The result of applying one entry, returned to the proposer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Entries that are not commands (blank, membership) and Tick.
    None,
    /// LOCK ACQUIRE granted (or re-acquired by the same owner): the fencing token.
    Granted {
        token: u64,
    },
    /// LOCK ACQUIRE refused (held by another, no WAIT or WAIT 0).
    NotGranted,
    /// LOCK ACQUIRE ... WAIT joined the queue; `waiter` identifies the queue entry
    /// (unique, from the state machine's waiter sequence). The outcome arrives later as
    /// an [`Event`].
    Queued {
        waiter: u64,
    },
    /// LOCK RELEASE / EXTEND: whether owner+token held the lock. Also LockCancelWait.
    Bool(bool),
    /// FENCE ADVANCE accepted: the token.
    FenceAccepted {
        token: u64,
    },
    /// FENCE SET accepted, IDEMP COMPLETE / ABORT accepted.
    Ok,
    Stale(StaleReason),
    Bucket(BucketReply),
    IdempStarted {
        token: u64,
    },
    IdempPending {
        retry_after_ms: u64,
    },
    IdempDone {
        response: Bytes,
    },
    Mismatch,
    /// The name exists as another kind of object.
    WrongType,
    /// Arguments that the state machine rejects (e.g. COST > capacity).
    Invalid(String),
    /// The reply of a Redis data command, script or transaction.
    Value(RVal),
}

/// Side effects of an entry that concern clients other than its proposer: queued
/// LOCK ... WAIT callers being granted or giving up. Applied identically everywhere;
/// only the node holding the waiting connection acts on them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    WaiterGranted {
        waiter: u64,
        token: u64,
    },
    /// Deadline passed, cancelled, or superseded by a newer WAIT from the same owner.
    WaiterDropped {
        waiter: u64,
    },
}
