//! ```text
//! FENCE ADVANCE <resource> <token> [LOCK <name>]      -> :<token> | -STALE
//! FENCE SET     <key> <token> <value> [LOCK <name>]   -> +OK | -STALE
//! FENCE GET     <key>                                 -> nil | [highest-token, value-or-nil]
//! ```

use std::sync::Arc;

use bytes::Bytes;

use super::args::{self, arity};
use super::{error_response, mismatched, node_error, wrongtype, Dispatched};
use crate::node::Node;
use crate::query::{ReadAnswer, ReadQuery};
use crate::reply::Reply;
use crate::server::ServerCtx;
use crate::sm::{Op, Response};

pub fn dispatch(a: &[Bytes], ctx: &Arc<ServerCtx>) -> Dispatched {
    let Some(sub) = a.first() else {
        return Dispatched::Now(arity("fence"));
    };
    let node = ctx.node.clone();
    let r = match args::keyword(sub).as_str() {
        "ADVANCE" => advance(&a[1..], node),
        "SET" => set(&a[1..], node, ctx.config.max_value_bytes),
        "GET" => get(&a[1..], node),
        _ => Err(Reply::err(format!(
            "ERR unknown subcommand '{}' for 'fence'",
            args::show(sub)
        ))),
    };
    r.into()
}

/// The optional trailing `LOCK <name>`.
fn lock_option(rest: &[Bytes]) -> Result<Option<Bytes>, Reply> {
    match rest {
        [] => Ok(None),
        [kw, name] if args::keyword(kw) == "LOCK" => Ok(Some(args::name(name, "lock name")?)),
        _ => Err(args::syntax()),
    }
}

fn advance(a: &[Bytes], node: Arc<Node>) -> Result<Dispatched, Reply> {
    if a.len() != 2 && a.len() != 4 {
        return Err(arity("fence|advance"));
    }
    let resource = args::name(&a[0], "resource")?;
    let token = args::token(&a[1])?;
    let lock = lock_option(&a[2..])?;
    Ok(Dispatched::later(async move {
        match node
            .write(Op::FenceAdvance {
                resource: resource.clone(),
                token,
                lock,
            })
            .await
        {
            Err(e) => node_error(e, &resource),
            Ok(Response::FenceAccepted { token }) => Reply::Int(token as i64),
            Ok(other) => error_response(other, &resource),
        }
    }))
}

fn set(a: &[Bytes], node: Arc<Node>, max_value: usize) -> Result<Dispatched, Reply> {
    if a.len() != 3 && a.len() != 5 {
        return Err(arity("fence|set"));
    }
    let key = args::name(&a[0], "key")?;
    let token = args::token(&a[1])?;
    let value = args::value(&a[2], max_value)?;
    let lock = lock_option(&a[3..])?;
    Ok(Dispatched::later(async move {
        match node
            .write(Op::FenceSet {
                key: key.clone(),
                token,
                value,
                lock,
            })
            .await
        {
            Err(e) => node_error(e, &key),
            Ok(Response::Ok) => Reply::ok(),
            Ok(other) => error_response(other, &key),
        }
    }))
}

fn get(a: &[Bytes], node: Arc<Node>) -> Result<Dispatched, Reply> {
    if a.len() != 1 {
        return Err(arity("fence|get"));
    }
    let key = args::name(&a[0], "key")?;
    Ok(Dispatched::later(async move {
        match node.read(ReadQuery::FenceGet { key: key.clone() }).await {
            Err(e) => node_error(e, &key),
            Ok(ReadAnswer::FenceGet(Err(_))) => wrongtype(),
            Ok(ReadAnswer::FenceGet(Ok(None))) => Reply::Nil,
            Ok(ReadAnswer::FenceGet(Ok(Some((highest, value))))) => Reply::Array(vec![
                Reply::Int(highest as i64),
                value.map(Reply::Bulk).unwrap_or(Reply::Nil),
            ]),
            Ok(other) => mismatched(other),
        }
    }))
}
