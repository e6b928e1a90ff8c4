"""The footer recomposes only when the keys it shows change (issue 30: every bindings refresh
used to unmount and remount a key widget per binding, twice before the dashboard's first
frame)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.widgets import Button

from hawizard.tui.widgets.footer import Footer


class Keys(App):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add", "Add"),
        Binding("x", "remove", "Remove"),
    ]
    allow_remove: reactive[bool] = reactive(True, bindings=True)
    tick: reactive[int] = reactive(0, bindings=True)

    def compose(self) -> ComposeResult:
        yield Button("one")
        yield Button("two")
        yield Footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "remove" and not self.allow_remove:
            return None  # shown, dimmed
        return True


def keys(app: App) -> list:
    return list(app.screen.query_one(Footer).query("FooterKey"))


async def test_same_keys_keep_their_widgets_and_a_change_redraws() -> None:
    app = Keys()
    async with app.run_test() as pilot:
        await pilot.pause()
        first = keys(app)
        assert [k.description for k in first][:2] == ["Add", "Remove"]
        for _ in range(3):  # refreshes that change nothing the footer shows
            app.tick += 1
            await pilot.pause()
        app.screen.focus_next()
        await pilot.pause()
        assert keys(app) == first  # the very same widgets: no recompose happened
        app.allow_remove = False
        await pilot.pause()
        after = keys(app)
        assert after != first
        remove = next(k for k in after if k.description == "Remove")
        assert remove.has_class("-disabled")  # the change is shown
        app.allow_remove = True
        app.tick += 1  # two refreshes before the footer runs: one recompose shows the last
        await pilot.pause()
        assert not next(k for k in keys(app) if k.description == "Remove").has_class("-disabled")


async def test_every_dashboard_key_fits_a_120_column_footer() -> None:
    """The dashboard's own keys and Quit all show at 120 columns (compact style below
    `ROOMY_FOOTER`); Theme and Save work there but are left to the wizard's footers."""
    from tui_support import FIXED_PATH, fixed_health, fixed_plan, make_app

    from hawizard.tui.screens.dashboard import ROOMY_FOOTER

    for width in (120, 170):
        plan = fixed_plan()
        app = make_app(plan, FIXED_PATH, start="dashboard", health_probe=fixed_health)
        async with app.run_test(size=(width, 40)) as pilot:
            await pilot.pause(0.3)
            footer = app.screen.query_one(Footer)
            assert footer.compact is (width < ROOMY_FOOTER)
            shown = [k for k in footer.query("FooterKey") if k.key != "ctrl+p"]
            wanted = {"refresh_now", "readiness", "events", "maintenance", "quit"}
            assert {k.action for k in shown} >= wanted
            for key in shown:
                assert key.region.right <= width, (key.key, key.description, key.region)
            assert not any(k.description in ("Theme", "Save") for k in shown)
            theme = app.theme
            await pilot.press("t")  # still works
            await pilot.pause()
            assert app.theme != theme
