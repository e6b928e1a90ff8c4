"""Benchmark (issue 30): `hawizard status` as a whole process against `etcdctl endpoint status
--cluster`, in the same interleaved rounds.

Run as root: `.venv/bin/python tests/bench/bench_status.py --plan PLAN [--rounds N]` against a
cluster that is up, or `--lab NAME [--nodes N]` to bring a lab up, apply it (untimed) and
remove it at the end.

Each round runs, in an order that rotates every round so load hits all alike:

- `hawizard status PLAN --json --etcd-only` (the fast path: etcd's members only),
- `hawizard status PLAN --json` (the full report: apiservers, the balancer over SSH, backup),
- `etcdctl endpoint status --cluster -w json` with the operator's `etcd-admin` certificate,
  the same CA, and the plan's first member as its seed endpoint.

For each: median wall time and median CPU time (user + sys of the child, which load does not
inflate the way it does wall time) and the ratio to etcdctl. The load average is printed
beside the figures. Target: the fast path ≤ 0.15 s whole-process on an idle machine.
`--compare DIR` adds another checkout's full `status --json` (e.g. the code before a change).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HAWIZARD = [sys.executable, "-m", "hawizard"]
TIMEOUT = 60


def timed(argv: list[str], code: str | None = None) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of the child, exit code) of one whole process; `code`: the
    checkout whose hawizard runs (PYTHONPATH; from outside any checkout, as `-m` puts the
    working directory first on sys.path)."""
    env = {**os.environ, "PYTHONPATH": code} if code else None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        argv,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
        env=env,
        cwd=tempfile.gettempdir(),
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{argv[:4]} exit {done.returncode}: {done.stderr[-1500:]!r}")
    json.loads(done.stdout)  # each contender must have given a full answer
    return wall, cpu, done.returncode


def etcdctl_argv(plan_path: str) -> list[str]:
    from hawizard.pki import paths, trusted_ca_file
    from hawizard.plan import load

    plan = load(plan_path)
    admin = paths(plan).etcd_admin
    first = plan.etcd_nodes[0]
    exe = Path(sys.executable).with_name("etcdctl")
    etcdctl = str(exe) if exe.exists() else shutil.which("etcdctl")
    if etcdctl is None:
        raise SystemExit("no etcdctl next to this python nor on PATH")
    return [
        etcdctl,
        f"--endpoints=https://{first.address}:{plan.etcd.client_port}",
        f"--cacert={trusted_ca_file(plan)}",
        f"--cert={admin.cert}",
        f"--key={admin.key}",
        "--command-timeout=2s",
        "endpoint",
        "status",
        "--cluster",
        "-w",
        "json",
    ]


def bench(plan: str, rounds: int, compare: str | None = None) -> None:
    cases: dict[str, tuple[list[str], str | None]] = {
        "status --etcd-only": ([*HAWIZARD, "status", plan, "--json", "--etcd-only"], None),
        "status (full)": ([*HAWIZARD, "status", plan, "--json"], None),
        "etcdctl": (etcdctl_argv(plan), None),
    }
    if compare:
        cases["status (full, compare)"] = ([*HAWIZARD, "status", plan, "--json"], compare)
    for argv, code in cases.values():  # warm the page cache
        timed(argv, code)
    walls: dict[str, list[float]] = {k: [] for k in cases}
    cpus: dict[str, list[float]] = {k: [] for k in cases}
    loads = []
    names = list(cases)
    for r in range(rounds):
        loads.append(os.getloadavg()[0])
        for name in names[r % len(names) :] + names[: r % len(names)]:
            wall, cpu, _ = timed(*cases[name])
            walls[name].append(wall)
            cpus[name].append(cpu)
    base_wall = statistics.median(walls["etcdctl"])
    base_cpu = statistics.median(cpus["etcdctl"])
    print(f"{rounds} interleaved rounds, load average {min(loads):.1f}–{max(loads):.1f}")
    print(f"{'':20} {'wall':>8} {'× etcdctl':>10} {'CPU':>8} {'× etcdctl':>10}")
    for name in names:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        print(f"{name:20} {wall:7.3f}s {wall / base_wall:9.2f}× {cpu:7.3f}s {cpu / base_cpu:9.2f}×")


def hw(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*HAWIZARD, *args], capture_output=True, text=True, timeout=900, check=False
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", help="plan of a running cluster")
    parser.add_argument("--lab", help="bring this lab up, apply it, bench, remove it")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument(
        "--compare", metavar="DIR", help="also time another checkout's full status (PYTHONPATH)"
    )
    args = parser.parse_args()
    if bool(args.plan) == bool(args.lab):
        parser.error("give --plan PLAN or --lab NAME")
    if args.plan:
        bench(args.plan, args.rounds, args.compare)
        return 0
    try:
        up = hw("lab", "up", "--name", args.lab, "--nodes", str(args.nodes))
        if up.returncode != 0:
            raise SystemExit(f"lab up failed: {up.stderr[-2000:]}")
        plan = json.loads(hw("lab", "status", "--name", args.lab, "--json").stdout)["plan"]
        applied = hw("apply", plan, "--yes")
        if applied.returncode != 0:
            raise SystemExit(f"apply failed: {applied.stdout[-2000:]}{applied.stderr[-2000:]}")
        bench(plan, args.rounds, args.compare)
    finally:
        hw("lab", "down", "--name", args.lab, "--purge")
    return 0


if __name__ == "__main__":
    sys.exit(main())
