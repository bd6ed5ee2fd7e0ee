//! Holding back a commit-only AppendEntries for a moment, so that the commit index rides
//! on the next append instead of a message of its own.
//!
//! openraft's replication stream sends an entry-less AppendEntries whenever the commit
//! index moves and no new entry is waiting. Under load about 40% of replication
//! messages were such commit-only messages, each one a send on the leader, a wake-up,
//! a pass through Raft and a reply on the follower, for a fact that the next append
//! (usually a few hundred microseconds later) carries anyway.
//!
//! So the leader's pipeline holds a commit-only request for up to [`HOLD`]. If the next
//! request comes first and [`covers`] it, only the next one is sent; its answer then
//! acknowledges both, since openraft matches answers to requests by log id (an answer
//! for log id L acknowledges every request whose last log id is at most L, and the
//! leader lease counts from the later request's sending time, which is the safe side).
//! Otherwise the held request goes out when its time is up, or at once when something
//! it cannot merge with comes along.
//!
//! Safety does not depend on when a follower learns the commit index: Raft's commit is
//! decided on the leader, and a follower only applies later. What this delays, by at
//! most [`HOLD`], is a follower's apply, which no client waits for (reads go through
//! the leader).

use std::time::Duration;

use openraft::raft::AppendEntriesRequest;

use super::types::TypeConfig;

/// How long a commit-only request waits for an append to ride on. A client's next
/// request usually reaches the leader's log well within this at any load.
pub const HOLD: Duration = Duration::from_micros(500);

type Request = AppendEntriesRequest<TypeConfig>;

/// A request that carries nothing but the leader's commit index (and its vote).
pub fn is_commit_only(req: &Request) -> bool {
    req.entries.is_empty()
}

/// Whether sending `later` in place of `held` tells the follower everything `held`
/// would have: the same leader vote, the same consistency check (the same previous log
/// id, so `later` is accepted exactly when `held` would be) and a commit index at least
/// as far along.
pub fn covers(later: &Request, held: &Request) -> bool {
    later.vote == held.vote && later.prev_log_id == held.prev_log_id && later.leader_commit >= held.leader_commit
}

#[cfg(test)]
mod tests {
    use openraft::entry::RaftEntry;

    use super::*;
    use crate::raft::types::{Entry, LogId, Vote};

    fn log_id(term: u64, index: u64) -> LogId {
        LogId::new(openraft::impls::leader_id_adv::LeaderId { term, node_id: 1 }, index)
    }

    fn vote(term: u64) -> Vote {
        Vote::new_committed(term, 1)
    }

    fn req(term: u64, prev: u64, entries: u64, commit: u64) -> Request {
        Request {
            vote: vote(term),
            prev_log_id: Some(log_id(term, prev)),
            entries: (prev + 1..=prev + entries)
                .map(|i| Entry::new_blank(log_id(term, i)))
                .collect(),
            leader_commit: Some(log_id(term, commit)),
        }
    }

    #[test]
    fn an_append_from_the_same_place_covers_a_commit_only_request() {
        let held = req(2, 10, 0, 8);
        assert!(is_commit_only(&held));
        assert!(covers(&req(2, 10, 3, 10), &held), "entries after it, newer commit");
        assert!(covers(&req(2, 10, 0, 10), &held), "a newer commit alone");
        assert!(covers(&req(2, 10, 1, 8), &held), "the same commit");
    }

    #[test]
    fn nothing_else_covers_it() {
        let held = req(2, 10, 0, 8);
        assert!(!is_commit_only(&req(2, 10, 1, 8)), "an append is never held");
        assert!(!covers(&req(2, 10, 2, 7), &held), "an older commit");
        assert!(!covers(&req(2, 11, 2, 9), &held), "a different consistency check");
        assert!(!covers(&req(2, 9, 2, 9), &held), "a resend from further back");
        assert!(!covers(&req(3, 10, 1, 9), &held), "another vote");
    }
}
