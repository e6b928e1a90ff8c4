"""The first frame (issue 30): the dashboard loads its own screen only, no SSH stack, and shows
the members of its first round before the round's slow probes (SSH, apiservers) end.

Counted (modules, rows while a probe is held), not timed: `tests/bench/bench_dashboard.py`
times the frames."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from textual.widgets import DataTable
from tui_support import FIXED_PATH, SIZE, fixed_health, fixed_plan, make_app

from hawizard import steps
from hawizard.tui.screens import registry
from hawizard.tui.widgets import run_view

# What the dashboard's first frame must not import: SSH, the engine, the other steps' screens.
NOT_FOR_THE_DASHBOARD = (
    "paramiko",
    "fabric",
    "invoke",
    "hawizard.remote",
    "hawizard.steps",
    "hawizard.tui.screens.nodes",
    "hawizard.tui.screens.review",
    "hawizard.tui.screens.readiness",
    "hawizard.tui.screens.control_plane",
    "hawizard.tui.screens.certificates",
)


def test_run_view_names_local_steps_as_the_engine_does() -> None:
    assert run_view.LOCAL == steps.LOCAL


def test_the_dashboard_screen_loads_no_ssh_and_no_other_screen() -> None:
    script = (
        "import sys\n"
        "import hawizard.tui.app\n"
        "from hawizard.tui.screens import registry\n"
        "registry.SCREENS['dashboard']()\n"
        f"print(sorted(m for m in {NOT_FOR_THE_DASHBOARD!r} if m in sys.modules))\n"
        "registry.SCREENS['nodes']()\n"
        "print('hawizard.tui.screens.nodes' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.split("\n")[:2] == ["[]", "True"], done.stderr


def test_every_registered_screen_is_made_by_its_factory() -> None:
    for name, factory in registry.SCREENS.items():
        screen = factory()
        assert type(screen).__name__.lower().startswith(name.replace("-", "")[:5]), name


async def test_first_round_shows_members_while_the_balancer_probe_still_runs() -> None:
    plan = fixed_plan()
    release = threading.Event()

    def slow_balancer(_plan):
        release.wait(20)  # SSH to the balancer nodes, held until the rows were seen
        return None

    app = make_app(
        plan,
        FIXED_PATH,
        start="dashboard",
        interval=60,
        health_probe=lambda p: fixed_health(p),
        balancer_probe=slow_balancer,
    )
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            table = screen.query_one("#members", DataTable)
            deadline = time.monotonic() + 10
            while table.row_count < 3:
                assert time.monotonic() < deadline, "members not shown while the round ran"
                await pilot.pause(0.02)
            assert screen.rounds == 0 and not release.is_set()  # the round is still running
            assert [k.value for k in table.rows] == ["infra0", "infra1", "infra2"]
            release.set()
            while screen.rounds < 1:
                assert time.monotonic() < deadline, "the round did not end"
                await pilot.pause(0.02)
            assert screen.health is not None and table.row_count == 3
    finally:
        release.set()
