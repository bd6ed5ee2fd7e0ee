//! ```text
//! COMMAND [COUNT | LIST | INFO name... | DOCS name... | GETKEYS cmd args...]
//! INFO [section...]
//! ```
//! What this node says about its commands and itself.

use openraft::async_runtime::watch::WatchReceiver;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::admin::role_name;
use super::args;
use super::conn::REDIS_COMPAT_VERSION;
use super::table::{self, Entry};
use crate::context::ServerCtx;
use crate::reply::Reply;

fn command_info(c: Entry) -> Reply {
    let texts = |xs: &'static [&'static str]| Reply::Array(xs.iter().map(|x| Reply::Simple(x)).collect());
    let (first, last, step) = c.keys();
    Reply::Array(vec![
        Reply::text(c.name()),
        Reply::Int(c.arity()),
        texts(c.flags()),
        Reply::Int(first),
        Reply::Int(last),
        Reply::Int(step),
        Reply::Array(c.categories().iter().map(|k| Reply::Status(format!("@{k}"))).collect()),
        Reply::Array(vec![]),
        Reply::Array(vec![]),
        Reply::Array(vec![]),
    ])
}

fn command_doc(c: Entry) -> Reply {
    Reply::map(vec![
        ("summary", Reply::text(c.summary())),
        ("since", Reply::text("0.1.0")),
        ("group", Reply::text(c.group())),
    ])
}

pub fn command(a: &[Bytes]) -> Reply {
    let Some(sub) = a.first() else {
        return Reply::Array(table::all().map(command_info).collect());
    };
    let names = &a[1..];
    let pick = || -> Vec<Entry> {
        if names.is_empty() {
            table::all().collect()
        } else {
            names.iter().filter_map(|n| table::lookup(n)).collect()
        }
    };
    match args::keyword(sub).as_str() {
        "COUNT" => Reply::Int(table::all().count() as i64),
        "LIST" => Reply::Array(table::all().map(|c| Reply::text(c.name())).collect()),
        "INFO" if names.is_empty() => Reply::Array(table::all().map(command_info).collect()),
        "INFO" => Reply::Array(
            names
                .iter()
                .map(|n| table::lookup(n).map(command_info).unwrap_or(Reply::Nil))
                .collect(),
        ),
        "DOCS" => Reply::Map(
            pick()
                .into_iter()
                .map(|c| (Reply::text(c.name()), command_doc(c)))
                .collect(),
        ),
        "GETKEYS" => match names.first().and_then(|n| table::lookup(n)) {
            Some(c) if c.keys().0 > 0 => {
                let (first, last, step) = c.keys();
                let args = &names[1..];
                let last = if last < 0 { args.len() as i64 + last + 1 } else { last };
                let keys: Vec<Reply> = (first..=last)
                    .step_by(step.max(1) as usize)
                    .filter_map(|i| args.get(i as usize - 1).cloned().map(Reply::Bulk))
                    .collect();
                if keys.is_empty() {
                    Reply::err("ERR Invalid number of arguments specified for command")
                } else {
                    Reply::Array(keys)
                }
            }
            Some(_) => Reply::err("ERR The command has no key arguments"),
            None => Reply::err("ERR Invalid command specified"),
        },
        other => Reply::err(format!("ERR unknown subcommand '{other}' for 'command'")),
    }
}

/// INFO text, Redis style: `# Section` headers, `key:value` lines, CRLF.
pub fn info_text(a: &[Bytes], ctx: &ServerCtx) -> String {
    let wanted: Vec<String> = a.iter().map(|s| args::show(s).to_lowercase()).collect();
    let all = wanted.is_empty() || wanted.iter().any(|w| w == "all" || w == "everything" || w == "default");
    let want = |s: &str| all || wanted.iter().any(|w| w == s);
    let m = ctx.node.raft.metrics().borrow_watched().clone();
    let mut out = String::new();
    let mut section = |title: &str, lines: Vec<(&str, String)>| {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        let _ = write!(out, "# {title}\r\n");
        for (k, v) in lines {
            let _ = write!(out, "{k}:{v}\r\n");
        }
    };
    if want("server") {
        section(
            "Server",
            vec![
                ("redis_version", REDIS_COMPAT_VERSION.into()),
                ("fencepost_version", env!("CARGO_PKG_VERSION").into()),
                ("redis_mode", "standalone".into()),
                ("process_id", std::process::id().to_string()),
                ("tcp_port", ctx.config.port.to_string()),
                ("tls_port", ctx.config.tls_port.unwrap_or(0).to_string()),
                ("uptime_in_seconds", ctx.started.elapsed().as_secs().to_string()),
            ],
        );
    }
    if want("clients") {
        section(
            "Clients",
            vec![
                ("connected_clients", ctx.clients.len().to_string()),
                ("blocked_clients", ctx.node.waiters.blocked().to_string()),
                ("maxclients", ctx.config.max_clients.to_string()),
            ],
        );
    }
    if want("persistence") {
        section(
            "Persistence",
            vec![("loading", "0".into()), ("durability", "raft-log-fsync".into())],
        );
    }
    if want("stats") {
        let s = &ctx.stats;
        section(
            "Stats",
            vec![
                (
                    "total_connections_received",
                    s.connections.load(Ordering::Relaxed).to_string(),
                ),
                (
                    "total_commands_processed",
                    s.commands.load(Ordering::Relaxed).to_string(),
                ),
                (
                    "rejected_connections",
                    s.rejected_connections.load(Ordering::Relaxed).to_string(),
                ),
                (
                    "total_protocol_errors",
                    s.protocol_errors.load(Ordering::Relaxed).to_string(),
                ),
                (
                    "acl_access_denied_auth",
                    s.acl_denied_auth.load(Ordering::Relaxed).to_string(),
                ),
                (
                    "acl_access_denied_cmd",
                    s.acl_denied_cmd.load(Ordering::Relaxed).to_string(),
                ),
                (
                    "acl_access_denied_key",
                    s.acl_denied_key.load(Ordering::Relaxed).to_string(),
                ),
            ],
        );
    }
    if want("replication") {
        section(
            "Replication",
            vec![("role", if ctx.node.is_leader() { "master" } else { "slave" }.into())],
        );
    }
    if want("raft") {
        let opt = |o: Option<u64>| o.map(|v| v.to_string()).unwrap_or_default();
        section(
            "Raft",
            vec![
                ("raft_node_id", m.id.to_string()),
                ("raft_role", role_name(m.state).into()),
                ("raft_term", m.current_term.to_string()),
                ("raft_leader_id", opt(m.current_leader)),
                ("raft_commit_index", ctx.node.committed_index().to_string()),
                ("raft_applied_index", opt(m.last_applied.map(|l| l.index))),
                ("raft_last_log_index", opt(m.last_log_index)),
                ("raft_snapshot_index", opt(m.snapshot.map(|l| l.index))),
                (
                    "raft_voters",
                    m.membership_config.membership().voter_ids().count().to_string(),
                ),
            ],
        );
    }
    if want("latency") {
        // Cumulative since start: where replicated writes spend their time.
        let lines = crate::timings::info_lines();
        section("Latency", lines.iter().map(|(k, v)| (k.as_str(), v.clone())).collect());
    }
    if want("keyspace") {
        // Counting needs the state machine; a stale local count is fine for INFO.
        let keys = {
            let st = ctx.node.sm.read();
            st.sm.len_live(st.sm.now())
        };
        section(
            "Keyspace",
            vec![("db0", format!("keys={keys},expires={keys},avg_ttl=0"))],
        );
    }
    out
}
