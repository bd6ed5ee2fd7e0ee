"""Idempotency keys for redis.asyncio clients (twins of fencepost.idempotent_execute and
@idempotent); fn may be sync or async."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
from typing import Any, Awaitable, Callable, Optional, TypeVar, Union, cast

from redis.exceptions import RedisError

from .._core import backoff, commands, errmap, idemp
from .._types import AsyncClient

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

DAY_MS = 86_400_000


async def idempotent_execute(
    client: AsyncClient,
    key: str,
    endpoint: str,
    fn: Callable[[], Any],
    *,
    fingerprint: Optional[Union[str, bytes]] = None,
    ttl_ms: int = DAY_MS,
    lease_ms: int = 30_000,
) -> Any:
    """fn() once per key (awaited if it returns an awaitable); see fencepost.idempotent_execute."""
    fp = idemp.fingerprint(endpoint, fingerprint)
    reply = await _call(client, commands.idemp_begin(key, fp, ttl_ms, lease_ms), False)
    b = idemp.begin(reply)
    if not b.started:
        return idemp.decode(b.response)
    try:
        result = fn()
        if inspect.isawaitable(result):
            result = await result
        payload = idemp.encode(result)
    except BaseException:
        await _abort(client, key, b.token)
        raise
    await _call(client, commands.idemp_complete(key, b.token, payload), True)
    return result


def idempotent(
    client: AsyncClient,
    key_func: Callable[..., str],
    *,
    endpoint: Optional[str] = None,
    fingerprint_func: Optional[Callable[..., Union[str, bytes]]] = None,
    ttl_ms: int = DAY_MS,
    lease_ms: int = 30_000,
) -> Callable[[F], F]:
    """Decorator for async functions: idempotent_execute around each call."""

    def wrap(fn: F) -> F:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError("fencepost.aio.idempotent wraps async functions")
        ep = endpoint or f"{fn.__module__}.{fn.__qualname__}"

        @functools.wraps(fn)
        async def inner(*args: Any, **kwargs: Any) -> Any:
            fp = fingerprint_func(*args, **kwargs) if fingerprint_func else None
            return await idempotent_execute(
                client, key_func(*args, **kwargs), ep, lambda: fn(*args, **kwargs),
                fingerprint=fp, ttl_ms=ttl_ms, lease_ms=lease_ms,
            )

        return cast(F, inner)

    return wrap


async def _call(client: AsyncClient, args: commands.Args, idempotent_cmd: bool) -> Any:
    attempt = 0
    while True:
        try:
            return await client.execute_command(*args)
        except RedisError as e:
            err = errmap.translate(e)
            if attempt >= 5 or not errmap.retryable(err, idempotent=idempotent_cmd):
                raise err from e
        await asyncio.sleep(backoff.full_jitter(attempt, 0.05, 1.0))
        attempt += 1


async def _abort(client: AsyncClient, key: str, token: int) -> None:
    # Best effort: if ABORT cannot be delivered the lease runs out and the key frees itself.
    with contextlib.suppress(RedisError):
        await client.execute_command(*commands.idemp_abort(key, token))
