//! ```text
//! RATELIMIT SLIDING <key> <limit> <window-ms> [COST n]
//!   -> [limited, limit, remaining, retry-after-ms, reset-after-ms]
//! ```
//! An exact sliding window over the cluster clock (sm/window.rs). COST 0 peeks: it is
//! served as a linearizable read, not a log entry.

use bytes::Bytes;

use super::args::{self, arity};
use super::{Command, Limits, Shape};
use crate::query::ReadQuery;
use crate::reply::Reply;
use crate::sm::window::{SlidingParams, MAX_LIMIT};
use crate::sm::Op;

pub fn parse(a: &[Bytes], _: &Limits) -> Result<Command, Reply> {
    let Some(sub) = a.first() else {
        return Err(arity("ratelimit"));
    };
    if args::keyword(sub) != "SLIDING" {
        return Err(Reply::err(format!(
            "ERR unknown subcommand '{}' for 'ratelimit'",
            args::show(sub)
        )));
    }
    let a = &a[1..];
    if a.len() != 3 && a.len() != 5 {
        return Err(arity("ratelimit|sliding"));
    }
    let key = args::name(&a[0], "key")?;
    let limit = args::uint(&a[1])?;
    let window_ms = args::positive_ms(&a[2], "window")?;
    let cost = if a.len() == 5 {
        if args::keyword(&a[3]) != "COST" {
            return Err(args::syntax());
        }
        args::uint(&a[4])?
    } else {
        1
    };
    if limit == 0 || limit > MAX_LIMIT {
        return Err(Reply::err(format!("ERR limit must be 1..={MAX_LIMIT}")));
    }
    if cost > limit {
        return Err(Reply::err("ERR COST is larger than the limit"));
    }
    let params = SlidingParams { limit, window_ms };
    Ok(if cost == 0 {
        Command::Read(ReadQuery::SlidingPeek { key, params }, Shape::Plain)
    } else {
        Command::Write(Op::Sliding { key, params, cost }, Shape::Plain)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(w: &[&str]) -> Result<Command, Reply> {
        parse(&args::words(w), &Limits { max_value_bytes: 16 })
    }

    #[test]
    fn limits_and_costs_are_checked() {
        assert!(matches!(
            p(&["sliding", "k", "10", "1000"]),
            Ok(Command::Write(Op::Sliding { cost: 1, .. }, _))
        ));
        assert!(matches!(
            p(&["SLIDING", "k", "10", "1000", "COST", "0"]),
            Ok(Command::Read(..))
        ));
        assert!(p(&["sliding", "k", "100001", "1000"]).is_err());
        assert!(p(&["sliding", "k", "100000", "1000"]).is_ok());
        assert!(p(&["sliding", "k", "10", "1000", "COST", "11"]).is_err());
        assert!(p(&["sliding", "k", "10", "0"]).is_err());
        assert!(p(&["fixed", "k", "10", "1000"]).is_err());
    }
}
