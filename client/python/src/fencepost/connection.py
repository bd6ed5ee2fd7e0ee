"""A redis-py client over a fencepost cluster: any node works (followers proxy), and a
list of nodes is tried in turn when one is down."""

from __future__ import annotations

import socket
from typing import Any, List, Tuple

import redis
from redis.backoff import NoBackoff
from redis.connection import Connection
from redis.retry import Retry

from ._core import addresses as addr


class MultiAddressConnection(Connection):
    """A Connection that dials each node of a list in turn until one answers.

    It starts at the node that last worked, so a pool does not keep knocking on a dead one.
    """

    def __init__(self, addresses: List[Tuple[str, int]], **kwargs: Any) -> None:
        self._addresses = list(addresses)
        self._next = 0
        host, port = self._addresses[0]
        super().__init__(host=host, port=port, **kwargs)  # type: ignore[no-untyped-call]

    def _connect(self) -> socket.socket:
        last: OSError = OSError("no address")
        n = len(self._addresses)
        for i in range(n):
            idx = (self._next + i) % n
            self.host, self.port = self._addresses[idx]
            try:
                sock: socket.socket = super()._connect()  # type: ignore[no-untyped-call]
            except OSError as e:
                last = e
                continue
            self._next = idx
            return sock
        self._next = (self._next + 1) % n
        raise last


def no_resend() -> Retry:
    """redis-py's default Retry resends after a timeout or a dropped connection; after
    -UNCERTAIN's cousin that is a blind resend, so clients made here never do it."""
    return Retry(NoBackoff(), 0)


def connect(addresses: addr.Addresses = "127.0.0.1:6379", **kwargs: Any) -> redis.Redis:
    """A sync client for the given node(s). kwargs go to redis-py's Connection (password,
    username, protocol, socket_timeout, ...); socket_timeout defaults to 10 s."""
    nodes = addr.parse(addresses)
    kwargs.setdefault("socket_timeout", 10.0)
    kwargs.setdefault("socket_connect_timeout", 2.0)
    kwargs.setdefault("retry", no_resend())
    max_connections = kwargs.pop("max_connections", None)
    pool = redis.ConnectionPool(
        connection_class=MultiAddressConnection,
        addresses=nodes,
        max_connections=max_connections,
        **kwargs,
    )
    return redis.Redis(connection_pool=pool)
