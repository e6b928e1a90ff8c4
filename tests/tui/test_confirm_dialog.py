"""The one yes/no dialog: the safe button has the focus, Enter on it and Escape say no, only
the risky button says yes; its text is shown literally (no markup from plan values)."""

from __future__ import annotations

from textual.app import App
from textual.widgets import Button, Static

from hawizard.tui.screens.confirm_dialog import ConfirmDialog


async def ask(keys: list[str], click: str = "") -> list[bool]:
    answers: list[bool] = []

    class Host(App):
        def on_mount(self) -> None:
            dialog = ConfirmDialog("Stop [b]n1[/b]?", "node [red]n1[/] will stop", yes="Stop")
            self.push_screen(dialog, answers.append)

    app = Host()
    async with app.run_test() as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ConfirmDialog)
        assert app.focused is screen.query_one("#confirm-no", Button)
        text = str(screen.query_one("#confirm-text", Static).render())
        assert text == "node [red]n1[/] will stop"
        for key in keys:
            await pilot.press(key)
        if click:
            await pilot.click(click)
        await pilot.pause()
    return answers


async def test_enter_on_the_focused_safe_button_says_no():
    assert await ask(["enter"]) == [False]


async def test_escape_says_no():
    assert await ask(["escape"]) == [False]


async def test_only_the_risky_button_says_yes():
    assert await ask([], click="#confirm-yes") == [True]
