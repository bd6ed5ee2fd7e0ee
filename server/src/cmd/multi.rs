//! ```text
//! MULTI | EXEC | DISCARD | WATCH key [key ...] | UNWATCH
//! ```
//! A transaction's queued data commands travel as one log entry (`Op::Multi`) and are
//! applied together. WATCH reads each key's fingerprint after ReadIndex; EXEC carries
//! them and the state machine applies nothing (nil reply) if any changed. fencepost's own
//! commands (LOCK, FENCE...) are not queued: each is already one atomic entry.

use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt;

use super::outcome::node_error;
use super::table::Entry;
use super::{Command, Dispatched, Limits, Shape};
use crate::context::ServerCtx;
use crate::query::{ReadAnswer, ReadQuery};
use crate::reply::Reply;
use crate::session::{ConnState, TxState, WatchRead};
use crate::sm::data::parse;
use crate::sm::Op;

/// A transaction command.
#[derive(Debug)]
pub enum TxCmd {
    Multi,
    Exec,
    Discard,
    Watch(Vec<Bytes>),
    Unwatch,
}

/// Queues a request inside MULTI. As in Redis, an unknown command or a wrong
/// argument count is refused now (and EXEC will refuse the transaction); other
/// argument errors are answered in EXEC's reply, in the command's place.
pub fn queue(tx: &mut TxState, args: &[Bytes], limits: &Limits) -> Reply {
    let queued = match super::table::lookup(&args[0]) {
        Some(Entry::Data(spec)) if !parse::arity_ok(spec.arity, args.len()) => {
            tx.dirty = true;
            return Reply::Error(parse::arity_err(spec.name));
        }
        Some(Entry::Data(spec)) => match super::data::parse(spec, &args[1..], limits) {
            Ok(Command::Write(Op::Data(c), _)) | Ok(Command::Read(ReadQuery::Data(c), _)) => Ok(c),
            Ok(_) => Err("ERR internal: a data command parsed as another kind".to_string()),
            Err(Reply::Error(e)) => Err(e),
            Err(other) => Err(format!("ERR {other:?}")),
        },
        Some(Entry::Native(_)) => {
            tx.dirty = true;
            return Reply::err("ERR command not allowed inside MULTI: only Redis data commands are queued");
        }
        None => {
            tx.dirty = true;
            return super::unknown_command(&args[0], &args[1..]);
        }
    };
    if let Some(q) = &mut tx.queued {
        q.push(queued);
    }
    Reply::Status("QUEUED".into())
}

/// Commands that act on the transaction itself rather than being queued.
pub fn runs_inside_multi(upper_name: &str) -> bool {
    matches!(
        upper_name,
        "EXEC" | "DISCARD" | "MULTI" | "WATCH" | "QUIT" | "RESET" | "UNWATCH"
    )
}

fn no_args(a: &[Bytes], name: &str, c: TxCmd) -> Result<Command, Reply> {
    if a.is_empty() {
        Ok(Command::Tx(c))
    } else {
        Err(super::args::arity(name))
    }
}

pub fn parse_multi(a: &[Bytes], _: &Limits) -> Result<Command, Reply> {
    no_args(a, "multi", TxCmd::Multi)
}
pub fn parse_exec(a: &[Bytes], _: &Limits) -> Result<Command, Reply> {
    no_args(a, "exec", TxCmd::Exec)
}
pub fn parse_discard(a: &[Bytes], _: &Limits) -> Result<Command, Reply> {
    no_args(a, "discard", TxCmd::Discard)
}
pub fn parse_unwatch(a: &[Bytes], _: &Limits) -> Result<Command, Reply> {
    no_args(a, "unwatch", TxCmd::Unwatch)
}
pub fn parse_watch(a: &[Bytes], _: &Limits) -> Result<Command, Reply> {
    if a.is_empty() {
        return Err(super::args::arity("watch"));
    }
    Ok(Command::Tx(TxCmd::Watch(a.to_vec())))
}

pub fn execute(c: TxCmd, conn: &mut ConnState, ctx: &Arc<ServerCtx>) -> Dispatched {
    let tx = &mut conn.tx;
    match c {
        TxCmd::Multi if tx.queuing() => Dispatched::Now(Reply::err("ERR MULTI calls can not be nested")),
        TxCmd::Multi => {
            tx.queued = Some(Vec::new());
            tx.dirty = false;
            Dispatched::Now(Reply::ok())
        }
        TxCmd::Discard if !tx.queuing() => Dispatched::Now(Reply::err("ERR DISCARD without MULTI")),
        TxCmd::Discard | TxCmd::Unwatch => {
            if matches!(c, TxCmd::Discard) {
                *tx = TxState::default();
            } else {
                tx.watches.clear();
            }
            Dispatched::Now(Reply::ok())
        }
        TxCmd::Watch(_) if tx.queuing() => Dispatched::Now(Reply::err("ERR WATCH inside MULTI is not allowed")),
        TxCmd::Watch(keys) => {
            let node = ctx.node.clone();
            let read: WatchRead = async move {
                let first = keys.first().cloned().unwrap_or_default();
                match node.read(ReadQuery::Watch(keys.clone())).await {
                    Ok(ReadAnswer::Watch(fps)) => Ok(keys.into_iter().zip(fps).collect()),
                    Ok(other) => Err(Reply::err(format!("ERR internal: WATCH answered {other:?}"))),
                    Err(e) => Err(node_error(e, &first)),
                }
            }
            .boxed()
            .shared();
            tx.watches.push(read.clone());
            Dispatched::later(async move {
                match read.await {
                    Ok(_) => Reply::ok(),
                    Err(e) => e,
                }
            })
        }
        TxCmd::Exec if !tx.queuing() => Dispatched::Now(Reply::err("ERR EXEC without MULTI")),
        TxCmd::Exec => {
            let state = std::mem::take(tx);
            if state.dirty {
                return Dispatched::Now(Reply::err(
                    "EXECABORT Transaction discarded because of previous errors.",
                ));
            }
            let cmds = state.queued.unwrap_or_default();
            let node = ctx.node.clone();
            Dispatched::later(async move {
                let mut watched = Vec::new();
                for w in state.watches {
                    match w.await {
                        Ok(fps) => watched.extend(fps),
                        // The watch could not be read: the transaction cannot be checked.
                        Err(e) => return e,
                    }
                }
                super::outcome::write(node, Op::Multi { watched, cmds }, Shape::Plain).await
            })
        }
    }
}
