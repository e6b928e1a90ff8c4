"""Issue 25 item 3 on the lab: the metrics listeners (etcd's metrics_port, which also serves
/health; the node exporter) listen on the node's own address, and hawizard's nftables table
lets only the node itself, the Prometheus node and the applying machine (this host) in.
Proven from real vantage points: a node that is not a scraper is refused, the Prometheus node
still scrapes every member, this host's probes still work, and `hawizard check` names a
metrics port that answers a non-scraper once the table is gone."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import replace

import pytest

from hawizard import pki
from hawizard.cli import main
from hawizard.etcd.rollout import etcd_phases
from hawizard.journal import Journal
from hawizard.monitoring.rollout import monitoring_phases
from hawizard.plan import MonitoringSettings, dump, load
from hawizard.remote import HostPool
from hawizard.steps import EventKind, Runner

pytestmark = pytest.mark.lab


def reaches(lab, node: str, address: str, port: int) -> bool:
    """Does a TCP connect from inside `node` to address:port succeed?"""
    probe = f": </dev/tcp/{address}/{port}"
    done = lab.exec(node, ["timeout", "3", "bash", "-c", probe], check=False)
    return done.returncode == 0


def listeners(lab, node: str, port: int) -> list[str]:
    out = lab.exec(node, ["ss", "-Hltn", f"sport = :{port}"]).stdout
    return [line.split()[3] for line in out.splitlines() if line.strip()]


def check_monitoring(plan, capsys) -> dict:
    capsys.readouterr()
    main(["check", str(plan.source), "--json"])
    doc = json.loads(capsys.readouterr().out)
    return next(i for i in doc["items"] if i["key"] == "monitoring")


def test_metrics_only_from_the_scrapers(lab, tmp_path, capsys):
    (tmp_path / "pki").mkdir(mode=0o700)
    base = lab.plan(nodes=3, pki_dir=tmp_path / "pki")
    prom, a, b = base.nodes
    settings = MonitoringSettings(
        enabled=True, install=True, prometheus_node=prom.name, scrape_interval=2
    )
    dump(replace(base, monitoring=settings), tmp_path / "plan.toml")
    plan = load(tmp_path / "plan.toml")
    names = [n.name for n in plan.nodes]
    etcd_port, exporter = plan.etcd.metrics_port, plan.monitoring.node_exporter_port
    try:
        pki.create(plan)
        # The lab's image has nftables, as a standard Debian install does; a minimal host
        # may not: b has none, and the firewall step installs it (from the lab's repository).
        lab.exec(b.name, ["dpkg", "--purge", "nftables"])
        assert lab.exec(b.name, ["sh", "-c", "command -v nft"], check=False).returncode != 0
        phases = [*etcd_phases(plan), *monitoring_phases(plan)]
        result = Runner(HostPool(plan), journal=Journal.for_plan(plan)).run(phases)
        assert result.ok, result.failures
        assert lab.exec(b.name, ["nft", "list", "table", "inet", "hawizard"]).returncode == 0
        for n in plan.nodes:  # bound to the node's own address, not every interface
            assert listeners(lab, n.name, exporter) == [f"{n.address}:{exporter}"]
            assert listeners(lab, n.name, etcd_port) == [f"{n.address}:{etcd_port}"]
        # a node that is not a scraper is refused; the Prometheus node is let in
        for port in (etcd_port, exporter):
            assert not reaches(lab, a.name, b.address, port), port
            assert not reaches(lab, b.name, a.address, port), port
            assert reaches(lab, prom.name, a.address, port), port
        # this machine (it ran apply) still probes: etcd's /health, the exporter
        with urllib.request.urlopen(f"http://{a.address}:{etcd_port}/health", timeout=5) as r:
            assert b'"health":"true"' in r.read().replace(b" ", b"")
        # `check`: no metrics port answers a non-scraper ...
        item = check_monitoring(plan, capsys)
        assert any("metrics ports refused to the other nodes" in e for e in item["evidence"])
        assert not any("which is not a scraper" in e for e in item["evidence"]), item
        # ... and names each one that does once b's table is gone
        lab.exec(b.name, ["systemctl", "stop", "hawizard-firewall"])
        assert reaches(lab, a.name, b.address, exporter)
        item = check_monitoring(plan, capsys)
        for port in (etcd_port, exporter):
            line = f"{b.name} :{port} (metrics, unauthenticated) answers {a.name}, which is not"
            assert any(line in e for e in item["evidence"]), item["evidence"]
        assert item["verdict"] == "fail" and "hawizard apply" in item["fix"]
        # a re-apply puts it back and then changes nothing
        again = Runner(HostPool(plan)).run(phases)
        assert again.ok, again.failures
        assert not reaches(lab, a.name, b.address, exporter)
        events = []
        third = Runner(HostPool(plan), listener=events.append).run(phases)
        # no node is touched (the local "wait until every member is healthy" step is a probe
        # whose 2 s answer depends on this shared machine's load, not on the firewall)
        changed = [(e.node, e.step) for e in events if e.kind is EventKind.CHANGED and e.node]
        assert third.ok and changed == [], changed
    finally:
        lab.reset(*names)
