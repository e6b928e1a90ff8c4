"""SVG snapshots of every screen (Posting's way): fixed plan, fixed size, steady cursor.

Update after an intended change with `pytest tests/tui/test_tui_snapshots.py --snapshot-update`
and look at the SVGs in `__snapshots__/` before committing them.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from textual.widgets import Input
from tui_support import (
    FIXED_PATH,
    SIZE,
    fixed_checklist,
    fixed_health,
    fixed_plan,
    make_app,
    settle,
)

from hawizard.etcd.quorum_rules import TargetState
from hawizard.plan import dump, load
from hawizard.tui.messages import HostKeyQuestion
from hawizard.tui.screens.host_key_dialog import HostKeyDialog


async def _settled(pilot) -> None:
    await settle(pilot)


def test_start(snap_compare):
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=_settled)


def test_nodes(snap_compare):
    assert snap_compare(make_app(fixed_plan(), FIXED_PATH), terminal_size=SIZE, run_before=_settled)


def test_nodes_invalid_input(snap_compare):
    async def run_before(pilot) -> None:
        await settle(pilot)
        pilot.app.screen.query_one("#f-name", Input).focus()
        await pilot.press(*"infra3", "tab", *"10.1.2.300", "enter")
        await settle(pilot)

    assert snap_compare(
        make_app(fixed_plan(), FIXED_PATH), terminal_size=SIZE, run_before=run_before
    )


@pytest.mark.parametrize("step", ["preflight", "certificates", "etcd", "control-plane", "review"])
def test_step(snap_compare, step):
    app = make_app(fixed_plan(), FIXED_PATH, start=step)
    assert snap_compare(app, terminal_size=SIZE, run_before=_settled)


@pytest.mark.parametrize("theme", ["light", "high-contrast"])
def test_nodes_themes(snap_compare, theme):
    app = make_app(fixed_plan(), FIXED_PATH, theme=theme)
    assert snap_compare(app, terminal_size=SIZE, run_before=_settled)


@pytest.mark.parametrize("theme", ["dark", "high-contrast"])
def test_dashboard_one_member_down(snap_compare, theme):
    app = make_app(
        fixed_plan(),
        FIXED_PATH,
        start="dashboard",
        theme=theme,
        interval=60,
        health_probe=fixed_health,
    )
    assert snap_compare(app, terminal_size=SIZE, run_before=_settled)


def test_host_key_dialog(snap_compare):
    question = HostKeyQuestion(
        node="infra1",
        address="10.1.2.12",
        port=22,
        key_type="ssh-ed25519",
        fingerprint="SHA256:3q2+7wAbCdEfGhIjKlMnOpQrStUvWxYz0123456789A",
        known_hosts=Path("/nonexistent/hawizard-snapshots/known_hosts"),
    )

    async def run_before(pilot) -> None:
        await settle(pilot)
        pilot.app.push_screen(HostKeyDialog(question))
        await settle(pilot)

    app = make_app(fixed_plan(), FIXED_PATH, start="preflight")
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_member_change_dialog(snap_compare, tmp_path):
    """Day 2: adding infra3 to three healthy members, as the engine judges it (allowed)."""
    path = tmp_path / "plan.toml"  # a change needs a saved plan; its path is not shown
    dump(fixed_plan(str(tmp_path / "pki"), spare=True), path)
    plan = load(path)
    app = make_app(
        plan,
        path,
        start="dashboard",
        interval=60,
        health_probe=functools.partial(
            fixed_health, down=(), members=("infra0", "infra1", "infra2")
        ),
        target_probe=lambda _plan, _node: TargetState(reachable=True),
    )

    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)  # the dialog's full check has answered

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_readiness(snap_compare):
    """The production checklist rows as `hawizard check` makes them (one member down)."""
    app = make_app(fixed_plan(), FIXED_PATH, start="readiness", readiness_check=fixed_checklist)

    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_dashboard_readiness(snap_compare):
    """`k` on the dashboard: the same checklist rows in a dialog."""
    app = make_app(
        fixed_plan(),
        FIXED_PATH,
        start="dashboard",
        interval=60,
        health_probe=fixed_health,
        readiness_check=fixed_checklist,
    )

    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("k")
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
