#!/usr/bin/env python3
"""Lock cycles per second from one Python process, on the same cluster in the same run:
  raw      LOCK ACQUIRE + LOCK RELEASE sent with raw execute_command (the baseline);
  lib      `with fencepost.Lock(...)`. Target: >= 0.9x raw (the package must cost little
           next to the network);
  redis-py redis-py's own `redis.lock.Lock` through the same client (`r.lock(name,
           timeout=...)`, `acquire(blocking=False)` + `release()`: SET NX PX + EVALSHA of
           its release script), as an unchanged redis-py application does it. Target
           (issue 19): >= 0.8x raw.

Each of --threads threads cycles its own lock name (uncontended), so the figure is the
client's cost plus the cluster's commit latency. Every lock gets the same --ttl-ms lease.
Modes take turns in --rounds rounds of --seconds each, the order rotating every round, so
drift of the machine hits them alike.

Run (starts a 3-node cluster from $FENCEPOST_BIN, default target/debug/fencepost):
    python3 benches/python/lock_cycles.py
or against a running cluster:
    python3 benches/python/lock_cycles.py --addrs 127.0.0.1:6379,127.0.0.1:6380
only raw against redis-py's Lock:
    python3 benches/python/lock_cycles.py --modes raw,redis-py
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT = os.path.join(HERE, "..", "..", "client", "python")
sys.path.insert(0, os.path.join(CLIENT, "src"))
sys.path.insert(0, os.path.join(CLIENT, "tests"))

import fencepost  # noqa: E402
from fpcluster import Cluster  # noqa: E402

MODES = ("raw", "lib", "redis-py")
LABELS = {
    "raw": "raw execute_command acquire+release:",
    "lib": "with fencepost.Lock(...):",
    "redis-py": "redis-py r.lock(...) acquire+release:",
}
TARGETS = {"lib": 0.9, "redis-py": 0.8}


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
    ap.add_argument("--modes", default=",".join(MODES),
                    help=f"comma-separated, from {','.join(MODES)} (raw is always run: the ratios' base)")
    ap.add_argument("--min-ratio", type=float, default=0.0,
                    help="exit 1 when fencepost.Lock/raw is below this")
    ap.add_argument("--min-redis-py-ratio", type=float, default=0.0,
                    help="exit 1 when redis-py Lock/raw is below this")
    args = ap.parse_args()
    modes = ["raw"] + [m for m in dict.fromkeys(args.modes.split(",")) if m and m != "raw"]
    for m in modes:
        if m not in MODES:
            ap.error(f"unknown mode {m!r}; modes are {', '.join(MODES)}")

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
    # Its own names: redis-py's lock is a string key, fencepost's a lock object.
    py_names = [f"bench-{run_id}-redis-py-{i}" for i in range(args.threads)]

    def raw(i: int) -> None:
        token = client.execute_command("LOCK", "ACQUIRE", names[i], owners[i], args.ttl_ms)
        assert token is not None
        client.execute_command("LOCK", "RELEASE", names[i], owners[i], token)

    def lib(i: int) -> None:
        with fencepost.Lock(client, names[i], ttl_ms=args.ttl_ms):
            pass

    def redis_py(i: int) -> None:
        lock = client.lock(py_names[i], timeout=args.ttl_ms / 1000)
        if not lock.acquire(blocking=False):
            raise AssertionError(f"redis-py Lock {py_names[i]} not granted (it is uncontended)")
        lock.release()

    fns: Dict[str, Callable[[int], None]] = {"raw": raw, "lib": lib, "redis-py": redis_py}
    try:
        for m in modes:
            run(args.threads, 1.0, fns[m])  # warm the pool, the cluster and each mode's scripts
        totals = {m: 0 for m in modes}
        elapsed = {m: 0.0 for m in modes}
        for r in range(args.rounds):
            k = r % len(modes)
            for mode in modes[k:] + modes[:k]:
                t0 = time.monotonic()
                totals[mode] += run(args.threads, args.seconds, fns[mode])
                elapsed[mode] += time.monotonic() - t0
        rates = {m: totals[m] / elapsed[m] for m in modes}
        print(f"cluster: {len(addrs)} node(s) {','.join(addrs)}; {args.threads} threads; "
              f"{args.rounds} rounds x {args.seconds:.0f} s per mode; cpus={os.cpu_count()}; "
              f"loadavg(1m)={os.getloadavg()[0]:.2f}")
        for m in modes:
            print(f"{LABELS[m]:<37} {rates[m]:8.1f} cycles/s ({totals[m]} cycles)")
        status = 0
        for m, floor in (("lib", args.min_ratio), ("redis-py", args.min_redis_py_ratio)):
            if m in rates:
                ratio = rates[m] / rates["raw"]
                what = "Lock/raw" if m == "lib" else "redis-py Lock/raw LOCK"
                print(f"ratio {what}: {ratio:.3f} (target >= {TARGETS[m]})")
                if ratio < floor:
                    status = 1
        return status
    finally:
        client.close()
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
