#!/usr/bin/env python3
"""Operations (SPEC "Operations", issue 16 "Tests"): metrics, probes, the status page
and configuration, against real processes.

- A real Prometheus (Debian's `prometheus`) scrapes a 3-node cluster every second; its
  HTTP API must show one leader, has_leader on every node, leader changes rising after
  the leader is SIGKILLed, and exactly the LOCK commands this test sent through one node.
- /metrics parsed with prometheus_client's OpenMetrics parser: histogram consistency,
  every SPEC name with its type, values that agree with RAFT INFO, and no new series
  after 10,000 distinct keys (labels never carry keys).
- /readyz in network namespaces (ops_netns.py): a follower, then the leader, cut off
  with nftables turns 503 within two election timeouts (plus a poll allowance) and 200
  after the heal; the measured times are printed.
- The status page in headless Chromium (Debian's `chromium`): every member row and the
  holder of a lock with waiters in the DOM; a screenshot kept at
  target/test-artifacts/status-page.png. Every node's page shows every member's own
  term, commit and applied index, and a member that is down as unreachable.
- Configuration: flag > environment > file > default for an integer, two strings, a
  boolean and a path (--print-config); secrets masked; unknown keys refused naming the
  key and the file; CONFIG GET over RESP.

A test whose tool cannot be installed or run here (prometheus, chromium, namespaces)
prints SKIP and exactly why; it never counts as passed.

Run (as root; installs prometheus, chromium and prometheus_client if missing):
  FENCEPOST_BIN=target/debug/fencepost python3 tests/py/test_operations.py
  PY_TESTS_ONLY=readyz ...   runs only the tests whose name contains "readyz"
Prints one line per test with its time and `N passed, N failed[, N skipped]`; exits
non-zero on failure."""

import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.parse
import urllib.request
from html.parser import HTMLParser

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import bin_path, free_ports, selected, text, uniq, wait_until  # noqa: E402
from ops_cluster import (ELECTION_TIMEOUT_MS, Cluster, OpsTally, Skip, kill_proc, note,  # noqa: E402
                         track)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARTIFACTS = os.path.join(ROOT, "target", "test-artifacts")
# /readyz may take this much longer than two election timeouts to flip: the poller's
# 20 ms interval, the HTTP round trip, and scheduling on a 2-core machine running three
# debug-build nodes and three pollers.
READYZ_ALLOWANCE_S = 0.25

# ------------------------------------------------------------------ tool installs

_apt_updated = False


def apt_install(pkg):
    """apt-get install pkg (apt-get update first, once). Returns None or why not."""
    global _apt_updated
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if os.geteuid() != 0:
        return "not root, cannot apt-get install %s" % pkg
    try:
        if not _apt_updated:
            p = subprocess.run(["apt-get", "update", "-qq"], capture_output=True, text=True, env=env, timeout=300)
            if p.returncode != 0:
                return "apt-get update failed: %s" % p.stderr.strip()[-500:]
            _apt_updated = True
        p = subprocess.run(["apt-get", "install", "-y", "-qq", pkg], capture_output=True, text=True, env=env,
                           timeout=900)
        if p.returncode != 0:
            return "apt-get install %s failed: %s" % (pkg, (p.stderr or p.stdout).strip()[-500:])
    except Exception as e:  # noqa: BLE001
        return "apt-get install %s failed: %r" % (pkg, e)
    return None


def need_binary(cmd, pkg):
    """The path of cmd, installing Debian's pkg if needed; raises Skip with why not."""
    path = shutil.which(cmd)
    if path:
        return path
    why = apt_install(pkg)
    path = shutil.which(cmd)
    if not path:
        raise Skip("`%s` is not installed and could not be: %s" % (cmd, why or "apt-get install %s gave no %s"
                                                                   % (pkg, cmd)))
    return path


def openmetrics_parser():
    try:
        from prometheus_client.openmetrics.parser import text_string_to_metric_families
        return text_string_to_metric_families
    except ImportError:
        pass
    base = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "prometheus_client"]
    for extra in ([], ["--break-system-packages"]):
        if subprocess.run(base + extra, capture_output=True, timeout=300).returncode == 0:
            break
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
    return text_string_to_metric_families


# ------------------------------------------------------------------ the shared cluster


class World:
    """The loopback cluster shared by the metrics, status page, CONFIG GET and
    Prometheus tests (Prometheus runs last: it kills the leader)."""

    def __init__(self):
        self._cluster = None
        self._prom = None
        self._prom_skip = None
        self.killed = set()  # node ids a test killed on purpose

    @property
    def prom(self):
        if self._prom_skip:
            raise Skip(self._prom_skip)
        if self._prom is None:
            c = self.cluster
            try:
                prom = Prometheus([(n.id, "127.0.0.1:%d" % n.http_port) for n in c.nodes])
            except Skip as e:
                self._prom_skip = str(e)
                raise
            self._prom = prom
            t_start = time.monotonic()
            if not wait_until(30, "prometheus /-/ready", prom.ready, interval=0.2):
                raise Skip("prometheus never became ready: %s" % prom.log_tail(10))

            def all_up():
                t = prom.targets()
                return len(t) == 3 and all(h == "up" for _, h, _ in t)

            try:
                wait_until(20, "prometheus scrapes all 3 targets", all_up, interval=0.2)
            except AssertionError:
                raise AssertionError("targets: %s\n%s" % (prom.targets(), prom.log_tail(10)))
            note("prometheus %s ready and scraping 3 targets after %.1fs" % (prom.bin, time.monotonic() - t_start))
        return self._prom

    @property
    def cluster(self):
        if self._cluster is None:
            self._cluster = Cluster()
        return self._cluster

    def stop(self):
        if self._prom is not None:
            self._prom.stop()
        if self._cluster is not None:
            self._cluster.stop()


# ------------------------------------------------------------------ /metrics


def scrape(node):
    status, ctype, body = node.get("/metrics", timeout=5)
    assert status == 200, (status, body[:200])
    return ctype, body


def parse_strict(body):
    return list(openmetrics_parser()(body))


class Fam:
    def __init__(self, name, typ):
        self.name, self.type, self.samples = name, typ, []


class Sample:
    def __init__(self, name, labels, value):
        self.name, self.labels, self.value = name, labels, value


def parse_lenient(body):
    """A minimal reader of the exposition for when prometheus_client's parser refuses
    it (the strict test reports why): families from `# TYPE`, each sample in the family
    whose name prefixes it, no validation."""
    fams = {}
    cur = None
    for line in body.splitlines():
        m = re.match(r"^# TYPE (\S+) (\S+)$", line)
        if m:
            cur = fams.setdefault(m.group(1), Fam(m.group(1), m.group(2)))
            continue
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if not m:
            raise ValueError("unparsable line: %r" % line)
        labels = {k: v for k, v in re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or "")}
        fam = cur if cur is not None and m.group(1).startswith(cur.name) else fams.setdefault(
            m.group(1), Fam(m.group(1), "unknown"))
        fam.samples.append(Sample(m.group(1), labels, float(m.group(3))))
    return fams


def parse_families(body):
    """Families by name, through prometheus_client's OpenMetrics parser; if that refuses
    the text (test_metrics_exposition_is_valid_openmetrics says why), through
    parse_lenient so the names, types and values can still be checked. Returns
    (families, how)."""
    try:
        fams = parse_strict(body)
        return {f.name: f for f in fams}, "openmetrics"
    except ValueError as e:
        return parse_lenient(body), "a lenient reader (prometheus_client's OpenMetrics parser refuses it: %s)" % e


def series_set(fams):
    return {(s.name, tuple(sorted(s.labels.items()))) for f in fams.values() for s in f.samples}


def value(fams, family, sample=None, **labels):
    f = fams[family]
    sample = sample or family
    for s in f.samples:
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return None


def histogram_problems(body):
    """Checks every histogram series in the raw text: le values are floats with the
    +Inf bucket spelt "+Inf", buckets are cumulative (non-decreasing), and the +Inf
    bucket equals _count. Returns a list of problems (the first few per metric)."""
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", body, re.M))
    hists = [n for n, t in types.items() if t == "histogram"]
    problems = []
    for h in hists:
        groups = {}
        counts = {}
        for m in re.finditer(r"^%s_(bucket|count)(?:\{([^}]*)\})? (\S+)$" % re.escape(h), body, re.M):
            kind, labels, v = m.group(1), m.group(2) or "", m.group(3)
            lab = dict(re.findall(r'(\w+)="([^"]*)"', labels))
            le = lab.pop("le", None)
            key = tuple(sorted(lab.items()))
            if kind == "count":
                counts[key] = float(v)
            else:
                groups.setdefault(key, []).append((le, float(v)))
        for key, buckets in groups.items():
            where = "%s%s" % (h, dict(key) or "")
            bad_le = [le for le, _ in buckets if le != "+Inf" and not re.fullmatch(r"[0-9.eE+-]+", le or "")]
            if bad_le:
                problems.append("%s: le=%r is not a float or \"+Inf\"" % (where, bad_le))
            vals = [v for _, v in buckets]
            if any(b < a for a, b in zip(vals, vals[1:])):
                problems.append("%s: buckets decrease: %s" % (where, vals))
            last_le, last_v = buckets[-1]
            if key in counts and last_v != counts[key]:
                problems.append("%s: last bucket le=%r holds %g but _count is %g (buckets %s)"
                                % (where, last_le, last_v, counts[key], [int(v) for v in vals]))
    return problems


def test_metrics_exposition_is_valid_openmetrics(w):
    """The content type, then prometheus_client's strict OpenMetrics parser on every
    node's /metrics, then the histogram rules it enforces, spelt out."""
    c = w.cluster
    errs = []
    for n in c.nodes:
        ctype, body = scrape(n)
        if not ctype.startswith("application/openmetrics-text"):
            errs.append("node %d: content type %r" % (n.id, ctype))
        if not body.endswith("# EOF\n"):
            errs.append("node %d: no '# EOF' at the end" % n.id)
        for p in histogram_problems(body)[:6]:
            errs.append("node %d: %s" % (n.id, p))
        try:
            parse_strict(body)
        except ValueError as e:
            errs.append("node %d: prometheus_client's OpenMetrics parser refuses /metrics: %s" % (n.id, e))
    assert not errs, "\n".join(errs)


SPEC_TYPES = {
    "fencepost_raft_has_leader": "gauge", "fencepost_raft_is_leader": "gauge", "fencepost_raft_term": "gauge",
    "fencepost_raft_leader_changes": "counter", "fencepost_raft_commit_index": "gauge",
    "fencepost_raft_applied_index": "gauge", "fencepost_raft_proposals": "counter",
    "fencepost_raft_commit_seconds": "histogram", "fencepost_wal_fsync_seconds": "histogram",
    "fencepost_peer_rtt_seconds": "histogram", "fencepost_snapshot_seconds": "histogram",
    "fencepost_commands": "counter", "fencepost_command_seconds": "histogram", "fencepost_clients": "gauge",
    "fencepost_keys": "gauge", "fencepost_lock_waiters": "gauge", "fencepost_lock_grants": "counter",
    "fencepost_fence_stale": "counter", "fencepost_ratelimit_limited": "counter",
    "fencepost_idemp_replays": "counter", "fencepost_acl_denied": "counter",
    "fencepost_raft_commit_only_merged": "counter",
    "process_cpu_seconds": "counter", "process_resident_memory_bytes": "gauge", "process_open_fds": "gauge",
    "process_start_time_seconds": "gauge",
}
KINDS = {"lock", "fence", "bucket", "idemp", "semaphore", "rwlock", "ratelimit", "data"}


def families_of(node):
    return parse_families(scrape(node)[1])


def test_metrics_names_types_and_values(w):
    c = w.cluster
    lead = c.leader()
    # A LOCK, a stale FENCE, a limited TOKENBUCKET, an IDEMP replay and a refused AUTH,
    # so every counter has something to count.
    r = lead.client()
    name = uniq("ops-names")
    tok = r.execute_command("LOCK", "ACQUIRE", name, "w1", "30000")
    r.execute_command("FENCE", "ADVANCE", name + "-fence", tok)
    try:
        r.execute_command("FENCE", "ADVANCE", name + "-fence", int(tok) - 1)
    except Exception:  # noqa: BLE001 - -STALE is the point
        pass
    for _ in range(3):
        r.execute_command("TOKENBUCKET", name + "-tb", "1", "1", "60000")
    r.close()
    # Open connections show in fencepost_clients.
    extra = [lead.client() for _ in range(7)]
    for e in extra:
        e.ping()
    fams, how = families_of(lead)
    if how != "openmetrics":
        note("names checked with %s" % how)
    errs = []
    for fam, typ in SPEC_TYPES.items():
        if fam not in fams:
            errs.append("missing %s" % fam)
        elif fams[fam].type != typ:
            errs.append("%s is a %s, want a %s" % (fam, fams[fam].type, typ))
    if errs:
        raise AssertionError("\n".join(errs))
    results = {s.labels.get("result") for s in fams["fencepost_raft_proposals"].samples}
    assert results == {"ok", "clusterdown", "uncertain"}, results
    kinds = {s.labels.get("kind") for s in fams["fencepost_keys"].samples}
    assert kinds == KINDS, kinds
    info = lead.raft_info()
    assert value(fams, "fencepost_raft_is_leader") == 1, "the leader's is_leader"
    assert value(fams, "fencepost_raft_has_leader") == 1
    assert value(fams, "fencepost_raft_term") == int(info["term"]), (value(fams, "fencepost_raft_term"), info)
    assert value(fams, "fencepost_raft_commit_index") >= 1
    assert value(fams, "fencepost_raft_applied_index") <= value(fams, "fencepost_raft_commit_index") + 0
    assert value(fams, "fencepost_clients") >= 7, value(fams, "fencepost_clients")
    cmd = {(s.labels["command"], s.labels["result"]): s.value for s in fams["fencepost_commands"].samples
           if s.name.endswith("_total")}
    for c_, res in (("LOCK", "ok"), ("FENCE", "ok"), ("FENCE", "error"), ("TOKENBUCKET", "ok")):
        assert cmd.get((c_, res), 0) >= 1, ("fencepost_commands_total", c_, res, cmd)
    assert all(k[0] == k[0].upper() for k in cmd), "command names are upper case: %s" % sorted(cmd)
    assert value(fams, "fencepost_fence_stale", "fencepost_fence_stale_total") >= 1
    assert value(fams, "fencepost_ratelimit_limited", "fencepost_ratelimit_limited_total") >= 1
    assert value(fams, "fencepost_lock_grants", "fencepost_lock_grants_total") >= 1
    # peer RTT: one series per follower, on the leader only.
    peers = {s.labels.get("peer") for s in fams["fencepost_peer_rtt_seconds"].samples}
    want = {str(n.id) for n in c.nodes if n is not lead}
    assert peers == want, "fencepost_peer_rtt_seconds peers %s, want the followers %s" % (peers, want)
    for f in c.followers():
        ff, _ = families_of(f)
        assert value(ff, "fencepost_raft_is_leader") == 0 and value(ff, "fencepost_raft_has_leader") == 1, f.id
    # Writes from 7 clients at once: the commit index rides on the next append, so
    # the leader leaves commit-only AppendEntries unsent and counts them.
    merged = value(fams, "fencepost_raft_commit_only_merged", "fencepost_raft_commit_only_merged_total")
    def writes(i):
        for j in range(25):
            extra[i].execute_command("FENCE", "SET", "%s-burst-%d-%d" % (name, i, j), "1", "x")
    threads = [threading.Thread(target=writes, args=(i,)) for i in range(len(extra))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = value(families_of(lead)[0], "fencepost_raft_commit_only_merged", "fencepost_raft_commit_only_merged_total")
    assert after > merged, "fencepost_raft_commit_only_merged_total %s -> %s after %d writes" % (merged, after, 25 * len(extra))
    for e in extra:
        e.close()
    wait_until(5, "fencepost_clients drops after 7 clients close",
               lambda: value(families_of(lead)[0], "fencepost_clients") < 7, interval=0.1)


def test_metrics_series_bounded_after_10000_keys(w):
    """10,000 distinct keys (5,000 LOCK ACQUIRE and 5,000 SET on distinct names,
    pipelined through a follower and the leader) add no series on any node."""
    c = w.cluster
    lead = c.leader()
    fol = c.followers()[0]
    tag = uniq("ops-bounded")
    # Warm-up: every command the bulk sends, once, through both nodes, so the series it
    # may legitimately add (the command's own counters) exist before the "before" scrape.
    for n in (lead, fol):
        r = n.client()
        r.execute_command("LOCK", "ACQUIRE", "%s-warm-%d" % (tag, n.id), "w", "60000")
        r.execute_command("SET", "%s-warm-key-%d" % (tag, n.id), "v")
        r.close()
    time.sleep(0.3)
    before = {n.id: families_of(n)[0] for n in c.nodes}
    t0 = time.monotonic()
    sent = {}
    for n, kind in ((fol, "lock"), (lead, "data")):
        r = n.client(socket_timeout=60)
        for chunk in range(5):
            p = r.pipeline(transaction=False)
            for i in range(1000):
                k = "%s-%s-%d" % (tag, kind, chunk * 1000 + i)
                if kind == "lock":
                    p.execute_command("LOCK", "ACQUIRE", k, "owner", "600000")
                else:
                    p.execute_command("SET", k, "v")
            replies = p.execute()
            bad = [x for x in replies if isinstance(x, Exception) or x is None]
            assert not bad, "%d of 1000 failed, e.g. %r" % (len(bad), bad[:3])
        r.close()
        sent[n.id] = kind
    note("10,000 keys written in %.2fs" % (time.monotonic() - t0))

    def applied_everywhere():
        for n in c.nodes:
            f = families_of(n)[0]
            if value(f, "fencepost_keys", kind="lock") < 5000 or value(f, "fencepost_keys", kind="data") < 5000:
                return False
        return True

    wait_until(20, "every node holds the 10,000 keys (fencepost_keys)", applied_everywhere, interval=0.2)
    errs = []
    for n in c.nodes:
        fams = families_of(n)[0]
        added = series_set(fams) - series_set(before[n.id])
        if added:
            errs.append("node %d: %d new series, e.g. %s" % (n.id, len(added), sorted(added)[:5]))
        leaked = [s for s in series_set(fams) if any(tag in v for _, v in s[1])]
        if leaked:
            errs.append("node %d: a key in a label: %s" % (n.id, leaked[:3]))
        # The bulk counted on the node that received it, exactly.
        for cmd, kind in (("LOCK", "lock"), ("SET", "data")):
            got = value(fams, "fencepost_commands", "fencepost_commands_total", command=cmd, result="ok") or 0
            was = value(before[n.id], "fencepost_commands", "fencepost_commands_total", command=cmd,
                        result="ok") or 0
            want = 5000 if sent.get(n.id) == kind else 0
            if got - was != want:
                errs.append("node %d: fencepost_commands_total{command=%r,result=\"ok\"} rose by %d, want %d"
                            % (n.id, cmd, got - was, want))
    note("series per node: %s" % {n.id: len(series_set(before[n.id])) for n in c.nodes})
    assert not errs, "\n".join(errs)


# ------------------------------------------------------------------ status page


class Dom(HTMLParser):
    """A small element list: (tag, attrs, text inside) for every element."""

    VOID = {"meta", "link", "br", "img", "input", "hr", "col", "base", "area", "source", "wbr"}

    def __init__(self, html):
        super().__init__()
        self.elements = []
        self.stack = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        el = {"tag": tag, "attrs": dict(attrs), "text": "", "children": []}
        if self.stack:
            self.stack[-1]["children"].append(el)
        self.elements.append(el)
        if tag not in self.VOID:
            self.stack.append(el)

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i]["tag"] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        for el in self.stack:
            el["text"] += data

    def find(self, tag=None, **attrs):
        out = []
        for el in self.elements:
            if tag and el["tag"] != tag:
                continue
            ok = True
            for k, v in attrs.items():
                k = k.rstrip("_").replace("_", "-")
                have = el["attrs"].get(k)
                if k == "class":
                    ok = ok and have is not None and v in have.split()
                else:
                    ok = ok and have == v
            if ok:
                out.append(el)
        return out


def descendants(el):
    for ch in el["children"]:
        yield ch
        yield from descendants(ch)


def chromium_cmd():
    path = need_binary("chromium", "chromium")
    return path


def run_chromium(args, url, profile, timeout=90):
    cmd = [chromium_cmd(), "--headless", "--disable-gpu", "--no-sandbox", "--disable-dev-shm-usage",
           "--no-first-run", "--user-data-dir=%s" % profile] + args + [url]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p


def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def test_status_page_in_headless_chromium(w):
    c = w.cluster
    chromium = chromium_cmd()
    profile = tempfile.mkdtemp(prefix="fencepost-ops-chromium-")
    try:
        probe = run_chromium(["--dump-dom"], "about:blank", profile, timeout=60)
    except subprocess.TimeoutExpired:
        raise Skip("`%s --headless --dump-dom about:blank` did not finish within 60 s" % chromium)
    if probe.returncode != 0 or "<html" not in probe.stdout:
        raise Skip("`%s --headless --no-sandbox --dump-dom about:blank` cannot run here: exit %d: %s"
                   % (chromium, probe.returncode, probe.stderr.strip()[-600:]))
    lock = uniq("ops-status-lock")
    holder = "holder-" + uniq("h")
    first = c.nodes[0].client()
    tok = first.execute_command("LOCK", "ACQUIRE", lock, holder, "120000")
    assert tok, tok
    # Three waiters, each on its own connection (one per node) kept open in a thread
    # that reads its reply: they are granted in turn when the holder lets go.
    socks, replies, threads = [], {}, []

    def waiter(i, s):
        try:
            replies[i] = s.recv(256)
        except OSError as e:
            replies[i] = repr(e)

    for i, n in enumerate(c.nodes):
        s = socket.create_connection(("127.0.0.1", n.port), timeout=60)
        s.sendall(resp("LOCK", "ACQUIRE", lock, "waiter-%d" % i, "5000", "WAIT", "60000"))
        socks.append(s)
        t = threading.Thread(target=waiter, args=(i, s), daemon=True)
        t.start()
        threads.append(t)
    try:
        def waiters():
            info = first.execute_command("LOCK", "INFO", lock)
            d = dict(zip([text(x) for x in info[::2]], info[1::2])) if info else {}
            return d if int(d.get("waiters", 0)) == 3 else None

        info = wait_until(10, "LOCK INFO shows 3 waiters", waiters, interval=0.05)
        assert text(info["owner"]) == holder, info
        errs = []
        # One waiter on each node's connections: fencepost_lock_waiters counts the
        # node's own clients.
        lw = {n.id: value(families_of(n)[0], "fencepost_lock_waiters") for n in c.nodes}
        if lw != {1: 1, 2: 1, 3: 1}:
            errs.append("fencepost_lock_waiters by node %s, want 1 on each (one waiting client each)" % lw)
        lead = c.leader()
        # Raw HTML: no external assets, refreshes every 2 s.
        status, ctype, html = lead.get("/")
        assert status == 200 and ctype.startswith("text/html"), (status, ctype)
        external = re.findall(r'(?:src|href)\s*=\s*"(?:https?:)?//[^"]*"', html) + \
            re.findall(r"<script[^>]*\ssrc=|<link[^>]*stylesheet", html)
        if external:
            errs.append("external assets: %s" % external)
        if not re.search(r'<meta http-equiv="refresh" content="2"', html):
            errs.append("no meta refresh of 2 s")
        dump_times = []
        for n in [lead] + [f for f in c.nodes if f is not lead]:
            t0 = time.monotonic()
            p = run_chromium(["--dump-dom"], n.metrics_url(), profile)
            dump_times.append(time.monotonic() - t0)
            if p.returncode != 0:
                errs.append("node %d: chromium --dump-dom exit %d: %s" % (n.id, p.returncode, p.stderr[-400:]))
                continue
            dom = Dom(p.stdout)
            where = "node %d (%s)" % (n.id, "leader" if n is lead else "follower")
            members = dom.find("table", id="members")
            rows = [el for el in (descendants(members[0]) if members else []) if el["tag"] == "tr"
                    and "data-node" in el["attrs"]]
            got = sorted(el["attrs"]["data-node"] for el in rows)
            if got != ["1", "2", "3"]:
                errs.append("%s: member rows %s, want 1 2 3" % (where, got))
            roles = {el["attrs"]["data-node"]: [c_["text"].strip() for c_ in el["children"] if c_["tag"] == "td"]
                     for el in rows}
            roles = {k: v[1] if len(v) > 1 else None for k, v in roles.items()}
            if roles.get(str(lead.id)) != "leader" or sorted(roles.values()) != ["follower", "follower", "leader"]:
                errs.append("%s: roles %s, want node %d the leader" % (where, roles, lead.id))
            locks = dom.find("table", id="locks")
            if not locks:
                no = dom.find("p", id="no-locks")
                errs.append("%s: no <table id=\"locks\"> (%s)" % (where, no[0]["text"] if no else "nor #no-locks"))
                continue
            cells = list(descendants(locks[0]))
            names = [el["text"].strip() for el in cells if el["tag"] == "td" and "lock-name" in
                     el["attrs"].get("class", "").split()]
            holders = [el["text"].strip() for el in cells if el["tag"] == "td" and "holder" in
                       el["attrs"].get("class", "").split()]
            if lock not in names:
                errs.append("%s: lock %s not among td.lock-name %s" % (where, lock, names))
            elif holder not in holders[names.index(lock)]:
                errs.append("%s: td.holder of %s is %r, want %s" % (where, lock, holders[names.index(lock)], holder))
            # The lock's row: its token and its 3 waiters (columns lock, holder, token,
            # lease left, waiters).
            rows = [[c_["text"].strip() for c_ in tr["children"] if c_["tag"] == "td"]
                    for tr in cells if tr["tag"] == "tr"]
            rows = [r_ for r_ in rows if r_ and r_[0] == lock]
            if len(rows) != 1 or len(rows[0]) < 5 or rows[0][2] != str(tok) or rows[0][-1] != "3":
                errs.append("%s: the lock's rows %s, want one with token %s and 3 waiters last" % (where, rows, tok))
            if not dom.find("p", id="summary"):
                errs.append("%s: no <p id=\"summary\">" % where)
        note("chromium --dump-dom took %s s" % ", ".join("%.1f" % t for t in dump_times))
        os.makedirs(ARTIFACTS, exist_ok=True)
        shot = os.path.join(ARTIFACTS, "status-page.png")
        if os.path.exists(shot):
            os.unlink(shot)
        p = run_chromium(["--screenshot=%s" % shot, "--window-size=1200,800", "--hide-scrollbars"],
                         lead.metrics_url(), profile)
        if not os.path.exists(shot):
            errs.append("no screenshot: exit %d: %s" % (p.returncode, p.stderr[-400:]))
        else:
            with open(shot, "rb") as f:
                head = f.read(24)
            assert head[:8] == b"\x89PNG\r\n\x1a\n", head
            wid, hei = struct.unpack(">II", head[16:24])
            note("screenshot %s: %dx%d, %d bytes" % (shot, wid, hei, os.path.getsize(shot)))
            if (wid, hei) != (1200, 800):
                errs.append("screenshot is %dx%d, want 1200x800" % (wid, hei))
        # The holder lets go: the first waiter in line is granted.
        assert first.execute_command("LOCK", "RELEASE", lock, holder, tok) == 1
        wait_until(10, "a waiter is granted after the release", lambda: any(
            v.startswith(b":") for v in replies.values() if isinstance(v, bytes)) or None, interval=0.05)
        assert not errs, "\n".join(errs)
    finally:
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        for t in threads:
            t.join(5)
        first.close()
        shutil.rmtree(profile, ignore_errors=True)


# ------------------------------------------------------------------ configuration


def print_config(args=(), env=None, cwd=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("FENCEPOST_") or k == "FENCEPOST_BIN"}
    e.pop("RUST_LOG", None)
    e.update(env or {})
    p = subprocess.run([bin_path(), "--print-config"] + list(args), capture_output=True, text=True, env=e,
                       cwd=cwd, timeout=20)
    return p


def effective(args=(), env=None):
    p = print_config(args, env)
    assert p.returncode == 0, "--print-config exited %d: %s" % (p.returncode, p.stderr)
    return tomllib.loads(p.stdout)


def test_config_precedence_flag_env_file_default(w):
    d = tempfile.mkdtemp(prefix="fencepost-ops-config-")
    try:
        cases = [
            # key, TOML value in the file, env value, flag args, and what each level gives
            ("max-clients", "111", "222", ["--max-clients", "333"], (10000, 111, 222, 333)),
            ("log-level", '"warn"', "error", ["--log-level", "debug"], ("info", "warn", "error", "debug")),
            ("follower-mode", '"redirect"', "proxy", ["--follower-mode", "redirect"],
             ("proxy", "redirect", "proxy", "redirect")),
            ("insecure", "true", "false", ["--insecure"], (False, True, False, True)),
            ("data-dir", '"/srv/from-file"', "/srv/from-env", ["--data-dir", "/srv/from-flag"],
             ("./fencepost-data", "/srv/from-file", "/srv/from-env", "/srv/from-flag")),
        ]
        errs = []
        base = effective()
        for key, filev, envv, flag, want in cases:
            var = "FENCEPOST_" + key.upper().replace("-", "_")
            path = os.path.join(d, "%s.toml" % key)
            with open(path, "w") as f:
                f.write("%s = %s\n" % (key, filev))
            levels = [
                ("default", [], {}),
                ("file", ["--config", path], {}),
                ("env over file", ["--config", path], {var: envv}),
                ("flag over env and file", ["--config", path] + flag, {var: envv}),
            ]
            for (label, args, env), expect in zip(levels, want):
                got = effective(args, env)
                if got.get(key) != expect:
                    errs.append("%s, %s: %s = %r, want %r" % (key, label, key, got.get(key), expect))
                others = {k: v for k, v in got.items() if k not in (key, "config") and base.get(k) != v}
                if others:
                    errs.append("%s, %s: other keys changed too: %s" % (key, label, others))
            # The file named through FENCEPOST_CONFIG, and the flag over the variable.
            got = effective([], {"FENCEPOST_CONFIG": path})
            if got.get(key) != want[1]:
                errs.append("%s from FENCEPOST_CONFIG: %r, want %r" % (key, got.get(key), want[1]))
        assert not errs, "\n".join(errs)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_print_config_masks_secrets(w):
    d = tempfile.mkdtemp(prefix="fencepost-ops-config-")
    try:
        path = os.path.join(d, "secrets.toml")
        with open(path, "w") as f:
            f.write('requirepass = "file-pass-0451"\ncluster-secret = "file-secret-0452"\n')
        for label, args, env in (
            ("flags", ["--requirepass", "flag-pass-0453", "--cluster-secret", "flag-secret-0454"], {}),
            ("env", [], {"FENCEPOST_REQUIREPASS": "env-pass-0455", "FENCEPOST_CLUSTER_SECRET": "env-secret-0456"}),
            ("file", ["--config", path], {}),
        ):
            p = print_config(args, env)
            assert p.returncode == 0, (label, p.stderr)
            cfg = tomllib.loads(p.stdout)
            assert cfg.get("requirepass") == "********", (label, cfg.get("requirepass"))
            assert cfg.get("cluster-secret") == "********", (label, cfg.get("cluster-secret"))
            leaked = re.findall(r"(?:flag|env|file)-(?:pass|secret)-04\d\d", p.stdout + p.stderr)
            assert not leaked, (label, leaked)
        # No secret given: none shown (nothing to mask, nothing invented).
        cfg = effective()
        assert cfg.get("requirepass") in (None, ""), cfg.get("requirepass")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_config_unknown_key_names_key_and_file(w):
    d = tempfile.mkdtemp(prefix="fencepost-ops-config-")
    try:
        path = os.path.join(d, "typo.toml")
        with open(path, "w") as f:
            f.write("max-clients = 5\nmax-clientz = 10\n")
        for label, args, env in (("--config", ["--config", path], {}), ("FENCEPOST_CONFIG", [], {"FENCEPOST_CONFIG": path})):
            p = print_config(args, env)
            assert p.returncode == 2, (label, p.returncode, p.stdout, p.stderr)
            want = "unknown key 'max-clientz' in config file %s" % path
            assert want in p.stderr, (label, p.stderr)
            assert p.stdout == "", (label, p.stdout)
            # Starting the server (not just --print-config) refuses it the same way.
        p = subprocess.run([bin_path(), "--config", path, "--port", "0", "--data-dir", os.path.join(d, "data")],
                           capture_output=True, text=True, timeout=20)
        assert p.returncode == 2 and "unknown key 'max-clientz'" in p.stderr, (p.returncode, p.stderr)
        # A value of the wrong type is refused too, naming the setting.
        with open(path, "w") as f:
            f.write('max-clients = "many"\n')
        p = print_config(["--config", path])
        assert p.returncode == 2 and "max-clients" in p.stderr, (p.returncode, p.stderr)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_config_get_over_resp(w):
    """A single node configured through all three sources; CONFIG GET shows what won
    and masks the secrets."""
    d = tempfile.mkdtemp(prefix="fencepost-ops-configget-")
    proc = None
    try:
        port, raft, http = free_ports(3)
        path = os.path.join(d, "node.toml")
        with open(path, "w") as f:
            f.write('log-level = "warn"\nmax-clients = 111\nmax-args = 77\nfollower-mode = "redirect"\n')
        env = {k: v for k, v in os.environ.items() if not k.startswith("FENCEPOST_")}
        env.update({"FENCEPOST_MAX_CLIENTS": "4321", "FENCEPOST_CLUSTER_SECRET": "configget-secret-77",
                    "FENCEPOST_FOLLOWER_MODE": "proxy"})
        log = open(os.path.join(d, "log"), "ab")
        proc = track(subprocess.Popen(
            [bin_path(), "--config", path, "--port", str(port), "--raft-port", str(raft), "--data-dir",
             os.path.join(d, "data"), "--requirepass", "configget-pass-88", "--max-args", "99",
             "--metrics-addr", "127.0.0.1:%d" % http, "--worker-threads", "1"],
            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log))
        log.close()
        import redis
        r = redis.Redis(host="127.0.0.1", port=port, password="configget-pass-88", socket_timeout=5,
                        socket_connect_timeout=2)

        def up():
            try:
                return r.ping()
            except Exception:  # noqa: BLE001
                return False

        wait_until(15, "the node answers PING", up, interval=0.05)

        def get(glob):
            v = r.execute_command("CONFIG", "GET", glob)
            if isinstance(v, dict):
                return {text(k): text(x) for k, x in v.items()}
            return {text(v[i]): text(v[i + 1]) for i in range(0, len(v), 2)}

        everything = get("*")
        want = {"max-clients": "4321", "max-args": "99", "log-level": "warn", "follower-mode": "proxy",
                "requirepass": "********", "cluster-secret": "********", "port": str(port),
                "metrics-addr": "127.0.0.1:%d" % http}
        wrong = {k: (everything.get(k), v) for k, v in want.items() if everything.get(k) != v}
        assert not wrong, "CONFIG GET * (got, want): %s" % wrong
        flat = json.dumps(everything)
        assert "configget-pass-88" not in flat and "configget-secret-77" not in flat, flat
        maxes = get("max-*")
        assert set(maxes) == {"max-clients", "max-args", "max-value-bytes", "max-bulk-bytes", "max-input-bytes"}, maxes
        assert get("max-clients") == {"max-clients": "4321"}
        # Redis's names, which Redis tools ask for.
        assert get("maxclients") == {"maxclients": "4321"}, get("maxclients")
        assert get("append*") == {"appendonly": "yes", "appendfsync": "always"}, get("append*")
        assert get("databases") == {"databases": "1"}
        assert get("no-such-setting") == {}
        # And --print-config agrees with the running node on the same sources.
        p = subprocess.run([bin_path(), "--print-config", "--config", path, "--max-args", "99",
                            "--requirepass", "x"], capture_output=True, text=True, env=env, timeout=20)
        cfg = tomllib.loads(p.stdout)
        for k in ("max-clients", "max-args", "log-level", "follower-mode"):
            assert str(cfg[k]) == everything[k], (k, cfg[k], everything[k])
        r.close()
    finally:
        kill_proc(proc)
        shutil.rmtree(d, ignore_errors=True)


# ------------------------------------------------------------------ Prometheus


class Prometheus:
    def __init__(self, targets):
        self.bin = need_binary("prometheus", "prometheus")
        self.dir = tempfile.mkdtemp(prefix="fencepost-ops-prom-")
        self.port = free_ports(1)[0]
        cfg = ["global:", "  scrape_interval: 1s", "  scrape_timeout: 900ms", "  evaluation_interval: 1s",
               "scrape_configs:", "  - job_name: fencepost", "    static_configs:"]
        for node_id, addr in targets:
            cfg += ["      - targets: ['%s']" % addr, "        labels: {node: '%s'}" % node_id]
        self.cfg = os.path.join(self.dir, "prometheus.yml")
        with open(self.cfg, "w") as f:
            f.write("\n".join(cfg) + "\n")
        self.log_path = os.path.join(self.dir, "prometheus.log")
        log = open(self.log_path, "ab")
        self.proc = track(subprocess.Popen(
            [self.bin, "--config.file=%s" % self.cfg, "--storage.tsdb.path=%s" % os.path.join(self.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port, "--storage.tsdb.retention.time=1h",
             "--log.level=warn"], stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.dir))
        log.close()

    def log_tail(self, n=20):
        try:
            with open(self.log_path, "rb") as f:
                return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-n:])
        except OSError:
            return ""

    def ready(self):
        if self.proc.poll() is not None:
            raise Skip("prometheus exited %s at start: %s" % (self.proc.returncode, self.log_tail(10)))
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % self.port, timeout=2) as r:
                return r.status == 200
        except Exception:  # noqa: BLE001
            return False

    def query(self, q):
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (self.port, urllib.parse.urlencode({"query": q}))
        with urllib.request.urlopen(url, timeout=5) as r:
            doc = json.load(r)
        assert doc["status"] == "success", doc
        return [(s["metric"], float(s["value"][1])) for s in doc["data"]["result"]]

    def by_node(self, q):
        return {m.get("node"): v for m, v in self.query(q)}

    def targets(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/targets" % self.port, timeout=5) as r:
            doc = json.load(r)
        return [(t["labels"].get("node"), t["health"], t.get("lastError", "")) for t in doc["data"]["activeTargets"]]

    def stop(self):
        kill_proc(self.proc, signal.SIGTERM)
        shutil.rmtree(self.dir, ignore_errors=True)


def direct(node, q_family, sample, **labels):
    fams = families_of(node)[0]
    return value(fams, q_family, sample, **labels)


def test_prometheus_histograms_are_usable(w):
    """What PromQL makes of the histograms: every series has an le="+Inf" bucket equal
    to its _count, as histogram_quantile() needs."""
    prom = w.prom
    errs = []
    for h in ("fencepost_wal_fsync_seconds", "fencepost_raft_commit_seconds", "fencepost_command_seconds"):
        inf = prom.query('%s_bucket{le="+Inf"}' % h)
        count = prom.query("%s_count" % h)
        if len(inf) != len(count):
            les = sorted({m.get("le") for m, _ in prom.query("%s_bucket" % h)}, key=lambda x: (len(x), x))
            errs.append("%s: %d series have an le=\"+Inf\" bucket, %d have a _count (le values seen: %s)"
                        % (h, len(inf), len(count), les[-3:]))
            continue
        key = lambda m: tuple(sorted((k, v) for k, v in m.items() if k not in ("le", "__name__")))  # noqa: E731
        counts = {key(m): v for m, v in count}
        for m, v in inf:
            if counts.get(key(m)) != v:
                errs.append("%s%s: +Inf bucket %g, _count %s" % (h, dict(key(m)), v, counts.get(key(m))))
    # And the quantile: the median fsync must lie within the finite buckets' range.
    q = prom.query("histogram_quantile(0.5, sum by (node, le) (fencepost_wal_fsync_seconds_bucket))")
    note("prometheus: median WAL fsync by node (from the histogram): %s"
         % {m.get("node"): v for m, v in q})
    assert not errs, "\n".join(errs)


def test_prometheus_scrapes_the_cluster(w):
    c = w.cluster
    prom = w.prom
    # One leader; has_leader on every node.
    wait_until(10, "sum(fencepost_raft_is_leader) == 1",
               lambda: [v for _, v in prom.query("sum(fencepost_raft_is_leader)")] == [1.0], interval=0.25)
    has = prom.by_node("fencepost_raft_has_leader")
    assert has == {"1": 1.0, "2": 1.0, "3": 1.0}, has
    lead = c.leader()
    by = prom.by_node("fencepost_raft_is_leader")
    assert by.get(str(lead.id)) == 1.0 and sum(by.values()) == 1.0, (by, lead.id)

    # LOCK commands through one follower: its series rises by exactly what was sent,
    # split by result; the leader, which applied them, counts none of them.
    x = c.followers()[0]
    r = x.client()
    r.execute_command("LOCK", "INFO", uniq("ops-prom-warm"))  # the series exists before the baseline
    q = 'sum by (node, result) (fencepost_commands_total{command="LOCK"})'

    def settled_in_prom():
        got = {(m.get("node"), m.get("result")): v for m, v in prom.query(q)}
        want = {}
        for n in c.nodes:
            for res in ("ok", "error"):
                v = direct(n, "fencepost_commands", "fencepost_commands_total", command="LOCK", result=res)
                if v is not None:
                    want[(str(n.id), res)] = v
        return got if got == want else None

    base = wait_until(10, "prometheus has the nodes' current LOCK counts", settled_in_prom, interval=0.25)
    names = [uniq("ops-prom-lock") for _ in range(10)]
    sent_ok = sent_err = 0
    for nm in names:
        tok = r.execute_command("LOCK", "ACQUIRE", nm, "prom-owner", "60000")
        sent_ok += 1
        r.execute_command("LOCK", "INFO", nm)
        sent_ok += 1
        if nm in names[:5]:
            assert r.execute_command("LOCK", "RELEASE", nm, "prom-owner", tok) == 1
            sent_ok += 1
    from redis.exceptions import ResponseError
    for nm in names[:4]:
        try:
            got = r.execute_command("LOCK", "ACQUIRE", nm, "prom-owner", "not-a-number")
        except ResponseError:
            sent_err += 1
            continue
        raise AssertionError("LOCK ACQUIRE with ttl 'not-a-number' answered %r" % (got,))
    r.close()
    want = dict(base)
    want[(str(x.id), "ok")] = base.get((str(x.id), "ok"), 0) + sent_ok
    want[(str(x.id), "error")] = base.get((str(x.id), "error"), 0) + sent_err

    def counted():
        got = {(m.get("node"), m.get("result")): v for m, v in prom.query(q)}
        return got if got == want else None

    try:
        wait_until(10, "prometheus shows the %d LOCK commands sent through node %d" % (sent_ok + sent_err, x.id),
                   counted, interval=0.25)
    except AssertionError:
        got = {(m.get("node"), m.get("result")): v for m, v in prom.query(q)}
        raise AssertionError("LOCK counts in prometheus: %s\nwant: %s (sent %d ok + %d error through node %d; "
                             "the leader is node %d)" % (sorted(got.items()), sorted(want.items()), sent_ok,
                                                         sent_err, x.id, lead.id))
    time.sleep(2.2)  # two more scrapes: nothing counted twice
    assert counted(), prom.query(q)
    note("LOCK through node %d: +%d ok, +%d error in prometheus, other nodes unchanged"
         % (x.id, sent_ok, sent_err))

    # Leader changes rise on the survivors after the leader is SIGKILLed.
    lc = "fencepost_raft_leader_changes_total"
    survivors = [n for n in c.nodes if n is not lead]

    def lc_settled():
        got = prom.by_node(lc)
        want = {str(n.id): direct(n, "fencepost_raft_leader_changes", lc) for n in c.nodes}
        return got if got == want else None

    before = wait_until(10, "prometheus has the current leader changes", lc_settled, interval=0.25)
    t_kill = time.monotonic()
    w.killed.add(lead.id)
    lead.kill()
    new = wait_until(15, "a new leader among the survivors", c.settled, interval=0.05)
    t_elected = time.monotonic() - t_kill

    def risen():
        got = prom.by_node(lc)
        return got if all(got.get(str(n.id), 0) > before[str(n.id)] for n in survivors) else None

    after = wait_until(10, "%s rises on both survivors in prometheus" % lc, risen, interval=0.25)
    t_seen = time.monotonic() - t_kill
    wait_until(10, "sum(fencepost_raft_is_leader) == 1 again",
               lambda: [v for _, v in prom.query("sum(fencepost_raft_is_leader)")] == [1.0], interval=0.25)
    wait_until(10, "prometheus marks the killed node down",
               lambda: prom.by_node("up").get(str(lead.id)) == 0.0, interval=0.25)
    has = prom.by_node("fencepost_raft_has_leader")
    assert all(has.get(str(n.id)) == 1.0 for n in survivors), has
    assert prom.by_node("fencepost_raft_is_leader").get(str(new.id)) == 1.0
    note("killed leader %d: node %d elected after %.2fs; leader changes %s -> %s, seen by prometheus after %.2fs"
         % (lead.id, new.id, t_elected, {k: before[k] for k in sorted(before)},
            {k: after[k] for k in sorted(after)}, t_seen))


def status_rows(node):
    """The member rows of node's status page, with how long the page took:
    ({id: {"term", "commit", "applied", "lag"} or "unreachable"}, seconds)."""
    t0 = time.monotonic()
    status, ctype, html = node.get("/", timeout=10)
    took = time.monotonic() - t0
    assert status == 200 and ctype.startswith("text/html"), (node.id, status, ctype)
    rows = {}
    for nid, body in re.findall(r'<tr data-node="(\d+)">(.*?)</tr>', html, re.S):
        if 'class="bad unreachable"' in body:
            rows[int(nid)] = "unreachable"
        else:
            rows[int(nid)] = dict(re.findall(r'<td class="num (term|commit|applied|lag)">([^<]*)<', body))
    return rows, took


def test_status_page_shows_every_members_own_figures(w):
    """Every node's page shows each member's term, commit and applied index as that
    member reports them (not "-"), and lag; a member that is down shows as unreachable
    while the page still comes back. Runs after the Prometheus test, which killed the
    leader; if that test was skipped, a follower is killed here."""
    c = w.cluster
    lead = c.leader()
    r = lead.client()
    name = uniq("ops-status")
    for _ in range(10):
        tok = r.execute_command("LOCK", "ACQUIRE", name, "w1", "30000")
        assert r.execute_command("LOCK", "RELEASE", name, "w1", tok) == 1
    r.close()
    floor = int(lead.raft_info()["commit-index"])
    live = [n for n in c.nodes if n.alive()]
    ids = sorted(n.id for n in c.nodes)

    def all_figures():
        got = {}
        for n in live:
            rows, _ = status_rows(n)
            if sorted(rows) != ids:
                return None
            figs = [rows[m.id] for m in live]
            if any(f == "unreachable" or not all(f.get(k, "").isdigit() for k in ("term", "commit", "applied", "lag"))
                   for f in figs):
                return None
            if any(int(f["commit"]) < floor or int(f["applied"]) < floor for f in figs):
                return None
            if len({f["term"] for f in figs}) != 1:
                return None
            got[n.id] = rows
        return got

    pages = wait_until(10, "every live node's page shows every live member's own figures (commit >= %d)" % floor,
                       all_figures, interval=0.2)
    note("pages: %s" % {k: {m: (v if v == "unreachable" else "t%s c%s a%s lag%s" % (
        v["term"], v["commit"], v["applied"], v["lag"])) for m, v in rows.items()} for k, rows in pages.items()})
    down = [n for n in c.nodes if not n.alive()]
    if not down:
        victim = next(n for n in c.nodes if n is not lead)
        w.killed.add(victim.id)
        victim.kill()
        down = [victim]
    live = [n for n in c.nodes if n.alive()]

    def shows_down():
        out = {}
        for n in live:
            rows, took = status_rows(n)
            if any(rows.get(d.id) != "unreachable" for d in down):
                return None
            if any(rows.get(m.id) == "unreachable" for m in live):
                return None
            out[n.id] = took
        return out

    took = wait_until(10, "node(s) %s shown unreachable on the live nodes' pages" % [d.id for d in down],
                      shows_down, interval=0.2)
    assert all(t < 5 for t in took.values()), "a page waited on the dead member: %s" % took
    note("node(s) %s down: shown unreachable; pages took %s s" % (
        [d.id for d in down], ", ".join("%.2f" % t for t in took.values())))


# ------------------------------------------------------------------ /readyz under partition


def test_readyz_flips_when_cut_off_from_the_majority(w):
    import ops_netns as nx
    why = nx.preflight()
    if why:
        raise Skip(why)
    net = nx.Netns(3)
    preexisting = nx.existing()  # create() refuses to run beside them, and they stay
    d = tempfile.mkdtemp(prefix="fencepost-ops-netns-")
    budget = 2 * ELECTION_TIMEOUT_MS / 1000.0
    try:
        net.create()
        for i in (1, 2, 3):
            net.start_node(i, os.path.join(d, "data%d" % i), os.path.join(d, "node%d.log" % i))
        for i in (1, 2, 3):
            net.pollers[i] = nx.Poller(nx.node_ns(i))

        def status(i):
            s = net.pollers[i].last()
            return s[2] if s else None

        def all_ready():
            return all(status(i) == 200 for i in (1, 2, 3))

        def logs():
            out = []
            for i in (1, 2, 3):
                try:
                    with open(os.path.join(d, "node%d.log" % i), "rb") as f:
                        out.append("--- node %d ---\n%s" % (i, "\n".join(
                            f.read().decode("utf-8", "replace").splitlines()[-8:])))
                except OSError:
                    pass
            return "\n".join(out)

        if not nx.wait(all_ready, 30):
            raise AssertionError("not every node ready: %s\n%s" % ({i: net.pollers[i].last() for i in (1, 2, 3)},
                                                                   logs()))

        def leader():
            for i in (1, 2, 3):
                st, body = net.get(i, "/metrics")
                if st == 200 and re.search(r"^fencepost_raft_is_leader 1(\.0)?$", body, re.M):
                    return i
            return None

        def flip(i, t0, t1, want, timeout):
            """Waits until node i's /readyz has answered `want` (200, or anything else
            for 503) since t0 and goes on doing so; returns (seconds from t0 to the end
            of the first such answer, seconds from t1, that sample)."""
            def first():
                samples = net.pollers[i].since(t0)
                hit = None
                for s in samples:
                    ok = (s[2] == 200) if want == 200 else (s[2] == 503)
                    if ok and hit is None:
                        hit = s
                    elif not ok:
                        hit = None
                return hit

            s = nx.wait(first, timeout)
            if not s:
                raise AssertionError("node %d: /readyz never settled on %s within %.1fs of t0; samples since: %s"
                                     % (i, want, timeout, [x[2:] for x in net.pollers[i].since(t0)][-20:]))
            return s[1] - t0, s[1] - t1, s

        results = []
        for what in ("follower", "leader"):
            nx.wait(leader, 10)
            lead = leader()
            assert lead, "no leader\n" + logs()
            victim = lead if what == "leader" else next(i for i in (1, 2, 3) if i != lead)
            others = [i for i in (1, 2, 3) if i != victim]
            t0 = time.monotonic()
            net.cut(victim)
            t1 = time.monotonic()
            down, down1, sample = flip(victim, t0, t1, 503, 5)
            time.sleep(1.0)  # it stays 503 while cut off (flip() checks no 200 since)
            down_after, _, _ = flip(victim, t0, t1, 503, 0.1)
            assert abs(down_after - down) < 1e-9, "node %d answered 200 again while cut off" % victim
            # The majority side is (again) ready: the leader stays, or a new one is elected.
            for i in others:
                nx.wait(lambda: status(i) == 200, 10)
                assert status(i) == 200, ("node %d on the majority side" % i, net.pollers[i].last())
            maj_blip = {i: [s[2] for s in net.pollers[i].since(t0)].count(503) * 0.02 for i in others}
            new_lead = leader()
            t2 = time.monotonic()
            net.heal(victim)
            t3 = time.monotonic()
            up, up3, _ = flip(victim, t2, t3, 200, 15)
            nx.wait(all_ready, 10)
            assert all_ready(), {i: net.pollers[i].last() for i in (1, 2, 3)}
            time.sleep(0.3)
            heal_blip = {i: sum(1 for s in net.pollers[i].since(t2) if s[2] != 200) for i in others}
            after_lead = leader()
            results.append((what, victim, down, down1, sample[3], up, new_lead, maj_blip))
            note("%s (node %d) cut off: /readyz 503 after %.3fs (%.3fs after nft returned; budget %.3fs + %.3fs): "
                 "%r; majority side leader %s, 503 there for ~%s s; healed: 200 after %.3fs, then leader %s, "
                 "non-200 answers on the others during the heal %s"
                 % (what, victim, down, down1, budget, READYZ_ALLOWANCE_S, sample[3], new_lead,
                    {k: round(v, 2) for k, v in maj_blip.items()}, up, after_lead, heal_blip))
        slow = [r for r in results if r[2] > budget + READYZ_ALLOWANCE_S]
        assert not slow, "/readyz slower than two election timeouts (%.3fs) + %.3fs: %s" % (
            budget, READYZ_ALLOWANCE_S, [(r[0], r[1], round(r[2], 3)) for r in slow])
    finally:
        errs = net.destroy()
        shutil.rmtree(d, ignore_errors=True)
        left = [ns for ns in nx.existing() if ns not in preexisting]
        if errs or left:
            raise AssertionError("namespace cleanup: %s; left: %s" % (errs, left))


def main():
    # SIGTERM (a CI timeout, kill) unwinds like Ctrl-C: the finally blocks remove the
    # namespaces, and atexit kills every process started.
    def on_term(*_):
        print("interrupted by SIGTERM: cleaning up", flush=True)
        sys.exit(143)

    signal.signal(signal.SIGTERM, on_term)
    w = World()
    tally = OpsTally()
    tests = [test_config_precedence_flag_env_file_default, test_print_config_masks_secrets,
             test_config_unknown_key_names_key_and_file, test_config_get_over_resp,
             test_metrics_exposition_is_valid_openmetrics, test_metrics_names_types_and_values,
             test_metrics_series_bounded_after_10000_keys, test_status_page_in_headless_chromium,
             test_prometheus_histograms_are_usable, test_prometheus_scrapes_the_cluster,
             test_status_page_shows_every_members_own_figures, test_readyz_flips_when_cut_off_from_the_majority]
    t0 = time.monotonic()
    try:
        for t in selected(tests):
            tally.run(t.__name__, lambda: t(w))
            if w._cluster is not None:
                dead = [n for n in w._cluster.dead() if n.id not in w.killed]
                if dead:
                    tally.fail("node died during %s" % t.__name__,
                               "\n".join("node %d exit %s:\n%s" % (n.id, n.proc.returncode, n.log_tail(20))
                                         for n in dead))
                    break
    finally:
        w.stop()
    print("total %.1fs" % (time.monotonic() - t0))
    return tally.finish()


if __name__ == "__main__":
    sys.exit(main())
