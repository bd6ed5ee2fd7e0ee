"""A breaker's State in fencepost over a redis.asyncio client, and the async
read / decide / compare-and-set loops (the rules are _core.breaker's)."""

from __future__ import annotations

from typing import Tuple

from redis.exceptions import RedisError

from .. import errors
from .._core import breaker as rules
from .._core import errmap
from .._types import AsyncClient
from . import _script


class AsyncSharedStore:
    """State in a fencepost hash; the clock is the cluster clock."""

    def __init__(self, client: AsyncClient, name: str) -> None:
        self.client = client
        self.key = rules.shared_key(name)

    async def read(self) -> Tuple[rules.State, int]:
        """The state and the cluster's now (ms)."""
        try:
            return rules.parse_read(await _script.run(self.client, rules.READ, (self.key,), ()))
        except RedisError as e:
            raise errmap.translate(e) from e

    async def cas(self, expected: rules.State, new: rules.State, policy: rules.Policy) -> bool:
        """Write `new` if nobody wrote since `expected` was read."""
        args = rules.cas_args(expected, new, policy)
        try:
            return bool(await _script.run(self.client, rules.CAS, (self.key,), args))
        except RedisError as e:
            raise errmap.translate(e) from e


async def admit(store: AsyncSharedStore, name: str, policy: rules.Policy) -> rules.State:
    """Let a call through or raise CircuitOpen; returns the state it was let in on."""
    while True:
        s, now = await store.read()
        ok, new, wait = rules.admit(s, now, policy)
        if not ok:
            raise errors.CircuitOpen(name, wait)
        if new is None:
            return s
        if await store.cas(s, new, policy):
            return new


async def report(store: AsyncSharedStore, policy: rules.Policy, seen: rules.State, ok: bool) -> None:
    """Record a call's outcome. A success seen in a clean closed state writes nothing."""
    if ok and seen.mode == rules.CLOSED and not seen.failures:
        return
    while True:
        s, now = await store.read()
        new = rules.on_success(s) if ok else rules.on_failure(s, now, policy)
        if new is None or await store.cas(s, new, policy):
            return
