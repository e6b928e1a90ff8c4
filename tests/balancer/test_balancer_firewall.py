"""The VRRP firewall's table and unit by content, the table checked by the host's real `nft -c`
(issue 25 item 2), and keepalived's `check_unicast_src` in the rendered config."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from hawizard.balancer.render import render_keepalived_config
from hawizard.firewall import (
    NFT_FILE,
    TABLE,
    node_rules,
    render_firewall_unit,
    render_nft,
)
from hawizard.plan import Cluster, LoadBalancerSettings, Node, Plan, Role


def plan(*nodes: Node) -> Plan:
    nodes = nodes or (
        Node("m0", "10.1.2.11"),
        Node("m1", "10.1.2.12"),
        Node("m2", "10.1.2.13"),
        Node("e3", "10.1.2.14", (Role.ETCD,)),
    )
    return Plan(
        nodes=nodes,
        cluster=Cluster(name="fwtest", control_plane_endpoint="10.1.2.10:8443"),
        load_balancer=LoadBalancerSettings(mode="vip", subnet="10.1.2.0/24"),
    )


def test_only_the_balancer_nodes_may_send_vrrp():
    p = plan()
    text = render_nft(p, p.nodes[0])
    assert "elements = { 10.1.2.11, 10.1.2.12, 10.1.2.13 }" in text  # not the etcd-only node
    assert "ip protocol 112 ip saddr != @vrrp_peers counter drop" in text
    assert "policy accept;" in text  # drops only: never opens what other rules close
    # one transaction that replaces hawizard's table alone: never `flush ruleset`
    assert text.index(f"table {TABLE}\n") < text.index(f"delete table {TABLE}\n")
    assert not [line for line in text.splitlines() if line.strip().startswith("flush")]
    assert node_rules(p, p.nodes[1]).vrrp_from == ("10.1.2.11", "10.1.2.12", "10.1.2.13")


def test_unit_loads_reloads_and_removes_only_the_table():
    unit = render_firewall_unit()
    assert f"ExecStart=/usr/sbin/nft -f {NFT_FILE}" in unit
    assert f"ExecReload=/usr/sbin/nft -f {NFT_FILE}" in unit
    assert f"ExecStop=/usr/sbin/nft delete table {TABLE}" in unit
    assert "Before=network-pre.target etcd.service keepalived.service haproxy.service" in unit
    assert "RemainAfterExit=yes" in unit and "WantedBy=multi-user.target" in unit


@pytest.mark.skipif(shutil.which("nft") is None, reason="no nft on this host")
def test_nft_accepts_the_table(tmp_path):
    p = plan()
    path = tmp_path / "firewall.nft"
    path.write_text(render_nft(p, p.nodes[0]))
    checked = subprocess.run(["nft", "-c", "-f", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    path.write_text(render_nft(p, p.nodes[0]).replace("ipv4_addr", "ipv4_adr"))
    broken = subprocess.run(["nft", "-c", "-f", str(path)], capture_output=True, text=True)
    assert broken.returncode != 0  # a real check: a bad table is refused


def test_keepalived_ignores_adverts_from_non_peers():
    p = plan()
    text = render_keepalived_config(p, p.nodes[0], "eth0")
    peers = text[text.index("unicast_peer {") :]
    assert peers.index("10.1.2.13") < peers.index("check_unicast_src")
    lone = plan(Node("m0", "10.1.2.11"))
    assert "check_unicast_src" not in render_keepalived_config(lone, lone.nodes[0], "eth0")
