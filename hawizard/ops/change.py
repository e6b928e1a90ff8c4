"""A membership change (add / remove / replace an etcd member), defined once for both faces.

The order: the request checked against the plan → a change that completed already is
recognised → the plan lock → a fresh assessment under the lock (a confirmation may be minutes
old) → confirmation → `MembershipChange.begin()` (certificates, the in-flight record) → the
etcd phases → when the membership changed for real, the apiservers' `--etcd-servers`. The
last step spans etcd and the control plane, which is why it lives here and not in `etcd/`.

A node to add that the plan lists without the etcd role gets the role first, the way
`remove` drops it: the plan diff is shown and confirmed (`confirm_plan_edit`), the old plan
kept as `<plan>.bak`.

`hawizard etcd add|remove|replace` and the dashboard's change panel both call `change`.
"""

from __future__ import annotations

import difflib
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
from hawizard.etcd.membership.plan_edits import with_etcd_role
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
    confirm_plan_edit: Callable[[str], None] | None = None,
) -> ChangeOutcome:
    """Run one membership change with `run(plan, phases)` (the face's runner and view).

    `check` judges the change under the lock (default: `membership.assess`, a fresh probe
    round); `on_assessed` sees every assessment (the CLI prints its table); `confirm(impact)`
    is called for an allowed change before anything changes (not in a dry run) and raises
    `Refused` to stop. `confirm_plan_edit(diff)` likewise accepts giving the node to add
    the etcd role in the plan (None: refused, as before); the plan file is written once the
    change itself is confirmed. Raises `Refused` (a bad request, the plan held by another process,
    certificates that cannot be issued), `ChangeRefused` (the quorum rules say no), and lets
    `membership.ChangeFailed` and `OSError` (no client certificate) through.
    """
    from hawizard.ops.operation import held

    op = Op(op)
    needs_role = op is not Op.REMOVE and _lacks_etcd_role(plan, node)
    try:
        check_request(with_etcd_role(plan, node) if needs_role else plan, op, node, old)
    except BadRequest as exc:
        if finished_before(plan, op, node, old):
            return ChangeOutcome(None, completed_before=str(exc))
        raise Refused(str(exc), exc.hint) from None
    assert plan.source is not None  # check_request refuses a plan without a file
    with held(plan, command, "change", plan_label):
        edited = None
        if needs_role:
            edited = plan = _give_etcd_role(plan, node, plan_label, confirm_plan_edit)
        return _change_locked(
            plan,
            op,
            node,
            old,
            run,
            command,
            plan_label,
            dry_run,
            check,
            on_assessed,
            confirm,
            edited,
        )


def _lacks_etcd_role(plan: Plan, node: str) -> bool:
    return any(n.name == node and not n.is_etcd for n in plan.nodes)


def plan_edit_diff(before: Plan, after: Plan, label: str) -> str:
    """The edit as a unified diff of the plan files, for the confirmation."""
    from hawizard.plan import dumps

    lines = difflib.unified_diff(
        dumps(before).splitlines(keepends=True),
        dumps(after).splitlines(keepends=True),
        fromfile=label,
        tofile=f"{label} (edited)",
    )
    return "".join(lines)


def _give_etcd_role(
    plan: Plan, node: str, label: str, confirm_plan_edit: Callable[[str], None] | None
) -> Plan:
    """The plan with `node` given the etcd role, once the edit is confirmed (not written yet:
    `_change_locked` writes it when the change itself is confirmed)."""
    from hawizard.plan import validate

    after = with_etcd_role(plan, node)
    hint = f'add "etcd" to its roles in {label}, or confirm the edit (--yes)'
    if confirm_plan_edit is None:
        raise Refused(f"{node} has no etcd role in {label}", hint)
    errors = [p for p in validate(after) if p.severity.value == "error"]
    if errors:
        raise Refused(
            f"giving {node} the etcd role would make {label} invalid: "
            + "; ".join(str(p) for p in errors),
            f"edit {label} by hand",
        )
    confirm_plan_edit(plan_edit_diff(plan, after, label))
    return after


def _change_locked(
    plan: Plan,
    op: Op,
    node: str,
    old: str | None,
    run: Run,
    command: str,
    plan_label: str,
    dry_run: bool,
    check: Check,
    on_assessed: Callable[[Assessment], None] | None,
    confirm: Callable[[ChangeImpact], None] | None,
    edited: Plan | None = None,
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
    if edited is not None and not dry_run:
        from hawizard.plan import dump_with_backup

        assert edited.source is not None
        dump_with_backup(edited, edited.source)
    membership = MembershipChange(plan, assessment)
    problems = membership.begin(dry_run=dry_run)
    if problems:
        raise Refused(
            "the local PKI cannot issue the new member's certificates",
            f"hawizard certs check {plan_label}",
            problems,
        )
    if dry_run:
        return execute(membership, run, dry_run=True)
    from hawizard.ops.operation import marked

    with marked(plan, command) as mark:  # the recorder's marks, as `drive` gives an Operation
        outcome = execute(membership, run)
        mark.outcome = "ok" if outcome.ok else "failed"
    return outcome


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
