"""The middleware in a real Starlette app served by uvicorn, driven over HTTP by httpx."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Dict, Iterator, Optional, cast

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

import fencepost
import fencepost.aio
from fencepost.asgi import IdempotencyMiddleware, RateLimitMiddleware
from fpcluster import Cluster, free_ports


class SlowComplete:
    """An async client whose IDEMP COMPLETE takes `delay` seconds longer: it widens the
    window between a handler's last byte and the key's completion."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.delay = 0.0

    async def execute_command(self, *args: Any) -> Any:
        if [str(a).upper() for a in args[:2]] == ["IDEMP", "COMPLETE"]:
            await asyncio.sleep(self.delay)
        return await self.inner.execute_command(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class Served:
    """A uvicorn server in a thread, and the counters of its handlers."""

    def __init__(self, cluster: Cluster) -> None:
        self.runs: Dict[str, int] = {"pay": 0, "boom": 0}
        aclient = fencepost.aio.connect(cluster.addrs)
        self.idemp_client = SlowComplete(aclient)
        # A sync limiter on purpose: the middleware re-makes it as its async twin.
        limiter = fencepost.SlidingWindowLimiter(fencepost.connect(cluster.addrs), 3, 10_000)
        self.prefix = f"t{time.monotonic_ns()}"

        async def pay(request: Request) -> Response:
            self.runs["pay"] += 1
            n = self.runs["pay"]
            body = await request.json()
            await asyncio.sleep(float(request.query_params.get("sleep", "0")))
            return JSONResponse({"n": n, "amount": body["amount"]}, status_code=201,
                                headers={"x-charge": str(n)})

        async def boom(request: Request) -> Response:
            self.runs["boom"] += 1
            if self.runs["boom"] == 1:
                return JSONResponse({"error": "database down"}, status_code=500)
            return JSONResponse({"attempt": self.runs["boom"]})

        async def hello(request: Request) -> Response:
            return PlainTextResponse("hi")

        def key_func(request: Request) -> Optional[str]:
            if request.url.path != "/limited":
                return None
            return f"{self.prefix}:{request.headers.get('x-user', 'anon')}"

        app = Starlette(routes=[Route("/pay", pay, methods=["POST"]),
                                Route("/boom", boom, methods=["POST"]),
                                Route("/limited", hello)])
        app.add_middleware(IdempotencyMiddleware, client=cast(Any, self.idemp_client))
        app.add_middleware(RateLimitMiddleware, client=aclient, key_func=key_func, limiter=limiter)
        port = free_ports(1)[0]
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def served(cluster: Cluster) -> Iterator[Served]:
    s = Served(cluster)
    try:
        yield s
    finally:
        s.stop()


def _key() -> str:
    return f"k-{time.monotonic_ns()}"


async def test_concurrent_duplicates_run_once_then_replay(served: Served) -> None:
    key, before = _key(), served.runs["pay"]
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as http:
        rs = await asyncio.gather(*(
            http.post("/pay?sleep=0.5", json={"amount": 5}, headers={"Idempotency-Key": key})
            for _ in range(6)))
        statuses = sorted(r.status_code for r in rs)
        assert served.runs["pay"] == before + 1, "exactly one ran"
        assert statuses.count(201) >= 1 and set(statuses) <= {201, 409}
        first = next(r for r in rs if r.status_code == 201 and "idempotent-replayed" not in r.headers)
        for r in rs:
            if r.status_code == 409:
                assert int(r.headers["retry-after"]) >= 1
        again = await http.post("/pay", json={"amount": 5}, headers={"Idempotency-Key": key})
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["x-charge"] == first.headers["x-charge"]
    assert again.headers["idempotent-replayed"] == "true"
    assert served.runs["pay"] == before + 1


def test_a_resend_after_the_whole_response_replays_even_if_complete_is_slow(served: Served) -> None:
    # Regression (CI, stop 23): COMPLETE went out after the last body chunk, so a client
    # that had the whole 201 and resent at once could get 409 "in flight".
    key = _key()
    served.idemp_client.delay = 0.5
    try:
        first = httpx.post(f"{served.url}/pay", json={"amount": 7}, headers={"Idempotency-Key": key})
        again = httpx.post(f"{served.url}/pay", json={"amount": 7}, headers={"Idempotency-Key": key})
    finally:
        served.idemp_client.delay = 0.0
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()


def test_in_flight_409_and_changed_body_422(served: Served) -> None:
    key = _key()
    result: Dict[str, Any] = {}

    def slow() -> None:
        result["r"] = httpx.post(f"{served.url}/pay?sleep=1.0", json={"amount": 1},
                                 headers={"Idempotency-Key": key}, timeout=10)

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.4)
    busy = httpx.post(f"{served.url}/pay", json={"amount": 1}, headers={"Idempotency-Key": key})
    assert busy.status_code == 409 and int(busy.headers["retry-after"]) >= 1
    t.join(10)
    assert result["r"].status_code == 201
    changed = httpx.post(f"{served.url}/pay", json={"amount": 2}, headers={"Idempotency-Key": key})
    assert changed.status_code == 422
    other_path = httpx.post(f"{served.url}/boom", json={"amount": 1}, headers={"Idempotency-Key": key})
    assert other_path.status_code == 422, "the fingerprint covers method and path too"
    plain = httpx.post(f"{served.url}/pay", json={"amount": 3})
    assert plain.status_code == 201, "no key: passes through"


def test_5xx_is_not_stored(served: Served) -> None:
    key = _key()
    first = httpx.post(f"{served.url}/boom", json={}, headers={"Idempotency-Key": key})
    assert first.status_code == 500
    second = httpx.post(f"{served.url}/boom", json={}, headers={"Idempotency-Key": key})
    assert second.status_code == 200 and second.json() == {"attempt": 2}, "ran again"
    third = httpx.post(f"{served.url}/boom", json={}, headers={"Idempotency-Key": key})
    assert third.json() == {"attempt": 2} and third.headers["idempotent-replayed"] == "true"
    assert served.runs["boom"] == 2


def test_rate_limit_headers(served: Served) -> None:
    with httpx.Client(base_url=served.url) as http:
        rs = [http.get("/limited", headers={"x-user": "ann"}) for _ in range(4)]
        other = http.get("/limited", headers={"x-user": "bob"})
        unlimited = http.post("/pay", json={"amount": 1})
    assert [r.status_code for r in rs] == [200, 200, 200, 429]
    assert [r.headers["ratelimit-remaining"] for r in rs] == ["2", "1", "0", "0"]
    for r in rs:
        assert r.headers["ratelimit-limit"] == "3"
        assert 1 <= int(r.headers["ratelimit-reset"]) <= 10
    assert 1 <= int(rs[3].headers["retry-after"]) <= 10
    assert "retry-after" not in rs[0].headers
    assert rs[3].json() == {"error": "rate limit exceeded"}
    assert other.status_code == 200 and other.headers["ratelimit-remaining"] == "2"
    assert "ratelimit-limit" not in unlimited.headers
