"""The app for `hawizard dashboard PLAN PLAN …` (or a folder of plans): the wizard's app
(themes, keys, the dashboard) opened on the fleet screen. Each cluster has its own backend,
so its probes keep their own TLS context; opening a cluster points the app's plan and
backend at it and pushes the normal dashboard, whose Escape pops back to the fleet."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hawizard.ops.fleet import Member
from hawizard.tui.app import WizardApp
from hawizard.tui.backend import Backend


class FleetApp(WizardApp):
    def __init__(
        self,
        members: Sequence[Member],
        *,
        backend_for: Callable[[Member], Backend] | None = None,
        **kw: Any,
    ) -> None:
        if not members:
            raise ValueError("a fleet needs at least one plan")
        super().__init__(members[0].plan, members[0].path, start="fleet", **kw)
        self.fleet = list(members)
        make = backend_for or (lambda _m: Backend())
        self.fleet_backends = [make(m) for m in self.fleet]

    def on_mount(self) -> None:
        """Before `WizardApp.on_mount` (handlers go down the MRO), which installs the other
        screens and opens `start_at`: this one."""
        from hawizard.tui.screens.fleet import FleetScreen

        self.install_screen(FleetScreen(self.fleet, self.fleet_backends), "fleet")

    def open_cluster(self, index: int) -> None:
        member = self.fleet[index]
        self.plan = member.plan
        self.plan_path = member.path
        self.backend = self.fleet_backends[index]
        self.push_screen("dashboard")

    def back_to_fleet(self) -> bool:
        """Escape on a cluster's dashboard: back to the fleet (False when not in one)."""
        if len(self.screen_stack) > 1 and self.screen_stack[-2] is self.get_screen("fleet"):
            self.pop_screen()
            return True
        return False
