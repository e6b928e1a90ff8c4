"""A member judged on its own node, over SSH, when the operator's machine cannot see it.

The operator's probes reach each member's client port with the operator's certificate. A
bastion that lets SSH through but not port 2379, an expired `etcd-admin` certificate or a CA
mismatch make a healthy cluster look lost from there; a gate that must fail closed (the
restore's "refused while the cluster has quorum") asks each node instead: the unit's state and
the member's own `/health` on its metrics listener (plain HTTP on the member's address, no
certificate, no sudo), which answers "false" while the member has no leader.
"""

from __future__ import annotations

import shlex
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from hawizard.etcd import render
from hawizard.plan import Node, Plan
from hawizard.remote import Host, HostKeyError, RemoteError, Timeouts

__all__ = ["MemberVerdict", "judge_member", "judge_on_nodes"]

TIMEOUTS = Timeouts(connect=5, banner=5, auth=5, command=20)


@dataclass(frozen=True)
class MemberVerdict:
    """One member judged on its own node: "healthy", "down" or "unknown" (not judged)."""

    state: str
    why: str

    def describe(self) -> str:
        return f"{self.state} ({self.why})"


def judge_member(active: str, health: str) -> MemberVerdict:
    """From `systemctl is-active etcd` and the member's own `/health` answer on its node."""
    if active in ("inactive", "failed"):
        return MemberVerdict("down", f"etcd is {active}")
    compact = health.replace(" ", "")
    if '"health":"true"' in compact:
        return MemberVerdict("healthy", "its /health answers true on the node")
    if '"health":"false"' in compact:
        return MemberVerdict("down", f"its /health answers false: {health[:120]}")
    return MemberVerdict("unknown", f"etcd is {active or 'of unknown state'}, /health silent")


def judge_on_nodes(plan: Plan, *, trust_new: bool = False) -> dict[str, MemberVerdict]:
    """Each member's own view over SSH (no sudo): the unit's state and the member's /health
    on its metrics listener (plain HTTP, no certificate needed), which answers "false" while
    the member has no leader. Reached when the operator cannot reach the client port."""
    q = shlex.quote

    def one(node: Node) -> MemberVerdict:
        url = render.metrics_url(plan, node) + "/health"
        script = (
            "echo active=$(systemctl is-active etcd 2>/dev/null); "
            f"echo health=$(curl -s -m 8 {q(url)} 2>/dev/null | tr -d '\\n')"
        )
        try:
            with Host.from_plan(plan, node, trust_new=trust_new, timeouts=TIMEOUTS) as h:
                out = h.probe(script, timeout=20, sudo=False).stdout
        except (RemoteError, HostKeyError, OSError) as exc:
            return MemberVerdict("unknown", f"not reachable over SSH: {exc}")
        facts = dict(line.partition("=")[::2] for line in out.splitlines() if "=" in line)
        return judge_member(facts.get("active", "").strip(), facts.get("health", "").strip())

    members = plan.etcd_nodes
    with ThreadPoolExecutor(max_workers=min(10, len(members))) as pool:
        return dict(zip((m.name for m in members), pool.map(one, members), strict=True))
