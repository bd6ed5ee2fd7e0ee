//! The shared keyspace and its two deadline indexes.
//!
//! Objects are never mutated in place: they are taken out, changed and put back, so the
//! indexes (derived from each object's own state) can never go stale. Only the objects
//! are serialized (see `keyspace_serde.rs`); the indexes are rebuilt on decode.
//!
//! Memory is the design constraint: a server holds millions of locks. Each name and its
//! object sit together in one slot of a slab (72 bytes for a lock with short names, no
//! heap allocation at all), and every index refers to a slot by its 4-byte position:
//! - `index`, a hash table of positions (4 bytes and a control byte per bucket), finds a
//!   name's slot. Its hasher is seeded per process: it only answers "where is it",
//!   never "in what order", so replicas need not agree on it.
//! - `gc_due` orders the objects a Tick may forget without copying their names; see
//!   `gc_index.rs` for why its order is the same on every replica.
//! - `waiter_due` keeps names: it holds only locks with a queue, which are few, and their
//!   (deadline, name) order decides which waiter gets which token.
//!
//! Slot positions differ between replicas (they follow the history of inserts and
//! removals), so nothing that reaches a reply, an event or a snapshot depends on them.

use std::collections::BTreeSet;
use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

use super::ctx::Ctx;
use super::gc_index::GcIndex;
use super::object::{Kind, Object, KINDS};
use super::slab::Slab;
use super::small_bytes::SmallBytes;
use super::types::Millis;
use super::WrongType;

/// A name and the object stored under it.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    pub key: SmallBytes,
    pub obj: Object,
}

// Every object costs one slot (and a free slot no more): keep it at 72 bytes.
const _: () = assert!(std::mem::size_of::<Option<Slot>>() <= 72);

/// All named objects.
#[derive(Debug, Clone, Default)]
pub(crate) struct Keyspace {
    slots: Slab<Slot>,
    /// Slot positions, found by the hash of their slot's name.
    index: HashTable<u32>,
    hasher: RandomState,
    /// (when a Tick must settle it, name) for locks with a queue.
    waiter_due: BTreeSet<(Millis, SmallBytes)>,
    /// Stored objects per kind (`object::KINDS`), kept as slots come and go.
    kinds: [u64; KINDS.len()],
    /// When a Tick may forget an object, by slot position.
    gc_due: GcIndex,
}

impl Keyspace {
    /// The stored object, live or not.
    pub fn get(&self, key: &[u8]) -> Option<&Object> {
        self.find(key).and_then(|pos| self.slots.get(pos)).map(|s| &s.obj)
    }

    /// The object if it still exists at `now`.
    pub fn get_live(&self, key: &[u8], now: Millis) -> Option<&Object> {
        self.get(key).filter(|o| o.is_live(now))
    }

    /// Every stored name and object, live or not, in slab order: that order differs
    /// between replicas, so callers sort or otherwise make results order-independent.
    pub fn iter(&self) -> impl Iterator<Item = (&SmallBytes, &Object)> {
        self.slots.iter().map(|(_, s)| (&s.key, &s.obj))
    }

    /// Number of objects that exist at `now`.
    pub fn live_count(&self, now: Millis) -> usize {
        self.slots.iter().filter(|(_, s)| s.obj.is_live(now)).count()
    }

    /// Removes the object, as stored, from the map and the indexes.
    pub fn remove(&mut self, key: &[u8]) -> Option<Object> {
        self.take_entry(key).map(|s| s.obj)
    }

    /// Stores `obj` under `key`, replacing whatever was there.
    pub fn put(&mut self, key: &[u8], obj: Object) {
        // One hash serves the lookup of the old slot and the insertion of the new one.
        let hash = self.hasher.hash_one(key);
        let key = match self.take_hashed(hash, key) {
            Some(old) => old.key,
            None => SmallBytes::from(key),
        };
        self.insert_hashed(hash, Slot { key, obj });
    }

    /// Stores a typed object back, or leaves the name free.
    pub fn restore<T: Kind>(&mut self, key: &[u8], obj: Option<T>) {
        match obj {
            Some(obj) => self.put(key, obj.into_object()),
            None => {
                self.remove(key);
            }
        }
    }

    /// Brings the object under `key` up to `cx.now` (lazy GC, lock hand-off).
    pub fn settle(&mut self, key: &[u8], cx: &mut Ctx<'_>) {
        if let Some(slot) = self.take_entry(key) {
            self.settle_slot(slot, cx);
        }
    }

    /// Settles the object at slot position `pos` (from [`Keyspace::gc_candidates`]).
    pub fn settle_at(&mut self, pos: u32, cx: &mut Ctx<'_>) {
        if let Some(slot) = self.take_at(pos) {
            self.settle_slot(slot, cx);
        }
    }

    fn settle_slot(&mut self, slot: Slot, cx: &mut Ctx<'_>) {
        if let Some(obj) = slot.obj.settle(cx) {
            self.insert(Slot { key: slot.key, obj });
        }
    }

    /// Settles `key`, then takes its object out if it is of kind `T`. An object of
    /// another kind stays where it is and the answer is `WrongType`.
    pub fn take<T: Kind>(&mut self, key: &[u8], cx: &mut Ctx<'_>) -> Result<Option<T>, WrongType> {
        let Some(Slot { key, obj }) = self.take_entry(key) else {
            return Ok(None);
        };
        let Some(obj) = obj.settle(cx) else {
            return Ok(None);
        };
        match T::from_object(obj) {
            Ok(t) => Ok(Some(t)),
            Err(other) => {
                self.insert(Slot { key, obj: other });
                Err(WrongType)
            }
        }
    }

    /// Settles `key`, then borrows its object if it is of kind `T`.
    pub fn peek<T: Kind>(&mut self, key: &[u8], cx: &mut Ctx<'_>) -> Result<Option<&T>, WrongType> {
        self.settle(key, cx);
        match self.get(key) {
            None => Ok(None),
            Some(obj) => T::view(obj).map(Some).ok_or(WrongType),
        }
    }

    /// Reads `key` at `now` as kind `T` without settling: an object that no longer
    /// exists at `now` reads as absent.
    pub fn read<T: Kind>(&self, key: &[u8], now: Millis) -> Result<Option<&T>, WrongType> {
        match self.get_live(key, now) {
            None => Ok(None),
            Some(obj) => T::view(obj).map(Some).ok_or(WrongType),
        }
    }

    /// Stored objects per kind, in `object::KINDS` order (expired ones not yet forgotten
    /// included).
    pub fn kind_counts(&self) -> [u64; KINDS.len()] {
        self.kinds
    }

    /// Names with someone queued (LOCK and SEMAPHORE), few by nature.
    pub fn queued_names(&self) -> impl Iterator<Item = &SmallBytes> {
        self.waiter_due.iter().map(|(_, k)| k)
    }

    /// Earliest time a Tick would act on a queued LOCK waiter.
    pub fn next_waiter_due(&self) -> Option<Millis> {
        self.waiter_due.first().map(|(at, _)| *at)
    }

    /// Earliest time a Tick would forget an object.
    pub fn next_gc_due(&self) -> Option<Millis> {
        self.gc_due.first()
    }

    /// Names of locks whose queue needs settling at `now`, in (deadline, name) order.
    pub fn waiters_due(&self, now: Millis) -> Vec<SmallBytes> {
        self.waiter_due
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, k)| k.clone())
            .collect()
    }

    /// Slot positions of about `limit` objects that may be forgotten at `now`, in the
    /// GC index's replica-independent order (see `gc_index.rs`).
    pub fn gc_candidates(&self, now: Millis, limit: usize) -> Vec<u32> {
        self.gc_due.due(now, limit)
    }

    /// Every stored name and object, sorted by name: the snapshot's order.
    pub fn sorted_entries(&self) -> impl ExactSizeIterator<Item = (&SmallBytes, &Object)> {
        let mut order: Vec<&Slot> = Vec::with_capacity(self.slots.len());
        order.extend(self.slots.iter().map(|(_, s)| s));
        order.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        order.into_iter().map(|s| (&s.key, &s.obj))
    }

    /// Makes room for `additional` more objects (decoding a snapshot of known size).
    pub fn reserve(&mut self, additional: usize) {
        self.slots.reserve(additional);
        let Self {
            slots, index, hasher, ..
        } = self;
        index.reserve(additional, |&pos| slot_hash(hasher, slots, pos));
    }

    /// Stores `slot` under its name, replacing whatever was there (snapshot decoding).
    pub fn put_slot(&mut self, key: SmallBytes, obj: Object) {
        let hash = self.hasher.hash_one(key.as_slice());
        self.take_hashed(hash, &key);
        self.insert_hashed(hash, Slot { key, obj });
    }

    /// The slot position of `key`.
    fn find(&self, key: &[u8]) -> Option<u32> {
        let slots = &self.slots;
        self.index
            .find(self.hasher.hash_one(key), |&pos| holds(slots, pos, key))
            .copied()
    }

    /// Adds a slot for a name that is not stored, and indexes it.
    fn insert(&mut self, slot: Slot) {
        self.insert_hashed(self.hasher.hash_one(slot.key.as_slice()), slot);
    }

    /// `insert`, given the index hash of the slot's name.
    fn insert_hashed(&mut self, hash: u64, slot: Slot) {
        let (waiter_at, gc_at) = (slot.obj.waiter_due(), slot.obj.gc_due());
        let waiter_key = waiter_at.map(|at| (at, slot.key.clone()));
        self.kinds[slot.obj.kind_index()] += 1;
        let pos = self.slots.insert(slot);
        let Self {
            slots, index, hasher, ..
        } = self;
        index.insert_unique(hash, pos, |&p| slot_hash(hasher, slots, p));
        if let Some(entry) = waiter_key {
            self.waiter_due.insert(entry);
        }
        if let (Some(at), Some(slot)) = (gc_at, self.slots.get(pos)) {
            self.gc_due.insert(at, &slot.key, pos);
        }
    }

    /// Takes the slot of `key` out of the slab and every index.
    fn take_entry(&mut self, key: &[u8]) -> Option<Slot> {
        self.take_hashed(self.hasher.hash_one(key), key)
    }

    /// `take_entry`, given the index hash of `key`.
    fn take_hashed(&mut self, hash: u64, key: &[u8]) -> Option<Slot> {
        let slots = &self.slots;
        let entry = self.index.find_entry(hash, |&pos| holds(slots, pos, key)).ok()?;
        let (pos, _) = entry.remove();
        self.detach(pos)
    }

    /// Takes the slot at `pos` out of the slab and every index.
    fn take_at(&mut self, pos: u32) -> Option<Slot> {
        let hash = self.hasher.hash_one(self.slots.get(pos)?.key.as_slice());
        if let Ok(entry) = self.index.find_entry(hash, |&p| p == pos) {
            entry.remove();
        }
        self.detach(pos)
    }

    /// Removes the slot at `pos` (already gone from `index`) and its deadline entries.
    fn detach(&mut self, pos: u32) -> Option<Slot> {
        let slot = self.slots.remove(pos)?;
        self.kinds[slot.obj.kind_index()] -= 1;
        if let Some(at) = slot.obj.waiter_due() {
            self.waiter_due.remove(&(at, slot.key.clone()));
        }
        if let Some(at) = slot.obj.gc_due() {
            self.gc_due.remove(at, &slot.key, pos);
        }
        Some(slot)
    }

    /// Number of stored objects, live or not (tests only).
    #[cfg(test)]
    pub fn stored(&self) -> usize {
        self.slots.len()
    }

    /// The slot position of `key` (tests only: positions are not replicated state).
    #[cfg(test)]
    pub fn position(&self, key: &[u8]) -> Option<u32> {
        self.find(key)
    }

    /// Whether the hash index and the deadline indexes match what the slots imply
    /// (tests only).
    #[cfg(test)]
    pub fn indexes_consistent(&self) -> bool {
        let mut waiter_due = BTreeSet::new();
        let mut gc_due = GcIndex::default();
        for (pos, slot) in self.slots.iter() {
            if self.find(&slot.key) != Some(pos) {
                return false;
            }
            if let Some(at) = slot.obj.waiter_due() {
                waiter_due.insert((at, slot.key.clone()));
            }
            if let Some(at) = slot.obj.gc_due() {
                gc_due.insert(at, &slot.key, pos);
            }
        }
        self.index.len() == self.slots.len() && waiter_due == self.waiter_due && gc_due == self.gc_due
    }
}

/// Whether the slot at `pos` holds `key`.
fn holds(slots: &Slab<Slot>, pos: u32, key: &[u8]) -> bool {
    slots.get(pos).is_some_and(|s| s.key == *key)
}

/// The index hash of the slot at `pos`, for rehashing when the table grows. Every
/// position in the table holds a slot, so the fallback is never used.
fn slot_hash(hasher: &RandomState, slots: &Slab<Slot>, pos: u32) -> u64 {
    slots.get(pos).map_or(0, |s| hasher.hash_one(s.key.as_slice()))
}
