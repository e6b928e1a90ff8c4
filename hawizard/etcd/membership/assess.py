"""Judging a change before it runs: does the plan describe it, did it finish already, and
what a fresh probe round says about quorum (`quorum_rules.plan_change`)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, replace
from pathlib import Path

from hawizard.etcd import render
from hawizard.etcd.data_dir import head_script, owner_from_script_output
from hawizard.etcd.membership.record import PendingChange, clear_pending, read_pending
from hawizard.etcd.quorum_rules import ChangeImpact, Op, TargetState, plan_change
from hawizard.health import ClusterHealth
from hawizard.plan import Plan
from hawizard.remote import Host, Timeouts

TARGET_TIMEOUTS = Timeouts(connect=5, banner=5, auth=5, command=30)


class BadRequest(Exception):
    """The request does not fit the plan (exit 2); `hint` says how to fix it."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


# --- checking a request -----------------------------------------------------------------------


def check_request(plan: Plan, op: Op, node: str, old: str | None = None) -> None:
    """Raise `BadRequest` when the plan does not describe the change (before any probe)."""
    names = {n.name for n in plan.nodes}
    label = plan_label(plan)

    def need_etcd(name: str, what: str) -> None:
        if name not in names:
            raise BadRequest(
                f"{name} is not a node of {label}",
                f"add it to the plan's nodes with the etcd role first ({what})",
            )
        if not plan.node(name).is_etcd:
            raise BadRequest(
                f"{name} has no etcd role in {label}",
                f'add "etcd" to its roles in the plan first ({what})',
            )

    if op is Op.ADD:
        need_etcd(node, "the plan describes the cluster you want")
    elif op is Op.REMOVE:
        need_etcd(node, "hawizard needs its address to stop etcd there")
    else:
        if not old:
            raise BadRequest("replace needs OLD and NEW")
        need_etcd(old, "hawizard needs its address to stop etcd there")
        need_etcd(node, "the plan describes the cluster you want")
    if plan.source is None:
        raise BadRequest("the plan has no file: a membership change records its progress there")


def finished_before(plan: Plan, op: Op, node: str, old: str | None = None) -> bool:
    """True (and the record cleared) when this remove/replace already wrote the plan but
    stopped before clearing its in-flight record, so running it again finds nothing to do."""
    pending = read_pending(plan.source)
    if op is Op.ADD or pending is None or not pending.same(op, node, old):
        return False
    gone = node if op is Op.REMOVE else old
    if any(n.name == gone and n.is_etcd for n in plan.nodes):
        return False
    assert plan.source is not None
    clear_pending(plan.source)
    return True


def plan_label(plan: Plan) -> str:
    if plan.source is None:
        return "PLAN"
    try:
        return str(plan.source.relative_to(Path.cwd()))
    except ValueError:
        return str(plan.source)


def peer_url_of(plan: Plan, name: str | None) -> str:
    return render.peer_url(plan, plan.node(name)) if name else ""


# --- assessing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assessment:
    impact: ChangeImpact
    health: ClusterHealth
    pending: PendingChange | None
    target: TargetState | None

    @property
    def allowed(self) -> bool:
        return self.impact.allowed


def target_state(plan: Plan, name: str) -> TargetState:
    """Reachable over SSH? Etcd data in its data dir? (read-only, short timeouts)"""
    data = plan.etcd.data_dir.rstrip("/") + "/member"
    script = f"[ -d {shlex.quote(data)} ] && echo data=1 || echo data=0; " + head_script(
        plan.etcd.data_dir
    )
    try:
        with Host.from_plan(plan, name, timeouts=TARGET_TIMEOUTS) as host:
            r = host.probe(script)
    except Exception as exc:  # any way of not reaching it is an answer here
        return TargetState(reachable=False, error=str(exc).splitlines()[0])
    if r.exited != 0:
        return TargetState(reachable=False, error=(r.stderr.strip() or "probe failed")[-200:])
    owner = owner_from_script_output(r.stdout)
    return TargetState(
        reachable=True,
        has_data="data=1" in r.stdout,
        data_member_id=owner.member_id if owner else "",
        data_cluster_id=owner.cluster_id if owner else "",
    )


def assess(
    plan: Plan,
    op: Op | str,
    node: str,
    old: str | None = None,
    *,
    health: ClusterHealth | None = None,
    target: TargetState | None = None,
    check_target: bool = True,
) -> Assessment:
    """Judge a change now: the dashboard's confirmation dialog and the CLI both start here.

    Probes the cluster (unless `health` is given) and, for an add, the node over SSH (unless
    `target` is given or `check_target` is False). Raises `BadRequest` for a request the
    plan does not describe; a refusal is an `Assessment` whose `impact.allowed` is False.
    """
    op = Op(op)
    check_request(plan, op, node, old)
    label = plan_label(plan)
    pending = read_pending(plan.source)
    resuming = pending is not None and pending.same(op, node, old)
    abandoning = (
        pending is not None
        and not resuming
        and op is Op.REMOVE
        and pending.op in (Op.ADD.value, Op.REPLACE.value)
        and pending.node == node
    )
    if health is None:
        from hawizard.etcd.probe import cluster_health

        health = cluster_health(plan)
    if op is not Op.REMOVE and target is None and check_target:
        target = target_state(plan, node)
    impact = plan_change(
        health,
        op,
        node,
        old=old,
        peer_url=peer_url_of(plan, node),
        old_peer_url=peer_url_of(plan, old),
        target=target,
        resuming=resuming,
        plan_path=label,
    )
    if pending is not None and not resuming and not abandoning:
        impact = replace(
            impact,
            allowed=False,
            reason=f"an earlier change has not finished: {pending.command(label)} (started "
            f"{pending.started}); one change at a time",
            suggestion=pending.command(label) + "  (run it again to finish it)",
        )
    return Assessment(impact, health, pending if resuming else None, target)
