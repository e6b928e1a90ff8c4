"""The app as a whole: start screen, navigation, themes, quitting, the CLI entry points."""

from __future__ import annotations

import pytest
from textual.widgets import Input, OptionList, Static
from tui_support import SIZE, fixed_health, fixed_plan, make_app, settle

from hawizard import plan as plan_mod
from hawizard.cli import build_parser
from hawizard.tui import flow
from hawizard.tui.screens.nodes import NodesScreen
from hawizard.tui.screens.start import StartScreen, find_lab_plans


def write_lab(root, name: str):
    folder = root / name
    folder.mkdir(parents=True)
    plan_mod.dump(fixed_plan(), folder / "plan.toml")
    return folder / "plan.toml"


def test_find_lab_plans_lists_only_labs_with_a_plan(tmp_path):
    write_lab(tmp_path, "dev")
    (tmp_path / "empty").mkdir()
    assert [(p.name, p.path.name) for p in find_lab_plans(tmp_path)] == [("dev", "plan.toml")]
    assert find_lab_plans(tmp_path / "missing") == []


async def test_start_lists_labs_and_opens_the_chosen_plan(tmp_path):
    path = write_lab(tmp_path, "dev")
    app = make_app(labs_root=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, StartScreen)
        options = app.screen.query_one("#lab-plans", OptionList)
        assert options.option_count == 1
        options.focus()
        options.highlighted = 0
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, NodesScreen)
        assert app.plan_path == path.resolve()
        assert [n.name for n in app.plan.nodes] == ["infra0", "infra1", "infra2"]


async def test_start_opening_a_bad_plan_shows_its_problems(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('version = 1\n[[nodes]]\nname = "a"\naddress = "10.1.2.300"\n')
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one("#open-path", Input).value = str(bad)
        await pilot.click("#open")
        await settle(pilot)
        assert isinstance(app.screen, StartScreen)
        text = str(app.screen.query_one("#open-problems", Static).render())
        assert "nodes[0].address" in text and "not an IP address" in text


async def test_next_and_back_walk_every_step_in_order():
    app = make_app(fixed_plan())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        seen = [app.screen.STEP]
        for _ in flow.KEYS[1:]:
            await pilot.press("ctrl+n")
            await pilot.pause()
            seen.append(app.screen.STEP)
        assert tuple(seen) == flow.KEYS
        for _ in flow.KEYS[1:]:
            await pilot.press("ctrl+b")
            await pilot.pause()
        assert app.screen.STEP == "nodes"
        current = app.screen.query_one("#step-nodes")
        assert current.has_class("-current") and "▶" in str(current.render())


async def test_theme_key_cycles_the_hawizard_themes():
    app = make_app(fixed_plan(), theme="light")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.theme == "light"
        app.screen.query_one("#nodes-table").focus()
        await pilot.press("t")
        assert app.theme == "high-contrast"
        await pilot.press("t")
        assert app.theme == "dark"
        assert app.theme_variables["status-bad"] == app.themes["dark"].variables["status-bad"]


def test_unknown_theme_is_refused():
    with pytest.raises(ValueError, match="unknown theme 'nope'"):
        make_app(theme="nope")


@pytest.mark.parametrize("key", ["q", "ctrl+q"])
async def test_quit_keys_end_the_app(key):
    app = make_app(fixed_plan())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one("#nodes-table").focus()
        await pilot.press(key)
        await pilot.pause()
        assert not app.is_running


async def test_q_types_into_a_field_instead_of_quitting():
    app = make_app(fixed_plan())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        field = app.screen.query_one("#f-name", Input)
        field.focus()
        await pilot.press("q")
        await pilot.pause()
        assert app.is_running
        assert field.value == "q"


def test_cli_registers_wizard_and_dashboard():
    parser = build_parser()
    args = parser.parse_args(["wizard", "--plan", "p.toml", "--theme", "light"])
    assert (args.plan, args.theme) == ("p.toml", "light")
    args = parser.parse_args(["dashboard", "p.toml", "--interval", "5"])
    assert (args.plan, args.interval) == ("p.toml", 5.0)


async def test_no_color_keeps_status_readable(monkeypatch):
    """Textual turns NO_COLOR into monochrome; the symbols still say what colour would."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(fixed_plan(), start="dashboard", interval=60, health_probe=fixed_health)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.no_color
        svg = app.export_screenshot()
        for symbol, word in (("✔", "healthy"), ("✖", "unreachable"), ("▲", "DEGRADED")):
            assert symbol in svg and word in svg


def test_cli_refuses_a_bad_plan_and_a_bad_theme(tmp_path, capsys):
    from hawizard.cli import main

    bad = tmp_path / "plan.toml"
    bad.write_text('version = 1\n[[nodes]]\nname = "a"\naddress = "10.1.2.300"\n')
    assert main(["dashboard", str(bad)]) == 2
    assert "nodes[0].address" in capsys.readouterr().err
    assert main(["wizard", "--theme", "nope"]) == 2
    assert "unknown theme 'nope'" in capsys.readouterr().err
    assert main(["dashboard", str(bad), "--interval", "0"]) == 2


def test_theme_files_load_and_broken_ones_are_skipped(tmp_path):
    from hawizard.tui.theme import load_themes, shipped_themes

    themes = load_themes([shipped_themes()])
    assert {"dark", "light", "high-contrast"} <= set(themes)
    for theme in themes.values():
        assert {"status-ok", "status-warn", "status-bad"} <= set(theme.variables)
    (tmp_path / "broken.toml").write_text("name = 'broken'\nprimary = \n")
    (tmp_path / "odd.toml").write_text("name = 'odd'\nprimary = '#000'\ncolour = 'x'\n")
    (tmp_path / "mine.toml").write_text("primary = '#123456'\n")
    found = load_themes([tmp_path])
    assert set(found) == {"mine"}  # named after its file; the broken and odd ones skipped
