"""fencepost: locks with fencing tokens, fenced writes, rate limits, idempotency keys and
resilience decorators over a fencepost cluster, on redis-py.

Sync names live here; `fencepost.aio` has the asyncio twins; `fencepost.asgi` the
Starlette middleware (the `asgi` extra).
"""

from ._core.replies import Decision
from .bulkhead import Bulkhead
from .connection import connect
from .errors import (
    AuthenticationFailed,
    AuthenticationRequired,
    AuthError,
    BulkheadFull,
    CircuitOpen,
    ClusterDown,
    CommandError,
    ConnectionLost,
    ConnectionRefused,
    FencepostError,
    IdempotencyInProgress,
    IdempotencyMismatch,
    LockLost,
    LockNotAcquired,
    PermissionDenied,
    StaleToken,
    Uncertain,
    UnknownCommand,
    WrongType,
)
from .fencing import fenced_advance, fenced_set
from .idempotency import idempotent, idempotent_execute
from .limits import SlidingWindowLimiter, TokenBucketLimiter
from .locks import Lock, watch_lock
from .resilience import CircuitBreaker, circuit_breaker, retry
from .rwlock import ReadLock, ReadWriteLock, WriteLock

__version__ = "0.1.0"

__all__ = [
    "AuthError",
    "AuthenticationFailed",
    "AuthenticationRequired",
    "Bulkhead",
    "BulkheadFull",
    "CircuitBreaker",
    "CircuitOpen",
    "ClusterDown",
    "CommandError",
    "ConnectionLost",
    "ConnectionRefused",
    "Decision",
    "FencepostError",
    "IdempotencyInProgress",
    "IdempotencyMismatch",
    "Lock",
    "LockLost",
    "LockNotAcquired",
    "PermissionDenied",
    "ReadLock",
    "ReadWriteLock",
    "SlidingWindowLimiter",
    "StaleToken",
    "TokenBucketLimiter",
    "Uncertain",
    "UnknownCommand",
    "WriteLock",
    "WrongType",
    "circuit_breaker",
    "connect",
    "fenced_advance",
    "fenced_set",
    "idempotent",
    "idempotent_execute",
    "retry",
    "watch_lock",
]
