"""`hawizard etcd snapshot`: one verified snapshot to this machine, as a read-only Operation.

Read-only (`exclusive = False` in `ops.operation`): it takes no plan lock and is not refused
by another operation in flight — a snapshot is what an operator takes *before* touching a
cluster in trouble, so a stale record must not stand in the way. The member is a follower
when there is one (the leader has enough to do); none healthy refuses, naming the status.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hawizard.etcd.snapshot import SnapshotInfo
from hawizard.ops.refusal import Refused
from hawizard.plan import Plan

__all__ = ["SnapshotFailed", "SnapshotOperation", "snapshot"]


class SnapshotFailed(Exception):
    """The snapshot was refused by the node or did not match its sha256: nothing was kept."""


@dataclass
class SnapshotOperation:
    command: str
    out: Path | None = None
    trust_new: bool = False
    say: Callable[[str], None] | None = None
    title: str = "etcd snapshot"
    record: str | None = None
    exclusive: bool = False
    plan: Plan | None = None
    member: str = ""
    info: SnapshotInfo | None = None

    def assess(self, plan: Plan) -> bool:
        """Picks the member; raises `Refused` when none is healthy, `OSError` when the
        operator's client certificate cannot be used."""
        from hawizard.etcd.probe import cluster_health

        health = cluster_health(plan)
        healthy = [m for m in health.members if m.in_plan and m.healthy and not m.is_learner]
        if not healthy:
            label = plan.source or "PLAN"
            raise Refused(
                f"no healthy etcd member to take a snapshot from ({health.summary})",
                f"hawizard status {label}",
            )
        self.plan = plan
        self.member = sorted(healthy, key=lambda m: m.is_leader)[0].name
        return True

    def begin(self, dry_run: bool) -> None:
        return None

    def phases(self) -> list:
        from hawizard.steps import Phase, Step

        return [Phase("snapshot", [Step(None, f"snapshot from {self.member}", None, self._take)])]

    def _take(self, _local) -> None:
        from hawizard.etcd.snapshot import SnapshotError, take_snapshot
        from hawizard.remote import Host, HostKeyError, RemoteError

        plan = self.plan
        assert plan is not None
        try:
            with Host.from_plan(plan, self.member, trust_new=self.trust_new) as host:
                self.info = take_snapshot(
                    host, plan, plan.node(self.member), self.out, say=self.say
                )
        except (SnapshotError, RemoteError, HostKeyError, OSError) as exc:
            raise SnapshotFailed(str(exc)) from None

    def finish(self, ok: bool) -> None:
        return None


def snapshot(
    plan: Plan,
    out: Path | None = None,
    *,
    command: str = "hawizard etcd snapshot",
    trust_new: bool = False,
    say: Callable[[str], None] | None = None,
) -> SnapshotInfo:
    """Take one snapshot through the driver. Raises `Refused`, `SnapshotFailed`, or
    `OSError` (the operator's etcd client certificate)."""
    from hawizard.ops.operation import drive, run_inline

    op = SnapshotOperation(command, out, trust_new, say)
    drive(op, plan, run_inline)
    assert op.info is not None
    return op.info
