//! What Redis clients send on their own: PING, ECHO, HELLO, AUTH, SELECT, QUIT, RESET,
//! CLIENT, COMMAND, INFO, DBSIZE, CLUSTER. Unknown commands end up here too.

use openraft::async_runtime::watch::WatchReceiver;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use super::admin::role_name;
use super::args::{self, arity};
use super::table::{self, CommandSpec, COMMANDS};
use super::{mismatched, node_error, Dispatched};
use crate::connection::ConnState;
use crate::query::{ReadAnswer, ReadQuery};
use crate::raft::types::PeerNode;
use crate::reply::{Proto, Reply};
use crate::server::ServerCtx;

/// Version reported to clients that gate features on the Redis version.
const REDIS_COMPAT_VERSION: &str = "7.2.0";

pub fn dispatch(name: &str, a: &[Bytes], conn: &mut ConnState, ctx: &Arc<ServerCtx>) -> Dispatched {
    let now = Dispatched::Now;
    match name {
        "PING" => now(match a {
            [] => Reply::Simple("PONG"),
            [msg] => Reply::Bulk(msg.clone()),
            _ => arity("ping"),
        }),
        "ECHO" => now(match a {
            [msg] => Reply::Bulk(msg.clone()),
            _ => arity("echo"),
        }),
        "HELLO" => now(hello(a, conn, ctx)),
        "AUTH" => now(auth(a, conn, ctx)),
        "SELECT" => now(match a {
            [db] if db.as_ref() == b"0" => Reply::ok(),
            [_] => Reply::err("ERR DB index is out of range"),
            _ => arity("select"),
        }),
        "QUIT" => Dispatched::Close(Reply::ok()),
        "RESET" => {
            conn.proto = Proto::Resp2;
            conn.authed = ctx.config.requirepass.is_none();
            if let Some(mut c) = ctx.clients.get_mut(&conn.id) {
                c.name = None;
                c.resp = 2;
            }
            now(Reply::Simple("RESET"))
        }
        "CLIENT" => now(client(a, conn, ctx)),
        "COMMAND" => now(command(a)),
        "INFO" => now(Reply::Verbatim(info_text(a, ctx))),
        "DBSIZE" if a.is_empty() => {
            let node = ctx.node.clone();
            Dispatched::later(async move {
                match node.read(ReadQuery::DbSize).await {
                    Ok(ReadAnswer::DbSize(n)) => Reply::Int(n as i64),
                    Ok(other) => mismatched(other),
                    Err(e) => node_error(e, b""),
                }
            })
        }
        "DBSIZE" => now(arity("dbsize")),
        "CLUSTER" => now(cluster(a, ctx)),
        _ => {
            let shown: Vec<String> = a.iter().take(8).map(|x| format!("'{}'", args::show(x))).collect();
            now(Reply::err(format!(
                "ERR unknown command '{}', with args beginning with: {}",
                name.to_lowercase(),
                shown.join(" ")
            )))
        }
    }
}

fn check_password(ctx: &ServerCtx, user: Option<&[u8]>, pass: &[u8]) -> Result<(), Reply> {
    let Some(expected) = ctx.config.requirepass.as_deref() else {
        return Err(Reply::err(
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        ));
    };
    let user_ok = user.is_none_or(|u| u == b"default");
    if user_ok && constant_time_eq(pass, expected.as_bytes()) {
        Ok(())
    } else {
        Err(Reply::err(
            "WRONGPASS invalid username-password pair or user is disabled.",
        ))
    }
}

/// Compares secrets without leaking where they first differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn auth(a: &[Bytes], conn: &mut ConnState, ctx: &ServerCtx) -> Reply {
    let r = match a {
        [pass] => check_password(ctx, None, pass),
        [user, pass] => check_password(ctx, Some(user), pass),
        _ => return arity("auth"),
    };
    match r {
        Ok(()) => {
            conn.authed = true;
            Reply::ok()
        }
        Err(e) => e,
    }
}

fn hello(a: &[Bytes], conn: &mut ConnState, ctx: &ServerCtx) -> Reply {
    let mut proto = conn.proto;
    let mut rest = a;
    if let Some(v) = a.first() {
        proto = match v.as_ref() {
            b"2" => Proto::Resp2,
            b"3" => Proto::Resp3,
            _ => return Reply::err("NOPROTO unsupported protocol version"),
        };
        rest = &a[1..];
    }
    let mut name = None;
    while let Some(opt) = rest.first() {
        match (args::keyword(opt).as_str(), rest) {
            ("AUTH", [_, user, pass, ..]) => {
                if let Err(e) = check_password(ctx, Some(user), pass) {
                    return e;
                }
                conn.authed = true;
                rest = &rest[3..];
            }
            ("SETNAME", [_, n, ..]) => {
                name = Some(n.clone());
                rest = &rest[2..];
            }
            _ => return Reply::err(format!("ERR Syntax error in HELLO option '{}'", args::show(opt))),
        }
    }
    if !conn.authed {
        return Reply::err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
    }
    conn.proto = proto;
    if let Some(mut c) = ctx.clients.get_mut(&conn.id) {
        c.resp = if proto == Proto::Resp3 { 3 } else { 2 };
        if name.is_some() {
            c.name = name;
        }
    }
    Reply::map(vec![
        ("server", Reply::text("fencepost")),
        ("version", Reply::text(REDIS_COMPAT_VERSION)),
        ("fencepost-version", Reply::text(env!("CARGO_PKG_VERSION"))),
        ("proto", Reply::Int(if proto == Proto::Resp3 { 3 } else { 2 })),
        ("id", Reply::Int(conn.id as i64)),
        ("mode", Reply::text("standalone")),
        (
            "role",
            Reply::text(if ctx.node.is_leader() { "master" } else { "replica" }),
        ),
        ("modules", Reply::Array(vec![])),
    ])
}

fn client(a: &[Bytes], conn: &mut ConnState, ctx: &ServerCtx) -> Reply {
    let Some(sub) = a.first() else {
        return arity("client");
    };
    let sub = args::keyword(sub);
    match (sub.as_str(), &a[1..]) {
        ("ID", []) => Reply::Int(conn.id as i64),
        ("SETNAME", [n]) => {
            if n.iter().any(|b| *b == b' ' || *b == b'\n') {
                return Reply::err("ERR Client names cannot contain spaces, newlines or special characters.");
            }
            if let Some(mut c) = ctx.clients.get_mut(&conn.id) {
                c.name = if n.is_empty() { None } else { Some(n.clone()) };
            }
            Reply::ok()
        }
        ("GETNAME", []) => ctx
            .clients
            .get(&conn.id)
            .and_then(|c| c.name.clone())
            .map(Reply::Bulk)
            .unwrap_or(Reply::Nil),
        ("SETINFO", [attr, v]) => {
            let Some(mut c) = ctx.clients.get_mut(&conn.id) else {
                return Reply::ok();
            };
            match args::keyword(attr).as_str() {
                "LIB-NAME" => c.lib_name = Some(v.clone()),
                "LIB-VER" => c.lib_ver = Some(v.clone()),
                _ => return Reply::err(format!("ERR Unrecognized option '{}'", args::show(attr))),
            }
            Reply::ok()
        }
        ("INFO", []) => Reply::Verbatim(client_line(ctx, conn.id)),
        ("LIST", _) => {
            let mut ids: Vec<u64> = ctx.clients.iter().map(|c| *c.key()).collect();
            ids.sort_unstable();
            Reply::Verbatim(ids.into_iter().map(|id| client_line(ctx, id)).collect())
        }
        ("NO-EVICT", [_]) | ("NO-TOUCH", [_]) => Reply::ok(),
        ("ID" | "SETNAME" | "GETNAME" | "SETINFO" | "INFO", _) => arity(&format!("client|{}", sub.to_lowercase())),
        _ => Reply::err(format!("ERR unknown subcommand '{sub}' for 'client'")),
    }
}

fn client_line(ctx: &ServerCtx, id: u64) -> String {
    let Some(c) = ctx.clients.get(&id) else {
        return String::new();
    };
    let show = |b: &Option<Bytes>| b.as_deref().map(args::show).unwrap_or_default();
    format!(
        "id={id} addr={} laddr={} name={} age={} db=0 resp={} lib-name={} lib-ver={}\n",
        c.addr,
        ctx.config.resp_addr(),
        show(&c.name),
        c.since.elapsed().as_secs(),
        c.resp,
        show(&c.lib_name),
        show(&c.lib_ver),
    )
}

fn command_info(c: &CommandSpec) -> Reply {
    let texts = |xs: &'static [&'static str]| Reply::Array(xs.iter().map(|x| Reply::Simple(x)).collect());
    Reply::Array(vec![
        Reply::text(c.name),
        Reply::Int(c.arity),
        texts(c.flags),
        Reply::Int(c.first_key),
        Reply::Int(c.last_key),
        Reply::Int(c.step),
        Reply::Array(vec![]),
        Reply::Array(vec![]),
        Reply::Array(vec![]),
        Reply::Array(vec![]),
    ])
}

fn command_doc(c: &CommandSpec) -> Reply {
    Reply::map(vec![
        ("summary", Reply::text(c.summary)),
        ("since", Reply::text("0.1.0")),
        ("group", Reply::text(c.group)),
    ])
}

fn command(a: &[Bytes]) -> Reply {
    let Some(sub) = a.first() else {
        return Reply::Array(COMMANDS.iter().map(command_info).collect());
    };
    let names = &a[1..];
    let pick = || -> Vec<&'static CommandSpec> {
        if names.is_empty() {
            COMMANDS.iter().collect()
        } else {
            names.iter().filter_map(|n| table::find(&args::show(n))).collect()
        }
    };
    match args::keyword(sub).as_str() {
        "COUNT" => Reply::Int(COMMANDS.len() as i64),
        "LIST" => Reply::Array(COMMANDS.iter().map(|c| Reply::text(c.name)).collect()),
        "INFO" if names.is_empty() => Reply::Array(COMMANDS.iter().map(command_info).collect()),
        "INFO" => Reply::Array(
            names
                .iter()
                .map(|n| table::find(&args::show(n)).map(command_info).unwrap_or(Reply::Nil))
                .collect(),
        ),
        "DOCS" => Reply::Map(
            pick()
                .into_iter()
                .map(|c| (Reply::text(c.name), command_doc(c)))
                .collect(),
        ),
        "GETKEYS" => match names.first().and_then(|n| table::find(&args::show(n))) {
            Some(c) if c.first_key > 0 => match names.get(c.first_key as usize) {
                Some(k) => Reply::Array(vec![Reply::Bulk(k.clone())]),
                None => Reply::err("ERR Invalid number of arguments specified for command"),
            },
            Some(_) => Reply::err("ERR The command has no key arguments"),
            None => Reply::err("ERR Invalid command specified"),
        },
        other => Reply::err(format!("ERR unknown subcommand '{other}' for 'command'")),
    }
}

/// INFO text, Redis style: `# Section` headers, `key:value` lines, CRLF.
fn info_text(a: &[Bytes], ctx: &ServerCtx) -> String {
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

/// Redis-style 40-hex-digit node id.
fn hex_id(id: u64) -> String {
    format!("{id:040x}")
}

/// (id, node, is_leader) for each voter, leader first. During an election the last
/// known leader stands in: that is where a client's retry most likely succeeds.
fn voters(ctx: &ServerCtx) -> Vec<(u64, PeerNode, bool)> {
    let leader = ctx.node.leader_or_last_known();
    let m = ctx.node.raft.metrics().borrow_watched().clone();
    let membership = m.membership_config.membership().clone();
    let mut v: Vec<(u64, PeerNode, bool)> = membership
        .voter_ids()
        .filter_map(|id| membership.get_node(&id).map(|n| (id, n.clone(), Some(id) == leader)))
        .collect();
    v.sort_by_key(|(id, _, leader)| (!leader, *id));
    v
}

fn split_addr(addr: &str) -> (String, i64) {
    match addr.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().unwrap_or(0)),
        None => (addr.to_string(), 0),
    }
}

fn cluster(a: &[Bytes], ctx: &ServerCtx) -> Reply {
    let Some(sub) = a.first() else {
        return arity("cluster");
    };
    let nodes = voters(ctx);
    match args::keyword(sub).as_str() {
        "MYID" => Reply::text(&hex_id(ctx.node.id)),
        "INFO" => {
            let state = if nodes.iter().any(|n| n.2) { "ok" } else { "fail" };
            Reply::Verbatim(format!(
                "cluster_enabled:1\r\ncluster_state:{state}\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:16384\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:{}\r\ncluster_size:1\r\n",
                nodes.len()
            ))
        }
        "SLOTS" => {
            let mut entry = vec![Reply::Int(0), Reply::Int(16383)];
            for (id, n, _) in &nodes {
                let (host, port) = split_addr(&n.resp_addr);
                entry.push(Reply::Array(vec![
                    Reply::text(&host),
                    Reply::Int(port),
                    Reply::text(&hex_id(*id)),
                    Reply::Array(vec![]),
                ]));
            }
            Reply::Array(vec![Reply::Array(entry)])
        }
        "SHARDS" => {
            let node_maps = nodes
                .iter()
                .map(|(id, n, leader)| {
                    let (host, port) = split_addr(&n.resp_addr);
                    Reply::map(vec![
                        ("id", Reply::text(&hex_id(*id))),
                        ("port", Reply::Int(port)),
                        ("ip", Reply::text(&host)),
                        ("endpoint", Reply::text(&host)),
                        ("role", Reply::text(if *leader { "master" } else { "replica" })),
                        ("replication-offset", Reply::Int(0)),
                        ("health", Reply::text("online")),
                    ])
                })
                .collect();
            Reply::Array(vec![Reply::map(vec![
                ("slots", Reply::Array(vec![Reply::Int(0), Reply::Int(16383)])),
                ("nodes", Reply::Array(node_maps)),
            ])])
        }
        "NODES" => {
            let leader = nodes.iter().find(|n| n.2).map(|n| hex_id(n.0));
            let mut text = String::new();
            for (id, n, is_leader) in &nodes {
                let myself = if *id == ctx.node.id { "myself," } else { "" };
                let (role, master, slots) = if *is_leader {
                    ("master", "-".to_string(), " 0-16383")
                } else {
                    ("slave", leader.clone().unwrap_or_else(|| "-".into()), "")
                };
                let (host, port) = split_addr(&n.resp_addr);
                let _ = writeln!(
                    text,
                    "{} {host}:{port}@{} {myself}{role} {master} 0 0 1 connected{slots}",
                    hex_id(*id),
                    split_addr(&n.raft_addr).1
                );
            }
            Reply::Verbatim(text)
        }
        other => Reply::err(format!("ERR unknown subcommand '{other}' for 'cluster'")),
    }
}
