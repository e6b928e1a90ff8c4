"""Issue 31's proof with two real labs in one fleet view: etcd on each (3 members, its own
PKI), one member of one lab stopped → that row red within one round while the other stays
green; Enter drills into that cluster's dashboard, Escape comes back."""

from __future__ import annotations

import time

import pytest
from fixtures.etcd_rollout import etcd_on_lab
from fixtures.lab import LAB_NAME, running_lab
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

from hawizard.ops.fleet import gather
from hawizard.tui.fleet_app import FleetApp
from hawizard.tui.screens.dashboard import DashboardScreen
from hawizard.tui.widgets.status import Mark, mark_color

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def two_labs(lab, tmp_path_factory):
    base = tmp_path_factory.mktemp("fleet-lab")
    with running_lab(LAB_NAME[:11] + "f", 3) as other:
        plans = (etcd_on_lab(lab, base / "one"), etcd_on_lab(other, base / "two"))
        try:
            yield (lab, other), plans
        finally:
            lab.reset(*(n.name for n in plans[0].nodes))


def cell(app, row: int, column: str):
    try:
        return app.get_screen("fleet").query_one("#fleet", DataTable).get_cell(str(row), column)
    except CellDoesNotExist:
        return ""


async def wait_for(pilot, condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.1)


async def test_two_labs_one_member_stopped_turns_only_its_row_red(two_labs):
    (_one, two), plans = two_labs
    members, skipped = gather([str(p.source) for p in plans])
    assert not skipped
    app = FleetApp(members, interval=1.0)
    async with app.run_test(size=(140, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: all(str(cell(app, i, "members")) == "3/3" for i in (0, 1)))
        victim = plans[1].etcd_nodes[-1].name
        two.exec(victim, ["systemctl", "stop", "etcd"])
        try:
            stopped = time.monotonic()
            await wait_for(pilot, lambda: str(cell(app, 1, "members")) == "2/3")
            took = time.monotonic() - stopped
            # one round: the interval, the probe's own timeout, and a margin for a busy host
            assert took < app.interval + plans[1].etcd.probe_timeout + 3, took
            assert cell(app, 1, "cluster").style == mark_color(app, Mark.BAD)
            assert str(cell(app, 0, "members")) == "3/3"
            assert cell(app, 0, "cluster").style == mark_color(app, Mark.OK)
            screen.query_one("#fleet", DataTable).move_cursor(row=1)
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
            dash = app.screen
            await wait_for(
                pilot,
                lambda: (
                    dash.health is not None
                    and dash.health.member(victim) is not None
                    and not dash.health.member(victim).healthy
                ),
            )
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is screen)
        finally:
            two.exec(victim, ["systemctl", "start", "etcd"])
