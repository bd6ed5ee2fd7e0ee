//! Typed async client for fencepost: locks with fencing tokens, fences, rate limits,
//! idempotency keys, semaphores, read-write locks and lock watches.

mod client;
mod error;
mod lock;
mod renew;
pub mod reply;
mod retry;
mod rwlock;
mod semaphore;
mod watch;

pub use client::{Client, TlsConfig};
pub use error::{Error, Result};
pub use lock::{Lock, LockOptions};
pub use renew::{safe_span, DRIFT_MARGIN_PERCENT};
pub use reply::{Begin, BucketReply, FenceValue, IdempStatus, LockInfo, RwLockInfo, RwMode, SemaphoreInfo};
pub use retry::{retry, Backoff};
pub use rwlock::{ReadGuard, WriteGuard};
pub use semaphore::Permit;
pub use watch::{Watch, WATCH_ROUND};
