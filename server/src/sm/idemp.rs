//! IDEMP: idempotency keys. A claim is pending while its worker runs, then done with
//! the response to replay, until the key's ttl runs out.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::ctx::Ctx;
use super::keyspace::Keyspace;
use super::types::{IdempView, Millis, Response, StaleReason};
use crate::mutation::{self, Mutation};

/// One idempotency key's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Idemp {
    pub fingerprint: Bytes,
    /// BEGIN time (of the claim now in force) plus ttl.
    pub expires_at: Millis,
    pub state: IdempState,
}

/// Where a claim stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum IdempState {
    Pending { token: u64, lease_until: Millis },
    Done { token: u64, response: Bytes },
}

impl Idemp {
    /// When the record is forgotten: a pending claim outlives the ttl until its lease
    /// ends, so a slow worker's key is not handed to a second worker early.
    pub fn forget_at(&self) -> Millis {
        match self.state {
            IdempState::Pending { lease_until, .. } => self.expires_at.max(lease_until),
            IdempState::Done { .. } => self.expires_at,
        }
    }

    /// Whether the record still exists at `now`.
    pub fn is_live(&self, now: Millis) -> bool {
        now < self.forget_at()
    }

    /// IDEMP GET at `now`.
    pub fn view(&self, now: Millis) -> IdempView {
        match &self.state {
            IdempState::Pending { lease_until, .. } => IdempView::Pending {
                retry_after_ms: lease_until.saturating_sub(now),
            },
            IdempState::Done { response, .. } => IdempView::Done {
                response: response.clone(),
            },
        }
    }
}

/// IDEMP BEGIN key fingerprint ttl [LEASE ms].
pub(crate) fn begin(
    ks: &mut Keyspace,
    cx: &mut Ctx<'_>,
    key: &Bytes,
    fingerprint: &Bytes,
    ttl_ms: u64,
    lease_ms: u64,
) -> Response {
    if ttl_ms == 0 {
        return Response::Invalid("ttl must be positive".into());
    }
    if lease_ms == 0 {
        return Response::Invalid("lease must be positive".into());
    }
    let Ok(record) = ks.take::<Idemp>(key, cx) else {
        return Response::WrongType;
    };
    let (record, reply) = match record {
        Some(r) if r.fingerprint != *fingerprint => (r, Response::Mismatch),
        Some(r) => match &r.state {
            // Deliberate bug `idemp-twice`: a claim in flight does not stop a new one.
            IdempState::Pending { lease_until, .. }
                if *lease_until > cx.now && !mutation::active(Mutation::IdempStartsTwice) =>
            {
                let retry_after_ms = lease_until - cx.now;
                (r, Response::IdempPending { retry_after_ms })
            }
            IdempState::Done { response, .. } => {
                let response = response.clone();
                (r, Response::IdempDone { response })
            }
            // The worker's lease ran out: it is presumed dead and the claim moves on.
            IdempState::Pending { .. } => claim(cx, fingerprint, ttl_ms, lease_ms),
        },
        None => claim(cx, fingerprint, ttl_ms, lease_ms),
    };
    ks.restore(key, Some(record));
    reply
}

fn claim(cx: &mut Ctx<'_>, fingerprint: &Bytes, ttl_ms: u64, lease_ms: u64) -> (Idemp, Response) {
    let token = cx.issue_token();
    let record = Idemp {
        fingerprint: fingerprint.clone(),
        expires_at: cx.after(ttl_ms),
        state: IdempState::Pending {
            token,
            lease_until: cx.after(lease_ms),
        },
    };
    (record, Response::IdempStarted { token })
}

/// IDEMP COMPLETE key token response. A retried COMPLETE of the same claim is accepted
/// again and leaves the first response in place.
pub(crate) fn complete(ks: &mut Keyspace, cx: &mut Ctx<'_>, key: &Bytes, token: u64, response: &Bytes) -> Response {
    let Ok(record) = ks.take::<Idemp>(key, cx) else {
        return Response::WrongType;
    };
    let (record, reply) = match record {
        Some(mut r) => match r.state {
            IdempState::Pending { token: t, .. } if t == token => {
                r.state = IdempState::Done {
                    token,
                    response: response.clone(),
                };
                (Some(r), Response::Ok)
            }
            IdempState::Done { token: t, .. } if t == token => (Some(r), Response::Ok),
            _ => (Some(r), claim_lost(token)),
        },
        None => (None, claim_lost(token)),
    };
    ks.restore(key, record);
    reply
}

/// IDEMP ABORT key token: drops a pending claim so that a retry may start afresh.
pub(crate) fn abort(ks: &mut Keyspace, cx: &mut Ctx<'_>, key: &Bytes, token: u64) -> Response {
    let Ok(record) = ks.take::<Idemp>(key, cx) else {
        return Response::WrongType;
    };
    let (record, reply) = match record {
        Some(r) if matches!(r.state, IdempState::Pending { token: t, .. } if t == token) => (None, Response::Ok),
        other => (other, claim_lost(token)),
    };
    ks.restore(key, record);
    reply
}

fn claim_lost(token: u64) -> Response {
    Response::Stale(StaleReason::ClaimLost { token })
}
