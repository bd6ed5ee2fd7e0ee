"""The circuit breaker's rules (closed -> open -> half-open -> closed), pure: a state and
a clock in, a new state out. Local and shared (in fencepost) breakers apply the same ones."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import List, Optional, Tuple

from .commands import Args
from .replies import text, to_int
from .scripts import Script

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


@dataclass(frozen=True)
class Policy:
    """failure_threshold consecutive failures open it; after recovery_ms one trial may run."""

    failure_threshold: int
    recovery_ms: int


@dataclass(frozen=True)
class State:
    """Where a breaker stands; `since_ms` is when it opened, or when its trial began."""

    mode: str = CLOSED
    failures: int = 0
    since_ms: int = 0
    version: int = 0


def admit(s: State, now_ms: int, p: Policy) -> Tuple[bool, Optional[State], float]:
    """May a call go through? (yes/no, the state to write first if any, seconds to wait).

    Open for recovery_ms, then one trial call (half-open); a trial that never reports
    back (its process died) is replaced after another recovery_ms.
    """
    if s.mode == CLOSED:
        return True, None, 0.0
    waited = now_ms - s.since_ms
    if waited >= p.recovery_ms:
        return True, replace(s, mode=HALF_OPEN, since_ms=now_ms, version=s.version + 1), 0.0
    return False, None, (p.recovery_ms - waited) / 1000.0


def on_success(s: State) -> Optional[State]:
    """After a call succeeded: the trial closes the breaker; a closed one forgets failures.
    A straggler's success while open changes nothing (the open decision stands)."""
    if s.mode == HALF_OPEN or (s.mode == CLOSED and s.failures):
        return State(CLOSED, 0, 0, s.version + 1)
    return None


def on_failure(s: State, now_ms: int, p: Policy) -> Optional[State]:
    """After a call failed: a failed trial reopens; the threshold-th failure opens."""
    if s.mode == OPEN:
        return None
    failures = s.failures + 1
    if s.mode == HALF_OPEN or failures >= p.failure_threshold:
        return State(OPEN, failures, now_ms, s.version + 1)
    return State(CLOSED, failures, s.since_ms, s.version + 1)


# Shared breakers keep State in a hash; the cluster clock (TIME in a script) is the one
# clock every process agrees on.
READ = Script("""
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local h = redis.call('HMGET', KEYS[1], 'mode', 'failures', 'since', 'version')
return {now, h[1] or 'closed', h[2] or '0', h[3] or '0', h[4] or '0'}
""")

# Write only if nobody wrote since we read (version), so concurrent processes never lose
# each other's failures.
CAS = Script("""
local v = redis.call('HGET', KEYS[1], 'version') or '0'
if v ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'mode', ARGV[2], 'failures', ARGV[3], 'since', ARGV[4],
  'version', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return 1
""")


def shared_key(name: str) -> str:
    """The hash a shared breaker lives in."""
    return f"fencepost:breaker:{name}"


def parse_read(reply: List[object]) -> Tuple[State, int]:
    """READ's reply as (state, cluster now in ms)."""
    now, mode, failures, since, version = reply
    return State(text(mode), to_int(failures), to_int(since), to_int(version)), to_int(now)


def cas_args(expected: State, new: State, p: Policy) -> Args:
    """CAS's ARGV; the hash outlives a day of quiet or ten recovery periods."""
    keep = max(86_400_000, 10 * p.recovery_ms)
    return (expected.version, new.mode, new.failures, new.since_ms, new.version, keep)
