"""What the plan's endpoint survives, in words: for the wizard's screens and `plan show`."""

from __future__ import annotations

from hawizard.plan import BalancerMode, Plan


def endpoint_tolerance(plan: Plan) -> int | None:
    """How many balancer nodes may fail with the endpoint still served; None when unknown
    (an external balancer). In vip mode any one surviving node takes the VIP: VRRP needs no
    quorum, so n nodes survive n - 1 losses."""
    mode = plan.balancer_mode
    if mode == BalancerMode.VIP:
        return max(len(plan.balancer_nodes) - 1, 0)
    if mode == BalancerMode.SINGLE:
        return 0
    return None


def endpoint_survival_line(plan: Plan) -> str:
    """The Review screen's quorum-style line."""
    n = endpoint_tolerance(plan)
    if n is None:
        return "endpoint: your own balancer — hawizard checks that it answers, not what it survives"
    text = f"endpoint survives the loss of {n} balancer node{'s' if n != 1 else ''}"
    if n == 0:
        text += " — a single point of failure"
    return text


def balancer_description(plan: Plan) -> str:
    mode = plan.balancer_mode
    names = ", ".join(n.name for n in plan.balancer_nodes) or "none"
    if mode == BalancerMode.VIP:
        host = plan.cluster.control_plane_endpoint.rpartition(":")[0].strip("[]") or "(no VIP)"
        return f"vip {host} (keepalived VRRP id {plan.virtual_router_id}) over haproxy on {names}"
    if mode == BalancerMode.SINGLE:
        return f"single: haproxy on {names} (a single point of failure)"
    if mode == BalancerMode.EXTERNAL:
        return "external: hawizard writes its haproxy config next to the plan"
    return f"{mode!r} (not a mode: vip, single or external)"
