"""`hawizard dashboard --replay`: the dashboard fed from recorded rounds, with a time cursor.

The rounds are the probe rounds recorded from a real lab (`tests/fixtures/health`: three
healthy, one member's etcd killed, healthy again), passed through the recorder's compact
form and back, 2 s apart; nothing is probed (the app gets a health probe that fails the test).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from fixtures.health import recorded
from textual.widgets import DataTable, Static
from tui_support import FIXED_PATH, NO_LABS

from hawizard.recorder import rounds
from hawizard.tui.replay_app import ReplayApp
from hawizard.tui.replay_cursor import ReplayCursor
from hawizard.tui.widgets.status import Mark, mark_color

LAB_ROUNDS = ("lab-three-healthy", "lab-three-healthy", "lab-one-member-killed")
LAB_ROUNDS += ("lab-one-member-killed", "lab-three-healthy")
KILLED = 2  # the first round where a member is down


def recorded_rounds() -> list[rounds.Round]:
    healths = [recorded(name)[1] for name in LAB_ROUNDS]
    start = healths[0].checked_at
    out = []
    for i, h in enumerate(healths):
        h = dataclasses.replace(h, checked_at=start + dt.timedelta(seconds=2 * i))
        out.append(rounds.decode(rounds.encode(h, [], ["lb1" if i < 3 else "lb2"])))
    return out


def no_probe(_plan):
    raise AssertionError("a replay must not probe")


def replay_app() -> ReplayApp:
    plan, _ = recorded(LAB_ROUNDS[0])
    return ReplayApp(plan, FIXED_PATH, recorded_rounds(), labs_root=NO_LABS, health_probe=no_probe)


def down_member() -> str:
    _plan, killed = recorded("lab-one-member-killed")
    (name,) = [m.name for m in killed.members if not m.healthy]
    return name


def test_cursor_steps_and_jumps_to_events():
    cursor = ReplayCursor(recorded_rounds())
    # down (2), the VIP moving (3), back (4)
    assert cursor.event_rounds == [KILLED, 3, 4]
    assert cursor.next_event() and cursor.index == KILLED
    assert cursor.step(-10) and cursor.index == 0
    assert not cursor.step(-1)
    cursor.index = len(cursor.rounds) - 1
    assert not cursor.step(1) and not cursor.next_event()
    assert cursor.previous_event() and cursor.index < len(cursor.rounds) - 1
    cursor.faster(2)
    assert cursor.speed == 4 and cursor.delay() == 0.5  # the last round: the idle wait
    cursor.index = 0
    assert cursor.delay() == 0.5  # 2 s recorded gap at ×4
    frame = cursor.frame()
    assert frame.round is cursor.rounds[0] and not frame.history.events
    with pytest.raises(ValueError, match="nothing to replay"):
        ReplayCursor([])


async def test_replay_keys_move_the_cursor_and_never_probe():
    app = replay_app()
    victim = down_member()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        table = screen.query_one("#members", DataTable)
        assert "round 1/5" in str(screen.query_one("#dash-title", Static).render())
        assert screen.health.member(victim).healthy
        assert table.row_count == 3
        await pilot.press("n")  # the next event: the member goes down
        await pilot.pause()
        assert app.cursor.index == KILLED
        title = str(screen.query_one("#dash-title", Static).render())
        assert "round 3/5" in title and "paused" in title
        assert screen.health.member(victim).healthy is False
        cell = table.get_cell(victim, "health")
        assert "unreachable" in str(cell)
        assert cell.style == mark_color(app, Mark.BAD)  # the row is red at that time
        info = str(screen.query_one("#dash-info", Static).render())
        assert "VIP held by lb1" in info
        await pilot.press("e")
        events = str(screen.query_one("#events", Static).render())
        assert f"{victim} unhealthy" in events and "healthy again" not in events
        await pilot.press("right", "right")
        await pilot.pause()
        assert app.cursor.index == 4 and screen.health.member(victim).healthy
        assert "VIP held by lb2" in str(screen.query_one("#dash-info", Static).render())
        await pilot.press("left_square_bracket", "right_square_bracket", "right_square_bracket")
        assert app.cursor.speed == 4  # ×1 is the slowest: ×1, ×2, ×4
        await pilot.press("a", "x", "r")  # day-2 and probe keys are off in a replay
        await pilot.pause()
        assert app.screen is screen and app.cursor.index == 4


def test_replayed_frame_with_a_red_member_snapshot(snap_compare):
    async def run_before(pilot) -> None:
        await pilot.pause()
        await pilot.press("n", "e")
        await pilot.pause()

    assert snap_compare(replay_app(), terminal_size=(120, 36), run_before=run_before)
