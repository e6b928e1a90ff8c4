"""Benchmark: VIP failover time — the holder powered off (`lab fault NODE stop`) until the first
successful TCP connect to VIP:port through a new holder — over N runs (median, min, max),
printed beside the keepalived advert interval it was configured with and VRRP's master-down
interval (3 x advert + skew), the time a backup waits when the master goes silent.

A clean power-off stops keepalived, which sends a priority-0 advert: the backups take over
after the skew time only, well under the master-down interval. A partitioned holder sends
nothing, so the backups wait the full master-down interval; `--partition N` measures that too,
as the same run's baseline for what an advert interval buys.

Run as root: `.venv/bin/python tests/bench/bench_failover.py [--runs 5] [--advert 1.0]
[--partition 3]`. It brings up its own 3-node lab (`xb15`), installs haproxy + keepalived from
the lab's package repository with hawizard's own balancer phase, and removes the lab at the end.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

from hawizard.balancer.rollout import balancer_phases
from hawizard.lab import Lab
from hawizard.lab.preflight import lab_unavailable
from hawizard.plan import Plan
from hawizard.remote import HostPool
from hawizard.steps import Runner

LAB_NAME = "xb15"


def holders(lab: Lab, plan: Plan, vip: str, skip: str = "") -> list[str]:
    found = []
    for n in plan.balancer_nodes:
        if n.name == skip:
            continue
        out = lab.exec(n.name, ["ip", "-br", "-4", "addr", "show"], check=False, timeout=10)
        if any(w.split("/")[0] == vip for line in out.stdout.splitlines() for w in line.split()):
            found.append(n.name)
    return found


def connects(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def wait(what, timeout: float, every: float = 0.02):
    deadline = time.monotonic() + timeout
    while not (value := what()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout} s")
        time.sleep(every)
    return value


def one_failover(lab: Lab, plan: Plan, vip: str, port: int, fault: str) -> tuple[float, str]:
    """Seconds from the fault to a connect through a new holder; then undo the fault."""
    (holder,) = wait(lambda: (h := holders(lab, plan, vip)) and len(h) == 1 and h, 30, 0.2)
    undo = "start" if fault == "stop" else "heal"
    start = time.monotonic()
    worker = threading.Thread(target=lambda: lab.fault(holder, fault))
    worker.start()
    wait(lambda: holders(lab, plan, vip, skip=holder), 30)
    wait(lambda: connects(vip, port), 30)
    took = time.monotonic() - start
    worker.join(timeout=120)
    lab.fault(holder, undo)
    wait(
        lambda: lab.exec(holder, ["systemctl", "is-active", "keepalived"], check=False)
        .stdout.strip() == "active",
        90,
        0.5,
    )  # fmt: skip
    wait(lambda: len(holders(lab, plan, vip)) == 1, 30, 0.2)
    time.sleep(1.0)  # let the returning node settle as BACKUP before the next run
    return took, holder


def summary(label: str, values: list[float], advert: float) -> None:
    down = 3 * advert + (256 - 150) / 256 * advert  # master-down interval of the top backup
    med = statistics.median(values)
    print(
        f"{label}: median {med:.2f} s, min {min(values):.2f} s, max {max(values):.2f} s "
        f"over {len(values)} runs · advert interval {advert:g} s · master-down interval "
        f"{down:.2f} s · median / master-down = {med / down:.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="power-off runs (at least 5)")
    parser.add_argument("--advert", type=float, default=1.0, help="keepalived advert interval")
    parser.add_argument("--partition", type=int, default=3, help="partition runs (0: none)")
    args = parser.parse_args()
    if reason := lab_unavailable():
        print(f"error: {reason}", file=sys.stderr)
        return 2
    lab = Lab(LAB_NAME)
    lab.down(purge=True)
    try:
        lab.up(nodes=3)
        with tempfile.TemporaryDirectory(prefix="hawizard-bench-failover-") as tmp:
            plan = lab.plan(nodes=3, pki_dir=Path(tmp), balancer="vip")
            plan = replace(
                plan, load_balancer=replace(plan.load_balancer, advert_interval=args.advert)
            )
            start = time.monotonic()
            result = Runner(HostPool(plan), parallel=10).run(balancer_phases(plan))
            if not result.ok:
                print(f"error: balancer rollout failed: {result.failures}", file=sys.stderr)
                return 1
            print(f"haproxy + keepalived on 3 nodes: {time.monotonic() - start:.1f} s")
            vip, port = plan.endpoint_host_port
            stops = []
            for i in range(max(args.runs, 5)):
                took, holder = one_failover(lab, plan, vip, port, "stop")
                stops.append(took)
                print(f"  power-off run {i + 1}: holder {holder}, failover {took:.2f} s")
            summary("failover after power-off", stops, args.advert)
            parts = []
            for i in range(args.partition):
                took, holder = one_failover(lab, plan, vip, port, "partition")
                parts.append(took)
                print(f"  partition run {i + 1}: holder {holder}, failover {took:.2f} s")
            if parts:
                summary("failover after partition", parts, args.advert)
                ratio = statistics.median(parts) / statistics.median(stops)
                print(f"partition / power-off (medians): {ratio:.2f}")
    finally:
        lab.down(purge=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
