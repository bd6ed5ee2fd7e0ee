"""The one thing this package needs of a client: execute_command (sync or async).

A Protocol rather than redis.Redis keeps mypy --strict happy over redis-py's untyped
execute_command and accepts pipelines, cluster clients and wrappers alike.
"""

from __future__ import annotations

import inspect
from typing import Any, Optional, Protocol


class SyncClient(Protocol):
    """A redis-py style sync client."""

    def execute_command(self, *args: Any, **options: Any) -> Any: ...


class AsyncClient(Protocol):
    """A redis.asyncio style client."""

    async def execute_command(self, *args: Any, **options: Any) -> Any: ...


def is_async_client(client: object) -> bool:
    """True for redis.asyncio clients (their execute_command is a coroutine function)."""
    return inspect.iscoroutinefunction(getattr(client, "execute_command", None))


def socket_timeout(client: object) -> Optional[float]:
    """The client's socket timeout in seconds, if it says."""
    pool = getattr(client, "connection_pool", None)
    kwargs = getattr(pool, "connection_kwargs", None)
    if isinstance(kwargs, dict):
        t = kwargs.get("socket_timeout")
        if isinstance(t, (int, float)):
            return float(t)
    return None
