"""Items 2 and 3 of the checklist: the control plane (masters, the load-balanced endpoint,
each kube-apiserver's hardening flags, what the balancer probe saw) and authentication (OIDC
in the plan and in the running units).

Pure, like every item: facts and the balancer probe come in from `hawizard.ops.check`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hawizard.plan import Plan
from hawizard.readiness.facts import NodeFacts, unit_flags
from hawizard.readiness.verdict import Findings, Item, Verdict, plan_arg, unread


def control_plane(
    plan: Plan,
    facts: Mapping[str, NodeFacts],
    balancer: Any = None,  # hawizard.balancer.probe.BalancerHealth | None: the live endpoint
) -> Item:
    f = Findings()
    masters = plan.control_plane_nodes
    if not masters:
        f.add(Verdict.UNKNOWN, "no control-plane node in the plan")
        return f.item(2, "control_plane", "Control plane")
    if len(masters) >= 2:
        f.add(Verdict.OK, f"{len(masters)} masters: {', '.join(m.name for m in masters)}")
    else:
        f.add(
            Verdict.WARN,
            f"one master ({masters[0].name}): no apiserver survives its loss",
            'give a second node the "control-plane" role, then hawizard apply',
        )
    _endpoint_lines(f, plan)
    if balancer is not None:
        _balancer_lines(f, plan, balancer)
    fix = f"hawizard apply {plan_arg(plan)} --only control-plane"
    for name in unread(f, facts, [m.name for m in masters]):
        _apiserver_lines(f, name, facts[name].sections, fix)
    return f.item(2, "control_plane", "Control plane")


def _endpoint_lines(f: Findings, plan: Plan) -> None:
    """The endpoint clients use: none, one haproxy (a single point of failure), a VIP, or an
    external balancer hawizard does not check."""
    lb = plan.control_plane.load_balancer if plan.balancer_mode == "single" else ""
    if plan.balancer_mode == "single" and not lb and plan.balancer_nodes:
        lb = plan.balancer_nodes[0].name
    ep = plan.cluster.control_plane_endpoint or "(none: the first master)"
    if not plan.cluster.control_plane_endpoint:
        f.add(
            Verdict.WARN,
            "no load-balanced endpoint",
            "set cluster.control_plane_endpoint to a load balancer",
        )
    elif lb:
        f.add(
            Verdict.WARN,
            f"endpoint {ep}: haproxy on one node ({lb}) is a single point of failure",
            "run the balancer on several nodes behind a virtual IP",
        )
    elif plan.balancer_mode == "vip":
        names = [b.name for b in plan.balancer_nodes]
        f.add(
            Verdict.OK if len(names) >= 2 else Verdict.WARN,
            f"endpoint {ep}: a virtual IP over haproxy on {', '.join(names) or 'no node'} "
            f"(survives the loss of {max(len(names) - 1, 0)})",
            "" if len(names) >= 2 else "list two or more nodes in load_balancer.nodes",
        )
    else:
        f.add(Verdict.OK, f"endpoint {ep}: external load balancer (not checked by hawizard)")


def _apiserver_lines(f: Findings, name: str, sec: Mapping[str, str], fix: str) -> None:
    """One master's running kube-apiserver unit: authorization, audit, encryption, etcd mTLS,
    anonymous access."""
    unit = sec.get("apiserver_unit", "")
    if not unit:
        f.add(Verdict.FAIL, f"{name}: no kube-apiserver unit", fix)
        return
    flags = unit_flags(unit)
    problems = []
    modes = set(flags.get("authorization-mode", "").split(","))
    if not {"Node", "RBAC"} <= modes:
        problems.append(f"--authorization-mode={flags.get('authorization-mode', '(unset)')}")
    if not flags.get("audit-log-path") or not flags.get("audit-policy-file"):
        problems.append("no audit log")
    if not flags.get("encryption-provider-config"):
        problems.append("no encryption at rest")
    servers = flags.get("etcd-servers", "")
    if not servers or "http://" in servers or not flags.get("etcd-certfile"):
        problems.append("etcd not over mTLS")
    if problems:
        f.add(Verdict.FAIL, f"{name}: {', '.join(problems)}", fix)
    else:
        f.add(
            Verdict.OK,
            f"{name}: Node,RBAC, audit log, encryption at rest, etcd over mTLS "
            f"(kube-apiserver {sec.get('apiserver_active', '?')})",
        )
    if flags.get("anonymous-auth") != "false":
        f.add(
            Verdict.WARN,
            f"{name}: anonymous requests allowed (RBAC limits them to health/version; "
            "the balancer's /healthz check uses them)",
            "Kubernetes ≥ 1.32: limit anonymous access to /healthz, /livez, /readyz with "
            "an AuthenticationConfiguration (anonymous.conditions)",
        )


def _balancer_lines(f: Findings, plan: Plan, b: Any) -> None:
    """What the balancer probe saw live: who holds the VIP, whether the endpoint answers."""
    fix = f"hawizard status {plan_arg(plan)} (the load-balancer table)"
    for problem in b.problems:
        f.add(Verdict.FAIL, f"balancer: {problem}", fix)
    for warning in b.warnings:
        f.add(Verdict.WARN, f"balancer: {warning}", fix)
    if not b.problems:
        seen = f"endpoint {b.endpoint} answers" if b.endpoint_ok else ""
        if b.vip:
            holders = ", ".join(b.holders) or "nobody"
            seen += f"{'; ' if seen else ''}VIP {b.vip} held by {holders}"
        if seen:
            f.add(Verdict.OK, seen)


def authentication(plan: Plan, facts: Mapping[str, NodeFacts]) -> Item:
    f = Findings()
    o = plan.control_plane.oidc
    masters = plan.control_plane_nodes
    if not masters:
        f.add(Verdict.UNKNOWN, "no control-plane node in the plan")
        return f.item(3, "auth", "Authentication")
    if o is None:
        f.add(
            Verdict.WARN,
            "client certificates only: no external identity provider",
            "add [control_plane.oidc] (issuer_url, client_id, username_claim, groups_claim) "
            "to the plan and run hawizard apply --only control-plane",
        )
        return f.item(3, "auth", "Authentication")
    f.add(Verdict.OK, f"plan: OIDC issuer {o.issuer_url}, client {o.client_id}")
    for name in unread(f, facts, [m.name for m in masters]):
        flags = unit_flags(facts[name].sections.get("apiserver_unit", ""))
        if flags.get("oidc-issuer-url") == o.issuer_url:
            f.add(Verdict.OK, f"{name}: --oidc-issuer-url set")
        else:
            f.add(
                Verdict.WARN,
                f"{name}: the running unit has no --oidc-issuer-url={o.issuer_url}",
                f"hawizard apply {plan_arg(plan)} --only control-plane",
            )
    return f.item(3, "auth", "Authentication")
