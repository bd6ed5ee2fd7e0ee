//! Redis data commands (strings, hashes, lists, sorted sets, keys, scripts): the
//! state machine's table parses them (`sm::data::parse`, shared with scripts); here they
//! become a log entry (writes, EVAL) or a ReadIndex read (reads, EVAL_RO), after the
//! checks the SPEC puts on every request: keys are 1..=1024 bytes, values at most
//! --max-value-bytes. Syntax and replies: docs/commands.md.

use bytes::Bytes;

use super::args::{arity, MAX_NAME_BYTES};
use super::{Command, Limits, Shape};
use crate::query::ReadQuery;
use crate::reply::Reply;
use crate::sm::data::cmd::DataCmd;
use crate::sm::data::parse::{self, DataSpec};
use crate::sm::Op;

pub fn parse(spec: &DataSpec, a: &[Bytes], limits: &Limits) -> Result<Command, Reply> {
    let cmd = parse::parse(spec, a).map_err(Reply::Error)?;
    check_sizes(&cmd, a, limits)?;
    Ok(into_command(cmd))
}

/// A parsed data command as a write or a read.
pub fn into_command(cmd: DataCmd) -> Command {
    if cmd.is_write() {
        Command::Write(Op::Data(cmd), Shape::Plain)
    } else {
        Command::Read(ReadQuery::Data(cmd), Shape::Plain)
    }
}

fn key_ok(k: &[u8]) -> Result<(), Reply> {
    if k.is_empty() || k.len() > MAX_NAME_BYTES {
        return Err(Reply::err("ERR key must be 1..=1024 bytes"));
    }
    Ok(())
}

/// Keys within the name limit; for writes, every other argument within the value cap
/// (a read's arguments are never stored).
fn check_sizes(cmd: &DataCmd, a: &[Bytes], limits: &Limits) -> Result<(), Reply> {
    match cmd {
        DataCmd::Eval { keys, .. } => keys.iter().try_for_each(|k| key_ok(k))?,
        DataCmd::Del(ks) | DataCmd::Exists(ks) | DataCmd::MGet(ks) => ks.iter().try_for_each(|k| key_ok(k))?,
        DataCmd::MSet(pairs) => pairs.iter().try_for_each(|(k, _)| key_ok(k))?,
        DataCmd::Rename { src, dst, .. } => {
            key_ok(src)?;
            key_ok(dst)?;
        }
        DataCmd::Keys(_) | DataCmd::Scan { .. } | DataCmd::Time => {}
        DataCmd::ScriptLoad(_) | DataCmd::ScriptExists(_) | DataCmd::ScriptFlush => {}
        other => key_ok(other.first_key())?,
    }
    if cmd.is_write() {
        if let Some(big) = a.iter().find(|v| v.len() > limits.max_value_bytes) {
            return Err(Reply::err(format!(
                "ERR value is {} bytes; the limit is {} (--max-value-bytes)",
                big.len(),
                limits.max_value_bytes
            )));
        }
    }
    Ok(())
}

pub fn parse_dbsize(a: &[Bytes], _: &Limits) -> Result<Command, Reply> {
    if !a.is_empty() {
        return Err(arity("dbsize"));
    }
    Ok(Command::Read(ReadQuery::DbSize, Shape::Plain))
}
