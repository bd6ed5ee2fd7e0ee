//! A lock's FIFO queue of waiters, one pointer wide while empty.
//!
//! Nearly every lock has nobody waiting, and a bare `VecDeque` is 32 bytes in each of
//! them; boxing it on first use keeps `Lock` small. An emptied queue drops its box, so
//! "empty" has one representation and derived equality stays meaningful. The serde form
//! is the plain sequence of waiters, as the `VecDeque` it replaces wrote.

use std::collections::VecDeque;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::lock::Waiter;

/// Waiters in arrival order; `None` when nobody waits.
// The box is the point: 8 bytes in every lock instead of a 32-byte `VecDeque`.
#[allow(clippy::box_collection)]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct WaitQueue(Option<Box<VecDeque<Waiter>>>);

impl WaitQueue {
    /// An empty queue (no allocation).
    pub fn new() -> Self {
        WaitQueue(None)
    }

    /// Whether nobody waits.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The waiters, head first.
    pub fn iter(&self) -> impl Iterator<Item = &Waiter> {
        self.0.iter().flat_map(|q| q.iter())
    }

    /// Keeps the waiters for which `keep` answers true, in order.
    pub fn retain(&mut self, keep: impl FnMut(&Waiter) -> bool) {
        if let Some(q) = &mut self.0 {
            q.retain(keep);
        }
        self.drop_if_empty();
    }

    /// Takes the head of the queue.
    pub fn pop_front(&mut self) -> Option<Waiter> {
        let head = self.0.as_mut()?.pop_front();
        self.drop_if_empty();
        head
    }

    /// Appends a waiter at the tail.
    pub fn push_back(&mut self, waiter: Waiter) {
        self.0.get_or_insert_with(Box::default).push_back(waiter);
    }

    /// The first waiter matching `pred`, to be changed in place.
    pub fn find_mut(&mut self, mut pred: impl FnMut(&Waiter) -> bool) -> Option<&mut Waiter> {
        self.0.as_mut()?.iter_mut().find(|w| pred(w))
    }

    /// Removes the first waiter matching `pred`; whether there was one.
    pub fn remove_first(&mut self, pred: impl FnMut(&Waiter) -> bool) -> bool {
        let Some(q) = &mut self.0 else {
            return false;
        };
        let removed = q.iter().position(pred).and_then(|at| q.remove(at)).is_some();
        self.drop_if_empty();
        removed
    }

    fn drop_if_empty(&mut self) {
        if self.0.as_ref().is_some_and(|q| q.is_empty()) {
            self.0 = None;
        }
    }
}

impl Serialize for WaitQueue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // A sequence with its length known up front, as postcard needs.
        match &self.0 {
            Some(q) => q.serialize(s),
            None => s.collect_seq(std::iter::empty::<&Waiter>()),
        }
    }
}

impl<'de> Deserialize<'de> for WaitQueue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let q = VecDeque::<Waiter>::deserialize(d)?;
        Ok(WaitQueue((!q.is_empty()).then(|| Box::new(q))))
    }
}
