"""Day 2 from the dashboard against the lab: three real members, then `a` adds the fourth.

The cluster is bootstrapped by the engine (as `tests/etcd/test_members_lab.py` does); the
fourth node is in the plan with the etcd role only. In the app: the dashboard shows it as not
a member; `a` then `d` runs a dry run (nothing changes); `a`, `y` then `C` cancels before
`member add` (nothing to resume); `a` opens the dialog with the engine's verdict (3 → 4), `y`
runs the change in the panel under the tables while the dashboard keeps polling (no cancel
once the membership changes), and four healthy members appear. Then the leader's etcd is
killed, and the events pane shows one leader change naming the new leader.
An independent `etcdctl member list` agrees. Every touched node is reset afterwards.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest
from fixtures.etcdctl import etcdctl
from textual.widgets import DataTable
from tui_support import NO_LABS, SIZE

from hawizard import pki
from hawizard.etcd.membership import pending_path
from hawizard.etcd.rollout import etcd_phases
from hawizard.journal import Journal
from hawizard.plan import Role, dump, load
from hawizard.remote import HostPool
from hawizard.steps import Runner
from hawizard.tui.app import WizardApp
from hawizard.tui.screens.dashboard import DashboardScreen
from hawizard.tui.screens.member_dialog import MemberChangeDialog
from hawizard.tui.widgets.change_panel import ChangePanel

pytestmark = pytest.mark.lab


async def wait_for(pilot, condition, timeout: float, what: str) -> float:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, f"{what}: not within {timeout:g} s"
        await pilot.pause(0.1)
    return time.monotonic() - start


def etcdctl_members(plan) -> list[dict]:
    out = etcdctl(plan, "member", "list", "-w", "json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["members"]


async def round_period(pilot, dash, rounds: int = 3) -> float:
    """Seconds per probe round, measured over the next `rounds` rounds."""
    start_rounds = dash.rounds
    await wait_for(pilot, lambda: dash.rounds > start_rounds, 30, "a round")
    first, started = dash.rounds, time.monotonic()
    await wait_for(pilot, lambda: dash.rounds >= first + rounds, 60, f"{rounds} rounds")
    return (time.monotonic() - started) / (dash.rounds - first)


def health_cell(dash, member: str) -> str:
    return str(dash.query_one("#members", DataTable).get_cell(member, "health"))


async def open_add_dialog(pilot, app) -> MemberChangeDialog:
    await pilot.press("a")
    await wait_for(pilot, lambda: isinstance(app.screen, MemberChangeDialog), 5, "dialog")
    dialog = app.screen
    await wait_for(pilot, lambda: dialog.checked >= 1, 30, "full check")
    return dialog


def footer_text(app) -> str:
    from textual.widgets import Footer

    return " ".join(str(k.render()) for k in app.screen.query_one(Footer).query("FooterKey"))


async def test_add_a_fourth_member_from_the_dashboard(lab, tmp_path):
    pki_dir = tmp_path / "pki"
    pki_dir.mkdir(mode=0o700)
    three = lab.plan(nodes=3, pki_dir=pki_dir)
    fourth = replace(lab.plan(nodes=4, pki_dir=pki_dir).nodes[3], roles=(Role.ETCD,))
    names = [n.name for n in (*three.nodes, fourth)]
    path = tmp_path / "plan.toml"
    dump(three, path)
    try:
        started = time.monotonic()
        plan = load(path)
        pki.create(plan)
        result = Runner(HostPool(plan), journal=Journal.for_plan(plan)).run(etcd_phases(plan))
        assert result.ok, result.failures
        bootstrap = time.monotonic() - started
        dump(plan.with_nodes((*plan.nodes, fourth)), path)  # the operator puts n4 in the plan
        plan = load(path)

        app = WizardApp(plan, path, start="dashboard", labs_root=NO_LABS, interval=0.5)
        async with app.run_test(size=SIZE) as pilot:
            dash = app.screen
            assert isinstance(dash, DashboardScreen)
            await wait_for(
                pilot,
                lambda: dash.health is not None and dash.health.healthy_voters == 3,
                30,
                "three healthy members",
            )
            assert dash.health.not_in_cluster == (fourth.name,)
            assert health_cell(dash, fourth.name) == "· not a member"

            panel = dash.query_one(ChangePanel)

            # d: the dry run records what would run and changes nothing
            await open_add_dialog(pilot, app)
            await pilot.press("d")
            await wait_for(pilot, lambda: app.screen is dash, 5, "back on the dashboard")
            await wait_for(pilot, lambda: panel.display and not panel.running, 120, "dry run")
            assert panel.outcome is not None and panel.outcome.etcd.dry_run
            assert "nothing changed" in str(panel.query_one("#change-status").render())
            assert len(etcdctl_members(plan)) == 3
            assert not pending_path(path).exists()
            await pilot.press("escape")

            # C right after y: cancelled before `member add`, nothing to resume
            await open_add_dialog(pilot, app)
            await pilot.press("y")
            await wait_for(pilot, lambda: app.screen is dash, 5, "back on the dashboard")
            assert panel.cancellable and "Cancel change" in footer_text(app)
            await pilot.press("C")
            await wait_for(pilot, lambda: not panel.running, 120, "the cancelled add")
            assert not panel.cluster_touched
            status = str(panel.query_one("#change-status").render())
            assert "cancelled before anything in the cluster changed" in status
            assert len(etcdctl_members(plan)) == 3
            assert not pending_path(path).exists()  # nothing to resume
            await pilot.press("escape")

            # the pace of rounds before the change: the change must not slow it down much
            period = await round_period(pilot, dash)
            dialog = await open_add_dialog(pilot, app)
            impact = dialog.assessment.impact
            assert impact.allowed, impact.reason
            assert (impact.before_members, impact.after_members) == (3, 4)
            assert (impact.before_tolerance, impact.after_tolerance) == (1, 1)

            await pilot.press("y")
            change_started = time.monotonic()
            rounds = dash.rounds
            await wait_for(pilot, lambda: app.screen is dash, 5, "back on the dashboard")
            await wait_for(pilot, lambda: panel.cluster_touched, 120, "member add begins")
            assert not panel.cancellable  # past the point of no return: no cancel offered
            await pilot.press("C")  # refused with a note; the add goes on
            await wait_for(pilot, lambda: not panel.running, 180, "the add")
            took = time.monotonic() - change_started
            assert panel.outcome is not None and panel.outcome.ok, panel.view.rows
            # the dashboard kept polling during the change: at least half its usual pace
            # (a change shorter than two usual rounds may see none; it is not held to one)
            during = dash.rounds - rounds
            assert during >= int(took / (2 * period)), (during, took, period)
            assert fourth.name in panel.view.rows
            assert panel.change.snapshot is not None and panel.change.snapshot.path.exists()

            await wait_for(
                pilot,
                lambda: dash.health.converged and dash.health.healthy_voters == 4,
                30,
                "four healthy members on the dashboard",
            )
            assert all(health_cell(dash, n) == "✔ healthy" for n in names)
            assert "4/4 healthy" in str(dash.query_one("#quorum-banner").render())
            assert app.plan == load(path)  # add leaves the plan as it was: n4 is in it

            # the leader's etcd is killed: one leader-change event names the new leader
            old = dash.health.leader_name
            seen = len(dash.poller.history.events)
            await pilot.press("e")
            lab.fault(old, "kill-etcd")

            def leader_events():
                new = list(dash.poller.history.events)[seen:]
                return [e for e in new if e.kind.value == "leader"]

            await wait_for(pilot, lambda: leader_events(), 60, "a leader-change event")
            await wait_for(
                pilot, lambda: dash.health.healthy_voters == 4, 60, "the killed member back"
            )
            (change,) = leader_events()
            assert change.subject != old and change.subject in names
            assert change.text == f"leader is now {change.subject} (was {old})"
            assert change.text in str(dash.query_one("#events").render())

        members = etcdctl_members(load(path))
        assert sorted(m["name"] for m in members) == sorted(names)
        assert not any(m.get("isLearner") for m in members)
        assert not pending_path(path).exists()
        print(
            f"\nbootstrap {bootstrap:.1f} s, add from the dashboard {took:.1f} s"
            f" ({during} rounds during it, one per {period:.2f} s before)"
        )
    finally:
        lab.reset(*names)
