"""The whole wizard against the lab: open the lab's plan, type a bad node and see why, preflight
every node, create the certificates, roll out etcd, watch all members healthy on the dashboard,
then break members for real (`lab fault`) and see their rows turn red while keys still work."""

from __future__ import annotations

import time

import pytest
from textual.widgets import DataTable, Input, Static
from tui_support import NO_LABS, SIZE

from hawizard.plan import dump
from hawizard.tui.app import WizardApp
from hawizard.tui.screens.certificates import CertificatesScreen
from hawizard.tui.screens.dashboard import DashboardScreen
from hawizard.tui.screens.etcd import EtcdScreen
from hawizard.tui.screens.nodes import NodesScreen
from hawizard.tui.screens.preflight import PreflightScreen
from hawizard.tui.screens.readiness import ReadinessScreen

pytestmark = pytest.mark.lab


async def wait_for(pilot, condition, timeout: float, what: str) -> float:
    """Seconds it took for `condition` to hold, pumping the app meanwhile."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, f"{what}: not within {timeout:g} s"
        await pilot.pause(0.1)
    return time.monotonic() - start


async def next_screen(pilot, kind):
    await pilot.press("ctrl+n")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, kind), 10, kind.__name__)
    return pilot.app.screen


def members_cell(screen, member: str, column: str = "health") -> str:
    return str(screen.query_one("#members", DataTable).get_cell(member, column))


async def keys_still_work(pilot, screen) -> None:
    """p pauses and resumes at once, whatever the probes are doing."""
    started = time.monotonic()
    await pilot.press("p")
    assert screen.paused
    await pilot.press("p")
    assert not screen.paused
    assert time.monotonic() - started < 1.0


async def test_wizard_walk_rollout_and_dashboard_faults(lab, tmp_path):
    pki_dir = tmp_path / "pki"
    pki_dir.mkdir(mode=0o700)
    plan = lab.plan(nodes=3, pki_dir=pki_dir)
    path = tmp_path / "plan.toml"
    dump(plan, path)
    names = [n.name for n in plan.etcd_nodes]
    app = WizardApp(labs_root=NO_LABS, interval=0.5)
    try:
        async with app.run_test(size=SIZE) as pilot:
            # Start: open the lab's plan file
            app.screen.query_one("#open-path", Input).value = str(path)
            await pilot.click("#open")
            await wait_for(pilot, lambda: isinstance(app.screen, NodesScreen), 10, "Nodes")
            nodes = app.screen

            # Nodes: a bad address is refused with the validator's message
            nodes.query_one("#f-name", Input).focus()
            await pilot.press(*"extra", "tab", *"198.18.0.300", "enter")
            await pilot.pause()
            message = str(nodes.query_one("#m-address", Static).render())
            assert "'198.18.0.300' is not an IP address" in message
            assert [n.name for n in app.plan.nodes] == names

            # Preflight: every node reachable, host key known, checks pass
            preflight = await next_screen(pilot, PreflightScreen)
            await pilot.press("ctrl+r")
            await wait_for(
                pilot,
                lambda: all(
                    str(preflight.query_one("#preflight-table", DataTable).get_cell(n, "result"))
                    in ("✔ ready", "▲ ready", "✖ not ready")
                    for n in names
                ),
                90,
                "preflight",
            )
            table = preflight.query_one("#preflight-table", DataTable)
            for n in names:
                assert str(table.get_cell(n, "result")) in ("✔ ready", "▲ ready"), (
                    preflight.details.get(n)
                )

            # Certificates: created into the plan's pki dir
            certs = await next_screen(pilot, CertificatesScreen)
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: not certs.busy and certs.report is not None, 60, "pki")
            assert certs.report.ok
            assert "created" in str(certs.query_one("#pki-summary").render())

            # etcd: the engine's rollout, live
            etcd = await next_screen(pilot, EtcdScreen)
            await pilot.press("ctrl+r")
            await pilot.pause()
            await wait_for(pilot, lambda: etcd.result is not None, 600, "etcd rollout")
            assert etcd.result.ok, etcd.result.failures
            assert all(etcd.rows[n].state_text.endswith(" changed") for n in names)
            assert all(etcd.rows[n].done == etcd.rows[n].total for n in names)

            # Control plane, Review, the Readiness step (its check runs only on request),
            # then the dashboard: every member healthy
            await pilot.press("ctrl+n", "ctrl+n")
            await next_screen(pilot, ReadinessScreen)
            dash = await next_screen(pilot, DashboardScreen)
            await wait_for(
                pilot, lambda: dash.health is not None and dash.health.converged, 60, "healthy"
            )
            assert all(members_cell(dash, n) == "✔ healthy" for n in names)
            leader = dash.health.leader_name

            # kill-etcd: SIGKILL; the row turns red, systemd brings etcd back after RestartSec
            victim = next(n for n in names if n != leader)
            lab.fault(victim, "kill-etcd")
            took = await wait_for(
                pilot, lambda: members_cell(dash, victim) != "✔ healthy", 10, "killed member red"
            )
            assert took < plan.etcd.probe_timeout + 2 * app.interval + 1
            await keys_still_work(pilot, dash)
            await wait_for(pilot, lambda: dash.health.converged, 60, "restarted member healthy")

            # partition: a silent blackhole; red within the probe timeout, keys keep working
            lab.fault(victim, "partition")
            took = await wait_for(
                pilot,
                lambda: members_cell(dash, victim) == "✖ unreachable",
                plan.etcd.probe_timeout + 2 * app.interval + 2,
                "blackholed member red",
            )
            await keys_still_work(pilot, dash)
            endpoint = dash.query_one("#members", DataTable).get_cell(victim, "endpoint")
            assert endpoint.style == app.theme_variables["status-bad"]
            assert "2/3 healthy" in str(dash.query_one("#quorum-banner").render())
            lab.fault(victim, "heal")
            await wait_for(pilot, lambda: dash.health.converged, 60, "healed member healthy")
    finally:
        lab.reset(*names)
