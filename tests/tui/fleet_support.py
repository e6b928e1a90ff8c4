"""What the fleet tests share: a cell of the fleet table, waiting under the pilot, and the
drill into one cluster's dashboard (its down member seen there) and back."""

from __future__ import annotations

import time

from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

from hawizard.tui.screens.dashboard import DashboardScreen


def cell(app, row: int, column: str):
    table = app.get_screen("fleet").query_one("#fleet", DataTable)
    try:
        return table.get_cell(str(row), column)
    except CellDoesNotExist:  # not drawn yet
        return ""


async def wait_for(pilot, condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.05)


async def drill_in_and_back(pilot, app, row: int, victim: str, timeout: float = 20.0):
    """Enter on `row` opens that cluster's dashboard, which shows `victim` unhealthy;
    Escape comes back to the fleet. Returns the dashboard screen."""
    fleet = app.get_screen("fleet")
    fleet.query_one("#fleet", DataTable).move_cursor(row=row)
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), timeout)
    dash = app.screen
    await wait_for(
        pilot,
        lambda: (
            dash.health is not None
            and dash.health.member(victim) is not None
            and not dash.health.member(victim).healthy
        ),
        timeout,
    )
    await pilot.press("escape")
    await wait_for(pilot, lambda: app.screen is fleet, timeout)
    return dash
