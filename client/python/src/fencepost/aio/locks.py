"""Lock for redis.asyncio clients: the twin of fencepost.Lock, renewed by an asyncio task."""

from __future__ import annotations

import asyncio
import time
import weakref
from types import TracebackType
from typing import Optional, Type

from redis.exceptions import RedisError

from .. import errors
from .._core import backoff, commands, errmap, fence, lease, replies
from .._core.lease_cmds import LockCommands
from .._core.watch import Watch
from .._types import AsyncClient, socket_timeout


class Lock(LockCommands):
    """LOCK ACQUIRE/EXTEND/RELEASE with the token exposed; `async with` raises
    LockNotAcquired on entry and LockLost on exit if the lease was lost while held.
    delay_ms is Consul's lock-delay, as in fencepost.Lock."""

    def __init__(
        self,
        client: AsyncClient,
        name: str,
        *,
        ttl_ms: int = 30000,
        wait_ms: Optional[int] = None,
        owner: Optional[str] = None,
        auto_renew: bool = True,
        delay_ms: Optional[int] = None,
    ) -> None:
        if ttl_ms <= 0:
            raise ValueError("ttl_ms must be positive")
        self.client = client
        self.name = name
        self.ttl_ms = ttl_ms
        self.wait_ms = wait_ms
        self.delay_ms = delay_ms
        self.auto_renew = auto_renew
        self._owner = owner or lease.default_owner()
        self._lease = lease.Lease()
        self._renewer: Optional[asyncio.Task[None]] = None

    @property
    def token(self) -> Optional[int]:
        """The fencing token of the current (or last) grant."""
        return self._lease.token

    @property
    def owner(self) -> str:
        """The owner string sent with every LOCK command."""
        return self._owner

    @property
    def lost(self) -> bool:
        """True once the lease was lost while held (until the next grant)."""
        return self._lease.lost

    def valid_for_ms(self) -> int:
        """Milliseconds the lease is surely ours (local monotonic clock, minus 1% drift)."""
        return self._lease.valid_for_ms(time.monotonic())

    async def acquire(self, blocking: bool = True) -> bool:
        """Take the lock; blocking waits in the server's FIFO queue (up to wait_ms if set)."""
        start = time.monotonic()
        wait_budget = self.wait_ms if blocking else 0
        chunk = lease.wait_chunk_ms(socket_timeout(self.client))
        attempt = 0
        while True:
            elapsed = int((time.monotonic() - start) * 1000)
            wait = lease.next_wait(blocking, wait_budget, elapsed, chunk)
            sent = time.monotonic()
            try:
                reply = await self.client.execute_command(
                    *self._acquire_args(wait)
                )
            except RedisError as e:
                err = errmap.translate(e)
                if not errmap.transient(err) or not lease.may_ride(blocking, wait_budget, elapsed):
                    raise err from e
                await asyncio.sleep(backoff.full_jitter(attempt, 0.05, 1.0))
                attempt += 1
                continue
            token = replies.token_or_none(reply)
            if token is not None:
                self._granted(token, sent)
                return True
            if lease.give_up(blocking, wait_budget, int((time.monotonic() - start) * 1000)):
                return False

    def _granted(self, token: int, sent: float) -> None:
        self._stop_renewer()
        self._lease.granted(token, sent, self.ttl_ms)
        if self.auto_renew:
            self._renewer = asyncio.ensure_future(_renew_loop(weakref.ref(self), token))

    def _stop_renewer(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            self._renewer = None

    async def extend(self, ttl_ms: Optional[int] = None) -> bool:
        """LOCK EXTEND to ttl_ms (default: the lock's TTL) from now; False marks the lease lost."""
        token = self._lease.token
        if token is None or not self._lease.held:
            return False
        ttl = ttl_ms if ttl_ms is not None else self.ttl_ms
        sent = time.monotonic()
        try:
            reply = await self.client.execute_command(
                *self._extend_args(token, ttl)
            )
        except RedisError as e:
            raise errmap.translate(e) from e
        return self._lease.after_extend(replies.to_int(reply) == 1, sent, ttl)

    async def release(self) -> bool:
        """Stop renewing and LOCK RELEASE; True if this lease was still ours to release."""
        self._stop_renewer()
        token, held = self._lease.token, self._lease.held
        self._lease.held = False
        if token is None or not held:
            return False
        ambiguous = False
        attempt = 0
        while True:
            try:
                reply = await self.client.execute_command(
                    *self._release_args(token)
                )
                break
            except RedisError as e:
                err = errmap.translate(e)
                if not errmap.transient(err) or attempt >= 8:
                    raise err from e
                ambiguous = ambiguous or not errmap.retryable(err, idempotent=False)
                await asyncio.sleep(backoff.full_jitter(attempt, 0.05, 1.0))
                attempt += 1
        return self._lease.released(replies.to_int(reply) == 1, ambiguous)

    async def locked(self) -> bool:
        """True if anyone holds the lock now (LOCK INFO)."""
        try:
            return await self.client.execute_command(*commands.lock_info(self.name)) is not None
        except RedisError as e:
            raise errmap.translate(e) from e

    async def owned(self) -> bool:
        """True if this Lock's owner and token hold it now (LOCK INFO)."""
        try:
            reply = await self.client.execute_command(*commands.lock_info(self.name))
        except RedisError as e:
            raise errmap.translate(e) from e
        info = replies.lock_info(reply)
        return info is not None and info.owner == self._owner and info.token == self.token

    async def __aenter__(self) -> Lock:
        if not await self.acquire():
            raise errors.LockNotAcquired(f"lock {self.name!r} not acquired")
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        was_lost = self._lease.lost
        reason = self._lease.lost_reason
        released = await self.release()
        if was_lost or not released:
            raise errors.LockLost(fence.lost_message(self.name, self.token, reason))


async def _renew_loop(ref: weakref.ref[Lock], token: int) -> None:
    """Renew every ttl/3 until cancelled (release, re-grant) or the lease is lost.

    It holds the Lock weakly between renewals: a Lock dropped without release() stops
    renewing, so its lease expires instead of living forever. Cancellation abandons an
    EXTEND in flight, whose answer then can no longer touch the lease.
    """
    lock = ref()
    if lock is None:
        return
    delay = lock._lease.renew_delay_s()
    del lock
    while True:
        await asyncio.sleep(delay)
        lock = ref()
        if lock is None:
            return
        ttl = lock.ttl_ms
        sent = time.monotonic()
        try:
            args = lock._extend_args(token, ttl)
            reply = await lock.client.execute_command(*args)
        except RedisError as e:
            if not lock._lease.after_renew_error(errmap.translate(e), time.monotonic()):
                return
            delay = lock._lease.retry_delay_s(time.monotonic())
            continue
        finally:
            del lock
        lock = ref()
        if lock is None or not lock._lease.after_extend(replies.to_int(reply) == 1, sent, ttl):
            return
        delay = lock._lease.renew_delay_s()
        del lock


async def watch_lock(
    client: AsyncClient, name: str, token: int = 0, *, timeout_ms: int = 30_000
) -> Optional[replies.LockInfo]:
    """LOCK WATCH, the twin of fencepost.watch_lock."""
    w = Watch(name, token, timeout_ms, socket_timeout(client))
    while True:
        try:
            reply = await client.execute_command(*w.args())
        except RedisError as e:
            err = errmap.translate(e)
            pause = w.pause_after(err)
            if pause is None:
                raise err from e
            await asyncio.sleep(pause)
            continue
        done, info = w.answer(reply)
        if done:
            return info


RedisLock = Lock
