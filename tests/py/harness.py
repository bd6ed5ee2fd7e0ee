"""Harness for fencepost's redis-py suite: starts `fencepost` processes on free ports
with a throw-away data dir, runs each test under RESP2 and RESP3, prints one line per
test and a final `N passed, N failed` line; the exit status is non-zero on failure.

No pytest: plain python3 + redis-py (scripts/install-test-deps.sh installs it).
Rules as in the Rust suites: no fixed ports, poll for states with a deadline.
"""

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
READY_TIMEOUT = 15.0


def bin_path():
    return os.environ.get("FENCEPOST_BIN") or os.path.join(ROOT, "target", "debug", "fencepost")


def free_ports(n=2):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def uniq(prefix):
    return "%s-%08x" % (prefix, random.getrandbits(32))


def wait_until(timeout, what, fn, interval=0.02):
    """Polls fn() until it returns a truthy value (returned), else raises."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for: %s" % (timeout, what))
        time.sleep(interval)


class Server:
    """One fencepost process. Use as a context manager; stop() kills it."""

    def __init__(self, password=None, extra=()):
        self.password = password
        self.extra = list(extra)
        self.dir = tempfile.mkdtemp(prefix="fencepost-py-")
        self.log_path = os.path.join(self.dir, "fencepost.log")
        self.proc = None
        self.port = None
        self.raft_port = None

    def start(self):
        b = bin_path()
        if not os.path.exists(b):
            raise RuntimeError("fencepost binary not found at %s (set FENCEPOST_BIN)" % b)
        last = None
        for _ in range(3):
            self.port, self.raft_port = free_ports(2)
            args = [b, "--port", str(self.port), "--raft-port", str(self.raft_port),
                    "--data-dir", os.path.join(self.dir, "data")]
            if self.password:
                args += ["--requirepass", self.password]
            args += self.extra
            log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            log.close()
            try:
                self._wait_ready()
                return self
            except Exception as e:  # noqa: BLE001 - report the log below
                last = e
                self.kill()
                if "in use" not in self.log_tail(20).lower():
                    break
        raise RuntimeError("fencepost did not start: %s\n--- log tail ---\n%s" % (last, self.log_tail(60)))

    def _wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT
        last = "no attempt"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited during startup with %s" % self.proc.returncode)
            try:
                r = redis.Redis(host="127.0.0.1", port=self.port, password=self.password,
                                socket_timeout=2, socket_connect_timeout=2)
                try:
                    if r.ping():
                        info = r.execute_command("RAFT", "INFO")
                        fields = pairs(info)
                        if fields.get("role") in (b"leader", "leader"):
                            return
                        last = "RAFT INFO %r" % (info,)
                finally:
                    r.close()
            except Exception as e:  # noqa: BLE001 - keep polling
                last = repr(e)
            time.sleep(0.05)
        raise RuntimeError("not ready after %ss: %s" % (READY_TIMEOUT, last))

    def client(self, protocol=2, **kw):
        kw.setdefault("socket_timeout", 30)
        if self.password and "password" not in kw:
            kw["password"] = self.password
        return redis.Redis(host="127.0.0.1", port=self.port, protocol=protocol, **kw)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def log_tail(self, n):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return ""

    def stop(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def text(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v


def pairs(v):
    """A RESP3 map (dict) or a RESP2 flat array as a dict with str keys, in order."""
    if isinstance(v, dict):
        return {text(k): val for k, val in v.items()}
    if isinstance(v, (list, tuple)) and len(v) % 2 == 0:
        return {text(v[i]): v[i + 1] for i in range(0, len(v), 2)}
    raise AssertionError("want a map or a flat key/value array, got %r" % (v,))


def raises(exc_type, fn, *args):
    """Calls fn(*args), which must raise exc_type; returns the exception's text."""
    try:
        got = fn(*args)
    except exc_type as e:
        return str(e)
    raise AssertionError("expected %s, got reply %r" % (exc_type.__name__, got))


class Tally:
    """Runs test cases one at a time, prints PASS/FAIL with timings, and ends with the
    `N passed, N failed` line CI reads."""

    def __init__(self):
        self.passed = 0
        self.failures = []

    def run(self, name, fn):
        t0 = time.monotonic()
        try:
            fn()
            self.passed += 1
            print("PASS %s (%.2fs)" % (name, time.monotonic() - t0), flush=True)
        except Exception:  # noqa: BLE001 - report every failure
            tb = traceback.format_exc()
            self.failures.append(name)
            print("FAIL %s (%.2fs)\n%s" % (name, time.monotonic() - t0, indent(tb)), flush=True)

    def fail(self, name, detail):
        self.failures.append(name)
        print("%s\n%s" % (name, detail))

    def finish(self):
        if self.failures:
            print("\nfailures:")
            for name in self.failures:
                print("  %s" % name)
        print("%d passed, %d failed" % (self.passed, len(self.failures)))
        return 1 if self.failures else 0


def start_or_report(factory):
    """Starts the servers a suite needs; on failure prints why and a failing tally."""
    try:
        return factory()
    except Exception as e:  # noqa: BLE001
        print("harness error: %s" % e)
        print("0 passed, 1 failed")
        return None


def selected(tests):
    """The tests to run: those whose name contains $PY_TESTS_ONLY, or all."""
    only = os.environ.get("PY_TESTS_ONLY")
    return [t for t in tests if not only or only in t.__name__]


def main(tests, servers_factory):
    """Runs every test under RESP2 and RESP3. `tests` is a list of functions
    f(ctx) where ctx has .r (client), .proto, .srv, .auth_srv."""
    servers = start_or_report(servers_factory)
    if servers is None:
        return 1
    tally = Tally()
    try:
        for t in selected(tests):
            for proto in (2, 3):
                ctx = Ctx(servers, proto)
                try:
                    tally.run("%s[resp%d]" % (t.__name__, proto), lambda: t(ctx))
                finally:
                    ctx.close()
            for s in servers.values():
                if s.proc.poll() is not None:
                    tally.fail("server died (exit %s)" % s.proc.returncode, s.log_tail(40))
                    raise SystemExit(tally.finish())
    finally:
        for s in servers.values():
            s.stop()
    return tally.finish()


def indent(s):
    return "\n".join("    " + l for l in s.splitlines())


class Ctx:
    def __init__(self, servers, proto):
        self.servers = servers
        self.srv = servers["main"]
        self.proto = proto
        self._clients = []
        self.r = self.client()

    def client(self, srv=None, **kw):
        c = (srv or self.srv).client(protocol=self.proto, **kw)
        self._clients.append(c)
        return c

    def close(self):
        for c in self._clients:
            try:
                c.close()
            except Exception:  # noqa: BLE001
                pass


if __name__ == "__main__":
    sys.exit("run test_fencepost.py")
