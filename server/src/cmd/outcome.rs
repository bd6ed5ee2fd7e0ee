//! From the node's answers to replies, for every command in one place: a write's
//! `Response`, a read's `ReadAnswer`, a data command's `RVal`, or a node error.

use std::sync::Arc;

use super::args;
use super::lock::{wait_for_grant, write_may_queue};
use super::Shape;
use crate::metrics::{self, METRICS};
use crate::node::{Node, NodeError};
use crate::query::{ReadAnswer, ReadQuery};
use crate::reply::Reply;
use crate::sm::rval::RVal;
use crate::sm::{BucketReply, IdempView, LockView, Op, Response, StaleReason};

/// Proposes `op` and replies with its outcome.
pub async fn write(node: Arc<Node>, mut op: Op, shape: Shape) -> Reply {
    resolve_wall_clock(&mut op);
    let subject = subject_of_op(&op).to_vec();
    let queuing = may_queue(&op);
    let result = match &queuing {
        Some((name, _)) => write_may_queue(node.clone(), op.clone(), name.clone()).await,
        None => node.write(op.clone()).await,
    };
    match result {
        Err(e) => node_error(e, &subject),
        Ok(Response::Queued { waiter }) => match queuing {
            Some((name, wait_ms)) => {
                let r = wait_for_grant(node, name, waiter, wait_ms).await;
                if matches!(op, Op::LockAcquire { .. } | Op::LockAcquireDelayed { .. }) && matches!(r, Reply::Int(_)) {
                    metrics::inc(&METRICS.lock_grants);
                }
                r
            }
            None => Reply::err(format!("ERR internal: {op:?} was queued")),
        },
        Ok(r) => {
            count_outcome(&op, &r);
            response(r, shape, &subject)
        }
    }
}

/// The name and wait of an acquire that may be queued (one with a WAIT): only these can
/// answer `Queued`, and they wait for their grant on that name.
fn may_queue(op: &Op) -> Option<(bytes::Bytes, u64)> {
    match op {
        Op::LockAcquire {
            name, wait_ms: Some(w), ..
        }
        | Op::LockAcquireDelayed {
            name, wait_ms: Some(w), ..
        }
        | Op::SemAcquire {
            name, wait_ms: Some(w), ..
        }
        | Op::RwAcquire {
            name, wait_ms: Some(w), ..
        } => Some((name.clone(), *w)),
        _ => None,
    }
}

/// The outcome counters of `/metrics`, for what this node answered.
fn count_outcome(op: &Op, r: &Response) {
    let counter = match (op, r) {
        (Op::LockAcquire { .. } | Op::LockAcquireDelayed { .. }, Response::Granted { .. }) => &METRICS.lock_grants,
        (Op::FenceAdvance { .. } | Op::FenceSet { .. }, Response::Stale(_)) => &METRICS.fence_stale,
        (_, Response::Bucket(b)) if b.limited => &METRICS.ratelimit_limited,
        (Op::IdempBegin { .. }, Response::IdempDone { .. }) => &METRICS.idemp_replays,
        _ => return,
    };
    metrics::inc(counter);
}

/// Runs `q` after ReadIndex and replies with its answer.
pub async fn read(node: Arc<Node>, q: ReadQuery, shape: Shape) -> Reply {
    let subject = subject_of_query(&q).to_vec();
    match node.read(q).await {
        Err(e) => node_error(e, &subject),
        Ok(a) => answer(a, shape),
    }
}

/// EXAT / PXAT / EXPIREAT name wall-clock instants: they become durations against
/// this node's wall clock now, before the entry is proposed (SPEC "Time"). This is the
/// only wall-clock read on the command path.
fn resolve_wall_clock(op: &mut Op) {
    let wall = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    };
    match op {
        Op::Data(c) => c.resolve_wall_clock(wall()),
        Op::Multi { cmds, .. } => {
            let now = wall();
            for c in cmds.iter_mut().flatten() {
                c.resolve_wall_clock(now);
            }
        }
        _ => {}
    }
}

/// The name an op is about: it picks the -MOVED slot and names the object in errors.
fn subject_of_op(op: &Op) -> &[u8] {
    match op {
        Op::LockAcquire { name, .. }
        | Op::LockAcquireDelayed { name, .. }
        | Op::LockRelease { name, .. }
        | Op::LockExtend { name, .. }
        | Op::LockCancelWait { name, .. }
        | Op::SemAcquire { name, .. }
        | Op::SemRelease { name, .. }
        | Op::SemExtend { name, .. }
        | Op::RwAcquire { name, .. }
        | Op::RwRelease { name, .. }
        | Op::RwExtend { name, .. } => name,
        Op::FenceAdvance { resource, .. } => resource,
        Op::FenceSet { key, .. }
        | Op::Bucket { key, .. }
        | Op::Sliding { key, .. }
        | Op::IdempBegin { key, .. }
        | Op::IdempComplete { key, .. }
        | Op::IdempAbort { key, .. } => key,
        Op::Data(c) | Op::Scripted { cmd: c, .. } => c.first_key(),
        Op::Multi { cmds, .. } => cmds.iter().flatten().next().map_or(&[][..], |c| c.first_key()),
        Op::Tick | Op::AclSetUser { .. } | Op::AclDelUser { .. } => &[],
    }
}

fn subject_of_query(q: &ReadQuery) -> &[u8] {
    match q {
        ReadQuery::LockInfo { name } | ReadQuery::SemaphoreInfo { name } | ReadQuery::RwLockInfo { name } => name,
        ReadQuery::SlidingPeek { key, .. } => key,
        ReadQuery::FenceGet { key } | ReadQuery::IdempGet { key } | ReadQuery::BucketPeek { key, .. } => key,
        ReadQuery::Data(c) | ReadQuery::DataAs { cmd: c, .. } => c.first_key(),
        ReadQuery::Watch(keys) => keys.first().map_or(&[][..], |k| k),
        ReadQuery::DbSize | ReadQuery::Acl | ReadQuery::Barrier => &[],
    }
}

/// The reply for a node that could not produce an answer. `key` picks the hash slot
/// of a -MOVED redirect, so cluster-aware clients route it like Redis Cluster's.
pub fn node_error(e: NodeError, key: &[u8]) -> Reply {
    match e {
        NodeError::Redirect { addr } => Reply::err(format!("MOVED {} {addr}", redis_protocol::redis_keyslot(key))),
        other => Reply::err(other.to_string()),
    }
}

pub fn wrongtype() -> Reply {
    Reply::err("WRONGTYPE Operation against a key holding the wrong kind of value")
}

fn tagged(tag: &str, v: Reply) -> Reply {
    Reply::Array(vec![Reply::text(tag), v])
}

/// A write's answer as a reply.
fn response(r: Response, shape: Shape, subject: &[u8]) -> Reply {
    match r {
        Response::Granted { token } | Response::FenceAccepted { token } => Reply::Int(token as i64),
        Response::NotGranted => Reply::Nil,
        Response::Bool(b) => Reply::Int(b as i64),
        Response::Ok => Reply::ok(),
        Response::Bucket(b) => bucket(b, shape),
        Response::IdempStarted { token } => tagged("started", Reply::Int(token as i64)),
        Response::IdempPending { retry_after_ms } => tagged("pending", Reply::Int(retry_after_ms as i64)),
        Response::IdempDone { response } => tagged("done", Reply::Bulk(response)),
        Response::Value(v) => value(v),
        Response::WrongType => wrongtype(),
        Response::Stale(reason) => stale(subject, &reason),
        Response::Mismatch => Reply::err(format!(
            "MISMATCH idempotency key '{}' was used with another fingerprint",
            args::show(subject)
        )),
        Response::Invalid(why) => Reply::err(format!("ERR {why}")),
        other @ (Response::None | Response::Queued { .. }) => {
            Reply::err(format!("ERR internal: unexpected state-machine answer {other:?}"))
        }
    }
}

/// LOCK INFO's reply (LOCK WATCH answers the same).
pub fn lock_info_reply(v: Option<LockView>) -> Reply {
    match v {
        None => Reply::Nil,
        Some(v) => Reply::map(vec![
            ("owner", Reply::Bulk(v.owner)),
            ("token", Reply::Int(v.token as i64)),
            ("ttl-ms", Reply::Int(v.ttl_remaining_ms as i64)),
            ("waiters", Reply::Int(v.waiters as i64)),
        ]),
    }
}

/// A read's answer as a reply.
fn answer(a: ReadAnswer, shape: Shape) -> Reply {
    match a {
        ReadAnswer::LockInfo(Err(_))
        | ReadAnswer::SemaphoreInfo(Err(_))
        | ReadAnswer::RwLockInfo(Err(_))
        | ReadAnswer::SlidingPeek(Err(_))
        | ReadAnswer::FenceGet(Err(_))
        | ReadAnswer::IdempGet(Err(_))
        | ReadAnswer::BucketPeek(Err(_)) => wrongtype(),
        ReadAnswer::LockInfo(Ok(None))
        | ReadAnswer::SemaphoreInfo(Ok(None))
        | ReadAnswer::RwLockInfo(Ok(None))
        | ReadAnswer::FenceGet(Ok(None))
        | ReadAnswer::IdempGet(Ok(None)) => Reply::Nil,
        ReadAnswer::SemaphoreInfo(Ok(Some(v))) => Reply::map(vec![
            ("limit", Reply::Int(v.limit as i64)),
            ("used", Reply::Int(v.used as i64)),
            ("holders", Reply::Int(v.holders as i64)),
            ("waiters", Reply::Int(v.waiters as i64)),
        ]),
        ReadAnswer::RwLockInfo(Ok(Some(v))) => Reply::map(vec![
            ("mode", Reply::text(if v.write { "write" } else { "read" })),
            ("holders", Reply::Int(v.holders as i64)),
            ("token", v.token.map_or(Reply::Nil, |t| Reply::Int(t as i64))),
            ("waiters", Reply::Int(v.waiters as i64)),
        ]),
        ReadAnswer::SlidingPeek(Ok(b)) => bucket(b, shape),
        ReadAnswer::LockInfo(Ok(Some(v))) => lock_info_reply(Some(v)),
        ReadAnswer::FenceGet(Ok(Some((highest, v)))) => Reply::Array(vec![
            Reply::Int(highest as i64),
            v.map(Reply::Bulk).unwrap_or(Reply::Nil),
        ]),
        ReadAnswer::IdempGet(Ok(Some(IdempView::Pending { retry_after_ms }))) => {
            tagged("pending", Reply::Int(retry_after_ms as i64))
        }
        ReadAnswer::IdempGet(Ok(Some(IdempView::Done { response }))) => tagged("done", Reply::Bulk(response)),
        ReadAnswer::BucketPeek(Ok(b)) => bucket(b, shape),
        ReadAnswer::DbSize(n) => Reply::Int(n as i64),
        ReadAnswer::Value(v) => value(v),
        ReadAnswer::Watch(_) | ReadAnswer::Acl(_) | ReadAnswer::Barrier(_) => {
            Reply::err("ERR internal: a WATCH, ACL or barrier answer reached a reply")
        }
    }
}

/// The five integers of TOKENBUCKET (ms) or CL.THROTTLE (seconds, rounded up).
fn bucket(r: BucketReply, shape: Shape) -> Reply {
    let secs = |ms: i64| if ms <= 0 { ms.min(0) } else { (ms + 999) / 1000 };
    let (retry, reset) = match shape {
        Shape::Plain => (r.retry_after_ms, r.reset_after_ms as i64),
        Shape::Throttle => (
            if r.retry_after_ms < 0 {
                -1
            } else {
                secs(r.retry_after_ms)
            },
            secs(r.reset_after_ms as i64),
        ),
    };
    Reply::Array(vec![
        Reply::Int(r.limited as i64),
        Reply::Int(r.capacity as i64),
        Reply::Int(r.remaining as i64),
        Reply::Int(retry),
        Reply::Int(reset),
    ])
}

/// A data command's reply.
pub fn value(v: RVal) -> Reply {
    match v {
        RVal::Ok => Reply::ok(),
        RVal::Status(s) => Reply::Status(s),
        RVal::Err(e) => Reply::Error(e),
        RVal::Int(i) => Reply::Int(i),
        RVal::Bulk(b) => Reply::Bulk(b),
        RVal::Nil => Reply::Nil,
        RVal::NilArray => Reply::NilArray,
        RVal::Array(items) => Reply::Array(items.into_iter().map(value).collect()),
        RVal::Map(pairs) => Reply::Map(pairs.into_iter().map(|(k, v)| (value(k), value(v))).collect()),
        RVal::Double(d) => Reply::Double(d.0),
        RVal::Scored(pairs) => Reply::Scored(pairs.into_iter().map(|(m, s)| (m, s.0)).collect()),
    }
}

fn stale(subject: &[u8], reason: &StaleReason) -> Reply {
    let s = args::show(subject);
    Reply::err(match reason {
        StaleReason::Older { token, highest } => format!("STALE {s} token {token} < {highest}"),
        StaleReason::NotHolder { lock, token } => {
            format!("STALE {s} lock '{}' token {token} not the holder", args::show(lock))
        }
        StaleReason::ClaimLost { token } => {
            format!("STALE {s} token {token} no longer holds the claim")
        }
    })
}
