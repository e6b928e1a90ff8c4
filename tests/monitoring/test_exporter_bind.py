"""The node exporter listens on its node's own address (issue 25 item 3)."""

from __future__ import annotations

from hawizard.monitoring.rollout import exporter_defaults
from hawizard.plan import Cluster, MonitoringSettings, Node, Plan


def test_exporter_listens_on_the_nodes_own_address():
    plan = Plan(
        nodes=(Node("n1", "10.1.2.11"), Node("n6", "fd00::6")),
        cluster=Cluster(name="x", control_plane_endpoint="10.1.2.10:6443"),
        monitoring=MonitoringSettings(enabled=True, install=True, node_exporter_port=9101),
    )
    assert "ARGS=--web.listen-address=10.1.2.11:9101\n" in exporter_defaults(plan, plan.nodes[0])
    six = exporter_defaults(plan, plan.nodes[1])
    assert "ARGS='--web.listen-address=[fd00::6]:9101'\n" in six
