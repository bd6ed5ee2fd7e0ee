#!/usr/bin/env python3
"""fdatasync latency on this disk with N processes syncing at once (a 3-node cluster on one
machine is 3 such writers): each appends (or overwrites in place) 700-byte records and
fdatasyncs after every one, for a few seconds. Prints syncs/s and p50/p90 per process.

    scripts/fsync-probe.py [--procs 3] [--seconds 3] [--dir /tmp] [--mode append|overwrite|both]

Used to weigh WAL designs: `both` compares appending (the file grows, so ext4 commits
metadata too) with overwriting a pre-written file (data only).
"""
import argparse
import multiprocessing as mp
import os
import time


def worker(mode, path, seconds, q):
    flags = os.O_RDWR | os.O_CREAT | os.O_TRUNC | (os.O_APPEND if mode == "append" else 0)
    fd = os.open(path, flags)
    try:
        if mode == "overwrite":
            os.write(fd, b"\0" * (64 << 20))
            os.fsync(fd)
            os.lseek(fd, 0, os.SEEK_SET)
        rec = b"x" * 700
        lat = []
        end = time.time() + seconds
        while time.time() < end:
            os.write(fd, rec)
            t = time.perf_counter()
            os.fdatasync(fd)
            lat.append(time.perf_counter() - t)
    finally:
        os.close(fd)
        os.unlink(path)
    lat.sort()
    q.put((len(lat) / seconds, lat[len(lat) // 2] * 1e6, lat[int(len(lat) * 0.9)] * 1e6))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--procs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--dir", default="/tmp")
    ap.add_argument("--mode", choices=["append", "overwrite", "both"], default="both")
    a = ap.parse_args()
    for mode in ["append", "overwrite"] if a.mode == "both" else [a.mode]:
        q = mp.Queue()
        ps = [
            mp.Process(target=worker, args=(mode, os.path.join(a.dir, f"fsync-probe-{os.getpid()}-{i}"), a.seconds, q))
            for i in range(a.procs)
        ]
        for p in ps:
            p.start()
        results = [q.get() for _ in ps]
        for p in ps:
            p.join()
        cells = " | ".join(f"{n:.0f}/s p50 {p50:.0f} µs p90 {p90:.0f} µs" for n, p50, p90 in results)
        print(f"{mode:9} {cells}")


if __name__ == "__main__":
    main()
