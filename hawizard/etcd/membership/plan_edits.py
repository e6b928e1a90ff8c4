"""Pure edits for a membership change: the plan as the probes should see a membership, the
plan without a removed member, and an etcd config's `initial-cluster` line."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace

from hawizard.etcd import render
from hawizard.plan import Node, Plan, Role


def plan_with_etcd_members(plan: Plan, members: Sequence[str]) -> Plan:
    """The plan as the probes should see a given membership: only `members` keep the etcd
    role, so "converged" means exactly these members, healthy."""
    keep = set(members)
    nodes = tuple(
        n if not n.is_etcd or n.name in keep else replace(n, roles=_without_etcd(n.roles))
        for n in plan.nodes
    )
    return plan.with_nodes(nodes)


def _without_etcd(roles: tuple[Role, ...]) -> tuple[Role, ...]:
    return tuple(r for r in roles if r is not Role.ETCD)


def in_plan_order(plan: Plan, names: set[str]) -> tuple[Node, ...]:
    return tuple(n for n in plan.nodes if n.name in names)


def without_member(plan: Plan, name: str) -> Plan:
    """The plan with `name`'s etcd role dropped, and the node itself if it had no other."""
    nodes = []
    for n in plan.nodes:
        if n.name == name:
            roles = _without_etcd(n.roles)
            if not roles:
                continue
            n = replace(n, roles=roles)
        nodes.append(n)
    return plan.with_nodes(tuple(nodes))


def with_etcd_role(plan: Plan, name: str) -> Plan:
    """The plan with `name` given the etcd role (kept first, as the default roles order it)."""
    nodes = tuple(
        replace(n, roles=(Role.ETCD, *n.roles)) if n.name == name and not n.is_etcd else n
        for n in plan.nodes
    )
    return plan.with_nodes(nodes)


def with_membership(text: str, line: str) -> str:
    """Config text with its `initial-cluster:` line replaced and the state `existing`."""
    out = []
    for row in text.splitlines():
        if row.startswith("initial-cluster:"):
            row = line
        elif row.startswith("initial-cluster-state:"):
            row = f"initial-cluster-state: {json.dumps(render.ClusterState.EXISTING.value)}"
        out.append(row)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")
