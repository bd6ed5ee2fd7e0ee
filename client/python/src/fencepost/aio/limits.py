"""Rate limiters for redis.asyncio clients (twins of fencepost's)."""

from __future__ import annotations

from typing import Any, Union

from redis.exceptions import RedisError

from .._core import errmap, limits, replies
from .._core.replies import Decision
from .._types import AsyncClient
from . import _script


class TokenBucketLimiter:
    """capacity tokens, refill_rate more every period_ms; a call takes `cost` tokens."""

    def __init__(
        self,
        client: AsyncClient,
        capacity: int,
        refill_rate: Union[int, float],
        *,
        period_ms: int = 1000,
    ) -> None:
        self.client = client
        self.spec = limits.TokenBucketSpec.of(capacity, refill_rate, period_ms)

    @classmethod
    def from_spec(cls, client: AsyncClient, spec: limits.TokenBucketSpec) -> TokenBucketLimiter:
        """The async twin of a limiter with these parameters (the ASGI middleware uses it)."""
        return cls(client, spec.capacity, spec.refill, period_ms=spec.period_ms)

    async def check(self, key: str, cost: int = 1) -> Decision:
        """Take `cost` tokens if there; the full Decision either way (cost 0 peeks)."""
        try:
            return replies.decision(await self.client.execute_command(*self.spec.args(key, cost)))
        except RedisError as e:
            raise errmap.translate(e) from e

    async def is_allowed(self, key: str, cost: int = 1) -> bool:
        """check(...).allowed."""
        return (await self.check(key, cost)).allowed


class SlidingWindowLimiter:
    """At most `limit` admissions in any window_ms (cluster clock), counted exactly."""

    def __init__(self, client: AsyncClient, limit: int, window_ms: int) -> None:
        self.client = client
        self.spec = limits.SlidingSpec(limit, window_ms)

    @classmethod
    def from_spec(cls, client: AsyncClient, spec: limits.SlidingSpec) -> SlidingWindowLimiter:
        """The async twin of a limiter with these parameters (the ASGI middleware uses it)."""
        return cls(client, spec.limit, spec.window_ms)

    async def check(self, key: str, cost: int = 1) -> Decision:
        """Admit `cost` calls if the window has room; the full Decision either way."""
        try:
            return replies.decision(await self._run(key, cost))
        except RedisError as e:
            raise errmap.translate(e) from e

    async def is_allowed(self, key: str, cost: int = 1) -> bool:
        """check(...).allowed."""
        return (await self.check(key, cost)).allowed

    async def _run(self, key: str, cost: int) -> Any:
        if limits.native(self.client) is not False:
            try:
                reply = await self.client.execute_command(*self.spec.args(key, cost))
            except RedisError as e:
                if not errmap.is_unknown_command(e):
                    raise
                limits.remember(self.client, False)
            else:
                limits.remember(self.client, True)
                return reply
        return await _script.run(self.client, limits.SLIDING, (key,), self.spec.script_args(cost))
