"""Day 2 on the dashboard: add / remove / replace open a dialog with the engine's verdict.

The cluster's answers are fixed (the real health model fed fixed probe results), the plan is a
real file, and the node to add is "reachable, no etcd data" (`target_probe`), so the dialog's
full check is the real `members.assess`. Nothing here reaches a node: the changes themselves
run against the lab (`test_tui_day2_lab.py`).
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import replace

from textual.widgets import Button, DataTable, Static
from tui_support import SIZE, fixed_health, fixed_plan, make_app, settle

from hawizard.etcd.quorum_rules import Op, TargetState
from hawizard.plan import Plan, dump, load
from hawizard.planlock import PlanLock, lock_path
from hawizard.tui.screens.dashboard import DashboardScreen
from hawizard.tui.screens.member_dialog import MemberChangeDialog
from hawizard.tui.widgets.change_panel import ChangePanel

MEMBERS = ("infra0", "infra1", "infra2")


def saved_plan(tmp_path, *, spare: bool = True) -> Plan:
    path = tmp_path / "plan.toml"
    dump(fixed_plan(str(tmp_path / "pki"), spare=spare), path)
    return load(path)


def reachable(_plan: Plan, _node: str) -> TargetState:
    return TargetState(reachable=True, has_data=False)


def day2_app(plan: Plan, down: tuple[str, ...] = (), **kw):
    probe = functools.partial(fixed_health, down=down, members=MEMBERS)
    kw.setdefault("target_probe", reachable)
    return make_app(plan, plan.source, start="dashboard", interval=60, health_probe=probe, **kw)


async def wait_for(pilot, condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.05)


async def open_dialog(pilot, key: str) -> MemberChangeDialog:
    dash = pilot.app.screen
    await wait_for(pilot, lambda: dash.rounds >= 1)
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, MemberChangeDialog))
    dialog = pilot.app.screen
    await wait_for(pilot, lambda: dialog.checked >= 1)
    return dialog


def text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def confirm_button(dialog) -> Button:
    return dialog.query_one("#confirm-change", Button)


async def test_add_shows_quorum_and_tolerance_before_and_after(tmp_path):
    plan = saved_plan(tmp_path)
    release = threading.Event()

    def slow_target(p, node):  # holds the full check back: the instant numbers show first
        release.wait(10)
        return reachable(p, node)

    app = day2_app(plan, target_probe=slow_target)
    async with app.run_test(size=SIZE) as pilot:
        dash = app.screen
        await wait_for(pilot, lambda: dash.rounds >= 1)
        assert str(dash.query_one("#members", DataTable).get_cell("infra3", "health")) == (
            "· not a member"
        )
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, MemberChangeDialog))
        dialog = app.screen
        await pilot.pause()
        # from plan_change on the dashboard's last round, before the full check answered
        assert dialog.checking and dialog.impact is not None
        assert (dialog.op, dialog.node) == (Op.ADD, "infra3")
        assert confirm_button(dialog).disabled
        assert "checking: a fresh probe round and infra3 over SSH" in text(dialog, "#change-check")
        numbers = text(dialog, "#change-numbers")
        assert "voting members" in numbers and "3   →       4" in numbers

        release.set()
        await wait_for(pilot, lambda: dialog.checked >= 1)
        impact = dialog.assessment.impact
        assert (impact.before_members, impact.after_members) == (3, 4)
        assert (impact.before_quorum, impact.after_quorum) == (2, 3)
        assert (impact.before_tolerance, impact.after_tolerance) == (1, 1)
        numbers = text(dialog, "#change-numbers")
        for row in ("voting members", "quorum", "tolerates failures"):
            assert row in numbers
        assert "2   →       3" in numbers and "1   →       1" in numbers
        verdict = text(dialog, "#change-verdict")
        assert "allowed: infra3 joins as a learner" in verdict
        assert "4 members tolerate no more failures than 3" in verdict
        steps = text(dialog, "#change-steps")
        assert "snapshot" in steps and "learner" in steps and "promoted" in steps
        button = confirm_button(dialog)
        assert button.display and not button.disabled


async def test_add_is_refused_while_one_of_three_is_down(tmp_path):
    plan = saved_plan(tmp_path)
    app = day2_app(plan, down=("infra2",))
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_dialog(pilot, "a")
        assert not dialog.assessment.allowed
        verdict = text(dialog, "#change-verdict")
        assert "refused: infra2 is down" in verdict
        assert f"→ hawizard etcd replace {plan.source} infra2 infra3" in verdict
        assert not confirm_button(dialog).display
        assert str(dialog.query_one("#cancel-change", Button).label) == "Close"
        assert not dialog.query_one("#change-steps").display
        await pilot.press("y")  # nothing to confirm
        await pilot.pause()
        assert app.screen is dialog
        await pilot.click("#cancel-change")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert not app.screen.query_one(ChangePanel).display


async def test_remove_takes_the_selected_row(tmp_path):
    plan = saved_plan(tmp_path)
    app = day2_app(plan)
    async with app.run_test(size=SIZE) as pilot:
        dash = app.screen
        await wait_for(pilot, lambda: dash.rounds >= 1)
        dash.query_one("#members", DataTable).focus()
        await pilot.press("down")  # infra0 → infra1
        dialog = await open_dialog(pilot, "x")
        assert (dialog.op, dialog.node, dialog.old) == (Op.REMOVE, "infra1", None)
        impact = dialog.assessment.impact
        assert impact.allowed
        assert (impact.before_members, impact.after_members) == (3, 2)
        assert (impact.before_quorum, impact.after_quorum) == (2, 2)
        assert (impact.before_tolerance, impact.after_tolerance) == (1, 0)
        assert "remove infra1 (10.1.2.12)" in text(dialog, "#change-what")
        steps = text(dialog, "#change-steps")
        assert "data dir is kept, never deleted" in steps
        assert not confirm_button(dialog).disabled


async def test_replace_offers_free_nodes_and_the_same_node(tmp_path):
    plan = saved_plan(tmp_path)
    app = day2_app(plan, down=("infra2",))
    async with app.run_test(size=SIZE) as pilot:
        dash = app.screen
        await wait_for(pilot, lambda: dash.rounds >= 1)
        dash.query_one("#members", DataTable).focus()
        await pilot.press("down", "down")  # infra2, the one that is down
        dialog = await open_dialog(pilot, "R")
        assert (dialog.op, dialog.old, dialog.node) == (Op.REPLACE, "infra2", "infra3")
        assert dialog.choices == ["infra3", "infra2"]
        impact = dialog.assessment.impact
        assert impact.allowed
        assert (impact.before_tolerance, impact.after_tolerance) == (0, 1)
        # the same node: re-added as a new member (a lost data dir)
        dialog.query_one("#change-node").value = "infra2"
        await wait_for(pilot, lambda: dialog.checked >= 2 and dialog.node == "infra2")
        assert dialog.assessment.allowed
        assert "renamed aside" in text(dialog, "#change-steps")
        assert "the same node" in text(dialog, "#change-what")


async def test_escape_cancels_and_nothing_runs(tmp_path):
    plan = saved_plan(tmp_path)
    before = plan.source.read_text()
    app = day2_app(plan)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_dialog(pilot, "a")
        assert dialog.assessment.allowed
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        await settle(pilot)
        panel = app.screen.query_one(ChangePanel)
        assert not panel.display and not panel.running and panel.outcome is None
        assert not [w for w in app.workers if w.group == "membership-change"]
    assert plan.source.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.toml"]  # no lock, no record
    assert not lock_path(plan.source).exists()


async def test_no_node_to_add_says_how_to_add_one(tmp_path):
    plan = saved_plan(tmp_path, spare=False)
    app = day2_app(plan)
    async with app.run_test(size=SIZE) as pilot:
        dash = app.screen
        await wait_for(pilot, lambda: dash.rounds >= 1)
        await pilot.press("a")
        await pilot.pause()
        assert app.screen is dash
        (note,) = list(app._notifications)
        assert "Nodes step" in note.message and "plan init" in note.message


async def test_unsaved_plan_is_refused(tmp_path):
    plan = saved_plan(tmp_path)
    app = day2_app(plan)
    async with app.run_test(size=SIZE) as pilot:
        app.set_plan(replace(plan, cluster=replace(plan.cluster, name="renamed")))
        dialog = await open_dialog(pilot, "a")
        assert dialog.assessment is None
        verdict = text(dialog, "#change-verdict")
        assert "differs from" in verdict and "save it first (ctrl+s)" in verdict
        assert not confirm_button(dialog).display


async def test_a_locked_plan_stops_the_confirmed_change(tmp_path):
    """Confirmed, but another `hawizard etcd …` holds the plan: the panel says who, and the
    change does not start (nothing reaches a node)."""
    plan = saved_plan(tmp_path)
    app = day2_app(plan)
    with PlanLock(plan.source, "hawizard etcd remove plan.toml infra1"):
        async with app.run_test(size=SIZE) as pilot:
            dash = app.screen
            dialog = await open_dialog(pilot, "a")
            await pilot.press("y")
            await wait_for(pilot, lambda: app.screen is dash)
            panel = dash.query_one(ChangePanel)
            await wait_for(pilot, lambda: panel.display and not panel.running)
            status = text(panel, "#change-status")
            assert "being changed by `hawizard etcd remove plan.toml infra1`" in status
            assert panel.outcome is None and dialog.assessment.allowed
            assert not (tmp_path / "plan.change.json").exists()
            assert not dash.query_one("#cert-expiry").display  # the panel took its place
            await pilot.press("escape")
            assert not panel.display and dash.query_one("#cert-expiry").display


async def test_a_row_that_leaves_takes_its_width_and_the_cursor_keeps_its_member(tmp_path):
    """A joining member shows up under a long temporary name for a moment; once it is gone the
    member column shrinks back, and the cursor stays on the member it was on."""
    plan = saved_plan(tmp_path)
    long_name = "infra3-joining-under-a-long-name"
    answers = {"plan": plan.with_nodes((*plan.nodes[:3], replace(plan.nodes[3], name=long_name)))}
    app = make_app(
        plan,
        plan.source,
        start="dashboard",
        interval=60,
        health_probe=lambda _plan: fixed_health(answers["plan"], down=(), members=MEMBERS),
    )
    async with app.run_test(size=SIZE) as pilot:
        dash = app.screen
        await wait_for(pilot, lambda: dash.rounds >= 1)
        table = dash.query_one("#members", DataTable)
        assert table.columns["member"].content_width >= len(long_name)
        table.focus()
        await pilot.press("down")
        assert dash.members.selected() == "infra1"
        answers["plan"] = fixed_plan(str(tmp_path / "pki"))
        await pilot.press("r")
        await wait_for(pilot, lambda: dash.rounds >= 2)
        assert [k.value for k in table.rows] == list(MEMBERS)
        assert table.columns["member"].content_width < len(long_name)
        assert dash.members.selected() == "infra1"
