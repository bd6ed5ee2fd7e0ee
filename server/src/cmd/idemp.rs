//! ```text
//! IDEMP BEGIN    <key> <fingerprint> <ttl-ms> [LEASE <ms>]
//!   -> ["started", token] | ["pending", retry-after-ms] | ["done", response] | -MISMATCH
//! IDEMP COMPLETE <key> <token> <response>   -> +OK | -STALE
//! IDEMP ABORT    <key> <token>              -> +OK | -STALE
//! IDEMP GET      <key>                      -> nil | ["pending", ms] | ["done", response]
//! ```

use bytes::Bytes;

use super::args::{self, arity};
use super::{Command, Limits, Shape};
use crate::query::ReadQuery;
use crate::reply::Reply;
use crate::sm::{Op, DEFAULT_IDEMP_LEASE_MS};

pub fn parse(a: &[Bytes], limits: &Limits) -> Result<Command, Reply> {
    let Some(sub) = a.first() else {
        return Err(arity("idemp"));
    };
    let a = &a[1..];
    let write = |op| Ok(Command::Write(op, Shape::Plain));
    match args::keyword(sub).as_str() {
        "BEGIN" => {
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
            write(Op::IdempBegin {
                key,
                fingerprint,
                ttl_ms,
                lease_ms,
            })
        }
        "COMPLETE" => {
            if a.len() != 3 {
                return Err(arity("idemp|complete"));
            }
            write(Op::IdempComplete {
                key: args::name(&a[0], "key")?,
                token: args::token(&a[1])?,
                response: args::value(&a[2], limits.max_value_bytes)?,
            })
        }
        "ABORT" => {
            if a.len() != 2 {
                return Err(arity("idemp|abort"));
            }
            write(Op::IdempAbort {
                key: args::name(&a[0], "key")?,
                token: args::token(&a[1])?,
            })
        }
        "GET" => {
            if a.len() != 1 {
                return Err(arity("idemp|get"));
            }
            let key = args::name(&a[0], "key")?;
            Ok(Command::Read(ReadQuery::IdempGet { key }, Shape::Plain))
        }
        _ => Err(Reply::err(format!(
            "ERR unknown subcommand '{}' for 'idemp'",
            args::show(sub)
        ))),
    }
}
