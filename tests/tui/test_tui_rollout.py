"""The etcd and control-plane steps run the engine's phases and show them live: node rows,
the streamed log, the failure panel with how to resume, and the dry-run view."""

from __future__ import annotations

import socket
import time
from dataclasses import replace

from textual.widgets import RichLog, Static
from tui_support import SIZE, make_app

from hawizard.plan import SSH, Cluster, Node, PKISettings, Plan, Role
from hawizard.tui.messages import RunFinished, RunnerEvent
from hawizard.tui.screens.control_plane import control_plane_summary
from hawizard.tui.screens.etcd import EtcdScreen
from hawizard.tui.widgets.node_progress import NodeProgress


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def log_text(screen) -> str:
    return "\n".join(strip.text for strip in screen.query_one("#run-log", RichLog).lines)


async def run_until_finished(pilot, key: str, timeout: float = 60.0) -> None:
    await pilot.press(key)
    deadline = time.monotonic() + timeout
    screen = pilot.app.screen
    while screen.running or screen.result is None:
        assert time.monotonic() < deadline, "the run did not finish in time"
        await pilot.pause(0.1)
    await pilot.pause()


async def test_unreachable_node_fills_the_failure_panel(tmp_path):
    port = closed_port()
    plan = Plan(
        nodes=(Node("infra0", "127.0.0.1", (Role.ETCD,), SSH("root", port, str(tmp_path / "k"))),),
        cluster=Cluster(name="t", known_hosts=str(tmp_path / "known_hosts")),
        pki=PKISettings(dir=str(tmp_path / "pki")),
        source=tmp_path / "plan.toml",
    )
    events: list[RunnerEvent] = []
    app = make_app(plan, tmp_path / "plan.toml", start="etcd")
    hook = lambda m: events.append(m) if isinstance(m, RunnerEvent) else None  # noqa: E731
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        screen = app.screen
        assert isinstance(screen, EtcdScreen)
        await run_until_finished(pilot, "ctrl+r")
        panel = screen.query_one("#failure-panel", Static)
        assert panel.display
        text = str(panel.render())
        assert "infra0 · step “preflight”" in text
        assert f"127.0.0.1:{port}" in text  # the engine's own connect error
        assert f"hawizard apply {tmp_path / 'plan.toml'}" in text
        row = screen.query_one(NodeProgress)
        assert row.node == "infra0" and row.state_text == "✖ failed"
        assert "etcd rollout stopped" in str(screen.query_one("#run-status").render())
        assert any(e.event.kind.value == "failed" for e in events)
        # the certificates were made first, as `hawizard apply` does
        assert (tmp_path / "pki" / "etcd" / "ca.pem").exists()


async def test_dry_run_against_a_real_sshd_streams_the_engine_output(ssh_plan, tmp_path):
    plan = ssh_plan(nodes=1, names=("infra0",))
    plan = replace(plan, pki=PKISettings(dir=str(tmp_path / "pki")))
    app = make_app(plan, plan.source, start="etcd")
    finished: list[RunFinished] = []
    hook = lambda m: finished.append(m) if isinstance(m, RunFinished) else None  # noqa: E731
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        screen = app.screen
        await run_until_finished(pilot, "ctrl+d")
        result = finished[0].result
        assert result.dry_run
        text = log_text(screen)
        assert "── etcd preflight (1/" in text
        assert "infra0: ok   sudo: commands run as root" in text  # preflight's own lines
        if result.failures:  # e.g. this host has no systemd as PID 1: the panel says so
            failure = result.failures[0]
            assert f"{failure.node} · step “{failure.step}”" in str(
                screen.query_one("#failure-panel").render()
            )
        else:
            assert "dry run: nothing was changed" in text
        assert not (tmp_path / "etcd-data").exists()


def test_control_plane_summary_names_masters_endpoint_and_targets():
    plan = Plan(
        nodes=(
            Node("m1", "10.1.2.11"),
            Node("m2", "10.1.2.12"),
            Node("m3", "10.1.2.13"),
        ),
        cluster=Cluster(name="p", control_plane_endpoint="10.1.2.10:6443"),
    )
    text = control_plane_summary(plan)
    assert "m1 (10.1.2.11), m2 (10.1.2.12), m3 (10.1.2.13)" in text
    assert "https://10.1.2.10:6443" in text
    assert "/etc/kubernetes/pki/etcd/" in text
    assert "external" in text
    lb = replace(plan, control_plane=replace(plan.control_plane, load_balancer="m1"))
    assert "haproxy on m1" in control_plane_summary(lb)


def test_control_plane_summary_survives_an_invalid_endpoint():
    plan = Plan(nodes=(Node("m1", "10.1.2.11"),), cluster=Cluster(control_plane_endpoint="nope"))
    assert "'nope' (not HOST:PORT, see Nodes)" in control_plane_summary(plan)


# --- the wizard's rollouts go through `hawizard.ops.apply`, lock and refusals included --------


def _unreachable_plan(tmp_path) -> Plan:
    from hawizard.plan import dump

    plan = Plan(
        nodes=(
            Node("infra0", "127.0.0.1", (Role.ETCD,), SSH("root", closed_port(), str(tmp_path))),
        ),
        cluster=Cluster(name="t", known_hosts=str(tmp_path / "known_hosts")),
        pki=PKISettings(dir=str(tmp_path / "pki")),
        source=tmp_path / "plan.toml",
    )
    dump(plan, tmp_path / "plan.toml")
    return plan


async def _refused_run(app, key: str) -> str:
    """Press `key` on the rollout screen; the status line once the worker has given up."""
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, EtcdScreen)
        await pilot.press(key)
        deadline = time.monotonic() + 60
        await pilot.pause(0.2)
        while screen.running:
            assert time.monotonic() < deadline, "the refusal did not come in time"
            await pilot.pause(0.1)
        await pilot.pause()
        assert screen.result is None  # nothing ran
        assert not screen.rows  # no node row: no phase started
        panel = "\n".join(str(w.render()) for w in screen.query(Static) if w.display)
        return str(screen.query_one("#run-status").render()) + "\n" + panel


async def test_rollout_is_refused_while_another_process_holds_the_plan_lock(tmp_path):
    import subprocess
    import sys

    plan = _unreachable_plan(tmp_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from hawizard.planlock import PlanLock; "
            "PlanLock(sys.argv[1], sys.argv[2]).acquire(); print('held', flush=True); "
            "sys.stdin.read()",
            str(plan.source),
            "hawizard etcd add plan.toml infra3",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        text = await _refused_run(make_app(plan, plan.source, start="etcd"), "ctrl+r")
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
    assert "plan.toml is being changed by `hawizard etcd add plan.toml infra3`" in text
    assert f"pid {holder.pid}" in text  # the holder, named
    assert "run it again when that command has finished" in text


async def test_rollout_is_refused_during_an_unfinished_membership_change(tmp_path):
    from hawizard.etcd.membership import PendingChange, write_pending

    plan = _unreachable_plan(tmp_path)
    write_pending(plan.source, PendingChange("abc", "add", "infra3", None, "2030-01-01T00:00:00"))
    text = await _refused_run(make_app(plan, plan.source, start="etcd"), "ctrl+r")
    assert "a membership change is unfinished: add infra3" in text
    assert "finish it first: `hawizard etcd add" in text


async def test_dry_run_needs_no_lock(tmp_path):
    """A dry run changes nothing, so it runs while another command holds the plan."""
    from hawizard.planlock import PlanLock

    plan = _unreachable_plan(tmp_path)
    app = make_app(plan, plan.source, start="etcd")
    with PlanLock(plan.source, "hawizard etcd add plan.toml infra3"):
        async with app.run_test(size=SIZE) as pilot:
            await run_until_finished(pilot, "ctrl+d")
            assert app.screen.result.dry_run


async def test_installer_noise_is_hidden_until_raw_output_is_toggled(tmp_path):
    """Issue 23 item 5: the run log shows hawizard's own line for an install; dpkg's expected
    notes of a masked install appear only after ctrl+o (raw output), including the ones that
    came before the toggle."""
    from hawizard.steps import Event, EventKind

    plan = Plan(
        nodes=(Node("infra0", "127.0.0.1", (Role.ETCD,)),),
        cluster=Cluster(name="t"),
        pki=PKISettings(dir=str(tmp_path / "pki")),
        source=tmp_path / "plan.toml",
    )
    app = make_app(plan, tmp_path / "plan.toml", start="etcd")
    step = "install haproxy and keepalived"
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        for text, detail in (
            ("policy-rc.d denied execution of start.", True),
            ("installed haproxy, keepalived", False),
        ):
            screen.post_message(
                RunnerEvent(Event(EventKind.OUTPUT, "infra0", step, text, detail=detail))
            )
        await pilot.pause()
        assert "infra0: installed haproxy, keepalived" in log_text(screen)
        assert "denied" not in log_text(screen)
        assert "installer output hidden: ctrl+o shows it" in log_text(screen)
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert "infra0: policy-rc.d denied execution of start." in log_text(screen)
