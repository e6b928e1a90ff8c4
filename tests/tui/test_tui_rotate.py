"""The dashboard offers `certs rotate` from its certificate table: the etcd CA row offers the
CA rotation, a due etcd row the rotation of the due certificates, any other etcd row the
rotation of all of them (`--all`). Each dialog names the CLI command it stands for; cancelling
starts nothing. (The rotation itself runs the same `ops.rotate.rotate` as the CLI, tested on
the lab in tests/ops/test_rotate_lab.py; here no probe or SSH leaves the machine.)"""

from __future__ import annotations

import time

from textual.widgets import DataTable, Static
from tui_support import SIZE, fixed_health, fixed_plan, make_app

from hawizard.plan import dump, load
from hawizard.tui.screens.dashboard import DashboardScreen
from hawizard.tui.screens.rotate_dialog import RotateDialog


async def wait_for(pilot, condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.05)


def app_for(tmp_path):
    path = tmp_path / "plan.toml"
    dump(fixed_plan(), path)
    plan = load(path)
    probe = lambda p: fixed_health(p, down=())  # noqa: E731 - fixed answers, no network
    return make_app(plan, path, start="dashboard", interval=60, health_probe=probe), path


async def offer(pilot, dash: DashboardScreen, row: str) -> RotateDialog:
    table = dash.query_one("#cert-expiry", DataTable)
    table.move_cursor(row=table.get_row_index(row))
    await pilot.press("c")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, RotateDialog))
    return pilot.app.screen


async def test_certificate_rows_offer_the_matching_rotation(tmp_path):
    app, path = app_for(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        dash = app.screen
        await wait_for(pilot, lambda: dash.rounds >= 1)

        dialog = await offer(pilot, dash, "etcd/ca")
        text = str(dialog.query_one("#rotate-text", Static).render())
        assert "three rolling phases" in text and "old CA key is kept" in text
        assert f"hawizard certs rotate {path} --ca etcd" in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is dash)

        dialog = await offer(pilot, dash, "etcd/etcd-admin")  # 20 days left: due
        text = str(dialog.query_one("#rotate-text", Static).render())
        assert "certificates that are due" in text and f"certs rotate {path}\n" not in text
        assert text.rstrip().endswith(f"hawizard certs rotate {path}")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is dash)

        dialog = await offer(pilot, dash, "etcd/server-infra0")  # 364 days left: not due
        text = str(dialog.query_one("#rotate-text", Static).render())
        assert "every etcd certificate" in text and text.rstrip().endswith("--all")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is dash)

        panel = dash.change_panel
        assert not panel.display and not panel.running
        assert not [w for w in app.workers if w.group == "membership-change"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.toml"]  # no lock, no record
