"""`etcd defrag` on the operation driver (`ops.operation.drive`): the plan lock, a refusal
while another operation is in flight (a defragmentation blocks each member in turn: not
during an unfinished restore or rotation), the start and end in the flight recorder, and
the maintenance record (`ops.maintenance.record_run`) written under the lock.

`Defrag` (`ops.defrag`) keeps the judgement and the phases; this adapter adds what the
driver and the timer need: `--if-needed` (nothing to do below the thresholds, recorded as
"skipped"), and the record of the outcome, refused runs included. Dry runs record nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hawizard.ops.defrag import Defrag
from hawizard.ops.refusal import Refused

if TYPE_CHECKING:
    from hawizard.ops.operation import Driven
    from hawizard.plan import Plan
    from hawizard.steps import Phase, RunResult

__all__ = ["DefragOperation", "defrag"]


@dataclass
class DefragOperation:
    command: str
    defrag: Defrag
    if_needed: bool = False
    dry_run: bool = False
    on_assessed: Callable[[DefragOperation], None] | None = None
    on_record_error: Callable[[OSError], None] | None = None
    title: str = "defragment etcd"
    record: str | None = None
    #: Why nothing ran (`--if-needed` below the thresholds); empty when it ran.
    skipped: str = ""
    #: The members that qualified, with why (`--if-needed`).
    reasons: dict[str, str] = field(default_factory=dict)
    result: RunResult | None = None

    def assess(self, plan: Plan) -> bool:
        from hawizard.ops import maintenance

        try:
            self.defrag.assess(plan)
        except Refused as exc:
            self._record("refused", exc.reason)
            raise
        self.title = self.defrag.title
        if self.if_needed:
            sizes = {n: (m.db_before, m.in_use_before) for n, m in self.defrag.members.items()}
            self.reasons = maintenance.defrag_reasons(sizes, plan.maintenance)
            if not self.reasons:
                self.skipped = maintenance.below_thresholds(sizes, plan.maintenance)
                self._record("skipped", self.skipped, self.defrag.to_json())
                return False
        if self.on_assessed is not None:
            self.on_assessed(self)
        return True

    def begin(self, dry_run: bool) -> None:
        self.defrag.begin(dry_run)

    def phases(self) -> list[Phase]:
        return self.defrag.phases()

    def finish(self, ok: bool) -> None:
        from hawizard.ops import maintenance

        self.defrag.finish(ok)
        if self.result is not None:
            self._record(*maintenance.outcome_of(self.defrag, self.result), self.defrag.to_json())

    def _record(self, outcome: str, reason: str, report: dict | None = None) -> None:
        from hawizard.ops import maintenance

        if self.dry_run:
            return
        try:
            maintenance.record_run(
                self.defrag.plan, outcome, reason, if_needed=self.if_needed, report=report
            )
        except OSError as exc:  # the run is what matters; the face says it loudly
            if self.on_record_error is not None:
                self.on_record_error(exc)


def defrag(
    plan: Plan,
    run: Callable[[Plan, Sequence[Phase]], RunResult],
    *,
    command: str,
    dry_run: bool = False,
    if_needed: bool = False,
    confirm: Callable[[DefragOperation], bool] | None = None,
    on_assessed: Callable[[DefragOperation], None] | None = None,
    on_record_error: Callable[[OSError], None] | None = None,
) -> tuple[DefragOperation, Driven]:
    """Judge and run a defragmentation through the driver. Returns the operation (its
    `defrag` holds the report, `skipped` why nothing ran) and what the driver did. Raises
    `Refused`; lets `OSError` (the operator's client certificate) through."""
    from hawizard.ops.operation import drive

    op = DefragOperation(
        command,
        Defrag(plan),
        if_needed=if_needed,
        dry_run=dry_run,
        on_assessed=on_assessed,
        on_record_error=on_record_error,
    )

    def kept(p: Plan, phases: Sequence[Phase]) -> RunResult:
        op.result = run(p, phases)
        return op.result

    return op, drive(op, plan, kept, dry_run=dry_run, confirm=confirm)
