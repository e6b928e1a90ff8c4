"""The production checklist over the dashboard (`k`): the same rows as the Readiness step and
`hawizard check`, checked when opened; `c` checks again, esc closes. Polling goes on below."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

from hawizard.plan import Plan
from hawizard.tui.widgets.footer import Footer
from hawizard.tui.widgets.readiness import ReadinessView


class ReadinessDialog(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("c", "check", "Check again"),
    ]

    def __init__(self, plan: Plan) -> None:
        super().__init__()
        self.plan = plan

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="readiness-dialog"):
            yield Label("Production checklist", classes="dialog-title")
            yield ReadinessView()
        yield Footer()

    def on_mount(self) -> None:
        self.action_check()

    def action_check(self) -> None:
        self.query_one(ReadinessView).start(self.plan)

    def action_close(self) -> None:
        self.dismiss(None)
