#!/usr/bin/env python3
"""Lock cycles per second from one Python process: `with fencepost.Lock(...)` against
the same LOCK ACQUIRE + LOCK RELEASE sent with raw execute_command, on the same cluster
in the same run. Target: the package at >= 0.9x raw (it must cost little next to the
network).

Each of --threads threads cycles its own lock name (uncontended), so the figure is the
client's cost plus the cluster's commit latency. Modes alternate in --rounds rounds of
--seconds each, so drift of the machine hits both alike.

Run (starts a 3-node cluster from $FENCEPOST_BIN, default target/debug/fencepost):
    python3 benches/python/lock_cycles.py
or against a running cluster:
    python3 benches/python/lock_cycles.py --addrs 127.0.0.1:6379,127.0.0.1:6380
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from typing import Any, Callable, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT = os.path.join(HERE, "..", "..", "client", "python")
sys.path.insert(0, os.path.join(CLIENT, "src"))
sys.path.insert(0, os.path.join(CLIENT, "tests"))

import fencepost  # noqa: E402
from fpcluster import Cluster  # noqa: E402


def run(threads: int, seconds: float, cycle: Callable[[int], None]) -> int:
    """Cycles completed by `threads` threads in `seconds`."""
    stop = time.monotonic() + seconds
    counts = [0] * threads
    errors: List[BaseException] = []

    def worker(i: int) -> None:
        try:
            while time.monotonic() < stop:
                cycle(i)
                counts[i] += 1
        except BaseException as e:  # report, do not hide
            errors.append(e)

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]
    return sum(counts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--addrs", help="comma-separated host:port of a running cluster")
    ap.add_argument("--threads", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--ttl-ms", type=int, default=30_000)
    ap.add_argument("--min-ratio", type=float, default=0.0, help="exit 1 below this ratio")
    args = ap.parse_args()

    cluster: Optional[Cluster] = None
    if args.addrs:
        addrs = args.addrs.split(",")
    else:
        cluster = Cluster(3)
        addrs = cluster.addrs
    client: Any = fencepost.connect(addrs, max_connections=args.threads + 8)
    run_id = f"{os.getpid()}-{time.monotonic_ns()}"
    names = [f"bench-{run_id}-{i}" for i in range(args.threads)]
    owners = [f"raw-{run_id}-{i}" for i in range(args.threads)]

    def raw(i: int) -> None:
        token = client.execute_command("LOCK", "ACQUIRE", names[i], owners[i], args.ttl_ms)
        assert token is not None
        client.execute_command("LOCK", "RELEASE", names[i], owners[i], token)

    def lib(i: int) -> None:
        with fencepost.Lock(client, names[i], ttl_ms=args.ttl_ms):
            pass

    try:
        run(args.threads, 1.0, raw)  # warm the pool and the cluster
        totals = {"raw": 0, "lib": 0}
        elapsed = {"raw": 0.0, "lib": 0.0}
        for r in range(args.rounds):
            for mode, fn in (("raw", raw), ("lib", lib)) if r % 2 == 0 else (("lib", lib), ("raw", raw)):
                t0 = time.monotonic()
                totals[mode] += run(args.threads, args.seconds, fn)
                elapsed[mode] += time.monotonic() - t0
        raw_rate = totals["raw"] / elapsed["raw"]
        lib_rate = totals["lib"] / elapsed["lib"]
        ratio = lib_rate / raw_rate
        print(f"cluster: {len(addrs)} node(s) {','.join(addrs)}; {args.threads} threads; "
              f"{args.rounds} rounds x {args.seconds:.0f} s per mode; cpus={os.cpu_count()}; "
              f"loadavg(1m)={os.getloadavg()[0]:.2f}")
        print(f"raw execute_command acquire+release: {raw_rate:8.1f} cycles/s ({totals['raw']} cycles)")
        print(f"with fencepost.Lock(...):            {lib_rate:8.1f} cycles/s ({totals['lib']} cycles)")
        print(f"ratio Lock/raw: {ratio:.3f} (target >= 0.9)")
        return 1 if ratio < args.min_ratio else 0
    finally:
        client.close()
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
