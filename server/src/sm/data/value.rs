//! The Redis data kinds stored in the shared keyspace: strings, hashes, lists and sorted
//! sets, each with an optional expiry instant on the cluster clock.
//!
//! Every collection here iterates in an order that depends only on its contents
//! (BTreeMap/BTreeSet/VecDeque), never on a hasher, so replies agree on every replica.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::num::NonZeroU64;

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::super::small_bytes::SmallBytes;
use super::super::types::Millis;

/// One Redis data object. 32 bytes, so it sits inline in a keyspace slot like a lock
/// does (a string key costs its slot and, past 22 bytes, its value's allocation);
/// collections are boxed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Data {
    /// First instant (cluster clock) at which the key no longer exists. Instant 0 is
    /// stored as 1: the clock reads as Unix milliseconds, so it never matters.
    expires: Option<NonZeroU64>,
    pub val: Val,
}

// Inline in every slot that holds a Redis value: see `object.rs`.
const _: () = assert!(std::mem::size_of::<Data>() <= 32);

/// The value of a data object. The collections are boxed on purpose: a string key is
/// the common case, and boxing keeps `Val` (and so every keyspace slot) small.
#[allow(clippy::box_collection)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Val {
    Str(SmallBytes),
    Hash(Box<BTreeMap<Bytes, Bytes>>),
    List(Box<VecDeque<Bytes>>),
    Zset(Box<Zset>),
}

impl Data {
    /// A value with no expiry.
    pub fn new(val: Val) -> Data {
        Data { expires: None, val }
    }

    /// A value expiring at `at` (or never).
    pub fn with_expiry(val: Val, at: Option<Millis>) -> Data {
        let mut d = Data::new(val);
        d.set_expires_at(at);
        d
    }

    pub fn expires_at(&self) -> Option<Millis> {
        self.expires.map(NonZeroU64::get)
    }

    pub fn set_expires_at(&mut self, at: Option<Millis>) {
        self.expires = at.map(|t| NonZeroU64::new(t).unwrap_or(NonZeroU64::MIN));
    }

    pub fn is_live(&self, now: Millis) -> bool {
        self.expires_at().is_none_or(|t| now < t)
    }

    /// Redis's TYPE name.
    pub fn type_name(&self) -> &'static str {
        match self.val {
            Val::Str(_) => "string",
            Val::Hash(_) => "hash",
            Val::List(_) => "list",
            Val::Zset(_) => "zset",
        }
    }

    /// Collections are deleted when they become empty, as in Redis.
    pub fn is_empty_collection(&self) -> bool {
        match &self.val {
            Val::Str(_) => false,
            Val::Hash(h) => h.is_empty(),
            Val::List(l) => l.is_empty(),
            Val::Zset(z) => z.len() == 0,
        }
    }
}

/// A score with a total order (no NaN is ever stored: Redis refuses it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Score(pub f64);

impl PartialEq for Score {
    fn eq(&self, o: &Self) -> bool {
        self.0.total_cmp(&o.0).is_eq()
    }
}
impl Eq for Score {}
impl PartialOrd for Score {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Score {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        // -0.0 and 0.0 are one score in Redis.
        let norm = |x: f64| if x == 0.0 { 0.0 } else { x };
        norm(self.0).total_cmp(&norm(o.0))
    }
}

/// A sorted set: member -> score, and (score, member) in Redis's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Zset {
    scores: BTreeMap<Bytes, Score>,
    order: BTreeSet<(Score, Bytes)>,
}

impl Zset {
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn score(&self, m: &[u8]) -> Option<f64> {
        self.scores.get(m).map(|s| s.0)
    }

    /// Sets a member's score; returns the old one.
    pub fn insert(&mut self, m: Bytes, score: f64) -> Option<f64> {
        let old = self.scores.insert(m.clone(), Score(score));
        if let Some(o) = old {
            self.order.remove(&(o, m.clone()));
        }
        self.order.insert((Score(score), m));
        old.map(|s| s.0)
    }

    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self.scores.remove_entry(m) {
            Some((k, s)) => {
                self.order.remove(&(s, k));
                true
            }
            None => false,
        }
    }

    /// Members in ascending (score, member) order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&Bytes, f64)> + ExactSizeIterator {
        self.order.iter().map(|(s, m)| (m, s.0))
    }
}

impl Serialize for Zset {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.order.iter().map(|(sc, m)| (m, sc.0)))
    }
}

impl<'de> Deserialize<'de> for Zset {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let pairs: Vec<(Bytes, f64)> = Vec::deserialize(d)?;
        let mut z = Zset::default();
        for (m, s) in pairs {
            z.insert(m, s);
        }
        Ok(z)
    }
}
