"""`[monitoring] install = true` on the lab: node exporters on every node and Prometheus on
one, from the lab's local apt repository (the distribution's packages, as on a real host),
configured with the exported bundle; Prometheus sees every etcd member up, and a second run
changes nothing."""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import replace

import pytest

from hawizard import pki
from hawizard.etcd.rollout import etcd_phases
from hawizard.journal import Journal
from hawizard.monitoring.rollout import monitoring_phases
from hawizard.ops.check import target_list
from hawizard.plan import MonitoringSettings, dump, load
from hawizard.remote import HostPool
from hawizard.steps import Runner

pytestmark = pytest.mark.lab


def _get(url: str, within: float = 60.0) -> str:
    """GET, retried while the service is still starting (refused) for up to `within` s."""
    deadline = time.monotonic() + within
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_install_node_exporters_and_prometheus(lab, tmp_path):
    (tmp_path / "pki").mkdir(mode=0o700)
    base = lab.plan(nodes=3, pki_dir=tmp_path / "pki")
    prom = base.nodes[0]
    settings = MonitoringSettings(
        enabled=True, install=True, prometheus_node=prom.name, scrape_interval=2
    )
    dump(replace(base, monitoring=settings), tmp_path / "plan.toml")
    plan = load(tmp_path / "plan.toml")
    names = [n.name for n in plan.nodes]
    try:
        pki.create(plan)
        phases = [*etcd_phases(plan), *monitoring_phases(plan)]
        result = Runner(HostPool(plan), journal=Journal.for_plan(plan)).run(phases)
        assert result.ok, result.failures
        for n in plan.nodes:  # every node exporter answers, from this machine
            assert "node_cpu_seconds_total" in _get(f"http://{n.address}:9100/metrics")
        # Prometheus on its node scrapes every etcd member
        deadline = time.monotonic() + 60
        while True:
            body = json.loads(_get(f"http://{prom.address}:9090/api/v1/targets?state=active"))
            etcd = [t for t in body["data"]["activeTargets"] if t["labels"]["job"] == "etcd"]
            if len(etcd) == 3 and all(t["health"] == "up" for t in etcd):
                break
            assert time.monotonic() < deadline, etcd
            time.sleep(1)
        rules = json.loads(_get(f"http://{prom.address}:9090/api/v1/rules"))["data"]["groups"]
        assert any(r["name"] == "etcdMembersDown" for g in rules for r in g["rules"])
        assert target_list(plan).startswith(f"Prometheus on {prom.name}: ")
        # a second run changes nothing
        again = Runner(HostPool(plan)).run(monitoring_phases(plan))
        assert again.ok and again.count("changed") == 0, again
    finally:
        lab.reset(*names)
