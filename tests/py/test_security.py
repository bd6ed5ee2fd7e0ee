#!/usr/bin/env python3
"""Client TLS and ACL users with real clients (SPEC "Client TLS", "ACL users").

A 3-node TLS-only cluster (`--port 0`, client certificates required) is driven through
a follower by redis-cli --tls, redis-py (ssl=True) and ioredis; handshakes without a
client certificate or with one of another CA are refused; TLS 1.2 and 1.3 both work; a
fourth node joins over TLS; a single node shows certificate rotation on SIGHUP (new
connections see the new certificate, open ones keep working, a broken file changes
nothing) and `--tls-auth-clients optional`; redis-py's Lock runs as a user limited to
`~locks:*` over TLS. Certificates come from the openssl command line (tests/py/pki.py).

Run: FENCEPOST_BIN=target/debug/fencepost python3 tests/py/test_security.py
Prints one line per test and `N passed, N failed`; exits non-zero on failure."""

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import redis  # noqa: E402
from redis.exceptions import ConnectionError, ResponseError  # noqa: E402

from harness import Tally, bin_path, free_ports, pairs, selected, text, uniq, wait_until  # noqa: E402
from pki import Ca  # noqa: E402

SECRET = "fencepost-py-security-secret"
READY = 20.0
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Node:
    """One TLS-only fencepost process."""

    def __init__(self, dir, node_id, tls_port, raft_port, cert, key, ca, extra=()):
        self.dir = dir
        self.id = node_id
        self.tls_port = tls_port
        self.raft_port = raft_port
        self.cert, self.key, self.ca = cert, key, ca
        self.extra = list(extra)
        self.log_path = os.path.join(dir, "node%d.log" % node_id)
        self.proc = None

    def start(self):
        args = [bin_path(), "--node-id", str(self.id), "--port", "0", "--tls-port", str(self.tls_port),
                "--raft-port", str(self.raft_port), "--data-dir", os.path.join(self.dir, "data%d" % self.id),
                "--tls-cert-file", self.cert, "--tls-key-file", self.key, "--tls-ca-cert-file", self.ca,
                "--worker-threads", "1"] + self.extra
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        return self

    def addr(self):
        return "127.0.0.1:%d" % self.tls_port

    def client(self, cert=None, key=None, ca=None, **kw):
        """redis-py over TLS; `cert=False` sends no client certificate."""
        if cert is None:
            cert, key = self.cert, self.key
        kw.setdefault("socket_timeout", 10)
        kw.setdefault("socket_connect_timeout", 5)
        return redis.Redis(host="127.0.0.1", port=self.tls_port, ssl=True, ssl_ca_certs=ca or self.ca,
                           ssl_certfile=cert or None, ssl_keyfile=key or None, **kw)

    def role(self):
        try:
            r = self.client()
            try:
                return text(pairs(r.execute_command("RAFT", "INFO")).get("role"))
            finally:
                r.close()
        except Exception:  # noqa: BLE001 - not up yet
            return None

    def log_tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-n:])
        except OSError:
            return ""

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


class World:
    """The PKI, a 3-node TLS-only cluster and the processes started by tests."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="fencepost-sec-")
        self.ca = Ca(self.dir, "cluster")
        self.rogue = Ca(self.dir, "rogue")
        self.client_cert, self.client_key = self.ca.issue("client")
        self.rogue_cert, self.rogue_key = self.rogue.issue("rogue-client")
        ports = free_ports(6)
        self.nodes = []
        members = ",".join("%d=127.0.0.1:%d/127.0.0.1:%d" % (i + 1, ports[2 * i], ports[2 * i + 1])
                           for i in range(3))
        for i in range(3):
            cert, key = self.ca.issue("node%d" % (i + 1))
            n = Node(self.dir, i + 1, ports[2 * i], ports[2 * i + 1], cert, key, self.ca.cert,
                     ["--initial-cluster", members, "--cluster-secret", SECRET])
            self.nodes.append(n.start())
        self.extra = []
        wait_until(READY, "a leader over TLS", lambda: self.leader())

    def leader(self):
        for n in self.nodes:
            if n.proc.poll() is None and n.role() == "leader":
                return n
        return None

    def follower(self):
        lead = self.leader()
        return next(n for n in self.nodes if n is not lead and n.proc.poll() is None)

    def stop(self):
        for n in self.nodes + self.extra:
            n.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def handshake_refused(node, **kw):
    """A PING over TLS with these client settings fails at the handshake."""
    r = node.client(**kw)
    try:
        r.ping()
    except (ConnectionError, ssl.SSLError, OSError) as e:
        return str(e)
    finally:
        r.close()
    raise AssertionError("the server accepted the handshake with %r" % (kw,))


def test_redis_py_through_a_follower(w):
    f = w.follower()
    r = f.client(cert=w.client_cert, key=w.client_key)
    name = uniq("tls-lock")
    token = r.execute_command("LOCK", "ACQUIRE", name, "w1", "10000")
    assert isinstance(token, int) and token > 0, token
    assert r.execute_command("FENCE", "SET", name + ":db", token, "v", "LOCK", name) in (b"OK", "OK", True)
    assert r.execute_command("LOCK", "RELEASE", name, "w1", token) == 1
    # RESP3 over TLS too.
    r3 = f.client(cert=w.client_cert, key=w.client_key, protocol=3)
    assert r3.execute_command("LOCK", "INFO", name) is None


def test_redis_cli_tls_through_a_follower(w):
    f = w.follower()
    name = uniq("cli-lock")
    out = subprocess.run(
        ["redis-cli", "--tls", "--cacert", w.ca.cert, "--cert", w.client_cert, "--key", w.client_key,
         "-h", "127.0.0.1", "-p", str(f.tls_port), "LOCK", "ACQUIRE", name, "w1", "10000"],
        capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.strip().isdigit(), (out.stdout, out.stderr)
    # Without a client certificate redis-cli cannot even connect.
    out = subprocess.run(
        ["redis-cli", "--tls", "--cacert", w.ca.cert, "-h", "127.0.0.1", "-p", str(f.tls_port), "PING"],
        capture_output=True, text=True, timeout=30)
    assert "PONG" not in out.stdout, out.stdout


def test_ioredis_over_tls(w):
    f = w.follower()
    script = os.path.join(ROOT, "tests", "js", "test_tls.mjs")
    env = dict(os.environ, FENCEPOST_TLS_ADDR=f.addr(), FENCEPOST_TLS_CA=w.ca.cert,
               FENCEPOST_TLS_CERT=w.client_cert, FENCEPOST_TLS_KEY=w.client_key)
    out = subprocess.run(["node", script], capture_output=True, text=True, timeout=60, env=env,
                         cwd=os.path.join(ROOT, "tests", "js"))
    assert out.returncode == 0 and "1 passed, 0 failed" in out.stdout, (out.stdout, out.stderr)


def test_handshakes_refused_without_or_with_a_foreign_certificate(w):
    f = w.follower()
    handshake_refused(f, cert=False, key=False)
    handshake_refused(f, cert=w.rogue_cert, key=w.rogue_key)
    # The client side refuses a server it cannot verify, too.
    handshake_refused(f, cert=w.client_cert, key=w.client_key, ca=w.rogue.cert)


def test_tls_12_and_13(w):
    f = w.follower()
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = ssl.create_default_context(cafile=w.ca.cert)
        ctx.minimum_version = version
        ctx.maximum_version = version
        ctx.load_cert_chain(w.client_cert, w.client_key)
        with socket.create_connection(("127.0.0.1", f.tls_port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                assert s.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
                s.sendall(b"*1\r\n$4\r\nPING\r\n")
                assert s.recv(64) == b"+PONG\r\n"


def test_a_node_joins_a_tls_only_cluster(w):
    cert, key = w.ca.issue("node4")
    tls_port, raft_port = free_ports(2)
    n = Node(w.dir, 4, tls_port, raft_port, cert, key, w.ca.cert,
             ["--join", w.follower().addr(), "--cluster-secret", SECRET]).start()
    w.extra.append(n)

    def voters():
        try:
            r = w.leader().client()
            try:
                return [int(x) for x in pairs(r.execute_command("RAFT", "INFO"))["voters"]]
            finally:
                r.close()
        except Exception:  # noqa: BLE001 - an election may be under way
            return None

    wait_until(60, "node 4 is a voter", lambda: 4 in (voters() or []) or None)
    name = uniq("via-4")
    assert n.client().execute_command("LOCK", "ACQUIRE", name, "w", "5000") > 0
    # Leave the cluster as it was for the tests after this one.
    w.leader().client().execute_command("RAFT", "REMOVE", "4")
    n.kill()


def single(w, extra=()):
    """A single TLS-only node with its own certificate files (for rotation)."""
    d = tempfile.mkdtemp(dir=w.dir)
    cert, key = w.ca.issue("single", into=os.path.join(d, "server"))
    tls_port, raft_port = free_ports(2)
    n = Node(d, 1, tls_port, raft_port, cert, key, w.ca.cert, list(extra)).start()
    w.extra.append(n)
    wait_until(READY, "the single node leads", lambda: n.role() == "leader" or None)
    return n


def peer_serial(n, w):
    """A raw TLS connection to `n` and the serial of the certificate it presented."""
    ctx = ssl.create_default_context(cafile=n.ca)
    ctx.load_cert_chain(w.client_cert, w.client_key)
    raw = socket.create_connection(("127.0.0.1", n.tls_port), timeout=5)
    s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    return s, s.getpeercert()["serialNumber"]


def test_certificate_rotation_on_sighup(w):
    n = single(w)
    old_conn, old_serial = peer_serial(n, w)
    # Replace the files with a new certificate, then SIGHUP.
    w.ca.issue("single", into=n.cert[: -len(".crt")])
    n.proc.send_signal(signal.SIGHUP)
    wait_until(10, "the reload is logged", lambda: "client TLS material reloaded" in n.log_tail(50) or None)
    new_conn, new_serial = peer_serial(n, w)
    assert new_serial != old_serial, (old_serial, new_serial)
    # The connection opened before the reload keeps working.
    old_conn.sendall(b"*1\r\n$4\r\nPING\r\n")
    assert old_conn.recv(64) == b"+PONG\r\n"
    # A file that does not parse leaves the material in force, and the log says why.
    with open(n.cert, "w") as f:
        f.write("not a certificate\n")
    n.proc.send_signal(signal.SIGHUP)
    wait_until(10, "the failed reload is logged", lambda: "client TLS reload failed" in n.log_tail(50) or None)
    still_conn, still_serial = peer_serial(n, w)
    assert still_serial == new_serial
    for s in (old_conn, new_conn, still_conn):
        s.close()


def test_tls_auth_clients_optional(w):
    n = single(w, ["--tls-auth-clients", "optional"])
    r = n.client(cert=False, key=False)
    assert r.ping()
    handshake_refused(n, cert=w.rogue_cert, key=w.rogue_key)


def test_redis_py_lock_as_a_user_limited_to_locks(w):
    f = w.follower()
    admin = f.client()
    admin.execute_command("ACL", "SETUSER", "locker", "on", ">locker-pw", "~locks:*",
                          "-@all", "+set", "+get", "+pttl", "+pexpire", "+del", "+evalsha", "+eval", "+script|load", "+ping")
    r = f.client(username="locker", password="locker-pw")
    lock = r.lock("locks:" + uniq("job"), timeout=5, blocking_timeout=2)
    assert lock.acquire()
    assert lock.owned()
    assert lock.extend(5)
    lock.release()
    assert not lock.locked()
    other = r.lock("payments:" + uniq("job"), timeout=5, blocking_timeout=0.2)
    try:
        other.acquire()
        raise AssertionError("a lock outside ~locks:* was taken")
    except ResponseError as e:
        assert str(e) == "No permissions to access a key", e
    try:
        r.execute_command("RAFT", "REMOVE", "3")
        raise AssertionError("RAFT REMOVE ran for a user without @raft")
    except ResponseError as e:
        assert str(e) == "User locker has no permissions to run the 'raft|remove' command", e


def main():
    try:
        w = World()
    except Exception as e:  # noqa: BLE001
        print("harness error: %s" % e)
        print("0 passed, 1 failed")
        return 1
    tally = Tally()
    tests = [test_redis_py_through_a_follower, test_redis_cli_tls_through_a_follower, test_ioredis_over_tls,
             test_handshakes_refused_without_or_with_a_foreign_certificate, test_tls_12_and_13,
             test_redis_py_lock_as_a_user_limited_to_locks, test_certificate_rotation_on_sighup,
             test_tls_auth_clients_optional, test_a_node_joins_a_tls_only_cluster]
    try:
        for t in selected(tests):
            tally.run(t.__name__, lambda: t(w))
        for n in w.nodes:
            if n.proc.poll() is not None:
                tally.fail("node %d died (exit %s)" % (n.id, n.proc.returncode), n.log_tail())
    finally:
        w.stop()
    return tally.finish()


if __name__ == "__main__":
    sys.exit(main())
