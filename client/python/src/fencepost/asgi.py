"""ASGI middleware (Starlette, FastAPI, any ASGI app): Idempotency-Key handling and rate
limits with the IETF RateLimit headers. Needs a redis.asyncio client (fencepost.aio.connect)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from typing import Any, Awaitable, Callable, List, MutableMapping, Optional, Sequence, Union

from redis.exceptions import RedisError

from . import errors
from ._core import backoff, commands, errmap, http, idemp, limits
from ._core.replies import Decision
from ._types import AsyncClient
from .aio import limits as aio_limits

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DAY_MS = 86_400_000
log = logging.getLogger("fencepost")


async def _respond(send: Send, status: int, headers: http.Headers, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> Optional[str]:
    for k, v in scope.get("headers", ()):
        if k.lower() == name:
            return str(v.decode("latin-1"))
    return None


class IdempotencyMiddleware:
    """Runs each (method, Idempotency-Key) request once and replays its response.

    The fingerprint is SHA-256 over method, path and body, so a key reused with another
    request answers 422. A request while the first is in flight answers 409 with
    Retry-After. 5xx responses and exceptions are never stored (the claim is aborted).
    """

    def __init__(
        self,
        app: ASGIApp,
        client: AsyncClient,
        header: str = "Idempotency-Key",
        methods: Sequence[str] = ("POST", "PATCH"),
        *,
        ttl_ms: int = DAY_MS,
        lease_ms: int = 30_000,
        prefix: str = "idempotency:",
    ) -> None:
        self.app = app
        self.client = client
        self.header = header.lower().encode("latin-1")
        self.methods = {m.upper() for m in methods}
        self.ttl_ms = ttl_ms
        self.lease_ms = lease_ms
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in self.methods:
            return await self.app(scope, receive, send)
        header_key = _header(scope, self.header)
        if not header_key:
            return await self.app(scope, receive, send)
        body, receive = await _buffer(receive)
        key = self.prefix + header_key
        fp = idemp.fingerprint(f"{scope['method']} {scope['path']}", body)
        try:
            reply = await self.client.execute_command(
                *commands.idemp_begin(key, fp, self.ttl_ms, self.lease_ms)
            )
            begin = idemp.begin(reply)
        except errors.IdempotencyInProgress as e:
            retry = [(b"retry-after", str(max(1, http.seconds(e.retry_after_ms))).encode())]
            return await _respond(send, *http.json_body(409, "a request with this key is in flight", retry))
        except RedisError as e:
            err = errmap.translate(e)
            if isinstance(err, errors.IdempotencyMismatch):
                return await _respond(send, *http.json_body(422, "key reused with another request", []))
            if errmap.transient(err):
                # Nothing ran: the client may resend the same key.
                unavailable = [(b"retry-after", b"1")]
                return await _respond(send, *http.json_body(503, "coordination unavailable", unavailable))
            raise err from e
        if not begin.started:
            stored = http.Stored.decode(idemp.decode(begin.response))
            replayed = [*stored.headers, (b"idempotent-replayed", b"true")]
            return await _respond(send, stored.status, replayed, stored.body)
        await self._run(scope, receive, send, key, begin.token)

    async def _run(self, scope: Scope, receive: Receive, send: Send, key: str, token: int) -> None:
        status = 0
        headers: http.Headers = []
        chunks: List[bytes] = []
        completed = False

        async def capture(message: Message) -> None:
            nonlocal status, headers, completed
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))
                if not message.get("more_body", False) and http.storable(status):
                    # COMPLETE before the last chunk leaves: a client that has the whole
                    # response and resends its key must get the replay, not a 409.
                    await self._store(key, token, http.Stored(status, headers, b"".join(chunks)))
                    completed = True
            await send(message)

        try:
            await self.app(scope, receive, capture)
        except BaseException:
            if not completed:
                await self._abort(key, token)
            raise
        if not completed:
            # No storable response was finished (a 5xx, or nothing sent): nothing to replay.
            await self._abort(key, token)

    async def _store(self, key: str, token: int, stored: http.Stored) -> None:
        try:
            await _complete(self.client, key, token, idemp.encode(stored.encode()))
        except RedisError as e:
            # The response goes out anyway; the claim's lease will run out and a resend
            # will run the request again. Say so rather than hide it.
            log.warning("idempotency key %r: COMPLETE failed (%r); a resend will run again", key, e)

    async def _abort(self, key: str, token: int) -> None:
        # Best effort: an undelivered ABORT leaves a claim whose lease runs out.
        with contextlib.suppress(RedisError):
            await self.client.execute_command(*commands.idemp_abort(key, token))


async def _complete(client: AsyncClient, key: str, token: int, payload: str) -> None:
    # COMPLETE with the same token is idempotent, so transient errors are ridden through.
    attempt = 0
    while True:
        try:
            await client.execute_command(*commands.idemp_complete(key, token, payload))
            return
        except RedisError as e:
            if attempt >= 5 or not errmap.transient(e):
                raise
        await asyncio.sleep(backoff.full_jitter(attempt, 0.05, 1.0))
        attempt += 1


async def _buffer(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole request body, and a receive() that hands it to the app again."""
    parts: List[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        parts.append(bytes(message.get("body", b"")))
        if not message.get("more_body", False):
            break
    body = b"".join(parts)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


AnyLimiter = Union[
    "aio_limits.TokenBucketLimiter",
    "aio_limits.SlidingWindowLimiter",
    Any,
]
KeyFunc = Callable[[Any], Union[Optional[str], Awaitable[Optional[str]]]]


class RateLimitMiddleware:
    """Checks `limiter` with key_func(request) before each HTTP request: 429 with
    Retry-After when refused, and RateLimit-Limit / -Remaining / -Reset on every response.

    key_func gets a starlette Request (sync or async; None skips limiting). A sync
    fencepost limiter is re-made as its async twin over `client`, so the loop never blocks.
    """

    def __init__(
        self,
        app: ASGIApp,
        client: AsyncClient,
        key_func: KeyFunc,
        limiter: AnyLimiter,
        *,
        cost: int = 1,
    ) -> None:
        self.app = app
        self.client = client
        self.key_func = key_func
        self.limiter = _async_twin(client, limiter)
        self.cost = cost

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        from starlette.requests import Request

        key = self.key_func(Request(scope, receive))
        if inspect.isawaitable(key):
            key = await key
        if key is None:
            return await self.app(scope, receive, send)
        decision: Decision = await self.limiter.check(str(key), self.cost)
        extra = http.ratelimit_headers(decision)
        if not decision.allowed:
            return await _respond(send, *http.json_body(429, "rate limit exceeded", extra))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


def _async_twin(client: AsyncClient, limiter: Any) -> Any:
    spec = getattr(limiter, "spec", None)
    if inspect.iscoroutinefunction(getattr(limiter, "check", None)):
        return limiter
    if isinstance(spec, limits.TokenBucketSpec):
        return aio_limits.TokenBucketLimiter.from_spec(client, spec)
    if isinstance(spec, limits.SlidingSpec):
        return aio_limits.SlidingWindowLimiter.from_spec(client, spec)
    raise TypeError(f"not a fencepost limiter: {limiter!r}")


__all__ = ["IdempotencyMiddleware", "RateLimitMiddleware"]

