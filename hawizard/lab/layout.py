"""Names and addresses of a lab, derived from its name alone (pure: no I/O).

Everything is a function of the lab name, so two labs never share a bridge, an interface or a
subnet, the same lab always gets the same MACs (no stale ARP entries when it comes back), and
every interface name fits Linux's 15-character limit.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re

from hawizard.lab.errors import LabError
from hawizard.lab.state import LabRecord, NodeRecord

MAX_NODES = 9
LAB_RANGE = ipaddress.ip_network("198.18.0.0/15")  # RFC 2544 benchmarking: no real network
FIRST_HOST = 11  # nodes get .11, .12, …; the bridge (the host) holds .1
_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,10}[a-z0-9])?$")


def check_name(name: str) -> None:
    if not _NAME.match(name):
        raise LabError(
            f"{name!r} is not a valid lab name",
            "use 1-12 lowercase letters, digits and '-', starting with a letter, e.g. --name lab",
        )


def default_subnet(name: str) -> ipaddress.IPv4Network:
    """A /24 inside 198.18.0.0/15 picked by the name's hash (512 possible)."""
    index = int.from_bytes(_digest(name)[:4], "big") % 512
    base = int(LAB_RANGE.network_address) + index * 256
    return ipaddress.IPv4Network((base, 24))


def parse_subnet(text: str, nodes: int) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise LabError(f"{text!r} is not a network", "give a CIDR such as 198.18.7.0/24") from None
    if not isinstance(net, ipaddress.IPv4Network) or not net.subnet_of(LAB_RANGE):
        raise LabError(
            f"{text} is outside 198.18.0.0/15",
            "lab networks stay in the benchmarking range so they collide with no real network",
        )
    if net.num_addresses < FIRST_HOST + nodes + 1:
        raise LabError(f"{text} is too small for {nodes} nodes", "use a /27 or larger, e.g. a /24")
    return net


def layout(name: str, nodes: int, subnet: str | None = None) -> LabRecord:
    """The full record of a lab that is not running yet (no PIDs)."""
    check_name(name)
    if not 1 <= nodes <= MAX_NODES:
        raise LabError(f"{nodes} nodes is out of range", f"a lab has 1 to {MAX_NODES} nodes")
    net = parse_subnet(subnet, nodes) if subnet else default_subnet(name)
    tag = _digest(name).hex()[:6]  # keeps interface names short and distinct per lab
    mac = _digest(name)[:3].hex(":")

    def node(i: int) -> NodeRecord:
        node_name = f"{name}-n{i}"
        return NodeRecord(
            name=node_name,
            address=str(net.network_address + FIRST_HOST - 1 + i),
            netns=f"hw-{node_name}",
            veth=f"hwv{tag}n{i}",
            host_mac=f"02:{mac}:01:{i:02x}",
            node_mac=f"02:{mac}:00:{i:02x}",
        )

    return LabRecord(
        name=name,
        subnet=str(net),
        bridge=f"hwb{tag}",
        bridge_mac=f"02:{mac}:02:00",
        gateway=str(net.network_address + 1),
        nodes=tuple(node(i) for i in range(1, nodes + 1)),
    )


def _digest(name: str) -> bytes:
    return hashlib.sha256(f"hawizard-lab:{name}".encode()).digest()
