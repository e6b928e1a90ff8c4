"""The fleet view (issue 31): two real etcd clusters on loopback, one row each, probed on
their own; a member of one stopped turns that row red within a round while the other stays
green; Enter opens its dashboard and Escape comes back. Plus the plans a fleet is made of,
and a hung cluster that never holds up another row."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fixtures.local_etcd import LocalEtcd
from fleet_support import cell, drill_in_and_back, wait_for

from hawizard.cli import main
from hawizard.ops.fleet import FleetError, Member, gather
from hawizard.plan import load
from hawizard.tui.backend import Backend
from hawizard.tui.fleet_app import FleetApp
from hawizard.tui.screens.fleet import FleetScreen, cells_for
from hawizard.tui.widgets.status import Mark, mark_color

SIZE = (140, 30)


@pytest.fixture(scope="module")
def two_clusters(tmp_path_factory):
    base = tmp_path_factory.mktemp("fleet")
    a = LocalEtcd(base / "a", name="alpha", addresses=[f"127.0.0.{i}" for i in (31, 32, 33)])
    b = LocalEtcd(base / "b", name="bravo", addresses=[f"127.0.0.{i}" for i in (41, 42, 43)])
    with a, b:
        yield a, b


def member(c: LocalEtcd) -> Member:
    return Member(c.plan_path.resolve(), load(c.plan_path))


async def test_one_stopped_member_turns_its_row_red_and_enter_drills_in(two_clusters):
    a, b = two_clusters
    app = FleetApp([member(a), member(b)], interval=0.5)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        await wait_for(pilot, lambda: all(str(cell(app, i, "members")) == "3/3" for i in (0, 1)))
        assert str(cell(app, 0, "state")) == str(cell(app, 1, "state")) == "✔ HEALTHY"
        assert str(cell(app, 0, "cluster")) == "alpha" and str(cell(app, 1, "cluster")) == "bravo"
        victim = b.followers()[0]
        b.stop(victim)
        try:
            stopped = time.monotonic()
            await wait_for(pilot, lambda: str(cell(app, 1, "members")) == "2/3")
            # within one round: the probe's own timeout plus an interval (and a margin)
            assert time.monotonic() - stopped < b.plan.etcd.probe_timeout + 2 * app.interval + 2
            red = mark_color(app, Mark.BAD)
            assert cell(app, 1, "members").style == red and cell(app, 1, "cluster").style == red
            assert str(cell(app, 1, "state")) == "▲ DEGRADED"
            # the other cluster stays green, and keeps being probed
            before = screen.rounds[0]
            await wait_for(pilot, lambda: screen.rounds[0] > before + 1)
            assert str(cell(app, 0, "members")) == "3/3"
            assert cell(app, 0, "cluster").style == mark_color(app, Mark.OK)

            dash = await drill_in_and_back(pilot, app, 1, victim)
            assert dash.plan.cluster.name == "bravo"
            rounds = list(screen.rounds)
            await wait_for(pilot, lambda: screen.rounds[0] > rounds[0])  # probing again
        finally:
            b.start(victim)
            b.wait_healthy(b.names)


async def test_a_hung_cluster_never_holds_up_another_row(two_clusters):
    """A cluster whose probe hangs: stood in for by a backend that blocks (a blackholed
    network cannot be provoked on loopback), beside a real cluster."""
    a, _b = two_clusters
    release = threading.Event()

    class Hung(Backend):
        def status_round(self, plan, on_etcd=None):
            release.wait(60)
            raise OSError(110, "timed out")

    hung = Member(Path("/nonexistent/hung.toml"), load(a.plan_path))
    backends = {id(hung): Hung()}
    app = FleetApp(
        [hung, member(a)], interval=0.3, backend_for=lambda m: backends.get(id(m), Backend())
    )
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: screen.rounds[1] >= 3)
            assert screen.rounds[0] == 0
            assert "probing" in str(cell(app, 0, "state"))
            assert str(cell(app, 1, "members")) == "3/3"
            release.set()
            await wait_for(pilot, lambda: screen.rounds[0] >= 1)
            assert "timed out" in str(cell(app, 0, "state"))
            assert cell(app, 0, "cluster").style == mark_color(app, Mark.BAD)
    finally:
        release.set()


def test_gather_reads_files_and_folders_and_names_what_it_skips(two_clusters, tmp_path):
    a, b = two_clusters
    folder = tmp_path / "plans"
    folder.mkdir()
    (folder / "a.toml").write_text(a.plan_path.read_text())
    (folder / "notes.toml").write_text('title = "not a plan"\n')
    members, skipped = gather([str(folder), str(b.plan_path), str(folder / "a.toml")])
    assert [m.name for m in members] == ["alpha", "bravo"]  # a.toml once
    assert [p.name for p, _why in skipped] == ["notes.toml"]
    with pytest.raises(FleetError, match="no such file or folder"):
        gather([str(tmp_path / "missing.toml")])
    with pytest.raises(FleetError, match="not a valid plan"):
        gather([str(folder / "notes.toml")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FleetError, match=r"no \*\.toml plan"):
        gather([str(tmp_path / "empty")])


def test_the_cli_refuses_bad_fleets_with_the_fix(tmp_path, capsys):
    assert main(["dashboard", str(tmp_path / "x.toml"), str(tmp_path / "y.toml")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["dashboard", str(tmp_path), str(tmp_path), "--replay"]) == 2
    assert "give one plan with --replay" in capsys.readouterr().err


def test_plan_file_names_are_shown_as_text_not_markup(two_clusters):
    a, _b = two_clusters
    odd = Member(Path("/plans/[bold red]prod.toml"), load(a.plan_path))
    cells = cells_for(odd, None, "[blink]refused[/]")
    from rich.text import Text

    assert Text.from_markup(cells["plan"][0]).plain == "[bold red]prod.toml"
    assert "[blink]refused[/]" in Text.from_markup(cells["state"][0]).plain
