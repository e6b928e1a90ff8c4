"""A membership change (add / remove / replace an etcd member), defined once for both faces.

The order: the request checked against the plan → a change that completed already is
recognised → the plan lock → a fresh assessment under the lock (a confirmation may be minutes
old) → confirmation → `MembershipChange.begin()` (certificates, the in-flight record) → the
etcd phases → when the membership changed for real, the apiservers' `--etcd-servers`. The
last step spans etcd and the control plane, which is why it lives here and not in `etcd/`.

`hawizard etcd add|remove|replace` and the dashboard's change panel both call `change`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hawizard.control_plane.render import FILES
from hawizard.control_plane.rollout import ControlPlaneRollout
from hawizard.etcd.membership import (
    Assessment,
    BadRequest,
    MembershipChange,
    assess,
    check_request,
    finished_before,
)
from hawizard.etcd.membership.assess import TARGET_TIMEOUTS
from hawizard.etcd.quorum_rules import ChangeImpact, Op
from hawizard.ops.refusal import Refused
from hawizard.plan import Plan
from hawizard.remote import Host
from hawizard.steps import Phase, RunResult

Run = Callable[[Plan, list[Phase]], RunResult]
Check = Callable[[Plan, Op, str, "str | None"], Assessment]


class ChangeRefused(Refused):
    """The quorum rules (or an earlier change still in flight) say no: `impact` says why,
    with the numbers each face shows."""

    def __init__(self, impact: ChangeImpact) -> None:
        super().__init__(impact.reason, impact.suggestion)
        self.impact = impact


# --- the apiservers -----------------------------------------------------------------------------


def apiserver_phases(plan: Plan) -> tuple[list[Phase], str]:
    """Phases that give every deployed kube-apiserver the plan's `--etcd-servers`, restarting
    one master at a time (the control-plane rollout), and a sentence saying what they do —
    or no phases and why there is nothing to update."""
    masters = plan.control_plane_nodes
    if not masters:
        return [], "the plan has no control-plane nodes: no apiserver to update"
    unit = FILES.unit("kube-apiserver")
    deployed, unknown = [], []
    for m in masters:
        try:
            with Host.from_plan(plan, m, timeouts=TARGET_TIMEOUTS) as host:
                if host.exists(unit):
                    deployed.append(m)
        except Exception:
            unknown.append(m.name)
    tail = f" ({', '.join(unknown)} unreachable: `hawizard apply` later)" if unknown else ""
    if not deployed:
        return [], (
            "no kube-apiserver is deployed on the masters yet: `hawizard apply` gives them "
            "the new member list" + tail
        )
    try:
        phases = ControlPlaneRollout(plan, masters=tuple(deployed)).phases()
    except Exception as exc:
        return [], f"apiservers not updated ({exc}); run `hawizard apply` after fixing it"
    names = ", ".join(m.name for m in deployed)
    return phases, f"--etcd-servers updated on {names}, one master at a time{tail}"


def _apiserver_outcome(plan: Plan, result: RunResult, note: str) -> str:
    if not result.ok:
        return note.replace("updated on", "update failed on", 1)
    if result.count("changed") == 0:
        return "every apiserver already names the current members"
    if not plan.control_plane.start:
        return note + " (control_plane.start = false: units written, services not started)"
    return note


# --- running a change ---------------------------------------------------------------------------


@dataclass
class ChangeOutcome:
    """What a change did. `etcd` is None when nothing ran because the change had completed
    already (`completed_before` says so)."""

    etcd: RunResult | None
    apiservers: RunResult | None = None
    apiserver_note: str = ""
    change: MembershipChange | None = None
    completed_before: str = ""

    @property
    def ok(self) -> bool:
        if self.etcd is None:
            return True
        return self.etcd.ok and (self.apiservers is None or self.apiservers.ok)


def _default_check(plan: Plan, op: Op, node: str, old: str | None) -> Assessment:
    return assess(plan, op, node, old)


def change(
    plan: Plan,
    op: Op | str,
    node: str,
    old: str | None = None,
    *,
    run: Run,
    command: str,
    plan_label: str,
    dry_run: bool = False,
    check: Check = _default_check,
    on_assessed: Callable[[Assessment], None] | None = None,
    confirm: Callable[[ChangeImpact], None] | None = None,
) -> ChangeOutcome:
    """Run one membership change with `run(plan, phases)` (the face's runner and view).

    `check` judges the change under the lock (default: `membership.assess`, a fresh probe
    round); `on_assessed` sees every assessment (the CLI prints its table); `confirm(impact)`
    is called for an allowed change before anything changes (not in a dry run) and raises
    `Refused` to stop. Raises `Refused` (a bad request, the plan held by another process,
    certificates that cannot be issued), `ChangeRefused` (the quorum rules say no), and lets
    `membership.ChangeFailed` and `OSError` (no client certificate) through.
    """
    from hawizard.planlock import PlanLock, PlanLocked

    op = Op(op)
    try:
        check_request(plan, op, node, old)
    except BadRequest as exc:
        if finished_before(plan, op, node, old):
            return ChangeOutcome(None, completed_before=str(exc))
        raise Refused(str(exc), exc.hint) from None
    assert plan.source is not None  # check_request refuses a plan without a file
    try:
        with PlanLock(plan.source, command):
            return _change_locked(
                plan, op, node, old, run, plan_label, dry_run, check, on_assessed, confirm
            )
    except PlanLocked as exc:
        raise Refused(str(exc), "run it again when that change has finished") from None


def _change_locked(
    plan: Plan,
    op: Op,
    node: str,
    old: str | None,
    run: Run,
    plan_label: str,
    dry_run: bool,
    check: Check,
    on_assessed: Callable[[Assessment], None] | None,
    confirm: Callable[[ChangeImpact], None] | None,
) -> ChangeOutcome:
    try:
        assessment = check(plan, op, node, old)
    except BadRequest as exc:
        raise Refused(str(exc), exc.hint) from None
    if on_assessed is not None:
        on_assessed(assessment)
    if not assessment.allowed:
        raise ChangeRefused(assessment.impact)
    if not dry_run and confirm is not None:
        confirm(assessment.impact)
    membership = MembershipChange(plan, assessment)
    problems = membership.begin(dry_run=dry_run)
    if problems:
        raise Refused(
            "the local PKI cannot issue the new member's certificates",
            f"hawizard certs check {plan_label}",
            problems,
        )
    return execute(membership, run, dry_run=dry_run)


def execute(
    membership: MembershipChange,
    run: Run,
    *,
    dry_run: bool = False,
) -> ChangeOutcome:
    """Run an allowed change with `run(plan, phases)`, then, when the membership changed for
    real, the apiservers' update. The caller holds the plan lock and has called
    `membership.begin()` (`change` does both)."""
    result = run(membership.plan, membership.phases())
    if not result.ok or dry_run:
        return ChangeOutcome(result, change=membership)
    membership.finish(True)
    after = membership.plan_after
    if after is None:
        from hawizard.plan import load

        after = load(membership.plan.source) if membership.plan.source else membership.plan
    phases, note = apiserver_phases(after)
    if not phases:
        return ChangeOutcome(result, None, note, change=membership)
    cp = run(after, phases)
    return ChangeOutcome(result, cp, _apiserver_outcome(after, cp, note), change=membership)
