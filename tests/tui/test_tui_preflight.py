"""Preflight against a real sshd: the engine's checks per node, the unknown-host-key dialog
with the fingerprint `ssh-keygen -lf` prints, trust and reject."""

from __future__ import annotations

import socket
import time
from dataclasses import replace
from pathlib import Path

from textual.widgets import DataTable, Static
from tui_support import SIZE, make_app

from hawizard.plan import SSH, Cluster, Node, Plan, Role
from hawizard.tui.screens.host_key_dialog import HostKeyDialog
from hawizard.tui.screens.password_dialog import PasswordDialog
from hawizard.tui.screens.preflight import PreflightScreen


def cell(screen, node: str, column: str) -> str:
    return str(screen.query_one("#preflight-table", DataTable).get_cell(node, column))


async def wait_for(pilot, condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.05)


def finished(screen, node: str) -> bool:
    return cell(screen, node, "result") not in ("●", "·", "▲") and "connecting" not in cell(
        screen, node, "ssh"
    )


async def test_unknown_key_is_shown_and_trusted_then_the_node_is_checked(ssh_plan, sshd):
    plan = ssh_plan(nodes=2, trusted=False, names=("infra0", "infra1"))
    known_hosts = Path(plan.cluster.known_hosts)
    assert not known_hosts.exists()
    app = make_app(plan, plan.source, start="preflight")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, PreflightScreen)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, HostKeyDialog))
        dialog = app.screen
        assert dialog.question.fingerprint == sshd.fingerprint()  # what ssh-keygen -lf says
        text = str(dialog.query_one("#hostkey-text", Static).render())
        assert sshd.fingerprint() in text and str(known_hosts) in text
        await pilot.click("#trust")
        # the second node presents the same key; it is asked about too (checks ran at once)
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, HostKeyDialog)
                or (
                    app.screen is screen
                    and finished(screen, "infra0")
                    and finished(screen, "infra1")
                )
            ),
        )
        if isinstance(app.screen, HostKeyDialog):
            await pilot.click("#trust")
        await wait_for(
            pilot,
            lambda: (
                app.screen is screen and finished(screen, "infra0") and finished(screen, "infra1")
            ),
        )
        assert not isinstance(app.screen, HostKeyDialog)
        assert known_hosts.read_text().count(sshd.known_hosts_line().split()[2]) == 1
        assert known_hosts.stat().st_mode & 0o777 == 0o600
        for node in ("infra0", "infra1"):
            assert cell(screen, node, "ssh") == "✔ ok"
            assert cell(screen, node, "sudo") == "✔ ok"  # the engine's check: root login
        table = screen.query_one("#preflight-table", DataTable)
        table.move_cursor(row=0)
        await pilot.pause()
        detail = str(screen.query_one("#preflight-detail", Static).render())
        assert "sudo: commands run as root" in detail and "clock: skew" in detail


async def test_rejected_key_writes_nothing_and_marks_the_node(ssh_plan):
    plan = ssh_plan(nodes=1, trusted=False, names=("infra0",))
    known_hosts = Path(plan.cluster.known_hosts)
    app = make_app(plan, plan.source, start="preflight")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, HostKeyDialog))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        await pilot.pause()
        assert cell(screen, "infra0", "ssh") == "✖ key rejected"
        assert "not ready: infra0" in str(screen.query_one("#preflight-status").render())
    assert not known_hosts.exists()


async def test_unreachable_node_says_why(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    plan = Plan(
        nodes=(Node("infra0", "127.0.0.1", (Role.ETCD,), SSH("root", port, "k")),),
        cluster=Cluster(known_hosts=str(tmp_path / "known_hosts")),
    )
    app = make_app(plan, start="preflight")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: cell(screen, "infra0", "ssh") == "✖ unreachable")
        detail = str(screen.query_one("#preflight-detail", Static).render())
        assert f"127.0.0.1:{port}" in detail


async def test_control_plane_only_nodes_skip_the_etcd_checks(ssh_plan):
    plan = ssh_plan(nodes=1, names=("cp0",))
    node = replace(plan.nodes[0], roles=(Role.CONTROL_PLANE,))
    plan = replace(plan, nodes=(node,))
    app = make_app(plan, plan.source, start="preflight")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: cell(screen, "cp0", "ssh") == "✔ ok")
        assert cell(screen, "cp0", "ports") == "–"
        assert cell(screen, "cp0", "data") == "–"
        assert cell(screen, "cp0", "sudo") == "✔ ok"


async def test_sudo_password_is_asked_once_and_used(ssh_plan, sudo_user):
    plan = ssh_plan(nodes=1, user=sudo_user.name, names=("infra0",))
    app = make_app(plan, plan.source, start="preflight")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, PasswordDialog))
        assert f"{sudo_user.name}@" in str(app.screen.query_one(".dialog-title").render())
        await pilot.press(*sudo_user.password, "enter")
        await wait_for(pilot, lambda: app.screen is screen and finished(screen, "infra0"))
        assert cell(screen, "infra0", "sudo") == "✔ ok"
        detail = str(screen.query_one("#preflight-detail", Static).render())
        assert sudo_user.password not in detail


async def test_cancelled_sudo_password_fails_the_sudo_check(ssh_plan, sudo_user):
    plan = ssh_plan(nodes=1, user=sudo_user.name, names=("infra0",))
    app = make_app(plan, plan.source, start="preflight")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, PasswordDialog))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen and finished(screen, "infra0"))
        assert cell(screen, "infra0", "sudo") != "✔ ok"
        assert "✖" in cell(screen, "infra0", "result")
