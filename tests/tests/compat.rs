//! Redis compatibility: what clients send on their own (SPEC.md "Redis compatibility"),
//! RAFT INFO, argument errors, pipelining.

use std::time::Duration;

use fencepost_tests::*;

#[test]
fn ping_and_echo() {
    let s = TestServer::start();
    assert_eq!(s.cli(&["PING"]), "PONG\n");
    assert_eq!(s.cli3(&["PING"]), "PONG\n");
    assert_eq!(s.cli(&["PING", "hello world"]), "\"hello world\"\n");
    assert_eq!(s.cli(&["ECHO", "hi"]), "\"hi\"\n");
    assert_eq!(s.cli3(&["ECHO", "hi"]), "\"hi\"\n");
    let mut c = s.conn();
    assert_eq!(c.cmd(&["PING"]), simple("PONG"));
    assert_eq!(c.cmd(&["ping"]), simple("PONG"), "command names are case-insensitive");
    assert_eq!(c.cmd(&["PING", "x"]), bulk("x"));
    assert_eq!(
        c.cmd_bytes(&[b"ECHO", b"a\x00\r\nb"]),
        Reply::Bulk(b"a\x00\r\nb".to_vec())
    );
    assert_eq!(c.cmd(&["EcHo", ""]), bulk(""));
    for bad in [&["ECHO"][..], &["ECHO", "a", "b"], &["PING", "a", "b"]] {
        let r = c.cmd(bad);
        assert!(r.is_err_with("ERR "), "{bad:?} -> {r:?}");
        assert_eq!(c.cmd(&["PING"]), simple("PONG"));
    }
}

#[test]
fn hello_2_and_3() {
    let s = TestServer::start();
    let mut c = s.conn();
    let r = c.cmd(&["HELLO", "3"]);
    let m = match &r {
        Reply::Map(m) => m.clone(),
        other => panic!("HELLO 3 -> {other:?}, want a RESP3 map"),
    };
    let keys: Vec<String> = m.iter().map(|(k, _)| k.text()).collect();
    for k in ["server", "version", "proto"] {
        assert!(keys.iter().any(|x| x == k), "HELLO 3 has no {k}: {r:?}");
    }
    assert_eq!(r.field("proto"), Some(int(3)), "{r:?}");
    assert!(!r.field("server").expect("server").text().is_empty());
    assert!(!r.field("version").expect("version").text().is_empty());
    // After HELLO 3 replies are RESP3: nil is `_`, which we parse as Nil, and PING
    // still answers.
    assert_eq!(c.cmd(&["PING"]), simple("PONG"));
    // Back to RESP2: a flat array.
    let r = c.cmd(&["HELLO", "2"]);
    assert!(matches!(r, Reply::Array(_)), "HELLO 2 -> {r:?}, want a flat array");
    assert_eq!(r.field("proto"), Some(int(2)), "{r:?}");
    // HELLO with no version: current protocol, no switch.
    let r = c.cmd(&["HELLO"]);
    assert_eq!(r.field("proto"), Some(int(2)), "{r:?}");
    // redis-cli -3 sends HELLO 3 itself; show it.
    let out = s.cli3(&["HELLO", "3"]);
    assert!(out.starts_with("1# \"server\" => \""), "{out:?}");
    assert!(out.contains("# \"version\" => \""), "{out:?}");
    assert!(out.contains("# \"proto\" => (integer) 3\n"), "{out:?}");
    // HELLO ... SETNAME
    let mut c2 = s.conn();
    let r = c2.cmd(&["HELLO", "3", "SETNAME", "myconn"]);
    assert!(matches!(r, Reply::Map(_)), "{r:?}");
    assert_eq!(c2.cmd(&["CLIENT", "GETNAME"]), bulk("myconn"));
    // Unsupported protocol version: an error, connection usable.
    let r = c2.cmd(&["HELLO", "4"]);
    assert!(matches!(r, Reply::Error(_)), "HELLO 4 -> {r:?}");
    assert_eq!(c2.cmd(&["PING"]), simple("PONG"));
}

#[test]
fn auth_and_requirepass() {
    let s = TestServer::builder().password("s3cret").start();
    // Not authenticated: data commands are refused, PING is served.
    let mut c = s.conn_noauth();
    let r = c.cmd(&["LOCK", "INFO", "x"]);
    assert!(r.is_err_with("NOAUTH"), "{r:?}");
    let r = c.cmd(&["ECHO", "x"]);
    assert!(r.is_err_with("NOAUTH"), "ECHO before AUTH -> {r:?}");
    assert_eq!(c.cmd(&["PING"]), simple("PONG"));
    let r = c.cmd(&["AUTH", "wrong"]);
    assert!(r.is_err_with("WRONGPASS"), "{r:?}");
    let r = c.cmd(&["AUTH", "default", "wrong"]);
    assert!(r.is_err_with("WRONGPASS"), "{r:?}");
    let r = c.cmd(&["LOCK", "INFO", "x"]);
    assert!(r.is_err_with("NOAUTH"), "still not authenticated: {r:?}");
    assert_eq!(c.cmd(&["AUTH", "s3cret"]), Reply::ok());
    assert_eq!(c.cmd(&["LOCK", "INFO", "x"]), Reply::Nil);
    // AUTH <user> <pass> with the default user.
    let mut c = s.conn_noauth();
    assert_eq!(c.cmd(&["AUTH", "default", "s3cret"]), Reply::ok());
    assert_eq!(c.cmd(&["FENCE", "GET", "x"]), Reply::Nil);
    // HELLO 3 AUTH.
    let mut c = s.conn_noauth();
    let r = c.cmd(&["HELLO", "3", "AUTH", "default", "wrong"]);
    assert!(r.is_err_with("WRONGPASS"), "{r:?}");
    let r = c.cmd(&["HELLO", "3", "AUTH", "default", "s3cret"]);
    assert_eq!(r.field("proto"), Some(int(3)), "{r:?}");
    assert_eq!(c.cmd(&["LOCK", "INFO", "x"]), Reply::Nil);
    // redis-cli without and with -a.
    let out = s.cli(&["LOCK", "INFO", "x"]);
    assert!(out.starts_with("(error) NOAUTH"), "{out:?}");
    assert_eq!(
        s.cli_opts(&["-a", "s3cret", "--no-auth-warning"], &["LOCK", "INFO", "x"]),
        "(nil)\n"
    );
    assert_eq!(
        s.cli_opts(&["-a", "s3cret", "--no-auth-warning", "-3"], &["LOCK", "INFO", "x"]),
        "(nil)\n"
    );
    // redis-cli prints the AUTH failure on stderr and then runs the command unauthenticated.
    let out = s.cli_opts(&["-a", "nope", "--no-auth-warning"], &["LOCK", "INFO", "x"]);
    assert!(out.starts_with("(error) NOAUTH"), "{out:?}");
    // QUIT is served before AUTH.
    let mut c = s.conn_noauth();
    assert_eq!(c.cmd(&["QUIT"]), Reply::ok());
    assert!(
        c.wait_closed(Duration::from_secs(3)).is_ok(),
        "QUIT did not close the connection"
    );
}

#[test]
fn select_quit_reset() {
    let s = TestServer::start();
    assert_eq!(s.cli(&["SELECT", "0"]), "OK\n");
    let mut c = s.conn();
    assert_eq!(c.cmd(&["SELECT", "0"]), Reply::ok());
    let r = c.cmd(&["SELECT", "1"]);
    assert!(r.is_err_with("ERR "), "SELECT 1 -> {r:?}");
    let r = c.cmd(&["SELECT", "zero"]);
    assert!(r.is_err_with("ERR "), "{r:?}");
    assert_eq!(c.cmd(&["PING"]), simple("PONG"));
    // RESET: back to RESP2, no name.
    let name = uniq("rs");
    let t = c.cmd(&["LOCK", "ACQUIRE", &name, "o", "60000"]).int();
    assert_eq!(c.cmd(&["HELLO", "3"]).field("proto"), Some(int(3)));
    assert_eq!(c.cmd(&["CLIENT", "SETNAME", "before-reset"]), Reply::ok());
    assert!(matches!(c.cmd(&["LOCK", "INFO", &name]), Reply::Map(_)));
    assert_eq!(c.cmd(&["RESET"]), simple("RESET"));
    assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), Reply::Nil);
    let r = c.cmd(&["LOCK", "INFO", &name]);
    assert!(
        matches!(r, Reply::Array(ref v) if v.len() == 8),
        "RESP2 after RESET: {r:?}"
    );
    assert_eq!(r.field("token"), Some(int(t)));
    // QUIT: +OK and closed.
    assert_eq!(c.cmd(&["QUIT"]), Reply::ok());
    assert!(
        c.wait_closed(Duration::from_secs(3)).is_ok(),
        "QUIT did not close the connection"
    );
}

#[test]
fn reset_drops_authentication() {
    let s = TestServer::builder().password("pw").start();
    let mut c = s.conn();
    assert_eq!(c.cmd(&["LOCK", "INFO", "x"]), Reply::Nil);
    assert_eq!(c.cmd(&["RESET"]), simple("RESET"));
    let r = c.cmd(&["LOCK", "INFO", "x"]);
    assert!(r.is_err_with("NOAUTH"), "after RESET -> {r:?}");
}

#[test]
fn client_subcommands() {
    let s = TestServer::start();
    let mut c = s.conn();
    let mut c2 = s.conn();
    let id = c.cmd(&["CLIENT", "ID"]).int();
    let id2 = c2.cmd(&["CLIENT", "ID"]).int();
    assert!(id > 0 && id2 > 0 && id != id2, "ids {id} {id2}");
    assert_eq!(c.cmd(&["CLIENT", "ID"]), int(id), "CLIENT ID is stable");
    assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), Reply::Nil);
    assert_eq!(c.cmd(&["CLIENT", "SETNAME", "worker-1"]), Reply::ok());
    assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), bulk("worker-1"));
    assert_eq!(c2.cmd(&["CLIENT", "GETNAME"]), Reply::Nil);
    assert_eq!(c.cmd(&["CLIENT", "SETINFO", "LIB-NAME", "mylib"]), Reply::ok());
    assert_eq!(c.cmd(&["CLIENT", "SETINFO", "LIB-VER", "1.2.3"]), Reply::ok());
    let list = c2.cmd(&["CLIENT", "LIST"]).text();
    let line = list
        .lines()
        .find(|l| l.split(' ').any(|f| f == format!("id={id}")))
        .unwrap_or_else(|| panic!("CLIENT LIST has no id={id}: {list:?}"));
    assert!(line.split(' ').any(|f| f == "name=worker-1"), "{line:?}");
    assert!(
        list.lines().any(|l| l.split(' ').any(|f| f == format!("id={id2}"))),
        "{list:?}"
    );
    let info = c.cmd(&["CLIENT", "INFO"]).text();
    assert!(
        info.split_whitespace().any(|f| f == format!("id={id}")),
        "CLIENT INFO {info:?}"
    );
    assert!(
        info.split_whitespace().any(|f| f == "name=worker-1"),
        "CLIENT INFO {info:?}"
    );
    // redis-cli shows a one-line string for GETNAME of its own fresh connection: nil.
    assert_eq!(s.cli(&["CLIENT", "GETNAME"]), "(nil)\n");
    let out = s.cli(&["CLIENT", "ID"]);
    assert!(out.starts_with("(integer) "), "{out:?}");
    let out = s.cli(&["CLIENT", "LIST"]);
    assert!(out.contains("id="), "{out:?}");
    // Unknown subcommand / bad arity: -ERR, connection usable.
    for bad in [&["CLIENT", "NOPE"][..], &["CLIENT", "SETNAME"], &["CLIENT"]] {
        let r = c.cmd(bad);
        assert!(r.is_err_with("ERR "), "{bad:?} -> {r:?}");
        assert_eq!(c.cmd(&["PING"]), simple("PONG"));
    }
}

const OUR_COMMANDS: [&str; 17] = [
    "lock",
    "fence",
    "tokenbucket",
    "idemp",
    "ping",
    "echo",
    "hello",
    "auth",
    "select",
    "quit",
    "reset",
    "client",
    "command",
    "info",
    "dbsize",
    "cluster",
    "raft",
];

#[test]
fn command_count_list_info_docs() {
    let s = TestServer::start();
    let mut c = s.conn();
    let count = c.cmd(&["COMMAND", "COUNT"]).int();
    assert!(count >= OUR_COMMANDS.len() as i64, "COMMAND COUNT {count}");
    let list = c.cmd(&["COMMAND", "LIST"]);
    let names: Vec<String> = list.items().iter().map(|r| r.text().to_lowercase()).collect();
    assert_eq!(names.len() as i64, count, "COMMAND LIST vs COUNT: {names:?}");
    for n in OUR_COMMANDS {
        assert!(names.iter().any(|x| x == n), "COMMAND LIST lacks {n}: {names:?}");
    }
    // COMMAND INFO: Redis's layout, [name, arity, flags, first, last, step, ...].
    let r = c.cmd(&["COMMAND", "INFO", "LOCK", "TOKENBUCKET"]);
    let items = r.items();
    assert_eq!(items.len(), 2, "{r:?}");
    for (entry, name) in items.iter().zip(["lock", "tokenbucket"]) {
        let e = entry.items();
        assert!(e.len() >= 6, "{entry:?}");
        assert_eq!(e[0].text().to_lowercase(), name);
        let arity = e[1].int();
        assert!(arity != 0, "arity of {name}: {arity}");
    }
    let r = c.cmd(&["COMMAND", "INFO", "nosuchcommand"]);
    assert_eq!(r, arr(vec![Reply::Nil]), "COMMAND INFO of an unknown command");
    // COMMAND DOCS: name -> doc map (flat in RESP2, map in RESP3), mentioning lock.
    let r = c.cmd(&["COMMAND", "DOCS", "LOCK"]);
    let p = r.pairs();
    assert_eq!(p.len(), 1, "{r:?}");
    assert_eq!(p[0].0.to_lowercase(), "lock");
    let mut c3 = s.conn3();
    let r = c3.cmd(&["COMMAND", "DOCS", "FENCE"]);
    assert!(
        matches!(r, Reply::Map(ref m) if m.len() == 1),
        "RESP3 COMMAND DOCS -> {r:?}"
    );
    let all = c.cmd(&["COMMAND", "DOCS"]).pairs();
    for n in ["lock", "fence", "tokenbucket", "idemp"] {
        assert!(all.iter().any(|(k, _)| k.to_lowercase() == n), "COMMAND DOCS lacks {n}");
    }
    let out = s.cli(&["COMMAND", "COUNT"]);
    assert_eq!(out, format!("(integer) {count}\n"));
}

#[test]
fn info_sections_and_dbsize() {
    let s = TestServer::start();
    let mut c = s.conn();
    let text = c.cmd(&["INFO"]).text();
    assert!(
        text.lines().any(|l| l.trim_end() == "loading:0"),
        "INFO lacks loading:0:\n{text}"
    );
    let heads: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("# "))
        .map(|l| l.trim_end().to_lowercase())
        .collect();
    for sec in ["server", "clients", "raft", "stats", "keyspace"] {
        assert!(
            heads.contains(&format!("# {sec}")),
            "INFO lacks section {sec}: {heads:?}"
        );
    }
    // One section.
    let raft = c.cmd(&["INFO", "raft"]).text();
    let heads: Vec<String> = raft
        .lines()
        .filter(|l| l.starts_with("# "))
        .map(|l| l.trim_end().to_lowercase())
        .collect();
    assert_eq!(heads, ["# raft"], "INFO raft:\n{raft}");
    let server = c.cmd(&["INFO", "server"]).text();
    assert!(server.to_lowercase().starts_with("# server"), "INFO server:\n{server}");
    // RESP3: a verbatim or bulk string with the same content.
    let mut c3 = s.conn3();
    let r = c3.cmd(&["INFO"]);
    assert!(matches!(r, Reply::Bulk(_) | Reply::Verbatim(..)), "{r:?}");
    assert!(r.text().contains("loading:0"));
    let out = s.cli(&["INFO"]);
    assert!(out.contains("loading:0"), "{out}");
    // DBSIZE: an integer that counts what exists.
    let n0 = c.cmd(&["DBSIZE"]).int();
    assert!(n0 >= 0);
    c.cmd(&["LOCK", "ACQUIRE", &uniq("db"), "o", "60000"]).int();
    c.cmd(&["FENCE", "ADVANCE", &uniq("db"), "1"]).int();
    let n1 = c.cmd(&["DBSIZE"]).int();
    assert!(n1 >= n0 + 2, "DBSIZE {n0} -> {n1} after creating a lock and a fence");
    let out = s.cli3(&["DBSIZE"]);
    assert!(out.starts_with("(integer) "), "{out:?}");
}

#[test]
fn info_latency_counts_commits_and_fsyncs() {
    let s = TestServer::start();
    let mut c = s.conn();
    let before = info_numbers(&c.cmd(&["INFO", "latency"]).text());
    for i in 0..20 {
        let r = c.cmd(&["FENCE", "ADVANCE", &format!("res{i}"), "1"]);
        assert_eq!(r, Reply::Int(1), "FENCE ADVANCE -> {r:?}");
    }
    let after = info_numbers(&c.cmd(&["INFO", "latency"]).text());
    let grew = |k: &str| after.get(k).copied().unwrap_or(0) - before.get(k).copied().unwrap_or(0);
    // One batch per write here (one client, one at a time), each fsynced before its reply.
    assert!(grew("commit_count") >= 20, "commits: {before:?} -> {after:?}");
    assert!(grew("commit_items") >= 20, "operations: {before:?} -> {after:?}");
    assert!(grew("wal_fsync_count") >= 20, "fsyncs: {before:?} -> {after:?}");
    assert!(
        grew("commit_total_us") >= grew("commit_count"),
        "a commit takes >= 1 µs"
    );
    // A single node replicates nothing.
    assert_eq!(grew("replication_rpc_count"), 0);
    assert_eq!(grew("follower_append_count"), 0);
}

fn myid(c: &mut Conn) -> String {
    let id = c.cmd(&["CLUSTER", "MYID"]).text();
    assert!(!id.is_empty() && !id.contains(' '), "CLUSTER MYID {id:?}");
    id
}

#[test]
fn cluster_info_myid_slots_shards_nodes() {
    let s = TestServer::start();
    let mut c = s.conn();
    let id = myid(&mut c);
    let info = c.cmd(&["CLUSTER", "INFO"]).text();
    assert!(info.lines().any(|l| l.trim_end() == "cluster_state:ok"), "{info}");
    assert!(
        info.lines().any(|l| l.trim_end() == "cluster_slots_assigned:16384"),
        "{info}"
    );
    // SLOTS: [[0, 16383, [host, port, id, ...]]]
    let r = c.cmd(&["CLUSTER", "SLOTS"]);
    let slots = r.items();
    assert_eq!(slots.len(), 1, "{r:?}");
    let e = slots[0].items();
    assert!(e.len() == 3, "one range, one master, no replicas: {r:?}");
    assert_eq!(e[0], int(0));
    assert_eq!(e[1], int(16383));
    let node = e[2].items();
    assert_eq!(node[0].text(), "127.0.0.1");
    assert_eq!(node[1], int(s.port as i64));
    if node.len() > 2 {
        assert_eq!(node[2].text(), id);
    }
    // SHARDS: one shard, slots [0, 16383], one node, the master.
    let r = c.cmd(&["CLUSTER", "SHARDS"]);
    let shards = r.items();
    assert_eq!(shards.len(), 1, "{r:?}");
    let sh = &shards[0];
    let sl = sh.field("slots").unwrap_or_else(|| panic!("no slots in {sh:?}"));
    assert_eq!(sl.items(), &[int(0), int(16383)][..], "{sh:?}");
    let nodes = sh.field("nodes").unwrap_or_else(|| panic!("no nodes in {sh:?}"));
    assert_eq!(nodes.items().len(), 1, "{sh:?}");
    let n = &nodes.items()[0];
    assert_eq!(n.field("id").map(|v| v.text()), Some(id.clone()), "{n:?}");
    assert_eq!(n.field("port"), Some(int(s.port as i64)), "{n:?}");
    assert_eq!(n.field("role").map(|v| v.text()), Some("master".to_string()), "{n:?}");
    // NODES: one line for this node.
    let nodes = c.cmd(&["CLUSTER", "NODES"]).text();
    let lines: Vec<&str> = nodes.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{nodes:?}");
    let f: Vec<&str> = lines[0].split(' ').collect();
    assert!(f.len() >= 9, "{nodes:?}");
    assert_eq!(f[0], id);
    assert!(f[1].starts_with(&format!("127.0.0.1:{}", s.port)), "{nodes:?}");
    let flags: Vec<&str> = f[2].split(',').collect();
    assert!(flags.contains(&"myself") && flags.contains(&"master"), "{nodes:?}");
    assert_eq!(f[3], "-", "a master has no master: {nodes:?}");
    assert_eq!(f[7], "connected", "{nodes:?}");
    assert_eq!(f[8].trim_end(), "0-16383", "{nodes:?}");
    // redis-cli (RESP3) sees the same.
    let out = s.cli3(&["CLUSTER", "MYID"]);
    assert_eq!(out, format!("\"{id}\"\n"));
    let out = s.cli(&["CLUSTER", "SLOTS"]);
    assert!(
        out.starts_with("1) 1) (integer) 0\n   2) (integer) 16383\n   3) 1) \"127.0.0.1\"\n"),
        "{out:?}"
    );
}

#[test]
fn raft_info_fields() {
    let s = TestServer::start();
    let keys = [
        "node-id",
        "role",
        "term",
        "leader-id",
        "leader-addr",
        "commit-index",
        "applied-index",
        "voters",
        "learners",
    ];
    for (proto, mut c) in [(2, s.conn()), (3, s.conn3())] {
        let r = c.cmd(&["RAFT", "INFO"]);
        match (proto, &r) {
            (2, Reply::Array(_)) | (3, Reply::Map(_)) => {}
            _ => panic!("RESP{proto} RAFT INFO -> {r:?}"),
        }
        for k in keys {
            assert!(r.field(k).is_some(), "RAFT INFO lacks {k}: {r:?}");
        }
        let node_id = r.field("node-id").expect("node-id").text();
        assert_eq!(node_id, "1", "default --node-id is 1: {r:?}");
        assert_eq!(r.field("role").expect("role").text(), "leader");
        assert!(r.field("term").expect("term").int() >= 1, "{r:?}");
        assert_eq!(r.field("leader-id").expect("leader-id").text(), node_id);
        assert_eq!(r.field("leader-addr").expect("leader-addr").text(), s.addr());
        let commit = r.field("commit-index").expect("commit").int();
        let applied = r.field("applied-index").expect("applied").int();
        assert!(commit >= 1 && applied >= 1 && applied <= commit, "{r:?}");
        let voters = r.field("voters").expect("voters");
        let has_one = match &voters {
            Reply::Array(v) | Reply::Set(v) => v.iter().any(|x| x.text() == "1"),
            Reply::Bulk(_) | Reply::Simple(_) => voters.text().split([',', ' ']).any(|x| x == "1"),
            _ => false,
        };
        assert!(has_one, "voters should be node 1: {voters:?}");
        let learners = r.field("learners").expect("learners");
        let empty = match &learners {
            Reply::Array(v) | Reply::Set(v) => v.is_empty(),
            Reply::Bulk(b) => b.is_empty(),
            Reply::Simple(t) => t.is_empty(),
            _ => false,
        };
        assert!(empty, "no learners in a single-node cluster: {learners:?}");
        // A write moves the commit index.
        c.cmd(&["FENCE", "ADVANCE", &uniq("ri"), "1"]).int();
        let r2 = c.cmd(&["RAFT", "INFO"]);
        let commit2 = r2.field("commit-index").expect("commit").int();
        let applied2 = r2.field("applied-index").expect("applied").int();
        assert!(commit2 > commit && applied2 > applied, "{r:?} -> {r2:?}");
    }
    let out = s.cli(&["RAFT", "INFO"]);
    for k in keys {
        assert!(
            out.contains(&format!(") \"{k}\"\n")),
            "redis-cli RAFT INFO lacks {k}:\n{out}"
        );
    }
    let out = s.cli3(&["RAFT", "INFO"]);
    for k in keys {
        assert!(
            out.contains(&format!("# \"{k}\" => ")),
            "redis-cli -3 RAFT INFO lacks {k}:\n{out}"
        );
    }
    assert!(out.contains("# \"role\" => \"leader\"\n"), "{out}");
}

#[test]
fn unknown_command() {
    let s = TestServer::start();
    let mut c = s.conn();
    let r = c.cmd(&["foo"]);
    let e = r.err_text().unwrap_or_else(|| panic!("foo -> {r:?}"));
    assert!(e.starts_with("ERR unknown command 'foo'"), "{e:?}");
    let rest = &e["ERR unknown command 'foo'".len()..];
    assert!(rest.is_empty() || rest.starts_with(','), "{e:?}");
    assert_eq!(c.cmd(&["PING"]), simple("PONG"));
    let r = c.cmd(&["foo", "bar", "baz"]);
    assert!(r.is_err_with("ERR unknown command 'foo'"), "{r:?}");
    let out = s.cli(&["foo"]);
    assert!(out.starts_with("(error) ERR unknown command 'foo'"), "{out:?}");
    let out = s.cli3(&["foo", "x"]);
    assert!(out.starts_with("(error) ERR unknown command 'foo'"), "{out:?}");
    // Pub/sub is not served (SPEC: "Not served").
    let r = c.cmd(&["SUBSCRIBE", "ch"]);
    assert!(r.is_err_with("ERR unknown command 'SUBSCRIBE'"), "{r:?}");
    assert_eq!(c.cmd(&["PING"]), simple("PONG"));
}

#[test]
fn argument_errors_keep_the_connection_open() {
    let s = TestServer::start();
    let mut c = s.conn();
    let cases: &[&[&str]] = &[
        &["LOCK", "ACQUIRE"],
        &["LOCK", "ACQUIRE", "l", "o", "x"],
        &["LOCK", "ACQUIRE", "l", "o", "18446744073709551616"],
        &["FENCE", "ADVANCE", "r", "nan"],
        &["FENCE", "ADVANCE", "r", "-3"],
        &["TOKENBUCKET", "b", "1"],
        &["TOKENBUCKET", "b", "10", "1", "1000", "COST", "11"],
        &["IDEMP", "BEGIN", "k"],
        &["SELECT"],
        &["CLIENT", "SETNAME"],
        &["RAFT", "NOPE"],
        &["CLUSTER", "NOPE"],
        &["COMMAND", "NOPE"],
    ];
    for args in cases {
        let r = c.cmd(args);
        assert!(r.is_err_with("ERR "), "{args:?} -> {r:?}, want -ERR");
        assert_eq!(c.cmd(&["PING"]), simple("PONG"), "connection unusable after {args:?}");
    }
    for args in cases {
        let out = s.cli(args);
        assert!(out.starts_with("(error) ERR "), "redis-cli {args:?} -> {out:?}");
    }
}

#[test]
fn a_thousand_pipelined_commands_are_answered_in_order() {
    let s = TestServer::start();
    let mut c = s.conn();
    let p = uniq("pl");
    let mut buf = Vec::new();
    let mut want: Vec<Box<dyn Fn(&Reply) -> bool>> = Vec::new();
    for i in 0..1000usize {
        let is = i.to_string();
        match i % 6 {
            0 => {
                buf.extend(Conn::encode(&["PING"]));
                want.push(Box::new(|r| *r == simple("PONG")));
            }
            1 => {
                buf.extend(Conn::encode(&["ECHO", &format!("e{i}")]));
                let w = bulk(&format!("e{i}"));
                want.push(Box::new(move |r| *r == w));
            }
            2 => {
                buf.extend(Conn::encode(&["LOCK", "ACQUIRE", &format!("{p}-l{i}"), "o", "60000"]));
                want.push(Box::new(|r| matches!(r, Reply::Int(t) if *t > 0)));
            }
            3 => {
                buf.extend(Conn::encode(&[
                    "FENCE",
                    "SET",
                    &format!("{p}-f{i}"),
                    &is,
                    &format!("v{i}"),
                ]));
                want.push(Box::new(|r| *r == Reply::ok()));
            }
            4 => {
                buf.extend(Conn::encode(&[
                    "TOKENBUCKET",
                    &format!("{p}-b{i}"),
                    "10",
                    "1",
                    "1000",
                    "COST",
                    "3",
                ]));
                want.push(Box::new(|r| {
                    *r == arr(vec![int(0), int(10), int(7), int(-1), int(3000)])
                }));
            }
            _ => {
                // An error in the middle of a pipeline does not disturb the order.
                buf.extend(Conn::encode(&["FENCE", "ADVANCE", &format!("{p}-x{i}"), "notanumber"]));
                want.push(Box::new(|r| r.is_err_with("ERR ")));
            }
        }
    }
    c.send_raw(&buf).expect("write pipeline");
    for (i, w) in want.iter().enumerate() {
        let r = c.read_reply().unwrap_or_else(|e| panic!("reply {i}: {e}"));
        assert!(w(&r), "reply {i} (command kind {}) out of order or wrong: {r:?}", i % 6);
    }
    // Every pipelined SET was applied.
    for i in (3..1000).step_by(6) {
        assert_eq!(
            c.cmd(&["FENCE", "GET", &format!("{p}-f{i}")]),
            arr(vec![int(i as i64), bulk(&format!("v{i}"))])
        );
    }
    // The redis crate's pipeline, RESP3.
    let mut con = s.redis_client3().get_connection().expect("connect");
    let mut pipe = redis::pipe();
    for i in 0..1000 {
        pipe.cmd("ECHO").arg(i);
    }
    let got: Vec<String> = pipe.query(&mut con).expect("pipeline");
    assert_eq!(got, (0..1000).map(|i| i.to_string()).collect::<Vec<_>>());
}
