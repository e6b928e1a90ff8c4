"""One driver for every use case that changes a cluster: lock, re-judge, records, confirm, run.

Before this module each use case (apply, change, rotate, patch, restore, ...) took the plan
lock, checked for unfinished work and asked for confirmation its own way, and the copies had
drifted: `apply` looked only for an unfinished membership change, so it would run over a
half-done rotation. Now a use case is an `Operation` (its judgement and its phases) and
`drive` is the only loop, in this order:

1. take the plan lock (`planlock.PlanLock`, named after `op.command`); a held lock — or a
   lock file that is a symlink — becomes one `Refused`;
2. refuse while any *other* operation is recorded as in flight beside the plan
   (`sidecars.in_flight`), naming its file and the command that resumes it; the operation's
   own record (`op.record`) is its business: a resume;
3. `op.assess(plan)` — the judgement again, under the lock, so nothing changed between
   what the operator was shown and what runs; `False` means there is nothing to do;
4. `confirm(op)` once (never in a dry run): `False` stops here, nothing has changed;
5. `op.begin(dry_run)`, `run(plan, op.phases())` on the face's runner — and, when that
   run succeeded and the operation has a second one that depends on it (`op.follow_up`:
   a membership change's apiserver update, run on the plan the change left), that one on
   the same runner, under the same lock — then `op.finish(ok)`, also when a run failed or
   raised (Ctrl-C), never in a dry run; the start and the end with its result ("ok",
   "failed", "interrupted") go to the flight recorder where the plan has one
   (`ops.recording.mark_operation`).

A read-only operation (a backup, a snapshot: it reads the cluster and writes only beside
itself) sets `exclusive = False`: steps 1 and 2 are skipped, so a scheduled backup is never
blocked by a running apply or a stale record — the moment a backup matters most — while
steps 3-5, the refusal rendering, the events and the exit codes stay the same. An operation
without the attribute is exclusive. Its work is local: `run_inline` runs it in order.

A command that is not a use case of its own but must not overlap one (a restore drill: it
restores into a throwaway member, never into the cluster, and must not race a backup run's
retention) takes steps 1 and 2 with `held(...)`.

How to add an Operation (e.g. `ops/defrag.py`):

- write a class with the attributes and methods of `Operation` below; keep remote work in
  its phases (steps of `hawizard.steps`), so dry-run, resume and progress come from the
  runner; keep its judgement in `assess`, raising `Refused(reason, hint)`;
- if it must survive an interruption, give it a record kind in `sidecars.RECORDS` (file
  suffix, description, resume command), name it in `record`, write it in `begin` and
  remove it in `finish(True)`; every other operation then refuses while it is unfinished;
- the faces call `drive(op, plan, run, dry_run=..., confirm=...)` and render its outcome or
  the `Refused` it raises (the CLI: `cli/run_view.py`); they never lock or ask themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from hawizard import sidecars
from hawizard.ops.refusal import Refused

if TYPE_CHECKING:
    from hawizard.plan import Plan
    from hawizard.steps import Phase, RunResult

__all__ = ["Driven", "Operation", "Run", "drive", "held", "refuse_in_flight", "run_inline"]

Run = Callable[["Plan", Sequence["Phase"]], "RunResult"]


@runtime_checkable
class Operation(Protocol):
    """A use case as the driver sees it. Attributes are read before anything else; the
    methods are called in the order listed, each at most once per `drive`."""

    #: The command line that starts (and resumes) it, e.g. "hawizard certs rotate plan.toml".
    #: Written into the lock file, so a refused second command can say who holds the plan.
    command: str
    #: A few words for confirmations and summaries: "certificate rotation".
    title: str
    #: Its own kind in `sidecars.RECORDS` ("rotate"), or None when it keeps no record. A record
    #: of this kind is a resume, not a conflict; records of every other kind refuse the run.
    record: str | None

    def assess(self, plan: Plan) -> bool:
        """Judge the request against the plan and the cluster (read-only: probes, SSH reads).

        Called under the plan lock. Returns True when there is work to do, False when the
        cluster already is as asked (the driver then runs nothing and calls nothing else).
        Raises `Refused(reason, hint)` when it must not go ahead. What it learns (the
        survey, the impact) it keeps on `self` for the confirmation and the phases.
        """
        ...

    def begin(self, dry_run: bool) -> None:
        """Local preparation right before the run: write its record, issue certificates.

        Called after the operator confirmed (or in a dry run, which must write nothing).
        Returns nothing; raises `Refused` when the preparation is impossible (nothing
        remote has changed yet) — `finish` is not called then.
        """
        ...

    def phases(self) -> list[Phase]:
        """The phases to run, in order (built after `begin`). Returns a list of
        `steps.Phase`; may be empty. Raises nothing the faces need to know about."""
        ...

    # Optional: `follow_up(result) -> tuple[Plan, list[Phase]] | None`, called after a
    # successful real run: a second run that depends on the first (its plan and phases), or
    # None. Its result is `Driven.follow_up`; `finish` sees the outcome of both.

    def finish(self, ok: bool) -> None:
        """After the run, whatever its outcome (`ok` False when it failed, was interrupted or
        raised). Clear the record when `ok`; keep it otherwise so the same command resumes.
        Never called in a dry run. Returns nothing; should not raise."""
        ...


@dataclass
class Driven:
    """What `drive` did: `result` None when nothing ran (nothing to do, or not confirmed)."""

    op: Operation
    result: RunResult | None
    confirmed: bool = True
    nothing_to_do: bool = False
    follow_up: RunResult | None = None  # the second run, when the operation has one

    @property
    def ok(self) -> bool:
        ran = self.result is not None and self.result.ok
        return ran and (self.follow_up is None or self.follow_up.ok)


def refuse_in_flight(plan: Plan, own: str | None, label: str) -> None:
    """Raise `Refused` naming the first unfinished operation of another kind beside the plan."""
    if plan.source is None:
        return
    for found in sidecars.in_flight(plan.source, label):
        if found.kind != own and not found.resume:
            raise Refused(
                f"{found.describe()}, and unreadable: {found.problem}",
                f"check `hawizard status {label}`; fix or remove {found.path} only when no "
                f"{sidecars.RECORDS[found.kind].noun.split(' ', 1)[1]} is in flight",
            )
        if found.kind != own:
            raise Refused(
                f"{found.describe()}; one operation at a time",
                f"finish it first: `{found.resume}`",
            )


def drive(
    op: Operation,
    plan: Plan,
    run: Run,
    *,
    dry_run: bool = False,
    confirm: Callable[[Operation], bool] | None = None,
    label: str = "",
) -> Driven:
    """Run `op` the one way (see the module docstring). `run(plan, phases)` is the face's
    runner; `confirm(op)` asks the operator (None: already confirmed, e.g. `--yes`);
    `label` is how the plan is named in resume commands (default: its path).

    Returns a `Driven`. Raises `Refused` for every reason not to go ahead (the plan held by
    another command, an unsafe file beside the plan, another operation in flight, the
    operation's own judgement); lets other exceptions of `op` and `run` through.
    """
    if plan.source is None or not getattr(op, "exclusive", True):
        return _judged(op, plan, run, dry_run, confirm)
    with held(plan, op.command, op.record, label):
        return _judged(op, plan, run, dry_run, confirm)


@contextmanager
def held(plan: Plan, command: str, own: str | None = None, label: str = "") -> Iterator[None]:
    """Steps 1 and 2 of `drive` for a command that must not overlap an operation but is not
    one (a restore drill): the plan lock, held for the block, and no other operation in
    flight. Raises `Refused`."""
    from hawizard.planlock import PlanLock, PlanLocked

    assert plan.source is not None
    label = label or str(plan.source)
    try:
        lock = PlanLock(plan.source, command).acquire()
    except PlanLocked as exc:
        raise Refused(str(exc), "run it again when that command has finished") from None
    try:
        refuse_in_flight(plan, own, label)
        yield
    except sidecars.UnsafeSidecar as exc:
        raise Refused(exc.strerror or str(exc)) from None
    finally:
        lock.release()


def _judged(
    op: Operation,
    plan: Plan,
    run: Run,
    dry_run: bool,
    confirm: Callable[[Operation], bool] | None,
) -> Driven:
    if not op.assess(plan):
        return Driven(op, None, nothing_to_do=True)
    if not dry_run and confirm is not None and not confirm(op):
        return Driven(op, None, confirmed=False)
    op.begin(dry_run)
    if dry_run:
        return Driven(op, run(plan, op.phases()))
    from hawizard.ops.recording import mark_operation

    mark_operation(plan, op.command, "start")
    driven = Driven(op, None)
    outcome = "interrupted"
    try:
        driven.result = run(plan, op.phases())
        follow_up = getattr(op, "follow_up", None)
        second = follow_up(driven.result) if follow_up and driven.result.ok else None
        if second is not None:
            driven.follow_up = run(*second)
        outcome = "ok" if driven.ok else "failed"
    finally:
        op.finish(driven.ok)
        mark_operation(plan, op.command, "end", outcome)
    return driven


def run_inline(plan: Plan, phases: Sequence[Phase]) -> RunResult:
    """The runner of a read-only operation whose steps are local (no hosts, no journal: a
    backup is never "already done"): each step in order; an exception ends the run and
    propagates (the driver still calls `finish(False)` and records the end)."""
    from hawizard.steps import LOCAL, Local, NodeSummary, RunResult

    result = RunResult(dry_run=False)
    local = Local(False)
    summary = result.nodes.setdefault(LOCAL, NodeSummary())
    for phase in phases:
        for step in phase.steps:
            if step.node is not None:
                raise ValueError(f"run_inline runs local steps only, not {step.key}")
            if step.check is None or step.check(local):
                step.apply(local)
                summary.changed += 1
            else:
                summary.unchanged += 1
        result.phases_done.append(phase.title)
    return result
