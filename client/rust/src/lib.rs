//! Typed async client for fencepost: locks with fencing tokens, fences, rate limits, idempotency keys.

mod client;
mod error;
mod lock;
pub mod reply;
mod retry;

pub use client::{Client, TlsConfig};
pub use error::{Error, Result};
pub use lock::{safe_span, Lock, DRIFT_MARGIN_PERCENT};
pub use reply::{Begin, BucketReply, FenceValue, IdempStatus, LockInfo};
pub use retry::{retry, Backoff};
