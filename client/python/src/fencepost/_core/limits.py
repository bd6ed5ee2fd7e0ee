"""Rate-limit parameters, the sliding-window fallback script, and the per-client memo of
whether the server has RATELIMIT SLIDING."""

from __future__ import annotations

import contextlib
import uuid
import weakref
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional, Union

from . import commands
from .scripts import Script


@dataclass(frozen=True)
class TokenBucketSpec:
    """TOKENBUCKET parameters, with the refill made whole (the server takes integers)."""

    capacity: int
    refill: int
    period_ms: int

    @classmethod
    def of(cls, capacity: int, refill_rate: Union[int, float], period_ms: int) -> TokenBucketSpec:
        """refill_rate tokens per period_ms; a fractional rate stretches the period instead."""
        if capacity <= 0 or refill_rate <= 0 or period_ms <= 0:
            raise ValueError("capacity, refill_rate and period_ms must be positive")
        f = Fraction(refill_rate).limit_denominator(1000)
        return cls(int(capacity), f.numerator, int(period_ms) * f.denominator)

    def args(self, key: str, cost: int) -> commands.Args:
        """The TOKENBUCKET command."""
        return commands.tokenbucket(key, self.capacity, self.refill, self.period_ms, cost)


@dataclass(frozen=True)
class SlidingSpec:
    """RATELIMIT SLIDING parameters."""

    limit: int
    window_ms: int

    def __post_init__(self) -> None:
        if not 0 < self.limit <= 100_000 or self.window_ms <= 0:
            raise ValueError("limit must be 1..100000 and window_ms positive")

    def args(self, key: str, cost: int) -> commands.Args:
        """The RATELIMIT SLIDING command."""
        return commands.ratelimit_sliding(key, self.limit, self.window_ms, cost)

    def script_args(self, cost: int) -> commands.Args:
        """ARGV of the fallback script; the nonce names this call's admission stamps."""
        return (self.limit, self.window_ms, cost, uuid.uuid4().hex)


# Exact sliding window over a sorted set of admission stamps (the cluster clock: TIME in a
# script is the entry's stamp). Same reply as RATELIMIT SLIDING.
SLIDING = Script("""
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
if cost > limit then return redis.error_reply('ERR COST exceeds limit') end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local limited = 0
local retry = -1
if count + cost <= limit then
  for i = 1, cost do
    redis.call('ZADD', KEYS[1], now, ARGV[4] .. ':' .. i)
  end
  count = count + cost
else
  limited = 1
  local e = redis.call('ZRANGE', KEYS[1], count + cost - limit - 1, count + cost - limit - 1,
    'WITHSCORES')
  retry = tonumber(e[2]) + window - now
end
local reset = 0
if count > 0 then
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  reset = tonumber(last[2]) + window - now
  redis.call('PEXPIRE', KEYS[1], reset)
end
return {limited, limit, limit - count, retry, reset}
""")

# client -> has RATELIMIT SLIDING; asked once per client, forgotten with the client.
_native: weakref.WeakKeyDictionary[object, bool] = weakref.WeakKeyDictionary()


def native(client: object) -> Optional[bool]:
    """Whether this client's server has RATELIMIT SLIDING (None: not known yet)."""
    try:
        return _native.get(client)
    except TypeError:
        return None


def remember(client: object, has_it: bool) -> None:
    """Record what the first RATELIMIT SLIDING told us."""
    with contextlib.suppress(TypeError):
        _native[client] = has_it
