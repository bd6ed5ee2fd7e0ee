"""Fenced writes for redis.asyncio clients (twins of fencepost.fenced_set/advance)."""

from __future__ import annotations

from typing import Union

from redis.exceptions import RedisError

from .._core import commands, errmap, fence, replies
from .._types import AsyncClient


async def fenced_set(
    client: AsyncClient, key: str, lock: fence.Fenceable, value: Union[str, bytes]
) -> None:
    """FENCE SET key <token> value LOCK <name>; raises StaleToken if the lock moved on."""
    name, token = fence.token_of(lock)
    try:
        reply = await client.execute_command(*commands.fence_set(key, token, value, name))
    except RedisError as e:
        raise errmap.translate(e) from e
    if not replies.is_ok(reply):
        raise ValueError(f"FENCE SET answered {reply!r}")


async def fenced_advance(client: AsyncClient, resource: str, lock: fence.Fenceable) -> int:
    """FENCE ADVANCE resource <token> LOCK <name>: the accepted token, or StaleToken."""
    name, token = fence.token_of(lock)
    try:
        reply = await client.execute_command(*commands.fence_advance(resource, token, name))
    except RedisError as e:
        raise errmap.translate(e) from e
    return replies.to_int(reply)
