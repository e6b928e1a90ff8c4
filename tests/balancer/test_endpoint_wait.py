"""The balancer phase's wait for a served endpoint, without nodes: the probe answers are built
with the real judge (`probe.judge`, the one `status` uses) from node states a round could see;
only the clock is a fake, so the bound is tested without waiting for it."""

from __future__ import annotations

import pytest

from hawizard.balancer.endpoint_wait import (
    EndpointNotServed,
    endpoint_wait_step,
    wait_served,
    wait_timeout,
)
from hawizard.balancer.probe import BalancerNodeState, judge
from hawizard.balancer.rollout import balancer_phases
from hawizard.plan import Cluster, LoadBalancerSettings, Node, Plan
from hawizard.steps import Local


def plan(mode: str = "vip") -> Plan:
    nodes = (Node("m0", "10.1.2.11"), Node("m1", "10.1.2.12"), Node("m2", "10.1.2.13"))
    lb = LoadBalancerSettings(mode=mode, subnet="10.1.2.0/24" if mode == "vip" else "")
    if mode == "single":
        lb = LoadBalancerSettings(mode="single", nodes=("m0",))
    return Plan(
        nodes=nodes,
        cluster=Cluster(name="waittest", control_plane_endpoint="10.1.2.10:8443"),
        load_balancer=lb,
    )


def seen(p: Plan, holders: tuple[str, ...], tcp: bool):
    states = tuple(
        BalancerNodeState(
            n.name,
            n.address,
            True,
            holds_vip=n.name in holders,
            keepalived="MASTER" if n.name in holders else "BACKUP",
            haproxy="active",
        )
        for n in p.balancer_nodes
    )
    return judge(p, states, tcp, "" if tcp else "No route to host")


class Rounds:
    """Probe answers in order (the last one repeats), and a clock that advances 1 s a round."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.calls = 0
        self.now = 0.0

    def probe(self, p, timeout):
        self.calls += 1
        self.now += 1.0
        return self.answers[min(self.calls, len(self.answers)) - 1]

    def clock(self) -> float:
        return self.now


def test_vip_phase_ends_with_the_wait_and_external_has_none():
    assert [ph.title for ph in balancer_phases(plan("vip"))] == [
        "load balancer",
        "load balancer endpoint",
    ]
    [step] = balancer_phases(plan("vip"))[1].steps
    assert step.node is None and "holds the VIP" in step.title
    assert [ph.title for ph in balancer_phases(plan("single"))][-1] == "load balancer endpoint"
    assert [ph.title for ph in balancer_phases(plan("external"))] == ["load balancer"]


def test_waits_through_the_election_until_one_holder_and_tcp():
    p = plan()
    rounds = Rounds([seen(p, (), False), seen(p, (), False), seen(p, ("m0",), True)])
    health = wait_served(p, 30, probe=rounds.probe, clock=rounds.clock, sleep=lambda s: None)
    assert rounds.calls == 3 and health.holders == ["m0"] and health.endpoint_ok


def test_a_holder_without_tcp_answer_is_not_served_yet():
    p = plan()
    rounds = Rounds([seen(p, ("m1",), False), seen(p, ("m1",), True)])
    wait_served(p, 30, probe=rounds.probe, clock=rounds.clock, sleep=lambda s: None)
    assert rounds.calls == 2


def test_the_bound_fails_naming_what_is_missing():
    p = plan()
    rounds = Rounds([seen(p, (), False)])
    with pytest.raises(EndpointNotServed) as exc:
        wait_served(p, 5, probe=rounds.probe, clock=rounds.clock, sleep=lambda s: None)
    text = str(exc.value)
    assert "no balancer node holds the VIP 10.1.2.10" in text
    assert "10.1.2.10:8443 does not accept TCP" in text and "not served 5 s" in text
    assert 5 <= rounds.calls <= 7  # bounded: it stopped at the deadline


def test_split_brain_is_not_served():
    p = plan()
    rounds = Rounds([seen(p, ("m0", "m1"), True)])
    with pytest.raises(EndpointNotServed, match="split brain"):
        wait_served(p, 2, probe=rounds.probe, clock=rounds.clock, sleep=lambda s: None)


def test_check_passes_at_once_on_a_served_endpoint_so_reapply_changes_nothing():
    p = plan()
    rounds = Rounds([seen(p, ("m2",), True)])
    step = endpoint_wait_step(p, probe=rounds.probe)
    assert step.check(Local(dry_run=False)) is False
    assert rounds.calls == 1  # one probe round, no wait


def test_apply_reports_the_holder():
    p = plan()
    rounds = Rounds([seen(p, (), False), seen(p, ("m1",), True)])
    step = endpoint_wait_step(p, probe=rounds.probe)
    local = Local(dry_run=False)
    lines: list[str] = []
    local.on_output = lines.append
    assert step.check(local) is True
    step.apply(local)
    assert lines and lines[0].startswith("m1 holds the VIP; 10.1.2.10:8443 answers TCP")


def test_wait_covers_several_elections():
    assert wait_timeout(plan()) >= 30
