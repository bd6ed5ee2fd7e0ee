//! ```text
//! TOKENBUCKET <key> <capacity> <refill-tokens> <refill-period-ms> [COST <n>]
//!   -> [limited, capacity, remaining, retry-after-ms, reset-after-ms]
//! ```
//! COST 0 peeks: it is served as a linearizable read, not a log entry.

use std::sync::Arc;

use bytes::Bytes;

use super::args::{self, arity};
use super::{error_response, mismatched, node_error, wrongtype, Dispatched};
use crate::query::{ReadAnswer, ReadQuery};
use crate::reply::Reply;
use crate::server::ServerCtx;
use crate::sm::{BucketParams, BucketReply, Op, Response};

pub fn dispatch(a: &[Bytes], ctx: &Arc<ServerCtx>) -> Dispatched {
    parse(a)
        .map(|(key, params, cost)| {
            let node = ctx.node.clone();
            Dispatched::later(async move {
                if cost == 0 {
                    return match node
                        .read(ReadQuery::BucketPeek {
                            key: key.clone(),
                            params,
                        })
                        .await
                    {
                        Err(e) => node_error(e, &key),
                        Ok(ReadAnswer::BucketPeek(Err(_))) => wrongtype(),
                        Ok(ReadAnswer::BucketPeek(Ok(r))) => reply(r),
                        Ok(other) => mismatched(other),
                    };
                }
                match node
                    .write(Op::Bucket {
                        key: key.clone(),
                        params,
                        cost,
                    })
                    .await
                {
                    Err(e) => node_error(e, &key),
                    Ok(Response::Bucket(r)) => reply(r),
                    Ok(other) => error_response(other, &key),
                }
            })
        })
        .into()
}

fn parse(a: &[Bytes]) -> Result<(Bytes, BucketParams, u64), Reply> {
    if a.len() != 4 && a.len() != 6 {
        return Err(arity("tokenbucket"));
    }
    let key = args::name(&a[0], "key")?;
    let capacity = args::uint(&a[1])?;
    let refill_tokens = args::uint(&a[2])?;
    let refill_period_ms = args::positive_ms(&a[3], "refill period")?;
    if capacity == 0 || refill_tokens == 0 {
        return Err(Reply::err("ERR capacity and refill-tokens must be positive"));
    }
    // Keeps fixed-point level arithmetic in the state machine far from overflow.
    if capacity > 1 << 40 || refill_tokens > 1 << 40 {
        return Err(Reply::err("ERR capacity and refill-tokens must be at most 2^40"));
    }
    let cost = if a.len() == 6 {
        if args::keyword(&a[4]) != "COST" {
            return Err(args::syntax());
        }
        args::uint(&a[5])?
    } else {
        1
    };
    if cost > capacity {
        return Err(Reply::err("ERR COST exceeds capacity"));
    }
    Ok((
        key,
        BucketParams {
            capacity,
            refill_tokens,
            refill_period_ms,
        },
        cost,
    ))
}

fn reply(r: BucketReply) -> Reply {
    Reply::Array(vec![
        Reply::Int(r.limited as i64),
        Reply::Int(r.capacity as i64),
        Reply::Int(r.remaining as i64),
        Reply::Int(r.retry_after_ms),
        Reply::Int(r.reset_after_ms as i64),
    ])
}
