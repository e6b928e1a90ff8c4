"""The dashboard remembers: sparklines of each member's recent rounds and the events pane.

The snapshots replay probe rounds recorded from a real lab (`tests/fixtures/health`: three
healthy members, then one whose etcd was killed, then healthy again) through the real health
model, and show at 80×24 and 200×60 the member names unclipped beside the sparklines and the
events pane (`e`). The numeric checks replay six rounds of `fixed_health` (what the model makes
of fixed probe answers), each 2 s after the last, with latency and raft index moving; in the
fifth a member stops answering, in the sixth it is back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from fixtures.health import recorded
from textual.widgets import DataTable, Static
from tui_support import FIXED_PATH, fixed_health, fixed_plan, make_app, settle

from hawizard.health_history import BARS

ROUNDS = 6
DOWN_IN = {4: ("infra2",)}  # round index -> members that do not answer


def replay():
    """A health probe that returns the next of ROUNDS rounds (the last one again after)."""
    calls = {"n": 0}

    def probe(plan):
        i = min(calls["n"], ROUNDS - 1)
        calls["n"] += 1
        health = fixed_health(plan, down=DOWN_IN.get(i, ()))
        rows = tuple(
            dataclasses.replace(
                m,
                rtt_ms=None if m.rtt_ms is None else 1.0 + (i * (k + 1)) % 5,
                raft_index=None if m.raft_index is None else 1000 + 40 * i * i,
            )
            for k, m in enumerate(health.members)
        )
        when = health.checked_at + dt.timedelta(seconds=2 * i)
        return dataclasses.replace(health, members=rows, checked_at=when)

    return probe


LAB_ROUNDS = (
    "lab-three-healthy",
    "lab-three-healthy",
    "lab-one-member-killed",
    "lab-three-healthy",
)


def recorded_replay():
    """The recorded lab rounds in turn, 2 s apart (the last one again after)."""
    calls = {"n": 0}
    rounds = [recorded(name)[1] for name in LAB_ROUNDS]
    start = rounds[0].checked_at

    def probe(_plan):
        i = min(calls["n"], len(rounds) - 1)
        calls["n"] += 1
        return dataclasses.replace(rounds[i], checked_at=start + dt.timedelta(seconds=2 * i))

    return probe


def recorded_app():
    plan, _ = recorded(LAB_ROUNDS[0])
    return make_app(
        plan, FIXED_PATH, start="dashboard", interval=60, health_probe=recorded_replay()
    )


def history_app():
    return make_app(fixed_plan(), FIXED_PATH, start="dashboard", interval=60, health_probe=replay())


async def _rounds_then_events(pilot, rounds: int = ROUNDS) -> None:
    await settle(pilot)
    for _ in range(rounds - 1):
        await pilot.press("r")
        await settle(pilot)
    await pilot.press("e")
    await settle(pilot)


@pytest.mark.parametrize("size", [(80, 24), (200, 60)], ids=["80x24", "200x60"])
def test_dashboard_history_snapshot(snap_compare, size):
    async def run_before(pilot) -> None:
        await _rounds_then_events(pilot, len(LAB_ROUNDS))

    assert snap_compare(recorded_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [(80, 24), (200, 60)], ids=["80x24", "200x60"])
async def test_sparklines_events_and_whole_member_names(size):
    app = history_app()
    async with app.run_test(size=size) as pilot:
        await _rounds_then_events(pilot)
        dash = app.screen
        assert dash.rounds == ROUNDS
        table = dash.query_one("#members", DataTable)
        names = [str(table.get_cell(k, "member")) for k in ("infra0", "infra1", "infra2")]
        assert names == ["infra0", "infra1", "infra2"]
        member_col = table.columns["member"]
        assert member_col.get_render_width(table) >= len("infra0") + 2  # never clipped
        trend = str(table.get_cell("infra0", "lat_trend"))
        assert set(trend) <= set(BARS) and len(trend) == ROUNDS
        rate = str(table.get_cell("infra0", "rate"))
        assert rate.split()[0] == "180"  # (40·25 − 40·16) raft entries in 2 s
        events = str(dash.query_one("#events", Static).render())
        assert "infra2 unhealthy" in events and "infra2 healthy again" in events
        await pilot.press("e")
        assert not dash.query_one("#events").display
