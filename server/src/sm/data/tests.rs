//! Data commands and scripts fed as log entries with chosen stamps: replies, expiry on
//! the entry's clock, WRONGTYPE across every kind, scripts' sandbox and limits, the
//! script cache in snapshots, and replicas that agree bit for bit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;

use super::parse;
use crate::sm::rval::RVal;
use crate::sm::{Event, Op, Request, Response, StateMachine};

struct Sim {
    sm: StateMachine,
    index: u64,
}

impl Sim {
    fn new() -> Self {
        Sim {
            sm: StateMachine::new(),
            index: 0,
        }
    }

    /// Runs a command at `time`: writes as a log entry, reads as a read at `time`.
    fn run(&mut self, time: u64, words: &[&str]) -> RVal {
        let args: Vec<Bytes> = words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect();
        let spec = parse::lookup(&args[0]).expect("known command");
        let cmd = match parse::parse(spec, &args[1..]) {
            Ok(c) => c,
            Err(e) => return RVal::Err(e),
        };
        if !cmd.is_write() {
            return self.sm.data_read(&cmd, time, None);
        }
        self.apply(time, Op::Data(cmd))
    }

    fn apply(&mut self, time: u64, op: Op) -> RVal {
        match self.entry(time, op) {
            Response::Value(v) => v,
            other => panic!("not a data reply: {other:?}"),
        }
    }

    fn entry(&mut self, time: u64, op: Op) -> Response {
        self.index += 1;
        let mut events: Vec<Event> = Vec::new();
        self.sm.apply(self.index, &Request { time, op }, &mut events)
    }

    fn snapshot(&self) -> Vec<u8> {
        postcard::to_allocvec(&self.sm).unwrap()
    }
}

fn bulk(s: &str) -> RVal {
    RVal::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

#[test]
fn strings_expire_on_the_entry_clock() {
    let mut s = Sim::new();
    assert_eq!(s.run(1000, &["SET", "k", "v", "PX", "100"]), RVal::Ok);
    assert_eq!(s.run(1050, &["GET", "k"]), bulk("v"));
    assert_eq!(s.run(1050, &["PTTL", "k"]), RVal::Int(50));
    // Invisible the moment its time is up, before any Tick reclaims it.
    assert_eq!(s.run(1100, &["GET", "k"]), RVal::Nil);
    assert_eq!(s.run(1100, &["EXISTS", "k"]), RVal::Int(0));
    assert_eq!(s.run(1100, &["SET", "k", "w", "NX"]), RVal::Ok);
    assert_eq!(s.run(1100, &["TTL", "k"]), RVal::Int(-1));
    assert_eq!(s.run(1100, &["TTL", "missing"]), RVal::Int(-2));
    // A Tick at the deadline reclaims expired keys.
    s.run(1200, &["SET", "gone", "x", "PX", "10"]);
    assert_eq!(s.sm.next_gc_deadline(), Some(1210));
    s.entry(1300, Op::Tick);
    assert_eq!(s.sm.next_gc_deadline(), None);
    assert_eq!(s.sm.len_live(1300), 1);
}

#[test]
fn set_variants_and_counters() {
    let mut s = Sim::new();
    assert_eq!(s.run(0, &["SET", "k", "1", "XX"]), RVal::Nil);
    assert_eq!(s.run(0, &["SET", "k", "1", "GET"]), RVal::Nil);
    assert_eq!(s.run(0, &["SET", "k", "2", "GET", "KEEPTTL"]), bulk("1"));
    assert_eq!(s.run(0, &["SETNX", "k", "3"]), RVal::Int(0));
    assert_eq!(s.run(0, &["INCRBY", "k", "40"]), RVal::Int(42));
    assert_eq!(s.run(0, &["DECR", "k"]), RVal::Int(41));
    assert_eq!(s.run(0, &["INCRBYFLOAT", "k", "0.5"]), bulk("41.5"));
    assert_eq!(
        s.run(0, &["INCR", "k"]),
        RVal::err("ERR value is not an integer or out of range")
    );
    assert_eq!(s.run(0, &["APPEND", "k", "xy"]), RVal::Int(6));
    assert_eq!(s.run(0, &["STRLEN", "k"]), RVal::Int(6));
    assert_eq!(s.run(0, &["SET", "n", "9223372036854775807"]), RVal::Ok);
    assert_eq!(
        s.run(0, &["INCR", "n"]),
        RVal::err("ERR increment or decrement would overflow")
    );
    assert_eq!(s.run(0, &["MSET", "a", "1", "b", "2"]), RVal::Ok);
    assert_eq!(
        s.run(0, &["MGET", "a", "nope", "b"]),
        RVal::Array(vec![bulk("1"), RVal::Nil, bulk("2")])
    );
    assert_eq!(s.run(0, &["GETDEL", "a"]), bulk("1"));
    assert_eq!(s.run(0, &["GETEX", "b", "PX", "10"]), bulk("2"));
    assert_eq!(s.run(5, &["PTTL", "b"]), RVal::Int(5));
    assert_eq!(s.run(5, &["PERSIST", "b"]), RVal::Int(1));
    assert_eq!(s.run(5, &["RENAME", "b", "c"]), RVal::Ok);
    assert_eq!(s.run(5, &["RENAME", "b", "c"]), RVal::err("ERR no such key"));
    assert_eq!(s.run(5, &["EXPIRE", "c", "10", "GT"]), RVal::Int(0));
    assert_eq!(s.run(5, &["EXPIRE", "c", "10", "LT"]), RVal::Int(1));
    assert_eq!(s.run(5, &["TTL", "c"]), RVal::Int(10));
    assert_eq!(s.run(5, &["PEXPIREAT", "c", "1"]), RVal::Int(1));
    assert_eq!(s.run(5, &["EXISTS", "c"]), RVal::Int(0));
    assert_eq!(s.run(5, &["TIME"]), RVal::Array(vec![bulk("0"), bulk("5000")]));
}

#[test]
fn wrongtype_across_every_kind() {
    let mut s = Sim::new();
    s.entry(
        0,
        Op::LockAcquire {
            name: "lk".into(),
            owner: "o".into(),
            ttl_ms: 1000,
            wait_ms: None,
        },
    );
    s.run(0, &["HSET", "h", "f", "v"]);
    s.run(0, &["RPUSH", "l", "a"]);
    s.run(0, &["ZADD", "z", "1", "a"]);
    s.run(0, &["SET", "s", "v"]);
    let wt = RVal::err(super::WRONGTYPE);
    for key in ["lk", "h", "l", "z"] {
        assert_eq!(s.run(0, &["GET", key]), wt, "GET {key}");
        assert_eq!(s.run(0, &["INCR", key]), wt, "INCR {key}");
    }
    for key in ["lk", "s", "l", "z"] {
        assert_eq!(s.run(0, &["HGET", key, "f"]), wt, "HGET {key}");
    }
    for key in ["lk", "s", "h", "z"] {
        assert_eq!(s.run(0, &["LPUSH", key, "x"]), wt, "LPUSH {key}");
    }
    for key in ["lk", "s", "h", "l"] {
        assert_eq!(s.run(0, &["ZADD", key, "1", "x"]), wt, "ZADD {key}");
    }
    // A lock is visible but cannot be deleted or overwritten by Redis commands.
    assert_eq!(s.run(0, &["TYPE", "lk"]), RVal::Status("lock".into()));
    assert_eq!(s.run(0, &["DEL", "lk", "s"]), wt);
    assert_eq!(s.run(0, &["SET", "lk", "x"]), wt);
    // Plain SET replaces another data kind, as in Redis.
    assert_eq!(s.run(0, &["SET", "h", "x"]), RVal::Ok);
    assert_eq!(s.run(0, &["TYPE", "h"]), RVal::Status("string".into()));
    assert_eq!(s.run(0, &["DEL", "h", "l", "nope"]), RVal::Int(2));
}

#[test]
fn hashes_lists_zsets() {
    let mut s = Sim::new();
    assert_eq!(s.run(0, &["HSET", "h", "a", "1", "b", "2"]), RVal::Int(2));
    assert_eq!(s.run(0, &["HINCRBY", "h", "a", "5"]), RVal::Int(6));
    assert_eq!(
        s.run(0, &["HGETALL", "h"]),
        RVal::Map(vec![(bulk("a"), bulk("6")), (bulk("b"), bulk("2"))])
    );
    assert_eq!(s.run(0, &["HDEL", "h", "a", "b"]), RVal::Int(2));
    assert_eq!(s.run(0, &["EXISTS", "h"]), RVal::Int(0), "an emptied hash is deleted");
    assert_eq!(s.run(0, &["RPUSH", "l", "a", "b", "c", "b"]), RVal::Int(4));
    assert_eq!(
        s.run(0, &["LRANGE", "l", "1", "-1"]),
        RVal::Array(vec![bulk("b"), bulk("c"), bulk("b")])
    );
    assert_eq!(s.run(0, &["LREM", "l", "-1", "b"]), RVal::Int(1));
    assert_eq!(s.run(0, &["LPOP", "l", "2"]), RVal::Array(vec![bulk("a"), bulk("b")]));
    assert_eq!(s.run(0, &["LPOP", "nope", "2"]), RVal::NilArray);
    assert_eq!(s.run(0, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]), RVal::Int(3));
    assert_eq!(s.run(0, &["ZADD", "z", "GT", "CH", "0", "a", "5", "b"]), RVal::Int(1));
    assert_eq!(s.run(0, &["ZCOUNT", "z", "(1", "+inf"]), RVal::Int(2));
    assert_eq!(
        s.run(0, &["ZRANGE", "z", "+inf", "0", "BYSCORE", "REV", "LIMIT", "0", "1"]),
        RVal::Array(vec![bulk("b")])
    );
    assert_eq!(s.run(0, &["ZREMRANGEBYSCORE", "z", "-inf", "(5"]), RVal::Int(2));
    assert_eq!(s.run(0, &["ZCARD", "z"]), RVal::Int(1));
}

const RELEASE: &str =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

#[test]
fn scripts_call_commands_and_cache_by_sha() {
    let mut s = Sim::new();
    s.run(0, &["SET", "lock", "me", "PX", "1000"]);
    assert_eq!(s.run(1, &["EVAL", RELEASE, "1", "lock", "other"]), RVal::Int(0));
    let sha = super::super::script::sha1::sha1_hex(RELEASE.as_bytes());
    assert_eq!(
        s.run(1, &["SCRIPT", "EXISTS", &sha, "nope"]),
        RVal::Array(vec![RVal::Int(1), RVal::Int(0)])
    );
    assert_eq!(s.run(1, &["EVALSHA", &sha, "1", "lock", "me"]), RVal::Int(1));
    assert_eq!(s.run(1, &["EXISTS", "lock"]), RVal::Int(0));
    assert_eq!(
        s.run(1, &["EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"]),
        RVal::err("NOSCRIPT No matching script. Please use EVAL.")
    );
    // The cache is in the snapshot.
    let back: StateMachine = postcard::from_bytes(&s.snapshot()).unwrap();
    let mut t = Sim {
        sm: back,
        index: s.index,
    };
    assert_eq!(t.run(2, &["SCRIPT", "EXISTS", &sha]), RVal::Array(vec![RVal::Int(1)]));
    assert_eq!(t.snapshot(), s.snapshot());
    assert_eq!(s.run(2, &["SCRIPT", "FLUSH"]), RVal::Ok);
    assert_eq!(s.run(2, &["SCRIPT", "EXISTS", &sha]), RVal::Array(vec![RVal::Int(0)]));
}

#[test]
fn lua_conversions_follow_redis() {
    let mut s = Sim::new();
    let eval = |s: &mut Sim, body: &str| s.run(0, &["EVAL", body, "0"]);
    assert_eq!(eval(&mut s, "return 3.9"), RVal::Int(3));
    assert_eq!(eval(&mut s, "return true"), RVal::Int(1));
    assert_eq!(eval(&mut s, "return false"), RVal::Nil);
    assert_eq!(
        eval(&mut s, "return {1, 'a', {2}, nil, 5}"),
        RVal::Array(vec![RVal::Int(1), bulk("a"), RVal::Array(vec![RVal::Int(2)])])
    );
    assert_eq!(
        eval(&mut s, "return redis.status_reply('FINE')"),
        RVal::Status("FINE".into())
    );
    assert_eq!(eval(&mut s, "return redis.error_reply('MY bad')"), RVal::err("MY bad"));
    assert_eq!(eval(&mut s, "return redis.call('SET', 'x', 1)"), RVal::Ok);
    assert_eq!(eval(&mut s, "return redis.call('GET', 'nope')"), RVal::Nil);
    assert_eq!(eval(&mut s, "return redis.replicate_commands()"), RVal::Int(1));
    assert_eq!(
        eval(&mut s, "return redis.call('TYPE', 'x')"),
        RVal::Status("string".into())
    );
    // pcall hands the error back as a table; call raises it.
    assert_eq!(
        eval(&mut s, "local r = redis.pcall('INCR', 'nope', 'extra') return r.err"),
        bulk("ERR wrong number of arguments for 'incr' command")
    );
    match eval(&mut s, "redis.call('HGET', 'x', 'f') return 1") {
        RVal::Err(e) => assert!(e.starts_with("WRONGTYPE"), "{e}"),
        other => panic!("{other:?}"),
    }
}

fn err_text(v: RVal) -> String {
    match v {
        RVal::Err(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn the_sandbox_has_no_os_io_or_loading() {
    let mut s = Sim::new();
    for body in [
        "return os.time()",
        "return io.open('/etc/passwd')",
        "return loadstring('return 1')()",
        "return dofile('/etc/passwd')",
        "return require('os')",
        "x = 1 return x",
    ] {
        let e = err_text(s.run(0, &["EVAL", body, "0"]));
        assert!(e.starts_with("ERR"), "{body}: {e}");
        assert!(e.contains("global variable"), "{body}: {e}");
    }
    // math.random is seeded by the entry: two replicas agree, two entries differ.
    let r1 = s.run(0, &["EVAL", "return math.random(1000000)", "0"]);
    let mut t = Sim::new();
    t.index = s.index - 1;
    let r2 = t.run(0, &["EVAL", "return math.random(1000000)", "0"]);
    assert_eq!(r1, r2);
}

#[test]
fn runaway_scripts_stop_identically_and_keep_earlier_writes() {
    let mut a = Sim::new();
    let mut b = Sim::new();
    for s in [&mut a, &mut b] {
        let e = err_text(s.run(0, &["EVAL", "redis.call('SET', 'before', 1) while true do end", "0"]));
        assert!(e.contains("instruction budget"), "{e}");
        let e = err_text(s.run(
            0,
            &["EVAL", "while true do pcall(function() while true do end end) end", "0"],
        ));
        assert!(
            e.contains("instruction budget"),
            "a script cannot catch its own abort: {e}"
        );
        let e = err_text(s.run(
            0,
            &[
                "EVAL",
                "local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1048576) .. i end",
                "0",
            ],
        ));
        assert!(e.contains("memory cap") || e.contains("instruction budget"), "{e}");
        let e = err_text(s.run(0, &["EVAL", "redis.call('SET', 'mid', 1) error('boom')", "0"]));
        assert!(e.contains("boom"), "{e}");
        assert_eq!(s.run(0, &["GET", "before"]), bulk("1"));
        assert_eq!(s.run(0, &["GET", "mid"]), bulk("1"));
    }
    assert_eq!(a.snapshot(), b.snapshot());
}

#[test]
fn scripts_leave_no_trace_for_the_next_one() {
    let mut s = Sim::new();
    let e = err_text(s.run(0, &["EVAL", "string.rep = nil", "0"]));
    assert!(e.contains("Attempt to modify a readonly table"), "{e}");
    let e = err_text(s.run(0, &["EVAL", "rawset(string, 'x', 1)", "0"]));
    assert!(e.contains("nonexistent global variable 'rawset'"), "{e}");
    let e = err_text(s.run(0, &["EVAL", "redis.call = nil", "0"]));
    assert!(e.contains("Attempt to modify a readonly table"), "{e}");
    assert_eq!(
        s.run(0, &["EVAL", "_G.KEYS = 1 return 1", "1", "k"]),
        RVal::Int(1),
        "a script's own globals are its own"
    );
    assert_eq!(s.run(0, &["EVAL", "return KEYS[1]", "1", "k"]), bulk("k"));
    assert_eq!(s.run(0, &["EVAL", "return string.rep('a', 3)", "0"]), bulk("aaa"));
    assert_eq!(s.run(0, &["EVAL", "return getmetatable('')", "0"]), RVal::Nil);
    assert_eq!(s.run(0, &["EVAL", "return ('ab'):upper()", "0"]), bulk("AB"));
}

#[test]
fn a_memory_bomb_is_rerun_fresh_and_keeps_its_earlier_writes() {
    let mut a = Sim::new();
    // Warm this thread's engine with garbage, so its memory differs from a new one's.
    for i in 0..50 {
        a.run(
            0,
            &[
                "EVAL",
                "local t = {} for i = 1, 1000 do t[i] = tostring(i) .. ARGV[1] end return #t",
                "0",
                &i.to_string(),
            ],
        );
    }
    let bomb = "redis.call('SET', 'mb', 1) local t = {} for i = 1, 1e8 do t[i] = string.rep('x', 1048576) .. i end";
    let e = err_text(a.run(0, &["EVAL", bomb, "0"]));
    assert!(e.contains("memory cap"), "{e}");
    assert_eq!(a.run(0, &["GET", "mb"]), bulk("1"));
    let mut b = Sim::new();
    b.index = a.index - 1;
    let e2 = err_text(b.run(0, &["EVAL", bomb, "0"]));
    assert_eq!(e, e2);
    // 20 MiB (under half the cap) answers from the reused engine without a rerun.
    let big = "local t = {} for i = 1, 20 do t[i] = string.rep('y', 1048576) .. i end return #t";
    assert_eq!(a.run(0, &["EVAL", big, "0"]), RVal::Int(20));
}

#[test]
fn read_only_scripts_refuse_writes() {
    let mut s = Sim::new();
    s.run(0, &["SET", "k", "v"]);
    assert_eq!(
        s.run(0, &["EVAL_RO", "return redis.call('GET', KEYS[1])", "1", "k"]),
        bulk("v")
    );
    let e = err_text(s.run(0, &["EVAL_RO", "return redis.call('SET', KEYS[1], 'x')", "1", "k"]));
    assert!(
        e.contains("Write commands are not allowed from read-only scripts"),
        "{e}"
    );
}

#[test]
fn multi_applies_together_unless_a_watched_key_changed() {
    let mut s = Sim::new();
    s.run(0, &["SET", "w", "1"]);
    let fp = s.sm.watch_fingerprint(b"w", 0);
    let set = |v: &str| {
        let spec = parse::lookup(b"set").unwrap();
        parse::parse(spec, &[Bytes::from("k"), Bytes::copy_from_slice(v.as_bytes())]).unwrap()
    };
    let r = s.apply(
        0,
        Op::Multi {
            watched: vec![("w".into(), fp)],
            cmds: vec![Ok(set("a")), Ok(set("b"))],
        },
    );
    assert_eq!(r, RVal::Array(vec![RVal::Ok, RVal::Ok]));
    s.run(0, &["SET", "w", "2"]);
    let r = s.apply(
        0,
        Op::Multi {
            watched: vec![("w".into(), fp)],
            cmds: vec![Ok(set("c"))],
        },
    );
    assert_eq!(r, RVal::NilArray);
    assert_eq!(s.run(0, &["GET", "k"]), bulk("b"));
}

#[test]
fn keys_and_scan_see_every_key_once() {
    let mut s = Sim::new();
    for i in 0..50 {
        s.run(0, &["SET", &format!("key:{i}"), "v"]);
    }
    s.run(0, &["SET", "other", "v"]);
    match s.run(0, &["KEYS", "key:1*"]) {
        RVal::Array(v) => assert_eq!(v.len(), 11),
        other => panic!("{other:?}"),
    }
    let mut seen = Vec::new();
    let mut cursor = "0".to_string();
    loop {
        let RVal::Array(parts) = s.run(0, &["SCAN", &cursor, "MATCH", "key:*", "COUNT", "7"]) else {
            panic!()
        };
        let (RVal::Bulk(c), RVal::Array(names)) = (&parts[0], &parts[1]) else {
            panic!()
        };
        seen.extend(names.iter().cloned());
        cursor = String::from_utf8_lossy(c).into_owned();
        if cursor == "0" {
            break;
        }
    }
    seen.sort_by_key(|v| format!("{v:?}"));
    seen.dedup();
    assert_eq!(seen.len(), 50);
}

/// Cost of one script on an empty keyspace (run with --release --ignored --nocapture).
#[test]
#[ignore]
fn script_cost() {
    let mut s = Sim::new();
    let n = 2000;
    let t = std::time::Instant::now();
    for i in 0..n {
        s.run(0, &["EVAL", RELEASE, "1", &format!("k{i}"), "me"]);
    }
    println!("EVAL release script: {:?} per run", t.elapsed() / n);
    let t = std::time::Instant::now();
    for i in 0..n {
        s.run(0, &["SET", &format!("k{i}"), "me", "PX", "1000"]);
    }
    println!("SET: {:?} per run", t.elapsed() / n);
}
