"""The Readiness step: the rows `hawizard check` makes, a fix beside every non-✔ row, the
check run in a worker on request only."""

from __future__ import annotations

from tui_support import FIXED_PATH, fixed_checklist, fixed_plan, make_app, settle

from hawizard.tui import flow
from hawizard.tui.widgets.readiness import ReadinessTable, checklist_table


async def test_readiness_comes_after_review_and_checks_on_request():
    calls = []

    def check(plan):
        calls.append(plan)
        return fixed_checklist(plan)

    assert flow.next_key("review") == "readiness"
    app = make_app(fixed_plan(), FIXED_PATH, start="review", readiness_check=check)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert app.screen.STEP == "readiness"
        assert calls == []  # entering the step dials nothing
        await pilot.press("c")
        await settle(pilot)
        assert len(calls) == 1
        shown = app.screen.checklist
        assert shown == fixed_checklist(fixed_plan())
        assert "✔ 3  ▲ 4  ✖ 2  ? 2" in str(app.screen.query_one("#readiness-summary").render())
        assert app.screen.query_one("#readiness-table", ReadinessTable)


def test_the_table_has_every_row_and_a_fix_for_each_non_ok_one():
    checklist = fixed_checklist(fixed_plan())
    table = checklist_table(checklist)
    titles = list(table.columns[1]._cells)
    symbols = [str(c) for c in table.columns[2]._cells]
    fixes = [str(c) for c in table.columns[4]._cells]
    assert titles == [i.title for i in checklist.items]
    assert symbols == [i.verdict.symbol for i in checklist.items]
    for item, fix in zip(checklist.items, fixes, strict=True):
        assert (fix != "") == (item.verdict.value != "ok"), item.title


async def test_dashboard_k_opens_the_same_checklist_and_esc_closes_it():
    from tui_support import fixed_health

    from hawizard.tui.screens.readiness_dialog import ReadinessDialog

    app = make_app(
        fixed_plan(),
        FIXED_PATH,
        start="dashboard",
        interval=60,
        health_probe=fixed_health,
        readiness_check=fixed_checklist,
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("k")
        await settle(pilot)
        assert isinstance(app.screen, ReadinessDialog)
        from hawizard.tui.widgets.readiness import ReadinessView

        assert app.screen.query_one(ReadinessView).checklist == fixed_checklist(fixed_plan())
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, ReadinessDialog)
