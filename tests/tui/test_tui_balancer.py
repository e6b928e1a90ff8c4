"""The Control plane step's load-balancer fields (mode, VIP, balancer nodes) edit the plan,
show the validator's messages, and the Review step says what the endpoint survives."""

from __future__ import annotations

from dataclasses import replace

from textual.widgets import DataTable, Input, Select, Static
from tui_support import SIZE, fixed_plan, make_app, settle

from hawizard.balancer.summary import endpoint_survival_line
from hawizard.plan import LoadBalancerSettings
from hawizard.tui.screens.control_plane import ControlPlaneScreen
from hawizard.tui.screens.review import ReviewScreen


async def test_choosing_vip_mode_the_vip_and_the_balancer_nodes():
    app = make_app(fixed_plan(), start="control-plane")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ControlPlaneScreen)
        screen.query_one("#lb-mode", Select).value = "vip"
        await settle(pilot)
        assert app.plan.load_balancer.mode == "vip"
        problems = str(screen.query_one("#m-balancer", Static).render())
        assert "both listen on :6443" in problems  # the fixed plan's endpoint is :6443
        vip = screen.query_one("#lb-vip", Input)
        assert vip.value == "10.1.2.10" and not vip.disabled
        vip.value = "10.1.2.12"  # a node's address: refused with the node named
        await settle(pilot)
        assert app.plan.cluster.control_plane_endpoint == "10.1.2.12:6443"
        assert "nodes[1] (infra1)" in str(screen.query_one("#m-balancer", Static).render())
        app.set_plan(
            replace(app.plan, cluster=replace(app.plan.cluster, control_plane_endpoint=""))
        )
        vip.value = "10.1.2.50"
        await settle(pilot)
        assert app.plan.cluster.control_plane_endpoint == "10.1.2.50:8443"
        screen.query_one("#lb-nodes", Input).value = "infra0, infra2"
        await settle(pilot)
        assert app.plan.load_balancer.nodes == ("infra0", "infra2")
        summary = str(screen.query_one("#cp-summary", Static).render())
        assert "vip 10.1.2.50" in summary and "haproxy on infra0, infra2" in summary
        screen.query_one("#lb-mode", Select).value = "external"
        await settle(pilot)
        assert screen.query_one("#lb-vip", Input).disabled


async def test_review_says_what_the_endpoint_survives(tmp_path):
    plan = replace(
        fixed_plan(str(tmp_path / "pki")),
        load_balancer=LoadBalancerSettings(mode="vip", subnet="10.1.2.0/24"),
    )
    plan = replace(plan, cluster=replace(plan.cluster, control_plane_endpoint="10.1.2.10:8443"))
    app = make_app(plan, tmp_path / "plan.toml", start="review")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ReviewScreen)
        line = str(app.screen.query_one("#review-endpoint", Static).render())
        assert line == "endpoint survives the loss of 2 balancer nodes"
    one = replace(plan, load_balancer=replace(plan.load_balancer, nodes=("infra0", "infra1")))
    assert endpoint_survival_line(one) == "endpoint survives the loss of 1 balancer node"
    single = replace(plan, load_balancer=LoadBalancerSettings(mode="single"))
    assert endpoint_survival_line(single).endswith("0 balancer nodes — a single point of failure")
    external = replace(plan, load_balancer=LoadBalancerSettings(mode="external"))
    assert "your own balancer" in endpoint_survival_line(external)


async def test_dashboard_shows_the_load_balancer_table_and_its_findings():
    """The table from a BalancerHealth judged by the real rules (what SSH would have seen on
    three balancer nodes with the VIP holder powered off is given here: no nodes in this test;
    the lab test `tests/balancer/test_balancer_lab.py` reads real ones)."""
    from tui_support import fixed_health

    from hawizard.balancer.probe import BalancerNodeState, judge

    plan = replace(
        fixed_plan(),
        load_balancer=LoadBalancerSettings(mode="vip", subnet="10.1.2.0/24"),
    )
    plan = replace(plan, cluster=replace(plan.cluster, control_plane_endpoint="10.1.2.10:8443"))
    seen = (
        BalancerNodeState("infra0", "10.1.2.11", False, error="timed out"),
        BalancerNodeState(
            "infra1", "10.1.2.12", True, True, "MASTER", "active", (("infra0", "DOWN"),)
        ),
        BalancerNodeState("infra2", "10.1.2.13", True, False, "BACKUP", "active"),
    )
    lb = judge(plan, seen, True, connect_ms=0.5)
    app = make_app(
        plan,
        start="dashboard",
        health_probe=lambda p: fixed_health(p),
        balancer_probe=lambda _p: lb,
    )
    async with app.run_test(size=(140, 50)) as pilot:
        await settle(pilot)
        screen = app.screen
        title = str(screen.query_one("#lb-title", Static).render())
        assert "10.1.2.10:8443 answers TCP" in title and "VIP held by infra1" in title
        table = screen.query_one("#balancer", DataTable)
        assert table.display and table.row_count == 3
        assert "holder" in str(table.get_cell("infra1", "vip"))
        assert "unreachable" in str(table.get_cell("infra0", "backends"))
        findings = str(screen.query_one("#findings", Static).render())
        assert "balancer node infra0 is unreachable (timed out); infra1 holds the VIP" in findings
