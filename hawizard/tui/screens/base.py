"""What every wizard step shares: the step indicator, back/next, the footer, and the plan.

The app owns the one `Plan`; a screen reads `self.plan` and replaces it with `self.set_plan`
(plans are immutable). A screen refreshes what it shows in `show_plan`, called each time it
becomes the active screen, so a change made on another step is always reflected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Static

from hawizard.plan import Plan
from hawizard.tui import flow
from hawizard.tui.widgets.footer import Footer
from hawizard.tui.widgets.step_indicator import StepIndicator

if TYPE_CHECKING:
    from hawizard.tui.app import WizardApp


class WizardScreen(Screen):
    STEP: ClassVar[str] = ""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+b", "back", "Back"),
        Binding("ctrl+n", "next", "Next"),
    ]

    @property
    def wizard(self) -> WizardApp:
        return self.app  # type: ignore[return-value]

    @property
    def plan(self) -> Plan:
        return self.wizard.plan

    def set_plan(self, plan: Plan) -> None:
        self.wizard.set_plan(plan)

    def compose(self) -> ComposeResult:
        yield StepIndicator(self.STEP)
        with Vertical(id="body"):
            yield from self.compose_body()
        with Horizontal(id="nav"):
            yield Button("◀ Back", id="back")
            yield Static(self.nav_hint(), id="nav-hint")
            yield Button(self.next_label(), id="next", variant="primary")
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def nav_hint(self) -> str:
        return ""

    def next_label(self) -> str:
        following = flow.next_key(self.STEP)
        if following is None:
            return "Dashboard ▶"
        return f"{flow.STEPS[flow.index(following)].label} ▶"

    def on_screen_resume(self) -> None:
        self.show_plan()

    def show_plan(self) -> None:
        """Bring the widgets in line with `self.plan`."""

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        self.wizard.goto(flow.previous_key(self.STEP) or "start")

    @on(Button.Pressed, "#next")
    def action_next(self) -> None:
        self.wizard.goto(flow.next_key(self.STEP) or "dashboard")
