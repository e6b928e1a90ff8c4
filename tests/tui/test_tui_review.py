"""Review & export: the TOML shown is the plan, and ctrl+s writes a plan `load` accepts."""

from __future__ import annotations

from textual.widgets import Input, Static
from tui_support import SIZE, fixed_plan, make_app, settle

from hawizard import plan as plan_mod
from hawizard.tui.screens.review import ReviewScreen
from hawizard.tui.screens.save_dialog import SaveDialog


async def test_review_shows_the_plan_and_ctrl_s_writes_a_loadable_plan(tmp_path):
    target = tmp_path / "prod.toml"
    plan = fixed_plan(str(tmp_path / "pki"))
    app = make_app(plan, target, start="review")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ReviewScreen)
        shown = app.screen.query_one("#plan-toml", Static).content
        assert shown.code == plan_mod.dumps(plan)  # a rich Syntax of exactly the plan's TOML
        assert shown.lexer.name == "TOML"
        assert "✔ the plan is valid" in str(app.screen.query_one("#review-problems").render())
        await pilot.press("ctrl+s")
        await settle(pilot)
    loaded = plan_mod.load(target)
    assert loaded == plan
    assert app.plan_path == target.resolve()


async def test_ctrl_s_works_from_another_screen_and_while_typing(tmp_path):
    target = tmp_path / "plan.toml"
    app = make_app(fixed_plan(), target)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one("#f-name", Input).focus()
        await pilot.press("ctrl+s")
        await settle(pilot)
    assert plan_mod.load(target).nodes == fixed_plan().nodes


async def test_a_new_plan_asks_where_to_save(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = make_app(fixed_plan())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, SaveDialog)
        field = app.screen.query_one("#save-path", Input)
        assert field.value == str(tmp_path / "plan.toml")
        await pilot.press("ctrl+u", *str(tmp_path / "chosen.toml"), "enter")
        await settle(pilot)
        assert not isinstance(app.screen, SaveDialog)
    assert plan_mod.load(tmp_path / "chosen.toml").cluster.name == "prod"


async def test_an_invalid_plan_is_not_saved_and_says_why(tmp_path):
    target = tmp_path / "plan.toml"
    app = make_app(fixed_plan(), target)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        endpoint = app.screen.query_one("#endpoint", Input)
        endpoint.focus()
        await pilot.press("ctrl+u", *"nope", "ctrl+s")
        await settle(pilot)
        notes = [n.message for n in app._notifications]
        assert any("cluster.control_plane_endpoint" in m for m in notes)
        await pilot.press("ctrl+n", "ctrl+n", "ctrl+n", "ctrl+n", "ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, ReviewScreen)
        problems = str(app.screen.query_one("#review-problems").render())
        assert "✖ cluster.control_plane_endpoint" in problems
    assert not target.exists()
