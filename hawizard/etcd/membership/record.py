"""The change in flight: `<plan stem>.change.json`, written when a change starts and removed
when it completes, so a second, different change is refused and the same command resumes an
interrupted one."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from hawizard import sidecars
from hawizard.etcd.quorum_rules import Op


class ChangeFailed(Exception):
    pass


# --- the change in flight ---------------------------------------------------------------------


@dataclass(frozen=True)
class PendingChange:
    """The change that was started and has not completed yet (`<plan stem>.change.json`)."""

    id: str
    op: str
    node: str
    old: str | None
    started: str
    snapshot: dict | None = None

    def same(self, op: Op, node: str, old: str | None) -> bool:
        return self.op == op.value and self.node == node and self.old == old

    def command(self, plan_label: str) -> str:
        return command_for(Op(self.op), self.node, self.old, plan_label)


def command_for(op: Op, node: str, old: str | None, plan_label: str) -> str:
    if op is Op.REPLACE:
        return f"hawizard etcd replace {plan_label} {old} {node}"
    return f"hawizard etcd {op.value} {plan_label} {node}"


def pending_path(plan_path: Path) -> Path:
    return sidecars.record_path(plan_path, "change")


def read_pending(plan_path: Path | None) -> PendingChange | None:
    if plan_path is None:
        return None
    path = pending_path(plan_path)
    try:
        data = sidecars.read_record(plan_path, "change")
        return None if data is None else PendingChange(**data)
    except (OSError, ValueError, TypeError, RecursionError) as exc:
        raise ChangeFailed(
            f"{path}: unreadable record of an unfinished membership change ({exc}); check "
            "`hawizard status` and remove the file only when no change is in flight"
        ) from None


def write_pending(plan_path: Path, pending: PendingChange) -> None:
    sidecars.write_record(plan_path, "change", asdict(pending))


def clear_pending(plan_path: Path) -> None:
    sidecars.clear_record(plan_path, "change")
