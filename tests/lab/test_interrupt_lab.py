"""Ctrl-C during `hawizard apply` on the lab (issue 12): exit 130 within 5 s, the journal
kept, and a re-run resumes and converges. A real SIGINT to a real `hawizard` process."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time

import pytest
from fixtures.etcdctl import etcdctl

from hawizard.journal import journal_path
from hawizard.plan import dump

pytestmark = pytest.mark.lab


def _apply(plan_path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, NO_COLOR="1", COLUMNS="200")
    return subprocess.Popen(
        [sys.executable, "-m", "hawizard", "apply", str(plan_path), "--yes", "--only", "etcd",
         *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )  # fmt: skip


def _wait_for_install(proc: subprocess.Popen, limit: float = 240) -> list[str]:
    """Lines up to the first step started inside the "etcd install" phase (uploads)."""
    seen: list[str] = []
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + limit
    in_install = False
    while time.monotonic() < deadline:
        if not sel.select(timeout=1):
            if proc.poll() is not None:
                break
            continue
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line.rstrip())
        if line.startswith("── etcd install"):
            in_install = True
        elif in_install and line.rstrip().endswith(": started"):
            return seen
    pytest.fail("apply never reached the install phase:\n" + "\n".join(seen[-20:]))


def test_sigint_stops_apply_within_5_s_and_a_rerun_converges(lab, lab_plan, tmp_path):
    plan = lab_plan(3)
    path = tmp_path / "plan.toml"
    dump(plan, path)
    names = [m.name for m in plan.etcd_nodes]
    try:
        proc = _apply(path)
        _wait_for_install(proc)
        time.sleep(0.5)  # mid-upload
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        took = time.monotonic() - sent
        print(f"apply exited {took:.2f} s after SIGINT (rc {proc.returncode})")
        assert proc.returncode == 130, err
        assert took < 5.0, f"apply took {took:.1f} s to stop after SIGINT"
        assert "interrupted at" in err and "to resume" in err
        assert "Traceback" not in err
        assert journal_path(path).exists()

        again = _apply(path)
        out, err = again.communicate(timeout=600)
        assert again.returncode == 0, out[-3000:] + err[-3000:]
        health = etcdctl(plan, "endpoint", "health")
        assert (health.stdout + health.stderr).count("is healthy") == 3
    finally:
        lab.reset(*names)
