//! ACL users on real processes (SPEC "ACL users"): every denial path answers Redis's
//! exact text and applies nothing; a user made through a follower holds on every node,
//! after a leader kill and after a whole-cluster restart (log and snapshot); DELUSER and
//! `off` log open connections out; `--requirepass` stays the default user's password
//! until an ACL changes it. Driven with the raw RESP client (exact bytes) and redis-cli.

use std::time::Duration;

use fencepost_tests::cluster::CLUSTER_TIMEOUT;
use fencepost_tests::*;

const SETUP: Duration = TestCluster::SETUP;

/// A connection to `port` logged in as `user`.
fn login(port: u16, user: &str, pass: &str) -> Conn {
    let mut c = Conn::connect(port);
    assert_eq!(c.cmd(&["AUTH", user, pass]), Reply::ok(), "AUTH {user}");
    c
}

/// The team of SPEC's recipe: may only lock and fence `orders:*`.
const ORDERS_TEAM: &[&str] = &[
    "ACL",
    "SETUSER",
    "orders",
    "on",
    ">orders-pw",
    "~orders:*",
    "+@lock",
    "+@fence",
    "+ping",
];

/// `printf orders-pw | sha256sum`
const ORDERS_PW_SHA256: &str = "6eee29179e3e0a39b9adf4971bb029919f777f4f13a908485afff11793f967d1";

fn nokey() -> Reply {
    err("NOPERM No permissions to access a key")
}

fn nocmd(user: &str, cmd: &str) -> Reply {
    err(&format!(
        "NOPERM User {user} has no permissions to run the '{cmd}' command"
    ))
}

#[test]
fn every_denial_answers_redis_text_and_applies_nothing() {
    let s = TestServer::start();
    let mut admin = s.conn();
    assert_eq!(admin.cmd(ORDERS_TEAM), Reply::ok());
    let mut o = login(s.port, "orders", "orders-pw");

    // Inside its patterns and categories: served.
    let tok = o.cmd(&["LOCK", "ACQUIRE", "orders:1", "w1", "10000"]).int();
    assert!(tok > 0);
    assert_eq!(
        o.cmd(&["FENCE", "SET", "orders:db", &tok.to_string(), "v", "LOCK", "orders:1"]),
        Reply::ok()
    );

    // A command outside its categories.
    assert_eq!(o.cmd(&["SET", "orders:x", "1"]), nocmd("orders", "set"));
    assert_eq!(
        o.cmd(&["TOKENBUCKET", "orders:b", "5", "1", "1000"]),
        nocmd("orders", "tokenbucket")
    );
    assert_eq!(o.cmd(&["RAFT", "REMOVE", "2"]), nocmd("orders", "raft|remove"));
    assert_eq!(o.cmd(&["ACL", "SETUSER", "x"]), nocmd("orders", "acl|setuser"));
    // A key outside its patterns: the lock itself, a fence resource, and the LOCK
    // <name> a fenced write names.
    assert_eq!(o.cmd(&["LOCK", "ACQUIRE", "payments:1", "w1", "10000"]), nokey());
    assert_eq!(o.cmd(&["LOCK", "INFO", "payments:1"]), nokey());
    assert_eq!(o.cmd(&["FENCE", "ADVANCE", "payments:db", "99"]), nokey());
    assert_eq!(
        o.cmd(&["FENCE", "SET", "orders:db", "99", "v", "LOCK", "payments:1"]),
        nokey()
    );
    // Nothing refused was applied.
    assert_eq!(admin.cmd(&["LOCK", "INFO", "payments:1"]), Reply::Nil);
    assert_eq!(admin.cmd(&["FENCE", "GET", "payments:db"]), Reply::Nil);
    assert_eq!(admin.cmd(&["EXISTS", "orders:x"]), int(0));
    assert_eq!(
        admin.cmd(&["FENCE", "GET", "orders:db"]),
        arr(vec![int(tok), bulk("v")])
    );

    // A script: its KEYS, and every key its redis.call touches.
    assert_eq!(
        admin.cmd(&[
            "ACL",
            "SETUSER",
            "scripter",
            "on",
            ">s-pw",
            "~cache:*",
            "+@scripting",
            "+@transaction",
            "+get",
            "+set"
        ]),
        Reply::ok()
    );
    let mut sc = login(s.port, "scripter", "s-pw");
    assert_eq!(
        sc.cmd(&["EVAL", "return redis.call('SET', KEYS[1], 'v')", "1", "cache:a"]),
        Reply::ok()
    );
    assert_eq!(
        sc.cmd(&["EVAL", "return redis.call('SET', KEYS[1], 'v')", "1", "secret:a"]),
        nokey()
    );
    let undeclared = sc.cmd(&["EVAL", "return redis.call('SET', 'secret:b', 'v')", "0"]);
    let text = undeclared.err_text().expect("refused").to_string();
    assert!(
        text.starts_with("NOPERM No permissions to access a key"),
        "a script touching an undeclared key: {text}"
    );
    let other_cmd = sc.cmd(&["EVAL", "return redis.call('DEL', 'cache:a')", "0"]);
    let text = other_cmd.err_text().expect("refused").to_string();
    assert!(
        text.starts_with("NOPERM User scripter has no permissions to run the 'del' command"),
        "{text}"
    );
    assert_eq!(admin.cmd(&["EXISTS", "secret:b"]), int(0));
    assert_eq!(admin.cmd(&["EXISTS", "cache:a"]), int(1));
    // A read-only script is checked the same way.
    let ro = sc.cmd(&["EVAL_RO", "return redis.call('GET', 'secret:a')", "0"]);
    assert!(ro.is_err_with("NOPERM No permissions to access a key"), "{ro:?}");

    // Inside MULTI: refused at queue time, and EXEC refuses the transaction.
    assert_eq!(sc.cmd(&["MULTI"]), Reply::ok());
    assert_eq!(sc.cmd(&["SET", "secret:c", "1"]), nokey());
    assert_eq!(sc.cmd(&["SET", "cache:c", "1"]), simple("QUEUED"));
    assert!(sc.cmd(&["EXEC"]).is_err_with("EXECABORT"));
    assert_eq!(admin.cmd(&["EXISTS", "cache:c"]), int(0));

    // Bad logins, and what ACL LOG and INFO saw.
    let mut anon = Conn::connect(s.port);
    assert_eq!(
        anon.cmd(&["AUTH", "orders", "wrong"]),
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_eq!(
        anon.cmd(&["AUTH", "nobody", "x"]),
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    let log = admin.cmd(&["ACL", "LOG"]);
    let reasons: Vec<String> = log
        .items()
        .iter()
        .map(|e| e.field("reason").expect("reason").text())
        .collect();
    for r in ["auth", "key", "command"] {
        assert!(reasons.iter().any(|x| x == r), "ACL LOG lacks a {r} entry: {reasons:?}");
    }
    assert_eq!(admin.cmd(&["ACL", "LOG", "RESET"]), Reply::ok());
    assert_eq!(admin.cmd(&["ACL", "LOG"]), arr(vec![]));
    let info = info_numbers(&admin.cmd(&["INFO", "stats"]).text());
    assert!(info["acl_access_denied_key"] >= 5, "{info:?}");
    assert!(info["acl_access_denied_cmd"] >= 4, "{info:?}");
    assert_eq!(info["acl_access_denied_auth"], 2);
}

#[test]
fn acl_subcommands_show_users_as_redis_does() {
    let s = TestServer::start();
    let mut c = s.conn();
    assert_eq!(c.cmd(&["ACL", "WHOAMI"]), bulk("default"));
    assert_eq!(c.cmd(ORDERS_TEAM), Reply::ok());
    assert_eq!(c.cmd(&["ACL", "USERS"]), arr(vec![bulk("default"), bulk("orders")]));
    let u = c.cmd(&["ACL", "GETUSER", "orders"]);
    assert_eq!(u.field("flags"), Some(arr(vec![bulk("on")])));
    assert_eq!(
        u.field("commands").expect("commands").text(),
        "-@all +fence +lock +ping"
    );
    assert_eq!(u.field("keys").expect("keys").text(), "~orders:*");
    // Only the SHA-256 of the password is kept and shown.
    let pw = u.field("passwords").expect("passwords");
    assert_eq!(pw.items().len(), 1);
    assert_eq!(pw.items()[0].text(), ORDERS_PW_SHA256);
    assert_eq!(c.cmd(&["ACL", "GETUSER", "nobody"]), Reply::Nil);
    let list = c.cmd(&["ACL", "LIST"]);
    assert_eq!(list.items().len(), 2);
    assert!(list.items()[1].text().starts_with("user orders on #"), "{list:?}");
    assert!(list.items()[0].text().starts_with("user default on nopass ~* +@all"));
    let cat = c.cmd(&["ACL", "CAT"]);
    for want in [
        "lock",
        "fence",
        "ratelimit",
        "idemp",
        "coord",
        "raft",
        "read",
        "write",
        "admin",
    ] {
        assert!(cat.items().iter().any(|x| x.text() == want), "ACL CAT lacks {want}");
    }
    assert_eq!(c.cmd(&["ACL", "CAT", "lock"]), arr(vec![bulk("lock")]));
    assert_eq!(c.cmd(&["ACL", "CAT", "nope"]), err("ERR Unknown category 'nope'"));
    assert_eq!(
        c.cmd(&["ACL", "SETUSER", "x", "+@nope"]),
        err("ERR Error in ACL SETUSER modifier '+@nope': Unknown command or category name in ACL")
    );
    assert_eq!(
        c.cmd(&["ACL", "DELUSER", "default"]),
        err("ERR The 'default' user cannot be removed")
    );
    assert_eq!(c.cmd(&["ACL", "DELUSER", "orders", "nobody"]), int(1));
    assert_eq!(c.cmd(&["ACL", "USERS"]), arr(vec![bulk("default")]));
    // COMMAND INFO carries the categories from the same table.
    let info = c.cmd(&["COMMAND", "INFO", "lock"]);
    let cats = info.items()[0].items()[6]
        .items()
        .iter()
        .map(Reply::text)
        .collect::<Vec<_>>();
    assert!(cats.contains(&"@lock".to_string()), "{cats:?}");
}

#[test]
fn deleted_or_disabled_users_are_logged_out_at_once() {
    let s = TestServer::start();
    let mut admin = s.conn();
    assert_eq!(admin.cmd(ORDERS_TEAM), Reply::ok());
    let mut a = login(s.port, "orders", "orders-pw");
    let mut b = login(s.port, "orders", "orders-pw");
    assert_eq!(a.cmd(&["LOCK", "INFO", "orders:1"]), Reply::Nil);
    assert_eq!(admin.cmd(&["ACL", "SETUSER", "orders", "off"]), Reply::ok());
    assert_eq!(
        a.cmd(&["LOCK", "INFO", "orders:1"]),
        err("NOAUTH Authentication required.")
    );
    assert_eq!(
        Conn::connect(s.port).cmd(&["AUTH", "orders", "orders-pw"]),
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_eq!(admin.cmd(&["ACL", "SETUSER", "orders", "on"]), Reply::ok());
    assert_eq!(a.cmd(&["AUTH", "orders", "orders-pw"]), Reply::ok());
    assert_eq!(admin.cmd(&["ACL", "DELUSER", "orders"]), int(1));
    for c in [&mut a, &mut b] {
        assert_eq!(
            c.cmd(&["LOCK", "INFO", "orders:1"]),
            err("NOAUTH Authentication required.")
        );
    }
    // A permission change applies to open connections from their next command.
    assert_eq!(admin.cmd(ORDERS_TEAM), Reply::ok());
    let mut c = login(s.port, "orders", "orders-pw");
    assert_eq!(c.cmd(&["LOCK", "INFO", "orders:1"]), Reply::Nil);
    assert_eq!(admin.cmd(&["ACL", "SETUSER", "orders", "-lock|info"]), Reply::ok());
    assert_eq!(c.cmd(&["LOCK", "INFO", "orders:1"]), nocmd("orders", "lock|info"));
}

#[test]
fn requirepass_is_the_default_password_until_an_acl_changes_it() {
    let s = TestServer::builder().password("old-secret").start();
    let mut c = Conn::connect(s.port);
    assert_eq!(c.cmd(&["DBSIZE"]), err("NOAUTH Authentication required."));
    assert_eq!(c.cmd(&["AUTH", "old-secret"]), Reply::ok());
    assert_eq!(
        Conn::connect(s.port).cmd(&["AUTH", "default", "old-secret"]),
        Reply::ok()
    );
    // The first change starts from the node's view: the password carries over.
    assert_eq!(c.cmd(&["ACL", "SETUSER", "default", "-@raft"]), Reply::ok());
    let mut d = Conn::connect(s.port);
    assert_eq!(d.cmd(&["AUTH", "old-secret"]), Reply::ok());
    assert_eq!(d.cmd(&["RAFT", "INFO"]), nocmd("default", "raft|info"));
    assert_eq!(
        c.cmd(&["ACL", "SETUSER", "default", "resetpass", ">new-secret", "+@raft"]),
        Reply::ok()
    );
    assert_eq!(
        Conn::connect(s.port).cmd(&["AUTH", "old-secret"]),
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_eq!(Conn::connect(s.port).cmd(&["AUTH", "new-secret"]), Reply::ok());
    // redis-cli's --user/--pass path.
    let out = s.cli_opts(
        &["--no-auth-warning", "--user", "default", "--pass", "new-secret"],
        &["ACL", "WHOAMI"],
    );
    assert_eq!(out.trim(), "\"default\"");
}

#[test]
fn a_user_made_through_a_follower_holds_everywhere_across_failover_and_restart() {
    let _g = heavy_lock();
    let mut c = TestCluster::start(3);
    let leader = c.leader(SETUP);
    let follower = c.followers_of(leader)[0];
    assert_eq!(c.conn(follower).cmd(ORDERS_TEAM), Reply::ok());
    let check = |c: &TestCluster, id: u64| {
        let mut o = wait_until(CLUSTER_TIMEOUT, "the user reaches the node", || {
            let mut o = Conn::try_connect(c.port(id)).ok()?;
            (o.try_cmd(&["AUTH", "orders", "orders-pw"]).ok()? == Reply::ok()).then_some(o)
        });
        let name = uniq("orders:l");
        let r = wait_until(CLUSTER_TIMEOUT, "a lock through the node", || {
            let r = o.try_cmd(&["LOCK", "ACQUIRE", &name, "w", "5000"]).ok()?;
            (!r.is_err_with("CLUSTERDOWN") && !r.is_err_with("UNCERTAIN")).then_some(r)
        });
        assert!(r.int() > 0, "node {id}: {r:?}");
        assert_eq!(
            o.cmd(&["LOCK", "ACQUIRE", "payments:1", "w", "5000"]),
            nokey(),
            "node {id}"
        );
        assert_eq!(o.cmd(&["SET", "orders:k", "v"]), nocmd("orders", "set"), "node {id}");
    };
    for id in [1, 2, 3] {
        check(&c, id);
    }
    // A snapshot carries the users too (the restart below replays from it).
    let snap = c.must(leader, &["RAFT", "SNAPSHOT"]);
    assert!(snap.err_text().is_none(), "RAFT SNAPSHOT -> {snap:?}");
    c.kill9(leader);
    let rest: Vec<u64> = [1, 2, 3].into_iter().filter(|&id| id != leader).collect();
    c.leader_among(&rest, CLUSTER_TIMEOUT);
    for id in &rest {
        check(&c, *id);
    }
    c.restart(leader);
    c.wait_caught_up(leader, CLUSTER_TIMEOUT);
    check(&c, leader);
    // The whole cluster down and back.
    for id in [1, 2, 3] {
        c.kill9(id);
    }
    for id in [1, 2, 3] {
        c.restart(id);
    }
    c.leader(CLUSTER_TIMEOUT);
    for id in [1, 2, 3] {
        check(&c, id);
    }
}
