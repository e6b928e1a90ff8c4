"""The dashboard offers `hawizard etcd defrag` (issue 26): the `m` key in the footer, a dry run
in the change panel first (the order: followers first, the member that leads last, nothing
touched), then a confirmation, then the real run against real etcd on loopback (the shared
`etcd_cluster`), whose order etcd's own "finished defragmenting" log lines confirm and whose
result lands in the record beside the plan. The quota cell and the NOSPACE banner name the
key; the maintenance line shows the last run."""

from __future__ import annotations

import re
import time
from dataclasses import replace

from fixtures.local_etcd import LocalEtcd
from textual.widgets import Button, Footer, Static
from tui_support import SIZE, fixed_health, fixed_plan, make_app

from hawizard.ops.maintenance import read_last, record_path
from hawizard.plan import dump
from hawizard.tui.screens.confirm_dialog import ConfirmDialog
from hawizard.tui.widgets.health_cells import trend_cells

FINISHED = re.compile(r'"ts":"([^"]+)".*"msg":"finished defragment(?:ing the storage backend)?"')


async def wait_for(pilot, condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.05)


def footer_text(app) -> str:
    return " ".join(str(k.render()) for k in app.screen.query_one(Footer).query("FooterKey"))


def log_text(panel) -> str:
    return "\n".join(line.text for line in panel.view.log_view.lines)


def finished(etcd: LocalEtcd) -> list[tuple[str, str]]:
    return sorted((ts, n) for n in etcd.names for ts in FINISHED.findall(etcd.log(n)))


async def test_m_dry_runs_then_defragments_after_confirmation(etcd_cluster: LocalEtcd):
    plan = replace(etcd_cluster.plan, source=etcd_cluster.plan_path)
    plan = replace(plan, etcd=replace(plan.etcd, defrag_keep_revisions=10))
    dump(plan, etcd_cluster.plan_path)
    before = finished(etcd_cluster)
    app = make_app(plan, etcd_cluster.plan_path, start="dashboard", interval=0.5)
    try:
        async with app.run_test(size=SIZE) as pilot:
            dash = app.screen
            await wait_for(pilot, lambda: dash.health is not None and dash.health.converged)
            await wait_for(pilot, lambda: "Defrag" in footer_text(app))  # the footer composes late
            leader = dash.health.leader_name

            await pilot.press("m")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            panel = dash.change_panel
            text = log_text(panel)
            assert "dry run: nothing was changed" in text
            order = re.search(r"order: (.+) \((\S+) leads: last\)", text)
            assert order is not None and order.group(2) == leader
            names = order.group(1).split(" → ")
            assert sorted(names) == sorted(etcd_cluster.names) and names[-1] == leader
            assert finished(etcd_cluster) == before  # the dry run defragmented nothing
            assert not record_path(etcd_cluster.plan_path).exists()  # nor recorded a run
            dialog_text = str(app.screen.query_one("#defrag-text", Static).render())
            assert f"hawizard etcd defrag {etcd_cluster.plan_path}" in dialog_text
            assert str(app.screen.query_one("#defrag-yes", Button).label) == "Defragment"

            await pilot.click("#defrag-yes")
            await wait_for(pilot, lambda: app.screen is dash)
            await wait_for(pilot, lambda: not panel.running, timeout=120)
            assert panel.outcome is not None and panel.outcome.ok, log_text(panel)
            new = [n for _, n in finished(etcd_cluster)[len(before) :]]
            assert new == names  # etcd's own log: the order the dry run showed
            last = read_last(etcd_cluster.plan_path)
            assert last["outcome"] == "defragmented" and last["if_needed"] is False
            assert [m["name"] for m in last["members"]] == names

            def line() -> str:
                return str(dash.query_one("#maintenance", Static).render())

            await wait_for(pilot, lambda: "last maintenance" in line())  # the next round's
            assert "last maintenance: defragmented" in line()
    finally:
        record_path(etcd_cluster.plan_path).unlink(missing_ok=True)


def test_the_quota_cell_names_the_key_near_the_quota():
    plan = fixed_plan()
    health = fixed_health(plan, down=())
    near = replace(health.members[0], db_size=int(0.8 * health.members[0].quota_bytes))
    assert trend_cells(near, None, None)["quota"][0] == "▲ 80% m"
    far = replace(near, db_size=1024**2)
    assert not trend_cells(far, None, None)["quota"][0].endswith("m")


async def test_the_nospace_banner_offers_the_key(tmp_path):
    path = tmp_path / "plan.toml"
    plan = fixed_plan()
    dump(plan, path)

    def probe(p):
        h = fixed_health(p, down=())
        rows = tuple(replace(m, alarms=("NOSPACE",)) for m in h.members)
        return replace(h, members=rows)

    app = make_app(plan, path, start="dashboard", interval=60, health_probe=probe)
    async with app.run_test(size=SIZE) as pilot:
        dash = app.screen
        await wait_for(pilot, lambda: dash.rounds >= 1)
        info = str(dash.query_one("#dash-info", Static).render())
        assert "NOSPACE: m defragments and disarms" in info


async def test_a_growing_in_use_size_shows_the_forecast_and_the_key(tmp_path):
    """The dashboard's history is fed rounds 20 s apart (their own `checked_at`) whose in-use
    size grows 1 GiB/day toward a 2 GiB quota: the maintenance line says when it is reached."""
    import datetime as dt

    path = tmp_path / "plan.toml"
    plan = fixed_plan()
    dump(plan, path)
    rounds = {"n": 0}
    start = dt.datetime(2026, 12, 4, 12, tzinfo=dt.UTC)

    def probe(p):
        i = rounds["n"]
        rounds["n"] += 1
        h = fixed_health(p, down=())
        in_use = int(1024**3 + i * 20 * 1024**3 / 86400)
        rows = tuple(replace(m, db_size=in_use + 1024**2, db_size_in_use=in_use) for m in h.members)
        return replace(h, members=rows, checked_at=start + dt.timedelta(seconds=20 * i))

    app = make_app(plan, path, start="dashboard", interval=0.05, health_probe=probe)
    async with app.run_test(size=SIZE) as pilot:
        dash = app.screen
        await wait_for(pilot, lambda: dash.forecast is not None)
        line = str(dash.query_one("#maintenance", Static).render())
        assert "in use +1024.0 MiB/day: quota reached in ~" in line and "m defragments" in line
        assert 0.9 < dash.forecast.days_left < 1.0
