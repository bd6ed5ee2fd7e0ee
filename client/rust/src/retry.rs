//! Retry with exponential backoff and full jitter, only for errors that prove nothing was applied.

use std::future::Future;
use std::time::Duration;

use rand::Rng;

use crate::error::Result;

/// How long and how often to retry.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// Upper bound of the first sleep.
    pub initial: Duration,
    /// Cap on any one sleep.
    pub max: Duration,
    /// Attempts in total, the first included.
    pub max_attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        // Sized to ride out a leader election (about a second) without stampeding.
        Backoff {
            initial: Duration::from_millis(25),
            max: Duration::from_secs(1),
            max_attempts: 10,
        }
    }
}

impl Backoff {
    /// Sleep before retry number `n` (0-based): uniform in [0, min(max, initial * 2^n)].
    pub fn delay(&self, n: u32) -> Duration {
        let ceiling = self
            .initial
            .saturating_mul(1u32.checked_shl(n.min(31)).unwrap_or(u32::MAX))
            .min(self.max);
        // Full jitter spreads clients that failed together, so they don't return together.
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }
}

/// Runs `op` until it succeeds, fails in a way that is not retry-safe, or attempts run out.
///
/// Only `ClusterDown` and connection refusals are retried; `Uncertain` and lost
/// connections are returned at once, since resending could apply a command twice.
pub async fn retry<T, F, Fut>(policy: &Backoff, mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut attempt = 0;
    loop {
        match op().await {
            Err(e) if e.is_retry_safe() && attempt + 1 < policy.max_attempts => {
                let d = policy.delay(attempt);
                tracing::debug!(attempt, delay_ms = d.as_millis() as u64, error = %e, "retrying");
                tokio::time::sleep(d).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn fast() -> Backoff {
        Backoff {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(2),
            max_attempts: 4,
        }
    }

    #[test]
    fn delay_is_capped() {
        let b = Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(50),
            max_attempts: 3,
        };
        for n in 0..40 {
            assert!(b.delay(n) <= Duration::from_millis(50));
        }
        assert!(b.delay(0) <= Duration::from_millis(10));
    }

    #[tokio::test]
    async fn retries_clusterdown_until_success() {
        let calls = AtomicU32::new(0);
        let r = retry(&fast(), || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err(Error::ClusterDown("no leader".into())),
                _ => Ok(7),
            }
        })
        .await;
        assert_eq!(r.ok(), Some(7));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn never_retries_uncertain() {
        let calls = AtomicU32::new(0);
        let r: Result<()> = retry(&fast(), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(Error::Uncertain("leader lost".into()))
        })
        .await;
        assert!(matches!(r, Err(Error::Uncertain(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts() {
        let calls = AtomicU32::new(0);
        let r: Result<()> = retry(&fast(), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(Error::ClusterDown("no quorum".into()))
        })
        .await;
        assert!(matches!(r, Err(Error::ClusterDown(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }
}
