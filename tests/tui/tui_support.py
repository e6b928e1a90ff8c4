"""Helpers shared by the TUI tests: a fixed plan and ways to drive the real app."""

from __future__ import annotations

from pathlib import Path

from hawizard.plan import SSH, Cluster, Node, PKISettings, Plan, Role
from hawizard.tui.app import WizardApp

SIZE = (120, 40)
NO_LABS = Path("/nonexistent/hawizard-labs")
FIXED_PATH = Path("/nonexistent/hawizard-snapshots/prod.toml")  # shown, never written


def fixed_plan(pki_dir: str = "/nonexistent/hawizard-snapshots/pki") -> Plan:
    both = (Role.ETCD, Role.CONTROL_PLANE)
    ssh = SSH(user="root", port=22, key="~/.ssh/id_ed25519")
    return Plan(
        nodes=(
            Node("infra0", "10.1.2.11", both, ssh),
            Node("infra1", "10.1.2.12", both, ssh),
            Node("infra2", "10.1.2.13", both, ssh),
        ),
        cluster=Cluster(name="prod", control_plane_endpoint="10.1.2.10:6443"),
        pki=PKISettings(dir=pki_dir),
    )


def make_app(plan: Plan | None = None, plan_path: Path | None = None, **kw) -> WizardApp:
    kw.setdefault("labs_root", NO_LABS)
    return WizardApp(plan, plan_path, **kw)


async def settle(pilot) -> None:
    """Let workers finish and their messages land."""
    for _ in range(2):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
