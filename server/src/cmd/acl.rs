//! ```text
//! ACL SETUSER <user> <rule>... | GETUSER <user> | DELUSER <user>... | LIST | USERS
//! ACL WHOAMI | CAT [category] | LOG [count | RESET]
//! ```
//! Users live in the replicated state machine (`sm/acl.rs`); this file parses the
//! rules (hashing passwords and expanding categories from the command table before
//! anything is proposed), logs connections in, and checks every command against the
//! connection's user: its command rules, then every name the command touches.

use std::sync::Arc;

use bytes::Bytes;

use super::args::{self, arity};
use super::table::{self, Entry, CATEGORIES};
use super::{Command, Dispatched, Limits, Shape};
use crate::acl_log::{Context, Denial, Reason};
use crate::context::ServerCtx;
use crate::mutation::{self, Mutation};
use crate::query::{ReadAnswer, ReadQuery};
use crate::reply::Reply;
use crate::session::{ConnState, SessionUser};
use crate::sm::acl::{hex, AclRule, AclTable, AclUser, PassHash, DEFAULT_USER};
use crate::sm::data::cmd::DataCmd;
use crate::sm::Op;

/// An ACL subcommand.
#[derive(Debug)]
pub enum AclCmd {
    SetUser { user: Bytes, rules: Vec<AclRule> },
    GetUser(Bytes),
    DelUser(Vec<Bytes>),
    List,
    Users,
    WhoAmI,
    Cat(Option<String>),
    Log(LogArg),
}

/// ACL LOG's argument.
#[derive(Debug, PartialEq, Eq)]
pub enum LogArg {
    Newest(Option<usize>),
    Reset,
}

/// SHA-256 of a password: the only form in which one is kept.
pub fn digest(pass: &[u8]) -> PassHash {
    let d = ring::digest::digest(&ring::digest::SHA256, pass);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

pub fn parse(a: &[Bytes], _: &Limits) -> Result<Command, Reply> {
    let Some(sub) = a.first() else {
        return Err(arity("acl"));
    };
    let sub = args::keyword(sub);
    let rest = &a[1..];
    let cmd = match (sub.as_str(), rest) {
        ("SETUSER", [user, rules @ ..]) => AclCmd::SetUser {
            user: user_name(user)?,
            rules: parse_rules(rules)?,
        },
        ("GETUSER", [user]) => AclCmd::GetUser(user.clone()),
        ("DELUSER", users @ [_, ..]) => AclCmd::DelUser(users.to_vec()),
        ("LIST", []) => AclCmd::List,
        ("USERS", []) => AclCmd::Users,
        ("WHOAMI", []) => AclCmd::WhoAmI,
        ("CAT", []) => AclCmd::Cat(None),
        ("CAT", [c]) => AclCmd::Cat(Some(String::from_utf8_lossy(c).to_ascii_lowercase())),
        ("LOG", []) => AclCmd::Log(LogArg::Newest(None)),
        ("LOG", [x]) if args::keyword(x) == "RESET" => AclCmd::Log(LogArg::Reset),
        ("LOG", [n]) => match args::show(n).parse::<usize>() {
            Ok(n) => AclCmd::Log(LogArg::Newest(Some(n))),
            Err(_) => return Err(Reply::err("ERR value is out of range, must be positive")),
        },
        ("SETUSER" | "GETUSER" | "DELUSER" | "LIST" | "USERS" | "WHOAMI" | "CAT" | "LOG", _) => {
            return Err(arity(&format!("acl|{}", sub.to_lowercase())))
        }
        _ => {
            return Err(Reply::err(format!(
                "ERR unknown subcommand '{}'. Try ACL HELP.",
                args::show(&a[0])
            )))
        }
    };
    Ok(Command::Acl(cmd))
}

fn user_name(u: &Bytes) -> Result<Bytes, Reply> {
    if u.is_empty() || u.iter().any(|b| b.is_ascii_whitespace() || *b == 0) {
        return Err(Reply::err("ERR Usernames can't contain spaces or null characters"));
    }
    Ok(u.clone())
}

/// Parses `ACL SETUSER` modifiers into what the state machine applies: passwords
/// become digests here, and `+@category` becomes the category's commands.
pub fn parse_rules(words: &[Bytes]) -> Result<Vec<AclRule>, Reply> {
    let mut out = Vec::new();
    for w in words {
        parse_rule(w, &mut out)
            .map_err(|why| Reply::err(format!("ERR Error in ACL SETUSER modifier '{}': {why}", args::show(w))))?;
    }
    Ok(out)
}

const UNKNOWN_NAME: &str = "Unknown command or category name in ACL";
const BAD_HASH: &str =
    "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters";

fn parse_rule(w: &[u8], out: &mut Vec<AclRule>) -> Result<(), &'static str> {
    let lower = String::from_utf8_lossy(w).to_ascii_lowercase();
    let rule = match lower.as_str() {
        "on" => AclRule::On,
        "off" => AclRule::Off,
        "nopass" => AclRule::NoPass,
        "resetpass" => AclRule::ResetPass,
        "allkeys" => AclRule::AllKeys,
        "resetkeys" => AclRule::ResetKeys,
        "allcommands" | "+@all" => AclRule::AllCommands,
        "nocommands" | "-@all" => AclRule::NoCommands,
        "reset" => AclRule::Reset,
        // Pub/sub is not served: channel rules are accepted and change nothing, so
        // rule lines written for Redis apply unchanged.
        "allchannels" | "resetchannels" | "sanitize-payload" | "skip-sanitize-payload" => return Ok(()),
        _ => match w.split_first() {
            Some((b'>', pass)) => AclRule::AddHash(digest(pass)),
            Some((b'<', pass)) => AclRule::RemoveHash(digest(pass)),
            Some((b'#', h)) => AclRule::AddHash(parse_hash(h)?),
            Some((b'!', h)) => AclRule::RemoveHash(parse_hash(h)?),
            Some((b'~', pattern)) => AclRule::Keys(Bytes::copy_from_slice(pattern)),
            Some((b'&', _)) => return Ok(()),
            Some((b'%', _)) => return Err("Read or write key selectors (%R~, %W~) are not supported"),
            Some((sign @ (b'+' | b'-'), name)) => {
                let allow = *sign == b'+';
                let make = |c: String| if allow { AclRule::Allow(c) } else { AclRule::Deny(c) };
                let name = String::from_utf8_lossy(name).to_ascii_lowercase();
                if let Some(cat) = name.strip_prefix('@') {
                    if !CATEGORIES.contains(&cat) {
                        return Err(UNKNOWN_NAME);
                    }
                    out.extend(commands_in(cat).map(|c| make(c.to_string())));
                    return Ok(());
                }
                let (cmd, sub) = match name.split_once('|') {
                    Some((c, s)) => (c, Some(s)),
                    None => (name.as_str(), None),
                };
                match (table::lookup(cmd.as_bytes()), sub) {
                    (None, _) => return Err(UNKNOWN_NAME),
                    (Some(e), Some(s)) if !e.has_subcommands() || s.is_empty() => return Err(UNKNOWN_NAME),
                    _ => make(name),
                }
            }
            _ => return Err("Syntax error"),
        },
    };
    out.push(rule);
    Ok(())
}

fn parse_hash(h: &[u8]) -> Result<PassHash, &'static str> {
    if h.len() != 64 || !h.iter().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c)) {
        return Err(BAD_HASH);
    }
    let mut out = [0u8; 32];
    for (i, pair) in h.chunks_exact(2).enumerate() {
        let s = std::str::from_utf8(pair).map_err(|_| BAD_HASH)?;
        out[i] = u8::from_str_radix(s, 16).map_err(|_| BAD_HASH)?;
    }
    Ok(out)
}

/// The commands of a category, as the command table declares them.
fn commands_in(cat: &str) -> impl Iterator<Item = &'static str> + '_ {
    table::all()
        .filter(move |e| e.categories().contains(&cat))
        .map(|e| e.name())
}

/// The rules that make the node's view of an unchanged `default` user: the first
/// `ACL SETUSER default` starts from it, so `--requirepass` carries over.
fn default_base(ctx: &ServerCtx) -> Vec<AclRule> {
    let mut base = vec![AclRule::On, AclRule::AllKeys, AclRule::AllCommands];
    base.push(match requirepass_digest(ctx) {
        Some(h) => AclRule::AddHash(h),
        None => AclRule::NoPass,
    });
    base
}

fn requirepass_digest(ctx: &ServerCtx) -> Option<PassHash> {
    ctx.config.requirepass.as_deref().map(|p| digest(p.as_bytes()))
}

/// A user as this node applies it: from the replicated table, or, for a `default`
/// never changed by ACL SETUSER, from this node's `--requirepass`.
fn user_in(table: &AclTable, name: &[u8], ctx: &ServerCtx) -> Option<AclUser> {
    match table.get(name) {
        Some(u) => Some(u.clone()),
        None if name == DEFAULT_USER => Some(AclUser::config_default(requirepass_digest(ctx))),
        None => None,
    }
}

fn effective_user(ctx: &ServerCtx, name: &[u8]) -> Option<AclUser> {
    let st = ctx.node.sm.read();
    user_in(st.sm.acl(), name, ctx)
}

fn session_user(name: Bytes, user: AclUser, acl_epoch: u64) -> SessionUser {
    SessionUser {
        name,
        perms: (!user.unrestricted()).then(|| Arc::new(user)),
        acl_epoch,
    }
}

/// How a new connection starts: logged in as `default` when that user is on and
/// needs no password, else waiting for AUTH.
pub fn initial_session(ctx: &ServerCtx) -> (bool, SessionUser) {
    let epoch = ctx.node.sm.acl_epoch();
    let default = Bytes::from_static(DEFAULT_USER);
    match effective_user(ctx, DEFAULT_USER) {
        Some(u) if u.enabled && u.nopass => (true, session_user(default, u, epoch)),
        _ => (false, SessionUser::unrestricted_default()),
    }
}

/// Re-reads the connection's user when the ACL moved: a user switched off or deleted
/// is logged out, and changed permissions apply from this command on.
pub fn refresh(conn: &mut ConnState, ctx: &ServerCtx) {
    let epoch = ctx.node.sm.acl_epoch();
    if epoch == conn.user.acl_epoch {
        return;
    }
    match effective_user(ctx, &conn.user.name) {
        Some(u) if u.enabled => conn.user = session_user(conn.user.name.clone(), u, epoch),
        _ => {
            conn.authed = false;
            conn.user.acl_epoch = epoch;
        }
    }
}

/// AUTH / HELLO ... AUTH: the user, if `pass` opens it.
pub fn login(ctx: &ServerCtx, conn: &ConnState, user: Option<&[u8]>, pass: &[u8]) -> Result<SessionUser, Reply> {
    let name = user.unwrap_or(DEFAULT_USER);
    let epoch = ctx.node.sm.acl_epoch();
    let found = effective_user(ctx, name);
    if user.is_none() && found.as_ref().is_some_and(|u| u.nopass) {
        return Err(Reply::err(
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        ));
    }
    match found {
        Some(u) if u.enabled && u.password_matches(&digest(pass)) => {
            Ok(session_user(Bytes::copy_from_slice(name), u, epoch))
        }
        _ => {
            let who = String::from_utf8_lossy(name);
            ctx.acl_log.record(Denial {
                reason: Reason::Auth,
                context: Context::TopLevel,
                object: "AUTH",
                username: &who,
                client_info: super::conn::client_line(ctx, conn.id).trim_end().to_string(),
            });
            ctx.stats
                .acl_denied_auth
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(Reply::err(
                "WRONGPASS invalid username-password pair or user is disabled.",
            ))
        }
    }
}

/// Checks a parsed command against the connection's user, and makes a limited user's
/// scripts carry that user into the log, so their `redis.call`s are checked too.
pub fn authorize(
    entry: Entry,
    args: &[Bytes],
    cmd: Command,
    conn: &ConnState,
    ctx: &ServerCtx,
    context: Context,
) -> Result<Command, Reply> {
    let Some(perms) = &conn.user.perms else {
        return Ok(cmd);
    };
    let deny = |reason: Reason, object: &str, reply: Reply| {
        ctx.acl_log.record(Denial {
            reason,
            context,
            object,
            username: &String::from_utf8_lossy(&conn.user.name),
            client_info: super::conn::client_line(ctx, conn.id).trim_end().to_string(),
        });
        let counter = match reason {
            Reason::Command => &ctx.stats.acl_denied_cmd,
            Reason::Key => &ctx.stats.acl_denied_key,
            Reason::Auth => &ctx.stats.acl_denied_auth,
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Err(reply)
    };
    // AUTH, HELLO, QUIT, RESET: always allowed, as in Redis.
    if entry.flags().contains(&"no_auth") {
        return Ok(cmd);
    }
    let name = entry.name();
    let sub = if entry.has_subcommands() {
        args.get(1).map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
    } else {
        None
    };
    if !perms.can_run(name, sub.as_deref()) {
        let shown = match &sub {
            Some(s) => format!("{name}|{s}"),
            None => name.to_string(),
        };
        let reply = Reply::err(format!(
            "NOPERM User {} has no permissions to run the '{shown}' command",
            args::show(&conn.user.name)
        ));
        return deny(Reason::Command, &shown, reply);
    }
    let skip_keys = name == "lock" && mutation::active(Mutation::AclSkipLockKeys);
    if !skip_keys {
        if let Some(k) = cmd.keys().into_iter().find(|k| !perms.can_access(k)) {
            return deny(
                Reason::Key,
                &args::show(k),
                Reply::err("NOPERM No permissions to access a key"),
            );
        }
    }
    let user = conn.user.name.clone();
    Ok(match cmd {
        Command::Write(Op::Data(c @ DataCmd::Eval { .. }), shape) => {
            Command::Write(Op::Scripted { user, cmd: c }, shape)
        }
        Command::Read(ReadQuery::Data(c @ DataCmd::Eval { .. }), shape) => {
            Command::Read(ReadQuery::DataAs { user, cmd: c }, shape)
        }
        other => other,
    })
}

/// Whether a command runs a script (refused inside MULTI for a limited user: a
/// transaction's entry carries no user to check its `redis.call`s against).
pub fn is_script(cmd: &Command) -> bool {
    matches!(
        cmd,
        Command::Write(Op::Data(DataCmd::Eval { .. }), _) | Command::Read(ReadQuery::Data(DataCmd::Eval { .. }), _)
    )
}

pub fn execute(c: AclCmd, conn: &ConnState, ctx: &Arc<ServerCtx>) -> Dispatched {
    let node = ctx.node.clone();
    match c {
        AclCmd::SetUser { user, rules } => {
            let if_absent = if user.as_ref() == DEFAULT_USER {
                default_base(ctx)
            } else {
                Vec::new()
            };
            let op = Op::AclSetUser { user, if_absent, rules };
            Dispatched::later(super::outcome::write(node, op, Shape::Plain))
        }
        AclCmd::DelUser(users) if users.iter().any(|u| u.as_ref() == DEFAULT_USER) => {
            Dispatched::Now(Reply::err("ERR The 'default' user cannot be removed"))
        }
        AclCmd::DelUser(users) => {
            Dispatched::later(super::outcome::write(node, Op::AclDelUser { users }, Shape::Plain))
        }
        AclCmd::GetUser(name) => with_table(ctx, move |t, ctx| match user_in(t, &name, ctx) {
            Some(u) => getuser(&u),
            None => Reply::Nil,
        }),
        AclCmd::List => with_table(ctx, |t, ctx| {
            Reply::Array(
                all_users(t, ctx)
                    .into_iter()
                    .map(|(n, u)| Reply::Bulk([b"user ", n.as_ref(), b" ", &u.describe()].concat().into()))
                    .collect(),
            )
        }),
        AclCmd::Users => with_table(ctx, |t, ctx| {
            Reply::Array(all_users(t, ctx).into_iter().map(|(n, _)| Reply::Bulk(n)).collect())
        }),
        AclCmd::WhoAmI => Dispatched::Now(Reply::Bulk(conn.user.name.clone())),
        AclCmd::Cat(None) => Dispatched::Now(Reply::Array(CATEGORIES.iter().map(|c| Reply::text(c)).collect())),
        AclCmd::Cat(Some(cat)) if !CATEGORIES.contains(&cat.as_str()) => {
            Dispatched::Now(Reply::err(format!("ERR Unknown category '{cat}'")))
        }
        AclCmd::Cat(Some(cat)) => Dispatched::Now(Reply::Array(commands_in(&cat).map(Reply::text).collect())),
        AclCmd::Log(LogArg::Reset) => {
            ctx.acl_log.reset();
            Dispatched::Now(Reply::ok())
        }
        AclCmd::Log(LogArg::Newest(n)) => Dispatched::Now(log_reply(ctx, n)),
    }
}

/// Runs `f` on the users as of a linearizable read.
fn with_table(ctx: &Arc<ServerCtx>, f: impl FnOnce(&AclTable, &ServerCtx) -> Reply + Send + 'static) -> Dispatched {
    let ctx = ctx.clone();
    Dispatched::later(async move {
        match ctx.node.read(ReadQuery::Acl).await {
            Ok(ReadAnswer::Acl(t)) => f(&t, &ctx),
            Ok(other) => Reply::err(format!("ERR internal: ACL read answered {other:?}")),
            Err(e) => super::outcome::node_error(e, &[]),
        }
    })
}

/// Every user in name order, `default` included whether or not it was changed.
fn all_users(t: &AclTable, ctx: &ServerCtx) -> Vec<(Bytes, AclUser)> {
    let mut users: Vec<(Bytes, AclUser)> = t.iter().map(|(n, u)| (n.clone(), u.clone())).collect();
    if t.get(DEFAULT_USER).is_none() {
        users.push((
            Bytes::from_static(DEFAULT_USER),
            AclUser::config_default(requirepass_digest(ctx)),
        ));
    }
    users.sort_by(|a, b| a.0.cmp(&b.0));
    users
}

/// ACL GETUSER's reply, in Redis 7's shape.
fn getuser(u: &AclUser) -> Reply {
    let mut flags = vec![Reply::text(if u.enabled { "on" } else { "off" })];
    if u.nopass {
        flags.push(Reply::text("nopass"));
    }
    Reply::map(vec![
        ("flags", Reply::Array(flags)),
        (
            "passwords",
            Reply::Array(u.passwords.iter().map(|h| Reply::text(&hex(h))).collect()),
        ),
        ("commands", Reply::text(&u.describe_commands())),
        ("keys", Reply::Bulk(u.describe_keys().into())),
        ("channels", Reply::text("")),
        ("selectors", Reply::Array(vec![])),
    ])
}

fn log_reply(ctx: &ServerCtx, n: Option<usize>) -> Reply {
    Reply::Array(
        ctx.acl_log
            .newest(n)
            .into_iter()
            .map(|e| {
                Reply::map(vec![
                    ("count", Reply::Int(e.count as i64)),
                    ("reason", Reply::text(e.reason.name())),
                    ("context", Reply::text(e.context.name())),
                    ("object", Reply::text(&e.object)),
                    ("username", Reply::text(&e.username)),
                    ("age-seconds", Reply::Double(e.age_seconds())),
                    ("client-info", Reply::text(&e.client_info)),
                    ("entry-id", Reply::Int(e.entry_id as i64)),
                    ("timestamp-created", Reply::Int(e.created_ms as i64)),
                    ("timestamp-last-updated", Reply::Int(e.updated_ms as i64)),
                ])
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(words: &[&str]) -> Result<Vec<AclRule>, String> {
        parse_rules(&args::words(words)).map_err(|r| match r {
            Reply::Error(e) => e,
            other => format!("{other:?}"),
        })
    }

    #[test]
    fn passwords_become_digests_and_categories_commands() {
        let r = rules(&["on", ">s3cret", "~orders:*", "+@lock"]).expect("parses");
        assert_eq!(r[0], AclRule::On);
        assert_eq!(r[1], AclRule::AddHash(digest(b"s3cret")));
        assert_eq!(r[2], AclRule::Keys("orders:*".into()));
        assert_eq!(r[3], AclRule::Allow("lock".into()));
        assert_eq!(r.len(), 4);
        let raft = rules(&["-@raft"]).expect("parses");
        assert_eq!(raft, vec![AclRule::Deny("raft".into())]);
        let hash = "a".repeat(64);
        assert!(rules(&[&format!("#{hash}")]).is_ok());
        assert_eq!(rules(&["+lock|info", "-lock|release"]).expect("parses").len(), 2);
    }

    #[test]
    fn bad_rules_name_the_modifier() {
        assert_eq!(
            rules(&["+@nosuch"]).expect_err("unknown category"),
            "ERR Error in ACL SETUSER modifier '+@nosuch': Unknown command or category name in ACL"
        );
        assert_eq!(
            rules(&["+nosuch"]).expect_err("unknown command"),
            "ERR Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL"
        );
        assert!(rules(&["#abc"]).expect_err("short hash").contains("exactly 64"));
        assert!(rules(&[&format!("#{}", "A".repeat(64))])
            .expect_err("upper-case hash")
            .contains("lowercase"));
        assert!(rules(&["bogus"]).expect_err("syntax").ends_with("Syntax error"));
        assert!(rules(&["+get|x"]).is_err(), "GET has no subcommands");
    }

    #[test]
    fn every_command_has_categories_and_every_category_is_known() {
        for e in table::all() {
            assert!(!e.categories().is_empty(), "{} has no ACL category", e.name());
            for c in e.categories() {
                assert!(CATEGORIES.contains(c), "{} names unknown category {c}", e.name());
            }
        }
        for cat in CATEGORIES {
            assert!(commands_in(cat).next().is_some(), "category {cat} is empty");
        }
    }

    #[test]
    fn subcommands_parse() {
        let p = |w: &[&str]| parse(&args::words(w), &Limits { max_value_bytes: 16 });
        assert!(matches!(p(&["whoami"]), Ok(Command::Acl(AclCmd::WhoAmI))));
        assert!(matches!(
            p(&["log", "reset"]),
            Ok(Command::Acl(AclCmd::Log(LogArg::Reset)))
        ));
        assert!(matches!(
            p(&["log", "5"]),
            Ok(Command::Acl(AclCmd::Log(LogArg::Newest(Some(5)))))
        ));
        assert!(p(&["log", "x"]).is_err());
        assert!(p(&["getuser"]).is_err());
        assert!(p(&["setuser", "a b"]).is_err());
        assert!(p(&["nope"]).is_err());
    }
}
