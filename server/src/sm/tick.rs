//! Tick: the leader's "a deadline fell due" entry. Work is taken from the ordered
//! deadline indexes, so every replica settles the same names in the same order and
//! hands out the same tokens.

use super::ctx::Ctx;
use super::keyspace::Keyspace;
use super::types::Response;

/// About the most objects one Tick forgets, so that a backlog cannot make one entry
/// slow (a batch only overshoots to keep hash-colliding names together: `gc_index.rs`).
pub(crate) const GC_BATCH: usize = 1024;

/// Settles every lock whose queue is due, then forgets up to [`GC_BATCH`] dead objects.
pub(crate) fn tick(ks: &mut Keyspace, cx: &mut Ctx<'_>) -> Response {
    // Queue work is not capped: each item is a client waiting for its answer.
    for name in ks.waiters_due(cx.now) {
        ks.settle(&name, cx);
    }
    // Forgetting has no side effects, so only the batch's membership matters, not the
    // order positions come in; and positions stay valid while others are removed.
    for pos in ks.gc_candidates(cx.now, GC_BATCH) {
        ks.settle_at(pos, cx);
    }
    Response::None
}
