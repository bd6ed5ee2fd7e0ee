"""Turn raw replies (RESP2 or RESP3, bytes or str) into Python values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Union


def text(v: Any) -> str:
    """A reply element as str (redis-py gives bytes unless decode_responses=True)."""
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


def raw(v: Any) -> bytes:
    """A reply element as bytes."""
    if isinstance(v, bytes):
        return v
    return str(v).encode("utf-8")


def to_int(v: Any) -> int:
    """An integer reply (RESP integers arrive as int; bulk strings as digits)."""
    if isinstance(v, int):
        return v
    return int(text(v))


def pairs(v: Any) -> Dict[str, Any]:
    """A RESP3 map or a RESP2 flat key/value array as a dict with str keys."""
    if isinstance(v, dict):
        return {text(k): val for k, val in v.items()}
    if isinstance(v, (list, tuple)) and len(v) % 2 == 0:
        return {text(v[i]): v[i + 1] for i in range(0, len(v), 2)}
    raise ValueError(f"want a map or a flat key/value array, got {v!r}")


def is_ok(v: Any) -> bool:
    """+OK (redis-py may already have turned it into True)."""
    return v is True or text(v) == "OK"


def token_or_none(v: Any) -> Optional[int]:
    """LOCK/SEMAPHORE ACQUIRE: an integer token, or nil when not granted."""
    if v is None:
        return None
    return to_int(v)


@dataclass(frozen=True)
class Decision:
    """A rate limiter's answer; fields as TOKENBUCKET's reply (retry_after_ms -1 when allowed)."""

    allowed: bool
    limit: int
    remaining: int
    retry_after_ms: int
    reset_after_ms: int


def decision(v: Any) -> Decision:
    """TOKENBUCKET / RATELIMIT SLIDING reply: [limited, limit, remaining, retry-after, reset]."""
    if not isinstance(v, (list, tuple)) or len(v) != 5:
        raise ValueError(f"want 5 integers, got {v!r}")
    limited, limit, remaining, retry, reset = (to_int(x) for x in v)
    return Decision(limited == 0, limit, remaining, retry, reset)


@dataclass(frozen=True)
class LockInfo:
    """LOCK INFO of a held lock."""

    owner: str
    token: int
    ttl_ms: int
    waiters: int


def lock_info(v: Any) -> Optional[LockInfo]:
    """LOCK INFO reply: nil when free, else a map / flat array."""
    if v is None:
        return None
    m = pairs(v)
    return LockInfo(text(m["owner"]), to_int(m["token"]), to_int(m["ttl-ms"]), to_int(m["waiters"]))


@dataclass(frozen=True)
class RwLockInfo:
    """RWLOCK INFO of a held read-write lock: token is the writer's (0 under readers)."""

    mode: str
    holders: int
    token: int
    waiters: int


def rwlock_info(v: Any) -> Optional[RwLockInfo]:
    """RWLOCK INFO reply: nil when nobody holds or waits, else a map / flat array."""
    if v is None:
        return None
    m = pairs(v)
    token = m.get("token")
    return RwLockInfo(
        text(m["mode"]), to_int(m["holders"]), 0 if token is None else to_int(token), to_int(m["waiters"])
    )


def watch_changed(info: Optional[LockInfo], token: int) -> bool:
    """Whether LOCK WATCH's answer shows a holder other than `token` (0: any holder)."""
    if info is None:
        return token != 0
    return info.token != token


Scalar = Union[int, str, bytes, float]
