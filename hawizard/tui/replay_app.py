"""The app for `hawizard dashboard PLAN --replay`: the wizard's app (themes, keys, screens)
opened on a `ReplayScreen` over recorded rounds instead of the live dashboard."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hawizard.plan import Plan
from hawizard.recorder.rounds import Round
from hawizard.tui.app import WizardApp
from hawizard.tui.replay_cursor import ReplayCursor


class ReplayApp(WizardApp):
    def __init__(
        self, plan: Plan, plan_path: Path | None, rounds: Sequence[Round], **kw: Any
    ) -> None:
        super().__init__(plan, plan_path, start="replay", **kw)
        self.cursor = ReplayCursor(rounds)

    def on_mount(self) -> None:
        """Textual runs this before `WizardApp.on_mount` (handlers go down the MRO), which
        installs the other screens and opens `start_at`: this one."""
        from hawizard.tui.screens.replay import ReplayScreen

        self.install_screen(ReplayScreen(self.cursor), "replay")
