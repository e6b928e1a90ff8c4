"""The balancer's phase without nodes: which steps each mode builds, and reading the node's
interface from `ip -o -4 addr show` (output captured from a lab node)."""

from __future__ import annotations

import ipaddress

from hawizard.balancer.rollout import balancer_steps, node_interface
from hawizard.plan import Cluster, ControlPlaneSettings, LoadBalancerSettings, Node, Plan, Role

IP_ADDR = """\
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
2: eth0@if41    inet 198.18.7.11/24 brd 198.18.7.255 scope global eth0\\       valid_lft forever
2: eth0@if41    inet 198.18.7.250/32 scope global eth0\\       valid_lft forever preferred_lft
"""


def plan(**lb) -> Plan:
    nodes = (
        Node("m0", "10.1.2.11"),
        Node("m1", "10.1.2.12"),
        Node("e2", "10.1.2.13", (Role.ETCD,)),
    )
    return Plan(
        nodes=nodes,
        cluster=Cluster(name="lbtest", control_plane_endpoint="10.1.2.10:8443"),
        load_balancer=LoadBalancerSettings(**lb),
    )


def test_vip_installs_and_configures_both_on_every_balancer_node():
    steps = balancer_steps(plan(mode="vip", subnet="10.1.2.0/24"))
    assert [(s.node, s.title) for s in steps] == [
        (node, title)
        for node in ("m0", "m1")
        for title in (
            "install haproxy and keepalived",
            "haproxy configuration",
            "VRRP firewall (nftables)",
            "keepalived configuration",
        )
    ]


def test_single_and_external():
    single = plan(mode="single", nodes=("m1",))
    assert [(s.node, s.title) for s in balancer_steps(single)] == [
        ("m1", "install haproxy"),
        ("m1", "haproxy configuration"),
    ]
    legacy = Plan(
        nodes=single.nodes,
        cluster=single.cluster,
        control_plane=ControlPlaneSettings(load_balancer="m0"),
    )
    assert [s.node for s in balancer_steps(legacy)] == ["m0", "m0"]
    assert [s.node for s in balancer_steps(plan(mode="external"))] == [None]


def test_node_interface_finds_the_plan_address_not_the_vip():
    assert node_interface(IP_ADDR, "198.18.7.11") == (
        "eth0",
        ipaddress.IPv4Network("198.18.7.0/24"),
    )
    assert node_interface(IP_ADDR, "198.18.7.12") is None
