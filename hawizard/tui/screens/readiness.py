"""Readiness: the production checklist of `hawizard check`, after Review.

The check reads the live cluster (SSH and HTTPS, bounded), so it runs in a thread worker and
only on request (`c`, or the button): entering the step never dials anything by itself.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Label, Static

from hawizard.ops.check import Checklist
from hawizard.tui.screens.base import WizardScreen
from hawizard.tui.widgets.readiness import ReadinessTable, summary

HINT = (
    "Press c (or Check now) to judge the live cluster against the production checklist: "
    "etcd topology, control plane, authentication, certificates, backups, monitoring, logs, "
    "OS patching, clock, image scanning, network policy. Nothing is changed."
)


class ReadinessScreen(WizardScreen):
    STEP = "readiness"
    BINDINGS: ClassVar[list[BindingType]] = [
        *WizardScreen.BINDINGS,
        Binding("c", "check", "Check now"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.checklist: Checklist | None = None

    def compose_body(self) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Label("Production readiness", classes="section-title")
            yield Button("Check now (c)", id="readiness-check", variant="primary")
        yield Static("", id="readiness-summary")
        with VerticalScroll(id="readiness-box"):
            yield ReadinessTable(HINT, id="readiness-table")

    def show_plan(self) -> None:
        self._show()

    def _show(self) -> None:
        table = self.query_one("#readiness-table", ReadinessTable)
        table.show(self.checklist, HINT)
        line = summary(self.checklist) if self.checklist else ""
        self.query_one("#readiness-summary", Static).update(line)

    @on(Button.Pressed, "#readiness-check")
    def action_check(self) -> None:
        if not self.plan.nodes:
            self.notify("the plan has no nodes yet", severity="error")
            return
        self.query_one("#readiness-summary", Static).update("checking the cluster…")
        self._run(self.plan)

    @work(thread=True, exclusive=True, group="readiness")
    def _run(self, plan) -> None:
        check = self.wizard.readiness_check
        if check is None:
            from hawizard.ops.check import run_check as check
        try:
            result = check(plan)
        except Exception as exc:  # shown, never a crash of the app
            self.app.call_from_thread(
                self.notify, f"check failed: {exc}", title="✖ readiness", severity="error"
            )
            return
        self.app.call_from_thread(self._done, result)

    def _done(self, checklist: Checklist) -> None:
        self.checklist = checklist
        self._show()
