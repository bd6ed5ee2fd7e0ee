//! ```text
//! SEMAPHORE ACQUIRE <name> <holder> <limit> <ttl-ms> [COUNT n] [WAIT ms] -> token | nil
//! SEMAPHORE RELEASE <name> <holder> <token>             -> :1 | :0
//! SEMAPHORE EXTEND  <name> <holder> <token> <ttl-ms>    -> :1 | :0
//! SEMAPHORE INFO    <name>    -> nil | {limit, used, holders, waiters}
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
        return Err(arity("semaphore"));
    };
    let a = &a[1..];
    let write = |op| Ok(Command::Write(op, Shape::Plain));
    match args::keyword(sub).as_str() {
        "ACQUIRE" => {
            if a.len() < 4 {
                return Err(arity("semaphore|acquire"));
            }
            let name = args::name(&a[0], "semaphore name")?;
            let holder = args::name(&a[1], "holder")?;
            let limit = args::uint(&a[2])?;
            let ttl_ms = args::positive_ms(&a[3], "ttl")?;
            let (mut count, mut wait_ms) = (1, None);
            let mut opts = &a[4..];
            while let Some(opt) = opts.first() {
                let value = opts.get(1).ok_or_else(args::syntax)?;
                match args::keyword(opt).as_str() {
                    "COUNT" => count = args::uint(value)?,
                    "WAIT" => wait_ms = Some(args::ms(value, "WAIT")?),
                    _ => return Err(args::syntax()),
                }
                opts = &opts[2..];
            }
            if limit == 0 || count == 0 {
                return Err(Reply::err("ERR limit and COUNT must be positive"));
            }
            if count > limit {
                return Err(Reply::err("ERR COUNT is larger than the semaphore's limit"));
            }
            write(Op::SemAcquire {
                name,
                holder,
                limit,
                ttl_ms,
                count,
                wait_ms,
            })
        }
        "RELEASE" => {
            let l = args::lease_ref(a, "semaphore", "semaphore name", false)?;
            write(Op::SemRelease {
                name: l.name,
                holder: l.owner,
                token: l.token,
            })
        }
        "EXTEND" => {
            let l = args::lease_ref(a, "semaphore", "semaphore name", true)?;
            write(Op::SemExtend {
                name: l.name,
                holder: l.owner,
                token: l.token,
                ttl_ms: l.ttl_ms,
            })
        }
        "INFO" => {
            if a.len() != 1 {
                return Err(arity("semaphore|info"));
            }
            Ok(Command::Read(
                ReadQuery::SemaphoreInfo {
                    name: args::name(&a[0], "semaphore name")?,
                },
                Shape::Plain,
            ))
        }
        _ => Err(Reply::err(format!(
            "ERR unknown subcommand '{}' for 'semaphore'",
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
    fn options_in_any_order_and_bad_counts_refused() {
        let ok = p(&["acquire", "s", "h", "3", "1000", "WAIT", "50", "COUNT", "2"]);
        assert!(matches!(
            ok,
            Ok(Command::Write(
                Op::SemAcquire {
                    count: 2,
                    wait_ms: Some(50),
                    limit: 3,
                    ..
                },
                _
            ))
        ));
        let big = p(&["acquire", "s", "h", "3", "1000", "COUNT", "4"]);
        assert!(matches!(big, Err(Reply::Error(e)) if e == "ERR COUNT is larger than the semaphore's limit"));
        assert!(p(&["acquire", "s", "h", "0", "1000"]).is_err());
        assert!(p(&["acquire", "s", "h", "3", "1000", "COUNT"]).is_err());
        assert!(p(&["acquire", "s", "h", "3"]).is_err());
        assert!(matches!(
            p(&["info", "s"]),
            Ok(Command::Read(ReadQuery::SemaphoreInfo { .. }, _))
        ));
    }
}
