//! Redis's conversions between Lua values and replies (RESP2 rules, as scripts see
//! them unless they ask otherwise).

use mlua::{Lua, Table, Value};

use super::super::rval::{fmt_double, RVal};

/// A reply as redis.call hands it to Lua. Errors become `{err = ...}` tables; the
/// caller decides whether to raise them.
pub fn to_lua(lua: &Lua, v: &RVal) -> mlua::Result<Value> {
    Ok(match v {
        RVal::Int(i) => Value::Number(*i as f64),
        RVal::Bulk(b) => Value::String(lua.create_string(b)?),
        RVal::Nil | RVal::NilArray => Value::Boolean(false),
        RVal::Ok => Value::Table(field_table(lua, "ok", b"OK")?),
        RVal::Status(s) => Value::Table(field_table(lua, "ok", s.as_bytes())?),
        RVal::Err(e) => Value::Table(field_table(lua, "err", e.as_bytes())?),
        RVal::Double(d) => Value::String(lua.create_string(fmt_double(d.0))?),
        RVal::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, it) in items.iter().enumerate() {
                t.raw_set(i + 1, to_lua(lua, it)?)?;
            }
            Value::Table(t)
        }
        RVal::Map(pairs) => {
            let t = lua.create_table_with_capacity(pairs.len() * 2, 0)?;
            for (i, (k, v)) in pairs.iter().enumerate() {
                t.raw_set(2 * i + 1, to_lua(lua, k)?)?;
                t.raw_set(2 * i + 2, to_lua(lua, v)?)?;
            }
            Value::Table(t)
        }
        RVal::Scored(pairs) => {
            let t = lua.create_table_with_capacity(pairs.len() * 2, 0)?;
            for (i, (m, s)) in pairs.iter().enumerate() {
                t.raw_set(2 * i + 1, lua.create_string(m)?)?;
                t.raw_set(2 * i + 2, lua.create_string(fmt_double(s.0))?)?;
            }
            Value::Table(t)
        }
    })
}

fn field_table(lua: &Lua, field: &str, text: &[u8]) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(field, lua.create_string(text)?)?;
    Ok(t)
}

/// Deepest table nesting converted; deeper levels read as nil (no stack exhaustion on
/// self-referencing tables).
const MAX_DEPTH: usize = 64;

/// A script's return value as a reply.
pub fn from_lua(v: &Value) -> RVal {
    from_lua_depth(v, 0)
}

fn from_lua_depth(v: &Value, depth: usize) -> RVal {
    match v {
        Value::Nil => RVal::Nil,
        Value::Boolean(true) => RVal::Int(1),
        Value::Boolean(false) => RVal::Nil,
        // Redis truncates numbers to integers (a cast, saturating here).
        Value::Integer(i) => RVal::Int(*i),
        Value::Number(n) => RVal::Int(if n.is_nan() { 0 } else { *n as i64 }),
        Value::String(s) => RVal::bulk(&s.as_bytes()),
        Value::Table(t) if depth < MAX_DEPTH => {
            if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
                return RVal::Err(e.to_string_lossy());
            }
            if let Ok(Value::String(s)) = t.raw_get::<Value>("ok") {
                let s = s.to_string_lossy();
                return if s == "OK" { RVal::Ok } else { RVal::Status(s) };
            }
            let mut out = Vec::new();
            for i in 1.. {
                match t.raw_get::<Value>(i) {
                    Ok(Value::Nil) | Err(_) => break,
                    Ok(item) => out.push(from_lua_depth(&item, depth + 1)),
                }
            }
            RVal::Array(out)
        }
        _ => RVal::Nil,
    }
}
