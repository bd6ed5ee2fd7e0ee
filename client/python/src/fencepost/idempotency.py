"""Run a function once per idempotency key (IDEMP BEGIN/COMPLETE/ABORT); replays return
the stored JSON result; errors are never cached."""

from __future__ import annotations

import contextlib
import functools
import inspect
import time
from typing import Any, Callable, Optional, TypeVar, Union, cast

from redis.exceptions import RedisError

from ._core import backoff, commands, errmap, idemp
from ._types import SyncClient

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

DAY_MS = 86_400_000


def idempotent_execute(
    client: SyncClient,
    key: str,
    endpoint: str,
    fn: Callable[[], T],
    *,
    fingerprint: Optional[Union[str, bytes]] = None,
    ttl_ms: int = DAY_MS,
    lease_ms: int = 30_000,
) -> Any:
    """fn() once per key: `done` replays the stored result, `pending` raises
    IdempotencyInProgress, another fingerprint raises IdempotencyMismatch, and an
    exception from fn ABORTs the claim (so a retry may run it again) and propagates."""
    fp = idemp.fingerprint(endpoint, fingerprint)
    b = idemp.begin(_call(client, commands.idemp_begin(key, fp, ttl_ms, lease_ms), False))
    if not b.started:
        return idemp.decode(b.response)
    try:
        result = fn()
        payload = idemp.encode(result)
    except BaseException:
        _abort(client, key, b.token)
        raise
    # COMPLETE with the same token is idempotent (a resend answers +OK again).
    _call(client, commands.idemp_complete(key, b.token, payload), True)
    return result


def idempotent(
    client: SyncClient,
    key_func: Callable[..., str],
    *,
    endpoint: Optional[str] = None,
    fingerprint_func: Optional[Callable[..., Union[str, bytes]]] = None,
    ttl_ms: int = DAY_MS,
    lease_ms: int = 30_000,
) -> Callable[[F], F]:
    """Decorator: idempotent_execute around each call, the key from key_func(*args, **kw)."""

    def wrap(fn: F) -> F:
        if inspect.iscoroutinefunction(fn):
            raise TypeError("use fencepost.aio.idempotent for async functions")
        ep = endpoint or f"{fn.__module__}.{fn.__qualname__}"

        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            fp = fingerprint_func(*args, **kwargs) if fingerprint_func else None
            return idempotent_execute(
                client, key_func(*args, **kwargs), ep, lambda: fn(*args, **kwargs),
                fingerprint=fp, ttl_ms=ttl_ms, lease_ms=lease_ms,
            )

        return cast(F, inner)

    return wrap


def _call(client: SyncClient, args: commands.Args, idempotent_cmd: bool) -> Any:
    attempt = 0
    while True:
        try:
            return client.execute_command(*args)
        except RedisError as e:
            err = errmap.translate(e)
            if attempt >= 5 or not errmap.retryable(err, idempotent=idempotent_cmd):
                raise err from e
        time.sleep(backoff.full_jitter(attempt, 0.05, 1.0))
        attempt += 1


def _abort(client: SyncClient, key: str, token: int) -> None:
    # Best effort: if ABORT cannot be delivered the lease runs out and the key frees itself.
    with contextlib.suppress(RedisError):
        client.execute_command(*commands.idemp_abort(key, token))
