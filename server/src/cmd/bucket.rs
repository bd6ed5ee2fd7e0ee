//! ```text
//! TOKENBUCKET <key> <capacity> <refill-tokens> <refill-period-ms> [COST <n>]
//!   -> [limited, capacity, remaining, retry-after-ms, reset-after-ms]
//! CL.THROTTLE <key> <max_burst> <count per period> <period s> [<quantity>]
//!   -> [limited, limit, remaining, retry-after-s, reset-after-s]   (redis-cell)
//! ```
//! COST 0 (quantity 0) peeks: it is served as a linearizable read, not a log entry.
//! CL.THROTTLE is the same engine: capacity = max_burst + 1, `count` tokens per
//! `period` seconds.

use bytes::Bytes;

use super::args::{self, arity};
use super::{Command, Limits, Shape};
use crate::query::ReadQuery;
use crate::reply::Reply;
use crate::sm::{BucketParams, Op};

/// Keeps fixed-point level arithmetic in the state machine far from overflow.
const MAX_TOKENS: u64 = 1 << 40;

pub fn parse(a: &[Bytes], _: &Limits) -> Result<Command, Reply> {
    if a.len() != 4 && a.len() != 6 {
        return Err(arity("tokenbucket"));
    }
    let key = args::name(&a[0], "key")?;
    let capacity = args::uint(&a[1])?;
    let refill_tokens = args::uint(&a[2])?;
    let refill_period_ms = args::positive_ms(&a[3], "refill period")?;
    let cost = if a.len() == 6 {
        if args::keyword(&a[4]) != "COST" {
            return Err(args::syntax());
        }
        args::uint(&a[5])?
    } else {
        1
    };
    let params = BucketParams {
        capacity,
        refill_tokens,
        refill_period_ms,
    };
    command(key, params, cost, Shape::Plain)
}

/// CL.THROTTLE, redis-cell's syntax on the same engine.
pub fn parse_throttle(a: &[Bytes], _: &Limits) -> Result<Command, Reply> {
    if a.len() != 4 && a.len() != 5 {
        return Err(arity("cl.throttle"));
    }
    let key = args::name(&a[0], "key")?;
    let burst = args::uint(&a[1])?;
    let count = args::uint(&a[2])?;
    let period_s = args::uint(&a[3])?;
    let quantity = match a.get(4) {
        Some(q) => args::uint(q)?,
        None => 1,
    };
    let period_ms = period_s
        .checked_mul(1000)
        .filter(|ms| (1..=args::MAX_DURATION_MS).contains(ms))
        .ok_or_else(|| Reply::err("ERR invalid period: must be 1 s or more"))?;
    let params = BucketParams {
        capacity: burst.saturating_add(1),
        refill_tokens: count,
        refill_period_ms: period_ms,
    };
    command(key, params, quantity, Shape::Throttle)
}

fn command(key: Bytes, params: BucketParams, cost: u64, shape: Shape) -> Result<Command, Reply> {
    if params.capacity == 0 || params.refill_tokens == 0 {
        return Err(Reply::err("ERR capacity and refill-tokens must be positive"));
    }
    if params.capacity > MAX_TOKENS || params.refill_tokens > MAX_TOKENS {
        return Err(Reply::err("ERR capacity and refill-tokens must be at most 2^40"));
    }
    if cost > params.capacity {
        return Err(Reply::err("ERR COST exceeds capacity"));
    }
    if cost == 0 {
        return Ok(Command::Read(ReadQuery::BucketPeek { key, params }, shape));
    }
    Ok(Command::Write(Op::Bucket { key, params, cost }, shape))
}
