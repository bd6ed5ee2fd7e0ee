//! `LOCK WATCH <name> <token> <timeout-ms>`: waits until the lock's holder token
//! differs from `<token>` (0: until anyone holds it), then answers what LOCK INFO would;
//! at the timeout it answers LOCK INFO as it stands. etcd's election Observe and
//! Curator's leader listener, for fencepost's locks.
//!
//! Every answer comes from a linearizable read, so a watcher is never told of a change
//! that did not happen, nor of a state older than its call. Between reads it costs
//! nothing but a wake-up per applied batch: it looks at this node's own applied state,
//! and only when that shows a change does it ask again through ReadIndex (a follower's
//! state may lag, so what it shows is a hint, never the answer). A lease can also end
//! with no entry at all, so it asks again once the holder's remaining TTL has passed;
//! that timer only schedules a read, it decides nothing.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::{sleep_until, Instant};

use super::outcome::{self, node_error};
use crate::mutation::{self, Mutation};
use crate::node::Node;
use crate::query::{ReadAnswer, ReadQuery};
use crate::reply::Reply;
use crate::sm::LockView;

/// The fewest milliseconds between two confirming reads of one watcher, so a follower
/// that is catching up (its state showing old holders) does not send a read per batch.
const MIN_READ_GAP: Duration = Duration::from_millis(10);

/// What a look found: the holder's token (0 when free) and the view to answer with.
type Look = Result<Option<LockView>, Reply>;

fn token_of(v: &Option<LockView>) -> u64 {
    v.as_ref().map_or(0, |v| v.token)
}

/// A linearizable LOCK INFO.
async fn look(node: &Node, name: &Bytes) -> Look {
    match node.read(ReadQuery::LockInfo { name: name.clone() }).await {
        Ok(ReadAnswer::LockInfo(Ok(v))) => Ok(v),
        Ok(ReadAnswer::LockInfo(Err(_))) => Err(outcome::wrongtype()),
        Ok(_) => Err(Reply::err("ERR internal: LOCK INFO answered another query")),
        Err(e) => Err(node_error(e, name)),
    }
}

fn reply(v: Option<LockView>) -> Reply {
    outcome::lock_info_reply(v)
}

/// Serves one LOCK WATCH.
pub async fn run(node: Arc<Node>, name: Bytes, token: u64, timeout_ms: u64) -> Reply {
    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
    let mut applied = node.applied_changes();
    let mut last_read = Instant::now();
    let mut view = match look(&node, &name).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    loop {
        if token_of(&view) != token {
            return reply(view);
        }
        // Unchanged. Ask again when the lease may have run out (plus a little, so the
        // leader's clock has passed it too), or at the deadline.
        let lease_end = view
            .as_ref()
            .map(|v| Instant::now() + Duration::from_millis(v.ttl_remaining_ms.saturating_add(5)));
        let wake = lease_end.map_or(deadline, |e| e.min(deadline));
        let hinted = tokio::select! {
            changed = applied.changed() => {
                if changed.is_err() {
                    // The node is shutting down: answer as things stand.
                    sleep_until(deadline).await;
                }
                let local = node.local_lock_info(&name).map_err(|_| outcome::wrongtype());
                // The deliberate bug `watch-local` answers the hint itself.
                if mutation::active(Mutation::WatchAnswersLocal) {
                    if let Ok(v) = &local {
                        if token_of(v) != token {
                            return reply(v.clone());
                        }
                    }
                }
                matches!(local, Ok(ref v) if token_of(v) != token) || local.is_err()
            }
            _ = sleep_until(wake) => true,
        };
        if Instant::now() >= deadline {
            return look(&node, &name).await.map_or_else(|r| r, reply);
        }
        if hinted {
            sleep_until(last_read + MIN_READ_GAP).await;
            last_read = Instant::now();
            view = match look(&node, &name).await {
                Ok(v) => v,
                Err(r) => return r,
            };
        }
    }
}
