//! EVAL inside the state machine: Lua 5.1 (as in Redis) in a fresh, sandboxed state per
//! script, so a script gives the same result on every replica.
//!
//! Determinism: no `os`, `io`, `package`, no loading of code or files; `math.random` is
//! a PRNG seeded from the entry; TIME is the entry's stamp; the instruction budget is a
//! count of VM instructions (a hook every [`HOOK_EVERY`]), and the memory cap counts the
//! Lua allocator's bytes: both are functions of the script and its inputs, so a runaway
//! script stops at the same instruction everywhere. Writes made before an error stay,
//! as in Redis.

mod convert;
pub mod sha1;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;

use bytes::Bytes;
use mlua::{ChunkMode, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Value, Variadic, VmState};
use serde::{Deserialize, Serialize};

use super::ctx::Ctx;
use super::data::{self, parse};
use super::keyspace::Keyspace;
use super::rval::RVal;
use super::types::Millis;

/// VM instructions between budget checks.
const HOOK_EVERY: u32 = 1000;
/// Instructions one script may run: well under a second, so a runaway script cannot
/// stall the cluster's apply loop for long.
pub const INSTRUCTION_BUDGET: u64 = 20_000_000;
/// Bytes the Lua allocator may hold for one script.
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

impl Store<'_, '_> {
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
        match self {
            Store::Write(ks, cx) => data::exec(ks, cx, &cmd),
            Store::Read(_, _) if cmd.is_write() || spec.write => {
                RVal::err("ERR Write commands are not allowed from read-only scripts.")
            }
            Store::Read(ks, now) => data::read(ks, *now, &cmd),
        }
    }
}

/// Set up once per state, before the script: protects globals and wraps pcall so a
/// killed script cannot catch its own abort.
const PRELUDE: &str = r#"
local rawpcall, rawxpcall, killed, take_call_error = pcall, xpcall, __fp_killed, __fp_take_call_error
local error, type = error, type
local function pass(ok, ...)
  if killed() then error(killed(), 0) end
  if not ok then
    -- An error raised by redis.call is caught as Redis hands it over: {err = ...}.
    local e = take_call_error()
    if e then return false, e end
  end
  return ok, ...
end
pcall = function(...) return pass(rawpcall(...)) end
xpcall = function(...) return pass(rawxpcall(...)) end
__fp_killed, __fp_take_call_error = nil, nil
local redis = redis
redis.call, redis.pcall = __fp_call, __fp_pcall
__fp_call, __fp_pcall = nil, nil
redis.error_reply = function(e) return {err = e} end
redis.status_reply = function(s) return {ok = s} end
redis.replicate_commands = function() return true end
redis.set_repl = function() end
redis.log = function() end
redis.setresp = function(v) if v ~= 2 then error('fencepost scripts speak RESP2 only', 2) end end
redis.REPL_ALL, redis.REPL_AOF, redis.REPL_REPLICA, redis.REPL_SLAVE, redis.REPL_NONE = 3, 1, 2, 2, 0
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.breakpoint = function() return false end
redis.debug = function() end
local runner = function(f)
  local ok, r = rawpcall(f)
  if killed() then return 3, killed() end
  if ok then return 1, r end
  local e = take_call_error()
  if e then return 2, e.err, e.line end
  if type(r) == 'table' and type(r.err) == 'string' then return 2, r.err end
  return 3, tostring(r)
end
setmetatable(_G, {
  __index = function(_, k) error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2) end,
  __newindex = function(_, k) error("Script attempted to create global variable '" .. tostring(k) .. "'", 2) end,
})
return runner
"#;

/// Runs `body` (named `sha`) with KEYS and ARGV; `seed` seeds math.random.
pub(crate) fn run(store: Store<'_, '_>, body: &[u8], sha: &str, keys: &[Bytes], argv: &[Bytes], seed: u64) -> RVal {
    match run_inner(store, body, sha, keys, argv, seed) {
        Ok(v) => v,
        Err(e) => RVal::err(format!("ERR {} script: {sha}", one_line(&e.to_string()))),
    }
}

fn one_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

fn run_inner(
    store: Store<'_, '_>,
    body: &[u8],
    sha: &str,
    keys: &[Bytes],
    argv: &[Bytes],
    seed: u64,
) -> mlua::Result<RVal> {
    let lua = Lua::new_with(StdLib::TABLE | StdLib::STRING | StdLib::MATH, LuaOptions::new())?;
    let g = lua.globals();
    for name in [
        "dofile",
        "loadfile",
        "load",
        "loadstring",
        "print",
        "require",
        "module",
        "newproxy",
        "gcinfo",
        "collectgarbage",
        "getfenv",
        "setfenv",
    ] {
        g.raw_set(name, Value::Nil)?;
    }
    if let Ok(Value::Table(s)) = g.raw_get::<Value>("string") {
        s.raw_set("dump", Value::Nil)?;
    }
    install_random(&lua, seed)?;

    // The abort reason once the budget or the cap is hit; checked by the pcall wrappers.
    let killed: Rc<Cell<Option<&'static str>>> = Rc::new(Cell::new(None));
    let budget_hits = Rc::new(Cell::new(0u64));
    {
        let killed = killed.clone();
        let hits = budget_hits.clone();
        lua.set_hook(HookTriggers::new().every_nth_instruction(HOOK_EVERY), move |_, _| {
            hits.set(hits.get() + 1);
            if hits.get() * u64::from(HOOK_EVERY) > INSTRUCTION_BUDGET {
                killed.set(Some(BUDGET_MSG));
                return Err(mlua::Error::runtime(BUDGET_MSG));
            }
            Ok(VmState::Continue)
        });
    }
    {
        let killed = killed.clone();
        g.raw_set("__fp_killed", lua.create_function(move |_, ()| Ok(killed.get()))?)?;
    }
    // The last error reply redis.call raised, with the script line: (message, line).
    let call_error: Rc<Cell<Option<(String, i32)>>> = Rc::new(Cell::new(None));
    {
        let call_error = call_error.clone();
        g.raw_set(
            "__fp_take_call_error",
            lua.create_function(move |lua, ()| match call_error.take() {
                None => Ok(Value::Nil),
                Some((e, line)) => {
                    let t = lua.create_table()?;
                    t.raw_set("err", lua.create_string(e)?)?;
                    t.raw_set("line", line)?;
                    Ok(Value::Table(t))
                }
            })?,
        )?;
    }
    let keys_t = lua.create_sequence_from(
        keys.iter()
            .map(|k| lua.create_string(k))
            .collect::<mlua::Result<Vec<_>>>()?,
    )?;
    let argv_t = lua.create_sequence_from(
        argv.iter()
            .map(|a| lua.create_string(a))
            .collect::<mlua::Result<Vec<_>>>()?,
    )?;
    g.raw_set("KEYS", keys_t)?;
    g.raw_set("ARGV", argv_t)?;
    let redis_t = lua.create_table()?;
    redis_t.raw_set(
        "sha1hex",
        lua.create_function(|lua, s: mlua::String| lua.create_string(sha1::sha1_hex(&s.as_bytes())))?,
    )?;
    g.raw_set("redis", redis_t)?;

    // redis.call and redis.pcall are Rust functions called straight from the script
    // (a Lua wrapper could be tail-called and lose the script's line). redis.call
    // raises an error reply; the pcall wrappers and the runner pick it up as the
    // {err = ...} table Redis raises (`call_error`).
    let store = std::cell::RefCell::new(store);
    let run = |lua: &Lua, args: Variadic<Value>| -> mlua::Result<RVal> {
        let mut words = Vec::with_capacity(args.len());
        for a in args.iter() {
            match a {
                Value::String(s) => words.push(Bytes::copy_from_slice(&s.as_bytes())),
                Value::Integer(_) | Value::Number(_) => match lua.coerce_string(a.clone())? {
                    Some(s) => words.push(Bytes::copy_from_slice(&s.as_bytes())),
                    None => return Ok(RVal::err(ARGS_MSG)),
                },
                _ => return Ok(RVal::err(ARGS_MSG)),
            }
        }
        Ok(store.borrow_mut().call(&words))
    };
    let pending = call_error.clone();
    let killed_after = killed.clone();
    let outcome = lua.scope(|scope| {
        let call = scope.create_function(|lua, args: Variadic<Value>| {
            let reply = run(lua, args)?;
            if let RVal::Err(e) = &reply {
                // Level 0 is this function, 1 the script line that called it.
                let line = lua.inspect_stack(1).map_or(0, |d| d.curr_line());
                pending.set(Some((e.clone(), line)));
                return Err(mlua::Error::runtime(e.clone()));
            }
            convert::to_lua(lua, &reply)
        })?;
        let pcall = scope.create_function(|lua, args: Variadic<Value>| convert::to_lua(lua, &run(lua, args)?))?;
        lua.globals().raw_set("__fp_pcall", pcall)?;
        lua.globals().raw_set("__fp_call", call)?;
        let runner: mlua::Function = lua.load(PRELUDE).set_name("=prelude").into_function()?.call(())?;
        lua.set_memory_limit(MEMORY_CAP)?;
        let main = lua
            .load(body)
            .set_name("@user_script")
            .set_mode(ChunkMode::Text)
            .into_function();
        let main = match main {
            Ok(f) => f,
            Err(e) => {
                return Ok(RVal::err(format!(
                    "ERR Error compiling script (new function): {}",
                    one_line(&e.to_string())
                )))
            }
        };
        let (code, value, line): (u8, Value, Value) = match runner.call::<MultiValue>(main) {
            Ok(mv) => {
                let mut it = mv.into_iter();
                let code = match it.next() {
                    Some(Value::Integer(c)) => c as u8,
                    Some(Value::Number(c)) => c as u8,
                    _ => 3,
                };
                (code, it.next().unwrap_or(Value::Nil), it.next().unwrap_or(Value::Nil))
            }
            Err(e) => (
                4,
                Value::String(lua.create_string(one_line(&e.to_string()))?),
                Value::Nil,
            ),
        };
        Ok(match code {
            1 => convert::from_lua(&value),
            // An error reply raised by redis.call, passed on with its own code, and
            // where it happened, as Redis words it.
            2 => match (value, line) {
                (Value::String(s), Value::Integer(l)) => {
                    RVal::Err(format!("{} script: {sha}, on @user_script:{l}.", s.to_string_lossy()))
                }
                (Value::String(s), Value::Number(l)) => RVal::Err(format!(
                    "{} script: {sha}, on @user_script:{}.",
                    s.to_string_lossy(),
                    l as i64
                )),
                (Value::String(s), _) => RVal::Err(format!("{} script: {sha}", s.to_string_lossy())),
                _ => RVal::err("ERR script error"),
            },
            _ => {
                let msg = match &value {
                    Value::String(s) => s.to_string_lossy(),
                    _ => "script failed".into(),
                };
                if let Some(why) = killed_after.get() {
                    RVal::err(format!("ERR {why} script: {sha}"))
                } else if msg.contains("not enough memory") {
                    RVal::err(format!("ERR {MEMORY_MSG} script: {sha}"))
                } else {
                    // Lua's message starts `user_script:<line>: ` for errors in the
                    // script itself; Redis repeats the line at the end.
                    let line = msg
                        .strip_prefix("user_script:")
                        .and_then(|r| r.split(':').next())
                        .and_then(|n| n.parse::<u32>().ok());
                    match line {
                        Some(l) => RVal::err(format!("ERR {msg} script: {sha}, on @user_script:{l}.")),
                        None => RVal::err(format!("ERR {msg} script: {sha}")),
                    }
                }
            }
        })
    });
    lua.remove_hook();
    match outcome {
        Err(mlua::Error::MemoryError(_)) => Ok(RVal::err(format!("ERR {MEMORY_MSG} script: {sha}"))),
        other => other,
    }
}

const ARGS_MSG: &str = "ERR Lua redis lib command arguments must be strings or integers";
const BUDGET_MSG: &str = "script killed: instruction budget exceeded (writes before the abort stay)";
const MEMORY_MSG: &str = "script killed: memory cap exceeded (writes before the abort stay)";

/// math.random / math.randomseed on a PRNG of our own, seeded per entry: Lua 5.1's use
/// C's rand(), whose state is per process, not per replica-independent entry.
fn install_random(lua: &Lua, seed: u64) -> mlua::Result<()> {
    let state = Rc::new(Cell::new(seed ^ 0x9E37_79B9_7F4A_7C15));
    let math: mlua::Table = lua.globals().raw_get("math")?;
    let st = state.clone();
    math.raw_set(
        "random",
        lua.create_function(move |_, args: Variadic<f64>| {
            // splitmix64
            let mut z = st.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
            st.set(z);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            let r = (z >> 11) as f64 / (1u64 << 53) as f64;
            match args.as_slice() {
                [] => Ok(r),
                [m] if *m >= 1.0 => Ok((r * m.floor()).floor() + 1.0),
                [m, n] if *m <= *n => Ok((r * (n.floor() - m.floor() + 1.0)).floor() + m.floor()),
                _ => Err(mlua::Error::runtime("bad argument to 'random' (interval is empty)")),
            }
        })?,
    )?;
    math.raw_set(
        "randomseed",
        lua.create_function(move |_, s: f64| {
            state.set(s.to_bits());
            Ok(())
        })?,
    )?;
    Ok(())
}
