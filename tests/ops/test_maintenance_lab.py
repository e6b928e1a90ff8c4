"""Scheduled maintenance on the lab (issue 26): the timer's units as `etcd maintenance
schedule` renders them pass `systemd-analyze verify`, and the exact command their ExecStart
runs (`python -m hawizard etcd defrag PLAN --yes --if-needed`), run as a process against 3
systemd nodes with real etcd, does nothing below `[maintenance]` thresholds and defragments
every member (the member that led last, by etcd's own journal lines) above them, leaving its
result beside the plan each time."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from hawizard import pki
from hawizard.etcd import maintenance_units as mu
from hawizard.etcd.maintenance import Maintenance
from hawizard.etcd.probe import cluster_health
from hawizard.etcd.rollout import etcd_phases
from hawizard.journal import Journal
from hawizard.ops import maintenance as mt
from hawizard.plan import MaintenanceSettings, Plan, dump, load
from hawizard.remote import HostPool
from hawizard.steps import Runner

pytestmark = pytest.mark.lab

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "etcd"))
from test_defrag_lab import churn, db_sizes, finished_order, node_now  # noqa: E402

MiB = 1024**2


def save(plan: Plan, path: Path, **settings) -> Plan:
    dump(replace(plan, maintenance=replace(plan.maintenance, **settings)), path)
    return load(path)


def timer_run(plan: Plan) -> subprocess.CompletedProcess[str]:
    """What the service's ExecStart runs, as a process of its own."""
    argv = mt.maintenance_command(plan)
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, env=os.environ)


@pytest.fixture(scope="module")
def cluster(lab, tmp_path_factory):
    folder = tmp_path_factory.mktemp("maint")
    (folder / "pki").mkdir(mode=0o700)
    plan = lab.plan(nodes=3, pki_dir=folder / "pki")
    plan = replace(
        plan,
        etcd=replace(plan.etcd, defrag_keep_revisions=50),
        maintenance=MaintenanceSettings(every="daily", defrag_above_mb=20),
    )
    path = folder / "plan.toml"
    dump(plan, path)
    plan = load(path)
    names = [n.name for n in plan.nodes]
    try:
        pki.create(plan)
        result = Runner(HostPool(plan), journal=Journal.for_plan(plan)).run(etcd_phases(plan))
        assert result.ok, result.failures
        yield plan, path
    finally:
        lab.reset(*names)


def test_the_timer_units_pass_systemd_analyze_verify(cluster, tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("no systemd-analyze")
    plan, _ = cluster
    done = mt.schedule(plan, units=tmp_path, user=False, enable=False)
    r = subprocess.run(
        ["systemd-analyze", "verify", str(done.service), str(done.timer)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"},
    )
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr
    assert done.timer.name == f"{mu.unit_name(plan)}.timer"
    assert "OnCalendar=daily" in done.timer.read_text()


def test_if_needed_skips_below_the_thresholds_and_defragments_above(lab, cluster):
    plan, path = cluster
    assert churn(plan, total=400, keys=4) == 400  # ~40 MB of overwrites, 4 live keys
    since = node_now(lab, plan)

    # uncompacted history is live data to etcd: nothing qualifies yet (under-50 % rule)
    r = timer_run(plan)
    assert r.returncode == 0, r.stderr
    assert "nothing to do" in r.stdout and "% in use" in r.stdout
    assert mt.read_last(path)["outcome"] == "skipped"

    # etcd's periodic compaction (done here by hand) makes most of it free pages
    api = Maintenance(plan)
    api.compact(api.status(plan.etcd_nodes[0]).revision - 50)
    deadline = time.monotonic() + 60
    while True:
        backends = [api.status(n) for n in plan.etcd_nodes]
        if any(b.db_size_in_use < 0.5 * b.db_size for b in backends):
            break
        assert time.monotonic() < deadline, backends
        time.sleep(1)
        churn(plan, total=1, keys=1)  # a commit releases bbolt's pending pages

    # ... but a threshold above the DB size still leaves it alone
    high = save(plan, path, defrag_above_mb=1000)
    r = timer_run(high)
    assert r.returncode == 0 and "no member is above 1000 MiB" in r.stdout, r.stdout
    assert finished_order(lab, plan, since) == []  # etcd never defragmented

    low = save(plan, path, defrag_above_mb=20)
    before = db_sizes(low)
    leader = cluster_health(low).leader_name
    r = timer_run(low)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "defragmentation needed" in r.stderr
    order = finished_order(lab, low, since)
    assert sorted(order) == sorted(before) and order[-1] == leader
    after = db_sizes(low)
    for name, size in after.items():
        assert size <= 0.6 * before[name], (name, before[name], size)
    last = mt.read_last(path)
    assert last["outcome"] == "defragmented" and last["if_needed"] is True
    assert [m["name"] for m in last["members"]] == order
    assert len(last["in_use_readings"]) == 3  # one per run, for the check's forecast
