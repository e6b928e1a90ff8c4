"""The endpoint's health: who holds the VIP, keepalived's and haproxy's state on every balancer
node, haproxy's view of the backends, and whether the endpoint answers TCP from here.

One read-only SSH command per balancer node (in parallel, each bounded by the timeout):
`ip -br -4 addr` (does this node hold the VIP?), keepalived's last state change from its
journal (MASTER / BACKUP / FAULT), `systemctl is-active` of both services, and haproxy's stats
page as CSV. Then `judge` turns the answers into problems (exit 2: the endpoint is not served,
or two nodes hold the VIP) and warnings (exit 1: a balancer node is down while another holds
the VIP, a service is not running, backends are down), like etcd's 0/1/2.
"""

from __future__ import annotations

import csv
import io
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from hawizard.balancer.render import HAPROXY_STATS_PORT
from hawizard.plan import BalancerMode, Node, Plan

__all__ = [
    "BalancerHealth",
    "BalancerNodeState",
    "judge",
    "parse_node_answer",
    "probe_balancer",
]

_SEP = "--hawizard--"
# Read-only: addresses, the services' states, keepalived's last transition, haproxy's stats.
NODE_SCRIPT = (
    "ip -br -4 addr show; "
    f"echo {_SEP}; systemctl is-active keepalived haproxy 2>/dev/null; "
    f"echo {_SEP}; journalctl -u keepalived -n 400 -o cat --no-pager 2>/dev/null "
    "| grep -io 'entering [a-z]* state' | tail -n 1; "
    f"echo {_SEP}; curl -s --max-time 2 'http://127.0.0.1:{HAPROXY_STATS_PORT}/stats;csv' "
    "2>/dev/null; true"
)


@dataclass(frozen=True)
class BalancerNodeState:
    node: str
    address: str
    reachable: bool
    holds_vip: bool = False
    keepalived: str = "-"  # MASTER / BACKUP / FAULT, or the unit state when not running
    haproxy: str = "-"  # the unit state: active, inactive, failed...
    backends: tuple[tuple[str, str], ...] = ()  # (master, haproxy status: UP, DOWN...)
    error: str = ""

    def to_json(self) -> dict:
        return {
            "node": self.node,
            "address": self.address,
            "reachable": self.reachable,
            "holds_vip": self.holds_vip,
            "keepalived": self.keepalived,
            "haproxy": self.haproxy,
            "backends": {name: status for name, status in self.backends},
            "error": self.error,
        }


@dataclass(frozen=True)
class BalancerHealth:
    mode: str
    endpoint: str  # host:port
    vip: str  # "" unless mode vip
    nodes: tuple[BalancerNodeState, ...]
    endpoint_ok: bool
    endpoint_error: str = ""
    connect_ms: float | None = None
    problems: tuple[str, ...] = field(default=())
    warnings: tuple[str, ...] = field(default=())

    @property
    def holders(self) -> list[str]:
        return [n.node for n in self.nodes if n.holds_vip]

    @property
    def exit_code(self) -> int:
        return 2 if self.problems else 1 if self.warnings else 0

    @property
    def deployed(self) -> bool:
        """Does any balancer node run haproxy or keepalived, or hold the VIP? Not before the
        control plane's rollout (an etcd-only apply): then a silent endpoint is no outage."""
        return any(
            n.reachable
            and (n.holds_vip or n.haproxy == "active" or n.keepalived in ("MASTER", "BACKUP"))
            for n in self.nodes
        )

    def to_json(self) -> dict:
        """`mode`, `endpoint`, `vip`, `holders`, `endpoint_ok`, `endpoint_error`, `connect_ms`,
        `problems`, `warnings`, `exit_code`, `deployed`, `nodes` (each `node`, `address`,
        `reachable`,
        `holds_vip`, `keepalived`, `haproxy`, `backends` {master: status}, `error`)."""
        return {
            "mode": self.mode,
            "endpoint": self.endpoint,
            "vip": self.vip,
            "holders": self.holders,
            "endpoint_ok": self.endpoint_ok,
            "endpoint_error": self.endpoint_error,
            "connect_ms": self.connect_ms,
            "problems": list(self.problems),
            "warnings": list(self.warnings),
            "exit_code": self.exit_code,
            "deployed": self.deployed,
            "nodes": [n.to_json() for n in self.nodes],
        }


def parse_node_answer(node: Node, vip: str, text: str) -> BalancerNodeState:
    """One node's answer to NODE_SCRIPT."""
    parts = text.split(_SEP + "\n")
    parts += [""] * (4 - len(parts))
    addrs, services, transition, stats = parts[:4]
    holds = any(
        word.split("/")[0] == vip for line in addrs.splitlines() for word in line.split()[2:]
    )
    states = services.split()
    keepalived_unit = states[0] if states else "unknown"
    haproxy_unit = states[1] if len(states) > 1 else "unknown"
    words = transition.split()
    last = words[1].upper() if len(words) == 3 else ""
    keepalived = last if keepalived_unit == "active" and last else keepalived_unit
    return BalancerNodeState(
        node=node.name,
        address=node.address,
        reachable=True,
        holds_vip=bool(vip) and holds,
        keepalived=keepalived,
        haproxy=haproxy_unit,
        backends=_backends(stats),
    )


def _backends(stats_csv: str) -> tuple[tuple[str, str], ...]:
    text = stats_csv.lstrip("# ")
    if not text.strip():
        return ()
    rows = csv.DictReader(io.StringIO(text))
    servers = [
        r
        for r in rows
        if r.get("pxname") == "kube-apiserver" and r.get("svname") not in ("FRONTEND", "BACKEND")
    ]
    return tuple((r["svname"], (r.get("status") or "?").split()[0]) for r in servers)


def probe_balancer(plan: Plan, timeout: float = 3.0) -> BalancerHealth | None:
    """Every balancer node and the endpoint, concurrently; None when the plan has no endpoint
    to check (single master, no balancer)."""
    mode = plan.balancer_mode
    if not plan.cluster.control_plane_endpoint:
        return None
    host, port = plan.endpoint_host_port
    vip = host if mode == BalancerMode.VIP else ""
    nodes = plan.balancer_nodes
    with ThreadPoolExecutor(max_workers=max(1, min(len(nodes) + 1, 10))) as pool:
        connect = pool.submit(_connect, host, port, timeout)
        states = list(pool.map(lambda n: _probe_node(plan, n, vip, timeout), nodes))
        ok, error, ms = connect.result()
    return judge(plan, tuple(states), ok, error, ms)


def _connect(host: str, port: int, timeout: float) -> tuple[bool, str, float | None]:
    start = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True, "", (time.monotonic() - start) * 1000
    except OSError as exc:
        return False, exc.strerror or str(exc) or type(exc).__name__, None


def _probe_node(plan: Plan, node: Node, vip: str, timeout: float) -> BalancerNodeState:
    from hawizard.remote import Host, RemoteError, Timeouts

    host = Host.from_plan(
        plan, node, timeouts=Timeouts(connect=timeout, banner=timeout, auth=timeout)
    )
    try:
        answer = host.probe(NODE_SCRIPT, timeout=timeout + 3)
        return parse_node_answer(node, vip, answer.stdout)
    except (RemoteError, OSError, EOFError, TimeoutError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return BalancerNodeState(node.name, node.address, reachable=False, error=reason)
    except Exception as exc:  # paramiko's own errors: the row says what, the round goes on
        return BalancerNodeState(node.name, node.address, False, error=f"{type(exc).__name__}")
    finally:
        host.close()


def judge(
    plan: Plan,
    states: tuple[BalancerNodeState, ...],
    endpoint_ok: bool,
    endpoint_error: str = "",
    connect_ms: float | None = None,
) -> BalancerHealth:
    """Problems and warnings from what was seen (pure: tested without nodes)."""
    mode = plan.balancer_mode
    host, port = plan.endpoint_host_port
    endpoint = f"{host}:{port}"
    vip = host if mode == BalancerMode.VIP else ""
    problems: list[str] = []
    warnings: list[str] = []
    if not endpoint_ok:
        what = f"the endpoint {endpoint} does not accept TCP: {endpoint_error}"
        if mode in (BalancerMode.VIP, BalancerMode.SINGLE):
            problems.append(what)  # hawizard runs this balancer: it must answer
        elif plan.control_plane.start:
            # the operator's own balancer: reported, and counted once masters should serve
            warnings.append(f"{what} (external balancer)")
    holders = [s.node for s in states if s.holds_vip]
    alive = [s for s in states if s.reachable]
    if mode == BalancerMode.VIP:
        if len(holders) > 1:
            problems.append(f"split brain: {', '.join(holders)} all hold the VIP {vip}")
        elif not holders:
            problems.append(f"no balancer node holds the VIP {vip}")
    for s in states:
        if not s.reachable:
            if mode == BalancerMode.VIP and holders:
                warnings.append(
                    f"balancer node {s.node} is unreachable ({s.error}); {holders[0]} holds the VIP"
                )
            elif mode == BalancerMode.VIP:
                warnings.append(f"balancer node {s.node} is unreachable ({s.error})")
            else:
                problems.append(f"the balancer node {s.node} is unreachable ({s.error})")
            continue
        if s.haproxy != "active":
            warnings.append(f"haproxy on {s.node} is {s.haproxy}")
        if mode == BalancerMode.VIP and s.keepalived in ("FAULT", "inactive", "failed", "unknown"):
            warnings.append(f"keepalived on {s.node} is {s.keepalived}")
    if plan.control_plane.start:
        for s in alive:
            down = [name for name, status in s.backends if status != "UP"]
            if s.backends and len(down) == len(s.backends):
                problems.append(f"haproxy on {s.node} has no backend UP ({', '.join(down)})")
            elif down:
                warnings.append(f"haproxy on {s.node}: backends {', '.join(down)} are not UP")
    return BalancerHealth(
        mode=mode,
        endpoint=endpoint,
        vip=vip,
        nodes=states,
        endpoint_ok=endpoint_ok,
        endpoint_error=endpoint_error,
        connect_ms=connect_ms,
        problems=tuple(problems),
        warnings=tuple(warnings),
    )
