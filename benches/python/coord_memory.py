#!/usr/bin/env python3
"""Memory of a million coordination objects on one fencepost node, each case on a
fresh node in the same run (issue 17's target: 1M idle semaphores use no more memory
than 1M held locks).

Cases, each N names:
  locks          LOCK ACQUIRE l:i o 3600000 (held)
  idle-sems      SEMAPHORE ACQUIRE s:i h 10 3600000, then RELEASE (no holder left),
                 2,000 names at a time
  held-sems      SEMAPHORE ACQUIRE s:i h 10 3600000 (one permit held per name)
  rwlock-readers RWLOCK READ r:i o 3600000 (one reader per name)

For each it prints the node's VmRSS before and after (a snapshot taken, so the log
is compacted), the difference per name, and
DBSIZE (objects stored) and the snapshot's size per name. RSS also holds what the
fill's traffic left behind (the allocator keeps freed pages), so the snapshot size is
the cleaner figure of what the state machine stores. Run with a release build:
    cargo build --release -p fencepost-server
    python3 benches/python/coord_memory.py --bin target/release/fencepost
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import tempfile
import time
from typing import Callable, List

import redis

CHUNK = 2000


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pipelined(r: redis.Redis, n: int, make: Callable[[int], List[object]]) -> list:
    out: list = []
    for start in range(0, n, CHUNK):
        p = r.pipeline(transaction=False)
        for i in range(start, min(n, start + CHUNK)):
            p.execute_command(*make(i))
        out.extend(p.execute())
    return out


def case(binary: str, name: str, n: int) -> None:
    port, raft = free_port(), free_port()
    with tempfile.TemporaryDirectory() as data:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--raft-port", str(raft), "--data-dir", data],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            r = redis.Redis(port=port)
            deadline = time.time() + 20
            while True:
                try:
                    if r.execute_command("LOCK", "ACQUIRE", "warm", "o", "1") is not None:
                        break
                except redis.RedisError:
                    pass
                if time.time() > deadline:
                    raise RuntimeError("node did not start")
                time.sleep(0.1)
            time.sleep(1.0)
            before = rss_mib(proc.pid)
            t0 = time.time()
            if name == "locks":
                pipelined(r, n, lambda i: ["LOCK", "ACQUIRE", f"l:{i}", "o", "3600000"])
            elif name == "held-sems":
                pipelined(r, n, lambda i: ["SEMAPHORE", "ACQUIRE", f"s:{i}", "h", "10", "3600000"])
            elif name == "rwlock-readers":
                pipelined(r, n, lambda i: ["RWLOCK", "READ", f"r:{i}", "o", "3600000"])
            elif name == "idle-sems":
                # Used, then idle: each chunk of bulkheads is acquired and released
                # before the next, as semaphores that come and go in a service would.
                for start in range(0, n, CHUNK):
                    m = min(CHUNK, n - start)
                    toks = pipelined(r, m, lambda i: ["SEMAPHORE", "ACQUIRE", f"s:{start + i}", "h", "10", "3600000"])
                    done = pipelined(r, m, lambda i: ["SEMAPHORE", "RELEASE", f"s:{start + i}", "h", str(toks[i])])
                    assert all(x == 1 for x in done), "a release failed"
            else:
                raise SystemExit(f"unknown case {name}")
            fill = time.time() - t0
            # A snapshot compacts the log, so what is left is the objects' memory, not
            # the entries that made them (an idle semaphore costs two entries, a lock one).
            r.execute_command("RAFT", "SNAPSHOT")
            time.sleep(2.0)
            after = rss_mib(proc.pid)
            stored = r.dbsize()
            snap = sum(
                os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(os.path.join(data, "sm")) for f in fs
            )
            per = (after - before) * 1024 * 1024 / n
            print(
                f"| {name} | {n:,} | {stored:,} | {before:.1f} | {after:.1f} | "
                f"{after - before:.1f} | {per:.0f} | {snap / n:.1f} | {fill:.0f} |",
                flush=True,
            )
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("FENCEPOST_BIN", "target/release/fencepost"))
    ap.add_argument("-n", type=int, default=1_000_000)
    ap.add_argument("--cases", default="locks,idle-sems,held-sems,rwlock-readers")
    a = ap.parse_args()
    print(
        "| case | names | stored (DBSIZE) | RSS before MiB | RSS after MiB | delta MiB | RSS bytes/name "
        "| snapshot bytes/name | fill s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in a.cases.split(","):
        case(a.bin, c, a.n)


if __name__ == "__main__":
    main()
