#!/usr/bin/env python3
"""fencepost through redis-py, each test under RESP2 and RESP3 (SPEC.md is the
contract). Run: FENCEPOST_BIN=target/debug/fencepost python3 tests/py/test_fencepost.py
(PY_TESTS_ONLY=<substring> runs a subset)."""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import redis  # noqa: E402
from redis.exceptions import AuthenticationError, ResponseError  # noqa: E402

from harness import Server, main, pairs, raises, text, uniq, wait_until  # noqa: E402


def lock_cmd(r, *args):
    return r.execute_command("LOCK", *args)


def info(r, name):
    """LOCK INFO as (owner, token, ttl, waiters), checking the exact shape per protocol."""
    v = lock_cmd(r, "INFO", name)
    if v is None:
        return None
    p = pairs(v)
    assert list(p) == ["owner", "token", "ttl-ms", "waiters"], v
    return (text(p["owner"]), p["token"], p["ttl-ms"], p["waiters"])


def waiters(r, name):
    i = info(r, name)
    return i[3] if i else 0


def spawn(ctx, *args):
    """Runs one command on its own connection in a thread; returns a dict filled with
    'reply' (or 'error') and 'at' (monotonic time) when it answers."""
    c = ctx.client()
    c.ping()
    out = {}

    def run():
        try:
            out["reply"] = c.execute_command(*args)
        except Exception as e:  # noqa: BLE001
            out["error"] = e
        out["at"] = time.monotonic()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    out["thread"] = t
    return out


def join(out, timeout):
    out["thread"].join(timeout)
    assert not out["thread"].is_alive(), "no reply within %ss" % timeout
    if "error" in out:
        raise out["error"]
    return out["reply"]


# ---------------------------------------------------------------- compat

def test_ping_echo(ctx):
    r = ctx.r
    assert r.ping() is True
    assert r.echo("hi") == b"hi"
    assert r.echo(b"a\x00\r\nb") == b"a\x00\r\nb"


def test_hello(ctx):
    r = ctx.r
    v = pairs(r.execute_command("HELLO", ctx.proto))
    assert v["proto"] == ctx.proto, v
    assert text(v["server"]) and text(v["version"]), v
    if ctx.proto == 3:
        assert isinstance(r.execute_command("HELLO", 3), dict)


def test_auth_requirepass(ctx):
    srv = ctx.servers["auth"]
    # Without a password, every data command is refused with -NOAUTH. (redis-py sends
    # CLIENT SETINFO on connect, and under RESP3 a HELLO 3 without AUTH, which Redis
    # itself refuses before AUTH; so the anonymous client skips SETINFO.)
    anon = ctx.client(srv, password=None, lib_name=None, lib_version=None)
    raises(AuthenticationError, lock_cmd, anon, "INFO", "x")  # -NOAUTH
    if ctx.proto == 2:
        assert anon.ping() is True  # PING is served before AUTH (SPEC)
        raises(AuthenticationError, anon.execute_command, "ECHO", "x")  # not served before AUTH
        raises(AuthenticationError, anon.execute_command, "AUTH", "wrong")  # -WRONGPASS
        raises(AuthenticationError, lock_cmd, anon, "INFO", "x")
        assert anon.execute_command("AUTH", "s3cret") is True
        assert lock_cmd(anon, "INFO", uniq("x")) is None
    bad = ctx.client(srv, password="wrong")
    raises(AuthenticationError, bad.ping)
    good = ctx.client(srv, password="s3cret")
    assert good.ping() is True
    assert lock_cmd(good, "INFO", uniq("x")) is None
    t = lock_cmd(good, "ACQUIRE", uniq("authlk"), "o", 10000)
    assert isinstance(t, int) and t > 0
    user = ctx.client(srv, username="default", password="s3cret")
    assert lock_cmd(user, "INFO", uniq("x")) is None


def test_select_and_client(ctx):
    r = ctx.r
    assert r.execute_command("SELECT", 0)
    raises(ResponseError, r.execute_command, "SELECT", 1)
    cid = r.client_id()
    assert isinstance(cid, int) and cid > 0
    assert r.client_getname() is None
    assert r.client_setname("py-worker") is True
    assert text(r.client_getname()) == "py-worker"
    assert r.client_setinfo("LIB-NAME", "mylib") is True
    mine = [c for c in r.client_list() if str(c.get("id")) == str(cid)]
    assert len(mine) == 1 and mine[0].get("name") == "py-worker", r.client_list()
    ci = r.client_info()
    assert str(ci.get("id")) == str(cid) and ci.get("name") == "py-worker", ci


def test_command(ctx):
    r = ctx.r
    n = r.command_count()
    assert n >= 17, n
    names = [text(x).lower() for x in r.command_list()]
    assert len(names) == n, names
    for c in ("lock", "fence", "tokenbucket", "idemp", "raft", "cluster", "hello"):
        assert c in names, names
    v = r.execute_command("COMMAND INFO", "LOCK")
    assert len(v) == 1 and text(v[0][0]).lower() == "lock", v
    d = pairs(r.execute_command("COMMAND DOCS", "IDEMP"))
    assert [k.lower() for k in d] == ["idemp"], d


def test_info_dbsize(ctx):
    r = ctx.r
    i = r.info()
    assert i.get("loading") == 0, i
    raft = r.info("raft")
    assert raft, raft
    assert r.info("server"), "INFO server is empty"
    assert isinstance(r.info("clients"), dict)
    assert isinstance(r.info("stats"), dict)
    r.info("keyspace")
    n0 = r.dbsize()
    assert isinstance(n0, int) and n0 >= 0
    lock_cmd(r, "ACQUIRE", uniq("db"), "o", 60000)
    assert r.dbsize() >= n0 + 1


def test_cluster_commands(ctx):
    r = ctx.r
    myid = text(r.execute_command("CLUSTER", "MYID"))
    assert myid and " " not in myid
    ci = r.cluster("info")
    assert ci.get("cluster_state") == "ok", ci
    assert str(ci.get("cluster_slots_assigned")) == "16384", ci
    slots = r.execute_command("CLUSTER", "SLOTS")
    assert len(slots) == 1, slots
    assert slots[0][0] == 0 and slots[0][1] == 16383, slots
    assert text(slots[0][2][0]) == "127.0.0.1" and slots[0][2][1] == ctx.srv.port, slots
    nodes = r.cluster("nodes")
    assert len(nodes) == 1, nodes
    (addr, n), = nodes.items()
    assert addr.startswith("127.0.0.1:%d" % ctx.srv.port), nodes
    assert n["node_id"] == myid, n
    assert "myself" in n["flags"] and "master" in n["flags"], n
    assert n["connected"] is True, n
    assert n["slots"] == [["0", "16383"]], n
    shards = r.execute_command("CLUSTER", "SHARDS")
    assert len(shards) == 1, shards
    sh = pairs(shards[0])
    assert list(sh["slots"]) == [0, 16383], sh
    assert len(sh["nodes"]) == 1 and text(pairs(sh["nodes"][0])["role"]) == "master", sh


def test_raft_info(ctx):
    v = pairs(ctx.r.execute_command("RAFT", "INFO"))
    for k in ("node-id", "role", "term", "leader-id", "leader-addr", "commit-index",
              "applied-index", "voters", "learners"):
        assert k in v, (k, v)
    assert text(v["role"]) == "leader", v
    assert str(text(v["node-id"])) == "1", v
    assert text(v["leader-addr"]) == "127.0.0.1:%d" % ctx.srv.port, v
    assert 1 <= v["applied-index"] <= v["commit-index"], v


def test_unknown_and_bad_arguments(ctx):
    r = ctx.r
    e = raises(ResponseError, r.execute_command, "foo")
    assert e.startswith("unknown command 'foo'"), e  # redis-py strips the ERR code
    for args in (("LOCK", "ACQUIRE", "x"), ("LOCK", "ACQUIRE", "x", "o", "abc"),
                 ("FENCE", "ADVANCE", "r", "-1"), ("TOKENBUCKET", "b", "10", "1"),
                 ("IDEMP", "BEGIN", "k", "fp", "soon")):
        raises(ResponseError, r.execute_command, *args)
        assert r.ping() is True


def test_pipeline(ctx):
    r = ctx.r
    p = r.pipeline(transaction=False)
    pre = uniq("pypl")
    for i in range(300):
        k = i % 4
        if k == 0:
            p.execute_command("ECHO", "e%d" % i)
        elif k == 1:
            p.execute_command("LOCK", "ACQUIRE", "%s-l%d" % (pre, i), "o", 60000)
        elif k == 2:
            p.execute_command("FENCE", "SET", "%s-f%d" % (pre, i), i, "v%d" % i)
        else:
            p.execute_command("TOKENBUCKET", "%s-b%d" % (pre, i), 10, 1, 1000, "COST", 4)
    out = p.execute()
    assert len(out) == 300
    for i, v in enumerate(out):
        k = i % 4
        if k == 0:
            assert v == ("e%d" % i).encode(), (i, v)
        elif k == 1:
            assert isinstance(v, int) and v > 0, (i, v)
        elif k == 2:
            assert v in (b"OK", "OK", True), (i, v)
        else:
            assert v == [0, 10, 6, -1, 4000], (i, v)
    # An error inside a pipeline is returned in place.
    p = r.pipeline(transaction=False)
    p.execute_command("PING")
    p.execute_command("FENCE", "ADVANCE", "x", "nan")
    p.execute_command("ECHO", "after")
    out = p.execute(raise_on_error=False)
    assert out[0] is True and isinstance(out[1], ResponseError) and out[2] == b"after", out


# ---------------------------------------------------------------- LOCK

def test_lock_acquire(ctx):
    r = ctx.r
    name = uniq("pylk")
    t = lock_cmd(r, "ACQUIRE", name, "alice", 10000)
    assert isinstance(t, int) and t > 0, t
    assert lock_cmd(r, "ACQUIRE", name, "alice", 10000) == t
    assert lock_cmd(r, "ACQUIRE", name, "bob", 10000) is None
    last = t
    for i in range(10):
        ti = lock_cmd(r, "ACQUIRE", "%s-%d" % (name, i), "o", 10000)
        assert ti > last, (ti, last)
        last = ti


def test_lock_reacquire_resets_ttl(ctx):
    r = ctx.r
    name = uniq("pyttl")
    t = lock_cmd(r, "ACQUIRE", name, "alice", 60000)
    assert lock_cmd(r, "ACQUIRE", name, "alice", 5000) == t
    o, tok, ttl, w = info(r, name)
    assert (o, tok, w) == ("alice", t, 0) and 3000 < ttl <= 5000, (o, tok, ttl, w)
    assert lock_cmd(r, "ACQUIRE", name, "alice", 120000) == t
    assert 115000 < info(r, name)[2] <= 120000


def test_lock_release_extend(ctx):
    r = ctx.r
    name = uniq("pyrel")
    t = lock_cmd(r, "ACQUIRE", name, "alice", 5000)
    assert lock_cmd(r, "RELEASE", name, "bob", t) == 0
    assert lock_cmd(r, "RELEASE", name, "alice", t + 1) == 0
    assert lock_cmd(r, "EXTEND", name, "bob", t, 60000) == 0
    assert lock_cmd(r, "EXTEND", name, "alice", t + 1, 60000) == 0
    assert lock_cmd(r, "EXTEND", name, "alice", t, 60000) == 1
    assert 55000 < info(r, name)[2] <= 60000
    assert lock_cmd(r, "RELEASE", name, "alice", t) == 1
    assert lock_cmd(r, "INFO", name) is None
    assert lock_cmd(r, "RELEASE", name, "alice", t) == 0
    assert lock_cmd(r, "EXTEND", name, "alice", t, 1000) == 0


def test_lock_info_shape(ctx):
    r = ctx.r
    name = uniq("pyinfo")
    assert lock_cmd(r, "INFO", name) is None
    t = lock_cmd(r, "ACQUIRE", name, "alice", 30000)
    v = lock_cmd(r, "INFO", name)
    if ctx.proto == 2:
        assert isinstance(v, list) and len(v) == 8, v
        assert v[:4] == [b"owner", b"alice", b"token", t] and v[4] == b"ttl-ms" and v[6:] == [b"waiters", 0], v
        assert 25000 < v[5] <= 30000, v
    else:
        assert isinstance(v, dict), v
        assert list(v) == [b"owner", b"token", b"ttl-ms", b"waiters"], v
        assert v[b"owner"] == b"alice" and v[b"token"] == t and v[b"waiters"] == 0, v


def test_lock_expires(ctx):
    r = ctx.r
    name = uniq("pyexp")
    t0 = time.monotonic()
    t = lock_cmd(r, "ACQUIRE", name, "alice", 400)
    wait_until(5, "lease of 400 ms to expire", lambda: lock_cmd(r, "INFO", name) is None)
    assert time.monotonic() - t0 >= 0.3
    t2 = lock_cmd(r, "ACQUIRE", name, "bob", 10000)
    assert t2 > t


def test_lock_wait_granted_on_release(ctx):
    r = ctx.r
    name = uniq("pywait")
    ta = lock_cmd(r, "ACQUIRE", name, "alice", 60000)
    w = spawn(ctx, "LOCK", "ACQUIRE", name, "bob", 30000, "WAIT", 20000)
    wait_until(5, "bob queued", lambda: waiters(r, name) == 1)
    assert lock_cmd(r, "RELEASE", name, "alice", ta) == 1
    released = time.monotonic()
    tb = join(w, 10)
    assert isinstance(tb, int) and tb > ta, tb
    assert w["at"] - released < 1.0, "granted %.3fs after release" % (w["at"] - released)
    assert info(r, name)[:2] == ("bob", tb)


def test_lock_wait_granted_on_expiry(ctx):
    r = ctx.r
    name = uniq("pywexp")
    ta = lock_cmd(r, "ACQUIRE", name, "alice", 1000)
    acquired = time.monotonic()
    w = spawn(ctx, "LOCK", "ACQUIRE", name, "bob", 30000, "WAIT", 20000)
    tb = join(w, 10)
    assert tb > ta
    after = w["at"] - acquired
    assert 0.8 <= after < 2.0, "granted %.3fs after a 1000 ms lease was taken" % after


def test_lock_fifo(ctx):
    r = ctx.r
    name = uniq("pyfifo")
    holder = ("alice", lock_cmd(r, "ACQUIRE", name, "alice", 60000))
    ws = []
    for i, who in enumerate(("bob", "carol", "dave")):
        ws.append(spawn(ctx, "LOCK", "ACQUIRE", name, who, 60000, "WAIT", 30000))
        wait_until(5, "%s queued" % who, lambda n=i + 1: waiters(r, name) == n)
    prev = holder[1]
    for i, who in enumerate(("bob", "carol", "dave")):
        assert lock_cmd(r, "RELEASE", name, holder[0], holder[1]) == 1
        t = join(ws[i], 5)
        assert t > prev
        time.sleep(0.1)
        for later in ws[i + 1:]:
            assert later["thread"].is_alive(), "a later waiter was granted before %s released" % who
        assert info(r, name)[:2] == (who, t) and info(r, name)[3] == 2 - i
        prev, holder = t, (who, t)


def test_lock_wait_timeout(ctx):
    r = ctx.r
    name = uniq("pywto")
    lock_cmd(r, "ACQUIRE", name, "alice", 60000)
    t0 = time.monotonic()
    assert lock_cmd(r, "ACQUIRE", name, "bob", 10000, "WAIT", 600) is None
    el = time.monotonic() - t0
    assert 0.5 <= el < 2.0, el


def test_lock_waiter_disconnect(ctx):
    r = ctx.r
    name = uniq("pygone")
    ta = lock_cmd(r, "ACQUIRE", name, "alice", 60000)
    conn = redis.Connection(host="127.0.0.1", port=ctx.srv.port, protocol=ctx.proto)
    conn.connect()
    conn.send_command("LOCK", "ACQUIRE", name, "bob", 60000, "WAIT", 30000)
    wait_until(5, "bob queued", lambda: waiters(r, name) == 1)
    conn.disconnect()
    w = spawn(ctx, "LOCK", "ACQUIRE", name, "carol", 60000, "WAIT", 30000)
    wait_until(5, "carol queued", lambda: waiters(r, name) >= 1)
    assert lock_cmd(r, "RELEASE", name, "alice", ta) == 1
    tc = join(w, 5)
    assert tc > ta and info(r, name)[:2] == ("carol", tc)


# ---------------------------------------------------------------- FENCE

def test_fence_advance(ctx):
    r = ctx.r
    res = uniq("pyres")
    assert r.execute_command("FENCE", "ADVANCE", res, 5) == 5
    e = raises(ResponseError, r.execute_command, "FENCE", "ADVANCE", res, 3)
    assert e == "STALE %s token 3 < 5" % res, e
    assert r.execute_command("FENCE", "ADVANCE", res, 5) == 5
    assert r.execute_command("FENCE", "ADVANCE", res, 6) == 6
    assert r.execute_command("FENCE", "GET", res) == [6, None]


def test_fence_set_get(ctx):
    r = ctx.r
    k = uniq("pyfk")
    assert r.execute_command("FENCE", "GET", k) is None
    assert r.execute_command("FENCE", "SET", k, 5, "v1") in (b"OK", True)
    assert r.execute_command("FENCE", "GET", k) == [5, b"v1"]
    assert r.execute_command("FENCE", "SET", k, 5, "v2") in (b"OK", True)
    e = raises(ResponseError, r.execute_command, "FENCE", "SET", k, 4, "v3")
    assert e == "STALE %s token 4 < 5" % k, e
    assert r.execute_command("FENCE", "GET", k) == [5, b"v2"]


def test_fence_lock_option(ctx):
    r = ctx.r
    lk, k = uniq("pyfl"), uniq("pyflk")
    t = lock_cmd(r, "ACQUIRE", lk, "alice", 60000)
    assert r.execute_command("FENCE", "SET", k, t, "a", "LOCK", lk) in (b"OK", True)
    assert r.execute_command("FENCE", "ADVANCE", k, t, "LOCK", lk) == t
    e = raises(ResponseError, r.execute_command, "FENCE", "SET", k, t + 100, "x", "LOCK", lk)
    assert e.startswith("STALE ") and e.endswith("not the holder"), e
    lock_cmd(r, "RELEASE", lk, "alice", t)
    e = raises(ResponseError, r.execute_command, "FENCE", "ADVANCE", k, t, "LOCK", lk)
    assert e.startswith("STALE ") and e.endswith("not the holder"), e


def test_wrongtype(ctx):
    r = ctx.r
    lk = uniq("pywt")
    t = lock_cmd(r, "ACQUIRE", lk, "alice", 60000)
    e = raises(ResponseError, r.execute_command, "FENCE", "ADVANCE", lk, t)
    assert e.startswith("WRONGTYPE"), e
    assert r.ping() is True


# ---------------------------------------------------------------- TOKENBUCKET

def tb(r, *args):
    v = r.execute_command("TOKENBUCKET", *args)
    assert isinstance(v, list) and len(v) == 5 and all(isinstance(x, int) for x in v), v
    return v


def test_bucket(ctx):
    r = ctx.r
    k = uniq("pytb")
    assert tb(r, k, 10, 10, 10000) == [0, 10, 9, -1, 1000]
    k2 = uniq("pytb2")
    for want in (4, 3, 2, 1, 0):
        assert tb(r, k2, 5, 1, 1000000)[:4] == [0, 5, want, -1]
    v = tb(r, k2, 5, 1, 1000000)
    assert v[:3] == [1, 5, 0] and 990000 < v[3] <= 1000000, v
    assert tb(r, k2, 5, 1, 1000000, "COST", 0)[:4] == [0, 5, 0, -1]
    k3 = uniq("pytb3")
    assert tb(r, k3, 10, 1, 1000000, "COST", 3)[:4] == [0, 10, 7, -1]
    assert tb(r, k3, 10, 1, 1000000, "COST", 0)[:4] == [0, 10, 7, -1]
    assert tb(r, k3, 10, 1, 1000000, "COST", 8)[:3] == [1, 10, 7]
    raises(ResponseError, r.execute_command, "TOKENBUCKET", k3, 10, 1, 1000, "COST", 11)


def test_bucket_smooth_refill(ctx):
    r = ctx.r
    k = uniq("pysm")
    assert tb(r, k, 100, 100, 2000, "COST", 100) == [0, 100, 0, -1, 2000]
    t0 = time.monotonic()
    time.sleep(1.0)  # measuring elapsed time, not waiting for a state
    before = time.monotonic() - t0
    v = tb(r, k, 100, 100, 2000, "COST", 0)
    after = time.monotonic() - t0
    lo, hi = int((before - 0.1) * 50) - 3, int(after * 50) + 3
    assert v[:2] == [0, 100] and lo <= v[2] <= hi and 20 < v[2] < 90, (v, lo, hi)


# ---------------------------------------------------------------- IDEMP

def idemp(r, *args):
    return r.execute_command("IDEMP", *args)


def test_idemp_flow(ctx):
    r = ctx.r
    k = uniq("pyik")
    st, t = idemp(r, "BEGIN", k, "fp1", 60000)
    assert st == b"started" and t > 0, (st, t)
    st, ra = idemp(r, "BEGIN", k, "fp1", 60000)
    assert st == b"pending" and 0 < ra <= 30000, (st, ra)
    e = raises(ResponseError, idemp, r, "BEGIN", k, "fp2", 60000)
    assert e.startswith("MISMATCH"), e
    st, ra = idemp(r, "GET", k)
    assert st == b"pending" and 0 < ra <= 30000
    assert idemp(r, "COMPLETE", k, t, "201 created") in (b"OK", True)
    assert idemp(r, "BEGIN", k, "fp1", 60000) == [b"done", b"201 created"]
    assert idemp(r, "GET", k) == [b"done", b"201 created"]
    assert idemp(r, "GET", uniq("none")) is None


def test_idemp_abort(ctx):
    r = ctx.r
    k = uniq("pyab")
    st, t1 = idemp(r, "BEGIN", k, "fp", 60000)
    assert st == b"started"
    assert idemp(r, "ABORT", k, t1) in (b"OK", True)
    assert idemp(r, "GET", k) is None
    st, t2 = idemp(r, "BEGIN", k, "fp", 60000)
    assert st == b"started" and t2 > t1


def test_idemp_takeover(ctx):
    r = ctx.r
    k = uniq("pyto")
    st, t1 = idemp(r, "BEGIN", k, "fp", 60000, "LEASE", 300)
    assert st == b"started"

    def try_begin():
        st, v = idemp(r, "BEGIN", k, "fp", 60000, "LEASE", 300)
        return v if st == b"started" else None

    t2 = wait_until(5, "take-over after a 300 ms lease", try_begin)
    assert t2 > t1
    e = raises(ResponseError, idemp, r, "COMPLETE", k, t1, "old")
    assert e.startswith("STALE"), e
    assert idemp(r, "COMPLETE", k, t2, "new") in (b"OK", True)
    assert idemp(r, "BEGIN", k, "fp", 60000) == [b"done", b"new"]


def servers():
    return {"main": Server().start(), "auth": Server(password="s3cret").start()}


TESTS = [v for k, v in list(globals().items()) if k.startswith("test_") and callable(v)]

if __name__ == "__main__":
    sys.exit(main(TESTS, servers))
