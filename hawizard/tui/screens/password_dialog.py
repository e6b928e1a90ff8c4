"""Ask for the sudo password when a node's sudo wants one (kept in memory for one run only)."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from typing import ClassVar

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

ANSWER_TIMEOUT = 600.0  # seconds a run waits for the operator before giving up on sudo


class PasswordDialog(ModalScreen[str | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, who: str) -> None:
        super().__init__()
        self.who = who

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="password"):
            yield Label(f"sudo password for {self.who}", classes="dialog-title")
            yield Static(
                "sudo on this node asks for a password. It is sent over SSH on stdin, never "
                "on a command line, kept in memory for this run only, and never written."
            )
            yield Input(password=True, id="sudo-password")
            with Horizontal(classes="dialog-buttons"):
                yield Button("OK", id="ok", variant="primary")
                yield Button("Cancel", id="cancel-password")

    def on_mount(self) -> None:
        self.query_one("#sudo-password", Input).focus()

    @on(Input.Submitted, "#sudo-password")
    @on(Button.Pressed, "#ok")
    def ok(self) -> None:
        self.dismiss(self.query_one("#sudo-password", Input).value)

    @on(Button.Pressed, "#cancel-password")
    def action_cancel(self) -> None:
        self.dismiss(None)


def password_asker(app: App) -> Callable[[str], str]:
    """An `ask(who)` for `hawizard.remote.SudoPassword`, callable from any thread.

    Call it on the UI thread; the returned function blocks its (worker) thread until the
    operator answers. Cancel answers "", which makes sudo fail with the engine's own message.
    """
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()

    def ask(who: str) -> str:
        answered = threading.Event()
        answer: list[str] = []

        def done(value: str | None) -> None:
            answer.append(value or "")
            answered.set()

        loop.call_soon_threadsafe(
            lambda: app.push_screen(PasswordDialog(who), done), context=context
        )
        answered.wait(ANSWER_TIMEOUT)
        return answer[0] if answer else ""

    return ask
