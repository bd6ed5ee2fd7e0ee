#!/usr/bin/env python3
"""The StatefulSet's pods for real, without Kubernetes: deploy/kubernetes/statefulset.yaml's
start script and environment, run by /bin/sh with the real fencepost binary, one pod per
network namespace (tests/py/ops_netns.py: private addresses in 10.78.0.0/24 that exist
only inside those namespaces). Each namespace resolves the pods' stable DNS names
(fencepost-N.fencepost-headless.coord.svc.cluster.local) through its own
/etc/netns/<ns>/hosts, as the headless Service would.

Pods 0-2 found the cluster (--initial-cluster); then the set is scaled to 4: pod 3 runs
the same script, joins through pod 0 and must become a voter that the others list
under its DNS name, and that serves a write the others read. Then to 5, with a fault:
pod 4's link is slowed (tbf, 4 Mbit/s towards it) so that catching up on ~1 MB of log
takes about 2 s; it is killed (SIGKILL) while the others list it as a learner, then
started again on the same volume at full speed, as Kubernetes restarts a pod. It must
end a voter (a join that stopped halfway is asked again) and serve a write.

  python3 tests/deploy/k8s_pods.py STATEFULSET_YAML FENCEPOST_BIN
Prints what it saw; exits 0 on success, 1 on a failure, 77 when this machine cannot
run it (with the reason)."""

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "py"))
import ops_netns as nx  # noqa: E402
from ops_cluster import track  # noqa: E402

DOMAIN = "fencepost-headless.coord.svc.cluster.local"
PASSWORD = "k8s-pods-test-pass"

# One RESP command from inside a namespace: AUTH, then the command; prints the reply
# line(s) as received.
RESP = r"""
import socket, sys
host, port, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.create_connection((host, port), timeout=5)
def cmd(*args):
    out = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in args)
    s.sendall(out)
    return s.recv(65536).decode("utf-8", "replace")
assert cmd("AUTH", pw).startswith("+OK")
sys.stdout.write(cmd(*sys.argv[4:]))
"""


# N FENCE SETs of ~300-byte values after AUTH, pipelined WAVE at a time, so that the
# log holds about N / WAVE entries (more than one AppendEntries carries); prints "ok N"
# once every reply is in.
FILL = r"""
import socket, sys
host, port, pw, n, wave = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
s = socket.create_connection((host, port), timeout=60)
def enc(*args):
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
def send(buf, replies):
    s.sendall(buf)
    got = b""
    while got.count(b"\r\n") < replies:
        chunk = s.recv(1 << 16)
        if not chunk:
            break
        got += chunk
    return got.count(b"+OK\r\n")
oks = send(enc(b"AUTH", pw.encode()), 1)
for i in range(0, n, wave):
    oks += send(b"".join(enc(b"FENCE", b"SET", b"fill-%d" % j, b"1", b"v" * 300) for j in range(i, i + wave)), wave)
print("ok %d" % (oks - 1) if oks == n + 1 else "short: %d of %d" % (oks, n + 1))
"""


def pod_name(ordinal):
    return "fencepost-%d" % ordinal


def fqdn(ordinal):
    return "%s.%s" % (pod_name(ordinal), DOMAIN)


def main():
    sts_path, binary = sys.argv[1], os.path.abspath(sys.argv[2])
    why = nx.preflight()
    if why:
        print("cannot run here: %s" % why)
        return 77
    if nx.existing():
        print("cannot run here: namespaces %s exist (another run?)" % nx.existing())
        return 77
    sts = yaml.safe_load(open(sts_path))
    c = sts["spec"]["template"]["spec"]["containers"][0]
    script = c["args"][0].replace("/usr/local/bin/fencepost", binary)
    size = next(int(e["value"]) for e in c["env"] if e["name"] == "CLUSTER_SIZE")
    pods = size + 2
    work = tempfile.mkdtemp(prefix="fencepost-k8s-pods-")
    net = nx.Netns(pods)
    hosts_dirs = []
    procs = []
    try:
        net.create()
        hosts = "127.0.0.1 localhost\n" + "".join(
            "%s %s\n" % (nx.node_ip(o + 1), fqdn(o)) for o in range(pods))
        for i in range(1, pods + 1):
            d = "/etc/netns/%s" % nx.node_ns(i)
            os.makedirs(d, exist_ok=True)
            hosts_dirs.append(d)
            with open(os.path.join(d, "hosts"), "w") as f:
                f.write(hosts)

        def start(ordinal):
            env = {"PATH": "/usr/bin:/bin", "POD_NAME": pod_name(ordinal), "POD_NAMESPACE": "coord"}
            for e in c["env"]:
                if "value" in e:
                    env[e["name"]] = e["value"]
            env["FENCEPOST_DATA_DIR"] = os.path.join(work, "data-%d" % ordinal)
            env["FENCEPOST_REQUIREPASS"] = PASSWORD
            env["FENCEPOST_CLUSTER_SECRET"] = "k8s-pods-test-secret"
            env["FENCEPOST_LOG_FORMAT"] = "text"
            log = open(os.path.join(work, "pod-%d.log" % ordinal), "ab")
            p = track(subprocess.Popen(["ip", "netns", "exec", nx.node_ns(ordinal + 1), "/bin/sh", "-c", script],
                                       env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log))
            log.close()
            procs.append(p)
            net.procs.append(p)

        def logs():
            out = []
            for o in range(pods):
                try:
                    with open(os.path.join(work, "pod-%d.log" % o), "rb") as f:
                        tail = f.read().decode("utf-8", "replace").splitlines()[-8:]
                    out.append("--- pod %d ---\n%s" % (o, "\n".join(tail)))
                except OSError:
                    pass
            return "\n".join(out)

        def resp(ordinal, *args):
            return nx.in_ns(nx.node_ns(ordinal + 1), sys.executable, "-c", RESP, "127.0.0.1", "6379",
                            PASSWORD, *args, check=False, timeout=10)

        def members(ordinal):
            """{node id: (role, client address)} from pod `ordinal`'s status page."""
            status, html = net.get(ordinal + 1, "/")
            if status != 200:
                return {}
            rows = re.findall(r'<tr data-node="(\d+)"><td>[^<]*</td><td class="(\w+)">\w+</td><td>([^<]*)</td>', html)
            return {int(i): (role, addr) for i, role, addr in rows}

        for o in range(size):
            start(o)
        if not nx.wait(lambda: all(net.get(o + 1, "/readyz")[0] == 200 for o in range(size)), 40, 0.2):
            print("the founders never all became ready\n%s" % logs())
            return 1
        print("pods 0-%d (--initial-cluster) ready" % (size - 1))
        t0 = time.monotonic()
        start(size)

        def joined():
            m = members(0)
            if len(m) != size + 1 or any(role == "learner" for role, _ in m.values()):
                return None
            return m

        m = nx.wait(joined, 60, 0.2)
        if not m:
            print("pod %d never became a voter; pod 0's page lists %s\n%s" % (size, members(0), logs()))
            return 1
        print("pod %d joined as a voter after %.1fs; pod 0 lists %s" % (size, time.monotonic() - t0, m))
        errs = []
        want = "%s:6379" % fqdn(size)
        if m[size + 1][1] != want:
            errs.append("node %d listed at %r, want its DNS name %r" % (size + 1, m[size + 1][1], want))
        if not nx.wait(lambda: net.get(size + 1, "/readyz")[0] == 200, 20, 0.2):
            errs.append("pod %d's /readyz never 200: %s" % (size, net.get(size + 1, "/readyz")))
        key = "k8s-pods-%d" % os.getpid()
        w = resp(size, "FENCE", "SET", key, "5", "scaled-out")
        if not w.startswith("+OK"):
            errs.append("FENCE SET through pod %d: %r" % (size, w))
        got = nx.wait(lambda: "scaled-out" in resp(1, "FENCE", "GET", key), 10, 0.2)
        if not got:
            errs.append("FENCE GET through pod 1: %r" % resp(1, "FENCE", "GET", key))
        if errs:
            print("\n".join(errs) + "\n" + logs())
            return 1
        print("a write through pod %d read back through pod 1" % size)

        # Scale to 5 with a restart mid-join. ~1 MB of log first, so that catching up
        # through the slowed link takes seconds.
        fill = nx.in_ns(nx.node_ns(1), sys.executable, "-c", FILL, "127.0.0.1", "6379", PASSWORD, "3000", "5",
                        check=False, timeout=120)
        if not fill.startswith("ok"):
            print("filling the log through pod 0: %s\n%s" % (fill, logs()))
            return 1
        last = size + 1
        slow = ["qdisc", "replace", "dev", "vn%d" % (last + 1), "root", "tbf", "rate", "4mbit", "burst", "16kb",
                "latency", "2s"]
        nx.in_ns(nx.BRIDGE, "tc", *slow)
        start(last)
        was_learner = nx.wait(lambda: members(0).get(last + 1, ("", ""))[0] == "learner", 30, 0.02)
        if not was_learner:
            print("pod %d never listed as a learner; pod 0 lists %s\n%s" % (last, members(0), logs()))
            return 1
        time.sleep(1.5)  # part of the log reaches it
        info = resp(last, "RAFT", "INFO")
        own = re.search(r"applied-index\r?\n:(\d+)", info)
        lead = re.search(r"commit-index\r?\n:(\d+)", resp(0, "RAFT", "INFO"))
        nx.kill_proc(procs[-1])
        print("pod %d killed while pod 0 listed it as a learner (it had applied %s; the cluster's commit %s)"
              % (last, own.group(1) if own else "?", lead.group(1) if lead else "?"))
        nx.in_ns(nx.BRIDGE, "tc", "qdisc", "del", "dev", "vn%d" % (last + 1), "root")
        t0 = time.monotonic()
        start(last)
        m = nx.wait(lambda: (lambda m: m if len(m) == pods and all(r != "learner" for r, _ in m.values()) else None)(
            members(0)), 90, 0.2)
        if not m:
            print("restarted pod %d never became a voter; pod 0 lists %s\n%s" % (last, members(0), logs()))
            return 1
        print("restarted pod %d is a voter %.1fs after its restart; pod 0 lists %d members, roles %s"
              % (last, time.monotonic() - t0, len(m), sorted(r for r, _ in m.values())))
        w = resp(last, "FENCE", "SET", key + "-5", "6", "after-restart")
        if not w.startswith("+OK"):
            print("FENCE SET through restarted pod %d: %r\n%s" % (last, w, logs()))
            return 1
        if not nx.wait(lambda: "after-restart" in resp(0, "FENCE", "GET", key + "-5"), 10, 0.2):
            print("FENCE GET through pod 0: %r" % resp(0, "FENCE", "GET", key + "-5"))
            return 1
        print("a write through pod %d read back through pod 0" % last)
        return 0
    finally:
        for e in net.destroy():
            print("cleanup: %s" % e)
        for d in hosts_dirs:
            shutil.rmtree(d, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    socket.setdefaulttimeout(10)
    sys.exit(main())
