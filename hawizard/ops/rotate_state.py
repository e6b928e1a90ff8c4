"""The record of the rotation in flight, `<plan stem>.rotate.json`: its kind, phase and the
serials it issued, written before the first change and removed after the last, so running
the same command again continues it and a different rotation is refused until it finishes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from hawizard import sidecars
from hawizard.ops.refusal import Refused
from hawizard.plan import Plan

__all__ = ["RotationState", "clear_state", "read_state", "state_path", "write_state"]


@dataclass
class RotationState:
    """`<plan stem>.rotate.json`: written before the first change, removed after the last."""

    id: str
    kind: str  # "leaf" | "ca"
    ca: str | None
    started: str
    names: list[str]  # PKI names of the leaves re-issued (leaf rotation)
    phase: int = 1  # CA rotation: 1 trust both, 2 new leaves, 3 trust the new CA
    serials: dict[str, str] = field(default_factory=dict)  # PKI name -> hex serial issued
    old_ca: str = ""
    new_ca: str = ""
    skipped: list[str] = field(default_factory=list)


def state_path(plan_path: Path) -> Path:
    return sidecars.record_path(plan_path, "rotate")


def read_state(plan: Plan) -> RotationState | None:
    if plan.source is None:
        return None
    path = state_path(plan.source)
    try:
        data = sidecars.read_record(plan.source, "rotate")
        return None if data is None else RotationState(**data)
    except (OSError, ValueError, TypeError) as exc:
        raise Refused(
            f"{path}: unreadable record of an unfinished rotation ({exc})",
            "check `hawizard certs check` and `hawizard status`; remove the file only when "
            "no rotation is in flight",
        ) from None


def write_state(plan: Plan, state: RotationState) -> None:
    assert plan.source is not None
    sidecars.write_record(plan.source, "rotate", asdict(state))


def clear_state(plan: Plan) -> None:
    """The rotation is done: no record left to resume."""
    if plan.source is not None:
        sidecars.clear_record(plan.source, "rotate")
