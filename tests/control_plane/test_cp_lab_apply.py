"""`hawizard apply` on a fresh lab plan, end to end: etcd, then the staged control plane and
the load balancer; a second run changes nothing; `--only control-plane` runs just ours."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from hawizard.lab import Lab
from hawizard.plan import dump

pytestmark = pytest.mark.lab

HAWIZARD = [sys.executable, "-m", "hawizard"]


def apply(plan_path: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*HAWIZARD, "apply", str(plan_path), "--yes", *extra],
        capture_output=True,
        text=True,
        timeout=540,
    )


@pytest.fixture
def fresh_plan(lab: Lab, tmp_path: Path):
    pki_dir = tmp_path / "pki"
    pki_dir.mkdir(mode=0o700)
    plan = lab.plan(nodes=3, pki_dir=pki_dir)
    path = tmp_path / "plan.toml"
    dump(plan, path)
    try:
        yield plan, path
    finally:
        lab.reset(*(n.name for n in plan.nodes))


def test_apply_on_a_fresh_lab_plan_succeeds_end_to_end(fresh_plan, lab: Lab):
    plan, path = fresh_plan
    start = time.monotonic()
    first = apply(path)
    took = time.monotonic() - start
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    print(f"hawizard apply (etcd + control plane, 3 nodes): {took:.1f} s")
    lb = plan.control_plane.load_balancer
    assert lab.exec(lb, ["systemctl", "is-active", "haproxy"]).stdout.strip() == "active"
    for m in plan.control_plane_nodes:
        assert lab.exec(m.name, ["test", "-f", "/etc/kubernetes/admin.kubeconfig"]).returncode == 0

    again = apply(path, "--only", "control-plane")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "nothing to change" in again.stdout
    phases = [line for line in again.stdout.splitlines() if line.startswith("──")]
    assert phases and phases[0].startswith("── control-plane binaries"), again.stdout[-2000:]
    assert not any("etcd" in line for line in phases)
