"""One health, one set of words: `hawizard status` (table and `--json`) and the dashboard show
the same member state for the same round, because both map from `MemberHealth.state`.

The rounds are the synthetic ones of `tui_support` (a learner, a member that is down, a
planned node that is not a member) and the rounds recorded from a real lab
(`tests/fixtures/health`), replayed through the real health model.
"""

from __future__ import annotations

import dataclasses

import pytest
from fixtures import health as recorded_rounds
from rich.console import Console
from textual.widgets import DataTable
from tui_support import SIZE, fixed_health, fixed_plan, make_app, settle

from hawizard.cli import status_cmd
from hawizard.health import ClusterHealth, MemberState
from hawizard.ops.status import StatusReport
from hawizard.plan import Plan
from hawizard.tui.screens.dashboard import DashboardScreen
from hawizard.tui.widgets.status import SYMBOL


def _with_learner(plan: Plan) -> ClusterHealth:
    health = fixed_health(plan, down=())
    rows = tuple(
        dataclasses.replace(m, is_learner=True, is_leader=False) if m.name == "infra1" else m
        for m in health.members
    )
    return dataclasses.replace(health, members=rows)


_THREE = ("infra0", "infra1", "infra2")


def _rounds() -> list[tuple[str, Plan, ClusterHealth]]:
    spare = fixed_plan(spare=True)
    rounds = [
        ("one down", fixed_plan(), fixed_health(fixed_plan())),
        (
            "not a member",
            spare,
            fixed_health(spare, down=(), members=("infra0", "infra1", "infra2")),
        ),
        ("learner", fixed_plan(), _with_learner(fixed_plan())),
    ]
    for name in recorded_rounds.names():
        plan, health = recorded_rounds.recorded(name)
        rounds.append((f"recorded {name}", plan, health))
    return rounds


ROUNDS = _rounds()


def cli_words(health: ClusterHealth) -> dict[str, str]:
    """The health column of `hawizard status`'s member table, per member row."""
    report = StatusReport(health, (), expect_running=False)
    console = Console(width=status_cmd.WIDE + 40, record=True, color_system=None)
    console.print(status_cmd.render(report, status_cmd.WIDE + 40))
    text = console.export_text()
    words = {}
    for m in health.members:
        endpoint = m.endpoint.removeprefix("https://") or "-"
        line = next(
            ln for ln in text.splitlines() if ln.strip().startswith(f"{endpoint} ") and m.name in ln
        )
        found = [s.value for s in MemberState if f" {s.value} " in f" {line} "]
        # "unhealthy" contains "healthy": the longest word that appears is the state
        words[m.name] = max(found, key=len)
    return words


def json_words(health: ClusterHealth) -> dict[str, str]:
    data = StatusReport(health, (), expect_running=False).to_json()
    return {m["name"]: m["state"] for m in data["members"]}


@pytest.mark.parametrize(("label", "plan", "health"), ROUNDS, ids=[r[0] for r in ROUNDS])
async def test_cli_json_and_dashboard_say_the_same_word(label, plan, health):
    expected = {m.name: m.state.value for m in health.members}
    assert cli_words(health) == expected
    assert json_words(health) == expected
    app = make_app(plan, plan.source, start="dashboard", health_probe=lambda _p: health)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        await settle(pilot)
        table = screen.query_one("#members", DataTable)
        shown = {}
        for m in health.members:
            cell = str(table.get_cell(m.name, "health"))
            symbol, _, word = cell.partition(" ")
            assert symbol in SYMBOL.values()
            shown[m.name] = word
    assert shown == expected


def test_the_rounds_cover_the_member_states():
    seen = {m.state for _, _, h in ROUNDS for m in h.members}
    assert seen >= {
        MemberState.HEALTHY,
        MemberState.LEARNER,
        MemberState.UNREACHABLE,
        MemberState.NOT_A_MEMBER,
        MemberState.NOT_IN_PLAN,
    }
    recorded = {
        m.state for label, _, h in ROUNDS if label.startswith("recorded") for m in h.members
    }
    # what a real lab answered: healthy, a killed member, a planned node, an unplanned member
    assert recorded >= {
        MemberState.HEALTHY,
        MemberState.UNREACHABLE,
        MemberState.NOT_A_MEMBER,
        MemberState.NOT_IN_PLAN,
    }
