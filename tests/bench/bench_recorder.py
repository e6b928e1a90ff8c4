"""Benchmark: the flight recorder over a week of 2-second rounds of a 5-member cluster.

Run: `.venv/bin/python tests/bench/bench_recorder.py [--days 7] [--record-mb 100]` (no root,
no lab). Each round is a lab-recorded round (`tests/fixtures/health/lab-three-healthy.json`)
grown to 5 members, with latency, raft index and DB size moving and a member down for a
minute every hour, appended through `Store.append_round` one commit at a time, as the
dashboard does. Reports the append rate, the file's size against the bound, what the bound
kept, and the time to open a replay (open the store, read a 10-minute span, build the cursor
and its first frame) at spread-out points of what is kept.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ for fixtures.health

from fixtures.health import recorded

from hawizard.recorder import rounds
from hawizard.recorder.store import Store
from hawizard.tui.replay_cursor import ReplayCursor

EVERY_S = 2.0


def five_members():
    _plan, health = recorded("lab-three-healthy")
    extra = tuple(
        dataclasses.replace(health.members[-1], name=f"x11-n{i}", is_leader=False, id=f"{i:016x}")
        for i in (4, 5)
    )
    return dataclasses.replace(health, members=health.members + extra, member_count=5)


def record(args, key_every: int) -> dict:
    """Write the span with `key_every` (1: whole rounds only, the previous format) and
    measure the file and the replays."""
    base = five_members()
    total = int(args.days * 86400 / EVERY_S)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=total * EVERY_S)
    with tempfile.TemporaryDirectory(prefix="hawizard-bench-rec-") as tmp:
        path = Path(tmp) / "plan.record.sqlite"
        store = Store.open(path, max_days=args.days + 1, max_mb=args.record_mb)
        store.key_every = key_every
        t0 = time.perf_counter()
        for i in range(total):
            down = (i % 1800) < 30  # a minute down every hour
            members = tuple(
                dataclasses.replace(
                    m,
                    rtt_ms=1.0 + (i * (k + 1)) % 7 / 3,
                    raft_index=1000 + i * 3,
                    db_size=20480 + (i // 1000) * 4096,
                    healthy=m.healthy and not (down and k == 4),
                    reachable=m.reachable and not (down and k == 4),
                )
                for k, m in enumerate(base.members)
            )
            h = dataclasses.replace(
                base, members=members, checked_at=start + dt.timedelta(seconds=i * EVERY_S)
            )
            store.append_round(rounds.encode(h, [], ["x11-n1"]))
        write_s = time.perf_counter() - t0
        store.prune()
        store.close()
        size = os.path.getsize(path)
        timings = []
        with Store.open(path, max_days=args.days + 1, max_mb=args.record_mb) as s:
            first, last = s.span()
            (kept,) = s._conn.execute(
                "SELECT COUNT(*) FROM entries WHERE kind IN ('round', 'rdelta')"
            ).fetchone()
        for frac in (0.0, 0.25, 0.5, 0.75, 0.99):
            at = first + (last - first) * frac
            t = time.perf_counter()
            with Store.open(path, max_days=args.days + 1, max_mb=args.record_mb) as s:
                got = list(s.rounds(at, at + dt.timedelta(minutes=10)))
            cursor = ReplayCursor(got)
            cursor.index = len(got) - 1
            cursor.frame()
            timings.append(time.perf_counter() - t)
    return {
        "total": total,
        "append_ms": write_s / total * 1e3,
        "mib": size / 2**20,
        "bytes_per_round": size / max(kept, 1),
        "kept_days": kept * EVERY_S / 86400,
        "replay_ms_max": max(timings) * 1e3,
        "replay_ms_median": sorted(timings)[len(timings) // 2] * 1e3,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--record-mb", type=int, default=100)
    args = ap.parse_args()
    from hawizard.recorder.store import KEY_EVERY

    old = record(args, 1)
    new = record(args, KEY_EVERY)
    print(
        f"{new['total']} rounds written ({args.days:g} days every {EVERY_S:g} s, 5 members, "
        f"a member down a minute every hour), bound {args.record_mb} MiB"
    )
    print(f"{'':24}{'whole rounds (before)':>24}{'key frames + differences':>28}")
    rows = (
        ("file (MiB)", "mib", "{:.1f}"),
        ("bytes per round", "bytes_per_round", "{:.0f}"),
        ("days kept", "kept_days", "{:.2f}"),
        ("append (ms/round)", "append_ms", "{:.3f}"),
        ("replay open, median ms", "replay_ms_median", "{:.0f}"),
        ("replay open, worst ms", "replay_ms_max", "{:.0f}"),
    )
    for label, key, fmt in rows:
        print(f"{label:24}{fmt.format(old[key]):>24}{fmt.format(new[key]):>28}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
