//! The FIFO queue of waiters that LOCK and SEMAPHORE share, one pointer wide while
//! empty.
//!
//! Nearly every lock has nobody waiting, and a bare `VecDeque` is 32 bytes in each of
//! them; boxing it on first use keeps `Lock` small. An emptied queue drops its box, so
//! "empty" has one representation and derived equality stays meaningful. The serde form
//! is the plain sequence of waiters, as the `VecDeque` it replaces wrote.

use std::collections::VecDeque;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::lock::Waiter;
use super::small_bytes::SmallBytes;
use super::types::{Event, Millis};

/// What the queue needs of a waiter: who it is and when it gives up.
pub(crate) trait Queued {
    fn id(&self) -> u64;
    fn owner(&self) -> &SmallBytes;
    /// First instant at which the caller has given up.
    fn deadline(&self) -> Millis;
}

/// Waiters in arrival order; `None` when nobody waits.
// The box is the point: 8 bytes in every lock instead of a 32-byte `VecDeque`.
#[allow(clippy::box_collection)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WaitQueue<W = Waiter>(Option<Box<VecDeque<W>>>);

impl<W> Default for WaitQueue<W> {
    fn default() -> Self {
        WaitQueue(None)
    }
}

impl<W: Queued> WaitQueue<W> {
    /// Drops the waiters that have given up by `now`, telling their nodes.
    pub fn drop_given_up(&mut self, now: Millis, events: &mut Vec<Event>) {
        self.retain(|w| {
            let alive = w.deadline() > now;
            if !alive {
                events.push(Event::WaiterDropped { waiter: w.id() });
            }
            alive
        });
    }

    /// Puts `waiter` in the queue, taking over its owner's earlier place if it has one.
    pub fn enqueue(&mut self, waiter: W, events: &mut Vec<Event>) {
        match self.find_mut(|w| w.owner() == waiter.owner()) {
            Some(slot) => {
                events.push(Event::WaiterDropped { waiter: slot.id() });
                *slot = waiter;
            }
            None => self.push_back(waiter),
        }
    }

    /// Waiters that have not given up by `now`.
    pub fn live(&self, now: Millis) -> usize {
        self.iter().filter(|w| w.deadline() > now).count()
    }

    /// The earliest waiter deadline.
    pub fn first_deadline(&self) -> Option<Millis> {
        self.iter().map(|w| w.deadline()).min()
    }
}

impl<W> WaitQueue<W> {
    /// An empty queue (no allocation).
    pub fn new() -> Self {
        WaitQueue(None)
    }

    /// Whether nobody waits.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The waiters, head first.
    pub fn iter(&self) -> impl Iterator<Item = &W> {
        self.0.iter().flat_map(|q| q.iter())
    }

    /// Keeps the waiters for which `keep` answers true, in order.
    pub fn retain(&mut self, keep: impl FnMut(&W) -> bool) {
        if let Some(q) = &mut self.0 {
            q.retain(keep);
        }
        self.drop_if_empty();
    }

    /// Takes the head of the queue.
    pub fn pop_front(&mut self) -> Option<W> {
        let head = self.0.as_mut()?.pop_front();
        self.drop_if_empty();
        head
    }

    /// Appends a waiter at the tail.
    /// The head of the queue.
    pub fn front(&self) -> Option<&W> {
        self.0.as_ref()?.front()
    }

    pub fn push_back(&mut self, waiter: W) {
        self.0.get_or_insert_with(Box::default).push_back(waiter);
    }

    /// The first waiter matching `pred`, to be changed in place.
    pub fn find_mut(&mut self, mut pred: impl FnMut(&W) -> bool) -> Option<&mut W> {
        self.0.as_mut()?.iter_mut().find(|w| pred(w))
    }

    /// Removes the first waiter matching `pred`; whether there was one.
    pub fn remove_first(&mut self, pred: impl FnMut(&W) -> bool) -> bool {
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

impl<W: Serialize> Serialize for WaitQueue<W> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // A sequence with its length known up front, as postcard needs.
        match &self.0 {
            Some(q) => q.serialize(s),
            None => s.collect_seq(std::iter::empty::<&W>()),
        }
    }
}

impl<'de, W: DeserializeOwned> Deserialize<'de> for WaitQueue<W> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let q = VecDeque::<W>::deserialize(d)?;
        Ok(WaitQueue((!q.is_empty()).then(|| Box::new(q))))
    }
}
