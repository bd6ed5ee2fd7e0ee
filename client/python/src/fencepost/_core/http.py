"""HTTP answers the middleware derives from decisions: rate-limit headers (IETF draft
"RateLimit header fields for HTTP"), Retry-After, and stored responses."""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

from .replies import Decision

Headers = List[Tuple[bytes, bytes]]


def seconds(ms: int) -> int:
    """Delta-seconds for a header: rounded up, so a client never comes back too early."""
    return max(0, math.ceil(ms / 1000))


def ratelimit_headers(d: Decision) -> Headers:
    """RateLimit-Limit / -Remaining / -Reset on every response; Retry-After when refused."""
    out: Headers = [
        (b"ratelimit-limit", str(d.limit).encode()),
        (b"ratelimit-remaining", str(max(0, d.remaining)).encode()),
        (b"ratelimit-reset", str(seconds(d.reset_after_ms)).encode()),
    ]
    if not d.allowed:
        out.append((b"retry-after", str(max(1, seconds(d.retry_after_ms))).encode()))
    return out


@dataclass(frozen=True)
class Stored:
    """A response as the idempotency middleware keeps it."""

    status: int
    headers: Headers
    body: bytes

    def encode(self) -> Dict[str, Any]:
        """A JSON-able dict (headers latin-1, as HTTP/1 carries them; body base64)."""
        return {
            "status": self.status,
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in self.headers],
            "body": base64.b64encode(self.body).decode("ascii"),
        }

    @classmethod
    def decode(cls, obj: Any) -> Stored:
        """The inverse of encode()."""
        headers = [(str(k).encode("latin-1"), str(v).encode("latin-1")) for k, v in obj["headers"]]
        return cls(int(obj["status"]), headers, base64.b64decode(obj["body"]))


def storable(status: int) -> bool:
    """5xx is the server's failure, not the request's outcome: never replay it."""
    return status < 500


def json_body(status: int, message: str, extra: Headers) -> Tuple[int, Headers, bytes]:
    """A small JSON error response."""
    body = json.dumps({"error": message}).encode()
    headers: Headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    return status, headers, body
