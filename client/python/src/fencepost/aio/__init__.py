"""fencepost for redis.asyncio: the async twins of fencepost's names.

retry, circuit_breaker and the error classes are the same objects as in fencepost (they
already handle async functions and async shared clients).
"""

from .._core.replies import Decision
from ..errors import *  # noqa: F403 - the error classes are part of both namespaces
from ..errors import __all__ as _errors
from ..resilience import CircuitBreaker, circuit_breaker, retry
from .bulkhead import Bulkhead
from .connection import connect
from .fencing import fenced_advance, fenced_set
from .idempotency import idempotent, idempotent_execute
from .limits import SlidingWindowLimiter, TokenBucketLimiter
from .locks import Lock, RedisLock, watch_lock
from .rwlock import ReadLock, ReadWriteLock, WriteLock

__all__ = [
    "Bulkhead",
    "CircuitBreaker",
    "Decision",
    "Lock",
    "ReadLock",
    "ReadWriteLock",
    "RedisLock",
    "SlidingWindowLimiter",
    "TokenBucketLimiter",
    "WriteLock",
    "circuit_breaker",
    "connect",
    "fenced_advance",
    "fenced_set",
    "idempotent",
    "idempotent_execute",
    "retry",
    "watch_lock",
    *_errors,
]
