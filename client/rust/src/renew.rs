//! The one renewal every lease guard shares (`Lock`, `Permit`, `ReadGuard`, `WriteGuard`):
//! a background task that extends the lease before its TTL runs out, the local monotonic
//! deadline that says how long the lease is known to hold, and release on `release()` or
//! drop. Each guard is a thin wrapper naming which command family it renews.

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

/// Which command family a lease belongs to: it decides what EXTEND and RELEASE send.
/// (An enum rather than boxed closures: the renewer stays a plain `Send` future.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `LOCK EXTEND` / `LOCK RELEASE`.
    Lock,
    /// `SEMAPHORE EXTEND` / `SEMAPHORE RELEASE`.
    Semaphore,
    /// `RWLOCK EXTEND` / `RWLOCK RELEASE` (read and write leases alike).
    RwLock,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Lock => "lock",
            Kind::Semaphore => "semaphore permit",
            Kind::RwLock => "rwlock",
        }
    }

    async fn extend(self, client: &Client, name: &[u8], owner: &[u8], token: u64, ttl: Duration) -> Result<bool> {
        match self {
            Kind::Lock => client.lock_extend(name, owner, token, ttl).await,
            Kind::Semaphore => client.semaphore_extend(name, owner, token, ttl).await,
            Kind::RwLock => client.rwlock_extend(name, owner, token, ttl).await,
        }
    }

    async fn release(self, client: &Client, name: &[u8], owner: &[u8], token: u64) -> Result<bool> {
        match self {
            Kind::Lock => client.lock_release(name, owner, token).await,
            Kind::Semaphore => client.semaphore_release(name, owner, token).await,
            Kind::RwLock => client.rwlock_release(name, owner, token).await,
        }
    }
}

/// State a guard and its renewer share.
struct Lease {
    lost: AtomicBool,
    /// Local monotonic instant before which the lease is known to hold.
    deadline: Mutex<Instant>,
}

impl Lease {
    fn deadline(&self) -> Instant {
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn renewed(&self, until: Instant) {
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner()) = until;
    }

    fn valid(&self) -> bool {
        !self.lost.load(Ordering::Acquire) && Instant::now() < self.deadline()
    }

    fn remaining(&self) -> Duration {
        if self.lost.load(Ordering::Acquire) {
            return Duration::ZERO;
        }
        self.deadline().saturating_duration_since(Instant::now())
    }
}

/// A granted lease, renewed in the background until released or dropped.
pub(crate) struct Held {
    kind: Kind,
    client: Client,
    name: Vec<u8>,
    owner: Vec<u8>,
    token: u64,
    lease: Arc<Lease>,
    renewer: JoinHandle<()>,
    released: bool,
}

impl Held {
    /// Starts renewing a lease of `ttl` granted with `token`; `sent` is when the acquire
    /// was sent (the server started the lease later, so counting from it errs safe).
    pub(crate) fn start(
        kind: Kind,
        client: &Client,
        name: Vec<u8>,
        owner: Vec<u8>,
        token: u64,
        ttl: Duration,
        sent: Instant,
    ) -> Held {
        let lease = Arc::new(Lease {
            lost: AtomicBool::new(false),
            deadline: Mutex::new(sent + safe_span(ttl)),
        });
        let renewer = tokio::spawn(renew(
            kind,
            client.clone(),
            name.clone(),
            owner.clone(),
            token,
            ttl,
            Arc::clone(&lease),
        ));
        Held {
            kind,
            client: client.clone(),
            name,
            owner,
            token,
            lease,
            renewer,
            released: false,
        }
    }

    pub(crate) fn token(&self) -> u64 {
        self.token
    }

    pub(crate) fn name(&self) -> &[u8] {
        &self.name
    }

    pub(crate) fn is_valid(&self) -> bool {
        self.lease.valid()
    }

    pub(crate) fn remaining(&self) -> Duration {
        self.lease.remaining()
    }

    /// Stops renewing and releases; true if the server still had it under our token.
    pub(crate) async fn release(mut self) -> Result<bool> {
        self.renewer.abort();
        self.lease.lost.store(true, Ordering::Release);
        self.released = true;
        self.kind
            .release(&self.client, &self.name, &self.owner, self.token)
            .await
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.renewer.abort();
        if self.released {
            return;
        }
        // Best effort: release now rather than leave others waiting out the TTL.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (kind, client, name, owner, token) = (
                self.kind,
                self.client.clone(),
                self.name.clone(),
                self.owner.clone(),
                self.token,
            );
            rt.spawn(async move {
                if let Err(e) = kind.release(&client, &name, &owner, token).await {
                    tracing::debug!(
                        kind = kind.label(),
                        token,
                        error = %e,
                        "release on drop failed; the lease will expire"
                    );
                }
            });
        }
    }
}

/// Extends every ttl/3, so two attempts fit before the lease could lapse; marks the lease
/// lost on refusal or on any error that is not retry-safe (an -UNCERTAIN extend may not
/// have applied, and we cannot tell, so the lease is no longer known to hold).
async fn renew(
    kind: Kind,
    client: Client,
    name: Vec<u8>,
    owner: Vec<u8>,
    token: u64,
    ttl: Duration,
    lease: Arc<Lease>,
) {
    let period = (ttl / 3).max(Duration::from_millis(1));
    let mut next = period;
    loop {
        tokio::time::sleep(next).await;
        let sent = Instant::now();
        match kind.extend(&client, &name, &owner, token, ttl).await {
            Ok(true) => {
                lease.renewed(sent + safe_span(ttl));
                next = period;
            }
            Ok(false) => {
                tracing::warn!(
                    kind = kind.label(),
                    token,
                    "lease lost: extend refused (expired or taken over)"
                );
                break;
            }
            // Not applied (no leader): keep trying while the lease still holds locally.
            Err(e) if e.is_retry_safe() && lease.valid() => {
                tracing::debug!(kind = kind.label(), token, error = %e, "extend not applied; retrying");
                let cap = u64::try_from((period / 4).as_millis()).unwrap_or(u64::MAX).max(1);
                next = Duration::from_millis(rand::rng().random_range(1..=cap));
            }
            Err(e) => {
                tracing::warn!(kind = kind.label(), token, error = %e, "lease lost: extend failed");
                break;
            }
        }
    }
    lease.lost.store(true, Ordering::Release);
}

/// The accessors every lease guard has, delegating to its `held` field.
macro_rules! guard_methods {
    () => {
        /// The token of this grant (from the cluster-wide sequence): fence writes with it.
        pub fn token(&self) -> u64 {
            self.held.token()
        }

        /// The name the lease is on.
        pub fn name(&self) -> &[u8] {
            self.held.name()
        }

        /// False once a renewal failed or the lease may have lapsed by local monotonic
        /// time (TTL less the drift margin, counted from when the request was sent).
        pub fn is_valid(&self) -> bool {
            self.held.is_valid()
        }

        /// Time the lease is known to hold for, by local monotonic time (zero once invalid).
        pub fn remaining(&self) -> std::time::Duration {
            self.held.remaining()
        }

        /// Stops renewing and releases; true if the server still had it under our token.
        /// (Dropping the guard releases too, in the background and without an answer.)
        pub async fn release(self) -> $crate::error::Result<bool> {
            self.held.release().await
        }
    };
}
pub(crate) use guard_methods;
