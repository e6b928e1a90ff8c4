"""`hawizard check`: is any metrics port reachable from where it should not be?

The metrics listeners (etcd's `metrics_port`, which also serves /health; the node exporter;
haproxy's Prometheus exporter) are unauthenticated, so the nodes' firewall lets only the
scrapers in (`hawizard.firewall`). The operator's machine is one of the allowed sources, so a
probe from here proves nothing; instead every node that is *not* an allowed scraper of another
node tries that node's metrics ports, in one bounded read-only command per node (bash's
/dev/tcp with `timeout`, all at once). A port that answers is reachable from elsewhere.
"""

from __future__ import annotations

import ipaddress
import shlex
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from hawizard.firewall import FirewallError, node_rules
from hawizard.plan import Node, Plan

__all__ = ["Exposure", "MetricsExposure", "probe_exposure", "vantage_targets"]

CONNECT_TIMEOUT = 2  # seconds per attempt (a rejected port answers at once)


@dataclass(frozen=True)
class Exposure:
    node: str  # whose metrics port answered
    port: int
    reached_from: str  # the node (not a scraper) it answered


@dataclass(frozen=True)
class MetricsExposure:
    open: tuple[Exposure, ...] = ()
    tried: int = 0  # attempts made
    errors: tuple[str, ...] = ()  # vantage nodes that could not be asked, with why


def _allowed(plan: Plan, target: Node, source: Node) -> bool:
    """May `source` scrape `target` by the plan (prometheus_node, scrape_from)?"""
    try:
        source_ip = ipaddress.ip_address(source.address)
        nets = node_rules(plan, target).metrics_from
    except (ValueError, FirewallError):
        return True  # not an IP: nothing to test from there
    if source.name == target.name:
        return True
    return any(source_ip in ipaddress.ip_network(n) for n in nets if n != f"{target.address}/32")


def vantage_targets(plan: Plan, vantage: Node) -> list[tuple[Node, int]]:
    """The (node, port) pairs `vantage` must NOT reach."""
    out = []
    for target in plan.nodes:
        if target.name == vantage.name or _allowed(plan, target, vantage):
            continue
        for port in node_rules(plan, target).metrics_ports:
            out.append((target, port))
    return out


def _script(pairs: list[tuple[Node, int]]) -> str:
    lines = []
    for target, port in pairs:
        dev = shlex.quote(f": </dev/tcp/{target.address}/{port}")
        lines.append(
            f"( timeout {CONNECT_TIMEOUT} bash -c {dev} 2>/dev/null "
            f"&& echo open {shlex.quote(target.name)} {port} ) &"
        )
    lines.append("wait")
    return "\n".join(lines)


def _from(plan: Plan, vantage: Node, timeout: float) -> tuple[list[Exposure], int, str]:
    from hawizard.remote import Host, Timeouts

    pairs = vantage_targets(plan, vantage)
    if not pairs:
        return [], 0, ""
    host = Host.from_plan(
        plan, vantage, timeouts=Timeouts(connect=timeout, banner=timeout, auth=timeout)
    )
    try:
        out = host.probe(_script(pairs), sudo=False, timeout=CONNECT_TIMEOUT + timeout).stdout
    except Exception as exc:  # an unknown, never a crash of the check
        return [], 0, f"{vantage.name}: {str(exc).splitlines()[0] if str(exc) else exc!r}"
    finally:
        host.close()
    found = []
    for line in out.splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "open" and words[2].isdigit():
            found.append(Exposure(words[1], int(words[2]), vantage.name))
    return found, len(pairs), ""


def probe_exposure(plan: Plan, timeout: float = 5.0) -> MetricsExposure:
    """From every node, the other nodes' metrics ports it must not reach, concurrently."""
    if len(plan.nodes) < 2:
        return MetricsExposure()
    with ThreadPoolExecutor(max_workers=min(len(plan.nodes), 10)) as pool:
        answers = list(pool.map(lambda n: _from(plan, n, timeout), plan.nodes))
    found = tuple(e for a in answers for e in a[0])
    return MetricsExposure(
        tuple(sorted(found, key=lambda e: (e.node, e.port, e.reached_from))),
        sum(a[1] for a in answers),
        tuple(a[2] for a in answers if a[2]),
    )
