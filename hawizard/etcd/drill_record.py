"""The last restore drill's outcome, kept beside the backups (issue 28).

`etcd backup drill` writes `.last-drill-<cluster>.json` into the backup folder — signed with
the record key like the backup records, written atomically 0600 — so `status --json`, the
dashboard and `backup list` say when the newest backup last proved it restores (and its RTO)
without reaching any target. A record that fails its signature is shown as refused, never as
a passed drill. The name starts with a dot and matches no backup name: retention never sees it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hawizard.etcd.backup import plan_folder
from hawizard.etcd.backup_folder import read_record
from hawizard.localfs import atomic_write
from hawizard.pki.record_key import load_key, sign, verify
from hawizard.plan import Plan

__all__ = ["LastDrill", "last_drill", "record_drill"]


def _path(plan: Plan, folder: Path | None = None) -> Path:
    return (folder or plan_folder(plan)) / f".last-drill-{plan.cluster.name}.json"


@dataclass(frozen=True)
class LastDrill:
    ok: bool
    at: str  # ISO 8601, UTC
    target: str
    file: str
    rto_s: float | None
    error: str
    trusted: bool = True  # False: the record fails its signature (or is unsigned)

    def to_json(self, now: datetime | None = None) -> dict[str, Any]:
        now = now or datetime.now(UTC)
        try:
            age = round((now - datetime.fromisoformat(self.at)).total_seconds(), 1)
        except ValueError:
            age = None
        return {
            "ok": self.ok and self.trusted,
            "at": self.at,
            "age_s": age,
            "target": self.target,
            "file": self.file,
            "rto_s": self.rto_s,
            "error": self.error if self.trusted else "the drill record fails its signature",
        }


def record_drill(
    plan: Plan, key: bytes, *, ok: bool, target: str, file: str, rto_s: float | None, error: str
) -> None:
    """Write the outcome (the folder must exist: the drill checked it)."""
    meta = {
        "cluster": plan.cluster.name,
        "ok": ok,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "target": target,
        "file": file,
        "rto_s": None if rto_s is None else round(rto_s, 2),
        "error": error,
    }
    atomic_write(_path(plan), json.dumps(sign(key, meta), indent=2) + "\n", 0o600)


def last_drill(plan: Plan) -> LastDrill | None:
    """The last drill, or None when none was recorded (or the folder cannot be read)."""
    data = read_record(_path(plan))
    if data is None:
        return None
    try:
        meta = json.loads(data)
    except ValueError:
        meta = None
    if not isinstance(meta, dict):
        return LastDrill(False, "", "", "", None, "unreadable drill record", trusted=False)
    trusted = verify(load_key(plan), meta) == "ok" and meta.get("cluster") == plan.cluster.name
    rto = meta.get("rto_s")
    return LastDrill(
        ok=meta.get("ok") is True,
        at=str(meta.get("at", "")),
        target=str(meta.get("target", "")),
        file=str(meta.get("file", "")),
        rto_s=float(rto) if isinstance(rto, int | float) else None,
        error=str(meta.get("error", "")),
        trusted=trusted,
    )
