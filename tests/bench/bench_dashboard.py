"""Benchmark (issue 30): the dashboard's and the wizard's first full frame, from process start.

Run as root: `.venv/bin/python tests/bench/bench_dashboard.py --plan PLAN [--rounds N]` against
a cluster that is up (e.g. a lab after `apply`).

Each measurement is a fresh Python process (the imports are part of what the operator waits
for) that runs the real `WizardApp` headless under Textual's pilot and prints how long after
its start the frame was complete:

- dashboard: `start="dashboard"` on PLAN, complete when every etcd member has its row in
  the members table (rows are only written from a real probe round's answers);
- wizard: `--plan PLAN` (the Nodes step), complete when the Nodes screen is mounted with one
  row per node of the plan.

`status --etcd-only` (a whole process, same plan) runs in the same interleaved rounds as the
same-run baseline: what the terminal shows without Textual. Medians; the load average is
printed beside them. Target: both frames ≤ 0.5 s on an idle machine. `--compare DIR` times
another checkout's frames in the same rounds (e.g. the code before a change, `git archive`).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import sys, time
start = time.monotonic()
import asyncio
from pathlib import Path

async def main(which, plan_file):
    from hawizard.plan import load
    from hawizard.tui.app import WizardApp
    plan = load(plan_file)
    app = WizardApp(plan, Path(plan_file), start="dashboard" if which == "dashboard" else None)
    names = {n.name for n in plan.etcd_nodes}

    def complete():
        screen = app.screen
        if which == "dashboard":
            if type(screen).__name__ != "DashboardScreen":
                return False
            from textual.widgets import DataTable
            table = screen.query_one("#members", DataTable)
            return {k.value for k in table.rows} >= names
        from textual.widgets import DataTable
        if type(screen).__name__ != "NodesScreen" or not screen.is_mounted:
            return False
        tables = list(screen.query(DataTable))
        return any(t.row_count >= len(plan.nodes) for t in tables)

    async with app.run_test(size=(160, 50)) as pilot:
        while not complete():
            if time.monotonic() - start > 30:
                raise SystemExit("not complete after 30 s")
            await pilot.pause(0.005)
        print(f"{time.monotonic() - start:.4f}")

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


CPU: dict[str, list[float]] = {}


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def child_seconds(which: str, plan: str, code: str | None = None) -> float:
    """Seconds from the child's own start to its complete frame, plus the interpreter's start
    before it (measured from here). The child's whole CPU time (to its exit, a little past
    the frame) goes to CPU[which]."""
    env = {**os.environ, "PYTHONPATH": code} if code else None
    start, cpu = time.monotonic(), _children_cpu()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, which, plan],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tempfile.gettempdir(),  # `-c` puts the working directory first on sys.path
    )
    total = time.monotonic() - start
    CPU.setdefault(which + (" (compare)" if code else ""), []).append(_children_cpu() - cpu)
    if done.returncode != 0:
        raise SystemExit(f"{which}: {done.stderr[-2000:]}")
    inside = float(done.stdout.strip().splitlines()[-1])
    return min(total, inside + _interpreter_start())


_START: list[float] = []


def _interpreter_start() -> float:
    """The bare interpreter's start (`python -c pass`), measured once per round."""
    return _START[-1] if _START else 0.0


def status_seconds(plan: str) -> float:
    start, cpu = time.monotonic(), _children_cpu()
    subprocess.run(
        [sys.executable, "-m", "hawizard", "status", plan, "--json", "--etcd-only"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    CPU.setdefault("status --etcd-only", []).append(_children_cpu() - cpu)
    return time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", required=True, help="plan of a running cluster")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--compare", metavar="DIR", help="also time another checkout's hawizard (PYTHONPATH=DIR)"
    )
    args = parser.parse_args()
    cases = {
        "dashboard": lambda: child_seconds("dashboard", args.plan),
        "wizard": lambda: child_seconds("wizard", args.plan),
        "status --etcd-only": lambda: status_seconds(args.plan),
    }
    if args.compare:
        for which in ("dashboard", "wizard"):
            cases[f"{which} (compare)"] = lambda w=which: child_seconds(w, args.plan, args.compare)
    times: dict[str, list[float]] = {k: [] for k in cases}
    loads = []
    names = list(cases)
    for r in range(args.rounds):
        loads.append(os.getloadavg()[0])
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        _START.append(time.monotonic() - t0)
        for name in names[r % len(names) :] + names[: r % len(names)]:
            times[name].append(cases[name]())
    print(f"{args.rounds} interleaved rounds, load average {min(loads):.1f}–{max(loads):.1f}")
    base = statistics.median(times["status --etcd-only"])
    for name in names:
        med = statistics.median(times[name])
        spread = f"{min(times[name]):.3f}–{max(times[name]):.3f}"
        cpu = statistics.median(CPU[name])
        print(
            f"{name:20} median {med:.3f} s ({spread})  {med / base:.2f}× status --etcd-only"
            f"  CPU {cpu:.3f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
