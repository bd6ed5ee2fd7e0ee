//! The natively run release scripts (`script::known`) against Lua: each recognised
//! script and a copy of it that differs by one trailing space (same Lua, another SHA,
//! so never recognised) run from the same states, as the same users, and must give the
//! same reply (the SHA in an error's text aside) and leave the same keyspace.

use bytes::Bytes;

use super::{b, Sim};
use crate::sm::acl::AclRule;
use crate::sm::data::cmd::{DataCmd, Expiry, ScriptRef, SetCond, TtlChange};
use crate::sm::rval::RVal;
use crate::sm::script::known::{DOCS_RELEASE, DOCS_RELEASE_ONE_LINE, REDIS_PY_RELEASE};
use crate::sm::script::sha1::sha1_hex;
use crate::sm::{Op, Response};

const TOKEN: &str = "f0e1d2c3b4a5968778695a4b3c2d1e0f";

/// The states a release meets: what the key holds before the script runs.
fn setups() -> Vec<(&'static str, Vec<Op>)> {
    let set = |val: &str, ttl: TtlChange| {
        Op::Data(DataCmd::Set {
            key: b("lock"),
            val: b(val),
            cond: SetCond::IfAbsent,
            get: false,
            ttl,
        })
    };
    vec![
        ("absent", vec![]),
        (
            "held by the caller",
            vec![set(TOKEN, TtlChange::Expire(Expiry::InMs(10_000)))],
        ),
        (
            "held by another",
            vec![set("someone-else", TtlChange::Expire(Expiry::InMs(10_000)))],
        ),
        ("expired", vec![set(TOKEN, TtlChange::Expire(Expiry::InMs(1)))]),
        ("held without expiry", vec![set(TOKEN, TtlChange::Clear)]),
        (
            "a hash (wrong type)",
            vec![Op::Data(DataCmd::HSet {
                key: b("lock"),
                pairs: vec![(b("f"), b(TOKEN))],
                ok_reply: false,
            })],
        ),
    ]
}

/// Who runs the script: the default user, or a user limited by `rules`.
fn users() -> Vec<(&'static str, Option<Vec<AclRule>>)> {
    let base = || {
        vec![
            AclRule::On,
            AclRule::NoPass,
            AclRule::Allow("eval".into()),
            AclRule::Allow("evalsha".into()),
        ]
    };
    let with = |extra: Vec<AclRule>| Some(base().into_iter().chain(extra).collect());
    vec![
        ("default", None),
        (
            "get+del on lock",
            with(vec![
                AclRule::Allow("get".into()),
                AclRule::Allow("del".into()),
                AclRule::Keys(b("lock")),
            ]),
        ),
        (
            "get only",
            with(vec![AclRule::Allow("get".into()), AclRule::Keys(b("lock"))]),
        ),
        (
            "no key access",
            with(vec![
                AclRule::Allow("get".into()),
                AclRule::Allow("del".into()),
                AclRule::Keys(b("other")),
            ]),
        ),
    ]
}

fn eval(body: &str, sha_only: bool, keys: Vec<Bytes>, args: Vec<Bytes>, read_only: bool) -> DataCmd {
    let script = if sha_only {
        ScriptRef::Sha(Bytes::from(sha1_hex(body.as_bytes())))
    } else {
        ScriptRef::Body(Bytes::copy_from_slice(body.as_bytes()))
    };
    DataCmd::Eval {
        script,
        keys,
        args,
        read_only,
    }
}

/// Runs `body` after `setup` as `user`; returns the reply (SHA removed) and the keyspace.
fn run_one(body: &str, setup: &[Op], user: &Option<Vec<AclRule>>, call: &Call) -> (String, String) {
    let mut sim = Sim::new();
    for op in setup {
        sim.at(1_000, op.clone());
    }
    // Loaded first, so EVALSHA finds it (and EVAL caches it again, harmlessly).
    sim.at(
        1_000,
        Op::Data(DataCmd::ScriptLoad(Bytes::copy_from_slice(body.as_bytes()))),
    );
    let cmd = eval(
        body,
        call.sha_only,
        call.keys.clone(),
        call.args.clone(),
        call.read_only,
    );
    let op = match user {
        None => Op::Data(cmd),
        Some(rules) => {
            sim.at(
                1_000,
                Op::AclSetUser {
                    user: b("app"),
                    if_absent: vec![],
                    rules: rules.clone(),
                },
            );
            Op::Scripted { user: b("app"), cmd }
        }
    };
    // Later than the 1 ms expiry of the "expired" setup.
    let reply = match sim.at(1_500, op) {
        Response::Value(v) => format!("{v:?}"),
        other => format!("{other:?}"),
    };
    let sha = sha1_hex(body.as_bytes());
    let state = format!("{:?}", sim.sm.keys.get(b"lock").map(|o| format!("{o:?}")));
    (reply.replace(&sha, "<sha>"), state)
}

struct Call {
    sha_only: bool,
    keys: Vec<Bytes>,
    args: Vec<Bytes>,
    read_only: bool,
}

#[test]
fn native_releases_answer_and_change_exactly_as_lua_does() {
    let calls = [
        Call {
            sha_only: true,
            keys: vec![b("lock")],
            args: vec![b(TOKEN)],
            read_only: false,
        },
        Call {
            sha_only: false,
            keys: vec![b("lock")],
            args: vec![b(TOKEN)],
            read_only: false,
        },
        Call {
            sha_only: true,
            keys: vec![b("lock")],
            args: vec![b(TOKEN)],
            read_only: true,
        },
        Call {
            sha_only: true,
            keys: vec![b("lock")],
            args: vec![],
            read_only: false,
        },
        Call {
            sha_only: true,
            keys: vec![b("lock"), b("other")],
            args: vec![b(TOKEN), b("x")],
            read_only: false,
        },
    ];
    let mut compared = 0;
    let mut deleted = 0;
    for body in [REDIS_PY_RELEASE, DOCS_RELEASE, DOCS_RELEASE_ONE_LINE] {
        let in_lua = format!("{body} ");
        for (what, setup) in setups() {
            for (who, user) in users() {
                for call in &calls {
                    let native = run_one(body, &setup, &user, call);
                    let lua = run_one(&in_lua, &setup, &user, call);
                    assert_eq!(
                        native,
                        lua,
                        "{what}, as {who}, sha_only={} read_only={} keys={} args={}",
                        call.sha_only,
                        call.read_only,
                        call.keys.len(),
                        call.args.len()
                    );
                    compared += 1;
                    deleted += usize::from(native.1 == "None" && what == "held by the caller");
                }
            }
        }
    }
    assert_eq!(compared, 3 * 6 * 4 * 5);
    assert!(
        deleted > 0,
        "no case released a held lock: the comparison proves nothing"
    );
}

/// The SHA redis-py sends for its release script is the one recognised.
#[test]
fn redis_py_release_sha_is_the_one_redis_py_sends() {
    assert_eq!(
        sha1_hex(REDIS_PY_RELEASE.as_bytes()),
        "c3f8721cbb97f72bc19e972846bd7aaf91901658"
    );
}

/// Sanity: the Lua copy really runs the script (a held lock is released).
#[test]
fn the_lua_copy_releases_a_held_lock() {
    let setup = &setups()[1].1;
    let call = Call {
        sha_only: true,
        keys: vec![b("lock")],
        args: vec![b(TOKEN)],
        read_only: false,
    };
    let (reply, state) = run_one(&format!("{REDIS_PY_RELEASE} "), setup, &None, &call);
    assert_eq!(
        (reply.as_str(), state.as_str()),
        (format!("{:?}", RVal::Int(1)).as_str(), "None")
    );
}
