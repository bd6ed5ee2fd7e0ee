//! ```text
//! LOCK ACQUIRE <name> <owner> <ttl-ms> [WAIT <ms>] [DELAY <ms>]  -> token | nil
//! LOCK RELEASE <name> <owner> <token>               -> :1 | :0
//! LOCK EXTEND  <name> <owner> <token> <ttl-ms>      -> :1 | :0
//! LOCK INFO    <name>                               -> nil | {owner, token, ttl-ms, waiters}
//! LOCK WATCH   <name> <token> <timeout-ms>          -> what INFO answers, once the
//!                                                      holder's token is not <token>
//! ```

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::args::{self, arity};
use super::{Command, Limits, Shape};
use crate::error::NodeError;
use crate::node::Node;
use crate::query::ReadQuery;
use crate::reply::Reply;
use crate::sm::{Op, Response};
use crate::waiters::WaitOutcome;

/// If a queued waiter hears nothing this long after its WAIT deadline, something is
/// wrong (no leader proposing ticks): give up with -UNCERTAIN rather than hang.
const WAIT_GRACE: Duration = Duration::from_secs(30);

pub fn parse(a: &[Bytes], _: &Limits) -> Result<Command, Reply> {
    let Some(sub) = a.first() else {
        return Err(arity("lock"));
    };
    let a = &a[1..];
    let write = |op| Ok(Command::Write(op, Shape::Plain));
    match args::keyword(sub).as_str() {
        "ACQUIRE" => {
            if !matches!(a.len(), 3 | 5 | 7) {
                return Err(arity("lock|acquire"));
            }
            let name = args::name(&a[0], "lock name")?;
            let owner = args::name(&a[1], "owner")?;
            let ttl_ms = args::positive_ms(&a[2], "ttl")?;
            let (mut wait_ms, mut delay_ms) = (None, None);
            for pair in a[3..].chunks(2) {
                let [opt, value] = pair else {
                    return Err(args::syntax());
                };
                match args::keyword(opt).as_str() {
                    "WAIT" if wait_ms.is_none() => wait_ms = Some(args::ms(value, "WAIT")?),
                    "DELAY" if delay_ms.is_none() => delay_ms = Some(args::ms(value, "DELAY")?),
                    _ => return Err(args::syntax()),
                }
            }
            // Without a delay the entry keeps the format every release reads.
            write(match delay_ms {
                None | Some(0) => Op::LockAcquire {
                    name,
                    owner,
                    ttl_ms,
                    wait_ms,
                },
                Some(delay_ms) => Op::LockAcquireDelayed {
                    name,
                    owner,
                    ttl_ms,
                    wait_ms,
                    delay_ms,
                },
            })
        }
        "RELEASE" => {
            let l = args::lease_ref(a, "lock", "lock name", false)?;
            write(Op::LockRelease {
                name: l.name,
                owner: l.owner,
                token: l.token,
            })
        }
        "EXTEND" => {
            let l = args::lease_ref(a, "lock", "lock name", true)?;
            write(Op::LockExtend {
                name: l.name,
                owner: l.owner,
                token: l.token,
                ttl_ms: l.ttl_ms,
            })
        }
        "WATCH" => {
            if a.len() != 3 {
                return Err(arity("lock|watch"));
            }
            Ok(Command::LockWatch {
                name: args::name(&a[0], "lock name")?,
                token: args::token(&a[1])?,
                timeout_ms: args::positive_ms(&a[2], "timeout")?,
            })
        }
        "INFO" => {
            if a.len() != 1 {
                return Err(arity("lock|info"));
            }
            Ok(Command::Read(
                ReadQuery::LockInfo {
                    name: args::name(&a[0], "lock name")?,
                },
                Shape::Plain,
            ))
        }
        _ => Err(Reply::err(format!(
            "ERR unknown subcommand '{}' for 'lock'",
            args::show(sub)
        ))),
    }
}

/// Cancels a queued waiter whose client went away before its turn came.
struct CancelOnDrop {
    node: Arc<Node>,
    name: Bytes,
    waiter: u64,
    armed: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.armed {
            cancel_waiter(self.node.clone(), self.name.clone(), self.waiter);
        }
    }
}

/// Takes waiter `waiter` out of `name`'s queue, in the background.
fn cancel_waiter(node: Arc<Node>, name: Bytes, waiter: u64) {
    node.waiters.forget(waiter);
    tokio::spawn(async move {
        if let Err(e) = node.write(Op::LockCancelWait { name, waiter }).await {
            // Not fatal: the waiter's own deadline removes it from the queue.
            tracing::debug!(waiter, error = %e, "cancel of an abandoned waiter failed");
        }
    });
}

/// Proposes an acquire that may queue (LOCK, SEMAPHORE or RWLOCK ... WAIT) in a task of
/// its own. A client that leaves while the entry is in flight drops the caller before
/// it learns its waiter id, and so before any `CancelOnDrop` exists; without this, the
/// orphan would stay queued and, at its turn, be granted and hold the lease for its
/// whole TTL. Whoever ends up with a `Queued` answer nobody awaits cancels it: the task,
/// when the caller is already gone, or the caller's guard, when the answer arrived but
/// the caller was dropped before it looked.
pub async fn write_may_queue(node: Arc<Node>, op: Op, name: Bytes) -> Result<Response, NodeError> {
    let (tx, rx) = oneshot::channel();
    let proposer = node.clone();
    let task_name = name.clone();
    tokio::spawn(async move {
        let result = proposer.write(op).await;
        if let Err(Ok(Response::Queued { waiter })) = tx.send(result) {
            cancel_waiter(proposer, task_name, waiter);
        }
    });
    let mut answer = QueuingAnswer { rx, node, name };
    (&mut answer.rx)
        .await
        .unwrap_or_else(|_| Err(NodeError::Uncertain("the write's task stopped".into())))
}

/// The caller's end of `write_may_queue`.
struct QueuingAnswer {
    rx: oneshot::Receiver<Result<Response, NodeError>>,
    node: Arc<Node>,
    name: Bytes,
}

impl Drop for QueuingAnswer {
    fn drop(&mut self) {
        // Closing first settles who owns the answer: it either arrived already (and is
        // taken here, unless the caller took it) or the task's send now fails.
        self.rx.close();
        if let Ok(Ok(Response::Queued { waiter })) = self.rx.try_recv() {
            cancel_waiter(self.node.clone(), self.name.clone(), waiter);
        }
    }
}

/// Waits for a queued LOCK ACQUIRE ... WAIT to be granted or dropped.
pub async fn wait_for_grant(node: Arc<Node>, name: Bytes, waiter: u64, wait_ms: u64) -> Reply {
    let rx = node.waiters.register(waiter);
    let mut guard = CancelOnDrop {
        node,
        name,
        waiter,
        armed: true,
    };
    let reply = match tokio::time::timeout(Duration::from_millis(wait_ms) + WAIT_GRACE, rx).await {
        Ok(Ok(WaitOutcome::Granted(token))) => Reply::Int(token as i64),
        Ok(Ok(WaitOutcome::Dropped)) => Reply::Nil,
        Ok(Err(_)) | Err(_) => {
            // Cancel (armed guard) and say we do not know: a grant may have applied.
            return Reply::err("UNCERTAIN wait outcome unknown (no leader resolved it in time)");
        }
    };
    guard.armed = false;
    reply
}
