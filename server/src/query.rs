//! Linearizable reads as data, so a follower can forward them to the leader and the
//! leader can run them after ReadIndex.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::sm::acl::AclTable;
use crate::sm::data::cmd::DataCmd;
use crate::sm::rval::RVal;
use crate::sm::window::SlidingParams;
use crate::sm::{
    BucketParams, BucketReply, IdempView, LockView, Millis, RwLockView, SemaphoreView, StateMachine, WrongType,
};

/// A read of the state machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ReadQuery {
    LockInfo {
        name: Bytes,
    },
    FenceGet {
        key: Bytes,
    },
    IdempGet {
        key: Bytes,
    },
    BucketPeek {
        key: Bytes,
        params: BucketParams,
    },
    DbSize,
    /// A read-only Redis data command (or EVAL_RO / EVALSHA_RO).
    Data(DataCmd),
    /// WATCH: the keys' fingerprints now.
    Watch(Vec<Bytes>),
    /// EVAL_RO / EVALSHA_RO by a user whose permissions are limited (see `Op::Scripted`).
    DataAs {
        user: Bytes,
        cmd: DataCmd,
    },
    /// ACL GETUSER, LIST, USERS: the replicated users.
    Acl,
    SemaphoreInfo {
        name: Bytes,
    },
    RwLockInfo {
        name: Bytes,
    },
    /// RATELIMIT SLIDING ... COST 0.
    SlidingPeek {
        key: Bytes,
        params: SlidingParams,
    },
    /// RAFT BACKUP's linearizable point: the index the leader has applied after
    /// confirming its leadership (answered by the node, not `run`).
    Barrier,
}

/// The answer to a [`ReadQuery`], variant for variant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ReadAnswer {
    LockInfo(Result<Option<LockView>, WrongType>),
    FenceGet(Result<Option<(u64, Option<Bytes>)>, WrongType>),
    IdempGet(Result<Option<IdempView>, WrongType>),
    BucketPeek(Result<BucketReply, WrongType>),
    DbSize(u64),
    Value(RVal),
    Watch(Vec<u64>),
    Acl(AclTable),
    SemaphoreInfo(Result<Option<SemaphoreView>, WrongType>),
    RwLockInfo(Result<Option<RwLockView>, WrongType>),
    SlidingPeek(Result<BucketReply, WrongType>),
    Barrier(u64),
}

impl ReadQuery {
    /// Every name the read touches, for the ACL key patterns.
    pub fn keys(&self) -> Vec<&[u8]> {
        match self {
            ReadQuery::LockInfo { name: k }
            | ReadQuery::FenceGet { key: k }
            | ReadQuery::IdempGet { key: k }
            | ReadQuery::BucketPeek { key: k, .. }
            | ReadQuery::SemaphoreInfo { name: k }
            | ReadQuery::RwLockInfo { name: k }
            | ReadQuery::SlidingPeek { key: k, .. } => vec![k],
            ReadQuery::Data(c) | ReadQuery::DataAs { cmd: c, .. } => c.keys(),
            ReadQuery::Watch(keys) => keys.iter().map(|k| k.as_ref()).collect(),
            ReadQuery::DbSize | ReadQuery::Acl | ReadQuery::Barrier => Vec::new(),
        }
    }

    /// Evaluates the query at `now` (the leader's stamp).
    pub fn run(&self, sm: &StateMachine, now: Millis) -> ReadAnswer {
        match self {
            ReadQuery::LockInfo { name } => ReadAnswer::LockInfo(sm.lock_info(name, now)),
            ReadQuery::FenceGet { key } => ReadAnswer::FenceGet(sm.fence_get(key)),
            ReadQuery::IdempGet { key } => ReadAnswer::IdempGet(sm.idemp_get(key, now)),
            ReadQuery::BucketPeek { key, params } => ReadAnswer::BucketPeek(sm.bucket_peek(key, *params, now)),
            ReadQuery::DbSize => ReadAnswer::DbSize(sm.len_live(now) as u64),
            ReadQuery::Data(c) => ReadAnswer::Value(sm.data_read(c, now, None)),
            ReadQuery::DataAs { user, cmd } => ReadAnswer::Value(sm.data_read(cmd, now, Some(user))),
            ReadQuery::Acl => ReadAnswer::Acl(sm.acl().clone()),
            ReadQuery::SemaphoreInfo { name } => ReadAnswer::SemaphoreInfo(sm.semaphore_info(name, now)),
            ReadQuery::RwLockInfo { name } => ReadAnswer::RwLockInfo(sm.rwlock_info(name, now)),
            ReadQuery::SlidingPeek { key, params } => ReadAnswer::SlidingPeek(sm.sliding_peek(key, *params, now)),
            // Only the node knows its applied index: `Node::read_local` answers it.
            ReadQuery::Barrier => ReadAnswer::Barrier(0),
            ReadQuery::Watch(keys) => ReadAnswer::Watch(keys.iter().map(|k| sm.watch_fingerprint(k, now)).collect()),
        }
    }
}
