//! Tick: the leader's "a deadline fell due" entry. Work is taken from the ordered
//! deadline indexes, so every replica settles the same names in the same order and
//! hands out the same tokens.

use super::ctx::Ctx;
use super::keyspace::Keyspace;
use super::types::Response;

/// Most objects one Tick forgets, so that a backlog cannot make one entry slow.
pub(crate) const GC_BATCH: usize = 1024;

/// Settles every lock whose queue is due, then forgets up to [`GC_BATCH`] dead objects.
pub(crate) fn tick(ks: &mut Keyspace, cx: &mut Ctx<'_>) -> Response {
    // Queue work is not capped: each item is a client waiting for its answer.
    for name in ks.waiters_due(cx.now) {
        ks.settle(&name, cx);
    }
    for name in ks.gc_candidates(cx.now, GC_BATCH) {
        ks.settle(&name, cx);
    }
    Response::None
}
