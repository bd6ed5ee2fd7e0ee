//! ```text
//! FENCE ADVANCE <resource> <token> [LOCK <name>]      -> :<token> | -STALE
//! FENCE SET     <key> <token> <value> [LOCK <name>]   -> +OK | -STALE
//! FENCE GET     <key>                                 -> nil | [highest-token, value-or-nil]
//! ```

use bytes::Bytes;

use super::args::{self, arity};
use super::{Command, Limits, Shape};
use crate::query::ReadQuery;
use crate::reply::Reply;
use crate::sm::Op;

pub fn parse(a: &[Bytes], limits: &Limits) -> Result<Command, Reply> {
    let Some(sub) = a.first() else {
        return Err(arity("fence"));
    };
    let a = &a[1..];
    match args::keyword(sub).as_str() {
        "ADVANCE" => {
            if a.len() != 2 && a.len() != 4 {
                return Err(arity("fence|advance"));
            }
            let op = Op::FenceAdvance {
                resource: args::name(&a[0], "resource")?,
                token: args::token(&a[1])?,
                lock: lock_option(&a[2..])?,
            };
            Ok(Command::Write(op, Shape::Plain))
        }
        "SET" => {
            if a.len() != 3 && a.len() != 5 {
                return Err(arity("fence|set"));
            }
            let op = Op::FenceSet {
                key: args::name(&a[0], "key")?,
                token: args::token(&a[1])?,
                value: args::value(&a[2], limits.max_value_bytes)?,
                lock: lock_option(&a[3..])?,
            };
            Ok(Command::Write(op, Shape::Plain))
        }
        "GET" => {
            if a.len() != 1 {
                return Err(arity("fence|get"));
            }
            let key = args::name(&a[0], "key")?;
            Ok(Command::Read(ReadQuery::FenceGet { key }, Shape::Plain))
        }
        _ => Err(Reply::err(format!(
            "ERR unknown subcommand '{}' for 'fence'",
            args::show(sub)
        ))),
    }
}

/// The optional trailing `LOCK <name>`.
fn lock_option(rest: &[Bytes]) -> Result<Option<Bytes>, Reply> {
    match rest {
        [] => Ok(None),
        [kw, name] if args::keyword(kw) == "LOCK" => Ok(Some(args::name(name, "lock name")?)),
        _ => Err(args::syntax()),
    }
}
