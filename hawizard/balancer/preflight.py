"""Preflight of a balancer node: what would stop haproxy/keepalived before anything changes.

Three questions an operator asks before a VIP rollout, read in the same round trip as the
etcd facts (`ops.preflight` appends `script` to it) and judged purely here:

- is the endpoint's port free on the node (or held by haproxy already: ours)?
- does the VIP already sit on one of the node's interfaces without keepalived running there
  (another program owns the address: two holders would answer for it), or answer from a
  machine hawizard does not run keepalived on?
- can haproxy (and keepalived, in vip mode) be installed from the node's package sources?

The verdicts are plain strings ("ok", "warn", "fail") so this domain does not import the
etcd domain's `Check`; `ops.preflight` turns them into the checks the faces show.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from hawizard.plan import BalancerMode, Node, Plan

__all__ = ["BalancerFacts", "judge", "packages_for", "parse", "script"]


@dataclass
class BalancerFacts:
    #: package -> "installed", a candidate version, or "" when the sources have none
    packages: dict[str, str] = field(default_factory=dict)
    holds_vip: bool = False
    keepalived_active: bool = False
    vip_answers: bool | None = None  # None: not asked (not vip mode, or the node holds it)


def packages_for(plan: Plan) -> tuple[str, ...]:
    return ("haproxy", "keepalived") if plan.balancer_mode == BalancerMode.VIP else ("haproxy",)


def script(plan: Plan) -> str:
    """A read-only script; its output lines are `key=value` for `parse`."""
    q = shlex.quote
    host, port = plan.endpoint_host_port
    lines = []
    for name in packages_for(plan):
        lines.append(
            f"if dpkg-query -W -f='${{Status}}' {q(name)} 2>/dev/null | grep -q 'ok installed'; "
            f"then echo {q('pkg.' + name + '=installed')}; "
            f"else echo {q('pkg.' + name)}=$(apt-cache policy {q(name)} 2>/dev/null "
            "| awk '/Candidate:/ {print $2}'); fi"
        )
    if plan.balancer_mode == BalancerMode.VIP:
        lines += [
            f"ip -o -4 addr show 2>/dev/null | grep -qw {q(host)} && echo holds_vip=1 "
            "|| echo holds_vip=0",
            'echo "keepalived=$(systemctl is-active keepalived 2>/dev/null)"',
            f"timeout 2 bash -c {q(f'exec 3<>/dev/tcp/{host}/{port}')} 2>/dev/null "
            "&& echo vip_answers=1 || echo vip_answers=0",
        ]
    return "\n".join([*lines, "true"])


def parse(text: str) -> BalancerFacts:
    facts = BalancerFacts()
    for line in text.splitlines():
        key, _, value = line.partition("=")
        value = value.strip()
        if key.startswith("pkg."):
            facts.packages[key[4:]] = "" if value == "(none)" else value
        elif key == "holds_vip":
            facts.holds_vip = value == "1"
        elif key == "keepalived":
            facts.keepalived_active = value == "active"
        elif key == "vip_answers":
            facts.vip_answers = value == "1"
    return facts


def judge(
    plan: Plan, node: Node, facts: BalancerFacts, listening: dict[int, str]
) -> list[tuple[str, str, str]]:
    """(name, verdict, detail) for one balancer node; verdict is "ok", "warn" or "fail"."""
    host, port = plan.endpoint_host_port
    checks: list[tuple[str, str, str]] = []
    holder = listening.get(port)
    if holder is None:
        checks.append((f"endpoint port {port}", "ok", "free for haproxy"))
    elif holder == "haproxy":
        checks.append((f"endpoint port {port}", "ok", "held by haproxy"))
    else:
        checks.append(
            (
                f"endpoint port {port}",
                "fail",
                f"in use by {holder}: haproxy serves the endpoint here; stop it or change "
                "cluster.control_plane_endpoint's port",
            )
        )
    for name in packages_for(plan):
        found = facts.packages.get(name)
        if found == "installed":
            checks.append((name, "ok", "installed"))
        elif found:
            checks.append((name, "ok", f"installable ({found})"))
        else:
            checks.append(
                (
                    name,
                    "warn",
                    f"no candidate in {node.name}'s package lists: the install refreshes them "
                    f"once (apt-get update); if it is still missing, add a source that has {name}",
                )
            )
    if plan.balancer_mode == BalancerMode.VIP:
        checks.append(_vip_check(host, facts))
    return checks


def _vip_check(vip: str, facts: BalancerFacts) -> tuple[str, str, str]:
    if facts.holds_vip and facts.keepalived_active:
        return ("vip", "ok", f"{vip} held here by keepalived")
    if facts.holds_vip:
        return (
            "vip",
            "fail",
            f"{vip} is already on an interface here but keepalived is not running: another "
            "program owns the address; remove it or choose a free VIP (cluster."
            "control_plane_endpoint)",
        )
    if facts.vip_answers and not facts.keepalived_active:
        return (
            "vip",
            "warn",
            f"{vip} already answers from elsewhere: fine when another balancer node of this "
            "plan holds it; otherwise another machine uses it: choose a free VIP "
            "(cluster.control_plane_endpoint)",
        )
    return ("vip", "ok", f"{vip} not held here")
