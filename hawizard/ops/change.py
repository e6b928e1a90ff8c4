"""A membership change (add / remove / replace an etcd member), defined once for both faces.

The order: the request checked against the plan → a change that completed already is
recognised → then `ops.operation.drive` runs it as a `MembershipOperation`, like every other
use case: the plan lock and no other operation in flight → a fresh assessment under the lock
(a confirmation may be minutes old) → confirmation → `MembershipChange.begin()`
(certificates, the in-flight record) → the etcd phases → when the membership changed for
real, the apiservers' `--etcd-servers` (the driver's follow-up run), all between the flight
recorder's start and end marks. The last step spans etcd and the control plane, which is
why it lives here and not in `etcd/`.

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
    from hawizard.ops.operation import drive

    op = Op(op)
    needs_role = op is not Op.REMOVE and _lacks_etcd_role(plan, node)
    try:
        check_request(with_etcd_role(plan, node) if needs_role else plan, op, node, old)
    except BadRequest as exc:
        if finished_before(plan, op, node, old):
            return ChangeOutcome(None, completed_before=str(exc))
        raise Refused(str(exc), exc.hint) from None
    assert plan.source is not None  # check_request refuses a plan without a file
    operation = MembershipOperation(
        plan, op, node, old, command, plan_label, check, on_assessed,
        confirm_plan_edit if needs_role else None, needs_role,
    )  # fmt: skip

    def confirmed(_op: object) -> bool:
        if confirm is not None:
            assert operation.assessment is not None
            confirm(operation.assessment.impact)  # raises Refused to stop
        return True

    def run_on(p: Plan, phases: list[Phase]) -> RunResult:
        # the etcd run goes on the plan as judged (the role given under the lock), the
        # apiservers' on the plan the change left (`follow_up`)
        return run(operation.plan if p is plan else p, phases)

    driven = drive(operation, plan, run_on, dry_run=dry_run, confirm=confirmed, label=plan_label)
    assert driven.result is not None and operation.membership is not None  # never "nothing"
    return ChangeOutcome(
        driven.result,
        driven.follow_up,
        operation.apiserver_outcome(driven.follow_up),
        change=operation.membership,
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
    `MembershipOperation.begin` writes it when the change itself is confirmed)."""
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


@dataclass
class MembershipOperation:
    """A membership change as an `ops.operation.Operation`: `drive` takes the plan lock and
    refuses while another operation is in flight, `assess` judges the change under it,
    `begin` issues certificates and writes the in-flight record, the etcd phases run, and
    `follow_up` gives the apiservers the new member list, as a second run under the same
    lock. The record is cleared as soon as the etcd part is done: a failed apiserver update
    is `hawizard apply`'s to finish, not a membership change to resume."""

    plan: Plan
    op: Op
    node: str
    old: str | None
    command: str
    plan_label: str
    check: Check
    on_assessed: Callable[[Assessment], None] | None
    confirm_plan_edit: Callable[[str], None] | None
    needs_role: bool = False
    title: str = "membership change"
    record: str | None = "change"
    assessment: Assessment | None = None
    membership: MembershipChange | None = None
    apiserver_note: str = ""
    after: Plan | None = None  # the plan the change left, once the etcd part is done

    def assess(self, plan: Plan) -> bool:
        if self.needs_role:  # the plan edit is confirmed under the lock, before the change
            self.plan = _give_etcd_role(
                self.plan, self.node, self.plan_label, self.confirm_plan_edit
            )
        try:
            self.assessment = self.check(self.plan, self.op, self.node, self.old)
        except BadRequest as exc:
            raise Refused(str(exc), exc.hint) from None
        if self.on_assessed is not None:
            self.on_assessed(self.assessment)
        if not self.assessment.allowed:
            raise ChangeRefused(self.assessment.impact)
        return True

    def begin(self, dry_run: bool) -> None:
        assert self.assessment is not None
        if self.needs_role and not dry_run:
            from hawizard.plan import dump_with_backup

            assert self.plan.source is not None
            dump_with_backup(self.plan, self.plan.source)
        self.membership = MembershipChange(self.plan, self.assessment)
        problems = self.membership.begin(dry_run=dry_run)
        if problems:
            raise Refused(
                "the local PKI cannot issue the new member's certificates",
                f"hawizard certs check {self.plan_label}",
                problems,
            )

    def phases(self) -> list[Phase]:
        assert self.membership is not None
        return self.membership.phases()

    def follow_up(self, result: RunResult) -> tuple[Plan, list[Phase]] | None:
        """The membership changed for real: the change is done (its record cleared), and the
        apiservers get the new member list on the plan it left."""
        assert self.membership is not None
        self.membership.finish(True)
        after = self.membership.plan_after
        if after is None:
            from hawizard.plan import load

            source = self.membership.plan.source
            after = load(source) if source else self.membership.plan
        phases, self.apiserver_note = apiserver_phases(after)
        self.after = after
        return (after, phases) if phases else None

    def finish(self, ok: bool) -> None:
        """A failed etcd run keeps its record, to be resumed by the same command; a
        successful one was cleared in `follow_up`."""

    def apiserver_outcome(self, result: RunResult | None) -> str:
        """What the apiserver update did (`result`), or why there was none."""
        if result is None or self.after is None:
            return self.apiserver_note
        return _apiserver_outcome(self.after, result, self.apiserver_note)
