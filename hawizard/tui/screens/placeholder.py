"""Temporary body for steps whose engine has not landed yet (replaced in phase 2)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from hawizard.tui.screens.base import WizardScreen


class PendingScreen(WizardScreen):
    def compose_body(self) -> ComposeResult:
        yield Static("This step is not available yet.", classes="hint")


def pending(step: str) -> type[WizardScreen]:
    return type(f"Pending_{step}", (PendingScreen,), {"STEP": step})
