"""Lock: a fencepost lease with a fencing token, auto-renewed in a background thread."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Optional, Type

from redis.exceptions import RedisError

from . import _renewer, errors
from ._core import backoff, commands, errmap, fence, lease, replies
from ._core.lease_cmds import LockCommands
from ._core.watch import Watch
from ._types import SyncClient, socket_timeout


class Lock(LockCommands):
    """LOCK ACQUIRE/EXTEND/RELEASE with the token exposed for fenced writes.

    The lease is renewed every ttl/3 while held (auto_renew, on the process-wide renewer
    thread); `lost` is set, never hidden,
    when the server says the lease is gone or renewals failed until it ran out.
    delay_ms is Consul's lock-delay: should this lease end by expiry (its holder crashed
    or stalled), nobody gets the lock until delay_ms after it.
    """

    def __init__(
        self,
        client: SyncClient,
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
        self._mu = threading.Lock()
        self._ticket: Optional[_renewer.Ticket] = None

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

    def acquire(self, blocking: bool = True) -> bool:
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
                reply = self.client.execute_command(
                    *self._acquire_args(wait)
                )
            except RedisError as e:
                err = errmap.translate(e)
                if not errmap.transient(err) or not lease.may_ride(blocking, wait_budget, elapsed):
                    raise err from e
                time.sleep(backoff.full_jitter(attempt, 0.05, 1.0))
                attempt += 1
                continue
            token = replies.token_or_none(reply)
            if token is not None:
                self._granted(token, sent)
                return True
            if lease.give_up(blocking, wait_budget, int((time.monotonic() - start) * 1000)):
                return False

    def _granted(self, token: int, sent: float) -> None:
        with self._mu:
            self._stop_renewer()
            self._lease.granted(token, sent, self.ttl_ms)
            if self.auto_renew:
                self._ticket = _renewer.Ticket(self, Lock._renew_once)
                _renewer.schedule(self._ticket, self._lease.renew_delay_s())

    def _stop_renewer(self) -> None:
        if self._ticket is not None:
            self._ticket.cancel()
            self._ticket = None

    def _renew_once(self, ticket: _renewer.Ticket) -> None:
        # Runs on the renewer's pool; reschedules itself while the lease is ours.
        token, ttl = self._lease.token, self.ttl_ms
        if ticket.cancelled or token is None:
            return
        sent = time.monotonic()
        try:
            reply = self.client.execute_command(*self._extend_args(token, ttl))
        except RedisError as e:
            with self._mu:
                if ticket.cancelled:
                    return
                if self._lease.after_renew_error(errmap.translate(e), time.monotonic()):
                    _renewer.schedule(ticket, self._lease.retry_delay_s(time.monotonic()))
            return
        with self._mu:
            if ticket.cancelled:
                return
            if self._lease.after_extend(replies.to_int(reply) == 1, sent, ttl):
                _renewer.schedule(ticket, self._lease.renew_delay_s())

    def extend(self, ttl_ms: Optional[int] = None) -> bool:
        """LOCK EXTEND to ttl_ms (default: the lock's TTL) from now; False marks the lease lost."""
        token = self._lease.token
        if token is None or not self._lease.held:
            return False
        ttl = ttl_ms if ttl_ms is not None else self.ttl_ms
        sent = time.monotonic()
        try:
            reply = self.client.execute_command(
                *self._extend_args(token, ttl)
            )
        except RedisError as e:
            raise errmap.translate(e) from e
        with self._mu:
            return self._lease.after_extend(replies.to_int(reply) == 1, sent, ttl)

    def release(self) -> bool:
        """Stop renewing and LOCK RELEASE; True if this lease was still ours to release."""
        with self._mu:
            self._stop_renewer()
            token, held = self._lease.token, self._lease.held
            self._lease.held = False
        if token is None or not held:
            return False
        ambiguous = False
        attempt = 0
        while True:
            try:
                reply = self.client.execute_command(
                    *self._release_args(token)
                )
                break
            except RedisError as e:
                err = errmap.translate(e)
                if not errmap.transient(err) or attempt >= 8:
                    raise err from e
                ambiguous = ambiguous or not errmap.retryable(err, idempotent=False)
                time.sleep(backoff.full_jitter(attempt, 0.05, 1.0))
                attempt += 1
        return self._lease.released(replies.to_int(reply) == 1, ambiguous)

    def locked(self) -> bool:
        """True if anyone holds the lock now (LOCK INFO), as redis-py's Lock.locked()."""
        try:
            return self.client.execute_command(*commands.lock_info(self.name)) is not None
        except RedisError as e:
            raise errmap.translate(e) from e

    def owned(self) -> bool:
        """True if this Lock's owner and token hold it now (LOCK INFO)."""
        try:
            info = replies.lock_info(self.client.execute_command(*commands.lock_info(self.name)))
        except RedisError as e:
            raise errmap.translate(e) from e
        return info is not None and info.owner == self._owner and info.token == self.token

    def __enter__(self) -> Lock:
        if not self.acquire():
            raise errors.LockNotAcquired(f"lock {self.name!r} not acquired")
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        was_lost = self._lease.lost
        reason = self._lease.lost_reason
        released = self.release()
        if was_lost or not released:
            raise errors.LockLost(fence.lost_message(self.name, self.token, reason))



def watch_lock(
    client: SyncClient, name: str, token: int = 0, *, timeout_ms: int = 30_000
) -> Optional[replies.LockInfo]:
    """LOCK WATCH: wait until the holder's token differs from `token` (0: until anyone
    holds it), then return the lock as LOCK INFO shows it (None when free); at timeout_ms
    return it as it stands. A read: failovers are ridden through until the timeout."""
    w = Watch(name, token, timeout_ms, socket_timeout(client))
    while True:
        try:
            reply = client.execute_command(*w.args())
        except RedisError as e:
            err = errmap.translate(e)
            pause = w.pause_after(err)
            if pause is None:
                raise err from e
            time.sleep(pause)
            continue
        done, info = w.answer(reply)
        if done:
            return info
