"""The change in flight: `<plan stem>.change.json`, written when a change starts and removed
when it completes, so a second, different change is refused and the same command resumes an
interrupted one."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from hawizard.etcd.quorum_rules import Op
from hawizard.localfs import read_regular_text


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
    return plan_path.with_name(f"{plan_path.stem}.change.json")


def read_pending(plan_path: Path | None) -> PendingChange | None:
    if plan_path is None:
        return None
    path = pending_path(plan_path)
    if not path.exists():
        return None
    try:
        return PendingChange(**json.loads(read_regular_text(path)))
    except (OSError, ValueError, TypeError, RecursionError) as exc:
        raise ChangeFailed(
            f"{path}: unreadable record of an unfinished membership change ({exc}); check "
            "`hawizard status` and remove the file only when no change is in flight"
        ) from None


def write_pending(plan_path: Path, pending: PendingChange) -> None:
    path = pending_path(plan_path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(pending), f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def clear_pending(plan_path: Path) -> None:
    pending_path(plan_path).unlink(missing_ok=True)
