//! `Lock`: a held lease with its fencing token, kept alive by a watchdog until released.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::task::JoinHandle;

use crate::client::Client;
use crate::error::Result;

/// The drift SPEC.md "Time" assumes of every node's monotonic clock: within 1% of real
/// time. A lease is trusted for its TTL less this share.
pub const DRIFT_MARGIN_PERCENT: u32 = 1;

/// How long a lease of `ttl` is known to hold, counted on this client's monotonic clock
/// from the moment it sent the request (the server starts the lease later than that, and
/// its clock stamps the expiry).
pub fn safe_span(ttl: Duration) -> Duration {
    ttl.saturating_sub(ttl * DRIFT_MARGIN_PERCENT / 100)
}

/// State the guard and its watchdog share.
struct Shared {
    lost: AtomicBool,
    /// Local monotonic instant before which the lease is known to hold.
    deadline: Mutex<Instant>,
}

impl Shared {
    fn deadline(&self) -> Instant {
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn renewed(&self, until: Instant) {
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner()) = until;
    }

    fn valid(&self) -> bool {
        !self.lost.load(Ordering::Acquire) && Instant::now() < self.deadline()
    }
}

/// A granted lock. Use `token()` to fence every write made under it.
pub struct Lock {
    client: Client,
    name: Vec<u8>,
    owner: Vec<u8>,
    token: u64,
    shared: Arc<Shared>,
    watchdog: JoinHandle<()>,
    released: bool,
}

impl Lock {
    /// `LOCK ACQUIRE` and start the watchdog; None if the lock is held elsewhere (or WAIT ran out).
    pub async fn acquire(
        client: &Client,
        name: impl AsRef<[u8]>,
        owner: impl AsRef<[u8]>,
        ttl: Duration,
        wait: Option<Duration>,
    ) -> Result<Option<Lock>> {
        let (name, owner) = (name.as_ref().to_vec(), owner.as_ref().to_vec());
        // The server starts the lease after it receives the request, so counting from
        // the moment we send errs on the safe side.
        let sent = Instant::now();
        let Some(token) = client.lock_acquire(&name, &owner, ttl, wait).await? else {
            return Ok(None);
        };
        let shared = Arc::new(Shared {
            lost: AtomicBool::new(false),
            deadline: Mutex::new(sent + safe_span(ttl)),
        });
        let watchdog = tokio::spawn(watchdog(
            client.clone(),
            name.clone(),
            owner.clone(),
            token,
            ttl,
            Arc::clone(&shared),
        ));
        Ok(Some(Lock {
            client: client.clone(),
            name,
            owner,
            token,
            shared,
            watchdog,
            released: false,
        }))
    }

    /// The fencing token of this grant.
    pub fn token(&self) -> u64 {
        self.token
    }

    /// The lock's name.
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    /// False once an extend failed or the lease may have lapsed by local monotonic time.
    pub fn is_valid(&self) -> bool {
        self.shared.valid()
    }

    /// Time the lease is known to hold for, by local monotonic time (zero once invalid).
    pub fn remaining(&self) -> Duration {
        if self.shared.lost.load(Ordering::Acquire) {
            return Duration::ZERO;
        }
        self.shared.deadline().saturating_duration_since(Instant::now())
    }

    /// Stops the watchdog and releases; true if the server still had it under our token.
    pub async fn release(mut self) -> Result<bool> {
        self.watchdog.abort();
        self.shared.lost.store(true, Ordering::Release);
        self.released = true;
        self.client.lock_release(&self.name, &self.owner, self.token).await
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        self.watchdog.abort();
        if self.released {
            return;
        }
        // Best effort: release now rather than leave others waiting out the TTL.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (client, name, owner, token) = (self.client.clone(), self.name.clone(), self.owner.clone(), self.token);
            rt.spawn(async move {
                if let Err(e) = client.lock_release(&name, &owner, token).await {
                    tracing::debug!(token, error = %e, "release on drop failed; the lease will expire");
                }
            });
        }
    }
}

/// Extends every ttl/3; marks the lock lost on refusal or on any error that is not retry-safe.
async fn watchdog(client: Client, name: Vec<u8>, owner: Vec<u8>, token: u64, ttl: Duration, shared: Arc<Shared>) {
    let period = (ttl / 3).max(Duration::from_millis(1));
    let mut next = period;
    loop {
        tokio::time::sleep(next).await;
        let sent = Instant::now();
        match client.lock_extend(&name, &owner, token, ttl).await {
            Ok(true) => {
                shared.renewed(sent + safe_span(ttl));
                next = period;
            }
            Ok(false) => {
                tracing::warn!(token, "lock lost: extend refused (expired or taken over)");
                break;
            }
            // Not applied (no leader): keep trying while the lease still holds locally.
            Err(e) if e.is_retry_safe() && shared.valid() => {
                tracing::debug!(token, error = %e, "extend not applied; retrying");
                let cap = u64::try_from((period / 4).as_millis()).unwrap_or(u64::MAX).max(1);
                next = Duration::from_millis(rand::rng().random_range(1..=cap));
            }
            Err(e) => {
                tracing::warn!(token, error = %e, "lock lost: extend failed");
                break;
            }
        }
    }
    shared.lost.store(true, Ordering::Release);
}
