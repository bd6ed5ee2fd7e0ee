//! EVAL inside the state machine: Lua 5.1 (as in Redis) in a sandbox, so a script gives
//! the same result on every replica.
//!
//! Determinism: no `os`, `io`, `package`, no loading of code or files; `math.random` is
//! a PRNG seeded from the entry; TIME is the entry's stamp; the instruction budget is a
//! count of VM instructions from the script's first instruction (a hook every
//! [`HOOK_EVERY`]). Writes made before an error stay, as in Redis.
//!
//! Speed: a Lua state costs far more to build than a lock script costs to run, so each
//! thread keeps one engine (`engine.rs`) and every script gets a fresh environment in
//! it: globals, library tables and `redis` are per-script copies or read-only proxies,
//! so nothing a script does is visible to the next one. Only memory use can depend on
//! the engine's history (garbage, interned strings), so a script run that comes near
//! the memory cap is undone and run again in a brand-new engine, whose accounting is
//! the same on every replica: the cap aborts a script identically everywhere.

mod convert;
mod engine;
pub mod known;
pub mod sha1;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::acl::AclUser;
use super::ctx::Ctx;
use super::data::{self, parse};
use super::keyspace::Keyspace;
use super::object::Object;
use super::rval::RVal;
use super::types::Millis;
use engine::{Engine, Mode, Outcome};

/// VM instructions between budget checks.
const HOOK_EVERY: u32 = 1000;
/// Instructions one script may run: well under a second, so a runaway script cannot
/// stall the cluster's apply loop for long.
pub const INSTRUCTION_BUDGET: u64 = 20_000_000;
/// Bytes one script may add to the Lua heap.
pub const MEMORY_CAP: usize = 64 * 1024 * 1024;

/// The replicated script cache: SHA-1 (lower-case hex) -> body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptCache {
    bodies: BTreeMap<String, Bytes>,
}

impl ScriptCache {
    /// Adds a body; returns its SHA-1.
    pub fn load(&mut self, body: &Bytes) -> String {
        let sha = sha1::sha1_hex(body);
        self.bodies
            .entry(sha.clone())
            .or_insert_with(|| Bytes::copy_from_slice(body));
        sha
    }

    pub fn get(&self, sha: &[u8]) -> Option<&Bytes> {
        std::str::from_utf8(sha).ok().and_then(|s| self.bodies.get(s))
    }

    pub fn flush(&mut self) {
        self.bodies.clear();
    }
}

/// Where a script's redis.call goes: the entry's keyspace (EVAL) or a read-only
/// borrow after ReadIndex (EVAL_RO).
pub(crate) enum Store<'a, 'c> {
    Write(&'a mut Keyspace, &'a mut Ctx<'c>),
    Read(&'a Keyspace, Millis),
}

/// What a script run changed, so that it can be undone before a rerun: the objects
/// under every key a write touched, as stored before the first touch, and the entry's
/// counters (settling a lock may issue tokens and events).
struct Undo {
    saved: Vec<(Bytes, Option<Object>)>,
    seen: BTreeSet<Bytes>,
    last_token: u64,
    last_waiter: u64,
    events: usize,
}

/// Whom a script runs as when its permissions are limited: the user's name (for the
/// error text) and its permissions.
pub(crate) type ScriptUser<'a> = Option<(&'a [u8], &'a AclUser)>;

/// A script run's access to the state machine.
pub(crate) struct Session<'a, 'c> {
    store: Store<'a, 'c>,
    user: ScriptUser<'a>,
    undo: Option<Undo>,
}

impl<'a, 'c> Session<'a, 'c> {
    fn new(store: Store<'a, 'c>, user: ScriptUser<'a>) -> Self {
        let undo = match &store {
            Store::Write(_, cx) => Some(Undo {
                saved: Vec::new(),
                seen: BTreeSet::new(),
                last_token: *cx.last_token,
                last_waiter: *cx.last_waiter,
                events: cx.events.len(),
            }),
            Store::Read(..) => None,
        };
        Session { store, user, undo }
    }

    /// One redis.call: parse, check, run.
    fn call(&mut self, args: &[Bytes]) -> RVal {
        let Some(name) = args.first() else {
            return RVal::err("ERR Please specify at least one argument for this redis lib call");
        };
        let Some(spec) = parse::lookup(name) else {
            return RVal::err("ERR Unknown Redis command called from script");
        };
        let cmd = match parse::parse(spec, &args[1..]) {
            Ok(c) => c,
            Err(e) => return RVal::Err(e),
        };
        if let Some(denied) = self.denial(spec.name, &cmd) {
            return denied;
        }
        match &mut self.store {
            Store::Write(ks, cx) => {
                if let (Some(u), true) = (&mut self.undo, cmd.is_write()) {
                    for k in cmd.keys() {
                        if u.seen.insert(Bytes::copy_from_slice(k)) {
                            u.saved.push((Bytes::copy_from_slice(k), ks.get(k).cloned()));
                        }
                    }
                }
                data::exec(ks, cx, &cmd)
            }
            Store::Read(_, _) if cmd.is_write() || spec.write => {
                RVal::err("ERR Write commands are not allowed from read-only scripts.")
            }
            Store::Read(ks, now) => data::read(ks, *now, &cmd),
        }
    }

    /// Redis's refusal when the script's user may not run `name` or touch one of its
    /// keys (checked on every replica alike: the user comes from the replicated ACL).
    fn denial(&self, name: &str, cmd: &data::cmd::DataCmd) -> Option<RVal> {
        let (user, perms) = self.user?;
        if !perms.can_run(name, None) {
            return Some(RVal::err(format!(
                "NOPERM User {} has no permissions to run the '{name}' command",
                String::from_utf8_lossy(user)
            )));
        }
        if cmd.keys().iter().any(|k| !perms.can_access(k)) {
            return Some(RVal::err("NOPERM No permissions to access a key"));
        }
        None
    }

    /// Puts back everything the run changed.
    fn rollback(&mut self) {
        let (Store::Write(ks, cx), Some(u)) = (&mut self.store, self.undo.take()) else {
            return;
        };
        for (key, obj) in u.saved.into_iter().rev() {
            match obj {
                Some(o) => ks.put(&key, o),
                None => {
                    ks.remove(&key);
                }
            }
        }
        *cx.last_token = u.last_token;
        *cx.last_waiter = u.last_waiter;
        cx.events.truncate(u.events);
        self.undo = Some(Undo {
            saved: Vec::new(),
            seen: BTreeSet::new(),
            last_token: u.last_token,
            last_waiter: u.last_waiter,
            events: u.events,
        });
    }
}

thread_local! {
    /// This thread's reusable engine (built on first use, dropped after a failure).
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
}

/// Runs `body` (named `sha`) with KEYS and ARGV; `seed` seeds math.random.
pub(crate) fn run(
    store: Store<'_, '_>,
    user: ScriptUser<'_>,
    body: &[u8],
    sha: &str,
    keys: &[Bytes],
    argv: &[Bytes],
    seed: u64,
) -> RVal {
    let mut session = Session::new(store, user);
    if let Some(v) = known::run(&mut session, sha, keys, argv) {
        return v;
    }
    let fast = ENGINE.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Engine::new().ok();
        }
        let result = match slot.as_mut() {
            Some(engine) => engine.run(&mut session, Mode::Reused, body, sha, keys, argv, seed),
            None => Ok(Outcome::Rerun),
        };
        if result.is_err() {
            // An engine that failed outside the script is not trusted again.
            *slot = None;
        }
        result
    });
    if let Ok(Outcome::Done(v)) = fast {
        return v;
    }
    // Near the memory cap (or an engine failure): undo, and run in a new engine.
    session.rollback();
    match Engine::new().and_then(|mut e| e.run(&mut session, Mode::Fresh, body, sha, keys, argv, seed)) {
        Ok(Outcome::Done(v)) => v,
        Ok(Outcome::Rerun) => RVal::err(format!("ERR internal: a fresh engine asked for a rerun script: {sha}")),
        Err(e) => RVal::err(format!("ERR {} script: {sha}", engine::one_line(&e.to_string()))),
    }
}
