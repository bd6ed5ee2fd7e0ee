#!/usr/bin/env python3
"""fencepost as a Redis Cluster for redis-py's RedisCluster (SPEC.md "Cluster": one
shard owning slots 0-16383 with the leader as master). Starts a 3-node cluster from
FENCEPOST_BIN on free ports, routes LOCK/FENCE/IDEMP/TOKENBUCKET by key, then kills
the leader with SIGKILL and requires the client to recover on its own (MOVED /
topology refresh) with plain retries on ClusterDownError / ConnectionError.

Run: FENCEPOST_BIN=target/debug/fencepost python3 tests/py/test_cluster.py
Prints one line per test and `N passed, N failed`; exits non-zero on failure."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import redis  # noqa: E402
from redis.cluster import ClusterNode, RedisCluster  # noqa: E402
from redis.exceptions import (  # noqa: E402
    ClusterDownError,
    ClusterError,
    ConnectionError,
    RedisClusterException,
    ResponseError,
    TimeoutError,
)

from harness import Tally, bin_path, free_ports, pairs, selected, start_or_report, text, uniq, wait_until  # noqa: E402

SECRET = "fencepost-py-cluster-secret"
READY = 15.0
FAILOVER_DEADLINE = 30.0


class Node:
    """One cluster member process."""

    def __init__(self, node_id, port, raft_port, initial, base):
        self.node_id = node_id
        self.port = port
        self.raft_port = raft_port
        self.initial = initial
        self.dir = os.path.join(base, "n%d" % node_id)
        os.makedirs(self.dir, exist_ok=True)
        self.log_path = os.path.join(self.dir, "fencepost.log")
        self.proc = None

    def start(self):
        args = [bin_path(), "--node-id", str(self.node_id), "--port", str(self.port),
                "--raft-port", str(self.raft_port), "--data-dir", os.path.join(self.dir, "data"),
                "--initial-cluster", self.initial, "--cluster-secret", SECRET]
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()

    def client(self, **kw):
        kw.setdefault("socket_timeout", 5)
        kw.setdefault("socket_connect_timeout", 2)
        return redis.Redis(host="127.0.0.1", port=self.port, **kw)

    def raft_info(self):
        c = self.client()
        try:
            return pairs(c.execute_command("RAFT", "INFO"))
        except Exception:  # noqa: BLE001 - not up (yet), or gone
            return None
        finally:
            c.close()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def log_tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-n:])
        except OSError:
            return ""


class Cluster:
    """Three nodes started with one --initial-cluster list."""

    def __init__(self, size=3):
        self.base = tempfile.mkdtemp(prefix="fencepost-pycluster-")
        self.nodes = {}
        last = None
        for _ in range(3):
            ports = free_ports(2 * size)
            initial = ",".join("%d=127.0.0.1:%d/127.0.0.1:%d" % (i + 1, ports[2 * i], ports[2 * i + 1])
                               for i in range(size))
            self.nodes = {i + 1: Node(i + 1, ports[2 * i], ports[2 * i + 1], initial, self.base)
                          for i in range(size)}
            for n in self.nodes.values():
                shutil.rmtree(os.path.join(n.dir, "data"), ignore_errors=True)
                n.start()
            try:
                self.leader()
                return
            except AssertionError as e:
                last = e
                tails = " ".join(n.log_tail(20) for n in self.nodes.values()).lower()
                self.kill_all()
                if "in use" not in tails:
                    break
        raise RuntimeError("cluster did not start: %s\n%s" % (last, self.logs()))

    def leader(self, ids=None, timeout=READY):
        """The leader every live node in `ids` names, and which says it leads."""
        ids = ids or [i for i, n in self.nodes.items() if n.alive()]

        def agreed():
            seen = set()
            for i in ids:
                info = self.nodes[i].raft_info()
                if info is None or info.get("leader-id") is None:
                    return None
                seen.add(info["leader-id"])
            if len(seen) != 1:
                return None
            lid = seen.pop()
            info = self.nodes[lid].raft_info() if lid in self.nodes else None
            return lid if info and text(info["role"]) == "leader" else None

        return wait_until(timeout, "nodes %s to agree on a leader" % ids, agreed)

    def startup_nodes(self):
        return [ClusterNode("127.0.0.1", n.port) for n in self.nodes.values()]

    def logs(self):
        return "\n".join("--- node %d ---\n%s" % (i, n.log_tail()) for i, n in self.nodes.items())

    def kill_all(self):
        for n in self.nodes.values():
            n.kill()

    def stop(self):
        self.kill_all()
        shutil.rmtree(self.base, ignore_errors=True)


def cluster_client(c, protocol=2):
    return RedisCluster(startup_nodes=c.startup_nodes(), protocol=protocol,
                        socket_timeout=15, socket_connect_timeout=2)


def lock_info(rc, name):
    v = rc.execute_command("LOCK", "INFO", name)
    if v is None:
        return None
    p = pairs(v)
    return text(p["owner"]), p["token"]


def primary_port(rc):
    prim = rc.get_primaries()
    assert len(prim) == 1, "one primary (the leader), got %r" % (prim,)
    return prim[0].port


# ---------------------------------------------------------------- tests

def routing(c, protocol):
    """Key-routed commands through RedisCluster reach the leader and work."""
    rc = cluster_client(c, protocol)
    try:
        leader = c.leader()
        assert primary_port(rc) == c.nodes[leader].port, "primary is the leader"
        replicas = sorted(n.port for n in rc.get_replicas())
        want = sorted(n.port for i, n in c.nodes.items() if i != leader)
        assert replicas == want, (replicas, want)
        name, res, key, bucket = uniq("pyc-lock"), uniq("pyc-res"), uniq("pyc-idem"), uniq("pyc-tb")
        t = rc.execute_command("LOCK", "ACQUIRE", name, "alice", 60000)
        assert isinstance(t, int) and t > 0, t
        assert rc.execute_command("LOCK", "ACQUIRE", name, "bob", 60000) is None
        assert lock_info(rc, name) == ("alice", t)
        assert rc.execute_command("FENCE", "ADVANCE", res, t) == t
        assert rc.execute_command("FENCE", "SET", res, t, "v") in (b"OK", "OK", True)
        assert rc.execute_command("FENCE", "GET", res) == [t, b"v"]
        v = rc.execute_command("IDEMP", "BEGIN", key, "fp", 60000)
        assert text(v[0]) == "started" and v[1] > t, v
        assert rc.execute_command("IDEMP", "COMPLETE", key, v[1], "resp") in (b"OK", "OK", True)
        assert rc.execute_command("IDEMP", "GET", key) == [b"done", b"resp"]
        tb = rc.execute_command("TOKENBUCKET", bucket, 10, 1, 1000)
        assert tb[:4] == [0, 10, 9, -1], tb
        assert rc.execute_command("LOCK", "RELEASE", name, "alice", t) == 1
        # Every node routes the same way: ask each one directly for the slot map.
        for n in c.nodes.values():
            r = n.client(protocol=protocol)
            try:
                slots = r.execute_command("CLUSTER", "SLOTS")
            finally:
                r.close()
            # One range; its master entry is the leader.
            assert len(slots) == 1 and slots[0][:2] == [0, 16383], slots
            assert slots[0][2][1] == c.nodes[leader].port, slots
    finally:
        rc.close()


def test_routing_resp2(c):
    routing(c, 2)


def test_routing_resp3(c):
    routing(c, 3)


def test_failover(_shared):
    """kill -9 the leader: with plain retries, RedisCluster finds the new leader."""
    c = Cluster()
    rc = None
    try:
        rc = cluster_client(c)
        old = c.leader()
        name, res = uniq("pyc-held"), uniq("pyc-fence")
        t = rc.execute_command("LOCK", "ACQUIRE", name, "keeper", 600000)
        assert rc.execute_command("FENCE", "ADVANCE", res, t) == t
        assert primary_port(rc) == c.nodes[old].port

        c.nodes[old].kill()
        killed = time.monotonic()
        errors = {}
        deadline = killed + FAILOVER_DEADLINE
        while True:
            try:
                # Idempotent: an equal token is accepted again, so retrying is safe.
                got = rc.execute_command("FENCE", "ADVANCE", res, t + 1)
                break
            except (ClusterDownError, ConnectionError, TimeoutError, ClusterError,
                    RedisClusterException) as e:
                errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
            except ResponseError as e:
                # -UNCERTAIN: the same idempotent ADVANCE may be sent again.
                if not str(e).startswith(("UNCERTAIN", "CLUSTERDOWN")):
                    raise
                errors[str(e).split()[0]] = errors.get(str(e).split()[0], 0) + 1
            if time.monotonic() >= deadline:
                raise AssertionError("no success within %ss of killing the leader; errors %r\n%s"
                                     % (FAILOVER_DEADLINE, errors, c.logs()))
            time.sleep(0.05)
        took = time.monotonic() - killed
        assert got == t + 1, got
        new = c.leader()
        assert new != old, "a new leader"
        print("    failover through RedisCluster: %.2fs, errors on the way %r" % (took, errors))
        # Asked afresh, every live node names the new leader as master. (The client's
        # cached primary may still be a follower that it learned during the election;
        # in proxy mode that follower forwards, so it keeps working either way.)
        for i, n in c.nodes.items():
            if not n.alive():
                continue
            r = n.client()
            try:
                slots = r.execute_command("CLUSTER", "SLOTS")
            finally:
                r.close()
            assert slots[0][2][1] == c.nodes[new].port, "node %d: %r" % (i, slots)
        cached = primary_port(rc)
        print("    client's primary after failover: port %d (leader %d)" % (cached, c.nodes[new].port))
        # State survived, new grants continue the sequence, the client keeps working.
        assert lock_info(rc, name) == ("keeper", t)
        assert rc.execute_command("FENCE", "GET", res) == [t + 1, None]
        t2 = rc.execute_command("LOCK", "ACQUIRE", uniq("pyc-after"), "o", 60000)
        assert t2 > t, (t, t2)
        try:
            rc.execute_command("FENCE", "ADVANCE", res, t)
            raise AssertionError("an older token must be refused")
        except ResponseError as e:
            assert str(e).startswith("STALE"), str(e)
    finally:
        if rc is not None:
            rc.close()
        c.stop()


def main():
    tests = [test_routing_resp2, test_routing_resp3, test_failover]
    shared = start_or_report(Cluster)
    if shared is None:
        return 1
    tally = Tally()
    try:
        for t in selected(tests):
            tally.run(t.__name__, lambda: t(shared))
        for i, n in shared.nodes.items():
            if not n.alive():
                tally.fail("node %d died" % i, "exit %s\n%s" % (n.proc.returncode, n.log_tail(40)))
    finally:
        shared.stop()
    return tally.finish()


if __name__ == "__main__":
    sys.exit(main())
