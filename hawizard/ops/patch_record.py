"""The patch record `<plan stem>.patch.json`: per node when it started and finished, the
packages, and the upgrade/reboot/recovery times, so "one node at a time" can be read from it
after the run. Written by `patch_run.Patching`, read back by `ops.patch.assess` (a resume).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from hawizard import sidecars
from hawizard.ops.refusal import Refused

__all__ = ["NodeEntry", "PatchRecord", "now", "record_path"]


def record_path(plan_path: Path) -> Path:
    return sidecars.record_path(plan_path, "patch")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class NodeEntry:
    node: str
    started: str
    finished: str = ""
    packages: list[str] = field(default_factory=list)
    upgrade_s: float | None = None
    rebooted: bool = False
    reboot_s: float | None = None  # reboot command → SSH answers from the new boot
    recover_s: float | None = None  # → etcd healthy and caught up, apiserver ready
    total_s: float | None = None
    vip_moved_to: str = ""
    reboot_pending: bool = False  # wanted, but --reboot=never


@dataclass
class PatchRecord:
    id: str
    started: str
    security_only: bool
    reboot: str
    finished: str = ""
    ok: bool = False
    nodes: list[NodeEntry] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> PatchRecord | None:
        try:
            raw = sidecars.read_json(path)
            if raw is None:
                return None
            raw["nodes"] = [NodeEntry(**n) for n in raw.get("nodes", [])]
            return cls(**raw)
        except (OSError, ValueError, TypeError) as exc:
            raise Refused(
                f"{path}: unreadable patch record ({exc})",
                "move it aside; the next run re-surveys every node anyway",
            ) from None

    def write(self, path: Path) -> None:
        sidecars.write_json(path, asdict(self))
