"""Issue 31's proof with two real labs in one fleet view: etcd on each (3 members, its own
PKI), one member of one lab stopped → that row red within one round while the other stays
green; Enter drills into that cluster's dashboard, Escape comes back."""

from __future__ import annotations

import time

import pytest
from fixtures.etcd_rollout import etcd_on_lab
from fixtures.lab import LAB_NAME, running_lab
from fleet_support import cell, drill_in_and_back, wait_for

from hawizard.ops.fleet import gather
from hawizard.tui.fleet_app import FleetApp
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


async def test_two_labs_one_member_stopped_turns_only_its_row_red(two_labs):
    (_one, two), plans = two_labs
    members, skipped = gather([str(p.source) for p in plans])
    assert not skipped
    app = FleetApp(members, interval=1.0)
    async with app.run_test(size=(140, 30)) as pilot:
        both = (0, 1)
        await wait_for(pilot, lambda: all(str(cell(app, i, "members")) == "3/3" for i in both), 60)
        victim = plans[1].etcd_nodes[-1].name
        two.exec(victim, ["systemctl", "stop", "etcd"])
        try:
            stopped = time.monotonic()
            await wait_for(pilot, lambda: str(cell(app, 1, "members")) == "2/3", 60)
            took = time.monotonic() - stopped
            # one round: the interval, the probe's own timeout, and a margin for a busy host
            assert took < app.interval + plans[1].etcd.probe_timeout + 3, took
            assert cell(app, 1, "cluster").style == mark_color(app, Mark.BAD)
            assert str(cell(app, 0, "members")) == "3/3"
            assert cell(app, 0, "cluster").style == mark_color(app, Mark.OK)
            await drill_in_and_back(pilot, app, 1, victim, timeout=60)
        finally:
            two.exec(victim, ["systemctl", "start", "etcd"])
