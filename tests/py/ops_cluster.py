"""Helpers for tests/py/test_operations.py: a 3-node fencepost cluster on loopback with
--metrics-addr on every node, plain HTTP GETs, a tally that knows SKIP, and a registry
of every process the suite starts so that all of them die on any exit."""

import atexit
import http.client
import os
import shutil
import signal
import subprocess
import tempfile
import time
import traceback

import redis

from harness import bin_path, free_ports, indent, pairs, text, wait_until

SECRET = "fencepost-py-operations-secret"
ELECTION_TIMEOUT_MS = 200  # the server's default; /readyz allows two of them

# Every process the suite starts, killed at exit even when a test blows up.
_PROCS = []


def track(proc):
    _PROCS.append(proc)
    return proc


def kill_proc(proc, sig=signal.SIGKILL):
    if proc is not None and proc.poll() is None:
        try:
            proc.send_signal(sig)
            proc.wait(timeout=10)
        except Exception:  # noqa: BLE001 - last resort below
            try:
                proc.kill()
                proc.wait(timeout=5)
            except Exception:  # noqa: BLE001
                pass


@atexit.register
def kill_all():
    for p in _PROCS:
        kill_proc(p)


class Skip(Exception):
    """Raised by a test that cannot run here; the message says exactly why."""


class OpsTally:
    """harness.Tally plus SKIP: one PASS/FAIL/SKIP line per test with its time, then
    `N passed, N failed[, N skipped]`."""

    def __init__(self):
        self.passed = 0
        self.failures = []
        self.skipped = []

    def run(self, name, fn):
        t0 = time.monotonic()
        try:
            fn()
            self.passed += 1
            print("PASS %s (%.2fs)" % (name, time.monotonic() - t0), flush=True)
        except Skip as e:
            self.skipped.append(name)
            print("SKIP %s (%.2fs) -- %s" % (name, time.monotonic() - t0, e), flush=True)
        except Exception:  # noqa: BLE001 - report every failure
            self.failures.append(name)
            print("FAIL %s (%.2fs)\n%s" % (name, time.monotonic() - t0, indent(traceback.format_exc())),
                  flush=True)

    def fail(self, name, detail):
        self.failures.append(name)
        print("FAIL %s\n%s" % (name, indent(detail)), flush=True)

    def finish(self):
        if self.failures:
            print("\nfailures:")
            for name in self.failures:
                print("  %s" % name)
        line = "%d passed, %d failed" % (self.passed, len(self.failures))
        if self.skipped:
            line += ", %d skipped" % len(self.skipped)
        print(line, flush=True)
        return 1 if self.failures else 0


def note(msg):
    print("     note: %s" % msg, flush=True)


def http_get(host, port, path, timeout=3.0):
    """(status, content-type, body as str) of GET path."""
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.getheader("content-type") or "", r.read().decode("utf-8", "replace")
    finally:
        c.close()


class Node:
    """One fencepost process on loopback with HTTP on its own port."""

    def __init__(self, dir, node_id, port, raft_port, http_port, extra=()):
        self.dir = dir
        self.id = node_id
        self.port = port
        self.raft_port = raft_port
        self.http_port = http_port
        self.extra = list(extra)
        self.log_path = os.path.join(dir, "node%d.log" % node_id)
        self.proc = None

    def start(self):
        args = [bin_path(), "--node-id", str(self.id), "--port", str(self.port),
                "--raft-port", str(self.raft_port), "--data-dir", os.path.join(self.dir, "data%d" % self.id),
                "--metrics-addr", "127.0.0.1:%d" % self.http_port, "--worker-threads", "1"] + self.extra
        log = open(self.log_path, "ab")
        self.proc = track(subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log))
        log.close()
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def client(self, **kw):
        kw.setdefault("socket_timeout", 30)
        kw.setdefault("socket_connect_timeout", 5)
        return redis.Redis(host="127.0.0.1", port=self.port, **kw)

    def raft_info(self):
        try:
            r = self.client(socket_timeout=2)
            try:
                return {k: text(v) if isinstance(v, bytes) else v
                        for k, v in pairs(r.execute_command("RAFT", "INFO")).items()}
            finally:
                r.close()
        except Exception:  # noqa: BLE001 - not up, or an election
            return None

    def role(self):
        info = self.raft_info()
        return info.get("role") if info else None

    def get(self, path, timeout=3.0):
        return http_get("127.0.0.1", self.http_port, path, timeout)

    def metrics_url(self):
        return "http://127.0.0.1:%d/" % self.http_port

    def log_tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-n:])
        except OSError:
            return ""

    def kill(self, sig=signal.SIGKILL):
        kill_proc(self.proc, sig)


class Cluster:
    """Three nodes on free loopback ports, formed with --initial-cluster."""

    def __init__(self, prefix="fencepost-ops-", extra=()):
        self.dir = tempfile.mkdtemp(prefix=prefix)
        ports = free_ports(9)
        members = ",".join("%d=127.0.0.1:%d/127.0.0.1:%d" % (i + 1, ports[3 * i], ports[3 * i + 1])
                           for i in range(3))
        self.nodes = [Node(self.dir, i + 1, ports[3 * i], ports[3 * i + 1], ports[3 * i + 2],
                           ["--initial-cluster", members, "--cluster-secret", SECRET] + list(extra))
                      for i in range(3)]
        try:
            for n in self.nodes:
                n.start()
            wait_until(30, "a leader that every node knows", self.settled, interval=0.1)
        except Exception:
            tails = "\n".join("--- node %d ---\n%s" % (n.id, n.log_tail(15)) for n in self.nodes)
            self.stop()
            raise AssertionError("the cluster did not form:\n%s" % tails)

    def settled(self):
        """The leader if every live node names the same one, else None."""
        ids = set()
        for n in self.nodes:
            if not n.alive():
                continue
            info = n.raft_info()
            if not info or not info.get("leader-id"):
                return None
            ids.add(str(info["leader-id"]))
        if len(ids) != 1:
            return None
        lid = int(ids.pop())
        lead = self.node(lid)
        return lead if lead.alive() and lead.role() == "leader" else None

    def node(self, node_id):
        return next(n for n in self.nodes if n.id == node_id)

    def leader(self):
        return wait_until(15, "a settled leader", self.settled, interval=0.05)

    def followers(self):
        lead = self.leader()
        return [n for n in self.nodes if n is not lead and n.alive()]

    def dead(self):
        return [n for n in self.nodes if n.proc is not None and n.proc.poll() is not None]

    def stop(self):
        for n in self.nodes:
            n.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def raft_leader_id(info):
    v = info.get("leader-id") if info else None
    return int(v) if v not in (None, "", b"") else None
