//! Commands: parse a request into a typed command, run it against the node, reply.
//! Nothing here touches a socket; connection state changes go through `ConnState`.

mod admin;
mod args;
mod bucket;
mod compat;
mod fence;
mod idemp;
mod lock;
pub mod table;

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;

use crate::connection::ConnState;
use crate::node::NodeError;
use crate::reply::Reply;
use crate::server::ServerCtx;
use crate::sm::{Response, StaleReason};

/// What dispatch produced: a reply now, one later (Raft), or a last reply before close.
pub enum Dispatched {
    Now(Reply),
    Later(BoxFuture<'static, Reply>),
    Close(Reply),
}

impl Dispatched {
    fn later(f: impl std::future::Future<Output = Reply> + Send + 'static) -> Dispatched {
        Dispatched::Later(f.boxed())
    }
}

impl From<Result<Dispatched, Reply>> for Dispatched {
    fn from(r: Result<Dispatched, Reply>) -> Self {
        r.unwrap_or_else(Dispatched::Now)
    }
}

/// Commands served before AUTH (SPEC.md "Limits and security").
const PRE_AUTH: [&str; 5] = ["HELLO", "AUTH", "PING", "QUIT", "RESET"];

/// Routes one request by its command name.
pub fn dispatch(args: Vec<Bytes>, conn: &mut ConnState, ctx: &Arc<ServerCtx>) -> Dispatched {
    let Some(first) = args.first() else {
        return Dispatched::Now(Reply::err("ERR empty command"));
    };
    let name = args::keyword(first);
    if !conn.authed && !PRE_AUTH.contains(&name.as_str()) {
        return Dispatched::Now(Reply::err("NOAUTH Authentication required."));
    }
    let rest = &args[1..];
    match name.as_str() {
        "LOCK" => lock::dispatch(rest, ctx),
        "FENCE" => fence::dispatch(rest, ctx),
        "TOKENBUCKET" => bucket::dispatch(rest, ctx),
        "IDEMP" => idemp::dispatch(rest, ctx),
        "RAFT" => admin::dispatch(rest, ctx),
        _ => compat::dispatch(&name, rest, conn, ctx),
    }
}

/// The reply for a node that could not produce an answer. `key` picks the hash slot
/// of a -MOVED redirect, so cluster-aware clients route it like Redis Cluster's.
fn node_error(e: NodeError, key: &[u8]) -> Reply {
    match e {
        NodeError::Redirect { addr } => Reply::err(format!("MOVED {} {addr}", redis_protocol::redis_keyslot(key))),
        other => Reply::err(other.to_string()),
    }
}

/// A read answered with another query's answer: a bug, reported rather than hidden.
fn mismatched(a: crate::query::ReadAnswer) -> Reply {
    Reply::err(format!("ERR internal: mismatched read answer {a:?}"))
}

/// Replies shared by every family for state-machine answers that are errors.
fn error_response(r: Response, subject: &[u8]) -> Reply {
    match r {
        Response::WrongType => wrongtype(),
        Response::Stale(reason) => stale(subject, &reason),
        Response::Mismatch => Reply::err(format!(
            "MISMATCH idempotency key '{}' was used with another fingerprint",
            args::show(subject)
        )),
        Response::Invalid(why) => Reply::err(format!("ERR {why}")),
        other => Reply::err(format!("ERR internal: unexpected state-machine answer {other:?}")),
    }
}

fn wrongtype() -> Reply {
    Reply::err("WRONGTYPE Operation against a key holding the wrong kind of value")
}

fn stale(subject: &[u8], reason: &StaleReason) -> Reply {
    let s = args::show(subject);
    Reply::err(match reason {
        StaleReason::Older { token, highest } => format!("STALE {s} token {token} < {highest}"),
        StaleReason::NotHolder { lock, token } => {
            format!("STALE {s} lock '{}' token {token} not the holder", args::show(lock))
        }
        StaleReason::ClaimLost { token } => {
            format!("STALE {s} token {token} no longer holds the claim")
        }
    })
}
