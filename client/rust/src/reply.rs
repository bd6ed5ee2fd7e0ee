//! Typed replies and their parsing from `redis::Value`: pure, so unit-tested without a server.

use std::time::Duration;

use redis::Value;

use crate::error::{from_code, Error, Result};

/// `LOCK INFO` of a held lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockInfo {
    /// Current holder.
    pub owner: Vec<u8>,
    /// Fencing token of the current grant.
    pub token: u64,
    /// Lease time remaining.
    pub ttl: Duration,
    /// Callers queued with WAIT.
    pub waiters: u64,
}

/// `SEMAPHORE INFO` of a semaphore someone holds or waits on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SemaphoreInfo {
    /// The limit the latest ACQUIRE gave.
    pub limit: u64,
    /// Permits leased now.
    pub used: u64,
    /// Leases now (one holder may lease several permits).
    pub holders: u64,
    /// Callers queued with WAIT.
    pub waiters: u64,
}

/// Which way an RWLOCK is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RwMode {
    /// Shared: any number of readers.
    Read,
    /// Exclusive: one writer.
    Write,
}

/// `RWLOCK INFO` of an RWLOCK someone holds or waits on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RwLockInfo {
    /// How it is held.
    pub mode: RwMode,
    /// Leases now: readers in read mode, 1 (or 0 while only waiters remain) in write mode.
    pub holders: u64,
    /// The writer's token in write mode; None in read mode (readers' tokens fence nothing).
    pub token: Option<u64>,
    /// Callers queued with WAIT.
    pub waiters: u64,
}

/// `FENCE GET` of an existing fence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceValue {
    /// Highest token the fence has seen.
    pub token: u64,
    /// Value stored by `FENCE SET`, if any.
    pub value: Option<Vec<u8>>,
}

/// `TOKENBUCKET` (and `RATELIMIT SLIDING`) reply, in redis-cell's CL.THROTTLE order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketReply {
    /// True when the tokens were taken.
    pub allowed: bool,
    /// Bucket capacity.
    pub capacity: u64,
    /// Whole tokens left after this call.
    pub remaining: u64,
    /// When refused: time until the requested tokens exist.
    pub retry_after: Option<Duration>,
    /// Time until the bucket is full again.
    pub reset_after: Duration,
}

/// `IDEMP BEGIN` outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// New claim: do the work, then COMPLETE or ABORT with this token.
    Started(u64),
    /// Another claim is in flight: retry after this long (HTTP 409).
    Pending(Duration),
    /// Completed earlier: replay this response.
    Done(Vec<u8>),
}

/// `IDEMP GET` of a known key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempStatus {
    /// A claim is in flight; its lease has this long left.
    Pending(Duration),
    /// Completed with this response.
    Done(Vec<u8>),
}

fn unexpected(what: &str, v: &Value) -> Error {
    Error::Protocol(format!("{what}: got {v:?}"))
}

/// Surfaces an error nested in a reply (RESP3 or inside an array) as our error.
fn check(v: &Value) -> Result<()> {
    match v {
        Value::ServerError(e) => Err(from_code(e.code(), e.details().unwrap_or_default().to_string())),
        _ => Ok(()),
    }
}

/// An integer reply.
pub fn int(v: &Value) -> Result<i64> {
    check(v)?;
    match v {
        Value::Int(n) => Ok(*n),
        _ => Err(unexpected("integer", v)),
    }
}

/// A non-negative integer reply.
pub fn uint(v: &Value) -> Result<u64> {
    let n = int(v)?;
    u64::try_from(n).map_err(|_| unexpected("non-negative integer", v))
}

/// `:1` / `:0`.
pub fn flag(v: &Value) -> Result<bool> {
    match int(v)? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(unexpected("0 or 1", v)),
    }
}

/// `+OK`.
pub fn ok(v: &Value) -> Result<()> {
    check(v)?;
    match v {
        Value::Okay => Ok(()),
        Value::SimpleString(s) if s == "OK" => Ok(()),
        _ => Err(unexpected("OK", v)),
    }
}

/// Bytes of a bulk, simple or verbatim string.
pub fn bytes(v: &Value) -> Result<Vec<u8>> {
    check(v)?;
    match v {
        Value::BulkString(b) => Ok(b.clone()),
        Value::SimpleString(s) => Ok(s.as_bytes().to_vec()),
        Value::VerbatimString { text, .. } => Ok(text.as_bytes().to_vec()),
        Value::Okay => Ok(b"OK".to_vec()),
        _ => Err(unexpected("string", v)),
    }
}

/// A fencing token: positive integer, or nil when nothing was granted.
pub fn token_opt(v: &Value) -> Result<Option<u64>> {
    check(v)?;
    match v {
        Value::Nil => Ok(None),
        _ => match uint(v)? {
            0 => Err(unexpected("positive token", v)),
            t => Ok(Some(t)),
        },
    }
}

/// A duration given in integer milliseconds; negatives are clamped to zero.
fn millis(v: &Value) -> Result<Duration> {
    Ok(Duration::from_millis(u64::try_from(int(v)?).unwrap_or(0)))
}

fn array<'a>(what: &str, v: &'a Value) -> Result<&'a [Value]> {
    check(v)?;
    match v {
        Value::Array(items) | Value::Set(items) => Ok(items),
        _ => Err(unexpected(what, v)),
    }
}

/// Key/value pairs of a RESP3 map or a RESP2 flat array.
fn pairs(what: &str, v: &Value) -> Result<Vec<(Vec<u8>, Value)>> {
    check(v)?;
    match v {
        Value::Map(kvs) => kvs.iter().map(|(k, v)| Ok((bytes(k)?, v.clone()))).collect(),
        Value::Array(items) if items.len() % 2 == 0 => items
            .chunks_exact(2)
            .map(|kv| Ok((bytes(&kv[0])?, kv[1].clone())))
            .collect(),
        _ => Err(unexpected(what, v)),
    }
}

/// `LOCK INFO`: nil, or a map / flat array with owner, token, ttl-ms, waiters.
pub fn lock_info(v: &Value) -> Result<Option<LockInfo>> {
    if matches!(v, Value::Nil) {
        return Ok(None);
    }
    let (mut owner, mut token, mut ttl, mut waiters) = (None, None, None, None);
    for (k, val) in pairs("LOCK INFO map", v)? {
        match k.as_slice() {
            b"owner" => owner = Some(bytes(&val)?),
            b"token" => token = Some(uint(&val)?),
            b"ttl-ms" => ttl = Some(millis(&val)?),
            b"waiters" => waiters = Some(uint(&val)?),
            _ => {} // Tolerate fields added later.
        }
    }
    match (owner, token, ttl, waiters) {
        (Some(owner), Some(token), Some(ttl), Some(waiters)) => Ok(Some(LockInfo {
            owner,
            token,
            ttl,
            waiters,
        })),
        _ => Err(unexpected("LOCK INFO with owner, token, ttl-ms, waiters", v)),
    }
}

/// `SEMAPHORE INFO`: nil, or a map / flat array with limit, used, holders, waiters.
pub fn semaphore_info(v: &Value) -> Result<Option<SemaphoreInfo>> {
    if matches!(v, Value::Nil) {
        return Ok(None);
    }
    let (mut limit, mut used, mut holders, mut waiters) = (None, None, None, None);
    for (k, val) in pairs("SEMAPHORE INFO map", v)? {
        match k.as_slice() {
            b"limit" => limit = Some(uint(&val)?),
            b"used" => used = Some(uint(&val)?),
            b"holders" => holders = Some(uint(&val)?),
            b"waiters" => waiters = Some(uint(&val)?),
            _ => {} // Tolerate fields added later.
        }
    }
    match (limit, used, holders, waiters) {
        (Some(limit), Some(used), Some(holders), Some(waiters)) => Ok(Some(SemaphoreInfo {
            limit,
            used,
            holders,
            waiters,
        })),
        _ => Err(unexpected("SEMAPHORE INFO with limit, used, holders, waiters", v)),
    }
}

/// `RWLOCK INFO`: nil, or a map / flat array with mode (read|write), holders, token
/// (the writer's; nil or absent in read mode), waiters.
pub fn rwlock_info(v: &Value) -> Result<Option<RwLockInfo>> {
    if matches!(v, Value::Nil) {
        return Ok(None);
    }
    let (mut mode, mut holders, mut token, mut waiters) = (None, None, None, None);
    for (k, val) in pairs("RWLOCK INFO map", v)? {
        match k.as_slice() {
            b"mode" => {
                mode = Some(match bytes(&val)?.to_ascii_lowercase().as_slice() {
                    b"read" => RwMode::Read,
                    b"write" => RwMode::Write,
                    _ => return Err(unexpected("RWLOCK INFO mode read or write", v)),
                })
            }
            b"holders" => holders = Some(uint(&val)?),
            b"token" => token = token_opt(&val)?,
            b"waiters" => waiters = Some(uint(&val)?),
            _ => {} // Tolerate fields added later.
        }
    }
    match (mode, holders, waiters) {
        (Some(mode), Some(holders), Some(waiters)) => Ok(Some(RwLockInfo {
            mode,
            holders,
            token,
            waiters,
        })),
        _ => Err(unexpected("RWLOCK INFO with mode, holders, waiters", v)),
    }
}

/// `FENCE GET`: nil, or `[highest-token, value-or-nil]`.
pub fn fence_get(v: &Value) -> Result<Option<FenceValue>> {
    if matches!(v, Value::Nil) {
        return Ok(None);
    }
    match array("FENCE GET pair", v)? {
        [token, value] => Ok(Some(FenceValue {
            token: uint(token)?,
            value: if matches!(value, Value::Nil) {
                None
            } else {
                Some(bytes(value)?)
            },
        })),
        _ => Err(unexpected("FENCE GET pair", v)),
    }
}

/// `TOKENBUCKET` or `RATELIMIT SLIDING`: five integers.
pub fn bucket(v: &Value) -> Result<BucketReply> {
    match array("rate-limit array", v)? {
        [limited, capacity, remaining, retry, reset] => Ok(BucketReply {
            allowed: !flag(limited)?,
            capacity: uint(capacity)?,
            remaining: uint(remaining)?,
            retry_after: match int(retry)? {
                n if n < 0 => None,
                n => Some(Duration::from_millis(n.unsigned_abs())),
            },
            reset_after: millis(reset)?,
        }),
        _ => Err(unexpected("rate-limit array of 5", v)),
    }
}

/// Splits `[status, payload]` into its parts.
fn status_pair<'a>(what: &str, v: &'a Value) -> Result<(Vec<u8>, &'a Value)> {
    match array(what, v)? {
        [status, payload] => Ok((bytes(status)?, payload)),
        _ => Err(unexpected(what, v)),
    }
}

/// `IDEMP BEGIN`: `["started", token]`, `["pending", ms]` or `["done", response]`.
pub fn begin(v: &Value) -> Result<Begin> {
    let (status, payload) = status_pair("IDEMP BEGIN pair", v)?;
    match status.as_slice() {
        b"started" => token_opt(payload)?
            .map(Begin::Started)
            .ok_or_else(|| unexpected("started token", v)),
        b"pending" => Ok(Begin::Pending(millis(payload)?)),
        b"done" => Ok(Begin::Done(bytes(payload)?)),
        _ => Err(unexpected("IDEMP BEGIN status", v)),
    }
}

/// `IDEMP GET`: nil, `["pending", ms]` or `["done", response]`.
pub fn idemp_get(v: &Value) -> Result<Option<IdempStatus>> {
    if matches!(v, Value::Nil) {
        return Ok(None);
    }
    let (status, payload) = status_pair("IDEMP GET pair", v)?;
    match status.as_slice() {
        b"pending" => Ok(Some(IdempStatus::Pending(millis(payload)?))),
        b"done" => Ok(Some(IdempStatus::Done(bytes(payload)?))),
        _ => Err(unexpected("IDEMP GET status", v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn tokens() {
        assert_eq!(token_opt(&Value::Int(7)).ok(), Some(Some(7)));
        assert_eq!(token_opt(&Value::Nil).ok(), Some(None));
        assert!(token_opt(&Value::Int(0)).is_err());
        assert!(token_opt(&Value::Int(-3)).is_err());
        assert!(token_opt(&bulk("7")).is_err());
    }

    #[test]
    fn flags_and_ok() {
        assert_eq!(flag(&Value::Int(1)).ok(), Some(true));
        assert_eq!(flag(&Value::Int(0)).ok(), Some(false));
        assert!(flag(&Value::Int(2)).is_err());
        assert!(ok(&Value::Okay).is_ok());
        assert!(ok(&Value::SimpleString("OK".into())).is_ok());
        assert!(ok(&Value::Int(1)).is_err());
    }

    #[test]
    fn lock_info_resp2_and_resp3() {
        let flat = Value::Array(vec![
            bulk("owner"),
            bulk("me"),
            bulk("token"),
            Value::Int(42),
            bulk("ttl-ms"),
            Value::Int(900),
            bulk("waiters"),
            Value::Int(2),
        ]);
        let want = LockInfo {
            owner: b"me".to_vec(),
            token: 42,
            ttl: Duration::from_millis(900),
            waiters: 2,
        };
        assert_eq!(lock_info(&flat).ok(), Some(Some(want.clone())));
        let map = Value::Map(vec![
            (Value::SimpleString("waiters".into()), Value::Int(2)),
            (bulk("token"), Value::Int(42)),
            (bulk("owner"), bulk("me")),
            (bulk("ttl-ms"), Value::Int(900)),
        ]);
        assert_eq!(lock_info(&map).ok(), Some(Some(want)));
        assert_eq!(lock_info(&Value::Nil).ok(), Some(None));
        assert!(lock_info(&Value::Array(vec![bulk("owner"), bulk("me")])).is_err());
    }

    #[test]
    fn semaphore_info_resp2_and_resp3() {
        let want = SemaphoreInfo {
            limit: 3,
            used: 2,
            holders: 1,
            waiters: 4,
        };
        let flat = Value::Array(vec![
            bulk("limit"),
            Value::Int(3),
            bulk("used"),
            Value::Int(2),
            bulk("holders"),
            Value::Int(1),
            bulk("waiters"),
            Value::Int(4),
        ]);
        assert_eq!(semaphore_info(&flat).ok(), Some(Some(want.clone())));
        let map = Value::Map(vec![
            (Value::SimpleString("waiters".into()), Value::Int(4)),
            (bulk("holders"), Value::Int(1)),
            (bulk("used"), Value::Int(2)),
            (bulk("limit"), Value::Int(3)),
            (bulk("added-later"), bulk("x")),
        ]);
        assert_eq!(semaphore_info(&map).ok(), Some(Some(want)));
        assert_eq!(semaphore_info(&Value::Nil).ok(), Some(None));
        assert!(semaphore_info(&Value::Array(vec![bulk("limit"), Value::Int(3)])).is_err());
        assert!(semaphore_info(&Value::Array(vec![
            bulk("limit"),
            Value::Int(-1),
            bulk("used"),
            Value::Int(0),
            bulk("holders"),
            Value::Int(0),
            bulk("waiters"),
            Value::Int(0),
        ]))
        .is_err());
    }

    #[test]
    fn rwlock_info_modes_resp2_and_resp3() {
        let write = Value::Array(vec![
            bulk("mode"),
            bulk("write"),
            bulk("holders"),
            Value::Int(1),
            bulk("token"),
            Value::Int(77),
            bulk("waiters"),
            Value::Int(2),
        ]);
        assert_eq!(
            rwlock_info(&write).ok(),
            Some(Some(RwLockInfo {
                mode: RwMode::Write,
                holders: 1,
                token: Some(77),
                waiters: 2
            }))
        );
        let read_nil_token = Value::Map(vec![
            (bulk("mode"), Value::SimpleString("read".into())),
            (bulk("holders"), Value::Int(3)),
            (bulk("token"), Value::Nil),
            (bulk("waiters"), Value::Int(0)),
        ]);
        let want_read = RwLockInfo {
            mode: RwMode::Read,
            holders: 3,
            token: None,
            waiters: 0,
        };
        assert_eq!(rwlock_info(&read_nil_token).ok(), Some(Some(want_read.clone())));
        let read_no_token = Value::Array(vec![
            bulk("mode"),
            bulk("read"),
            bulk("holders"),
            Value::Int(3),
            bulk("waiters"),
            Value::Int(0),
        ]);
        assert_eq!(rwlock_info(&read_no_token).ok(), Some(Some(want_read)));
        assert_eq!(rwlock_info(&Value::Nil).ok(), Some(None));
        let bad_mode = Value::Array(vec![
            bulk("mode"),
            bulk("sideways"),
            bulk("holders"),
            Value::Int(1),
            bulk("waiters"),
            Value::Int(0),
        ]);
        assert!(rwlock_info(&bad_mode).is_err());
        assert!(rwlock_info(&Value::Array(vec![bulk("mode"), bulk("read")])).is_err());
    }

    #[test]
    fn fence_values() {
        let v = Value::Array(vec![Value::Int(9), bulk("x")]);
        assert_eq!(
            fence_get(&v).ok(),
            Some(Some(FenceValue {
                token: 9,
                value: Some(b"x".to_vec())
            }))
        );
        let v = Value::Array(vec![Value::Int(9), Value::Nil]);
        assert_eq!(fence_get(&v).ok(), Some(Some(FenceValue { token: 9, value: None })));
        assert_eq!(fence_get(&Value::Nil).ok(), Some(None));
        assert!(fence_get(&Value::Array(vec![Value::Int(9)])).is_err());
    }

    #[test]
    fn bucket_allowed_and_refused() {
        let v = Value::Array(vec![
            Value::Int(0),
            Value::Int(10),
            Value::Int(9),
            Value::Int(-1),
            Value::Int(100),
        ]);
        let r = bucket(&v).ok();
        assert_eq!(
            r,
            Some(BucketReply {
                allowed: true,
                capacity: 10,
                remaining: 9,
                retry_after: None,
                reset_after: Duration::from_millis(100)
            })
        );
        let v = Value::Array(vec![
            Value::Int(1),
            Value::Int(10),
            Value::Int(0),
            Value::Int(250),
            Value::Int(1000),
        ]);
        let r = bucket(&v).ok();
        assert_eq!(
            r.as_ref().map(|r| (r.allowed, r.retry_after)),
            Some((false, Some(Duration::from_millis(250))))
        );
        assert!(bucket(&Value::Array(vec![Value::Int(0)])).is_err());
    }

    #[test]
    fn begin_states() {
        let v = Value::Array(vec![bulk("started"), Value::Int(5)]);
        assert_eq!(begin(&v).ok(), Some(Begin::Started(5)));
        let v = Value::Array(vec![bulk("pending"), Value::Int(1200)]);
        assert_eq!(begin(&v).ok(), Some(Begin::Pending(Duration::from_millis(1200))));
        let v = Value::Array(vec![Value::SimpleString("done".into()), bulk("resp")]);
        assert_eq!(begin(&v).ok(), Some(Begin::Done(b"resp".to_vec())));
        assert!(begin(&Value::Array(vec![bulk("weird"), Value::Int(1)])).is_err());
    }

    #[test]
    fn idemp_get_states() {
        assert_eq!(idemp_get(&Value::Nil).ok(), Some(None));
        let v = Value::Array(vec![bulk("done"), bulk("r")]);
        assert_eq!(idemp_get(&v).ok(), Some(Some(IdempStatus::Done(b"r".to_vec()))));
        let v = Value::Array(vec![bulk("pending"), Value::Int(10)]);
        assert_eq!(
            idemp_get(&v).ok(),
            Some(Some(IdempStatus::Pending(Duration::from_millis(10))))
        );
    }

    #[test]
    fn nested_server_error_surfaces() {
        // ServerError is not nameable outside redis-rs, so build one through its parser.
        let v = redis::parse_redis_value(b"*2\r\n-STALE f token 1 < 2\r\n$1\r\nv\r\n");
        assert!(matches!(v.map(|v| fence_get(&v)), Ok(Err(Error::Stale(ref d))) if d == "f token 1 < 2"));
    }
}
