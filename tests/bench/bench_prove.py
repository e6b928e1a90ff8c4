"""Benchmark: `lab prove` over N rounds — per operation the spread (min, median, max) of the
write stall, the p99 write latency during the operation, failed and lost requests.

Each round builds a fresh cluster on the same lab (`lab.reset` of every node), so rounds are
independent. Run as root: `.venv/bin/python tests/bench/bench_prove.py [--rounds 3]
[--ops all] [--name xb29]`. It brings up its own lab and removes it at the end. This is also
where the operations that do not fit CI's 10 minutes run (see tests/lab/test_prove_lab.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

from hawizard.cli.prove_cmd import parse_ops
from hawizard.lab.preflight import lab_unavailable
from hawizard.lab.prove.harness import prove


def spread(values: list[float]) -> str:
    if not values:
        return "—"
    return f"{min(values):g} / {statistics.median(values):g} / {max(values):g}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ops", default="all")
    parser.add_argument("--name", default="xb29")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    reason = lab_unavailable()
    if reason:
        print(f"skipped: {reason}", file=sys.stderr)
        return 2
    reports = prove(
        args.name,
        parse_ops(args.ops, False),
        rounds=args.rounds,
        say=lambda line: print(f"  {line}", file=sys.stderr),
    )
    by_op: dict[str, list] = {}
    for r in reports:
        by_op.setdefault(r.op, []).append(r)
    rows = {}
    for op, rs in by_op.items():
        rows[op] = {
            "rounds": len(rs),
            "ok": sum(r.ok for r in rs),
            "lost": sum(r.lost for r in rs),
            "failed": [r.failed for r in rs],
            "stall_s": [r.stall_s for r in rs],
            "p99_ms_during": [r.p99_ms_during for r in rs if r.p99_ms_during is not None],
            "duration_s": [r.duration_s for r in rs],
        }
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"{'op':16} {'ok':>5} {'lost':>4}  failed (min/med/max)  stall s  p99 during ms")
        for op, row in rows.items():
            print(
                f"{op:16} {row['ok']:>2}/{row['rounds']:<2} {row['lost']:>4}  "
                f"{spread(row['failed']):20} {spread(row['stall_s']):16} "
                f"{spread(row['p99_ms_during'])}"
            )
        for r in reports:
            if r.note:
                print(f"  round {r.round} {r.op}: {r.verdict} — {r.note}")
    return 0 if all(r.ok for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
