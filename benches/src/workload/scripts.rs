//! The Lua that redis needs to do what fencepost does natively.

/// Compare-and-delete: the standard safe release of a redis lock.
pub const REDIS_RELEASE: &str =
    r#"if redis.call("get",KEYS[1]) == ARGV[1] then return redis.call("del",KEYS[1]) else return 0 end"#;

/// The usual Lua token bucket: level and stamp in a hash, refill from the server's clock,
/// answered in CL.THROTTLE's shape as fencepost's TOKENBUCKET is.
/// ARGV: capacity, refill tokens, refill period ms.
pub const REDIS_TOKEN_BUCKET: &str = r#"
local cap = tonumber(ARGV[1])
local refill = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = redis.call("HMGET", KEYS[1], "level", "stamp")
local level = tonumber(v[1])
local stamp = tonumber(v[2])
if level == nil then
  level = cap
  stamp = now
end
level = math.min(cap, level + math.max(0, now - stamp) * refill / period)
local limited = 1
local retry = -1
if level >= 1 then
  level = level - 1
  limited = 0
else
  retry = math.ceil((1 - level) * period / refill)
end
local reset = math.ceil((cap - level) * period / refill)
redis.call("HSET", KEYS[1], "level", tostring(level), "stamp", now)
redis.call("PEXPIRE", KEYS[1], reset + 1000)
return {limited, cap, math.floor(level), retry, reset}
"#;
