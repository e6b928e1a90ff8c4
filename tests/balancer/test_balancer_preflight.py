"""The balancer's preflight judgement, pure: the endpoint port, the packages, the VIP."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from hawizard.balancer.preflight import BalancerFacts, judge, parse, script
from hawizard.plan import Cluster, LoadBalancerSettings, Node, Plan, Role


def vip_plan(mode: str = "vip") -> Plan:
    nodes = tuple(
        Node(f"n{i}", f"198.18.9.{10 + i}", roles=(Role.ETCD, Role.CONTROL_PLANE))
        for i in (1, 2, 3)
    )
    return Plan(
        cluster=Cluster(name="c", control_plane_endpoint="198.18.9.254:8443"),
        nodes=nodes,
        load_balancer=LoadBalancerSettings(mode=mode, subnet="198.18.9.0/24"),
    )


def checks_of(plan: Plan, facts: BalancerFacts, listening=None) -> dict[str, tuple[str, str]]:
    return {n: (v, d) for n, v, d in judge(plan, plan.nodes[0], facts, listening or {})}


def test_a_fresh_node_with_candidates_is_ready():
    facts = parse("pkg.haproxy=2.6.12-1\npkg.keepalived=1:2.2.7-1\nholds_vip=0\n"
                  "keepalived=inactive\nvip_answers=0\n")  # fmt: skip
    checks = checks_of(vip_plan(), facts)
    assert {v for v, _ in checks.values()} == {"ok"}
    assert checks["haproxy"][1] == "installable (2.6.12-1)"
    assert checks["endpoint port 8443"][1] == "free for haproxy"


def test_the_endpoint_port_held_by_another_program_fails_naming_the_fix():
    checks = checks_of(vip_plan(), parse("pkg.haproxy=installed"), {8443: "nginx"})
    verdict, detail = checks["endpoint port 8443"]
    assert verdict == "fail" and "nginx" in detail
    assert "cluster.control_plane_endpoint" in detail


def test_no_candidate_warns_that_the_install_refreshes_the_lists_once():
    verdict, detail = checks_of(vip_plan(), parse("pkg.keepalived=(none)"))["keepalived"]
    assert verdict == "warn" and "apt-get update" in detail


def test_a_vip_on_an_interface_without_keepalived_fails():
    facts = parse("holds_vip=1\nkeepalived=inactive\nvip_answers=1")
    verdict, detail = checks_of(vip_plan(), facts)["vip"]
    assert verdict == "fail" and "198.18.9.254" in detail and "another program" in detail


def test_a_vip_answering_from_elsewhere_without_keepalived_here_warns():
    facts = parse("holds_vip=0\nkeepalived=inactive\nvip_answers=1")
    assert checks_of(vip_plan(), facts)["vip"][0] == "warn"
    ours = parse("holds_vip=0\nkeepalived=active\nvip_answers=1")
    assert checks_of(vip_plan(), ours)["vip"] == ("ok", "198.18.9.254 not held here")


def test_single_mode_has_no_keepalived_and_no_vip():
    plan = vip_plan("single")
    plan = replace(plan, load_balancer=replace(plan.load_balancer, nodes=("n1",)))
    checks = checks_of(plan, parse("pkg.haproxy=installed"))
    assert set(checks) == {"endpoint port 8443", "haproxy"}
    assert "keepalived" not in script(plan) and "/dev/tcp" not in script(plan)


def test_the_script_quotes_the_vip_and_reads_only():
    text = script(vip_plan())
    assert "198.18.9.254" in text and "apt-get install" not in text and "ip addr add" not in text


@given(st.text())
def test_parse_never_raises_and_judge_always_answers(text):
    facts = parse(text)
    checks = judge(vip_plan(), vip_plan().nodes[0], facts, {})
    assert {v for _, v, _ in checks} <= {"ok", "warn", "fail"}
    assert [n for n, _, _ in checks][-1] == "vip"
