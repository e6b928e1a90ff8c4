"""The dashboard: Dolphie's polling (one round at a time, re-armed when done), keyed rows with
only changed cells written, keys that work while a probe hangs, and a real etcd cluster."""

from __future__ import annotations

import threading
import time

from textual.widgets import DataTable, Static
from tui_support import FIXED_PATH, SIZE, fixed_health, fixed_plan, make_app, settle

from hawizard.tui.screens.dashboard import DashboardScreen


class CountingProbe:
    """Fixed answers from the real health model; records overlap and how often it ran."""

    def __init__(self, plan, delay: float = 0.0) -> None:
        self.down: tuple[str, ...] = ("infra2",)
        self.delay = delay
        self.calls = 0
        self.running = 0
        self.max_running = 0
        self._lock = threading.Lock()
        self.plan = plan

    def __call__(self, plan):
        with self._lock:
            self.calls += 1
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        try:
            time.sleep(self.delay)
            return fixed_health(plan, down=self.down)
        finally:
            with self._lock:
                self.running -= 1


def health_cell(screen, member: str) -> str:
    table = screen.query_one("#members", DataTable)
    return str(table.get_cell(member, "health"))


async def wait_for(pilot, condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.05)


async def test_rounds_never_overlap_and_rearm_after_each_round():
    plan = fixed_plan()
    probe = CountingProbe(plan, delay=0.2)
    app = make_app(plan, FIXED_PATH, start="dashboard", interval=0.05, health_probe=probe)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        await wait_for(pilot, lambda: screen.rounds >= 4)
        # hammering refresh while a round runs queues one more round, never a parallel one
        for _ in range(5):
            await pilot.press("r")
        await wait_for(pilot, lambda: screen.rounds >= 6)
    assert probe.max_running == 1
    assert probe.calls >= 6


async def test_rows_are_keyed_and_only_changed_cells_are_written():
    plan = fixed_plan()
    probe = CountingProbe(plan)
    app = make_app(plan, FIXED_PATH, start="dashboard", interval=60, health_probe=probe)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.rounds >= 1)
        table = screen.query_one("#members", DataTable)
        assert [k.value for k in table.rows] == ["infra0", "infra1", "infra2"]
        assert health_cell(screen, "infra2") == "✖ unreachable"
        banner = screen.query_one("#quorum-banner", Static)
        assert banner.has_class("-warn") and "2/3 healthy" in str(banner.render())

        await pilot.press("r")
        await wait_for(pilot, lambda: screen.rounds >= 2)
        assert screen.cells_written == 0  # same answers: nothing repainted

        probe.down = ("infra1", "infra2")
        await pilot.press("r")
        await wait_for(pilot, lambda: screen.rounds >= 3)
        assert health_cell(screen, "infra1") == "✖ unreachable"
        assert 0 < screen.cells_written <= 2 * len(table.columns)
        assert banner.has_class("-bad") and "quorum lost" in str(banner.render())

        probe.down = ()
        await pilot.press("r")
        await wait_for(pilot, lambda: screen.rounds >= 4)
        assert banner.has_class("-ok")
        assert all(health_cell(screen, n) == "✔ healthy" for n in ("infra0", "infra1", "infra2"))


async def test_keys_answer_while_a_probe_hangs():
    plan = fixed_plan()
    probe = CountingProbe(plan, delay=3.0)
    app = make_app(plan, FIXED_PATH, start="dashboard", interval=2.0, health_probe=probe)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.pause(0.2)
        assert probe.running == 1
        started = time.monotonic()
        await pilot.press("p")
        await pilot.press("plus")
        await pilot.press("t")
        assert time.monotonic() - started < 1.0
        assert screen.paused
        assert app.interval == 5.0
        title = str(screen.query_one("#dash-title", Static).render())
        assert "paused" in title
        await pilot.press("minus", "minus")
        assert app.interval == 1.0
        # paused: the hanging round ends and no new one is armed
        await wait_for(pilot, lambda: screen.rounds == 1)
        await pilot.pause(1.5)
        assert probe.calls == 1
        await pilot.press("p")
        await wait_for(pilot, lambda: probe.calls == 2)


async def test_missing_client_certificate_is_explained(tmp_path):
    plan = fixed_plan(str(tmp_path / "pki"))
    app = make_app(plan, FIXED_PATH, start="dashboard", interval=60)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        await wait_for(pilot, lambda: screen.rounds >= 1)
        banner = screen.query_one("#quorum-banner", Static)
        assert banner.has_class("-bad")
        assert "client certificate" in str(banner.render())
        assert "Certificates step" in str(screen.query_one("#dash-info", Static).render())


async def test_real_cluster_member_killed_turns_red_while_keys_work(etcd_cluster):
    plan = etcd_cluster.plan
    app = make_app(plan, etcd_cluster.plan_path, start="dashboard", interval=0.5)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.health is not None and screen.health.converged)
        assert all(health_cell(screen, n) == "✔ healthy" for n in etcd_cluster.names)
        leader = screen.health.leader_name
        victim = next(n for n in etcd_cluster.names if n != leader)

        etcd_cluster.kill(victim)
        killed = time.monotonic()
        await wait_for(pilot, lambda: health_cell(screen, victim) == "✖ unreachable")
        assert time.monotonic() - killed < plan.etcd.probe_timeout + 2 * app.interval + 1
        banner = screen.query_one("#quorum-banner", Static)
        assert banner.has_class("-warn") and "2/3 healthy" in str(banner.render())
        # the rest of the row is red too, and the app still answers keys
        endpoint = screen.query_one("#members", DataTable).get_cell(victim, "endpoint")
        assert endpoint.style == app.theme_variables["status-bad"]
        await pilot.press("p")
        assert screen.paused


async def test_masters_have_their_own_table():
    plan = fixed_plan()
    app = make_app(plan, FIXED_PATH, start="dashboard", interval=60, health_probe=fixed_health)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.rounds >= 1)
        table = screen.query_one("#apiservers", DataTable)
        assert [k.value for k in table.rows] == ["infra0", "infra1", "infra2"]
        assert str(table.get_cell("infra0", "state")) == "✔ ready"
        assert str(table.get_cell("infra2", "state")) == "✖ unreachable"
        assert str(table.get_cell("infra2", "note")) == "no answer within 2 s"


async def test_last_verified_backup_turns_red_without_one_and_green_with_a_fresh_one(tmp_path):
    """The age line reads the backup folder in the probe worker (files only, no network)."""
    import json
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta

    from hawizard.pki.record_key import ensure_key, sign
    from hawizard.plan import BackupSettings, dump

    path = tmp_path / "plan.toml"
    plan = replace(
        fixed_plan(str(tmp_path / "pki")), backup=BackupSettings(every="1h", dir="bk"), source=path
    )
    dump(plan, path)
    app = make_app(plan, path, start="dashboard", interval=0.05, health_probe=fixed_health)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await settle(pilot)
        line = str(screen.query_one("#backup-age", Static).render())
        assert "last verified backup: none" in line and screen.backup_age.state == "red"
        folder = tmp_path / "bk"
        folder.mkdir()
        at = datetime.now(UTC) - timedelta(minutes=12)
        db = folder / f"prod-{at:%Y%m%dT%H%M%SZ}.db"
        db.write_bytes(b"x")
        meta = {"taken_at": at.isoformat(), "verdict": "ok", "verified_at": at.isoformat(),
                "path": str(db), "size": 1}  # fmt: skip
        # signed with the plan's record key, as a backup run signs it (issue 25)
        db.with_name(db.name + ".json").write_text(json.dumps(sign(ensure_key(plan), meta)))
        await wait_for(pilot, lambda: screen.backup_age.state == "ok")
        await settle(pilot)
        line = str(screen.query_one("#backup-age", Static).render())
        assert "last verified backup: 12 min ago" in line
        # a planted record (signed without the key) is named, never counted
        forged = folder / f"prod-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.db"
        forged.write_bytes(b"x")
        meta.update(path=str(forged), taken_at=datetime.now(UTC).isoformat())
        forged.with_name(forged.name + ".json").write_text(json.dumps(sign(b"k" * 32, meta)))
        await wait_for(pilot, lambda: bool(screen.backup_age.refused))
        await settle(pilot)
        line = str(screen.query_one("#backup-age", Static).render())
        assert "last verified backup: 12 min ago" in line
        assert f"refused (record fails its signature): {forged.name}.json" in line
