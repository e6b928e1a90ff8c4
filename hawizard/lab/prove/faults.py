"""Faults inside operations: `OP@kill` and `OP@poweroff` in `lab prove --ops`.

The operation runs as the operator runs it — the `hawizard` command, in a process of its own —
and at a random moment (seeded; the seed is in the row's note):

- `kill`: SIGKILL to that process (and its children): no cleanup, no "finish", the plan
  lock released by the kernel. Then the same command again, which must resume and complete.
- `poweroff`: one member powered off (`lab fault stop`), on again a few seconds later; the
  command may fail meanwhile; then the same command again until it completes (at most twice).

The recording workload runs throughout; its CA trust follows the PKI files (the trust bundle
while one exists, the current client certificate), as an operator's client would.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING

from hawizard.lab.prove.operations import Outcome

if TYPE_CHECKING:
    from hawizard.lab.prove.operations import Context

__all__ = ["FAULTABLE", "FAULTS", "run_faulted"]

FAULTS = ("kill", "poweroff")
FAULTABLE = ("upgrade", "defrag", "rotate-ca", "patch")
RUN_TIMEOUT = 600


def _argv(ctx: Context, op: str) -> list[str]:
    plan = str(ctx.plan_path)
    return {
        "upgrade": ["etcd", "upgrade", plan, "--yes"],
        "defrag": ["etcd", "defrag", plan, "--yes"],
        "rotate-ca": ["certs", "rotate", plan, "--ca", "etcd", "--yes"],
        "patch": ["patch", plan, "--yes"],
    }[op]


def _start(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "hawizard", *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: the kill reaches its children
    )


def _finish(argv: list[str]) -> tuple[int, str]:
    """Run the command to its end; (exit code, its last error line)."""
    got = subprocess.run(
        [sys.executable, "-m", "hawizard", *argv],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    lines = [line.strip() for line in got.stderr.splitlines() if line.strip()]
    return got.returncode, " ".join(lines[-4:])


class _TrustFollower:
    """Keeps the workload's trust on what the PKI says now (a CA rotation changes it)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.stop = threading.Event()
        self.seen: tuple[bytes, bytes] | None = None
        self.n = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _TrustFollower:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)

    def _run(self) -> None:
        from hawizard import pki
        from hawizard.pki.rotation import trusted_ca_file

        while not self.stop.wait(0.2):
            try:
                plan = self.ctx.plan
                ca = trusted_ca_file(plan, pki.CA.ETCD)
                admin = pki.paths(plan).etcd_admin
                now = (ca.read_bytes(), admin.cert.read_bytes())
                if self.seen is not None and now != self.seen:
                    self.n += 1
                    self.ctx.recorder.use(self.ctx.trust(f"follow-{self.n}", ca))
                self.seen = now
            except (OSError, ValueError):  # a file being rewritten: look again
                continue


def _healthy_within(ctx: Context, seconds: float) -> bool:
    """Whether every member is healthy within `seconds` (what an operator checks before
    running the command again)."""
    from hawizard.etcd.probe import wait_healthy

    try:
        wait_healthy(ctx.plan, timeout=seconds)
    except Exception:  # any way of not being healthy: the note says so
        return False
    return True


def run_faulted(ctx: Context, op: str, fault: str, seed: int | None = None) -> Outcome:
    """Run `op` with `fault` injected at a random moment, then resume it to completion."""
    from hawizard.etcd.probe import cluster_health, wait_healthy

    seed = seed if seed is not None else random.randrange(1 << 16)  # noqa: S311 (a fault schedule)
    rng = random.Random(seed)  # noqa: S311 (reproducible by its seed, not a secret)
    argv = _argv(ctx, op)
    at = rng.uniform(1.0, 8.0)
    with _TrustFollower(ctx):
        proc = _start(argv)
        started = time.monotonic()
        try:
            proc.wait(timeout=at)
            return Outcome(proc.returncode == 0, f"seed {seed}: finished before the {fault}")
        except subprocess.TimeoutExpired:
            pass
        if fault == "kill":
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            what = f"hawizard killed at {time.monotonic() - started:.1f} s"
        else:
            plan = ctx.plan
            victim = rng.choice([m.name for m in plan.etcd_nodes])
            ctx.say(f"{op}@poweroff: power off {victim}")
            ctx.lab.stop(victim)
            time.sleep(5)
            ctx.lab.start(victim)
            wait_healthy(plan, timeout=120)
            try:
                first = proc.wait(timeout=RUN_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                first = proc.wait(timeout=30)
            what = f"{victim} powered off at {at:.1f} s (first run exit {first})"
            if first == 0:
                return Outcome(True, f"seed {seed}: {what}")
        if not _healthy_within(ctx, 60):
            what += "; the cluster was not healthy 60 s later"
        code, tail = 1, ""
        for _ in range(2):
            code, tail = _finish(argv)
            if code == 0:
                break
            cluster_health(ctx.plan)
        if code != 0:
            return Outcome(False, f"seed {seed}: {what}; resume exit {code}: {tail}"[:500])
        return Outcome(True, f"seed {seed}: {what}; resumed, exit 0")
