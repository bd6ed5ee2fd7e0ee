"""Argument lists of fencepost's commands, as SPEC.md spells them (one place for both twins)."""

from __future__ import annotations

from typing import Optional, Tuple, Union

Arg = Union[str, bytes, int]
Args = Tuple[Arg, ...]


def lock_acquire(
    name: str, owner: str, ttl_ms: int, wait_ms: Optional[int], delay_ms: Optional[int] = None
) -> Args:
    """LOCK ACQUIRE <name> <owner> <ttl-ms> [WAIT <ms>] [DELAY <ms>]."""
    args: Args = ("LOCK", "ACQUIRE", name, owner, ttl_ms)
    if wait_ms is not None:
        args = (*args, "WAIT", wait_ms)
    return args if delay_ms is None else (*args, "DELAY", delay_ms)


def lock_release(name: str, owner: str, token: int) -> Args:
    """LOCK RELEASE <name> <owner> <token>."""
    return ("LOCK", "RELEASE", name, owner, token)


def lock_extend(name: str, owner: str, token: int, ttl_ms: int) -> Args:
    """LOCK EXTEND <name> <owner> <token> <ttl-ms>."""
    return ("LOCK", "EXTEND", name, owner, token, ttl_ms)


def lock_info(name: str) -> Args:
    """LOCK INFO <name>."""
    return ("LOCK", "INFO", name)


def lock_watch(name: str, token: int, timeout_ms: int) -> Args:
    """LOCK WATCH <name> <token> <timeout-ms>."""
    return ("LOCK", "WATCH", name, token, timeout_ms)


def rwlock_acquire(mode: str, name: str, owner: str, ttl_ms: int, wait_ms: Optional[int]) -> Args:
    """RWLOCK READ|WRITE <name> <owner> <ttl-ms> [WAIT ms]."""
    base: Args = ("RWLOCK", mode, name, owner, ttl_ms)
    return base if wait_ms is None else (*base, "WAIT", wait_ms)


def rwlock_release(name: str, owner: str, token: int) -> Args:
    """RWLOCK RELEASE <name> <owner> <token>."""
    return ("RWLOCK", "RELEASE", name, owner, token)


def rwlock_extend(name: str, owner: str, token: int, ttl_ms: int) -> Args:
    """RWLOCK EXTEND <name> <owner> <token> <ttl-ms>."""
    return ("RWLOCK", "EXTEND", name, owner, token, ttl_ms)


def rwlock_info(name: str) -> Args:
    """RWLOCK INFO <name>."""
    return ("RWLOCK", "INFO", name)


def fence_set(key: str, token: int, value: Union[str, bytes], lock: str) -> Args:
    """FENCE SET <key> <token> <value> LOCK <name>."""
    return ("FENCE", "SET", key, token, value, "LOCK", lock)


def fence_advance(resource: str, token: int, lock: str) -> Args:
    """FENCE ADVANCE <resource> <token> LOCK <name>."""
    return ("FENCE", "ADVANCE", resource, token, "LOCK", lock)


def tokenbucket(key: str, capacity: int, refill: int, period_ms: int, cost: int) -> Args:
    """TOKENBUCKET <key> <capacity> <refill-tokens> <refill-period-ms> COST <n>."""
    return ("TOKENBUCKET", key, capacity, refill, period_ms, "COST", cost)


def ratelimit_sliding(key: str, limit: int, window_ms: int, cost: int) -> Args:
    """RATELIMIT SLIDING <key> <limit> <window-ms> COST <n>."""
    return ("RATELIMIT", "SLIDING", key, limit, window_ms, "COST", cost)


def idemp_begin(key: str, fingerprint: str, ttl_ms: int, lease_ms: int) -> Args:
    """IDEMP BEGIN <key> <fingerprint> <ttl-ms> LEASE <ms>."""
    return ("IDEMP", "BEGIN", key, fingerprint, ttl_ms, "LEASE", lease_ms)


def idemp_complete(key: str, token: int, response: Union[str, bytes]) -> Args:
    """IDEMP COMPLETE <key> <token> <response>."""
    return ("IDEMP", "COMPLETE", key, token, response)


def idemp_abort(key: str, token: int) -> Args:
    """IDEMP ABORT <key> <token>."""
    return ("IDEMP", "ABORT", key, token)


def idemp_get(key: str) -> Args:
    """IDEMP GET <key>."""
    return ("IDEMP", "GET", key)


def semaphore_acquire(
    name: str, holder: str, limit: int, ttl_ms: int, wait_ms: Optional[int]
) -> Args:
    """SEMAPHORE ACQUIRE <name> <holder> <limit> <ttl-ms> [WAIT ms]."""
    base: Args = ("SEMAPHORE", "ACQUIRE", name, holder, limit, ttl_ms)
    return base if wait_ms is None else (*base, "WAIT", wait_ms)


def semaphore_release(name: str, holder: str, token: int) -> Args:
    """SEMAPHORE RELEASE <name> <holder> <token>."""
    return ("SEMAPHORE", "RELEASE", name, holder, token)
