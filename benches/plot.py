#!/usr/bin/env python3
"""Plots for fencepost-bench: throughput against clients per workload, and latency CDFs
at 50 clients. Usage: plot.py RESULTS_JSON OUT_DIR (writes throughput.png, latency-cdf.png)."""

import json
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on a bench machine
import matplotlib.pyplot as plt  # noqa: E402

TARGETS = ["fencepost-1", "fencepost-3", "redis-always", "redis-none", "etcd-3"]
COLORS = {
    "fencepost-1": "tab:blue",
    "fencepost-3": "tab:green",
    "redis-always": "tab:red",
    "redis-none": "tab:orange",
    "etcd-3": "tab:purple",
}
WORKLOADS = ["lock-cycle", "contended", "token-bucket", "idempotency"]
CDF_CLIENTS = 50


def grid(n):
    """A near-square grid of n axes, returned flat, with unused ones hidden."""
    cols = 1 if n == 1 else 2
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 4.2 * rows), squeeze=False)
    flat = [a for row in axes for a in row]
    for a in flat[n:]:
        a.set_visible(False)
    return fig, flat[:n]


def subtitle(report):
    m = report["machine"]
    return (f"{m['nproc']} CPUs ({m['cpu_model']}), load {m['loadavg_at_start']} at start; "
            f"{report['mode']} run {report['date']}")


def throughput(report, out):
    rows = [r for r in report["rows"] if r["status"] == "ok"]
    workloads = [w for w in WORKLOADS if any(r["workload"] == w for r in rows)]
    if not workloads:
        return
    fig, axes = grid(len(workloads))
    for ax, w in zip(axes, workloads):
        for t in TARGETS:
            for pipe, style in ((1, "-"), (16, "--")):
                pts = sorted((r["clients"], r["ops_per_sec"]) for r in rows
                             if r["workload"] == w and r["target"] == t and r["pipeline"] == pipe)
                if pts:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], style, marker="o",
                            color=COLORS.get(t), label=f"{t} pipe {pipe}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(w)
        ax.set_xlabel("clients")
        ax.set_ylabel("ops/s")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Throughput against clients\n" + subtitle(report), fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "throughput.png", dpi=110)
    plt.close(fig)


def latency_cdf(report, out):
    rows = [r for r in report["rows"]
            if r["status"] == "ok" and r["clients"] == CDF_CLIENTS and r["cdf"]]
    workloads = [w for w in WORKLOADS if any(r["workload"] == w for r in rows)]
    if not workloads:
        return
    fig, axes = grid(len(workloads))
    for ax, w in zip(axes, workloads):
        for t in TARGETS:
            for pipe, style in ((1, "-"), (16, "--")):
                r = next((r for r in rows
                          if r["workload"] == w and r["target"] == t and r["pipeline"] == pipe), None)
                if r is None:
                    continue
                ms = [max(p[1], 0.001) for p in r["cdf"]]
                q = [p[0] for p in r["cdf"]]
                ax.plot(ms, q, style, color=COLORS.get(t), label=f"{t} pipe {pipe}")
        ax.set_xscale("log")
        ax.set_title(f"{w}, {CDF_CLIENTS} clients")
        ax.set_xlabel("latency per op (ms)")
        ax.set_ylabel("fraction of ops at or below")
        ax.set_ylim(0, 1.01)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Latency CDF\n" + subtitle(report), fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "latency-cdf.png", dpi=110)
    plt.close(fig)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    report = json.loads(Path(sys.argv[1]).read_text())
    out = Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    throughput(report, out)
    latency_cdf(report, out)
    print(f"plots in {out}")


if __name__ == "__main__":
    main()
