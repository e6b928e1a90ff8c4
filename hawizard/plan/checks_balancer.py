"""Validation of how the control-plane endpoint is served (`[load_balancer]`), each problem
naming the field and the fix.

Split from `checks` to keep that module readable; it reports through the same `add(severity,
field, message)` callback so the problems land in the same sorted, line-numbered list.
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Callable

from hawizard.plan.model import BalancerMode, Plan

APISERVER_PORT = 6443
# haproxy's read-only stats page on every balancer's loopback (hawizard status reads it).
STATS_PORT = 8404
# VRRPv3 carries the advert interval in centiseconds in 12 bits: 0.01 s to 40.95 s.
ADVERT_RANGE = (0.01, 40.95)

Add = Callable[[str, str, str], None]  # (severity "error"/"warning", field, message)

_MODE_FIX = (
    'use "vip" (a virtual IP that keepalived moves between haproxy nodes), '
    '"single" (haproxy on one node) or "external" (your own balancer)'
)


def check_balancer(plan: Plan, names: dict[str, int], add: Add) -> None:
    lb = plan.load_balancer
    legacy = plan.control_plane.load_balancer

    def err(field: str, message: str) -> None:
        add("error", field, message)

    def warn(field: str, message: str) -> None:
        add("warning", field, message)

    if lb.mode and lb.mode not in set(BalancerMode):
        close = difflib.get_close_matches(lb.mode, [m.value for m in BalancerMode], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        err("load_balancer.mode", f"{lb.mode!r} is not a load-balancer mode{hint}; {_MODE_FIX}")
        return
    mode = plan.balancer_mode

    if legacy and legacy not in names:
        err(
            "control_plane.load_balancer",
            f"{legacy!r} is not a node in this plan; name one of the nodes or leave it empty "
            "for an external load balancer",
        )
    if legacy and mode != BalancerMode.SINGLE:
        err(
            "control_plane.load_balancer",
            f"names a haproxy node, but load_balancer.mode is {mode!r}; leave it empty "
            "(load_balancer.nodes lists the balancer nodes)",
        )
    elif legacy and lb.nodes:
        err(
            "control_plane.load_balancer",
            "and load_balancer.nodes both name the balancer node; keep only load_balancer.nodes",
        )
    seen: set[str] = set()
    for name in lb.nodes:
        if name not in names:
            err(
                "load_balancer.nodes",
                f"{name!r} is not a node in this plan; list node names such as "
                f"{', '.join(repr(n) for n in list(names)[:3])}",
            )
        elif name in seen:
            err("load_balancer.nodes", f"{name!r} is listed twice")
        seen.add(name)

    if mode == BalancerMode.EXTERNAL:
        if lb.nodes:
            err(
                "load_balancer.nodes",
                'mode "external" runs no balancer on the nodes; remove load_balancer.nodes '
                'or use mode = "vip"',
            )
        return
    balancers = plan.balancer_nodes
    if mode == BalancerMode.SINGLE:
        _check_single(plan, lb.nodes, err, warn)
    else:
        _check_vip(plan, err, warn)
    if not balancers:
        err(
            "load_balancer.nodes",
            f"mode {mode!r} has no balancer node: list nodes in load_balancer.nodes "
            '(e.g. nodes = ["infra0", "infra1"]) or give nodes the "control-plane" role',
        )
    _check_ports(plan, err)


def _check_single(plan: Plan, listed: tuple[str, ...], err, warn) -> None:
    if len(listed) > 1:
        err(
            "load_balancer.nodes",
            f'mode "single" runs haproxy on one node, not {len(listed)}; list one, '
            'or use mode = "vip" to fail over between them',
        )
        return
    balancers = plan.balancer_nodes
    if not balancers:
        return
    node = balancers[0]
    if len(plan.control_plane_nodes) >= 2:
        warn(
            "load_balancer.mode",
            f'"single": haproxy on {node.name} is a single point of failure — when {node.name} '
            "is down the API is unreachable although other masters are healthy; "
            'use mode = "vip" with two or more balancer nodes',
        )
    if plan.cluster.control_plane_endpoint:
        try:
            host, _ = plan.endpoint_host_port
        except ValueError:
            return  # the endpoint check reports the form
        if _ip(host) is not None and _ip(host) != _ip(node.address):
            warn(
                "cluster.control_plane_endpoint",
                f"{host} is not the address of the load balancer node {node.name} "
                f"({node.address}); clients will not reach haproxy there",
            )


def _check_vip_nodes(plan: Plan, err) -> None:
    """Every balancer node has an IPv4 address: keepalived moves an IPv4 VIP between them.
    A node whose address is no IP at all (a host name, the wizard's empty draft) is named by
    its own address check."""
    for node in plan.balancer_nodes:
        if isinstance(_ip(node.address), ipaddress.IPv6Address):
            err(
                f"nodes[{plan.nodes.index(node)}].address",
                f"balancer node {node.name} has an IPv6 address ({node.address}) but keepalived "
                "moves an IPv4 VIP between IPv4 addresses; give the node its IPv4 address",
            )


def _check_vrrp(plan: Plan, err, warn) -> None:
    """VRRP's own settings: more than one node to fail over to, the router id, the advert
    interval."""
    lb = plan.load_balancer
    balancers = plan.balancer_nodes
    if len(balancers) == 1:
        warn(
            "load_balancer.nodes",
            f'mode "vip" with one balancer node ({balancers[0].name}) has nothing to fail over '
            "to; list two or more nodes in load_balancer.nodes",
        )
    if lb.virtual_router_id and not 1 <= lb.virtual_router_id <= 255:
        err(
            "load_balancer.virtual_router_id",
            f"{lb.virtual_router_id} is out of range: VRRP ids are 1-255 "
            "(or 0 to derive one from the cluster name)",
        )
    low, high = ADVERT_RANGE
    if not low <= lb.advert_interval <= high:
        err(
            "load_balancer.advert_interval",
            f"{lb.advert_interval} must be between {low} and {high} seconds (default 1)",
        )


def _check_vip(plan: Plan, err, warn) -> None:
    lb = plan.load_balancer
    field = "cluster.control_plane_endpoint"
    balancers = plan.balancer_nodes
    _check_vip_nodes(plan, err)
    _check_vrrp(plan, err, warn)
    subnet = None
    if lb.subnet:
        try:
            subnet = ipaddress.ip_network(lb.subnet, strict=False)
        except ValueError:
            err("load_balancer.subnet", f"{lb.subnet!r} is not a network (e.g. 10.1.2.0/24)")
    ep = plan.cluster.control_plane_endpoint
    if not ep:
        if len(plan.control_plane_nodes) < 2:  # else the endpoint check already said so
            err(field, f'mode "vip" needs the endpoint VIP:PORT, e.g. "{suggest_endpoint(plan)}"')
        return
    host, sep, port = ep.rpartition(":")
    if not sep or not port.isdigit():
        return  # the endpoint check reports the form
    vip = _ip(host)
    if not isinstance(vip, ipaddress.IPv4Address):
        err(
            field,
            f'in mode "vip" the endpoint\'s host is the virtual IP keepalived moves: {host!r} '
            "is not an IPv4 address; use a free address on the balancer nodes' network, e.g. "
            f"{suggest_endpoint(plan)}",
        )
        return
    for i, node in enumerate(plan.nodes):
        if _ip(node.address) == vip:
            err(
                field,
                f"the VIP {vip} is the address of nodes[{i}] ({node.name}); the VIP must be a "
                "free address on the balancer nodes' network that no host uses, e.g. "
                f"{suggest_endpoint(plan)}",
            )
    if subnet is None:
        if not lb.subnet:
            guess = _guess_subnet(balancers)
            warn(
                "load_balancer.subnet",
                f"not set, so whether the VIP {vip} is on the balancer nodes' network cannot be "
                "checked here (apply checks it on each node); set it"
                + (f', e.g. subnet = "{guess}"' if guess else ""),
            )
        return
    if vip not in subnet:
        err(
            field,
            f"the VIP {vip} is outside the balancer nodes' subnet {subnet} "
            f"(load_balancer.subnet); pick a free address in {subnet}, e.g. "
            f"{suggest_endpoint(plan)}",
        )
    elif subnet.prefixlen < 31 and vip in (subnet.network_address, subnet.broadcast_address):
        err(field, f"the VIP {vip} is {subnet}'s network or broadcast address; pick a host address")
    for node in balancers:
        address = _ip(node.address)
        if not isinstance(address, ipaddress.IPv4Address):
            continue  # not an IPv4 address: `_check_vip_nodes` or the node's own check says so
        if address not in subnet:
            err(
                "load_balancer.subnet",
                f"balancer node {node.name} ({node.address}) is outside {subnet}: VRRP moves the "
                "VIP only between nodes on one network; fix the subnet or the balancer nodes",
            )


def _check_ports(plan: Plan, err) -> None:
    if not plan.cluster.control_plane_endpoint:
        return
    try:
        _, port = plan.endpoint_host_port
    except ValueError:
        return  # the endpoint check reports the form
    etcd = plan.etcd
    etcd_ports = {etcd.client_port: "client", etcd.peer_port: "peer", etcd.metrics_port: "metrics"}
    field = "cluster.control_plane_endpoint"
    for node in plan.balancer_nodes:
        if node.is_control_plane and port == APISERVER_PORT:
            err(
                field,
                f"haproxy on {node.name} and kube-apiserver would both listen on :6443; "
                f"use another port for the endpoint, e.g. {_with_port(plan)}",
            )
            return
        if node.is_etcd and port in etcd_ports:
            err(
                field,
                f"haproxy on {node.name} would take etcd's {etcd_ports[port]} port :{port}; "
                f"use another port for the endpoint, e.g. {_with_port(plan)}",
            )
            return
    if port == STATS_PORT and plan.balancer_nodes:
        err(
            field,
            f":{STATS_PORT} is haproxy's stats page on the balancers; use e.g. {_with_port(plan)}",
        )


# --- what hints propose --------------------------------------------------------------------

_EXAMPLE_HOST = "10.1.2.10"


def suggest_endpoint(plan: Plan) -> str:
    """An endpoint `HOST:PORT` for this plan that the checks above accept, for every hint
    (the wizard's placeholder, `plan init`'s and validation's messages), so no hint proposes
    a value that is then refused: haproxy beside kube-apiserver gets a port other than
    :6443, and in vip mode the host is a free address of the balancer nodes' network."""
    host = suggest_host(plan)
    return f"[{host}]:{suggest_port(plan)}" if ":" in host else f"{host}:{suggest_port(plan)}"


def suggest_port(plan: Plan) -> int:
    """6443 unless a balancer node holds it (kube-apiserver) or etcd's ports: then 8443 up."""
    taken = {STATS_PORT} if plan.balancer_nodes else set()
    e = plan.etcd
    for node in plan.balancer_nodes:
        if node.is_control_plane:
            taken.add(APISERVER_PORT)
        if node.is_etcd:
            taken |= {e.client_port, e.peer_port, e.metrics_port}
    return next(p for p in (APISERVER_PORT, *range(8443, 65536, 1000)) if p not in taken)


def suggest_host(plan: Plan) -> str:
    """vip: the highest free host address of the subnet (set, or the balancer nodes' /24);
    single: the balancer node's address; otherwise an example."""
    mode = plan.balancer_mode
    balancers = plan.balancer_nodes
    if mode == BalancerMode.SINGLE and balancers and "%" not in balancers[0].address:
        address = _ip(balancers[0].address)
        if address is not None:
            return str(address)
    if mode != BalancerMode.VIP:
        return _EXAMPLE_HOST
    try:
        subnet = ipaddress.ip_network(plan.load_balancer.subnet or _guess_subnet(balancers))
    except ValueError:
        subnet = None
    used = {int(a) for a in map(_ip, (n.address for n in plan.nodes)) if a is not None}
    if isinstance(subnet, ipaddress.IPv4Network) and subnet.num_addresses >= 4:
        last, first = int(subnet.broadcast_address) - 1, int(subnet.network_address) + 1
        free = (a for a in range(last, max(first, last - len(used)) - 1, -1) if a not in used)
        found = next(free, None)
        if found is not None:
            return str(ipaddress.IPv4Address(found))
    example = int(ipaddress.IPv4Address(_EXAMPLE_HOST))
    return str(ipaddress.IPv4Address(next(a for a in range(example, 2**32) if a not in used)))


def _with_port(plan: Plan) -> str:
    """The plan's endpoint host with the suggested port."""
    host = plan.endpoint_host_port[0]
    return f"[{host}]:{suggest_port(plan)}" if ":" in host else f"{host}:{suggest_port(plan)}"


def _guess_subnet(nodes) -> str:
    nets = {ipaddress.ip_network(f"{n.address}/24", strict=False) for n in nodes if _ip(n.address)}
    return str(nets.pop()) if len(nets) == 1 else ""


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
