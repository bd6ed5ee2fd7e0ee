"""Network namespaces for tests/py/test_operations.py's /readyz partition test, after
jepsen/src/net/ns.rs and nft.rs: a bridge namespace `fpops-br` holding `br0`, and one
namespace per node (`fpops-n1`..) whose `eth0` is a veth into the bridge, with an
address in 10.78.0.0/24 that exists only inside these namespaces. The veth pairs are
made inside the bridge namespace, no route leads out, and the root namespace is never
touched. A node is cut off by an nftables table `fpops` in its own namespace that drops
everything in and out of `eth0` (its loopback, where the test's probe comes from,
stays open).

`Netns.create()` refuses to start when a namespace of these names already exists (a
run in progress, or one that died without cleaning up: `ip netns del fpops-...`)."""

import os
import subprocess
import sys
import threading
import time

from ops_cluster import kill_proc, track

PREFIX = "fpops-"
BRIDGE = PREFIX + "br"
HTTP_PORT = 9736
RESP_PORT = 6379
RAFT_PORT = 16379


def node_ns(i):
    return "%sn%d" % (PREFIX, i)


def node_ip(i):
    return "10.78.0.%d" % (10 + i)


def sh(*args, input=None, check=True, timeout=20):
    p = subprocess.run(list(args), input=input, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError("`%s` exited %d: %s" % (" ".join(args), p.returncode, (p.stderr or p.stdout).strip()))
    return p.stdout


def in_ns(ns, *args, **kw):
    return sh("ip", "netns", "exec", ns, *args, **kw)


def existing():
    out = sh("ip", "netns", "list")
    return [l.split()[0] for l in out.splitlines() if l.strip() and l.split()[0].startswith(PREFIX)]


# Polls GET /readyz on this namespace's loopback every `interval` s; one line per try:
# `<start> <end> <status> <body>` with time.monotonic() stamps (CLOCK_MONOTONIC is the
# same in every network namespace). Status 0: no answer.
POLLER = r"""
import http.client, sys, time
port, interval = int(sys.argv[1]), float(sys.argv[2])
while True:
    t = time.monotonic()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=0.5)
        c.request("GET", "/readyz")
        r = c.getresponse()
        s, b = r.status, r.read().decode("utf-8", "replace")
        c.close()
    except Exception as e:
        s, b = 0, repr(e)
    print("%.6f %.6f %d %s" % (t, time.monotonic(), s, " | ".join(b.strip().splitlines())[:200]), flush=True)
    time.sleep(max(0.0, interval - (time.monotonic() - t)))
"""

# GET one path on this namespace's loopback; prints the status line then the body.
GET = r"""
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=2)
c.request("GET", sys.argv[2])
r = c.getresponse()
print(r.status)
sys.stdout.write(r.read().decode("utf-8", "replace"))
"""


class Poller:
    """A /readyz poller inside one namespace; samples are (start, end, status, body)."""

    def __init__(self, ns, interval=0.02):
        self.samples = []
        self.lock = threading.Lock()
        self.proc = track(subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", POLLER,
                                            str(HTTP_PORT), str(interval)],
                                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                           stderr=subprocess.DEVNULL, text=True))
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            parts = line.rstrip("\n").split(" ", 3)
            if len(parts) >= 3:
                with self.lock:
                    self.samples.append((float(parts[0]), float(parts[1]), int(parts[2]),
                                         parts[3] if len(parts) > 3 else ""))

    def since(self, t):
        with self.lock:
            return [s for s in self.samples if s[0] >= t]

    def last(self):
        with self.lock:
            return self.samples[-1] if self.samples else None

    def stop(self):
        kill_proc(self.proc)


class Netns:
    def __init__(self, n=3):
        self.n = n
        self.made = []
        self.procs = []
        self.pollers = {}

    def create(self):
        left = existing()
        if left:
            raise RuntimeError("namespaces %s already exist (another run of this test, or one that died "
                               "without cleaning up); refusing to touch them. Remove them with "
                               "`ip netns del NAME` once no run uses them" % ", ".join(left))
        sh("ip", "netns", "add", BRIDGE)
        self.made.append(BRIDGE)
        in_ns(BRIDGE, "ip", "link", "set", "lo", "up")
        in_ns(BRIDGE, "ip", "link", "add", "br0", "type", "bridge")
        in_ns(BRIDGE, "ip", "link", "set", "br0", "up")
        for i in range(1, self.n + 1):
            ns = node_ns(i)
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
            in_ns(ns, "ip", "link", "set", "lo", "up")
            # Made inside the bridge namespace: the peer goes straight into `ns`.
            in_ns(BRIDGE, "ip", "link", "add", "vn%d" % i, "type", "veth", "peer", "name", "eth0", "netns", ns)
            in_ns(BRIDGE, "ip", "link", "set", "vn%d" % i, "master", "br0", "up")
            in_ns(ns, "ip", "addr", "add", node_ip(i) + "/24", "dev", "eth0")
            in_ns(ns, "ip", "link", "set", "eth0", "up")
        return self

    def start_node(self, i, data_dir, log_path, extra=()):
        from harness import bin_path
        members = ",".join("%d=%s:%d/%s:%d" % (j, node_ip(j), RESP_PORT, node_ip(j), RAFT_PORT)
                           for j in range(1, self.n + 1))
        args = ["ip", "netns", "exec", node_ns(i), bin_path(), "--node-id", str(i), "--bind", "0.0.0.0",
                "--insecure", "--port", str(RESP_PORT), "--raft-port", str(RAFT_PORT), "--data-dir", data_dir,
                "--initial-cluster", members, "--cluster-secret", "fencepost-ops-netns",
                "--metrics-addr", "0.0.0.0:%d" % HTTP_PORT, "--worker-threads", "1"] + list(extra)
        log = open(log_path, "ab")
        p = track(subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log))
        log.close()
        self.procs.append(p)
        return p

    def get(self, i, path):
        """(status, body) of GET path on node i, from inside its namespace."""
        out = in_ns(node_ns(i), sys.executable, "-c", GET, str(HTTP_PORT), path, check=False, timeout=10)
        status, _, body = out.partition("\n")
        return (int(status) if status.strip().isdigit() else 0), body

    def cut(self, i):
        """Drops everything in and out of node i's eth0."""
        rules = ("table inet fpops {\n"
                 " chain input { type filter hook input priority 0; policy accept; iifname \"eth0\" drop; }\n"
                 " chain output { type filter hook output priority 0; policy accept; oifname \"eth0\" drop; }\n"
                 "}\n")
        in_ns(node_ns(i), "nft", "-f", "-", input=rules)

    def heal(self, i):
        if "fpops" in in_ns(node_ns(i), "nft", "list", "tables", check=False):
            in_ns(node_ns(i), "nft", "delete", "table", "inet", "fpops")

    def destroy(self):
        errs = []
        for p in self.pollers.values():
            p.stop()
        for p in self.procs:
            kill_proc(p)
        for ns in reversed(self.made):
            try:
                sh("ip", "netns", "del", ns)
            except Exception as e:  # noqa: BLE001 - keep removing the others
                errs.append(str(e))
        self.made = []
        return errs


def preflight():
    """Why this machine cannot run the namespace test, or None."""
    if os.geteuid() != 0:
        return "needs root for network namespaces and nftables (euid %d)" % os.geteuid()
    for tool in ("ip", "nft"):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            return "`%s` is not installed (apt-get install %s)" % (tool, "iproute2" if tool == "ip" else "nftables")
    return None


def wait(pred, timeout, interval=0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    return pred()
