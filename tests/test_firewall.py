"""hawizard's nftables table per node (issue 25 items 2 and 3), by content and checked by the
host's real `nft -c`: which metrics ports each node gets, who may reach them, and errors that
name the plan field."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace

import pytest

from hawizard.firewall import FirewallError, metrics_ports, node_rules, render_nft
from hawizard.plan import (
    Cluster,
    LoadBalancerSettings,
    MonitoringSettings,
    Node,
    Plan,
    Role,
)

needs_nft = pytest.mark.skipif(shutil.which("nft") is None, reason="no nft on this host")


def plan(**monitoring) -> Plan:
    nodes = (
        Node("m0", "10.1.2.11"),
        Node("m1", "10.1.2.12"),
        Node("e2", "10.1.2.13", (Role.ETCD,)),
        Node("w3", "10.1.2.14", (Role.CONTROL_PLANE,)),
    )
    return Plan(
        nodes=nodes,
        cluster=Cluster(name="fwtest", control_plane_endpoint="10.1.2.10:8443"),
        load_balancer=LoadBalancerSettings(mode="vip", subnet="10.1.2.0/24", nodes=("m0", "m1")),
        monitoring=MonitoringSettings(**monitoring),
    )


def nft_accepts(text: str, tmp_path) -> subprocess.CompletedProcess:
    path = tmp_path / "firewall.nft"
    path.write_text(text)
    return subprocess.run(["nft", "-c", "-f", str(path)], capture_output=True, text=True)


def test_metrics_ports_follow_what_runs_on_the_node():
    off = plan()
    assert metrics_ports(off, off.node("e2")) == (2381,)  # etcd's plain-HTTP metrics
    assert metrics_ports(off, off.node("w3")) == ()  # no etcd, no monitoring: nothing
    on = plan(enabled=True, install=True, prometheus_node="e2")
    assert metrics_ports(on, on.node("m0")) == (2381, 8405, 9100)  # a balancer node
    assert metrics_ports(on, on.node("w3")) == (9100,)


def test_only_the_node_the_scrapers_and_the_applying_machine_may_scrape():
    p = plan(enabled=True, install=True, prometheus_node="e2", scrape_from=("10.9.0.0/24",))
    rules = node_rules(p, p.node("m1"), operator="192.168.7.5")
    assert rules.metrics_from == (
        "10.1.2.12/32",  # itself
        "10.1.2.13/32",  # the Prometheus node
        "10.9.0.0/24",  # scrape_from
        "192.168.7.5/32",  # the machine that runs apply (check, readiness)
    )
    assert "10.1.2.11/32" not in rules.metrics_from  # a peer is no scraper
    assert rules.vrrp_from == ("10.1.2.11", "10.1.2.12")
    assert node_rules(p, p.node("e2")).vrrp_from == ()  # not a balancer node


def test_table_rejects_others_on_every_metrics_port():
    p = plan(enabled=True, install=True, prometheus_node="e2")
    text = render_nft(p, p.node("m0"), "192.168.7.5")
    assert (
        "tcp dport { 2381, 8405, 9100 } ip saddr != @metrics_from4 counter reject with tcp reset"
        in text
    )
    assert "tcp dport { 2381, 8405, 9100 } ip6 saddr != @metrics_from6" in text
    assert "elements = { 10.1.2.11/32, 10.1.2.13/32, 192.168.7.5/32 }" in text
    assert 'iifname "lo" accept' in text
    assert "ip protocol 112 ip saddr != @vrrp_peers" in text


@needs_nft
def test_nft_accepts_overlapping_sources_and_ipv6(tmp_path):
    p = plan(
        enabled=True,
        install=True,
        prometheus_node="e2",
        scrape_from=("10.1.2.0/24", "fd00::/64", "10.1.2.12"),  # overlaps the nodes
    )
    for node in p.nodes:
        done = nft_accepts(render_nft(p, node, "10.1.2.200"), tmp_path)
        assert done.returncode == 0, (node.name, done.stderr)
    broken = render_nft(p, p.node("m0")).replace("reject with tcp reset", "reject with tcp rst")
    assert nft_accepts(broken, tmp_path).returncode != 0  # a real check


def test_a_scraper_without_an_ip_address_is_named():
    p = plan(enabled=True, install=True, prometheus_node="e2")
    named = replace(p, nodes=tuple(replace(n, address="prom.example") if n.name == "e2" else n
                                   for n in p.nodes))  # fmt: skip
    with pytest.raises(FirewallError, match=r"monitoring.prometheus_node \(e2\)"):
        node_rules(named, named.node("m0"))
