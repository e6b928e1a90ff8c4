"""The wizard on the lab's own plan (issue 23, items 1 and 7): vip mode over every master
(`load_balancer.nodes = []`), the subnet set, exactly as `hawizard lab up` writes it for
`./scripts/demo.sh`.

Item 1: the Nodes screen validated its empty "New node" form at mount as a draft node with
address '' and crashed in the vip subnet check (`'NoneType' object has no attribute
'_version'`). Every step is mounted here on that plan, and then with the inputs a user may
leave half-typed (a host name in the node form, an endpoint without a port, an IPv6 VIP, a
balancer node that does not exist); Textual's pilot re-raises any exception a screen raised.
Item 7: the endpoint and VIP placeholders propose values the validator accepts.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from textual.widgets import DataTable, Input, Select, Static
from tui_support import SIZE, make_app, settle

from hawizard import plan as P
from hawizard.lab.plan_writer import lab_plan, lab_vip
from hawizard.lab.state import LabRecord, NodeRecord
from hawizard.tui.flow import KEYS
from hawizard.tui.screens.nodes import NodesScreen

LAB = LabRecord(
    name="hwp1",
    subnet="198.18.42.0/24",
    bridge="hw-hwp1",
    bridge_mac="02:00:00:00:00:01",
    gateway="198.18.42.1",
    nodes=tuple(
        NodeRecord(f"n{i}", f"198.18.42.{10 + i}", f"ns{i}", f"v{i}", "02:00:00:00:01:00", "")
        for i in (1, 2, 3)
    ),
)


def demo_plan(tmp_path: Path) -> P.Plan:
    """The plan `lab up` writes (vip mode), for made-up lab nodes nobody dials."""
    return lab_plan(
        LAB,
        key=tmp_path / "id_ed25519",
        known_hosts=tmp_path / "known_hosts",
        pki_dir=tmp_path / "pki",
        balancer="vip",
        source=tmp_path / "plan.toml",
    )


def errors(plan: P.Plan) -> list[P.Problem]:
    return [p for p in P.validate(plan) if p.severity is P.Severity.ERROR]


async def walk(pilot) -> None:
    """Every step of the wizard, then the dashboard, each one shown and refreshed."""
    for key in (*KEYS, "dashboard"):
        pilot.app.switch_screen(key)
        await settle(pilot)
        assert pilot.app.screen.is_current


async def test_the_nodes_screen_mounts_on_the_demo_plan(tmp_path):
    plan = demo_plan(tmp_path)
    assert plan.balancer_mode == "vip" and plan.load_balancer.nodes == ()
    assert errors(plan) == []
    app = make_app(plan, tmp_path / "plan.toml")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, NodesScreen)
        assert app.screen.query_one(DataTable).row_count == 3
        assert not app.screen.query_one("#plan-problems", Static).display
        assert not app.screen.query_one("#m-endpoint", Static).display
        await walk(pilot)
    assert app.plan == plan  # looking at every step changed nothing


async def test_half_typed_values_on_a_vip_plan_never_crash_a_step(tmp_path):
    app = make_app(demo_plan(tmp_path), tmp_path / "plan.toml")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        screen.query_one("#f-name", Input).value = "n4"
        address = screen.query_one("#f-address", Input)
        address.value = "node-4.example"
        address.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert "not host names" in str(screen.query_one("#m-address", Static).render())
        assert len(app.plan.nodes) == 3  # a node with errors never enters the plan
        address.value = "::1"  # IPv6: no VRRP peer
        await pilot.press("enter")
        await settle(pilot)
        assert "IPv4" in str(screen.query_one("#m-address", Static).render())
        screen.query_one("#endpoint", Input).value = f"{lab_vip(LAB)}"  # no port yet
        await settle(pilot)
        await walk(pilot)
        app.switch_screen("control-plane")
        await settle(pilot)
        cp = app.screen
        cp.query_one("#lb-vip", Input).value = "fd00::10"
        cp.query_one("#lb-nodes", Input).value = "n1, nope"
        await settle(pilot)
        problems = str(cp.query_one("#m-balancer", Static).render())
        assert "not an IPv4 address" in problems and "'nope' is not a node" in problems
        cp.query_one("#lb-mode", Select).value = "single"
        await settle(pilot)
        await walk(pilot)


async def test_the_endpoint_hint_is_accepted_by_validation(tmp_path):
    """Item 7: with the control-plane role on the nodes haproxy shares the masters with
    kube-apiserver, so the hint is never :6443; in vip mode it is a free subnet address."""
    plan = demo_plan(tmp_path)
    blank = replace(plan, cluster=replace(plan.cluster, control_plane_endpoint=""))
    app = make_app(blank, tmp_path / "plan.toml")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        field = app.screen.query_one("#endpoint", Input)
        hint = field.placeholder
        assert hint == "198.18.42.254:8443"
        assert "missing" in str(app.screen.query_one("#m-endpoint", Static).render())
        field.value = hint
        await settle(pilot)
        assert not app.screen.query_one("#m-endpoint", Static).display
        assert errors(app.plan) == []

        app.set_plan(blank)
        app.switch_screen("control-plane")
        await settle(pilot)
        vip = app.screen.query_one("#lb-vip", Input)
        assert vip.value == "" and vip.placeholder == "198.18.42.254"
        vip.value = vip.placeholder
        await settle(pilot)
        assert app.plan.cluster.control_plane_endpoint == hint
        assert errors(app.plan) == []


def test_the_empty_draft_on_a_vip_plan_is_only_an_address_message(tmp_path):
    """What the Nodes screen does at mount, without the screen: the empty "New node" form
    placed in the demo plan as a draft master (a balancer node in vip mode)."""
    from hawizard.tui import forms

    candidate, messages = forms.check_draft(demo_plan(tmp_path), forms.NodeDraft(), None)
    assert candidate.nodes[-1] in candidate.balancer_nodes
    assert [m.text for m in messages["address"]] == [
        "'' is not an IP address (expected an IPv4 or IPv6 address, e.g. 10.1.2.13)"
    ]
    assert "name" in messages and set(messages) <= {"name", "address"}
