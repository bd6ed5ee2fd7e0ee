//! The shared keyspace and its two deadline indexes.
//!
//! Objects are never mutated in place: they are taken out, changed and put back, so the
//! indexes (derived from each object's own state) can never go stale. Only the objects
//! are serialized; the indexes are rebuilt on decode.
//!
//! Objects live in a hash map: every command looks one name up, and nothing iterates
//! it in an order that matters (scans go through the ordered deadline indexes; a
//! snapshot writes the names sorted, so replicas produce identical bytes).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;
use serde::{Deserialize, Serialize, Serializer};

use super::ctx::Ctx;
use super::object::{Kind, Object};
use super::types::Millis;
use super::WrongType;

/// All named objects.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(from = "BTreeMap<Bytes, Object>")]
pub(crate) struct Keyspace {
    objects: HashMap<Bytes, Object>,
    /// (when a Tick must settle it, name) for locks with a queue.
    waiter_due: BTreeSet<(Millis, Bytes)>,
    /// (when a Tick may forget it, name).
    gc_due: BTreeSet<(Millis, Bytes)>,
}

impl Serialize for Keyspace {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut sorted: Vec<(&Bytes, &Object)> = self.objects.iter().collect();
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        s.collect_map(sorted)
    }
}

impl From<BTreeMap<Bytes, Object>> for Keyspace {
    fn from(objects: BTreeMap<Bytes, Object>) -> Self {
        let mut ks = Keyspace::default();
        for (key, obj) in objects {
            ks.put(key, obj);
        }
        ks
    }
}

impl Keyspace {
    /// The stored object, live or not.
    pub fn get(&self, key: &[u8]) -> Option<&Object> {
        self.objects.get(key)
    }

    /// The object if it still exists at `now`.
    pub fn get_live(&self, key: &[u8], now: Millis) -> Option<&Object> {
        self.get(key).filter(|o| o.is_live(now))
    }

    /// Number of objects that exist at `now`.
    pub fn live_count(&self, now: Millis) -> usize {
        self.objects.values().filter(|o| o.is_live(now)).count()
    }

    /// Removes the object, as stored, from the map and the indexes.
    pub fn remove(&mut self, key: &[u8]) -> Option<Object> {
        self.take_entry(key).map(|(_, obj)| obj)
    }

    /// Stores `obj` under `key`, replacing whatever was there.
    pub fn put(&mut self, key: Bytes, obj: Object) {
        let (waiter_at, gc_at) = (obj.waiter_due(), obj.gc_due());
        if let Some(old) = self.objects.insert(key.clone(), obj) {
            self.unindex(&key, &old);
        }
        if let Some(at) = waiter_at {
            self.waiter_due.insert((at, key.clone()));
        }
        if let Some(at) = gc_at {
            self.gc_due.insert((at, key));
        }
    }

    fn unindex(&mut self, key: &Bytes, obj: &Object) {
        if let Some(at) = obj.waiter_due() {
            self.waiter_due.remove(&(at, key.clone()));
        }
        if let Some(at) = obj.gc_due() {
            self.gc_due.remove(&(at, key.clone()));
        }
    }

    /// Stores a typed object back, or leaves the name free.
    pub fn restore<T: Kind>(&mut self, key: &Bytes, obj: Option<T>) {
        match obj {
            Some(obj) => self.put(key.clone(), obj.into_object()),
            None => {
                self.remove(key);
            }
        }
    }

    /// Brings the object under `key` up to `cx.now` (lazy GC, lock hand-off).
    pub fn settle(&mut self, key: &[u8], cx: &mut Ctx<'_>) {
        let Some((key, obj)) = self.take_entry(key) else {
            return;
        };
        if let Some(obj) = obj.settle(cx) {
            self.put(key, obj);
        }
    }

    /// Settles `key`, then takes its object out if it is of kind `T`. An object of
    /// another kind stays where it is and the answer is `WrongType`.
    pub fn take<T: Kind>(&mut self, key: &[u8], cx: &mut Ctx<'_>) -> Result<Option<T>, WrongType> {
        let Some((key, obj)) = self.take_entry(key) else {
            return Ok(None);
        };
        let Some(obj) = obj.settle(cx) else {
            return Ok(None);
        };
        match T::from_object(obj) {
            Ok(t) => Ok(Some(t)),
            Err(other) => {
                self.put(key, other);
                Err(WrongType)
            }
        }
    }

    /// Settles `key`, then borrows its object if it is of kind `T`.
    pub fn peek<T: Kind>(&mut self, key: &[u8], cx: &mut Ctx<'_>) -> Result<Option<&T>, WrongType> {
        self.settle(key, cx);
        match self.objects.get(key) {
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

    /// Earliest time a Tick would act on a queued LOCK waiter.
    pub fn next_waiter_due(&self) -> Option<Millis> {
        self.waiter_due.first().map(|(at, _)| *at)
    }

    /// Earliest time a Tick would forget an object.
    pub fn next_gc_due(&self) -> Option<Millis> {
        self.gc_due.first().map(|(at, _)| *at)
    }

    /// Names of locks whose queue needs settling at `now`, in (deadline, name) order.
    pub fn waiters_due(&self, now: Millis) -> Vec<Bytes> {
        self.waiter_due
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, k)| k.clone())
            .collect()
    }

    /// Up to `limit` names that may be forgotten at `now`, in (deadline, name) order.
    pub fn gc_candidates(&self, now: Millis, limit: usize) -> Vec<Bytes> {
        self.gc_due
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(limit)
            .map(|(_, k)| k.clone())
            .collect()
    }

    fn take_entry(&mut self, key: &[u8]) -> Option<(Bytes, Object)> {
        let (key, obj) = self.objects.remove_entry(key)?;
        self.unindex(&key, &obj);
        Some((key, obj))
    }

    /// Number of stored objects, live or not (tests only).
    #[cfg(test)]
    pub fn stored(&self) -> usize {
        self.objects.len()
    }

    /// Whether the indexes match what the objects imply (tests only).
    #[cfg(test)]
    pub fn indexes_consistent(&self) -> bool {
        let rebuilt = Keyspace::from(self.objects.clone().into_iter().collect::<BTreeMap<_, _>>());
        rebuilt.waiter_due == self.waiter_due && rebuilt.gc_due == self.gc_due
    }
}
