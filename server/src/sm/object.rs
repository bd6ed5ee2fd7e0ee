//! The one value type of the shared keyspace: every name holds exactly one kind.

use serde::{Deserialize, Serialize};

use super::bucket::Bucket;
use super::ctx::Ctx;
use super::data::Data;
use super::fence::Fence;
use super::idemp::Idemp;
use super::lock::Lock;
use super::lock_delay::DelayedLock;
use super::rwlock::RwLock;
use super::semaphore::Semaphore;
use super::types::Millis;
use super::window::Window;

/// A stored object of any kind.
///
/// Locks are what there are millions of, so a lock lives inline and the rarer, larger
/// kinds behind a box: the enum is then as small as `Lock` (its tag hides in a niche of
/// the owner's representation) instead of as large as the largest kind. Boxes are
/// transparent to serde, so the snapshot format is the same either way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Object {
    Lock(Lock),
    Fence(Box<Fence>),
    Bucket(Box<Bucket>),
    Idemp(Box<Idemp>),
    /// A Redis data object (string, hash, list, sorted set) with its expiry: inline,
    /// since millions of string keys are as likely as millions of locks.
    Data(Data),
    Semaphore(Box<Semaphore>),
    /// A sliding window's admission log (RATELIMIT SLIDING).
    Window(Box<Window>),
    RwLock(Box<RwLock>),
    /// A lock whose lease or queue involves a lock delay (see `lock_delay.rs`).
    DelayedLock(Box<DelayedLock>),
}

// Every keyspace slot holds one: growing it costs that many bytes per object.
const _: () = assert!(std::mem::size_of::<Object>() <= 48);

/// The kinds `/metrics` counts (`fencepost_keys{kind}`), in label order.
pub const KINDS: [&str; 8] = [
    "lock",
    "fence",
    "bucket",
    "idemp",
    "semaphore",
    "rwlock",
    "ratelimit",
    "data",
];

impl Object {
    /// This object's position in [`KINDS`].
    pub fn kind_index(&self) -> usize {
        match self {
            Object::Lock(_) | Object::DelayedLock(_) => 0,
            Object::Fence(_) => 1,
            Object::Bucket(_) => 2,
            Object::Idemp(_) => 3,
            Object::Semaphore(_) => 4,
            Object::RwLock(_) => 5,
            Object::Window(_) => 6,
            Object::Data(_) => 7,
        }
    }

    /// Brings the object up to `cx.now`: hands off or drops expired locks and forgets
    /// whatever counts as absent. `None` means the name is now free.
    pub fn settle(self, cx: &mut Ctx<'_>) -> Option<Object> {
        match self {
            Object::Lock(l) => l.settle(cx).map(Object::Lock),
            Object::Fence(f) => Some(Object::Fence(f)),
            Object::Bucket(b) => b.is_live(cx.now).then_some(Object::Bucket(b)),
            Object::Idemp(i) => i.is_live(cx.now).then_some(Object::Idemp(i)),
            Object::Data(d) => d.is_live(cx.now).then_some(Object::Data(d)),
            Object::Semaphore(s) => s.settle(cx).map(|s| Object::Semaphore(Box::new(s))),
            Object::Window(w) => w.is_live(cx.now).then_some(Object::Window(w)),
            Object::RwLock(l) => l.settle(cx).map(|l| Object::RwLock(Box::new(l))),
            Object::DelayedLock(l) => l.settle(cx).map(DelayedLock::into_object),
        }
    }

    /// Whether the name still exists at `now` (what `settle` would keep), without mutating.
    pub fn is_live(&self, now: Millis) -> bool {
        match self {
            Object::Lock(l) => l.is_live(now),
            Object::Fence(_) => true,
            Object::Bucket(b) => b.is_live(now),
            Object::Idemp(i) => i.is_live(now),
            Object::Data(d) => d.is_live(now),
            Object::Semaphore(s) => s.is_live(now),
            Object::Window(w) => w.is_live(now),
            Object::RwLock(l) => l.is_live(now),
            Object::DelayedLock(l) => l.is_live(now),
        }
    }

    /// When a Tick must settle this object for a queued LOCK waiter's sake.
    pub fn waiter_due(&self) -> Option<Millis> {
        match self {
            Object::Lock(l) => l.waiter_due(),
            Object::Semaphore(s) => s.waiter_due(),
            Object::RwLock(l) => l.waiter_due(),
            Object::DelayedLock(l) => l.waiter_due(),
            _ => None,
        }
    }

    /// When a Tick may forget this object.
    pub fn gc_due(&self) -> Option<Millis> {
        match self {
            Object::Lock(l) => l.gc_due(),
            Object::Fence(_) => None,
            Object::Bucket(b) => Some(b.full_at()),
            Object::Idemp(i) => Some(i.forget_at()),
            // Expired keys are invisible at once (is_live) and reclaimed by Ticks.
            Object::Data(d) => d.expires_at(),
            Object::Semaphore(s) => s.gc_due(),
            Object::Window(w) => Some(w.forget_at()),
            Object::RwLock(l) => l.gc_due(),
            Object::DelayedLock(l) => l.gc_due(),
        }
    }
}

/// A kind of object that typed operations can take out of the keyspace.
pub(crate) trait Kind: Sized {
    /// The object as this kind, or the object back if it is another kind.
    fn from_object(obj: Object) -> Result<Self, Object>;
    /// A borrow of the object as this kind, if it is one.
    fn view(obj: &Object) -> Option<&Self>;
    /// Wraps this kind as an object.
    fn into_object(self) -> Object;
}

/// Reads see a lock in either form; writes take a `DelayedLock`, which keeps the delays
/// (taking a delayed lock as a plain one would drop them, so it is refused).
impl Kind for Lock {
    fn from_object(obj: Object) -> Result<Self, Object> {
        match obj {
            Object::Lock(x) => Ok(x),
            other => Err(other),
        }
    }
    fn view(obj: &Object) -> Option<&Self> {
        match obj {
            Object::Lock(x) => Some(x),
            Object::DelayedLock(d) => Some(&d.lock),
            _ => None,
        }
    }
    fn into_object(self) -> Object {
        Object::Lock(self)
    }
}

/// The boxed kinds.
macro_rules! boxed_kind {
    ($variant:ident) => {
        impl Kind for $variant {
            fn from_object(obj: Object) -> Result<Self, Object> {
                match obj {
                    Object::$variant(x) => Ok(*x),
                    other => Err(other),
                }
            }
            fn view(obj: &Object) -> Option<&Self> {
                match obj {
                    Object::$variant(x) => Some(x),
                    _ => None,
                }
            }
            fn into_object(self) -> Object {
                Object::$variant(Box::new(self))
            }
        }
    };
}

boxed_kind!(Fence);
boxed_kind!(Bucket);
boxed_kind!(Idemp);
boxed_kind!(Semaphore);
boxed_kind!(Window);
boxed_kind!(RwLock);

impl Kind for Data {
    fn from_object(obj: Object) -> Result<Self, Object> {
        match obj {
            Object::Data(x) => Ok(x),
            other => Err(other),
        }
    }
    fn view(obj: &Object) -> Option<&Self> {
        match obj {
            Object::Data(x) => Some(x),
            _ => None,
        }
    }
    fn into_object(self) -> Object {
        Object::Data(self)
    }
}
