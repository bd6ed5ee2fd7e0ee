//! ```text
//! RWLOCK READ    <name> <owner> <ttl-ms> [WAIT ms]  -> token | nil (shared)
//! RWLOCK WRITE   <name> <owner> <ttl-ms> [WAIT ms]  -> token | nil (exclusive)
//! RWLOCK RELEASE <name> <owner> <token>             -> :1 | :0
//! RWLOCK EXTEND  <name> <owner> <token> <ttl-ms>    -> :1 | :0
//! RWLOCK INFO    <name>   -> nil | {mode, holders, token (the writer's), waiters}
//! ```
//! A WAIT is served as LOCK's is: the caller joins the replicated FIFO queue and its
//! node answers when the grant is applied (or proposes a cancel if it goes away).

use bytes::Bytes;

use super::args::{self, arity};
use super::{Command, Limits, Shape};
use crate::query::ReadQuery;
use crate::reply::Reply;
use crate::sm::Op;

pub fn parse(a: &[Bytes], _: &Limits) -> Result<Command, Reply> {
    let Some(sub) = a.first() else {
        return Err(arity("rwlock"));
    };
    let a = &a[1..];
    let write = |op| Ok(Command::Write(op, Shape::Plain));
    match args::keyword(sub).as_str() {
        mode @ ("READ" | "WRITE") => {
            if a.len() != 3 && a.len() != 5 {
                return Err(arity(if mode == "READ" { "rwlock|read" } else { "rwlock|write" }));
            }
            let wait_ms = match &a[3..] {
                [] => None,
                [opt, v] if args::keyword(opt) == "WAIT" => Some(args::ms(v, "WAIT")?),
                _ => return Err(args::syntax()),
            };
            write(Op::RwAcquire {
                name: args::name(&a[0], "lock name")?,
                owner: args::name(&a[1], "owner")?,
                write: mode == "WRITE",
                ttl_ms: args::positive_ms(&a[2], "ttl")?,
                wait_ms,
            })
        }
        "RELEASE" => {
            let l = args::lease_ref(a, "rwlock", "lock name", false)?;
            write(Op::RwRelease {
                name: l.name,
                owner: l.owner,
                token: l.token,
            })
        }
        "EXTEND" => {
            let l = args::lease_ref(a, "rwlock", "lock name", true)?;
            write(Op::RwExtend {
                name: l.name,
                owner: l.owner,
                token: l.token,
                ttl_ms: l.ttl_ms,
            })
        }
        "INFO" => {
            if a.len() != 1 {
                return Err(arity("rwlock|info"));
            }
            Ok(Command::Read(
                ReadQuery::RwLockInfo {
                    name: args::name(&a[0], "lock name")?,
                },
                Shape::Plain,
            ))
        }
        _ => Err(Reply::err(format!(
            "ERR unknown subcommand '{}' for 'rwlock'",
            args::show(sub)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(w: &[&str]) -> Result<Command, Reply> {
        parse(&args::words(w), &Limits { max_value_bytes: 16 })
    }

    #[test]
    fn modes_wait_and_bad_input() {
        assert!(matches!(
            p(&["write", "l", "o", "1000", "WAIT", "50"]),
            Ok(Command::Write(
                Op::RwAcquire {
                    write: true,
                    wait_ms: Some(50),
                    ..
                },
                _
            ))
        ));
        assert!(matches!(
            p(&["READ", "l", "o", "1000"]),
            Ok(Command::Write(
                Op::RwAcquire {
                    write: false,
                    wait_ms: None,
                    ..
                },
                _
            ))
        ));
        assert!(p(&["read", "l", "o", "0"]).is_err());
        assert!(p(&["read", "l", "o", "1000", "WAIT"]).is_err());
        assert!(p(&["read", "l", "o", "1000", "NOWAIT", "5"]).is_err());
        assert!(p(&["read", "l", "o", "x"]).is_err());
        assert!(p(&["release", "l", "o", "-1"]).is_err());
        assert!(p(&["upgrade", "l"]).is_err());
        assert!(matches!(
            p(&["info", "l"]),
            Ok(Command::Read(ReadQuery::RwLockInfo { .. }, _))
        ));
    }
}
