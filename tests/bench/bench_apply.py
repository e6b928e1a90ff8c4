"""Benchmark: plan → all members healthy, for 3 and 5 members, `--parallel 1` vs the default.

Run as root: `.venv/bin/python tests/bench/bench_apply.py [--repeat N]`. One lab of 5 nodes is
brought up (untimed); each measured run starts from fresh node disks (`lab.reset`) and times
the whole etcd rollout, from the first SSH connection to a converged cluster. The baseline is
the same rollout with one node at a time, measured in the same run. Target: 5 members take at
most 1.3× as long as 3 with the default parallelism.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from hawizard import pki
from hawizard.etcd.rollout import etcd_phases
from hawizard.lab import Lab
from hawizard.lab.preflight import lab_unavailable
from hawizard.remote import HostPool
from hawizard.steps import Runner

LAB_NAME = "hwbenchap"


def rollout_seconds(lab: Lab, members: int, parallel: int, workdir: Path) -> float:
    plan = lab.plan(nodes=members, pki_dir=workdir / "pki")
    pki.create(plan)  # local certificates are not what we measure
    lab.reset(*(n.name for n in plan.nodes))
    start = time.perf_counter()
    result = Runner(HostPool(plan), parallel=parallel).run(etcd_phases(plan))
    seconds = time.perf_counter() - start
    if not result.ok:
        raise SystemExit(f"rollout failed: {result.failures}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="runs per case (best is kept)")
    args = parser.parse_args()
    if reason := lab_unavailable():
        print(f"error: {reason}", file=sys.stderr)
        return 2
    lab = Lab(LAB_NAME)
    lab.down(purge=True)
    try:
        lab.up(nodes=5)
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            (workdir / "pki").mkdir(mode=0o700)
            times = {
                (members, parallel): min(
                    rollout_seconds(lab, members, parallel, workdir) for _ in range(args.repeat)
                )
                for members in (3, 5)
                for parallel in (1, 10)
            }
    finally:
        lab.down(purge=True)
    for (members, parallel), seconds in times.items():
        print(f"{members} members, --parallel {parallel:>2}: {seconds:6.2f} s")
    for members in (3, 5):
        ratio = times[(members, 1)] / times[(members, 10)]
        print(f"{members} members: --parallel 1 / default = {ratio:.2f}x")
    scale = times[(5, 10)] / times[(3, 10)]
    print(f"5 / 3 members (default parallelism): {scale:.2f}x (target <= 1.3x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
