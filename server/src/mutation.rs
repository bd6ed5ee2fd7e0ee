//! Deliberate bugs for the fault harness (`jepsen/`). Each one re-creates a real class
//! of bug, and some workload and nemesis of the harness must flag it: that is how the
//! checkers are shown to catch what they claim to. They exist only with the cargo
//! feature `mutations`, which release builds never enable; without it `active` is a
//! constant `false` and every hook compiles away.
//!
//! The harness picks one with the environment variable `FENCEPOST_MUTATION=<name>`.

/// One deliberate bug, named as the harness names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutation {
    /// `fence-stale`: FENCE accepts a token lower than the highest it has seen.
    FenceAcceptsStale,
    /// `local-tokens`: fencing tokens come from a per-node counter, not the log.
    LocalTokens,
    /// `grant-after-expiry`: a holder whose lease ended is still treated as holding
    /// (the etcd#11456 analogue: a grant acted on after its lease ran out).
    GrantAfterExpiry,
    /// `follower-reads`: a follower answers reads from its own state, without ReadIndex.
    FollowerLocalReads,
    /// `early-ack`: a write is acknowledged before it commits.
    AckBeforeCommit,
    /// `bucket-reset`: token buckets start full again on a new leader.
    BucketResetOnFailover,
    /// `idemp-twice`: IDEMP BEGIN starts a claim even while another is in flight.
    IdempStartsTwice,
    /// `wall-clock`: the leader stamps entries with its wall clock (the pre-fix clock).
    WallClockStamps,
    /// `leader-restore`: a restarted leader resumes its old term without an election
    /// (openraft's default) and serves reads before it knows the commit point.
    LeaderRestore,
    /// `acl-skip-keys`: the LOCK family skips the ACL key-pattern check, so a user
    /// limited to some lock names can take any lock.
    AclSkipLockKeys,
    /// `extend-any-owner`: LOCK EXTEND renews whoever holds the lock and answers yes to
    /// anyone (a renewal that checks neither owner nor token).
    ExtendAnyOwner,
    /// `semaphore-count-one`: the free-permit check counts leases, not permits, so
    /// holders of COUNT > 1 leave room that is not there.
    SemaphoreCountsLeases,
    /// `sliding-half-window`: the sliding window forgets admissions after half its
    /// width, admitting more than the limit in a full window.
    SlidingHalfWindow,
    /// `rwlock-shared-writer`: a reader is granted while a writer holds the RWLOCK.
    RwReaderBesideWriter,
    /// `delay-ignored`: LOCK ... DELAY is parsed and stored but an expired lease hands
    /// the lock on at once.
    LockDelayIgnored,
    /// `watch-local`: LOCK WATCH answers from this node's own applied state, which on a
    /// lagging follower shows holders that are long gone.
    WatchAnswersLocal,
    /// `set-nx-short`: SET ... NX PX records a quarter of its expiry, so a Redis-style
    /// lock (redis-py's `Lock`) is granted again while its holder still holds it.
    SetNxShortExpiry,
}

impl Mutation {
    /// Every mutation, in the order the harness reports them.
    pub const ALL: [Mutation; 17] = [
        Mutation::FenceAcceptsStale,
        Mutation::LocalTokens,
        Mutation::GrantAfterExpiry,
        Mutation::FollowerLocalReads,
        Mutation::AckBeforeCommit,
        Mutation::BucketResetOnFailover,
        Mutation::IdempStartsTwice,
        Mutation::WallClockStamps,
        Mutation::LeaderRestore,
        Mutation::AclSkipLockKeys,
        Mutation::ExtendAnyOwner,
        Mutation::SemaphoreCountsLeases,
        Mutation::SlidingHalfWindow,
        Mutation::RwReaderBesideWriter,
        Mutation::LockDelayIgnored,
        Mutation::WatchAnswersLocal,
        Mutation::SetNxShortExpiry,
    ];

    /// The name `FENCEPOST_MUTATION` takes.
    pub fn name(self) -> &'static str {
        match self {
            Mutation::FenceAcceptsStale => "fence-stale",
            Mutation::LocalTokens => "local-tokens",
            Mutation::GrantAfterExpiry => "grant-after-expiry",
            Mutation::FollowerLocalReads => "follower-reads",
            Mutation::AckBeforeCommit => "early-ack",
            Mutation::BucketResetOnFailover => "bucket-reset",
            Mutation::IdempStartsTwice => "idemp-twice",
            Mutation::WallClockStamps => "wall-clock",
            Mutation::LeaderRestore => "leader-restore",
            Mutation::AclSkipLockKeys => "acl-skip-keys",
            Mutation::ExtendAnyOwner => "extend-any-owner",
            Mutation::SemaphoreCountsLeases => "semaphore-count-one",
            Mutation::SlidingHalfWindow => "sliding-half-window",
            Mutation::RwReaderBesideWriter => "rwlock-shared-writer",
            Mutation::LockDelayIgnored => "delay-ignored",
            Mutation::WatchAnswersLocal => "watch-local",
            Mutation::SetNxShortExpiry => "set-nx-short",
        }
    }

    /// The mutation with this name, if any.
    pub fn from_name(name: &str) -> Option<Mutation> {
        Mutation::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// Whether this process runs with mutation `m` (always `false` without the feature).
#[cfg(feature = "mutations")]
pub fn active(m: Mutation) -> bool {
    use std::sync::OnceLock;
    static CHOSEN: OnceLock<Option<Mutation>> = OnceLock::new();
    *CHOSEN.get_or_init(|| {
        let chosen = std::env::var("FENCEPOST_MUTATION")
            .ok()
            .and_then(|n| Mutation::from_name(&n));
        if let Some(m) = chosen {
            tracing::warn!(mutation = m.name(), "running with a deliberate bug (test build)");
        }
        chosen
    }) == Some(m)
}

/// Whether this process runs with mutation `m` (always `false` without the feature).
#[cfg(not(feature = "mutations"))]
#[inline(always)]
pub const fn active(_m: Mutation) -> bool {
    false
}
