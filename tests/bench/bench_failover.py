"""Benchmark: VIP failover time — the holder powered off (`lab fault NODE stop`) until the first
successful TCP connect to VIP:port through a new holder — over N runs (median, min, max),
printed beside the keepalived advert interval it was configured with and VRRP's master-down
interval (3 x advert + skew), the time a backup waits when the master goes silent.

A clean power-off stops keepalived, which sends a priority-0 advert: the backups take over
after the skew time only, well under the master-down interval. A holder that dies sends
nothing, so the backups wait the full master-down interval: `--partition N` cuts the holder
off the network, `--crash N` freezes its keepalived (SIGSTOP: a SIGKILLed one is back within a
second, by its unit's `Restart=`) and SIGKILLs its haproxy, by the PIDs in the units' cgroups
inside that node; both beside the clean case in the same run.

`--fast 0.2` then rolls the same balancer out again with that advert interval (VRRPv3 carries
centiseconds; `[load_balancer] advert_interval` in the plan) and repeats the crash runs, and
`--idle S` watches the holder every 100 ms for S seconds with the fast setting and no fault:
every change of holder there is a spurious failover (issue 30: a crash ≤ 1 s, none in 600 s).

Run as root: `.venv/bin/python tests/bench/bench_failover.py [--runs 5] [--advert 1.0]
[--partition 3] [--crash 3] [--fast 0.2] [--idle 600]`. It brings up its own 3-node lab
(`xb15`), installs haproxy + keepalived from the lab's package repository with hawizard's own
balancer phase, and removes the lab at the end.
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


def crash(lab: Lab, node: str) -> None:
    """The holder's keepalived dies without a word and stays dead, and its haproxy is
    killed: every keepalived process SIGSTOPped (a SIGKILLed one is restarted by its unit
    within a second and takes the VIP back before anyone notices), every haproxy process
    SIGKILLed — by the PIDs in the units' cgroups, inside that node. No priority-0 advert;
    the VIP stays on the dead holder's interface."""
    script = (
        "cg=$(systemctl show -p ControlGroup --value keepalived); "
        "kill -STOP $(cat /sys/fs/cgroup/systemd$cg/cgroup.procs); "
        "cg=$(systemctl show -p ControlGroup --value haproxy); "
        "kill -KILL $(cat /sys/fs/cgroup/systemd$cg/cgroup.procs); true"
    )
    lab.exec(node, ["sh", "-c", script], check=False)


def recover(lab: Lab, node: str, vip: str) -> None:
    """The crashed holder as an operator would bring it back: the VIP its dead keepalived
    left on the interface removed, both services started again."""
    thaw = "cg=$(systemctl show -p ControlGroup --value keepalived); "
    thaw += "kill -CONT $(cat /sys/fs/cgroup/systemd$cg/cgroup.procs); true"
    lab.exec(node, ["sh", "-c", thaw], check=False)
    out = lab.exec(node, ["ip", "-o", "-4", "addr", "show"], check=False).stdout
    for line in out.splitlines():
        words = line.split()
        if f"{vip}/32" in words:
            lab.exec(node, ["ip", "addr", "del", f"{vip}/32", "dev", words[1]], check=False)
    lab.exec(node, ["systemctl", "restart", "haproxy", "keepalived"], check=False, timeout=60)


def one_failover(lab: Lab, plan: Plan, vip: str, port: int, fault: str) -> tuple[float, str]:
    """Seconds from the fault to a connect through a new holder; then undo the fault."""
    (holder,) = wait(lambda: (h := holders(lab, plan, vip)) and len(h) == 1 and h, 30, 0.2)
    undo = {"stop": "start", "partition": "heal"}.get(fault, "")
    start = time.monotonic()
    act = (lambda: crash(lab, holder)) if fault == "crash" else (lambda: lab.fault(holder, fault))
    worker = threading.Thread(target=act)
    worker.start()
    wait(lambda: holders(lab, plan, vip, skip=holder), 30)
    wait(lambda: connects(vip, port), 30)
    took = time.monotonic() - start
    worker.join(timeout=120)
    if undo:
        lab.fault(holder, undo)
    else:
        recover(lab, holder, vip)
    wait(
        lambda: lab.exec(holder, ["systemctl", "is-active", "keepalived"], check=False)
        .stdout.strip() == "active",
        90,
        0.5,
    )  # fmt: skip
    wait(lambda: len(holders(lab, plan, vip)) == 1, 30, 0.2)
    time.sleep(1.0)  # let the returning node settle as BACKUP before the next run
    return took, holder


def runs(lab: Lab, plan: Plan, vip: str, port: int, fault: str, n: int) -> list[float]:
    out = []
    for i in range(n):
        took, holder = one_failover(lab, plan, vip, port, fault)
        out.append(took)
        advert = plan.load_balancer.advert_interval
        print(f"  {fault} run {i + 1} (advert {advert:g} s): holder {holder}, {took:.2f} s")
    return out


def idle_watch(lab: Lab, plan: Plan, vip: str, seconds: float) -> int:
    """The holder every 100 ms for `seconds` with no fault: each change is spurious."""
    (first,) = wait(lambda: (h := holders(lab, plan, vip)) and len(h) == 1 and h, 30, 0.2)
    changes, last, samples = 0, [first], 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        now = holders(lab, plan, vip)
        samples += 1
        if now != last:
            changes += 1
            print(f"  idle: holder {last} -> {now} at {seconds - (end - time.monotonic()):.1f} s")
            last = now
        time.sleep(0.1)
    advert = plan.load_balancer.advert_interval
    print(
        f"idle {seconds:g} s with advert {advert:g} s: {changes} holder changes "
        f"in {samples} samples (spurious failovers)"
    )
    return changes


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
    parser.add_argument("--crash", type=int, default=3, help="crash runs per setting (0: none)")
    parser.add_argument("--fast", type=float, default=0.0, help="a faster advert interval")
    parser.add_argument("--idle", type=float, default=0.0, help="seconds of idle watch (fast)")
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
            crashes = runs(lab, plan, vip, port, "crash", args.crash)
            if crashes:
                summary("failover after crash", crashes, args.advert)
            if args.fast:
                fast = replace(
                    plan, load_balancer=replace(plan.load_balancer, advert_interval=args.fast)
                )
                result = Runner(HostPool(fast), parallel=10).run(balancer_phases(fast))
                if not result.ok:
                    print(f"error: fast rollout failed: {result.failures}", file=sys.stderr)
                    return 1
                quick = runs(lab, fast, vip, port, "crash", max(args.crash, 3))
                summary(f"failover after crash, advert {args.fast:g} s", quick, args.fast)
                if crashes:
                    ratio = statistics.median(quick) / statistics.median(crashes)
                    print(f"crash failover, fast / default (medians): {ratio:.2f}")
                if args.idle:
                    idle_watch(lab, fast, vip, args.idle)
    finally:
        lab.down(purge=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
