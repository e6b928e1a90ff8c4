"""Benchmark: quorum lost, `hawizard etcd recover` start → first accepted write → all members
healthy, for 3 and 5 members with ~10 MB of keys, median of 3.

Run as root: `.venv/bin/python tests/bench/bench_recover.py [--repeat 3] [--mb 10]`. One lab
of 5 nodes is brought up (untimed). Per cluster size: fresh disks, the rollout, ~10 MB of keys;
then, `--repeat` times: a majority of members lost for real (etcd stopped, data dir moved
away), and the recovery run as the CLI runs it (through the operation driver: the quorum gate
and the survey included). Printed: to the first accepted write (the survivor serving alone
after `--force-new-cluster`), to every member healthy, and the whole command (with the fresh
snapshot).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_restore import fill, lose_majority

from hawizard import pki
from hawizard.etcd.rollout import etcd_phases
from hawizard.journal import Journal
from hawizard.lab import Lab
from hawizard.lab.preflight import lab_unavailable
from hawizard.ops.operation import drive
from hawizard.ops.recover import RecoverOperation
from hawizard.plan import dump, load
from hawizard.remote import HostPool
from hawizard.steps import Runner

LAB_NAME = "hwv10rc"


def one_recover(plan_path: Path) -> tuple[float, float, float]:
    plan = load(plan_path)
    op = RecoverOperation(f"hawizard etcd recover {plan_path}")

    def run(p, phases):
        return Runner(HostPool(p), journal=Journal.for_plan(p)).run(phases)

    driven = drive(op, plan, run)
    end = time.monotonic()
    r = op.run
    if not driven.ok or r is None or r.first_write_at is None or r.healthy_at is None:
        raise SystemExit(f"recover failed: {driven.result.failures if driven.result else '?'}")
    return r.first_write_at - op.started, r.healthy_at - op.started, end - op.started


def case(lab: Lab, members: int, workdir: Path, repeat: int, mb: int) -> dict[str, float]:
    folder = workdir / f"m{members}"
    (folder / "pki").mkdir(parents=True, mode=0o700)
    path = folder / "plan.toml"
    dump(lab.plan(nodes=members, pki_dir=folder / "pki"), path)
    plan = load(path)
    pki.create(plan)
    lab.reset(*(n.name for n in plan.nodes))
    result = Runner(HostPool(plan), journal=Journal.for_plan(plan)).run(etcd_phases(plan))
    if not result.ok:
        raise SystemExit(f"rollout failed: {result.failures}")
    fill(plan, mb)
    first, healthy, whole = [], [], []
    for run in range(repeat):
        lose_majority(lab, plan, run)
        f, h, w = one_recover(path)
        first.append(f)
        healthy.append(h)
        whole.append(w)
        print(
            f"  {members} members, run {run + 1}: first write {f:.2f} s, all healthy {h:.2f} s, "
            f"command {w:.2f} s",
            flush=True,
        )
    return {
        "first": statistics.median(first),
        "healthy": statistics.median(healthy),
        "whole": statistics.median(whole),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="recoveries per size (median)")
    parser.add_argument("--mb", type=int, default=10, help="megabytes of keys")
    parser.add_argument("--sizes", default="3,5", help="cluster sizes, e.g. 3 or 3,5")
    args = parser.parse_args()
    if reason := lab_unavailable():
        print(f"error: {reason}", file=sys.stderr)
        return 2
    sizes = [int(x) for x in args.sizes.split(",")]
    lab = Lab(LAB_NAME)
    lab.down(purge=True)
    try:
        lab.up(nodes=max(sizes))
        with tempfile.TemporaryDirectory() as tmp:
            results = {m: case(lab, m, Path(tmp), args.repeat, args.mb) for m in sizes}
    finally:
        lab.down(purge=True)
    for m, r in results.items():
        print(
            f"{m} members, {args.mb} MB of keys, {m - m // 2} lost: first write "
            f"{r['first']:.2f} s, all healthy {r['healthy']:.2f} s, whole command "
            f"{r['whole']:.2f} s (medians of {args.repeat})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
