//! What COMMAND reports about each command: arity, flags, key positions, a summary.
//! Cluster-aware clients use the key positions to route requests.

/// One command as COMMAND INFO / DOCS describe it.
pub struct CommandSpec {
    pub name: &'static str,
    /// Redis convention: positive = exact argument count (name included), negative = at least.
    pub arity: i64,
    pub flags: &'static [&'static str],
    pub first_key: i64,
    pub last_key: i64,
    pub step: i64,
    pub group: &'static str,
    pub summary: &'static str,
}

const fn spec(
    name: &'static str,
    arity: i64,
    flags: &'static [&'static str],
    key: i64,
    group: &'static str,
    summary: &'static str,
) -> CommandSpec {
    let step = if key > 0 { 1 } else { 0 };
    CommandSpec {
        name,
        arity,
        flags,
        first_key: key,
        last_key: key,
        step,
        group,
        summary,
    }
}

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "lock",
        -3,
        &["write"],
        2,
        "fencepost",
        "Leases with fencing tokens: ACQUIRE, RELEASE, EXTEND, INFO",
    ),
    spec(
        "fence",
        -3,
        &["write"],
        2,
        "fencepost",
        "Fencing gates: ADVANCE, SET, GET",
    ),
    spec(
        "tokenbucket",
        -5,
        &["write"],
        1,
        "fencepost",
        "Token-bucket rate limiting",
    ),
    spec(
        "idemp",
        -3,
        &["write"],
        2,
        "fencepost",
        "Idempotency keys: BEGIN, COMPLETE, ABORT, GET",
    ),
    spec(
        "raft",
        -2,
        &["admin"],
        0,
        "fencepost",
        "Raft cluster: INFO, ADD, REMOVE, SNAPSHOT, TRANSFER",
    ),
    spec("ping", -1, &["fast"], 0, "connection", "Returns PONG or the argument"),
    spec("echo", 2, &["fast"], 0, "connection", "Returns the argument"),
    spec(
        "hello",
        -1,
        &["fast", "no_auth"],
        0,
        "connection",
        "Handshake: protocol version, auth, name",
    ),
    spec(
        "auth",
        -2,
        &["fast", "no_auth"],
        0,
        "connection",
        "Authenticates the connection",
    ),
    spec(
        "select",
        2,
        &["fast"],
        0,
        "connection",
        "Selects database 0 (the only one)",
    ),
    spec(
        "quit",
        -1,
        &["fast", "no_auth"],
        0,
        "connection",
        "Closes the connection",
    ),
    spec(
        "reset",
        1,
        &["fast", "no_auth"],
        0,
        "connection",
        "Resets the connection state",
    ),
    spec(
        "client",
        -2,
        &["admin"],
        0,
        "connection",
        "Connection management: ID, SETNAME, GETNAME, SETINFO, INFO, LIST",
    ),
    spec("command", -1, &["loading"], 0, "server", "Describes the commands"),
    spec(
        "info",
        -1,
        &["loading"],
        0,
        "server",
        "Server information and statistics",
    ),
    spec(
        "dbsize",
        1,
        &["readonly", "fast"],
        0,
        "server",
        "Number of live objects",
    ),
    spec(
        "cluster",
        -2,
        &[],
        0,
        "cluster",
        "Cluster topology: INFO, MYID, SLOTS, SHARDS, NODES",
    ),
];

pub fn find(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|c| c.name.eq_ignore_ascii_case(name))
}
