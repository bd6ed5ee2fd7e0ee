//! Commands: a table drives parsing (`table.rs`), every request becomes a typed
//! [`Command`], and one executor runs it: writes through the log (`node.write`), reads
//! after ReadIndex (`node.read`), connection commands against the connection's state.
//! Replies are made from the node's answers in one place (`outcome.rs`). Nothing here
//! touches a socket.

pub mod acl;
mod admin;
mod args;
mod bucket;
mod cluster;
mod conn;
mod data;
mod fence;
#[cfg(test)]
mod fuzz;
mod idemp;
mod introspect;
mod lock;
mod lock_watch;
pub mod multi;
mod ops;
mod outcome;
mod ratelimit;
mod rwlock;
mod semaphore;
pub mod table;

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;

use crate::acl_log::Context;
use crate::context::ServerCtx;
use crate::query::ReadQuery;
use crate::reply::Reply;
use crate::session::ConnState;
use crate::sm::Op;

pub use acl::initial_session;
pub use ops::monitor_line;

/// What dispatch produced: a reply now, one later (Raft), or a last reply before close.
pub enum Dispatched {
    Now(Reply),
    Later(BoxFuture<'static, Reply>),
    Close(Reply),
    /// Close without a reply (SHUTDOWN, as Redis does).
    Hangup,
    /// +OK, then this connection streams every command the node serves (MONITOR).
    Monitor,
}

impl Dispatched {
    fn later(f: impl std::future::Future<Output = Reply> + Send + 'static) -> Dispatched {
        Dispatched::Later(f.boxed())
    }
}

/// How a node's answer becomes a reply when the answer alone does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Plain,
    /// CL.THROTTLE: the bucket's reply in seconds, as redis-cell gives it.
    Throttle,
}

/// A parsed request.
#[derive(Debug)]
pub enum Command {
    /// A mutation: one log entry.
    Write(Op, Shape),
    /// A linearizable read.
    Read(ReadQuery, Shape),
    /// Answered by this node from the connection's state or its own (PING, HELLO,
    /// CLIENT, INFO, COMMAND, CLUSTER...).
    Conn(conn::ConnCmd),
    /// Cluster administration (RAFT ...).
    Raft(admin::RaftCmd),
    /// MULTI / EXEC / DISCARD / WATCH / UNWATCH.
    Tx(multi::TxCmd),
    /// ACL users and permissions.
    Acl(acl::AclCmd),
    /// CONFIG GET, SHUTDOWN, MONITOR.
    Ops(ops::OpsCmd),
    /// LOCK WATCH: a read that waits for the holder to change.
    LockWatch { name: Bytes, token: u64, timeout_ms: u64 },
}

impl Command {
    /// Every name the command touches, for the ACL key patterns.
    pub fn keys(&self) -> Vec<&[u8]> {
        match self {
            Command::Write(op, _) => op.keys(),
            Command::Read(q, _) => q.keys(),
            Command::Tx(multi::TxCmd::Watch(keys)) => keys.iter().map(|k| k.as_ref()).collect(),
            Command::LockWatch { name, .. } => vec![name],
            Command::Conn(_) | Command::Raft(_) | Command::Tx(_) | Command::Acl(_) | Command::Ops(_) => Vec::new(),
        }
    }
}

/// Limits parsing needs from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// --max-value-bytes: largest stored value.
    pub max_value_bytes: usize,
}

/// Commands served before AUTH (SPEC.md "Limits and security").
const PRE_AUTH: [&str; 5] = ["HELLO", "AUTH", "PING", "QUIT", "RESET"];

/// Parses one request: pure, so it is unit-tested without a server.
pub fn parse(args: &[Bytes], limits: &Limits) -> Result<Command, Reply> {
    let Some(first) = args.first() else {
        return Err(Reply::err("ERR empty command"));
    };
    let rest = &args[1..];
    match table::lookup(first) {
        Some(table::Entry::Native(spec)) => (spec.parse)(rest, limits),
        Some(table::Entry::Data(spec)) => data::parse(spec, rest, limits),
        None => Err(unknown_command(first, rest)),
    }
}

pub(crate) fn unknown_command(name: &[u8], rest: &[Bytes]) -> Reply {
    let shown: Vec<String> = rest.iter().take(8).map(|x| format!("'{}'", args::show(x))).collect();
    Reply::err(format!(
        "ERR unknown command '{}', with args beginning with: {}",
        args::show(name),
        shown.join(" ")
    ))
}

/// Routes one request: parse, then execute (or queue, inside MULTI).
pub fn dispatch(args: Vec<Bytes>, conn: &mut ConnState, ctx: &Arc<ServerCtx>) -> Dispatched {
    let Some(first) = args.first() else {
        return Dispatched::Now(Reply::err("ERR empty command"));
    };
    acl::refresh(conn, ctx);
    let name = args::keyword(first);
    if !conn.authed && !PRE_AUTH.contains(&name.as_str()) {
        return Dispatched::Now(Reply::err("NOAUTH Authentication required."));
    }
    let limits = Limits {
        max_value_bytes: ctx.config.max_value_bytes,
    };
    if conn.tx.queuing() && !multi::runs_inside_multi(&name) {
        // A limited user's command is checked before it is queued, as Redis does; a
        // refusal fails the whole transaction.
        if let (Some(_), Some(entry), Ok(cmd)) = (&conn.user.perms, table::lookup(first), parse(&args, &limits)) {
            let refused = if acl::is_script(&cmd) {
                Err(Reply::err(
                    "ERR scripts inside MULTI are not available to users with limited permissions",
                ))
            } else {
                acl::authorize(entry, &args, cmd, conn, ctx, Context::Multi).map(drop)
            };
            if let Err(r) = refused {
                conn.tx.dirty = true;
                return Dispatched::Now(r);
            }
        }
        return Dispatched::Now(multi::queue(&mut conn.tx, &args, &limits));
    }
    let checked = parse(&args, &limits).and_then(|cmd| match table::lookup(first) {
        Some(entry) => acl::authorize(entry, &args, cmd, conn, ctx, Context::TopLevel),
        None => Ok(cmd),
    });
    match checked {
        Ok(cmd) => execute(cmd, conn, ctx),
        Err(reply) => Dispatched::Now(reply),
    }
}

/// Runs a parsed command.
pub fn execute(cmd: Command, conn: &mut ConnState, ctx: &Arc<ServerCtx>) -> Dispatched {
    match cmd {
        Command::Write(op, shape) => {
            let node = ctx.node.clone();
            Dispatched::later(outcome::write(node, op, shape))
        }
        Command::Read(q, shape) => {
            let node = ctx.node.clone();
            Dispatched::later(outcome::read(node, q, shape))
        }
        Command::Conn(c) => conn::execute(c, conn, ctx),
        Command::Raft(c) => admin::execute(c, ctx),
        Command::Tx(c) => multi::execute(c, conn, ctx),
        Command::Acl(c) => acl::execute(c, conn, ctx),
        Command::Ops(c) => ops::execute(c, ctx),
        Command::LockWatch {
            name,
            token,
            timeout_ms,
        } => {
            let node = ctx.node.clone();
            Dispatched::later(lock_watch::run(node, name, token, timeout_ms))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(words: &[&str]) -> Result<Command, Reply> {
        parse(&args::words(words), &Limits { max_value_bytes: 16 })
    }

    fn err(words: &[&str]) -> String {
        match p(words) {
            Err(Reply::Error(e)) => e,
            other => panic!("{words:?} parsed: {other:?}"),
        }
    }

    #[test]
    fn the_table_routes_every_family() {
        assert!(matches!(
            p(&["lock", "acquire", "n", "o", "100"]),
            Ok(Command::Write(Op::LockAcquire { .. }, _))
        ));
        assert!(matches!(
            p(&["LOCK", "INFO", "n"]),
            Ok(Command::Read(ReadQuery::LockInfo { .. }, _))
        ));
        assert!(matches!(
            p(&["fence", "get", "k"]),
            Ok(Command::Read(ReadQuery::FenceGet { .. }, _))
        ));
        assert!(matches!(
            p(&["tokenbucket", "k", "5", "1", "1000", "COST", "0"]),
            Ok(Command::Read(..))
        ));
        assert!(matches!(
            p(&["CL.THROTTLE", "k", "5", "1", "1"]),
            Ok(Command::Write(Op::Bucket { .. }, Shape::Throttle))
        ));
        assert!(matches!(
            p(&["idemp", "begin", "k", "f", "1000"]),
            Ok(Command::Write(Op::IdempBegin { .. }, _))
        ));
        assert!(matches!(p(&["set", "k", "v"]), Ok(Command::Write(Op::Data(_), _))));
        assert!(matches!(p(&["get", "k"]), Ok(Command::Read(ReadQuery::Data(_), _))));
        assert!(matches!(p(&["ping"]), Ok(Command::Conn(_))));
        assert!(matches!(p(&["multi"]), Ok(Command::Tx(_))));
        assert!(matches!(p(&["raft", "info"]), Ok(Command::Raft(_))));
    }

    #[test]
    fn errors_are_redis_texts() {
        assert_eq!(
            err(&["nosuch", "a"]),
            "ERR unknown command 'nosuch', with args beginning with: 'a'"
        );
        assert_eq!(err(&["get"]), "ERR wrong number of arguments for 'get' command");
        assert_eq!(err(&["lock"]), "ERR wrong number of arguments for 'lock' command");
        assert_eq!(
            err(&["lock", "acquire", "n", "o", "x"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(err(&["lock", "nope"]), "ERR unknown subcommand 'nope' for 'lock'");
        // Values are capped by --max-value-bytes, keys by the 1024-byte name limit.
        assert!(err(&["set", "k", "01234567890123456789"]).contains("--max-value-bytes"));
        assert!(err(&["fence", "set", "k", "1", "01234567890123456789"]).contains("--max-value-bytes"));
        let long = "k".repeat(1025);
        assert_eq!(err(&["get", &long]), "ERR key must be 1..=1024 bytes");
    }
}
