"""Bulkhead: at most `limit` concurrent calls across every process (SEMAPHORE)."""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from types import TracebackType
from typing import Any, Callable, Optional, Type, TypeVar, cast

from redis.exceptions import RedisError

from ._core import backoff, commands, errmap, lease, permits, replies
from ._core.permits import Permit
from ._types import SyncClient, socket_timeout

F = TypeVar("F", bound=Callable[..., Any])


class Bulkhead:
    """SEMAPHORE ACQUIRE/RELEASE around a block or each call of a decorated function.

    Without wait_ms a full bulkhead raises BulkheadFull at once; with it the caller waits
    in the server's FIFO queue that long. ttl_ms bounds how long a crashed caller's permit
    outlives it (a call must finish within it)."""

    def __init__(
        self,
        client: SyncClient,
        name: str,
        limit: int,
        *,
        ttl_ms: int = 30000,
        wait_ms: Optional[int] = None,
    ) -> None:
        self.client = client
        self.name = name
        self.limit = limit
        self.ttl_ms = ttl_ms
        self.wait_ms = wait_ms
        self._held = permits.stack_var(name)

    def acquire(self) -> Permit:
        """A permit, or BulkheadFull."""
        holder = permits.new_holder()
        blocking = self.wait_ms is not None
        chunk = lease.wait_chunk_ms(socket_timeout(self.client))
        start = time.monotonic()
        attempt = 0
        while True:
            elapsed = int((time.monotonic() - start) * 1000)
            wait = lease.next_wait(blocking, self.wait_ms, elapsed, chunk)
            args = commands.semaphore_acquire(self.name, holder, self.limit, self.ttl_ms, wait)
            try:
                token = replies.token_or_none(self.client.execute_command(*args))
            except RedisError as e:
                err = errmap.translate(e)
                # ACQUIRE is idempotent per holder: a resend renews the same lease.
                if not errmap.transient(err) or not lease.may_ride(blocking, self.wait_ms, elapsed):
                    raise err from e
                time.sleep(backoff.full_jitter(attempt, 0.05, 1.0))
                attempt += 1
                continue
            if token is not None or lease.give_up(
                blocking, self.wait_ms, int((time.monotonic() - start) * 1000)
            ):
                return permits.granted(self.name, token, holder)

    def release(self, permit: Permit) -> bool:
        """SEMAPHORE RELEASE; False if the permit had already expired."""
        args = commands.semaphore_release(self.name, permit.holder, permit.token)
        try:
            return replies.to_int(self.client.execute_command(*args)) == 1
        except RedisError as e:
            raise errmap.translate(e) from e

    def __enter__(self) -> Permit:
        p = self.acquire()
        self._held.set((*self._held.get(), p))
        return p

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        stack = self._held.get()
        self._held.set(stack[:-1])
        self.release(stack[-1])

    def __call__(self, fn: F) -> F:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def ainner(*args: Any, **kwargs: Any) -> Any:
                loop = asyncio.get_running_loop()
                p = await loop.run_in_executor(None, self.acquire)
                try:
                    return await fn(*args, **kwargs)
                finally:
                    await loop.run_in_executor(None, self.release, p)

            return cast(F, ainner)

        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            p = self.acquire()
            try:
                return fn(*args, **kwargs)
            finally:
                self.release(p)

        return cast(F, inner)
