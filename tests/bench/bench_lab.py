"""Benchmark: `lab up` for 3 and 5 nodes with a warm base cache; prints seconds and the 5/3 ratio.

Run as root: `.venv/bin/python tests/bench/bench_lab.py [--repeat N]`. Each lab is brought up
from scratch (purged first), timed until every sshd answers, and removed again; the base image
is built (untimed) first if it is not cached yet. The best of N runs is reported, since the
first boots can be slowed by page cache misses.
"""

from __future__ import annotations

import argparse
import sys
import time

from hawizard.lab import Lab
from hawizard.lab.preflight import lab_unavailable
from hawizard.lab.rootfs import ensure_base

LAB_NAME = "hwbench"


def time_up(nodes: int) -> float:
    lab = Lab(LAB_NAME)
    lab.down(purge=True)
    try:
        start = time.perf_counter()
        lab.up(nodes=nodes)
        return time.perf_counter() - start
    finally:
        lab.down(purge=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (best is kept)")
    args = parser.parse_args()
    if reason := lab_unavailable():
        print(f"error: {reason}", file=sys.stderr)
        return 2
    ensure_base()  # warm cache: the build is not what we measure
    best = {n: min(time_up(n) for _ in range(args.repeat)) for n in (3, 5)}
    for n, seconds in best.items():
        print(f"lab up, {n} nodes: {seconds:.2f} s (best of {args.repeat})")
    print(f"5/3 ratio: {best[5] / best[3]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
