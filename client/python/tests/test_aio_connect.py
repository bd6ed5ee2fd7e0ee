"""fencepost.aio.connect: a client made before its event loop runs, as a module-level
client handed to a middleware is, serves concurrent callers inside that loop."""

from __future__ import annotations

import asyncio

import fencepost.aio
from fpcluster import Cluster


def test_a_client_made_outside_its_loop_serves_concurrent_callers(cluster: Cluster) -> None:
    # Made here, where no loop runs. On Python 3.9 the pool's lock used to bind to
    # another loop, and the first caller to wait for it failed with "attached to a
    # different loop" (3.10 and later bind locks on first use, so there this passes
    # either way; the suite was run on 3.9 by hand, see the package README).
    client = fencepost.aio.connect(cluster.addrs)

    async def main() -> list[bool]:
        try:
            # Callers that arrive together queue on the pool's lock while it connects.
            return list(await asyncio.gather(*(client.ping() for _ in range(32))))
        finally:
            await client.aclose()

    # Not asyncio.run: it leaves this thread with no current loop, and on 3.9 redis-py
    # cannot make a client outside a loop after that (later tests make theirs here).
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(main()) == [True] * 32
    finally:
        loop.close()
