//! One Lua state with the sandbox built once; each script runs in a fresh environment
//! (see `mod.rs` for why results do not depend on what ran before).

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

use bytes::Bytes;
use mlua::{ChunkMode, Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, Variadic, VmState};

use super::super::rval::RVal;
use super::{convert, sha1, Session, HOOK_EVERY, INSTRUCTION_BUDGET, MEMORY_CAP};

/// How a run treats memory.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// A reused engine: memory use may depend on its history, so a run that reaches
    /// half the cap asks to be rerun in a fresh engine instead of answering.
    Reused,
    /// A new engine: the cap is enforced and its abort is the answer.
    Fresh,
}

pub(super) enum Outcome {
    Done(RVal),
    Rerun,
}

const ARGS_MSG: &str = "ERR Lua redis lib command arguments must be strings or integers";
const BUDGET_MSG: &str = "script killed: instruction budget exceeded (writes before the abort stay)";
const MEMORY_MSG: &str = "script killed: memory cap exceeded (writes before the abort stay)";
/// Compiled scripts a reused engine keeps (by SHA-1); past this the cache starts over.
const COMPILED_CACHE: usize = 256;

/// Built once per engine. Returns `runner(f, keys, argv, call, pcall)`, which gives the
/// script a fresh environment (`make_env`), runs it and classifies the outcome.
/// pcall/xpcall are wrapped so a killed script cannot catch its own abort, and so an
/// error raised by redis.call is caught as Redis hands it over: `{err = ...}`.
const PRELUDE: &str = r#"
local killed, take_call_error, oom = __fp_killed, __fp_take_call_error, __fp_oom
local sha1hex = __fp_sha1hex
__fp_killed, __fp_take_call_error, __fp_oom, __fp_sha1hex = nil, nil, nil, nil
local rawpcall, rawxpcall, error, type, tostring, setmetatable, pairs = pcall, xpcall, error, type, tostring, setmetatable, pairs
local string, math, table, setfenv = string, math, table, setfenv
getmetatable('').__metatable = false
local function pass(ok, ...)
  if not ok and (...) == 'not enough memory' then oom() end
  local k = killed()
  if k then error(k, 0) end
  if not ok then
    local e = take_call_error()
    if e then return false, e end
  end
  return ok, ...
end
local base = {}
for k, v in pairs(_G) do base[k] = v end
base._G, base.setfenv, base.getfenv = nil, nil, nil
-- Without rawset, the shared read-only tables below cannot be written by a script.
base.rawset = nil
base.pcall = function(...) return pass(rawpcall(...)) end
base.xpcall = function(...) return pass(rawxpcall(...)) end
local function deny() error('Attempt to modify a readonly table', 2) end
local function readonly(t)
  return setmetatable({}, {__index = t, __newindex = deny, __metatable = false})
end
local shared = {
  string = readonly(string), math = readonly(math), table = readonly(table),
}
local redis_base = {
  error_reply = function(e) return {err = e} end,
  status_reply = function(s) return {ok = s} end,
  replicate_commands = function() return true end,
  set_repl = function() end,
  log = function() end,
  setresp = function(v) if v ~= 2 then error('fencepost scripts speak RESP2 only', 2) end end,
  breakpoint = function() return false end,
  debug = function() end,
  sha1hex = sha1hex,
  REPL_ALL = 3, REPL_AOF = 1, REPL_REPLICA = 2, REPL_SLAVE = 2, REPL_NONE = 0,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
}
local fields_mt = {__index = redis_base}
local env_mt = {
  __index = function(_, k)
    local v = shared[k]
    if v == nil then v = base[k] end
    if v == nil then error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2) end
    return v
  end,
  __newindex = function(_, k) error("Script attempted to create global variable '" .. tostring(k) .. "'", 2) end,
  __metatable = false,
}
-- A script's globals: its own KEYS, ARGV and redis; the rest read through env_mt.
local function make_env(keys, argv, call, pcall_r)
  local fields = setmetatable({call = call, pcall = pcall_r}, fields_mt)
  local redis = setmetatable({}, {__index = fields, __newindex = deny, __metatable = false})
  local env = {KEYS = keys, ARGV = argv, redis = redis}
  env._G = env
  return setmetatable(env, env_mt)
end
local function runner(f, keys, argv, call, pcall_r)
  setfenv(f, make_env(keys, argv, call, pcall_r))
  local ok, r = rawpcall(f)
  if not ok and r == 'not enough memory' then oom() end
  local k = killed()
  if k then return 3, k end
  if ok then return 1, r end
  local e = take_call_error()
  if e then return 2, e.err, e.line end
  if type(r) == 'table' and type(r.err) == 'string' then return 2, r.err end
  return 3, tostring(r)
end
return runner
"#;

/// Per-run state the engine's Rust functions share.
#[derive(Default)]
struct RunState {
    /// Why the script was stopped (budget or memory), once it was.
    killed: Cell<Option<&'static str>>,
    /// The last error reply redis.call raised, with the script line: (message, line).
    call_error: Cell<Option<(String, i32)>>,
    /// Budget hooks fired so far.
    hits: Cell<u64>,
    /// math.random's state.
    rng: Cell<u64>,
}

pub(super) struct Engine {
    lua: Lua,
    runner: Function,
    st: Rc<RunState>,
    compiled: HashMap<String, Function>,
}

pub(super) fn one_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

impl Engine {
    pub fn new() -> mlua::Result<Engine> {
        let lua = Lua::new_with(StdLib::TABLE | StdLib::STRING | StdLib::MATH, LuaOptions::new())?;
        // Collect when the heap is 10x what survived the last cycle (default 2x): the
        // engine's live heap is small and every script leaves a little garbage, so the
        // default spends more time re-marking the engine than freeing anything.
        lua.gc_inc(1000, 0, 0);
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
        ] {
            g.raw_set(name, Value::Nil)?;
        }
        if let Ok(Value::Table(s)) = g.raw_get::<Value>("string") {
            s.raw_set("dump", Value::Nil)?;
        }
        let st = Rc::new(RunState::default());
        install_random(&lua, &st)?;
        {
            let st = st.clone();
            g.raw_set("__fp_killed", lua.create_function(move |_, ()| Ok(st.killed.get()))?)?;
        }
        {
            let st = st.clone();
            g.raw_set(
                "__fp_oom",
                lua.create_function(move |_, ()| {
                    st.killed.set(Some(MEMORY_MSG));
                    Ok(())
                })?,
            )?;
        }
        {
            let st = st.clone();
            g.raw_set(
                "__fp_take_call_error",
                lua.create_function(move |lua, ()| match st.call_error.take() {
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
        g.raw_set(
            "__fp_sha1hex",
            lua.create_function(|lua, s: mlua::String| lua.create_string(sha1::sha1_hex(&s.as_bytes())))?,
        )?;
        let runner: Function = lua.load(PRELUDE).set_name("=prelude").into_function()?.call(())?;
        // The prelude kept what it needs; scripts read globals through their own env.
        g.raw_set("getfenv", Value::Nil)?;
        g.raw_set("setfenv", Value::Nil)?;
        Ok(Engine {
            lua,
            runner,
            st,
            compiled: HashMap::new(),
        })
    }

    fn compile(&mut self, body: &[u8], sha: &str, mode: Mode) -> mlua::Result<Result<Function, String>> {
        if mode == Mode::Reused {
            if let Some(f) = self.compiled.get(sha) {
                return Ok(Ok(f.clone()));
            }
        }
        let f = self
            .lua
            .load(body)
            .set_name("@user_script")
            .set_mode(ChunkMode::Text)
            .into_function();
        match f {
            Ok(f) => {
                if mode == Mode::Reused {
                    if self.compiled.len() >= COMPILED_CACHE {
                        self.compiled.clear();
                    }
                    self.compiled.insert(sha.to_string(), f.clone());
                }
                Ok(Ok(f))
            }
            Err(mlua::Error::MemoryError(m)) => Err(mlua::Error::MemoryError(m)),
            Err(e) => Ok(Err(format!(
                "ERR Error compiling script (new function): {}",
                one_line(&e.to_string())
            ))),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &mut self,
        session: &mut Session<'_, '_>,
        mode: Mode,
        body: &[u8],
        sha: &str,
        keys: &[Bytes],
        argv: &[Bytes],
        seed: u64,
    ) -> mlua::Result<Outcome> {
        self.st.killed.set(None);
        self.st.call_error.set(None);
        self.st.hits.set(0);
        self.st.rng.set(seed ^ 0x9E37_79B9_7F4A_7C15);
        let main = match self.compile(body, sha, mode)? {
            Ok(f) => f,
            Err(msg) => return Ok(Outcome::Done(RVal::Err(msg))),
        };
        let lua = &self.lua;
        let keys_t = string_list(lua, keys)?;
        let argv_t = string_list(lua, argv)?;
        let session = RefCell::new(session);
        let st = self.st.clone();
        let run_call = |lua: &Lua, args: Variadic<Value>| -> mlua::Result<RVal> {
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
            Ok(session.borrow_mut().call(&words))
        };
        let outcome = lua.scope(|scope| {
            // redis.call and redis.pcall are Rust functions called straight from the
            // script (a Lua wrapper could be tail-called and lose the script's line).
            let call = scope.create_function(|lua, args: Variadic<Value>| {
                let reply = run_call(lua, args)?;
                if let RVal::Err(e) = &reply {
                    // Level 0 is this function, 1 the script line that called it.
                    let line = lua.inspect_stack(1).map_or(0, |d| d.curr_line());
                    st.call_error.set(Some((e.clone(), line)));
                    return Err(mlua::Error::runtime(e.clone()));
                }
                convert::to_lua(lua, &reply)
            })?;
            let pcall =
                scope.create_function(|lua, args: Variadic<Value>| convert::to_lua(lua, &run_call(lua, args)?))?;
            // Budget and cap count from here: the same work in a reused or a new engine.
            let cap = match mode {
                Mode::Reused => MEMORY_CAP / 2,
                Mode::Fresh => MEMORY_CAP,
            };
            lua.set_memory_limit(lua.used_memory().saturating_add(cap))?;
            let hook_st = self.st.clone();
            lua.set_hook(HookTriggers::new().every_nth_instruction(HOOK_EVERY), move |_, _| {
                hook_st.hits.set(hook_st.hits.get() + 1);
                if hook_st.hits.get() * u64::from(HOOK_EVERY) > INSTRUCTION_BUDGET {
                    hook_st.killed.set(Some(BUDGET_MSG));
                    return Err(mlua::Error::runtime(BUDGET_MSG));
                }
                Ok(VmState::Continue)
            });
            let result = self
                .runner
                .call::<MultiValue>((main.clone(), keys_t, argv_t, call, pcall));
            lua.remove_hook();
            lua.set_memory_limit(0)?;
            let (code, value, line) = match result {
                Ok(mv) => {
                    let mut it = mv.into_iter();
                    let code = match it.next() {
                        Some(Value::Integer(c)) => c as u8,
                        Some(Value::Number(c)) => c as u8,
                        _ => 3,
                    };
                    (code, it.next().unwrap_or(Value::Nil), it.next().unwrap_or(Value::Nil))
                }
                Err(mlua::Error::MemoryError(_)) => {
                    self.st.killed.set(Some(MEMORY_MSG));
                    (3, Value::Nil, Value::Nil)
                }
                Err(e) => (
                    4,
                    Value::String(lua.create_string(one_line(&e.to_string()))?),
                    Value::Nil,
                ),
            };
            if self.st.killed.get() == Some(MEMORY_MSG) && mode == Mode::Reused {
                return Ok(Outcome::Rerun);
            }
            Ok(Outcome::Done(classify(code, value, line, self.st.killed.get(), sha)))
        });
        match outcome {
            Err(mlua::Error::MemoryError(_)) if mode == Mode::Reused => Ok(Outcome::Rerun),
            Err(mlua::Error::MemoryError(_)) => Ok(Outcome::Done(RVal::err(format!("ERR {MEMORY_MSG} script: {sha}")))),
            other => other,
        }
    }
}

use std::cell::RefCell;

fn string_list(lua: &Lua, items: &[Bytes]) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, it) in items.iter().enumerate() {
        t.raw_set(i + 1, lua.create_string(it)?)?;
    }
    Ok(t)
}

/// The reply for a runner outcome: 1 returned, 2 an error reply raised, else failed.
fn classify(code: u8, value: Value, line: Value, killed: Option<&'static str>, sha: &str) -> RVal {
    match code {
        1 => convert::from_lua(&value),
        // An error reply raised by redis.call, passed on with its own code, and where it
        // happened, as Redis words it.
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
            if let Some(why) = killed {
                return RVal::err(format!("ERR {why} script: {sha}"));
            }
            let msg = match &value {
                Value::String(s) => s.to_string_lossy(),
                _ => "script failed".into(),
            };
            // Lua's message starts `user_script:<line>: ` for errors in the script
            // itself; Redis repeats the line at the end.
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
}

/// math.random / math.randomseed on a PRNG of our own, seeded per entry: Lua 5.1's use
/// C's rand(), whose state is per process, not per replica-independent entry.
fn install_random(lua: &Lua, st: &Rc<RunState>) -> mlua::Result<()> {
    let math: Table = lua.globals().raw_get("math")?;
    let s = st.clone();
    math.raw_set(
        "random",
        lua.create_function(move |_, args: Variadic<f64>| {
            // splitmix64
            let mut z = s.rng.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
            s.rng.set(z);
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
    let s = st.clone();
    math.raw_set(
        "randomseed",
        lua.create_function(move |_, seed: f64| {
            s.rng.set(seed.to_bits());
            Ok(())
        })?,
    )?;
    Ok(())
}
