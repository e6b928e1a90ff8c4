"""Benchmark: one health round (`hawizard.etcd.probe.cluster_health`) vs
`etcdctl endpoint status --cluster`, for 3 and 5 local members, and with one member blackholed.

Run: `.venv/bin/python tests/bench/bench_health.py [--repeat N]` (no root needed). Each cluster
is a real etcd 3.5.1 cluster on 127.0.0.11… with mutual TLS from the project's PKI (the
`local_etcd` test fixture); etcdctl is the venv's, with the same CA and `etcd-admin` cert, run
in the same process tree right after ours. The median of N runs is reported (etcdctl's time
includes starting the Go binary, which is part of what an operator waits for).

"Blackholed" is a member whose etcd is killed and whose address:port is taken by a listener
that accepts and never answers (the lab's nft blackhole is the real-network version). Both
tools get the same 2 s budget: hawizard's default probe timeout, etcdctl's `--command-timeout`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ for fixtures.local_etcd

from fixtures.local_etcd import LocalEtcd, silent_listener

from hawizard.etcd import probe

TIMEOUT = 2.0


def _median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _ours(cluster: LocalEtcd, expect_healthy: int) -> None:
    health = probe.cluster_health(cluster.plan, TIMEOUT)
    if health.healthy_count != expect_healthy:
        raise SystemExit(f"hawizard saw {health.healthy_count} healthy members: {health.problems}")


def _etcdctl(cluster: LocalEtcd, expect_ok: bool, timeout: float | None = TIMEOUT) -> None:
    limit = [f"--command-timeout={timeout:g}s"] if timeout else []  # None: etcdctl's 5 s
    out = cluster.etcdctl("endpoint", "status", "--cluster", "-w", "json", *limit)
    if expect_ok and out.returncode != 0:
        raise SystemExit(f"etcdctl failed: {out.stderr.strip()}")


def _row(label: str, ours: float, theirs: float) -> None:
    print(
        f"{label:<34} hawizard {ours * 1000:8.1f} ms   etcdctl {theirs * 1000:8.1f} ms   "
        f"etcdctl/hawizard {theirs / ours:5.1f}x"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=10, help="runs per measurement (median)")
    args = parser.parse_args()
    repeat = max(args.repeat, 1)
    print(f"median of {repeat} runs; probe timeout {TIMEOUT:g}s; etcd 3.5.1 on loopback, mTLS")
    for members in (3, 5):
        with (
            tempfile.TemporaryDirectory(prefix="hawizard-bench-health-") as tmp,
            LocalEtcd(Path(tmp), members=members, name=f"bench{members}") as cluster,
        ):
            _ours(cluster, members)  # warm-up: imports, first handshakes
            _etcdctl(cluster, True)
            ours = _median_seconds(lambda c=cluster, n=members: _ours(c, n), repeat)
            theirs = _median_seconds(lambda c=cluster: _etcdctl(c, True), repeat)
            _row(f"{members} members, all healthy", ours, theirs)
            if members == 3:
                victim = cluster.names[-1]
                cluster.kill(victim)
                node = cluster.node(victim)
                with silent_listener(node.address, cluster.plan.etcd.client_port):
                    blackholed = max(1, repeat // 3)
                    ours = _median_seconds(lambda c=cluster: _ours(c, 2), blackholed)
                    theirs = _median_seconds(lambda c=cluster: _etcdctl(c, False), blackholed)
                    _row("3 members, 1 blackholed", ours, theirs)
                    print(
                        f"{'':<34} bound: probe timeout + 1 s = {TIMEOUT + 1:.1f} s "
                        f"({'within' if ours < TIMEOUT + 1 else 'OVER'})"
                    )
                    default = _median_seconds(lambda c=cluster: _etcdctl(c, False, None), 1)
                    print(f"{'':<34} etcdctl with its default timeout: {default:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
