"""The pure core: rules both twins share, checked without a server."""

from __future__ import annotations

import redis.exceptions as rx

from fencepost import errors
from fencepost._core import backoff, breaker, errmap, http, idemp, lease, replies
from fencepost._core.addresses import parse


def test_full_jitter_stays_within_the_capped_exponential() -> None:
    for attempt in range(12):
        top = min(5.0, 0.1 * 2**attempt)
        assert backoff.full_jitter(attempt, 0.1, 5.0, lambda a, b: b) == top
        assert backoff.full_jitter(attempt, 0.1, 5.0, lambda a, b: a) == 0.0


def test_error_codes_map_to_classes() -> None:
    cases = {
        "STALE r token 1 < 2": errors.StaleToken,
        "MISMATCH idempotency key 'k' was used with another fingerprint": errors.IdempotencyMismatch,
        "UNCERTAIN leader lost": errors.Uncertain,
        "WRONGTYPE Operation against a key holding the wrong kind of value": errors.WrongType,
        "unknown command 'X'": errors.UnknownCommand,
        "value is not an integer": errors.CommandError,
    }
    for msg, cls in cases.items():
        out = errmap.translate(rx.ResponseError(msg))
        assert type(out) is cls, (msg, out)
        assert isinstance(out, errors.FencepostError) and isinstance(out, rx.ResponseError)
    assert isinstance(errmap.translate(rx.ClusterDownError("no leader")), errors.ClusterDown)  # type: ignore[no-untyped-call]
    assert isinstance(errmap.translate(rx.NoPermissionError("nope")), errors.PermissionDenied)
    assert isinstance(
        errmap.translate(rx.AuthenticationError("Authentication required.")), errors.AuthenticationRequired
    )
    assert isinstance(errmap.translate(rx.AuthenticationError("invalid username-password pair")),
                      errors.AuthenticationFailed)
    refused = rx.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")
    assert isinstance(errmap.translate(refused), errors.ConnectionRefused)
    lost = rx.ConnectionError("Connection closed by server.")
    assert isinstance(errmap.translate(lost), errors.ConnectionLost)


def test_retry_classification() -> None:
    assert errmap.retryable(errors.ClusterDown("x"), idempotent=False)
    assert errmap.retryable(errors.ConnectionRefused("x"), idempotent=False)
    assert not errmap.retryable(errors.Uncertain("x"), idempotent=False)
    assert errmap.retryable(errors.Uncertain("x"), idempotent=True)
    assert not errmap.retryable(errors.ConnectionLost("x"), idempotent=False)
    assert not errmap.retryable(errors.StaleToken("x"), idempotent=True)
    assert not errmap.retryable(ValueError("x"), idempotent=True)


def test_lease_validity_counts_from_send_minus_drift() -> None:
    le = lease.Lease()
    le.granted(7, sent_at=100.0, ttl_ms=10_000)
    assert le.valid_for_ms(100.0) == 9_900
    assert le.valid_for_ms(105.0) == 4_900
    assert le.valid_for_ms(200.0) == 0
    assert le.renew_delay_s() == 10_000 / 3000
    assert le.after_renew_error(errors.ClusterDown("x"), 101.0)
    assert not le.lost
    assert not le.after_renew_error(errors.ClusterDown("x"), 200.0)
    assert le.lost and le.valid_for_ms(101.0) == 0
    le.granted(8, 300.0, 1000)
    assert not le.after_extend(False, 300.1, 1000) and le.lost


def test_wait_plan() -> None:
    assert lease.next_wait(False, 500, 0, 9000) is None
    assert lease.next_wait(True, None, 0, 9000) == 9000
    assert lease.next_wait(True, 500, 100, 9000) == 400
    assert lease.next_wait(True, 500, 600, 9000) is None
    assert lease.give_up(False, None, 0)
    assert not lease.give_up(True, None, 10**9)
    assert lease.wait_chunk_ms(5.0) == 4000


def test_breaker_rules() -> None:
    p = breaker.Policy(2, 1000)
    s = breaker.State()
    s1 = breaker.on_failure(s, 0, p)
    assert s1 is not None and s1.mode == breaker.CLOSED and s1.failures == 1
    s2 = breaker.on_failure(s1, 10, p)
    assert s2 is not None and s2.mode == breaker.OPEN and s2.since_ms == 10
    ok, new, wait = breaker.admit(s2, 500, p)
    assert not ok and new is None and abs(wait - 0.51) < 1e-9
    ok, trial, _ = breaker.admit(s2, 1010, p)
    assert ok and trial is not None and trial.mode == breaker.HALF_OPEN
    assert not breaker.admit(trial, 1500, p)[0], "one trial at a time"
    closed = breaker.on_success(trial)
    assert closed is not None and closed.mode == breaker.CLOSED and closed.failures == 0
    reopened = breaker.on_failure(trial, 1600, p)
    assert reopened is not None and reopened.mode == breaker.OPEN and reopened.since_ms == 1600
    assert breaker.on_success(s2) is None, "a straggler's success does not close an open breaker"


def test_replies_and_headers() -> None:
    d = replies.decision([1, 10, 0, 1500, 9000])
    assert d == replies.Decision(False, 10, 0, 1500, 9000)
    h = dict(http.ratelimit_headers(d))
    assert h[b"retry-after"] == b"2" and h[b"ratelimit-reset"] == b"9"
    assert h[b"ratelimit-limit"] == b"10" and h[b"ratelimit-remaining"] == b"0"
    assert b"retry-after" not in dict(http.ratelimit_headers(replies.decision([0, 10, 9, -1, 100])))
    assert replies.pairs([b"a", 1, b"b", 2]) == replies.pairs({b"a": 1, "b": 2}) == {"a": 1, "b": 2}
    assert idemp.fingerprint("POST /a", b"x") != idemp.fingerprint("POST /b", b"x")
    stored = http.Stored(201, [(b"x", b"y")], b"\x00body")
    assert http.Stored.decode(idemp.decode(idemp.encode(stored.encode()).encode())) == stored


def test_addresses() -> None:
    assert parse("a:1") == [("a", 1)]
    assert parse(["a:1", ("b", 2), "c"]) == [("a", 1), ("b", 2), ("c", 6379)]
