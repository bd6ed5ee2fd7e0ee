//! ```text
//! IDEMP BEGIN    <key> <fingerprint> <ttl-ms> [LEASE <ms>]
//!   -> ["started", token] | ["pending", retry-after-ms] | ["done", response] | -MISMATCH
//! IDEMP COMPLETE <key> <token> <response>   -> +OK | -STALE
//! IDEMP ABORT    <key> <token>              -> +OK | -STALE
//! IDEMP GET      <key>                      -> nil | ["pending", ms] | ["done", response]
//! ```

use std::sync::Arc;

use bytes::Bytes;

use super::args::{self, arity};
use super::{error_response, mismatched, node_error, wrongtype, Dispatched};
use crate::node::Node;
use crate::query::{ReadAnswer, ReadQuery};
use crate::reply::Reply;
use crate::server::ServerCtx;
use crate::sm::{IdempView, Op, Response, DEFAULT_IDEMP_LEASE_MS};

pub fn dispatch(a: &[Bytes], ctx: &Arc<ServerCtx>) -> Dispatched {
    let Some(sub) = a.first() else {
        return Dispatched::Now(arity("idemp"));
    };
    let node = ctx.node.clone();
    let r = match args::keyword(sub).as_str() {
        "BEGIN" => begin(&a[1..], node),
        "COMPLETE" => complete(&a[1..], node, ctx.config.max_value_bytes),
        "ABORT" => abort(&a[1..], node),
        "GET" => get(&a[1..], node),
        _ => Err(Reply::err(format!(
            "ERR unknown subcommand '{}' for 'idemp'",
            args::show(sub)
        ))),
    };
    r.into()
}

fn tagged(tag: &str, v: Reply) -> Reply {
    Reply::Array(vec![Reply::text(tag), v])
}

fn begin(a: &[Bytes], node: Arc<Node>) -> Result<Dispatched, Reply> {
    if a.len() != 3 && a.len() != 5 {
        return Err(arity("idemp|begin"));
    }
    let key = args::name(&a[0], "key")?;
    let fingerprint = args::name(&a[1], "fingerprint")?;
    let ttl_ms = args::positive_ms(&a[2], "ttl")?;
    let lease_ms = if a.len() == 5 {
        if args::keyword(&a[3]) != "LEASE" {
            return Err(args::syntax());
        }
        args::positive_ms(&a[4], "lease")?
    } else {
        DEFAULT_IDEMP_LEASE_MS
    };
    Ok(Dispatched::later(async move {
        match node
            .write(Op::IdempBegin {
                key: key.clone(),
                fingerprint,
                ttl_ms,
                lease_ms,
            })
            .await
        {
            Err(e) => node_error(e, &key),
            Ok(Response::IdempStarted { token }) => tagged("started", Reply::Int(token as i64)),
            Ok(Response::IdempPending { retry_after_ms }) => tagged("pending", Reply::Int(retry_after_ms as i64)),
            Ok(Response::IdempDone { response }) => tagged("done", Reply::Bulk(response)),
            Ok(other) => error_response(other, &key),
        }
    }))
}

fn complete(a: &[Bytes], node: Arc<Node>, max_value: usize) -> Result<Dispatched, Reply> {
    if a.len() != 3 {
        return Err(arity("idemp|complete"));
    }
    let key = args::name(&a[0], "key")?;
    let token = args::token(&a[1])?;
    let response = args::value(&a[2], max_value)?;
    Ok(Dispatched::later(async move {
        ok_write(
            &node,
            Op::IdempComplete {
                key: key.clone(),
                token,
                response,
            },
            &key,
        )
        .await
    }))
}

fn abort(a: &[Bytes], node: Arc<Node>) -> Result<Dispatched, Reply> {
    if a.len() != 2 {
        return Err(arity("idemp|abort"));
    }
    let key = args::name(&a[0], "key")?;
    let token = args::token(&a[1])?;
    Ok(Dispatched::later(async move {
        ok_write(
            &node,
            Op::IdempAbort {
                key: key.clone(),
                token,
            },
            &key,
        )
        .await
    }))
}

async fn ok_write(node: &Node, op: Op, key: &[u8]) -> Reply {
    match node.write(op).await {
        Err(e) => node_error(e, key),
        Ok(Response::Ok) => Reply::ok(),
        Ok(other) => error_response(other, key),
    }
}

fn get(a: &[Bytes], node: Arc<Node>) -> Result<Dispatched, Reply> {
    if a.len() != 1 {
        return Err(arity("idemp|get"));
    }
    let key = args::name(&a[0], "key")?;
    Ok(Dispatched::later(async move {
        match node.read(ReadQuery::IdempGet { key: key.clone() }).await {
            Err(e) => node_error(e, &key),
            Ok(ReadAnswer::IdempGet(Err(_))) => wrongtype(),
            Ok(ReadAnswer::IdempGet(Ok(None))) => Reply::Nil,
            Ok(ReadAnswer::IdempGet(Ok(Some(IdempView::Pending { retry_after_ms })))) => {
                tagged("pending", Reply::Int(retry_after_ms as i64))
            }
            Ok(ReadAnswer::IdempGet(Ok(Some(IdempView::Done { response })))) => tagged("done", Reply::Bulk(response)),
            Ok(other) => mismatched(other),
        }
    }))
}
