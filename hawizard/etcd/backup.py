"""Scheduled backups, the etcd part: the systemd units (pure renderers), the backup folder
(listing, verdicts, retention) and the "last verified backup" age.

A backup is a snapshot file `<cluster>-<UTC stamp>.db` plus the record `….db.json` that
`hawizard etcd snapshot` writes beside it; a run that verified the file (sha256 against the
record, `etcdutl snapshot status`) adds `verified_at` to the record. Retention only ever
removes files with exactly that name shape, so nothing else in the folder is touched.

Records are authenticated (`hawizard.pki.record_key`): a backup counts as verified only when
its record's HMAC matches, names this very file and its size. A record that fails is refused
(listed as such, never counted, never restored); an unsigned one (an older hawizard's) is
listed as unverified. Only regular files are read: a FIFO or symlink named like a backup or a
record is skipped, so it can neither hang a listing nor point it elsewhere.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hawizard.etcd.backup_folder import is_regular, read_record
from hawizard.localfs import atomic_write
from hawizard.pki.record_key import load_key, sign, verify
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
    "load_record",
    "mark_verified",
    "note_offsite",
    "offsite_ages",
    "parse_every",
    "plan_backup_age",
    "plan_folder",
    "protect_home",
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
    signature: str = "unsigned"  # "ok" | "unsigned" | "no-key" | "bad" (`record_key.verify`)
    mtime: float = 0.0

    @property
    def taken_at(self) -> datetime:
        try:
            t = datetime.fromisoformat(str(self.meta.get("taken_at")))
            return t if t.tzinfo else t.replace(tzinfo=UTC)
        except ValueError:
            return datetime.fromtimestamp(self.mtime, UTC)

    @property
    def refused(self) -> bool:
        """The record fails its HMAC (or names another file): never trusted, never restored."""
        return self.signature == "bad"

    @property
    def verified(self) -> bool:
        return (
            self.signature == "ok"
            and bool(self.meta.get("verified_at"))
            and self.meta.get("verdict") == "ok"
        )

    @property
    def verdict(self) -> str:
        if self.refused:
            return "refused: record fails its signature"
        if self.signature in ("unsigned", "no-key") and self.meta:
            why = "unsigned record" if self.signature == "unsigned" else "no key to check it"
            return f"unverified ({why})"
        return str(self.meta.get("verdict", "unverified"))

    def to_json(self, now: datetime | None = None) -> dict[str, Any]:
        now = now or datetime.now(UTC)
        return {
            "path": str(self.path),
            "size": self.size,
            "revision": self.meta.get("revision"),
            "taken_at": self.taken_at.isoformat(timespec="seconds"),
            "age_s": round((now - self.taken_at).total_seconds(), 1),
            "verdict": self.verdict,
            "signature": self.signature,
            "verified_at": self.meta.get("verified_at"),
        }


def backups(folder: Path, cluster: str, key: bytes | None) -> list[Backup]:
    """The cluster's backups in `folder`, newest first (a missing folder: none). `key` is the
    record key (`record_key.load_key`); without it no record counts as verified."""
    pattern = _file_re(cluster)
    found = []
    try:
        entries = list(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    for p in entries:
        if not pattern.match(p.name) or (info := is_regular(p)) is None:
            continue
        meta = load_record(p)
        found.append(
            Backup(p, info.st_size, meta, _signature(key, meta, p, info.st_size), info.st_mtime)
        )
    return sorted(found, key=lambda b: (b.taken_at, b.path.name), reverse=True)


def load_record(backup_path: Path) -> dict[str, Any]:
    """The record beside a backup ({} when there is none or it is not a regular JSON file)."""
    data = read_record(backup_path.with_name(backup_path.name + ".json"))
    try:
        meta = json.loads(data) if data is not None else {}
    except ValueError:
        return {}
    return meta if isinstance(meta, dict) else {}


def _signature(key: bytes | None, meta: dict[str, Any], path: Path, size: int) -> str:
    """`record_key.verify`, and a signed record must name this file and its size (a record
    copied beside another file is refused too)."""
    if not meta:
        return "unsigned"
    verdict = verify(key, meta)
    if verdict == "ok" and (
        Path(str(meta.get("path", ""))).name != path.name or meta.get("size") != size
    ):
        return "bad"
    return verdict


def mark_verified(
    backup_path: Path, verdict: str, detail: str, key: bytes, extra: dict | None = None
) -> None:
    """Add the verification (and `extra` facts) to the record beside the file and sign it
    (atomic rewrite: a unique `O_EXCL|O_NOFOLLOW` temp file, 0600, renamed over the record)."""
    meta = load_record(backup_path)
    meta.update(extra or {})
    meta.update(
        verdict=verdict,
        verified_at=datetime.now(UTC).isoformat(timespec="seconds"),
        verify_detail=detail,
    )
    record = backup_path.with_name(backup_path.name + ".json")
    atomic_write(record, json.dumps(sign(key, meta), indent=2) + "\n", 0o600)


def note_offsite(backup_path: Path, targets: list[str], key: bytes) -> None:
    """Record in the (signed) local record that the copies to `targets` read back right: what
    `status` and `check` read for the off-site RPO without reaching the targets."""
    meta = load_record(backup_path)
    done = dict(meta.get("offsite") or {})
    at = datetime.now(UTC).isoformat(timespec="seconds")
    done.update({t: at for t in targets})
    meta["offsite"] = done
    record = backup_path.with_name(backup_path.name + ".json")
    atomic_write(record, json.dumps(sign(key, meta), indent=2) + "\n", 0o600)


@dataclass(frozen=True)
class OffsiteAge:
    """The newest backup copied to one target (by the signed local records)."""

    target: str
    state: str  # "ok" | "yellow" (older than 2x the schedule) | "red" (4x, or none)
    age_s: float | None
    file: str | None

    def to_json(self) -> dict[str, Any]:
        age = None if self.age_s is None else round(self.age_s, 1)
        return {"target": self.target, "state": self.state, "age_s": age, "file": self.file}


def offsite_ages(plan: Plan, now: datetime | None = None) -> list[OffsiteAge]:
    """Per `[backup] targets` entry: the age of the newest verified backup copied there."""
    now = now or datetime.now(UTC)
    try:
        every = parse_every(plan.backup.every or DEFAULT_EVERY)
    except ValueError:
        every = parse_every(DEFAULT_EVERY)
    found = [x for x in backups(plan_folder(plan), plan.cluster.name, load_key(plan)) if x.verified]
    out = []
    for target in plan.backup.targets:
        newest = next((x for x in found if target in (x.meta.get("offsite") or {})), None)
        if newest is None:
            out.append(OffsiteAge(target, "red", None, None))
            continue
        age = (now - newest.taken_at).total_seconds()
        state = "red" if age > 4 * every else "yellow" if age > 2 * every else "ok"
        out.append(OffsiteAge(target, state, age, newest.path.name))
    return out


def prune(folder: Path, cluster: str, keep: int, key: bytes) -> list[Path]:
    """Keep the newest `keep` verified backups; remove older verified ones (file and record).
    Unverified files are left for the operator to look at. Returns what was removed."""
    if keep < 1:
        raise ValueError("keep must be at least 1")
    removed = []
    for b in [b for b in backups(folder, cluster, key) if b.verified][keep:]:
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
    refused: tuple[str, ...] = ()  # records that fail their signature: named, never counted

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "age_s": None if self.age_s is None else round(self.age_s, 1),
            "path": self.path,
            "every_s": self.every_s,
            "dir": self.folder,
            "refused": list(self.refused),
        }


def backup_age(
    folder: Path, cluster: str, every_s: int, now: datetime | None = None, key: bytes | None = None
) -> BackupAge:
    now = now or datetime.now(UTC)
    found = backups(folder, cluster, key)
    refused = tuple(f"{b.path.name}.json" for b in found if b.refused)
    newest = next((b for b in found if b.verified), None)
    if newest is None:
        return BackupAge("red", None, None, every_s, str(folder), refused)
    age = (now - newest.taken_at).total_seconds()
    state = "red" if age > 4 * every_s else "yellow" if age > 2 * every_s else "ok"
    return BackupAge(state, age, str(newest.path), every_s, str(folder), refused)


def plan_folder(plan: Plan) -> Path:
    """Where the plan's `[backup]` (or the default) puts backups."""
    return plan.resolve(plan.backup.dir) if plan.backup.dir else default_dir(plan)


def plan_backup_age(plan: Plan, now: datetime | None = None) -> BackupAge:
    """The last verified backup where the plan's `[backup]` (or the defaults) puts them."""
    try:
        every = parse_every(plan.backup.every or DEFAULT_EVERY)
    except ValueError:
        every = parse_every(DEFAULT_EVERY)
    return backup_age(plan_folder(plan), plan.cluster.name, every, now, load_key(plan))


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


# The system unit runs as root: everything but the backup folder read-only, no capabilities
# (root still reads its own 0600 PKI files), no privilege gain, its own /tmp, no devices.
# `CapabilityBoundingSet=""` is the empty set (systemd unquotes it; a bare `=` means the same
# but reads like a value that went missing).
_SANDBOX = """\
ProtectSystem=strict
ReadWritePaths={folder}
ProtectHome={home}
PrivateTmp=yes
PrivateDevices=yes
NoNewPrivileges=yes
CapabilityBoundingSet=""
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
SystemCallArchitectures=native
SystemCallFilter=@system-service
ProtectProc=invisible
ProcSubset=pid
PrivateIPC=yes
"""

# What ProtectHome= hides: a plan, PKI, key or interpreter below one of these needs "read-only".
HOME_TREES = ("/home", "/root", "/run/user")


def protect_home(paths: list[Path]) -> str:
    """ "yes" (home folders invisible) unless something the run reads lives in one: then
    "read-only" (the backup folder, if it is there, is still writable via ReadWritePaths=)."""
    for p in paths:
        text = str(p)
        if any(text == t or text.startswith(t + "/") for t in HOME_TREES):
            return "read-only"
    return "yes"


def job_service_section(
    plan: Plan,
    argv: list[str],
    *,
    user_unit: bool,
    folder: Path | None,
    home: str,
    timeout_s: int,
) -> str:
    """The `[Service]` section every scheduled hawizard job shares (backup, maintenance,
    restore drill): a oneshot of `argv`, quoted for systemd, private files, low priority, and
    for a system unit the sandbox (`_SANDBOX`: writable only `folder`, the plan's backup
    folder by default; `home` is ProtectHome=). One renderer, so no job's unit can drift to a
    weaker sandbox than the others'."""
    if home not in ("yes", "read-only"):
        raise ValueError(f"ProtectHome={home!r}: expected yes or read-only")
    exec_start = " ".join(_exec_arg(a) for a in argv)
    if user_unit:
        sandbox = "NoNewPrivileges=yes\n"
    else:
        where = unit_word(folder if folder is not None else plan_folder(plan), "backup folder")
        sandbox = _SANDBOX.format(folder=where, home=home)
    return f"""\
[Service]
Type=oneshot
ExecStart={exec_start}
TimeoutStartSec={timeout_s}
UMask=0077
Nice=10
{sandbox}"""


def render_service(
    plan: Plan,
    argv: list[str],
    *,
    user_unit: bool,
    timeout_s: int = 900,
    folder: Path | None = None,
    home: str = "yes",
    unit: str = "",
    what: str = "verified etcd backup",
) -> str:
    """The oneshot service that runs one backup: `argv` is the full command (the python that
    runs hawizard, `-m hawizard etcd backup run PLAN --keep N --dir DIR`). A system unit is
    sandboxed (`_SANDBOX`, writable only `folder`); a user unit runs as its user already and
    gets `NoNewPrivileges=` (the rest needs privileges a user manager does not have).
    `folder` defaults to the plan's (`plan_folder`). The scheduled etcd maintenance
    (`hawizard.etcd.maintenance_units`) renders its service here too, with its own `unit`
    name, `what` it does and its writable `folder`, so both jobs run under the same sandbox."""
    if not argv:
        raise ValueError("the backup command is empty")
    service = job_service_section(
        plan, argv, user_unit=user_unit, folder=folder, home=home, timeout_s=timeout_s
    )
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

{service}
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
