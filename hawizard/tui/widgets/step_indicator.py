"""The row of steps across the top: where the operator is, and what comes next."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

from hawizard.tui.flow import STEPS


class StepIndicator(Horizontal):
    """`1 Nodes › 2 Preflight › …`; the current step is marked with ▶ as well as colour."""

    def __init__(self, current: str) -> None:
        super().__init__(id="steps")
        self.current = current

    def compose(self) -> ComposeResult:
        keys = [s.key for s in STEPS]
        here = keys.index(self.current) if self.current in keys else -1
        for i, step in enumerate(STEPS):
            if i:
                yield Label(" › ", classes="step-sep")
            classes = "step"
            if i == here:
                classes += " -current"
            elif i < here:
                classes += " -done"
            marker = "▶ " if i == here else ""
            yield Label(f"{marker}{i + 1} {step.label}", classes=classes, id=f"step-{step.key}")
