"""`hawizard check`'s metrics-exposure probe without nodes: which node tries which port, and
how the monitoring item words what answered (issue 25 item 3)."""

from __future__ import annotations

from hawizard.ops.metrics_exposure import Exposure, MetricsExposure, vantage_targets
from hawizard.plan import Cluster, MonitoringSettings, Node, Plan
from hawizard.readiness import items as I


def plan(**monitoring) -> Plan:
    nodes = tuple(Node(f"n{i}", f"10.1.2.{10 + i}") for i in (1, 2, 3))
    return Plan(
        nodes=nodes,
        cluster=Cluster(name="x", control_plane_endpoint="10.1.2.10:6443"),
        monitoring=MonitoringSettings(**monitoring),
    )


def test_each_node_tries_the_others_unless_it_is_their_scraper():
    p = plan(enabled=True, install=True, prometheus_node="n1")
    pairs = lambda v: sorted((t.name, port) for t, port in vantage_targets(p, p.node(v)))  # noqa: E731
    assert pairs("n1") == []  # the Prometheus node may scrape everyone
    assert pairs("n2") == [("n1", 2381), ("n1", 9100), ("n3", 2381), ("n3", 9100)]
    wide = plan(enabled=True, install=True, prometheus_node="n1", scrape_from=("10.1.2.0/24",))
    assert vantage_targets(wide, wide.node("n2")) == []  # the plan allows the whole subnet


def test_an_answering_port_is_a_failure_that_names_both_nodes():
    p = plan()
    seen = MetricsExposure((Exposure("n3", 2381, "n2"),), tried=6)
    item = I.monitoring(p, {}, {}, "prometheus.yml", seen)
    assert item.verdict is I.Verdict.FAIL
    assert any(
        "n3 :2381 (metrics, unauthenticated) answers n2, which is not a scraper" in e
        for e in item.evidence
    )
    assert "hawizard apply" in item.fix
    quiet = I.monitoring(p, {}, {}, "prometheus.yml", MetricsExposure((), tried=6))
    assert any("none answered" in e for e in quiet.evidence)
