"""Benchmark: `hawizard etcd defrag` on a 3-member lab for a ~100 MB and a ~1 GB backend.

Run as root: `.venv/bin/python tests/bench/bench_defrag.py [--sizes 100,1000] [--lab NAME]`.
Per size (MB), from fresh disks: a rollout (untimed), then churn (untimed): 100 KB overwrites
over a key set sized so about a quarter of the writes stay live after compaction (the plan
keeps 100 revisions), filling each member's DB to about SIZE MB. A client (`KvLoop`: a new TLS
connection per request, each request starting on the next endpoint, put + get every 50 ms)
runs 10 s before the defragmentation (the baseline) and through it. Printed per size: each
member's DB before → after and the seconds it was blocked (the defragment call's duration,
as the operation reports it), the whole run's time, the client's p99 put latency before vs
during, and failed requests (failed, or acknowledged and not read back).
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from hawizard import pki
from hawizard.etcd.cluster_api import ClusterAPI, targets_for
from hawizard.etcd.rollout import etcd_phases
from hawizard.lab import Lab
from hawizard.lab.kv_loop import KvLoop, Trust
from hawizard.lab.preflight import lab_unavailable
from hawizard.ops.defrag import Defrag
from hawizard.plan import Plan, dump, load
from hawizard.remote import HostPool
from hawizard.steps import Runner

VALUE = 100_000
BASELINE_S = 10.0


def churn(plan: Plan, total: int, keys: int) -> None:
    nodes = list(plan.etcd_nodes)
    filler = "x" * VALUE

    def put(i: int) -> None:
        via = nodes[i % len(nodes)]
        body = {
            "key": base64.b64encode(f"/bench/{i % keys}".encode()).decode(),
            "value": base64.b64encode(f"{i}{filler}".encode()).decode(),
        }
        ClusterAPI(plan, targets_for(plan, [via, *nodes]), timeout=30).call("/v3/kv/put", body)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(put, range(total)))


def p99(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100)[98]


def case(lab: Lab, size_mb: int, workdir: Path) -> dict:
    lab.reset(*(n.name for n in lab.nodes[:3]))
    plan = lab.plan(nodes=3, pki_dir=workdir / "pki")
    path = workdir / f"plan-{size_mb}.toml"
    dump(replace(plan, etcd=replace(plan.etcd, defrag_keep_revisions=100)), path)
    plan = load(path)
    pki.create(plan)
    result = Runner(HostPool(plan)).run(etcd_phases(plan))
    if not result.ok:
        raise SystemExit(f"rollout failed: {result.failures}")
    writes = size_mb * 10  # 100 KB each
    start = time.perf_counter()
    churn(plan, writes, keys=max(1, writes // 4))
    fill_s = time.perf_counter() - start
    layout = pki.paths(plan)
    trust = Trust(layout.etcd_ca.cert, layout.etcd_admin.cert, layout.etcd_admin.key)
    endpoints = [(m.address, plan.etcd.client_port) for m in plan.etcd_nodes]
    with KvLoop(endpoints, trust, interval=0.05, rotate=True) as loop:
        time.sleep(BASELINE_S)
        began = time.monotonic()
        op = Defrag(plan).assess()
        op.begin(False)
        result = Runner(HostPool(plan)).run(op.phases())
        op.finish(result.ok)
        ended = time.monotonic()
        time.sleep(1.0)
    if not result.ok:
        raise SystemExit(f"defrag failed: {result.failures}")
    before = [d for t, d in loop.put_times if t < began]
    during = [d for t, d in loop.put_times if began <= t <= ended]
    return {
        "size_mb": size_mb,
        "fill_s": round(fill_s, 1),
        "defrag_s": round(ended - began, 2),
        "members": op.to_json()["members"],
        "p99_before_ms": round(1000 * p99(before), 1),
        "p99_during_ms": round(1000 * p99(during), 1),
        "puts_before": len(before),
        "puts_during": len(during),
        "failed": loop.failed + len(loop.missing()),
        "errors": loop.errors[:3],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000", help="DB sizes in MB (default 100,1000)")
    parser.add_argument("--lab", default="hwbenchdf", help="lab name (default hwbenchdf)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if reason := lab_unavailable():
        print(f"error: {reason}", file=sys.stderr)
        return 2
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    lab = Lab(args.lab)
    lab.down(purge=True)
    figures = []
    try:
        lab.up(nodes=3)
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            (workdir / "pki").mkdir(mode=0o700)
            for size in sizes:
                figures.append(case(lab, size, workdir))
                print(f"{size} MB done", file=sys.stderr, flush=True)
    finally:
        lab.down(purge=True)
    if args.json:
        print(json.dumps(figures, indent=2))
    for f in figures:
        members = ", ".join(
            f"{m['name']}{' (leader, last)' if m['led_at_start'] else ''} "
            f"{m['db_before'] / 1e6:.0f} → {m['db_after'] / 1e6:.0f} MB "
            f"blocked {m['blocked_s']:.2f} s"
            for m in f["members"]
        )
        print(
            f"~{f['size_mb']} MB: defrag {f['defrag_s']:.1f} s; {members}; client p99 put "
            f"{f['p99_before_ms']:.0f} ms before ({f['puts_before']} puts) vs "
            f"{f['p99_during_ms']:.0f} ms during ({f['puts_during']} puts); "
            f"{f['failed']} failed requests"
        )
    return 0 if all(f["failed"] == 0 for f in figures) else 1


if __name__ == "__main__":
    raise SystemExit(main())
