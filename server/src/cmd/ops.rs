//! ```text
//! CONFIG GET <glob> [<glob> ...]          -> the effective settings (secrets masked)
//! SHUTDOWN [NOSAVE|SAVE|NOW|FORCE]        -> (the connection closes; SIGTERM's path)
//! MONITOR                                 -> +OK, then every command this node serves
//! ```
//! The operator's Redis habits. Configuration comes from flags, FENCEPOST_* variables
//! and `--config`, read at start; CONFIG SET is refused rather than half-supported.

use bytes::Bytes;

use super::args::{self, arity};
use super::{Command, Dispatched, Limits};
use crate::context::ServerCtx;
use crate::reply::Reply;

/// An operator command, answered by this node.
#[derive(Debug)]
pub enum OpsCmd {
    ConfigGet(Vec<Bytes>),
    Shutdown,
    Monitor,
}

pub fn parse_config(a: &[Bytes], _: &Limits) -> Result<Command, Reply> {
    let Some(sub) = a.first() else {
        return Err(arity("config"));
    };
    match args::keyword(sub).as_str() {
        "GET" if a.len() >= 2 => Ok(Command::Ops(OpsCmd::ConfigGet(a[1..].to_vec()))),
        "GET" => Err(arity("config|get")),
        "SET" | "REWRITE" | "RESETSTAT" => Err(Reply::err(format!(
            "ERR CONFIG {} is not supported: fencepost reads its configuration at start (flags, FENCEPOST_* variables, --config)",
            args::keyword(sub)
        ))),
        _ => Err(Reply::err(format!(
            "ERR unknown subcommand '{}'. Try CONFIG HELP.",
            args::show(sub)
        ))),
    }
}

pub fn parse_shutdown(a: &[Bytes], _: &Limits) -> Result<Command, Reply> {
    for opt in a {
        match args::keyword(opt).as_str() {
            // Every write is already durable on a majority: there is nothing to save,
            // and nothing to skip. The hand-off of leadership always happens.
            "NOSAVE" | "SAVE" | "NOW" | "FORCE" => {}
            "ABORT" => return Err(Reply::err("ERR No shutdown in progress.")),
            _ => return Err(args::syntax()),
        }
    }
    Ok(Command::Ops(OpsCmd::Shutdown))
}

pub fn parse_monitor(a: &[Bytes], _: &Limits) -> Result<Command, Reply> {
    if !a.is_empty() {
        return Err(arity("monitor"));
    }
    Ok(Command::Ops(OpsCmd::Monitor))
}

pub fn execute(c: OpsCmd, ctx: &ServerCtx) -> Dispatched {
    match c {
        OpsCmd::ConfigGet(globs) => {
            let mut pairs: Vec<(String, String)> = Vec::new();
            for g in &globs {
                for kv in ctx.config.settings(&g.to_ascii_lowercase()) {
                    if !pairs.iter().any(|(k, _)| *k == kv.0) {
                        pairs.push(kv);
                    }
                }
            }
            Dispatched::Now(Reply::Map(
                pairs
                    .into_iter()
                    .map(|(k, v)| (Reply::Bulk(k.into()), Reply::Bulk(v.into())))
                    .collect(),
            ))
        }
        OpsCmd::Shutdown => {
            tracing::info!("SHUTDOWN received: shutting down as on SIGTERM");
            ctx.shutdown.notify_one();
            Dispatched::Hangup
        }
        OpsCmd::Monitor => Dispatched::Monitor,
    }
}

/// One MONITOR line, as Redis writes it: `<unix time> [0 <client>] "arg" "arg"...`,
/// each argument quoted with C-style escapes. AUTH and HELLO arguments are not shown.
pub fn monitor_line(addr: &std::net::SocketAddr, args: &[Bytes]) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut line = format!("{}.{:06} [0 {addr}]", now.as_secs(), now.subsec_micros());
    let secret = args
        .first()
        .is_some_and(|n| n.eq_ignore_ascii_case(b"auth") || n.eq_ignore_ascii_case(b"hello"));
    for (i, a) in args.iter().enumerate() {
        line.push(' ');
        if secret && i > 0 {
            line.push_str("\"(redacted)\"");
            continue;
        }
        line.push('"');
        for &b in a.iter() {
            match b {
                b'"' => line.push_str("\\\""),
                b'\\' => line.push_str("\\\\"),
                b'\n' => line.push_str("\\n"),
                b'\r' => line.push_str("\\r"),
                b'\t' => line.push_str("\\t"),
                0x20..=0x7e => line.push(b as char),
                _ => line.push_str(&format!("\\x{b:02x}")),
            }
        }
        line.push('"');
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitor_lines_quote_and_redact() {
        let addr: std::net::SocketAddr = "127.0.0.1:5000".parse().expect("addr");
        let a = |w: &[&[u8]]| w.iter().map(|x| Bytes::copy_from_slice(x)).collect::<Vec<_>>();
        let line = monitor_line(&addr, &a(&[b"SET", b"k\"1", b"a\nb\x01"]));
        assert!(
            line.ends_with(r#" [0 127.0.0.1:5000] "SET" "k\"1" "a\nb\x01""#),
            "{line}"
        );
        let auth = monitor_line(&addr, &a(&[b"AUTH", b"alice", b"secret"]));
        assert!(auth.ends_with(r#""AUTH" "(redacted)" "(redacted)""#), "{auth}");
    }
}
