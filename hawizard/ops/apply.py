"""Converge the nodes to the plan: certificates → plan lock → pending-change check → phases →
runner. `hawizard apply` and the wizard's etcd and control-plane steps both call `apply`, so
the wizard holds the lock and refuses during an unfinished membership change exactly as the
CLI does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hawizard.ops.refusal import Refused

if TYPE_CHECKING:
    from hawizard.plan import Plan
    from hawizard.steps import Phase, RunResult

ONLY = ("etcd", "control-plane")
Run = Callable[["Plan", "list[Phase]"], "RunResult"]


def certificate_problems(
    plan: Plan, on_created: Callable[[str, str], None] | None = None, outcomes=None
) -> list[str]:
    """Create missing certs locally (`on_created(action, name)` for each one created or
    renewed); return the problems that must stop the run. `outcomes`: what `pki.create`
    already did (a dry run's temp PKI); raises `Refused` when the PKI cannot be written."""
    from hawizard import pki
    from hawizard.ops.certs import require_pki_home

    problems = []
    if outcomes is None:
        require_pki_home(plan)
        try:
            outcomes = pki.create(plan)
        except OSError as exc:
            raise _pki_unwritable(plan, exc) from None
    for outcome in outcomes:
        if outcome.is_failure:
            why = "; ".join(outcome.problems) or outcome.status.value
            problems.append(f"{outcome.name}: {why}")
        elif outcome.action.value in ("created", "renewed") and on_created is not None:
            on_created(outcome.action.value, outcome.name)
    return problems


def _pki_unwritable(plan: Plan, exc: OSError) -> Refused:
    where = f" ({exc.filename})" if exc.filename else ""
    return Refused(
        f"cannot write the PKI under {plan.pki_dir}: {exc.strerror or exc}{where}",
        "check pki.dir in the plan: it must be a folder (or not exist yet) you can write",
    )


def build_phases(plan: Plan, only: str | None = None) -> list[Phase]:
    """The etcd phases, then the control plane's and its load balancer's (`only` picks one),
    then, with `[monitoring] install = true` and no `only`, node exporters and Prometheus."""
    from hawizard.etcd.rollout import etcd_phases
    from hawizard.ops.phases import control_plane_phases

    if only is not None and only not in ONLY:
        raise ValueError(f"only must be one of {ONLY}, not {only!r}")
    phases = []
    if only in (None, "etcd") and plan.etcd_nodes:
        phases += etcd_phases(plan)
    if only in (None, "control-plane") and plan.control_plane_nodes:
        phases += control_plane_phases(plan)
    if only is None and plan.monitoring.install:
        from hawizard.monitoring.rollout import monitoring_phases

        phases += monitoring_phases(plan)
    return phases


def apply(
    plan: Plan,
    *,
    run: Run,
    command: str,
    plan_label: str,
    only: str | None = None,
    dry_run: bool = False,
    confirm: Callable[[], None] | None = None,
    on_certificate: Callable[[str, str], None] | None = None,
) -> RunResult:
    """Run the plan's phases with `run(plan, phases)` (the face's runner and live view).

    `command` is what the plan lock names as its holder, `plan_label` the plan as the user
    typed it (for the commands in hints). `confirm()` is called before anything changes on
    the nodes (not in a dry run) and raises `Refused` to stop. Raises `Refused` for a local
    PKI that does not match the plan, missing binaries, a plan held by another process, or a
    membership change that has not finished.
    """
    from hawizard.etcd.binaries import preload

    if plan.etcd.install == "upload" and plan.etcd.binaries and only != "control-plane":
        preload(plan.resolve(plan.etcd.binaries))  # read and hashed while the certs are checked
    if dry_run:
        return _dry_run(plan, run, plan_label, only, on_certificate)
    problems = certificate_problems(plan, on_certificate)
    return _converge(plan, problems, run, command, plan_label, only, False, confirm)


def _dry_run(
    plan: Plan,
    run: Run,
    plan_label: str,
    only: str | None,
    on_certificate: Callable[[str, str], None] | None,
) -> RunResult:
    """A dry run writes nothing locally: the PKI it compares against the nodes is made in a
    private temp folder (a copy of the real one, completed there) and removed afterwards."""
    from hawizard.pki.preview import preview

    def would(action: str, name: str) -> None:
        if on_certificate is not None:
            on_certificate(f"would be {action}", name)

    def would_removed(gone) -> None:
        if on_certificate is not None:
            on_certificate("removed a killed dry run's PKI copy", str(gone))

    with contextlib.ExitStack() as stack:
        try:
            shown, outcomes = stack.enter_context(preview(plan, lambda gone: would_removed(gone)))
        except OSError as exc:
            raise _pki_unwritable(plan, exc) from None
        problems = certificate_problems(shown, would, outcomes)
        return _converge(shown, problems, run, "", plan_label, only, True, None)


def _converge(
    plan: Plan,
    problems: list[str],
    run: Run,
    command: str,
    plan_label: str,
    only: str | None,
    dry_run: bool,
    confirm: Callable[[], None] | None,
) -> RunResult:
    from hawizard.artifacts import BinariesError

    if problems:
        raise Refused(
            "the local PKI does not match the plan",
            f"review with `hawizard certs check {plan_label}`, re-issue with "
            f"`hawizard certs create {plan_label} --renew` (in the wizard: Certificates, "
            "Re-issue)",
            problems,
        )
    try:
        phases = build_phases(plan, only)
    except BinariesError as exc:
        raise Refused(str(exc)) from None
    if dry_run or plan.source is None:
        if not dry_run and confirm is not None:
            confirm()
        return run(plan, phases)
    return _driven(plan, phases, run, command, plan_label, confirm)


@dataclass
class ApplyOperation:
    """`apply` as an Operation: its judgement (certificates, binaries) is made before the
    lock, because a dry run shares it; under the lock the driver refuses while any other
    operation (a membership change, a rotation, a patch run, a restore) is unfinished, whose
    half-done state apply must not "converge" away."""

    command: str
    planned: list[Phase]
    title: str = "apply"
    record: str | None = None

    def assess(self, plan: Plan) -> bool:
        return True

    def begin(self, dry_run: bool) -> None:
        return None

    def phases(self) -> list[Phase]:
        return self.planned

    def finish(self, ok: bool) -> None:
        return None


def _driven(
    plan: Plan,
    phases: list[Phase],
    run: Run,
    command: str,
    plan_label: str,
    confirm: Callable[[], None] | None,
) -> RunResult:
    from hawizard.ops.operation import drive

    def confirmed(_op) -> bool:
        if confirm is not None:
            confirm()  # raises Refused to stop
        return True

    driven = drive(
        ApplyOperation(command, phases),
        plan,
        lambda p, ph: run(p, list(ph)),
        confirm=confirmed,
        label=plan_label,
    )
    assert driven.result is not None
    return driven.result
