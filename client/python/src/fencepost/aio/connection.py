"""A redis.asyncio client over a fencepost cluster, trying each node in turn."""

from __future__ import annotations

import asyncio
import sys
from typing import Any, List, Optional, Tuple

import redis.asyncio as aioredis
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from .._core import addresses as addr


class MultiAddressConnection(Connection):
    """An asyncio Connection that dials each node of a list in turn until one answers."""

    def __init__(self, addresses: List[Tuple[str, int]], **kwargs: Any) -> None:
        self._addresses = list(addresses)
        self._next = 0
        host, port = self._addresses[0]
        super().__init__(host=host, port=port, **kwargs)

    async def _connect(self) -> None:
        last: BaseException = OSError("no address")
        n = len(self._addresses)
        for i in range(n):
            idx = (self._next + i) % n
            self.host, self.port = self._addresses[idx]
            try:
                await super()._connect()  # type: ignore[no-untyped-call]
            except (OSError, asyncio.TimeoutError) as e:
                last = e
                continue
            self._next = idx
            return
        self._next = (self._next + 1) % n
        raise last


class LazyLockPool(aioredis.ConnectionPool):
    """A ConnectionPool whose lock is made on first use, inside the loop that uses it.

    On Python 3.9 an asyncio.Lock binds to the event loop current when it is made. A
    client made at import time (the usual way to hand one to a middleware, before
    uvicorn starts its loop) got a lock bound to another loop, and the first time two
    requests wanted a connection at once the waiter failed with "got Future attached to
    a different loop" (found by running the test suite on 3.9). From 3.10 on, locks bind
    on first use anyway, so this changes nothing there.
    """

    _lazy_lock: Optional[asyncio.Lock] = None

    @property
    def _lock(self) -> asyncio.Lock:
        if self._lazy_lock is None:
            self._lazy_lock = asyncio.Lock()
        return self._lazy_lock

    @_lock.setter
    def _lock(self, _made_too_early: asyncio.Lock) -> None:
        self._lazy_lock = None


def connect(addresses: addr.Addresses = "127.0.0.1:6379", **kwargs: Any) -> aioredis.Redis:
    """An asyncio client for the given node(s); as fencepost.connect (no blind resends,
    socket_timeout 10 s unless given)."""
    nodes = addr.parse(addresses)
    kwargs.setdefault("socket_timeout", 10.0)
    kwargs.setdefault("socket_connect_timeout", 2.0)
    kwargs.setdefault("retry", Retry(NoBackoff(), 0))
    max_connections = kwargs.pop("max_connections", None)
    pool_class = LazyLockPool if sys.version_info < (3, 10) else aioredis.ConnectionPool
    pool = pool_class(
        connection_class=MultiAddressConnection,
        addresses=nodes,
        max_connections=max_connections,
        **kwargs,
    )
    return aioredis.Redis(connection_pool=pool)
