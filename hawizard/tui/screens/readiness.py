"""Readiness: the production checklist of `hawizard check`, after Review.

The check reads the live cluster (SSH and HTTPS, bounded), so it runs in a thread worker and
only on request (`c`, or the button): entering the step never dials anything by itself.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Button, Label

from hawizard.ops.check import Checklist
from hawizard.tui.screens.base import WizardScreen
from hawizard.tui.widgets.readiness import ReadinessView


class ReadinessScreen(WizardScreen):
    STEP = "readiness"
    BINDINGS: ClassVar[list[BindingType]] = [
        *WizardScreen.BINDINGS,
        Binding("c", "check", "Check now"),
    ]

    @property
    def checklist(self) -> Checklist | None:
        return self.query_one(ReadinessView).checklist

    def compose_body(self) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Label("Production readiness", classes="section-title")
            yield Button("Check now (c)", id="readiness-check", variant="primary")
        yield ReadinessView()

    def show_plan(self) -> None:
        self.query_one(ReadinessView).refresh_view()

    @on(Button.Pressed, "#readiness-check")
    def action_check(self) -> None:
        if not self.plan.nodes:
            self.notify("the plan has no nodes yet", severity="error")
            return
        self.query_one(ReadinessView).start(self.plan)
