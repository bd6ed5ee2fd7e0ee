//! Typed Redis data commands: what `parse.rs` makes of a request's arguments, what a
//! log entry (`Op::Data`) or a read (`ReadQuery::Data`) carries, and what scripts call.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::super::rval::F64;

/// An expiry as the client gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expiry {
    /// Milliseconds from the entry's time; zero or less expires the key at once.
    InMs(i64),
    /// Unix milliseconds. The receiving node turns it into `InMs` against its wall clock
    /// before proposing (SPEC "Time"); inside a script it is read on the cluster clock.
    AtMs(i64),
}

/// What a write does to a key's time to live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TtlChange {
    /// Remove any expiry (plain SET, GETEX PERSIST).
    Clear,
    /// Keep the expiry the key had (SET ... KEEPTTL).
    Keep,
    Expire(Expiry),
}

/// SET's NX / XX.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetCond {
    Always,
    IfAbsent,
    IfPresent,
}

/// EXPIRE's NX / XX / GT / LT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpireCond {
    Always,
    Nx,
    Xx,
    Gt,
    Lt,
}

/// A score bound of ZCOUNT / ZRANGEBYSCORE: `1.5`, `(1.5`, `-inf`, `+inf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreBound {
    pub val: F64,
    pub exclusive: bool,
}

/// ZADD's options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZaddFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub ch: bool,
    pub incr: bool,
}

/// How ZRANGE selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ZrangeBy {
    Rank { start: i64, stop: i64 },
    Score { min: ScoreBound, max: ScoreBound },
}

/// A script to run: its body, or the SHA1 of one in the script cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScriptRef {
    Body(Bytes),
    Sha(Bytes),
}

/// One Redis data command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DataCmd {
    // Keys
    Del(Vec<Bytes>),
    Exists(Vec<Bytes>),
    Type(Bytes),
    Expire {
        key: Bytes,
        at: Expiry,
        cond: ExpireCond,
    },
    Ttl {
        key: Bytes,
        ms: bool,
    },
    Persist(Bytes),
    Rename {
        src: Bytes,
        dst: Bytes,
        nx: bool,
    },
    Keys(Bytes),
    Scan {
        cursor: u64,
        pattern: Option<Bytes>,
        count: u64,
        kind: Option<Bytes>,
    },
    Time,
    // Strings
    Get(Bytes),
    Set {
        key: Bytes,
        val: Bytes,
        cond: SetCond,
        get: bool,
        ttl: TtlChange,
    },
    SetNx {
        key: Bytes,
        val: Bytes,
    },
    GetDel(Bytes),
    GetEx {
        key: Bytes,
        ttl: Option<TtlChange>,
    },
    MGet(Vec<Bytes>),
    MSet(Vec<(Bytes, Bytes)>),
    IncrBy {
        key: Bytes,
        by: i64,
    },
    IncrByFloat {
        key: Bytes,
        by: F64,
    },
    Append {
        key: Bytes,
        val: Bytes,
    },
    Strlen(Bytes),
    // Hashes
    HSet {
        key: Bytes,
        pairs: Vec<(Bytes, Bytes)>,
        ok_reply: bool,
    },
    HSetNx {
        key: Bytes,
        field: Bytes,
        val: Bytes,
    },
    HGet {
        key: Bytes,
        field: Bytes,
    },
    HMGet {
        key: Bytes,
        fields: Vec<Bytes>,
    },
    HDel {
        key: Bytes,
        fields: Vec<Bytes>,
    },
    HExists {
        key: Bytes,
        field: Bytes,
    },
    HIncrBy {
        key: Bytes,
        field: Bytes,
        by: i64,
    },
    HIncrByFloat {
        key: Bytes,
        field: Bytes,
        by: F64,
    },
    HGetAll(Bytes),
    HLen(Bytes),
    HKeys(Bytes),
    HVals(Bytes),
    // Lists
    Push {
        key: Bytes,
        vals: Vec<Bytes>,
        left: bool,
        only_existing: bool,
    },
    Pop {
        key: Bytes,
        left: bool,
        count: Option<u64>,
    },
    LLen(Bytes),
    LRange {
        key: Bytes,
        start: i64,
        stop: i64,
    },
    LIndex {
        key: Bytes,
        index: i64,
    },
    LTrim {
        key: Bytes,
        start: i64,
        stop: i64,
    },
    LRem {
        key: Bytes,
        count: i64,
        val: Bytes,
    },
    // Sorted sets
    ZAdd {
        key: Bytes,
        flags: ZaddFlags,
        pairs: Vec<(F64, Bytes)>,
    },
    ZRem {
        key: Bytes,
        members: Vec<Bytes>,
    },
    ZCard(Bytes),
    ZCount {
        key: Bytes,
        min: ScoreBound,
        max: ScoreBound,
    },
    ZScore {
        key: Bytes,
        member: Bytes,
    },
    ZIncrBy {
        key: Bytes,
        by: F64,
        member: Bytes,
    },
    ZRange {
        key: Bytes,
        by: ZrangeBy,
        rev: bool,
        limit: Option<(i64, i64)>,
        withscores: bool,
    },
    ZRemRangeByScore {
        key: Bytes,
        min: ScoreBound,
        max: ScoreBound,
    },
    ZRemRangeByRank {
        key: Bytes,
        start: i64,
        stop: i64,
    },
    // Scripts
    Eval {
        script: ScriptRef,
        keys: Vec<Bytes>,
        args: Vec<Bytes>,
        read_only: bool,
    },
    ScriptLoad(Bytes),
    ScriptExists(Vec<Bytes>),
    ScriptFlush,
}

impl DataCmd {
    /// Whether the command may change state (so travels through the log).
    pub fn is_write(&self) -> bool {
        use DataCmd::*;
        match self {
            Exists(_)
            | Type(_)
            | Ttl { .. }
            | Keys(_)
            | Scan { .. }
            | Time
            | Get(_)
            | MGet(_)
            | Strlen(_)
            | HGet { .. }
            | HMGet { .. }
            | HExists { .. }
            | HGetAll(_)
            | HLen(_)
            | HKeys(_)
            | HVals(_)
            | LLen(_)
            | LRange { .. }
            | LIndex { .. }
            | ZCard(_)
            | ZCount { .. }
            | ZScore { .. }
            | ScriptExists(_) => false,
            ZRange { .. } => false,
            Eval { read_only, .. } => !read_only,
            _ => true,
        }
    }

    /// The first key the command names (routes a -MOVED redirect), if any.
    pub fn first_key(&self) -> &[u8] {
        use DataCmd::*;
        match self {
            Del(k) | Exists(k) | MGet(k) => k.first().map_or(&[][..], |k| k),
            MSet(p) => p.first().map_or(&[][..], |(k, _)| k),
            Eval { keys, .. } => keys.first().map_or(&[][..], |k| k),
            Type(k) | Persist(k) | Get(k) | GetDel(k) | Strlen(k) | HGetAll(k) | HLen(k) | HKeys(k) | HVals(k)
            | LLen(k) | ZCard(k) => k,
            Expire { key, .. }
            | Ttl { key, .. }
            | Set { key, .. }
            | SetNx { key, .. }
            | GetEx { key, .. }
            | IncrBy { key, .. }
            | IncrByFloat { key, .. }
            | Append { key, .. }
            | HSet { key, .. }
            | HSetNx { key, .. }
            | HGet { key, .. }
            | HMGet { key, .. }
            | HDel { key, .. }
            | HExists { key, .. }
            | HIncrBy { key, .. }
            | HIncrByFloat { key, .. }
            | Push { key, .. }
            | Pop { key, .. }
            | LRange { key, .. }
            | LIndex { key, .. }
            | LTrim { key, .. }
            | LRem { key, .. }
            | ZAdd { key, .. }
            | ZRem { key, .. }
            | ZCount { key, .. }
            | ZScore { key, .. }
            | ZIncrBy { key, .. }
            | ZRange { key, .. }
            | ZRemRangeByScore { key, .. }
            | ZRemRangeByRank { key, .. } => key,
            Rename { src, .. } => src,
            Keys(_) | Scan { .. } | Time | ScriptLoad(_) | ScriptExists(_) | ScriptFlush => &[],
        }
    }

    /// Every key the command names (what a script's undo log saves before a write).
    pub fn keys(&self) -> Vec<&[u8]> {
        use DataCmd::*;
        match self {
            Del(k) | Exists(k) | MGet(k) => k.iter().map(|b| b.as_ref()).collect(),
            MSet(p) => p.iter().map(|(k, _)| k.as_ref()).collect(),
            Eval { keys, .. } => keys.iter().map(|b| b.as_ref()).collect(),
            Rename { src, dst, .. } => vec![src.as_ref(), dst.as_ref()],
            Keys(_) | Scan { .. } | Time | ScriptLoad(_) | ScriptExists(_) | ScriptFlush => vec![],
            other => vec![other.first_key()],
        }
    }

    /// Turns absolute expiry times into durations against `wall_ms`, the receiving
    /// node's wall clock (the one place a wall clock is read: SPEC "Time").
    pub fn resolve_wall_clock(&mut self, wall_ms: i64) {
        let fix = |e: &mut Expiry| {
            if let Expiry::AtMs(at) = *e {
                *e = Expiry::InMs(at.saturating_sub(wall_ms));
            }
        };
        match self {
            DataCmd::Expire { at, .. } => fix(at),
            DataCmd::Set {
                ttl: TtlChange::Expire(e),
                ..
            }
            | DataCmd::GetEx {
                ttl: Some(TtlChange::Expire(e)),
                ..
            } => fix(e),
            _ => {}
        }
    }
}
