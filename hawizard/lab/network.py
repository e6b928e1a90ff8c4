"""The lab network: a bridge in the root namespace, one netns + veth pair per node, and faults.

Each node's namespace is wired from the host before it boots (address, fixed MAC, lo up), so
the node needs no network configuration of its own and keeps its address across reboots. A
partition is an nft table *inside* the node's namespace that silently drops everything but
loopback — a real "silent" failure, as when a cable or switch port dies (the kernel has no
netem, see LAB-NOTES.md).
"""

from __future__ import annotations

import time
from pathlib import Path

from hawizard.lab.errors import LabError
from hawizard.lab.run import ok, run
from hawizard.lab.state import LabRecord, NodeRecord

NETNS_DIR = Path("/run/netns")
PARTITION_TABLE = "hawizard_partition"
_GONE_TIMEOUT = 15.0  # netns deletion finishes in the background; wait this long for old links

PARTITION_RULES = f"""\
table inet {PARTITION_TABLE} {{
    chain input {{
        type filter hook input priority -200; policy drop;
        iif "lo" accept
    }}
    chain output {{
        type filter hook output priority -200; policy drop;
        oif "lo" accept
    }}
}}
"""


def link_exists(name: str) -> bool:
    return ok(["ip", "link", "show", "dev", name])


def netns_exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def ensure_bridge(lab: LabRecord) -> None:
    """Create the lab bridge holding the gateway address (idempotent)."""
    if not link_exists(lab.bridge):
        run(["ip", "link", "add", lab.bridge, "address", lab.bridge_mac, "type", "bridge"])
    run(["ip", "addr", "replace", f"{lab.gateway}/{lab.prefixlen}", "dev", lab.bridge])
    run(["ip", "link", "set", lab.bridge, "up"])


def remove_bridge(lab: LabRecord) -> None:
    if link_exists(lab.bridge):
        run(["ip", "link", "del", lab.bridge])


def ensure_node_link(lab: LabRecord, node: NodeRecord) -> None:
    """The node's namespace and its veth into the bridge, addressed and up (idempotent)."""
    if not netns_exists(node.netns):
        run(["ip", "netns", "add", node.netns])
    ns = ["ip", "-n", node.netns]
    if not ok([*ns, "link", "show", "dev", "eth0"]):
        if link_exists(node.veth):  # a half-made pair from an interrupted run
            run(["ip", "link", "del", node.veth])
        _wait_gone(node.veth)
        host_end = [node.veth, "address", node.host_mac]
        node_end = ["eth0", "address", node.node_mac, "netns", node.netns]
        run(["ip", "link", "add", *host_end, "type", "veth", "peer", "name", *node_end])
    run(["ip", "link", "set", node.veth, "master", lab.bridge, "up"])
    run([*ns, "addr", "replace", f"{node.address}/{lab.prefixlen}", "dev", "eth0"])
    run([*ns, "link", "set", "eth0", "up"])
    run([*ns, "link", "set", "lo", "up"])
    # A node coming back with the same address must not wait for a stale ARP entry to expire.
    run(["ip", "neigh", "flush", "to", node.address, "dev", lab.bridge], check=False)


def remove_node_link(node: NodeRecord) -> None:
    """Delete the node's veth and namespace, and wait until the kernel really let them go."""
    if link_exists(node.veth):
        run(["ip", "link", "del", node.veth])
    if netns_exists(node.netns):
        run(["ip", "netns", "del", node.netns])
    _wait_gone(node.veth)


def partition(node: NodeRecord) -> None:
    """Drop every packet in and out of the node except loopback (idempotent)."""
    if is_partitioned(node):
        return
    run(["ip", "netns", "exec", node.netns, "nft", "-f", "-"], input=PARTITION_RULES)


def heal(node: NodeRecord) -> None:
    if is_partitioned(node):
        run(["ip", "netns", "exec", node.netns, "nft", "delete", "table", "inet", PARTITION_TABLE])


def is_partitioned(node: NodeRecord) -> bool:
    if not netns_exists(node.netns):
        return False
    return ok(["ip", "netns", "exec", node.netns, "nft", "list", "table", "inet", PARTITION_TABLE])


def _wait_gone(link: str) -> None:
    deadline = time.monotonic() + _GONE_TIMEOUT
    while link_exists(link):
        if time.monotonic() > deadline:
            raise LabError(
                f"network interface {link} is still there {_GONE_TIMEOUT:.0f} s after deleting it",
                f"check `ip link show {link}` and retry",
            )
        time.sleep(0.1)
