"""Scheduled backups, the etcd part: the systemd units (pure renderers), the backup folder
(listing, verdicts, retention) and the "last verified backup" age.

A backup is a snapshot file `<cluster>-<UTC stamp>.db` plus the record `….db.json` that
`hawizard etcd snapshot` writes beside it; a run that verified the file (sha256 against the
record, `etcdutl snapshot status`) adds `verified_at` to the record. Retention only ever
removes files with exactly that name shape, so nothing else in the folder is touched.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hawizard.plan import Plan, every_seconds
from hawizard.plan.model import MAX_BACKUP_EVERY
from hawizard.textguard import plain_lines, unit_word

__all__ = [
    "DEFAULT_EVERY",
    "DEFAULT_KEEP",
    "Backup",
    "BackupAge",
    "backup_age",
    "backups",
    "default_dir",
    "human_age",
    "mark_verified",
    "parse_every",
    "plan_backup_age",
    "prune",
    "render_service",
    "render_timer",
    "unit_name",
]

DEFAULT_EVERY = "1h"
DEFAULT_KEEP = 24
MAX_EVERY = MAX_BACKUP_EVERY


def parse_every(text: str) -> int:
    """ "30s", "15m", "1h", "1d" (or plain seconds) → seconds (the plan's own rule)."""
    return every_seconds(text)


def default_dir(plan: Plan) -> Path:
    base = plan.source.parent if plan.source is not None else Path.cwd()
    return base / "backups"


def _file_re(cluster: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(cluster)}-\d{{8}}T\d{{6}}Z(-\d+)?\.db$")


@dataclass(frozen=True)
class Backup:
    path: Path
    size: int
    meta: dict[str, Any]

    @property
    def taken_at(self) -> datetime:
        try:
            t = datetime.fromisoformat(str(self.meta.get("taken_at")))
            return t if t.tzinfo else t.replace(tzinfo=UTC)
        except ValueError:
            return datetime.fromtimestamp(self.path.stat().st_mtime, UTC)

    @property
    def verified(self) -> bool:
        return bool(self.meta.get("verified_at")) and self.meta.get("verdict") == "ok"

    def to_json(self, now: datetime | None = None) -> dict[str, Any]:
        now = now or datetime.now(UTC)
        return {
            "path": str(self.path),
            "size": self.size,
            "revision": self.meta.get("revision"),
            "taken_at": self.taken_at.isoformat(timespec="seconds"),
            "age_s": round((now - self.taken_at).total_seconds(), 1),
            "verdict": self.meta.get("verdict", "unverified"),
            "verified_at": self.meta.get("verified_at"),
        }


def backups(folder: Path, cluster: str) -> list[Backup]:
    """The cluster's backups in `folder`, newest first (a missing folder: none)."""
    pattern = _file_re(cluster)
    found = []
    try:
        entries = list(folder.iterdir())
    except FileNotFoundError:
        return []
    for p in entries:
        if not pattern.match(p.name) or not p.is_file():
            continue
        try:
            meta = json.loads(p.with_name(p.name + ".json").read_text())
            if not isinstance(meta, dict):
                meta = {}
        except (OSError, ValueError):
            meta = {}
        found.append(Backup(p, p.stat().st_size, meta))
    return sorted(found, key=lambda b: (b.taken_at, b.path.name), reverse=True)


def mark_verified(backup_path: Path, verdict: str, detail: str = "") -> None:
    """Add the verification to the record beside the file (atomic rewrite, 0600)."""
    meta_path = backup_path.with_name(backup_path.name + ".json")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        meta = {}
    meta.update(
        verdict=verdict,
        verified_at=datetime.now(UTC).isoformat(timespec="seconds"),
        verify_detail=detail,
    )
    tmp = meta_path.with_name(f".{meta_path.name}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(meta, indent=2) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, meta_path)


def prune(folder: Path, cluster: str, keep: int) -> list[Path]:
    """Keep the newest `keep` verified backups; remove older verified ones (file and record).
    Unverified files are left for the operator to look at. Returns what was removed."""
    if keep < 1:
        raise ValueError("keep must be at least 1")
    removed = []
    for b in [b for b in backups(folder, cluster) if b.verified][keep:]:
        b.path.unlink(missing_ok=True)
        b.path.with_name(b.path.name + ".json").unlink(missing_ok=True)
        removed.append(b.path)
    return removed


@dataclass(frozen=True)
class BackupAge:
    """What `status --json` and the dashboard show: "last verified backup: 12 min ago"."""

    state: str  # "ok" | "yellow" (older than 2x the schedule) | "red" (4x, or none)
    age_s: float | None
    path: str | None
    every_s: int
    folder: str

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "age_s": None if self.age_s is None else round(self.age_s, 1),
            "path": self.path,
            "every_s": self.every_s,
            "dir": self.folder,
        }


def backup_age(folder: Path, cluster: str, every_s: int, now: datetime | None = None) -> BackupAge:
    now = now or datetime.now(UTC)
    newest = next((b for b in backups(folder, cluster) if b.verified), None)
    if newest is None:
        return BackupAge("red", None, None, every_s, str(folder))
    age = (now - newest.taken_at).total_seconds()
    state = "red" if age > 4 * every_s else "yellow" if age > 2 * every_s else "ok"
    return BackupAge(state, age, str(newest.path), every_s, str(folder))


def plan_backup_age(plan: Plan, now: datetime | None = None) -> BackupAge:
    """The last verified backup where the plan's `[backup]` (or the defaults) puts them."""
    folder = plan.resolve(plan.backup.dir) if plan.backup.dir else default_dir(plan)
    try:
        every = parse_every(plan.backup.every or DEFAULT_EVERY)
    except ValueError:
        every = parse_every(DEFAULT_EVERY)
    return backup_age(folder, plan.cluster.name, every, now)


def human_age(seconds: float) -> str:
    """ "40 s", "12 min", "3.5 h", "2.0 days": how old a backup or a snapshot is."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


# --- systemd units (pure) -----------------------------------------------------------------


def unit_name(plan: Plan) -> str:
    return f"hawizard-backup-{plan.cluster.name}"


_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


def _exec_arg(value: str) -> str:
    """One ExecStart argument: refused if it could break out of its line, quoted for systemd
    (double quotes, backslash escapes), `%` and `$` doubled so systemd does not expand them."""
    if _UNSAFE.search(value):
        raise ValueError(f"{value!r} holds a control character; it cannot go into a unit file")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("%", "%%").replace("$", "$$")
    return f'"{escaped}"'


def render_service(
    plan: Plan,
    argv: list[str],
    *,
    user_unit: bool,
    timeout_s: int = 900,
    unit: str = "",
    what: str = "verified etcd backup",
) -> str:
    """The oneshot service that runs one backup: `argv` is the full command (the python that
    runs hawizard, `-m hawizard etcd backup run PLAN --keep N --dir DIR`). The scheduled etcd
    maintenance (`hawizard.ops.maintenance`) renders its service here too, with its own
    `unit` name and `what` it does, so both jobs run under the same unit settings."""
    if not argv:
        raise ValueError("the backup command is empty")
    exec_start = " ".join(_exec_arg(a) for a in argv)
    wanted = "default.target" if user_unit else "multi-user.target"
    cluster = unit_word(plan.cluster.name, "cluster.name")
    if not re.fullmatch(r"[a-z][a-z ]{0,60}", what):
        raise ValueError(f"{what!r}: the job's description is lowercase words only")
    text = f"""\
# written by hawizard: {what} of cluster {cluster}
[Unit]
Description=hawizard: {what} of cluster {cluster}
Documentation=man:systemd.service(5)
After=network-online.target

[Service]
Type=oneshot
ExecStart={exec_start}
TimeoutStartSec={timeout_s}
UMask=0077
Nice=10

[Install]
WantedBy={wanted}
"""
    return plain_lines(text, f"{unit or unit_name(plan)}.service")


def render_timer(plan: Plan, every_s: int) -> str:
    """First run a few seconds after it is enabled, then every `every_s` after the last run
    started; `AccuracySec=1s` so short test intervals are honoured."""
    if not 1 <= every_s <= MAX_EVERY:
        raise ValueError(f"every {every_s}s is out of range (1 s - 7 days)")
    unit_word(plan.cluster.name, "cluster.name")
    text = f"""\
# written by hawizard: runs {unit_name(plan)}.service every {every_s}s
[Unit]
Description=hawizard: verified etcd backup of cluster {plan.cluster.name}, every {every_s}s

[Timer]
OnActiveSec=5s
OnUnitActiveSec={every_s}s
AccuracySec=1s
Unit={unit_name(plan)}.service

[Install]
WantedBy=timers.target
"""
    return plain_lines(text, f"{unit_name(plan)}.timer")
