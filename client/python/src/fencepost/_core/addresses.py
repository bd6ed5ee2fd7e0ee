"""Parse the node addresses a client may be given: "host:port", (host, port), or a list."""

from __future__ import annotations

from typing import List, Sequence, Tuple, Union

Address = Union[str, Tuple[str, int]]
Addresses = Union[Address, Sequence[Address]]


def parse(addresses: Addresses, default_port: int = 6379) -> List[Tuple[str, int]]:
    """Normalise to a non-empty list of (host, port)."""
    items: Sequence[Address]
    items = [addresses] if isinstance(addresses, (str, tuple)) else list(addresses)
    out: List[Tuple[str, int]] = []
    for a in items:
        if isinstance(a, tuple):
            out.append((str(a[0]), int(a[1])))
            continue
        host, sep, port = a.rpartition(":")
        if not sep:
            out.append((a, default_port))
        else:
            out.append((host.strip("[]"), int(port)))
    if not out:
        raise ValueError("no address given")
    return out
