"""`hawizard etcd restore PLAN SNAPSHOT`: rebuild a cluster that lost quorum from a snapshot.

The use case, UI-free (the CLI and the dashboard call `assess`, then `execute`):

1. judge (nothing changes yet): the snapshot (`etcdutl snapshot status`, the sha256 recorded
   beside it), the cluster (refused while it has quorum: then `replace` is the right tool,
   unless `force_while_healthy`), and every plan member reachable over SSH with etcd installed
   — an unreachable one stops the run with the command to run once it is back;
2. run, under the plan lock, as journaled phases on the engine: stop etcd everywhere · move
   each data dir aside (`<data_dir>.before-restore-<UTC stamp>`, never deleted) · upload the
   snapshot (gzip, sha256 checked on the node) · `etcdutl snapshot restore` per member (name,
   peer URL, full initial-cluster, fresh token, `--bump-revision`/`--mark-compacted` where the
   node's etcdutl has them) with the data dir 0700 etcd:etcd · configuration `existing` · start
   all together · wait healthy · verify `existing` · a fresh snapshot of the restored cluster.

The restore in flight is recorded in `<plan stem>.restore.json` (id, UTC stamp, snapshot and
its sha256) until it completes: running the same command again resumes it (the quorum check
is skipped then, the journal's `once` records keep stop / move / restore from running twice),
and a restore from a different file is refused until it is finished.

The judging and the record live in `restore_assess`, the phases in `restore_run`; this module
is the use case that joins them (and re-exports their names).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hawizard.ops.refusal import Refused
from hawizard.ops.restore_assess import (
    Assessment,
    RestoreRecord,
    assess,
    clear_record,
    describe,
    read_record,
    record_path,
)
from hawizard.ops.restore_run import RestoreRun
from hawizard.plan import Plan
from hawizard.steps import Phase, RunResult

__all__ = [
    "Assessment",
    "RestoreOutcome",
    "RestoreRecord",
    "RestoreRun",
    "assess",
    "clear_record",
    "describe",
    "execute",
    "read_record",
    "record_path",
]


# --- the whole use case ------------------------------------------------------------------------


@dataclass
class RestoreOutcome:
    ok: bool
    dry_run: bool
    result: RunResult
    assessment: Assessment
    run: RestoreRun
    seconds: float  # the whole run (from `started`)
    to_healthy: float | None = None  # from `started` to every member healthy

    def to_json(self) -> dict[str, Any]:
        a, run = self.assessment, self.run
        health = run.health_after
        return {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "seconds": round(self.seconds, 2),
            "to_healthy_s": None if self.to_healthy is None else round(self.to_healthy, 2),
            **a.to_json(),
            "cluster_id_after": getattr(health, "cluster_id", None) or None,
            "health_after": getattr(health, "summary", None),
            "members": {n: asdict(r) for n, r in run.reports.items()},
            "fresh_snapshot": run.fresh.to_json() if run.fresh else None,
            "apiservers_restarted": run.apiservers,
        }


def execute(
    assessment: Assessment,
    run_phases: Callable[[Plan, Sequence[Phase]], RunResult],
    *,
    dry_run: bool = False,
    extra: Callable[[list[Phase]], list[Phase]] | None = None,
    started: float | None = None,
) -> RestoreOutcome:
    """Run the restore (the caller holds the plan lock: `restore` does it all). `run_phases` is the
    face's runner (live view, journal); `extra` lets tests inject a failure between phases."""
    start = time.monotonic() if started is None else started
    if assessment.new_machines:
        _issue_certificates(assessment.plan)
    run = RestoreRun(assessment)
    run.begin(dry_run=dry_run)
    phases = run.phases()
    if extra is not None:
        phases = extra(phases)
    result = run_phases(assessment.plan, phases)
    if not dry_run:
        run.finish(result.ok)
    healthy = None if run.healthy_at is None else run.healthy_at - start
    return RestoreOutcome(
        result.ok, dry_run, result, assessment, run, time.monotonic() - start, healthy
    )


@dataclass
class RestoreOperation:
    """A restore as an Operation (`ops.operation.drive`): judged under the plan lock, its
    own record (`.restore.json`) is a resume, any other operation in flight refuses it."""

    command: str
    snapshot: Path | str
    force_while_healthy: bool = False
    trust_new: bool = False
    on_assessed: Callable[[Assessment], None] | None = None
    title: str = "restore"
    record: str | None = "restore"
    assessment: Assessment | None = None
    run: RestoreRun | None = None

    def assess(self, plan: Plan) -> bool:
        self.assessment = assess(
            plan,
            self.snapshot,
            force_while_healthy=self.force_while_healthy,
            trust_new=self.trust_new,
        )
        if self.on_assessed is not None:
            self.on_assessed(self.assessment)
        return True

    def begin(self, dry_run: bool) -> None:
        assert self.assessment is not None
        if self.assessment.new_machines:
            _issue_certificates(self.assessment.plan)
        self.run = RestoreRun(self.assessment)
        self.run.begin(dry_run=dry_run)

    def phases(self) -> list[Phase]:
        assert self.run is not None
        return self.run.phases()

    def finish(self, ok: bool) -> None:
        assert self.run is not None
        self.run.finish(ok)


def _issue_certificates(plan: Plan) -> None:
    """New machines' etcd certificates, from the plan's CA (as `apply` issues them)."""
    from hawizard import pki

    for outcome in pki.create(plan):
        if outcome.name.startswith("etcd/") and outcome.is_failure:
            why = "; ".join(outcome.problems) or outcome.status.value
            raise Refused(f"{outcome.name}: {why}", f"hawizard certs check {plan.source}")


def restore(
    plan: Plan,
    snapshot: Path | str,
    run_phases: Callable[[Plan, Sequence[Phase]], RunResult],
    *,
    command: str,
    dry_run: bool = False,
    force_while_healthy: bool = False,
    trust_new: bool = False,
    on_assessed: Callable[[Assessment], None] | None = None,
    confirm: Callable[[Assessment], bool] | None = None,
    started: float | None = None,
) -> RestoreOutcome | None:
    """The whole use case through the driver; None when the operator said no. Raises
    `Refused` (the plan held, another operation in flight, the judgement)."""
    from hawizard.ops.operation import drive

    start = time.monotonic() if started is None else started
    op = RestoreOperation(command, snapshot, force_while_healthy, trust_new, on_assessed)
    ask = None if confirm is None else (lambda o: confirm(o.assessment))
    driven = drive(op, plan, run_phases, dry_run=dry_run, confirm=ask)
    if driven.result is None:
        return None
    assert op.assessment is not None and op.run is not None
    run = op.run
    healthy = None if run.healthy_at is None else run.healthy_at - start
    return RestoreOutcome(
        driven.result.ok,
        dry_run,
        driven.result,
        op.assessment,
        run,
        time.monotonic() - start,
        healthy,
    )
