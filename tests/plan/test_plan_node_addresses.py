"""Node addresses that are not IP addresses, in every balancer mode, through every command that
loads a plan (issue 23, item 2).

Node addresses are IP addresses: each node's certificates carry its exact IP as a SAN and the
other nodes (etcd peers, haproxy, keepalived) dial that IP. A host name, `localhost`, `[::1]`
or an address with a stray character is refused by validation naming `nodes[i].address` and
the fix, and every command stops on it with exit 2 (`plan validate`: 1), never a traceback. In
`vip` mode a balancer node also needs an IPv4 address: keepalived moves an IPv4 VIP.
Everything runs in-process; `apply --dry-run` on such a plan dials nothing (its early
connections skip host names, see `hawizard.early_ssh`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hawizard.cli import main

# The lab's plan shape: every node etcd + control-plane, vip mode over every master.
_HEAD = """version = 1
[cluster]
name = "lab"
control_plane_endpoint = "198.18.7.254:8443"
known_hosts = "known_hosts"
[pki]
dir = "pki"
[control_plane]
install = "none"
start = false
{balancer}
[monitoring]
enabled = true
"""
_NODE = """[[nodes]]
name = "n{i}"
address = {address}
roles = ["etcd", "control-plane"]
ssh = {{ user = "root", port = 1, key = "id_none" }}
"""
MODES = {
    "vip+subnet": '[load_balancer]\nmode = "vip"\nnodes = []\nsubnet = "198.18.7.0/24"',
    "vip": '[load_balancer]\nmode = "vip"',
    "single": '[load_balancer]\nmode = "single"\nnodes = ["n1"]',
    "external": '[load_balancer]\nmode = "external"',
}
NOT_IP = {
    "node-3.example": "not host names",
    "localhost": "not host names",
    "[::1]": "without brackets: ::1",
    "198.18.7.13 ": "remove the spaces around it: 198.18.7.13",
    "198.18.7.13x": "expected an IPv4 or IPv6 address",
    "198.18.7.300": "expected an IPv4 or IPv6 address",
    "fe80::1%eth0": "IPv6 scope ids",
}
COMMANDS = [
    ("plan", "show"),
    ("certs", "check"),
    ("certs", "rotate", "--dry-run"),
    ("apply", "--dry-run"),
    ("monitoring", "export"),
    ("status",),
    ("check",),
    ("patch", "--dry-run"),
]


def write(folder: Path, balancer: str, third: str) -> Path:
    addresses = ["198.18.7.11", "198.18.7.12", third]
    text = _HEAD.format(balancer=balancer) + "".join(
        _NODE.format(i=i, address=json.dumps(a))  # a JSON string is a TOML basic string
        for i, a in enumerate(addresses)
    )
    path = folder / "plan.toml"
    path.write_text(text)
    return path


def run(*argv: str) -> int:
    return main(list(argv))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("address", NOT_IP)
def test_a_node_address_that_is_not_an_ip_is_refused_by_every_command(
    address, mode, tmp_path, capsys
):
    path = write(tmp_path, MODES[mode], address)
    assert run("plan", "validate", str(path)) == 1
    out = capsys.readouterr().out
    assert "nodes[2].address" in out and NOT_IP[address] in out, out
    for command in COMMANDS:
        assert run(*command, str(path)) == 2, command
        err = capsys.readouterr().err
        assert "nodes[2].address" in err and NOT_IP[address] in err, (command, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.toml"]  # nothing written


@pytest.mark.parametrize("mode", ["vip+subnet", "vip"])
@pytest.mark.parametrize("address", ["::1", "fd00::13", "::ffff:198.18.7.13"])
def test_an_ipv6_balancer_node_is_refused_in_vip_mode(address, mode, tmp_path, capsys):
    path = write(tmp_path, MODES[mode], address)
    assert run("plan", "validate", str(path)) == 1
    out = capsys.readouterr().out
    assert "nodes[2].address" in out and "give the node its IPv4 address" in out, out
    for command in COMMANDS:
        assert run(*command, str(path)) == 2, command
        assert "nodes[2].address" in capsys.readouterr().err, command


@pytest.mark.parametrize("mode", ["single", "external"])
def test_an_ipv6_node_is_an_address_outside_vip_mode(mode, tmp_path, capsys):
    path = write(tmp_path, MODES[mode], "fd00::13")
    assert run("plan", "validate", str(path)) == 0, capsys.readouterr().out
    assert run("plan", "show", str(path)) == 0
    assert "fd00::13" in capsys.readouterr().out


def test_a_host_name_on_a_node_that_runs_no_balancer_is_refused_too(tmp_path, capsys):
    """vip mode over listed balancer nodes: the host-named node is not one of them, and still
    its own address check names it (the vip check skips it rather than crash)."""
    balancer = '[load_balancer]\nmode = "vip"\nnodes = ["n0", "n1"]\nsubnet = "198.18.7.0/24"'
    path = write(tmp_path, balancer, "node-3.example")
    assert run("plan", "validate", str(path)) == 1
    out = capsys.readouterr().out
    assert "nodes[2].address" in out and "load_balancer" not in out, out
