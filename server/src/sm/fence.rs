//! FENCE: the highest token a resource has seen, and optionally a value written with it.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::ctx::Ctx;
use super::keyspace::Keyspace;
use super::lock::Lock;
use super::rwlock::RwLock;
use super::types::{Response, StaleReason};
use crate::mutation::{self, Mutation};

/// A fence; it never expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Fence {
    pub highest: u64,
    pub value: Option<Bytes>,
}

/// FENCE ADVANCE resource token [LOCK name].
pub(crate) fn advance(
    ks: &mut Keyspace,
    cx: &mut Ctx<'_>,
    resource: &Bytes,
    token: u64,
    lock: Option<&Bytes>,
) -> Response {
    match check(ks, cx, resource, token, lock) {
        Ok(old) => {
            let value = old.and_then(|f| f.value);
            ks.restore(resource, Some(Fence { highest: token, value }));
            Response::FenceAccepted { token }
        }
        Err(refusal) => refusal,
    }
}

/// FENCE SET key token value [LOCK name].
pub(crate) fn set(
    ks: &mut Keyspace,
    cx: &mut Ctx<'_>,
    key: &Bytes,
    token: u64,
    value: &Bytes,
    lock: Option<&Bytes>,
) -> Response {
    match check(ks, cx, key, token, lock) {
        Ok(_) => {
            ks.restore(
                key,
                Some(Fence {
                    highest: token,
                    value: Some(value.clone()),
                }),
            );
            Response::Ok
        }
        Err(refusal) => refusal,
    }
}

/// The token `FENCE ... LOCK <name>` accepts: a LOCK holder's, or an RWLOCK writer's
/// (readers share, so none of their tokens fences a write). WRONGTYPE for other kinds.
fn holder_token(ks: &mut Keyspace, cx: &mut Ctx<'_>, name: &Bytes) -> Result<Option<u64>, Response> {
    let now = cx.now;
    // `peek` settles what it returns: an expired lease is already gone.
    if let Ok(lock) = ks.peek::<Lock>(name, cx) {
        return Ok(lock.filter(|l| l.held_at(now)).map(|l| l.token));
    }
    match ks.peek::<RwLock>(name, cx) {
        Ok(rw) => Ok(rw.and_then(|l| l.writer_token(now))),
        Err(_) => Err(Response::WrongType),
    }
}

/// The checks shared by ADVANCE and SET, in the order a caller should learn of them:
/// the key's kind, the lock's holder, then the token's age. Returns the current fence.
///
/// A `LOCK <name>` that holds another kind answers WRONGTYPE rather than "not the
/// holder": it is a caller's mistake worth naming, and either way nothing is written.
fn check(
    ks: &mut Keyspace,
    cx: &mut Ctx<'_>,
    key: &Bytes,
    token: u64,
    lock: Option<&Bytes>,
) -> Result<Option<Fence>, Response> {
    let fence = ks.peek::<Fence>(key, cx).map_err(|_| Response::WrongType)?.cloned();
    // Deliberate bug for the harness: every token passes, stale or not the holder's.
    if mutation::active(Mutation::FenceAcceptsStale) {
        return Ok(fence);
    }
    if let Some(name) = lock {
        let holder = holder_token(ks, cx, name)?;
        if holder != Some(token) {
            return Err(Response::Stale(StaleReason::NotHolder {
                lock: name.clone(),
                token,
            }));
        }
    }
    match &fence {
        Some(f) if token < f.highest => Err(Response::Stale(StaleReason::Older {
            token,
            highest: f.highest,
        })),
        _ => Ok(fence),
    }
}
