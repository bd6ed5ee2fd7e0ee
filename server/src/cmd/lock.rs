//! ```text
//! LOCK ACQUIRE <name> <owner> <ttl-ms> [WAIT <ms>]  -> token | nil
//! LOCK RELEASE <name> <owner> <token>               -> :1 | :0
//! LOCK EXTEND  <name> <owner> <token> <ttl-ms>      -> :1 | :0
//! LOCK INFO    <name>                               -> nil | {owner, token, ttl-ms, waiters}
//! ```

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::args::{self, arity};
use super::{error_response, mismatched, node_error, wrongtype, Dispatched};
use crate::node::Node;
use crate::query::{ReadAnswer, ReadQuery};
use crate::reply::Reply;
use crate::server::ServerCtx;
use crate::sm::{Op, Response};
use crate::waiters::WaitOutcome;

/// If a queued waiter hears nothing this long after its WAIT deadline, something is
/// wrong (no leader proposing ticks): give up with -UNCERTAIN rather than hang.
const WAIT_GRACE: Duration = Duration::from_secs(30);

pub fn dispatch(a: &[Bytes], ctx: &Arc<ServerCtx>) -> Dispatched {
    let Some(sub) = a.first() else {
        return Dispatched::Now(arity("lock"));
    };
    let node = ctx.node.clone();
    let r: Result<Dispatched, Reply> = match args::keyword(sub).as_str() {
        "ACQUIRE" => acquire(&a[1..], node),
        "RELEASE" => release(&a[1..], node),
        "EXTEND" => extend(&a[1..], node),
        "INFO" => info(&a[1..], node),
        _ => Err(Reply::err(format!(
            "ERR unknown subcommand '{}' for 'lock'",
            args::show(sub)
        ))),
    };
    r.into()
}

fn acquire(a: &[Bytes], node: Arc<Node>) -> Result<Dispatched, Reply> {
    if a.len() != 3 && a.len() != 5 {
        return Err(arity("lock|acquire"));
    }
    let name = args::name(&a[0], "lock name")?;
    let owner = args::name(&a[1], "owner")?;
    let ttl_ms = args::positive_ms(&a[2], "ttl")?;
    let wait_ms = if a.len() == 5 {
        if args::keyword(&a[3]) != "WAIT" {
            return Err(args::syntax());
        }
        Some(args::ms(&a[4], "WAIT")?)
    } else {
        None
    };
    Ok(Dispatched::later(async move {
        let op = Op::LockAcquire {
            name: name.clone(),
            owner,
            ttl_ms,
            wait_ms,
        };
        match node.write(op).await {
            Err(e) => node_error(e, &name),
            Ok(Response::Granted { token }) => Reply::Int(token as i64),
            Ok(Response::NotGranted) => Reply::Nil,
            Ok(Response::Queued { waiter }) => wait_for_grant(node, name, waiter, wait_ms.unwrap_or(0)).await,
            Ok(other) => error_response(other, &name),
        }
    }))
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
        if !self.armed {
            return;
        }
        self.node.waiters.forget(self.waiter);
        let (node, name, waiter) = (self.node.clone(), self.name.clone(), self.waiter);
        tokio::spawn(async move {
            if let Err(e) = node.write(Op::LockCancelWait { name, waiter }).await {
                // Not fatal: the waiter's own deadline removes it from the queue.
                tracing::debug!(waiter, error = %e, "cancel of an abandoned waiter failed");
            }
        });
    }
}

async fn wait_for_grant(node: Arc<Node>, name: Bytes, waiter: u64, wait_ms: u64) -> Reply {
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

fn release(a: &[Bytes], node: Arc<Node>) -> Result<Dispatched, Reply> {
    if a.len() != 3 {
        return Err(arity("lock|release"));
    }
    let name = args::name(&a[0], "lock name")?;
    let owner = args::name(&a[1], "owner")?;
    let token = args::token(&a[2])?;
    Ok(Dispatched::later(async move {
        bool_write(
            &node,
            Op::LockRelease {
                name: name.clone(),
                owner,
                token,
            },
            &name,
        )
        .await
    }))
}

fn extend(a: &[Bytes], node: Arc<Node>) -> Result<Dispatched, Reply> {
    if a.len() != 4 {
        return Err(arity("lock|extend"));
    }
    let name = args::name(&a[0], "lock name")?;
    let owner = args::name(&a[1], "owner")?;
    let token = args::token(&a[2])?;
    let ttl_ms = args::positive_ms(&a[3], "ttl")?;
    Ok(Dispatched::later(async move {
        bool_write(
            &node,
            Op::LockExtend {
                name: name.clone(),
                owner,
                token,
                ttl_ms,
            },
            &name,
        )
        .await
    }))
}

async fn bool_write(node: &Node, op: Op, name: &[u8]) -> Reply {
    match node.write(op).await {
        Err(e) => node_error(e, name),
        Ok(Response::Bool(b)) => Reply::Int(b as i64),
        Ok(other) => error_response(other, name),
    }
}

fn info(a: &[Bytes], node: Arc<Node>) -> Result<Dispatched, Reply> {
    if a.len() != 1 {
        return Err(arity("lock|info"));
    }
    let name = args::name(&a[0], "lock name")?;
    Ok(Dispatched::later(async move {
        match node.read(ReadQuery::LockInfo { name: name.clone() }).await {
            Err(e) => node_error(e, &name),
            Ok(ReadAnswer::LockInfo(Err(_))) => wrongtype(),
            Ok(ReadAnswer::LockInfo(Ok(None))) => Reply::Nil,
            Ok(ReadAnswer::LockInfo(Ok(Some(v)))) => Reply::map(vec![
                ("owner", Reply::Bulk(v.owner)),
                ("token", Reply::Int(v.token as i64)),
                ("ttl-ms", Reply::Int(v.ttl_remaining_ms as i64)),
                ("waiters", Reply::Int(v.waiters as i64)),
            ]),
            Ok(other) => mismatched(other),
        }
    }))
}
