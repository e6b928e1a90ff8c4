"""The load-balancer health: a node's answer parsed (haproxy's stats CSV from a real haproxy
on loopback), and the judgement — holders, split brain, unreachable nodes, exit codes."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from hawizard.balancer import render
from hawizard.balancer.probe import _SEP, BalancerNodeState, judge, parse_node_answer
from hawizard.plan import Cluster, LoadBalancerSettings, Node, Plan

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


def vip_plan(**cp) -> Plan:
    nodes = tuple(Node(f"m{i}", f"127.0.0.{71 + i}") for i in range(3))
    plan = Plan(
        nodes=nodes,
        cluster=Cluster(name="probetest", control_plane_endpoint="127.0.0.70:18443"),
        load_balancer=LoadBalancerSettings(mode="vip", subnet="127.0.0.0/24"),
    )
    return replace(plan, control_plane=replace(plan.control_plane, **cp)) if cp else plan


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def stats_csv(tmp_path) -> str:
    """haproxy's real stats CSV for the rendered config (masters on loopback, none listening:
    every backend goes DOWN after its checks fail)."""
    if not Path(HAPROXY).exists():
        pytest.skip("haproxy not installed")
    port, stats = free_port(), free_port()
    text = render.render_haproxy_config(vip_plan())
    text = text.replace("    bind :18443\n", f"    bind 127.0.0.1:{port}\n")
    text = text.replace(f"127.0.0.1:{render.HAPROXY_STATS_PORT}", f"127.0.0.1:{stats}")
    text = text.replace("inter 3s fall 3 rise 2", "inter 100ms fall 1 rise 1")
    text = text.replace("    chroot /var/lib/haproxy\n", "").replace(
        f"    stats socket {render.HAPROXY_STATS_SOCKET} mode 600 level admin\n", ""
    )
    text = text.replace("    user haproxy\n    group haproxy\n", "")
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(text)
    proc = subprocess.Popen([HAPROXY, "-db", "-f", str(cfg)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                url = f"http://127.0.0.1:{stats}/stats;csv"
                body = urllib.request.urlopen(url, timeout=1).read().decode()
                if body.count("DOWN") >= 3:
                    return body
            except OSError:
                pass
            assert time.monotonic() < deadline, "haproxy's stats page did not show 3 DOWN"
            time.sleep(0.1)
    finally:
        proc.terminate()  # the haproxy this fixture started, by its PID
        proc.wait(timeout=10)


def answer(addrs: str, services: str, transition: str, stats: str) -> str:
    return "\n".join([addrs, _SEP, services, _SEP, transition, _SEP, stats])


def test_a_holder_answer_parsed(stats_csv):
    plan = vip_plan()
    text = answer(
        "lo UNKNOWN 127.0.0.1/8\neth0@if12 UP 127.0.0.71/24 127.0.0.70/32",
        "active\nactive",
        "entering MASTER state",
        stats_csv,
    )
    state = parse_node_answer(plan.nodes[0], "127.0.0.70", text)
    assert state.holds_vip and state.keepalived == "MASTER" and state.haproxy == "active"
    assert state.backends == (("m0", "DOWN"), ("m1", "DOWN"), ("m2", "DOWN"))


def test_a_backup_and_a_stopped_keepalived():
    plan = vip_plan()
    backup = parse_node_answer(
        plan.nodes[1], "127.0.0.70", answer("eth0 UP 127.0.0.72/24", "active\nactive", "", "")
    )
    assert not backup.holds_vip and backup.keepalived == "active"  # no transition logged yet
    stopped = parse_node_answer(
        plan.nodes[2],
        "127.0.0.70",
        answer("eth0 UP 127.0.0.73/24", "inactive\nactive", "Entering MASTER STATE", ""),
    )
    assert stopped.keepalived == "inactive"  # the old transition does not count


def states(*holders: str, unreachable: str = "") -> tuple[BalancerNodeState, ...]:
    return tuple(
        BalancerNodeState(n, f"127.0.0.{71 + i}", False, error="timed out")
        if n == unreachable
        else BalancerNodeState(
            n,
            f"127.0.0.{71 + i}",
            True,
            holds_vip=n in holders,
            keepalived="MASTER" if n in holders else "BACKUP",
            haproxy="active",
            backends=(("m0", "DOWN"), ("m1", "UP")),
        )
        for i, n in enumerate(("m0", "m1", "m2"))
    )


def test_one_holder_is_healthy_and_backends_count_only_when_masters_should_run():
    staged = judge(vip_plan(start=False), states("m1"), True, connect_ms=0.4)
    assert staged.exit_code == 0 and staged.holders == ["m1"]
    started = judge(vip_plan(start=True), states("m1"), True)
    assert started.exit_code == 1 and "backends m0 are not UP" in started.warnings[0]


def test_a_dead_balancer_is_a_warning_while_another_holds_the_vip():
    health = judge(vip_plan(start=False), states("m1", unreachable="m0"), True)
    assert health.exit_code == 1
    assert health.warnings == ("balancer node m0 is unreachable (timed out); m1 holds the VIP",)


def test_split_brain_and_no_holder_are_errors():
    split = judge(vip_plan(start=False), states("m0", "m2"), True)
    assert split.exit_code == 2 and split.problems[0].startswith("split brain: m0, m2")
    none = judge(vip_plan(start=False), states(), False, "Connection refused")
    assert none.exit_code == 2
    assert "no balancer node holds the VIP 127.0.0.70" in none.problems
    assert any("does not accept TCP: Connection refused" in p for p in none.problems)
    assert none.to_json()["holders"] == []


def test_a_balancer_not_deployed_yet_is_shown_but_counts_only_once_masters_should_run():
    """An etcd-only apply leaves the balancer nodes without haproxy or keepalived: `status`
    shows the silent endpoint but exits on etcd's health alone until the masters should run;
    a deployed balancer's split brain counts even for a staged control plane."""
    from hawizard.ops.status import StatusReport

    bare = tuple(
        BalancerNodeState(n, f"127.0.0.{71 + i}", True, keepalived="inactive", haproxy="inactive")
        for i, n in enumerate(("m0", "m1", "m2"))
    )
    silent = judge(vip_plan(start=False), bare, False, "Connection refused")
    assert silent.exit_code == 2 and not silent.deployed and not silent.to_json()["deployed"]
    healthy_etcd = _healthy_etcd()
    assert StatusReport(healthy_etcd, (), False, balancer=silent).exit_code == 0
    assert StatusReport(healthy_etcd, (), True, balancer=silent).exit_code == 2

    split = judge(vip_plan(start=False), states("m0", "m2"), True)
    assert split.deployed
    assert StatusReport(healthy_etcd, (), False, balancer=split).exit_code == 2


def _healthy_etcd():
    from hawizard.health import ClusterHealth, State

    return ClusterHealth(
        members=(),
        member_count=3,
        voter_count=3,
        healthy_count=3,
        healthy_voters=3,
        quorum=2,
        tolerates=1,
        design_tolerance=1,
        quorum_ok=True,
        state=State.HEALTHY,
    )
