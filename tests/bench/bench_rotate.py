"""Benchmark: `certs rotate` on a live cluster — leaf rotation of 3 and 5 members, etcd CA
rotation of 3 — with the failed requests a client saw during each.

Run as root: `.venv/bin/python tests/bench/bench_rotate.py [--repeat 3]`. One lab of 5 nodes
is brought up and each cluster rolled out untimed; each measured run is a whole rotation
(`hawizard.ops.rotate.rotate`, plan lock to cleared record) while `KvLoop` puts and gets a key
every 100 ms over a new TLS connection per request, retrying on the next endpoint. Prints the
median of the runs and the failed-request count beside each, and the ratios against the
3-member leaf rotation measured in the same run (5 members; the CA's three rolling phases).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from hawizard import pki
from hawizard.etcd.rollout import etcd_phases
from hawizard.journal import Journal
from hawizard.lab import Lab
from hawizard.lab.kv_loop import KvLoop, Trust
from hawizard.lab.preflight import lab_unavailable
from hawizard.ops.rotate import rotate
from hawizard.plan import dump, load
from hawizard.remote import HostPool
from hawizard.steps import EventKind, Runner

LAB_NAME = "hwbenchrot"


def cluster(lab: Lab, members: int, workdir: Path):
    folder = workdir / f"m{members}"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "pki").mkdir(parents=True, mode=0o700)
    path = folder / "plan.toml"
    dump(lab.plan(nodes=members, pki_dir=folder / "pki"), path)
    plan = load(path)
    pki.create(plan)
    lab.reset(*(n.name for n in plan.nodes))
    result = Runner(HostPool(plan), journal=Journal.for_plan(plan)).run(etcd_phases(plan))
    if not result.ok:
        raise SystemExit(f"rollout failed: {result.failures}")
    return path


def own_trust(path: Path, tag: str, ca: Path) -> Trust:
    layout = pki.paths(load(path))
    d = path.parent / "client" / tag
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    shutil.copyfile(ca, d / "ca.pem")
    shutil.copyfile(layout.etcd_admin.cert, d / "c.pem")
    shutil.copyfile(layout.etcd_admin.key, d / "k.pem")
    return Trust(d / "ca.pem", d / "c.pem", d / "k.pem")


def one_rotation(path: Path, ca: str | None) -> tuple[float, int, int]:
    """(seconds, failed requests, requests served) for one whole rotation."""
    plan = load(path)
    files = pki.rotation.ca_files(plan, pki.CA.ETCD)
    endpoints = [(n.address, plan.etcd.client_port) for n in plan.etcd_nodes]
    with KvLoop(endpoints, own_trust(path, "start", files.current.cert)) as loop:
        time.sleep(0.5)

        switched: set[str] = set()

        def follow(event) -> None:
            """The client follows the phases: the bundle from phase 1 on, its certificate from
            the new CA once phase 3 begins (the bundle still exists then)."""
            which = event.step[:7]
            phase_event = event.kind is EventKind.PHASE and which in ("phase 1", "phase 3")
            if phase_event and which not in switched:
                switched.add(which)
                loop.use(own_trust(path, which.replace(" ", ""), files.trust))

        def run(p, phases):
            return Runner(HostPool(p), journal=Journal.for_plan(p), listener=follow).run(phases)

        start = time.perf_counter()
        _, result = rotate(plan, run, ca=ca, all_leaves=True)
        seconds = time.perf_counter() - start
        if result is None or not result.ok:
            raise SystemExit(f"rotation failed: {result and result.failures}")
        loop.use(own_trust(path, "end", files.current.cert))
        time.sleep(0.5)
    missing = loop.missing()
    return seconds, loop.failed + len(missing), loop.ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (median is kept)")
    args = parser.parse_args()
    if reason := lab_unavailable():
        print(f"error: {reason}", file=sys.stderr)
        return 2
    lab = Lab(LAB_NAME)
    lab.down(purge=True)
    rows: dict[str, tuple[float, int, int]] = {}
    try:
        lab.up(nodes=5)
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            for label, members, ca in (
                ("leaf, 3 members", 3, None),
                ("CA etcd, 3 members", 3, "etcd"),
                ("leaf, 5 members", 5, None),
            ):
                path = cluster(lab, members, workdir)
                runs = [one_rotation(path, ca) for _ in range(args.repeat)]
                rows[label] = (
                    statistics.median(r[0] for r in runs),
                    sum(r[1] for r in runs),
                    sum(r[2] for r in runs),
                )
                print(f"  {label}: {', '.join(f'{r[0]:.1f}s/{r[1]} failed' for r in runs)}")
    finally:
        lab.down(purge=True)
    base = rows["leaf, 3 members"][0]
    print(f"\ncertificate rotation under load, median of {args.repeat} (lab, this machine)")
    print(f"{'case':<22}{'median':>9}{'ratio':>8}{'failed requests':>18}{'served':>9}")
    for label, (seconds, failed, served) in rows.items():
        print(f"{label:<22}{seconds:>8.1f}s{seconds / base:>7.2f}x{failed:>18}{served:>9}")
    return 0 if all(r[1] == 0 for r in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
