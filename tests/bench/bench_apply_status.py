"""Benchmark (issue 23 item 3): `hawizard apply && hawizard status` on a fresh lab, N times.

Each run is what a new user does: `lab up --nodes 3` (fresh disks: the lab is purged first),
`apply` of the lab's own plan (vip mode, the default) with `--yes`, then `status` at once.
Prints per run the exit codes, apply's duration and how long apply's endpoint wait took, then
how many runs had `apply && status` exit 0.

Run as root: `.venv/bin/python tests/bench/bench_apply_status.py [--runs 10] [--name xb23]`.
The lab is removed (with its disks) at the end.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time

HAWIZARD = [sys.executable, "-m", "hawizard"]


def hw(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*HAWIZARD, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def one_run(name: str) -> tuple[int, int, float, str]:
    hw("lab", "down", "--name", name, "--purge")
    up = hw("lab", "up", "--name", name, "--nodes", "3")
    if up.returncode != 0:
        raise SystemExit(f"lab up failed: {up.stderr[-2000:]}")
    plan = json.loads(hw("lab", "status", "--name", name, "--json").stdout)["plan"]
    start = time.monotonic()
    applied = hw("apply", plan, "--yes", "--verbose")
    took = time.monotonic() - start
    status = hw("status", plan)
    waited = re.search(r"answers TCP \(([0-9.]+) s after", applied.stdout)
    note = f"wait {waited.group(1)} s" if waited else "no wait line"
    if status.returncode != 0:
        note += " | " + " / ".join(line for line in status.stdout.splitlines() if "•" in line)
    return applied.returncode, status.returncode, took, note


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--name", default="xb23", help="lab name (removed at the end)")
    args = parser.parse_args()
    ok = 0
    try:
        for i in range(args.runs):
            a, s, took, note = one_run(args.name)
            ok += a == 0 and s == 0
            print(f"run {i + 1}: apply {a} ({took:.1f} s), status {s}  {note}", flush=True)
    finally:
        hw("lab", "down", "--name", args.name, "--purge")
    print(f"apply && status exit 0: {ok}/{args.runs}")
    return 0 if ok == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
