"""Issue 31's proof on a real cluster: a member's etcd SIGKILLed and started again while
`hawizard status --watch 1 --record` runs; `hawizard incident --since 2m` lists that member
"unhealthy" and then "healthy again", in order, each within one round (plus the probe's
time) of when it happened; the replay shows its row red at that moment."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from fixtures.etcd_rollout import etcd_on_lab
from textual.widgets import DataTable

from hawizard.ops.recording import open_store

pytestmark = pytest.mark.lab

HAWIZARD = (sys.executable, "-m", "hawizard")
EVERY = 1.0  # seconds between recorded rounds
SLACK = EVERY + 3.0  # one round, plus a probe's own time and its timeout under load


def hawizard(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hawizard", *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        **kw,
    )


@pytest.fixture(scope="module")
def plan(lab, tmp_path_factory):
    plan = etcd_on_lab(lab, tmp_path_factory.mktemp("incident"))
    try:
        yield plan
    finally:
        lab.reset(*(n.name for n in plan.nodes))


def wait_for(what, timeout: float):
    deadline = time.monotonic() + timeout
    while not (value := what()):
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.2)
    return value


def healthy(plan, name: str) -> bool:
    out = hawizard("status", str(plan.source), "--etcd-only", "--json")
    members = json.loads(out.stdout)["members"] if out.stdout.strip() else []
    return any(m["name"] == name and m["healthy"] for m in members)


async def test_a_killed_member_in_the_incident_timeline_and_red_in_the_replay(plan, lab):
    victim = plan.etcd_nodes[1].name
    recorder = subprocess.Popen(
        [*HAWIZARD, "status", str(plan.source), "--etcd-only", "--watch", str(EVERY), "--record"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        time.sleep(3 * EVERY)
        killed = dt.datetime.now(dt.UTC)
        pid = lab.exec(victim, ["systemctl", "show", "--property=MainPID", "--value", "etcd"])
        lab.exec(victim, ["kill", "-KILL", pid.stdout.strip()])  # by its PID, as a crash
        time.sleep(4 * EVERY)  # down for a few rounds (the unit may restart it by itself)
        lab.exec(victim, ["systemctl", "start", "etcd"])
        wait_for(lambda: healthy(plan, victim), timeout=60)
        back = dt.datetime.now(dt.UTC)
        time.sleep(3 * EVERY)
    finally:
        os.killpg(recorder.pid, signal.SIGINT)
        _out, err = recorder.communicate(timeout=30)
    assert recorder.returncode in (0, 130), err[-2000:]

    out = hawizard("incident", str(plan.source), "--since", "2m", "--json")
    assert out.returncode == 0, out.stderr
    entries = [e for e in json.loads(out.stdout)["timeline"] if e["subject"] == victim]
    kinds = [e["kind"] for e in entries]
    assert "unhealthy" in kinds and "healthy" in kinds, entries
    down = next(e for e in entries if e["kind"] == "unhealthy")
    up = next(e for e in entries if e["kind"] == "healthy")
    down_at, up_at = (dt.datetime.fromisoformat(e["at"]) for e in (down, up))
    assert down_at < up_at, entries  # in order
    assert abs((down_at - killed).total_seconds()) <= SLACK, (down_at, killed)
    assert up_at <= back + dt.timedelta(seconds=SLACK), (up_at, back)
    markdown = hawizard("incident", str(plan.source), "--since", "2m").stdout
    assert markdown.index(f"{victim} unhealthy") < markdown.index("healthy again")

    # the replay at that moment: the member's row is red, and nothing is probed
    from hawizard.tui.replay_app import ReplayApp
    from hawizard.tui.widgets.status import Mark, mark_color

    with open_store(plan, create=False) as store:
        recorded = list(store.rounds(down_at - dt.timedelta(seconds=10), up_at))
    app = ReplayApp(plan, plan.source, recorded, health_probe=_no_probe)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("n")  # the next event: the member goes down
        await pilot.pause()
        screen = app.screen
        assert screen.health.checked_at == down_at
        assert screen.health.member(victim).healthy is False
        cell = screen.query_one("#members", DataTable).get_cell(victim, "health")
        assert cell.style == mark_color(app, Mark.BAD)


def _no_probe(_plan):
    raise AssertionError("a replay must not probe")
