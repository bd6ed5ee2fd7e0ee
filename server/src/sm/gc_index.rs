//! The GC deadline index: which objects a Tick may forget, and in what order.
//!
//! An entry is (deadline, order hash of the name, slab position): 16 bytes, no copy of
//! the name. The order among entries must be the same on every replica, because a Tick
//! forgets only a batch of the due objects and the ones it leaves stay in the snapshot.
//! Deadline and order hash are functions of the objects alone, so every replica agrees
//! on them; the slab position is not (it depends on the history of inserts and removals,
//! and differs after a snapshot is decoded), so it may only break ties among entries that
//! are always taken or left together: a batch never stops inside a run of equal
//! (deadline, hash). Such runs are the rare 32-bit hash collisions among names due at the
//! same millisecond, so a batch overshoots its limit by a handful at most.
//!
//! Which objects a batch removes does not change any reply: a due object reads as absent
//! whether or not it is still stored, and forgetting one has no side effects (locks with
//! waiters are not in this index). Only the snapshot bytes, and so the agreement between
//! replicas' snapshots, depend on the batch, which is why it must be deterministic.

use std::collections::BTreeSet;

use super::types::Millis;

/// Due objects ordered by (deadline, order hash); positions only break ties.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct GcIndex {
    entries: BTreeSet<(Millis, u32, u32)>,
}

impl GcIndex {
    /// Records that the object named `key` at `pos` may be forgotten from `at` on.
    pub fn insert(&mut self, at: Millis, key: &[u8], pos: u32) {
        self.entries.insert((at, order_hash(key), pos));
    }

    /// Forgets what `insert` recorded with the same arguments.
    pub fn remove(&mut self, at: Millis, key: &[u8], pos: u32) {
        self.entries.remove(&(at, order_hash(key), pos));
    }

    /// The earliest deadline.
    pub fn first(&self) -> Option<Millis> {
        self.entries.first().map(|&(at, _, _)| at)
    }

    /// Positions of the objects due at `now`, in index order: about `limit` of them,
    /// more only to finish a run of equal (deadline, hash) that the limit would split.
    pub fn due(&self, now: Millis, limit: usize) -> Vec<u32> {
        let mut out = Vec::new();
        let mut last = None;
        for &(at, hash, pos) in self.entries.iter().take_while(|e| e.0 <= now) {
            if out.len() >= limit && last != Some((at, hash)) {
                break;
            }
            out.push(pos);
            last = Some((at, hash));
        }
        out
    }
}

/// A 32-bit hash of a name that every build and version of the server computes alike:
/// SipHash-2-4 with fixed keys. Std's `DefaultHasher` will not do: its algorithm is
/// explicitly unspecified and may change between Rust releases, which would let two
/// replicas built differently pick different GC batches. The keys are public, so this is
/// no defence against chosen collisions; it needs none: a collision only makes one batch
/// a little larger, and a 32-bit SipHash collision takes ~2^32 tries to find per name.
#[allow(deprecated)] // `SipHasher` is deprecated in favour of the unspecified DefaultHasher.
pub(crate) fn order_hash(key: &[u8]) -> u32 {
    use std::hash::Hasher;
    let mut h = std::hash::SipHasher::new_with_keys(0x6665_6e63_6570_6f73, 0x7467_6369_6e64_6578);
    h.write(key);
    let x = h.finish();
    (x ^ (x >> 32)) as u32
}
