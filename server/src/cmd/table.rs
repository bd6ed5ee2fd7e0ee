//! The command table: for each command its parser and what COMMAND reports (arity,
//! flags, key positions, a summary; cluster-aware clients route by the key positions).
//! fencepost's own commands and connection commands are listed here; the Redis data
//! commands come from the state machine's table (`sm::data::parse`), which scripts use
//! too, so a command parses the same from a client or from `redis.call`.

use bytes::Bytes;

use super::{bucket, conn, data, fence, idemp, lock, multi, Command, Limits};
use crate::reply::Reply;
use crate::sm::data::parse::{self as data_parse, DataSpec};

/// Parses the arguments after the command's name.
pub type ParseFn = fn(&[Bytes], &Limits) -> Result<Command, Reply>;

/// One of fencepost's own commands or a connection command.
pub struct CommandSpec {
    pub name: &'static str,
    /// Redis convention: positive = exact argument count (name included), negative = at least.
    pub arity: i64,
    pub flags: &'static [&'static str],
    /// ACL categories (without the `@`): `ACL CAT`, `+@category` and COMMAND read them.
    pub acl: &'static [&'static str],
    pub first_key: i64,
    pub last_key: i64,
    pub step: i64,
    pub group: &'static str,
    pub summary: &'static str,
    pub parse: ParseFn,
}

// One argument per column of the table, named at each call by its position in the
// listing above: a builder would spread each row over twice the lines.
#[allow(clippy::too_many_arguments)]
const fn spec(
    name: &'static str,
    arity: i64,
    flags: &'static [&'static str],
    acl: &'static [&'static str],
    key: i64,
    group: &'static str,
    summary: &'static str,
    parse: ParseFn,
) -> CommandSpec {
    let step = if key > 0 { 1 } else { 0 };
    CommandSpec {
        name,
        arity,
        flags,
        acl,
        first_key: key,
        last_key: key,
        step,
        group,
        summary,
        parse,
    }
}

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "lock",
        -3,
        &["write"],
        &["lock", "write", "fast"],
        2,
        "fencepost",
        "Leases with fencing tokens: ACQUIRE, RELEASE, EXTEND, INFO",
        lock::parse,
    ),
    spec(
        "fence",
        -3,
        &["write"],
        &["fence", "write", "fast"],
        2,
        "fencepost",
        "Fencing gates: ADVANCE, SET, GET",
        fence::parse,
    ),
    spec(
        "tokenbucket",
        -5,
        &["write"],
        &["ratelimit", "write", "fast"],
        1,
        "fencepost",
        "Token-bucket rate limiting",
        bucket::parse,
    ),
    spec(
        "cl.throttle",
        -5,
        &["write"],
        &["ratelimit", "write", "fast"],
        1,
        "fencepost",
        "redis-cell's rate limiter on the token-bucket engine",
        bucket::parse_throttle,
    ),
    spec(
        "idemp",
        -3,
        &["write"],
        &["idemp", "write", "fast"],
        2,
        "fencepost",
        "Idempotency keys: BEGIN, COMPLETE, ABORT, GET",
        idemp::parse,
    ),
    spec(
        "semaphore",
        -3,
        &["write"],
        &["coord", "write", "fast"],
        2,
        "fencepost",
        "Permits with fencing tokens (a shared bulkhead): ACQUIRE, RELEASE, EXTEND, INFO",
        super::semaphore::parse,
    ),
    spec(
        "rwlock",
        -3,
        &["write"],
        &["coord", "write", "fast"],
        2,
        "fencepost",
        "Read-write locks with fencing tokens: READ, WRITE, RELEASE, EXTEND, INFO",
        super::rwlock::parse,
    ),
    spec(
        "ratelimit",
        -5,
        &["write"],
        &["ratelimit", "write", "fast"],
        2,
        "fencepost",
        "Exact sliding-window rate limiting: SLIDING",
        super::ratelimit::parse,
    ),
    spec(
        "raft",
        -2,
        &["admin"],
        &["raft", "admin", "dangerous", "slow"],
        0,
        "fencepost",
        "Raft cluster: INFO, ADD, REMOVE, SNAPSHOT, TRANSFER",
        super::admin::parse,
    ),
    spec(
        "acl",
        -2,
        &["admin"],
        &["admin", "dangerous", "slow"],
        0,
        "server",
        "Users and permissions: SETUSER, GETUSER, DELUSER, LIST, USERS, WHOAMI, CAT, LOG",
        super::acl::parse,
    ),
    spec(
        "config",
        -2,
        &["admin", "loading"],
        &["admin", "slow", "dangerous"],
        0,
        "server",
        "The effective configuration: GET",
        super::ops::parse_config,
    ),
    spec(
        "shutdown",
        -1,
        &["admin", "noscript"],
        &["admin", "slow", "dangerous"],
        0,
        "server",
        "Shuts the node down as SIGTERM does (leadership handed off first)",
        super::ops::parse_shutdown,
    ),
    spec(
        "monitor",
        1,
        &["admin", "noscript"],
        &["admin", "slow", "dangerous"],
        0,
        "server",
        "Streams every command this node serves",
        super::ops::parse_monitor,
    ),
    spec(
        "ping",
        -1,
        &["fast"],
        &["connection", "fast"],
        0,
        "connection",
        "Returns PONG or the argument",
        conn::parse_ping,
    ),
    spec(
        "echo",
        2,
        &["fast"],
        &["connection", "fast"],
        0,
        "connection",
        "Returns the argument",
        conn::parse_echo,
    ),
    spec(
        "hello",
        -1,
        &["fast", "no_auth"],
        &["connection", "fast"],
        0,
        "connection",
        "Handshake: protocol version, auth, name",
        conn::parse_hello,
    ),
    spec(
        "auth",
        -2,
        &["fast", "no_auth"],
        &["connection", "fast"],
        0,
        "connection",
        "Authenticates the connection",
        conn::parse_auth,
    ),
    spec(
        "select",
        2,
        &["fast"],
        &["connection", "fast"],
        0,
        "connection",
        "Selects database 0 (the only one)",
        conn::parse_select,
    ),
    spec(
        "quit",
        -1,
        &["fast", "no_auth"],
        &["connection", "fast"],
        0,
        "connection",
        "Closes the connection",
        conn::parse_quit,
    ),
    spec(
        "reset",
        1,
        &["fast", "no_auth"],
        &["connection", "fast"],
        0,
        "connection",
        "Resets the connection state",
        conn::parse_reset,
    ),
    spec(
        "client",
        -2,
        &["admin"],
        &["connection", "slow"],
        0,
        "connection",
        "Connection management: ID, SETNAME, GETNAME, SETINFO, INFO, LIST",
        conn::parse_client,
    ),
    spec(
        "command",
        -1,
        &["loading"],
        &["connection", "slow"],
        0,
        "server",
        "Describes the commands",
        conn::parse_command,
    ),
    spec(
        "info",
        -1,
        &["loading"],
        &["slow", "dangerous"],
        0,
        "server",
        "Server information and statistics",
        conn::parse_info,
    ),
    spec(
        "dbsize",
        1,
        &["readonly", "fast"],
        &["keyspace", "read", "fast"],
        0,
        "server",
        "Number of live objects",
        data::parse_dbsize,
    ),
    spec(
        "cluster",
        -2,
        &[],
        &["slow"],
        0,
        "cluster",
        "Cluster topology: INFO, MYID, SLOTS, SHARDS, NODES",
        conn::parse_cluster,
    ),
    spec(
        "multi",
        1,
        &["fast"],
        &["transaction", "fast"],
        0,
        "transactions",
        "Starts a transaction",
        multi::parse_multi,
    ),
    spec(
        "exec",
        1,
        &["write"],
        &["transaction", "slow"],
        0,
        "transactions",
        "Applies the queued commands as one log entry",
        multi::parse_exec,
    ),
    spec(
        "discard",
        1,
        &["fast"],
        &["transaction", "fast"],
        0,
        "transactions",
        "Drops the queued commands",
        multi::parse_discard,
    ),
    spec(
        "watch",
        -2,
        &["fast"],
        &["transaction", "fast"],
        1,
        "transactions",
        "EXEC only if these keys are unchanged",
        multi::parse_watch,
    ),
    spec(
        "unwatch",
        1,
        &["fast"],
        &["transaction", "fast"],
        0,
        "transactions",
        "Forgets the watched keys",
        multi::parse_unwatch,
    ),
];

/// Every ACL category, Redis's and fencepost's, in the order ACL CAT lists them.
pub const CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "string",
    "hash",
    "list",
    "sortedset",
    "scripting",
    "transaction",
    "connection",
    "admin",
    "dangerous",
    "fast",
    "slow",
    "lock",
    "fence",
    "ratelimit",
    "idemp",
    "coord",
    "raft",
];

/// A Redis data command's categories, from what its table entry declares (group,
/// read or write), as Redis files them.
fn data_categories(s: &DataSpec) -> &'static [&'static str] {
    match (s.group, s.write, s.name) {
        (_, _, "keys") => &["keyspace", "read", "slow", "dangerous"],
        (_, _, "scan") => &["keyspace", "read", "slow"],
        ("generic", true, _) => &["keyspace", "write", "slow"],
        ("generic", false, _) => &["keyspace", "read", "fast"],
        ("string", true, _) => &["string", "write", "fast"],
        ("string", false, _) => &["string", "read", "fast"],
        ("hash", true, _) => &["hash", "write", "fast"],
        ("hash", false, _) => &["hash", "read", "fast"],
        ("list", true, _) => &["list", "write", "fast"],
        ("list", false, _) => &["list", "read", "fast"],
        ("sorted-set", true, _) => &["sortedset", "write", "fast"],
        ("sorted-set", false, _) => &["sortedset", "read", "fast"],
        ("scripting", _, _) => &["scripting", "slow"],
        _ => &["fast"],
    }
}

/// Every operation that changes replicated state, as `(command, subcommand)`; the
/// subcommand is empty for a command that is one operation (TOKENBUCKET, SET...).
/// The fault harness must call each one under faults: its coverage test
/// (`jepsen/tests/coverage.rs`) compares this list with jepsen/README.md, and the test
/// below keeps the list complete against the table's `write` flags, so a new
/// state-changing command cannot land without a workload.
pub const STATE_CHANGES: &[(&str, &[&str])] = &[
    ("lock", &["ACQUIRE", "RELEASE", "EXTEND"]),
    ("fence", &["ADVANCE", "SET"]),
    ("tokenbucket", &[""]),
    ("cl.throttle", &[""]),
    ("idemp", &["BEGIN", "COMPLETE", "ABORT"]),
    ("semaphore", &["ACQUIRE", "RELEASE", "EXTEND"]),
    ("rwlock", &["READ", "WRITE", "RELEASE", "EXTEND"]),
    ("ratelimit", &["SLIDING"]),
    ("raft", &["ADD", "REMOVE"]),
    ("acl", &["SETUSER", "DELUSER"]),
    // MULTI ... EXEC: the queued data commands apply in one entry.
    ("exec", &[""]),
];

/// A command as the table knows it.
#[derive(Clone, Copy)]
pub enum Entry {
    Native(&'static CommandSpec),
    Data(&'static DataSpec),
}

const WRITE: &[&str] = &["write"];
const READONLY: &[&str] = &["readonly"];

impl Entry {
    pub fn name(&self) -> &'static str {
        match self {
            Entry::Native(s) => s.name,
            Entry::Data(s) => s.name,
        }
    }
    pub fn arity(&self) -> i64 {
        match self {
            Entry::Native(s) => s.arity,
            Entry::Data(s) => s.arity,
        }
    }
    pub fn flags(&self) -> &'static [&'static str] {
        match self {
            Entry::Native(s) => s.flags,
            Entry::Data(s) if s.write => WRITE,
            Entry::Data(_) => READONLY,
        }
    }
    /// (first key, last key, step), Redis's COMMAND INFO key specification.
    pub fn keys(&self) -> (i64, i64, i64) {
        match self {
            Entry::Native(s) => (s.first_key, s.last_key, s.step),
            Entry::Data(s) => (s.first_key, s.last_key, s.step),
        }
    }
    /// ACL categories, without the `@`.
    pub fn categories(&self) -> &'static [&'static str] {
        match self {
            Entry::Native(s) => s.acl,
            Entry::Data(s) => data_categories(s),
        }
    }
    /// Commands with subcommands are checked as `name|sub` too (`+lock|info`).
    pub fn has_subcommands(&self) -> bool {
        matches!(
            self.name(),
            "lock"
                | "fence"
                | "idemp"
                | "semaphore"
                | "rwlock"
                | "ratelimit"
                | "raft"
                | "acl"
                | "config"
                | "client"
                | "cluster"
                | "command"
                | "script"
        )
    }
    pub fn group(&self) -> &'static str {
        match self {
            Entry::Native(s) => s.group,
            Entry::Data(s) => s.group,
        }
    }
    pub fn summary(&self) -> &'static str {
        match self {
            Entry::Native(s) => s.summary,
            Entry::Data(s) => s.summary,
        }
    }
}

/// The entry for a command name, any case.
pub fn lookup(name: &[u8]) -> Option<Entry> {
    COMMANDS
        .iter()
        .find(|c| c.name.as_bytes().eq_ignore_ascii_case(name))
        .map(Entry::Native)
        .or_else(|| data_parse::lookup(name).map(Entry::Data))
}

/// The command's position in [`all`] (the slot of its `/metrics` counters).
pub fn slot(name: &[u8]) -> Option<usize> {
    let native = COMMANDS
        .iter()
        .position(|c| c.name.as_bytes().eq_ignore_ascii_case(name));
    native.or_else(|| {
        data_parse::DATA_COMMANDS
            .iter()
            .position(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
            .map(|i| COMMANDS.len() + i)
    })
}

/// Every command, fencepost's own first.
pub fn all() -> impl Iterator<Item = Entry> {
    COMMANDS
        .iter()
        .map(Entry::Native)
        .chain(data_parse::DATA_COMMANDS.iter().map(Entry::Data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_write_command_is_in_the_state_change_list() {
        for c in COMMANDS.iter().filter(|c| c.flags.contains(&"write")) {
            assert!(
                STATE_CHANGES.iter().any(|(n, _)| *n == c.name),
                "{} changes state: list it in STATE_CHANGES and cover it in the harness",
                c.name
            );
        }
        for (name, subs) in STATE_CHANGES {
            let e = lookup(name.as_bytes()).unwrap_or_else(|| panic!("{name} is not a command"));
            assert_eq!(e.has_subcommands(), subs.iter().all(|s| !s.is_empty()), "{name}");
        }
    }

    #[test]
    fn every_command_has_a_metrics_slot_and_one_is_left_for_unknown_names() {
        assert!(all().count() < crate::metrics::COMMAND_SLOTS);
        for (i, e) in all().enumerate() {
            assert_eq!(slot(e.name().as_bytes()), Some(i), "{}", e.name());
        }
        assert_eq!(slot(b"NOSUCH"), None);
    }
}
