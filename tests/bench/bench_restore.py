"""Benchmark: disaster recovery, `hawizard etcd restore` start → all members healthy, for 3
and 5 members, a ~10 MB snapshot, median of 3.

Run as root: `.venv/bin/python tests/bench/bench_restore.py [--repeat 3] [--mb 10]`. One lab of
5 nodes is brought up (untimed). Per cluster size: fresh disks, the rollout (timed: the
baseline, plan → healthy on empty members), ~10 MB of keys, one snapshot; then, `--repeat`
times: a majority of members lost for real (etcd stopped, data dir moved away), and the
restore run exactly as the CLI runs it (judging the snapshot and the cluster included). Printed:
to healthy (what the issue asks), the whole command (with the fresh snapshot and clean-up),
ratios restore / bootstrap and 5 / 3 members.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hawizard import pki
from hawizard.etcd.rollout import etcd_phases
from hawizard.etcd.snapshot import take_snapshot
from hawizard.journal import Journal
from hawizard.lab import Lab
from hawizard.lab.preflight import lab_unavailable
from hawizard.ops.restore import assess, execute
from hawizard.plan import dump, load
from hawizard.remote import Host, HostPool
from hawizard.steps import EventKind, Runner

LAB_NAME = "hwbenchrs"
ETCDCTL = Path(sys.executable).parent / "etcdctl"
DATA = "/var/lib/etcd"


def fill(plan, megabytes: int) -> None:
    """~`megabytes` MB of 10 KB values through `etcdctl txn` (100 puts, ~1 MB per txn)."""
    layout = pki.paths(plan)
    eps = ",".join(f"https://{n.url_host}:{plan.etcd.client_port}" for n in plan.etcd_nodes)
    argv = [
        str(ETCDCTL),
        f"--endpoints={eps}",
        "--command-timeout=30s",
        f"--cacert={layout.etcd_ca.cert}",
        f"--cert={layout.etcd_admin.cert}",
        f"--key={layout.etcd_admin.key}",
        "txn",
    ]
    for t in range(megabytes):
        # random text values: a snapshot that compresses like real data, not like "vvvv…"
        ops = "\n".join(
            f"put /bench/{t:03d}/{i:03d} v{secrets.token_urlsafe(7_500)}" for i in range(100)
        )
        r = subprocess.run(argv, input=f"\n{ops}\n\n\n", capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"filling etcd failed: {r.stderr}")


def lose_majority(lab: Lab, plan, run: int) -> None:
    lost = plan.etcd_nodes[len(plan.etcd_nodes) // 2 :]
    for n in lost:
        lab.exec(n.name, ["systemctl", "stop", "etcd"], timeout=60)
        lab.exec(n.name, ["mv", "-T", DATA, f"{DATA}.lost-{run}"])


def one_restore(plan_path: Path, snapshot: Path) -> tuple[float, float]:
    plan = load(plan_path)
    healthy_at: list[float] = []

    def listen(event) -> None:
        if event.step == "wait until every member is healthy" and event.kind is EventKind.CHANGED:
            healthy_at.append(time.perf_counter())

    def run(p, phases):
        return Runner(HostPool(p), journal=Journal.for_plan(p), listener=listen).run(phases)

    start = time.perf_counter()
    outcome = execute(assess(plan, snapshot), run)
    end = time.perf_counter()
    if not outcome.ok or not healthy_at:
        raise SystemExit(f"restore failed: {outcome.result.failures}")
    return healthy_at[0] - start, end - start


def case(lab: Lab, members: int, workdir: Path, repeat: int, mb: int) -> dict[str, float]:
    folder = workdir / f"m{members}"
    (folder / "pki").mkdir(parents=True, mode=0o700)
    path = folder / "plan.toml"
    dump(lab.plan(nodes=members, pki_dir=folder / "pki"), path)
    plan = load(path)
    pki.create(plan)
    lab.reset(*(n.name for n in plan.nodes))
    start = time.perf_counter()
    result = Runner(HostPool(plan), journal=Journal.for_plan(plan)).run(etcd_phases(plan))
    bootstrap = time.perf_counter() - start
    if not result.ok:
        raise SystemExit(f"rollout failed: {result.failures}")
    fill(plan, mb)
    with Host.from_plan(plan, plan.etcd_nodes[0]) as host:
        info = take_snapshot(host, plan, plan.etcd_nodes[0], folder / "bench.db")
    assert info is not None
    to_healthy, whole = [], []
    for run in range(repeat):
        lose_majority(lab, plan, run)
        healthy, total = one_restore(path, info.path)
        to_healthy.append(healthy)
        whole.append(total)
        print(
            f"  {members} members, run {run + 1}: healthy after {healthy:.2f} s, "
            f"command {total:.2f} s",
            flush=True,
        )
    return {
        "snapshot_mb": info.size / 1e6,
        "bootstrap": bootstrap,
        "healthy": statistics.median(to_healthy),
        "whole": statistics.median(whole),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="restores per size (median)")
    parser.add_argument("--mb", type=int, default=10, help="megabytes of keys to snapshot")
    args = parser.parse_args()
    if reason := lab_unavailable():
        print(f"error: {reason}", file=sys.stderr)
        return 2
    lab = Lab(LAB_NAME)
    lab.down(purge=True)
    try:
        lab.up(nodes=5)
        with tempfile.TemporaryDirectory() as tmp:
            results = {m: case(lab, m, Path(tmp), args.repeat, args.mb) for m in (3, 5)}
    finally:
        lab.down(purge=True)
    for m, r in results.items():
        print(
            f"{m} members, {r['snapshot_mb']:.1f} MB snapshot: restore → healthy "
            f"{r['healthy']:.2f} s (median of {args.repeat}), whole command {r['whole']:.2f} s; "
            f"bootstrap of empty members {r['bootstrap']:.2f} s "
            f"(restore / bootstrap = {r['healthy'] / r['bootstrap']:.2f}x)"
        )
    print(
        f"5 / 3 members (restore → healthy): {results[5]['healthy'] / results[3]['healthy']:.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
