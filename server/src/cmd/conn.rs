//! ```text
//! PING [msg] | ECHO msg | HELLO [2|3] [AUTH u p] [SETNAME n] | AUTH [user] pass
//! SELECT 0 | QUIT | RESET | CLIENT ID|SETNAME|GETNAME|SETINFO|INFO|LIST
//! ```
//! What Redis clients send on their own about their connection, plus the commands
//! this node answers from its own state (COMMAND, INFO, CLUSTER: see `introspect.rs`
//! and `cluster.rs`).

use std::sync::Arc;

use bytes::Bytes;

use super::args::{self, arity};
use super::{cluster, introspect, Command, Dispatched, Limits};
use crate::context::ServerCtx;
use crate::reply::{Proto, Reply};
use crate::session::ConnState;

/// Version reported to clients that gate features on the Redis version.
pub const REDIS_COMPAT_VERSION: &str = "7.2.0";

/// A command answered by this node without the log.
#[derive(Debug)]
pub enum ConnCmd {
    Ping(Option<Bytes>),
    Echo(Bytes),
    Hello(Hello),
    Auth { user: Option<Bytes>, pass: Bytes },
    Select(Bytes),
    Quit,
    Reset,
    Client(Vec<Bytes>),
    Command(Vec<Bytes>),
    Info(Vec<Bytes>),
    Cluster(Vec<Bytes>),
}

fn conn(c: ConnCmd) -> Result<Command, Reply> {
    Ok(Command::Conn(c))
}

pub fn parse_ping(a: &[Bytes], _: &Limits) -> Result<Command, Reply> {
    match a {
        [] => conn(ConnCmd::Ping(None)),
        [msg] => conn(ConnCmd::Ping(Some(msg.clone()))),
        _ => Err(arity("ping")),
    }
}

pub fn parse_echo(a: &[Bytes], _: &Limits) -> Result<Command, Reply> {
    match a {
        [msg] => conn(ConnCmd::Echo(msg.clone())),
        _ => Err(arity("echo")),
    }
}

/// `HELLO [protover [AUTH user pass] [SETNAME name]]`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub proto: Option<Proto>,
    pub auth: Option<(Bytes, Bytes)>,
    pub name: Option<Bytes>,
}

pub fn parse_hello(a: &[Bytes], _: &Limits) -> Result<Command, Reply> {
    let mut h = Hello {
        proto: None,
        auth: None,
        name: None,
    };
    let Some((v, mut rest)) = a.split_first() else {
        return conn(ConnCmd::Hello(h));
    };
    h.proto = Some(match v.as_ref() {
        b"2" => Proto::Resp2,
        b"3" => Proto::Resp3,
        _ => return Err(Reply::err("NOPROTO unsupported protocol version")),
    });
    while let Some(opt) = rest.first() {
        match (args::keyword(opt).as_str(), rest) {
            ("AUTH", [_, user, pass, tail @ ..]) => {
                h.auth = Some((user.clone(), pass.clone()));
                rest = tail;
            }
            ("SETNAME", [_, n, tail @ ..]) => {
                h.name = Some(n.clone());
                rest = tail;
            }
            _ => {
                return Err(Reply::err(format!(
                    "ERR Syntax error in HELLO option '{}'",
                    args::show(opt)
                )))
            }
        }
    }
    conn(ConnCmd::Hello(h))
}

pub fn parse_auth(a: &[Bytes], _: &Limits) -> Result<Command, Reply> {
    match a {
        [pass] => conn(ConnCmd::Auth {
            user: None,
            pass: pass.clone(),
        }),
        [user, pass] => conn(ConnCmd::Auth {
            user: Some(user.clone()),
            pass: pass.clone(),
        }),
        _ => Err(arity("auth")),
    }
}

pub fn parse_select(a: &[Bytes], _: &Limits) -> Result<Command, Reply> {
    match a {
        [db] => conn(ConnCmd::Select(db.clone())),
        _ => Err(arity("select")),
    }
}

pub fn parse_quit(_: &[Bytes], _: &Limits) -> Result<Command, Reply> {
    conn(ConnCmd::Quit)
}

pub fn parse_reset(_: &[Bytes], _: &Limits) -> Result<Command, Reply> {
    conn(ConnCmd::Reset)
}

pub fn parse_client(a: &[Bytes], _: &Limits) -> Result<Command, Reply> {
    if a.is_empty() {
        return Err(arity("client"));
    }
    conn(ConnCmd::Client(a.to_vec()))
}

pub fn parse_command(a: &[Bytes], _: &Limits) -> Result<Command, Reply> {
    conn(ConnCmd::Command(a.to_vec()))
}

pub fn parse_info(a: &[Bytes], _: &Limits) -> Result<Command, Reply> {
    conn(ConnCmd::Info(a.to_vec()))
}

pub fn parse_cluster(a: &[Bytes], _: &Limits) -> Result<Command, Reply> {
    if a.is_empty() {
        return Err(arity("cluster"));
    }
    conn(ConnCmd::Cluster(a.to_vec()))
}

pub fn execute(c: ConnCmd, conn: &mut ConnState, ctx: &Arc<ServerCtx>) -> Dispatched {
    let now = Dispatched::Now;
    match c {
        ConnCmd::Ping(None) => now(Reply::Simple("PONG")),
        ConnCmd::Ping(Some(msg)) | ConnCmd::Echo(msg) => now(Reply::Bulk(msg)),
        ConnCmd::Hello(h) => now(hello(h, conn, ctx)),
        ConnCmd::Auth { user, pass } => now(auth(user.as_deref(), &pass, conn, ctx)),
        ConnCmd::Select(db) if db.as_ref() == b"0" => now(Reply::ok()),
        ConnCmd::Select(_) => now(Reply::err("ERR DB index is out of range")),
        ConnCmd::Quit => Dispatched::Close(Reply::ok()),
        ConnCmd::Reset => {
            conn.proto = Proto::Resp2;
            (conn.authed, conn.user) = super::acl::initial_session(ctx);
            conn.tx = Default::default();
            if let Some(mut c) = ctx.clients.get_mut(&conn.id) {
                c.name = None;
                c.resp = 2;
            }
            now(Reply::Simple("RESET"))
        }
        ConnCmd::Client(a) => now(client(&a, conn, ctx)),
        ConnCmd::Command(a) => now(introspect::command(&a)),
        ConnCmd::Info(a) => now(Reply::Verbatim(introspect::info_text(&a, ctx))),
        ConnCmd::Cluster(a) => now(cluster::cluster(&a, ctx)),
    }
}

fn auth(user: Option<&[u8]>, pass: &[u8], conn: &mut ConnState, ctx: &ServerCtx) -> Reply {
    match super::acl::login(ctx, conn, user, pass) {
        Ok(u) => {
            conn.user = u;
            conn.authed = true;
            Reply::ok()
        }
        Err(e) => e,
    }
}

fn hello(h: Hello, conn: &mut ConnState, ctx: &ServerCtx) -> Reply {
    let proto = h.proto.unwrap_or(conn.proto);
    let name = h.name;
    if let Some((user, pass)) = &h.auth {
        match super::acl::login(ctx, conn, Some(user), pass) {
            Ok(u) => {
                conn.user = u;
                conn.authed = true;
            }
            Err(e) => return e,
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

pub fn client_line(ctx: &ServerCtx, id: u64) -> String {
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
