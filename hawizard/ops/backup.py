"""Backups that exist before the disaster: one verified run, the schedule, the list.

- `run_backup`: a snapshot from a healthy member (a follower when there is one) into the
  backup folder — downloaded, checked against the node's sha256, written to a temp name,
  fsynced and renamed (`hawizard.etcd.snapshot`) — then verified again from the file on disk
  (sha256 against its record, `etcdutl snapshot status`), marked verified, and only then are
  verified backups beyond the newest `keep` removed. A cluster without a healthy member fails
  the run loudly (`BackupFailed`, exit 1: the systemd unit fails and journald keeps the line)
  and removes nothing.
- `schedule` / `unschedule`: a systemd timer + oneshot service on the machine hawizard runs on
  (`--user` units when not root) whose ExecStart is `python -m hawizard etcd backup run …`.
  The units are written first; enabling needs a running systemd (PID 1 for system units, a
  user manager for `--user`), and when there is none the error says so and where the units are.

Issue 25: the folder must be the operator's own and private (`etcd.backup_folder`); a system
unit runs as root, so it is sandboxed (`etcd.backup._SANDBOX`) and refused when the
interpreter or the code it runs could be changed by anyone but root; records are signed with
the key in the PKI folder (`pki.record_key`), made here so the read-only sandbox only reads it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hawizard.etcd import backup as b
from hawizard.etcd import offsite
from hawizard.etcd.backup_folder import UnsafeFolder, check_folder
from hawizard.etcd.offsite import ShipResult
from hawizard.etcd.restore import BadSnapshot, inspect_snapshot
from hawizard.etcd.snapshot import SnapshotError, SnapshotInfo, default_path, take_snapshot
from hawizard.ops.local_units import (  # some of them re-exported: this module's API too
    Schedule,
    code_paths,
    foreign_writable,
    read_paths,
    refuse_foreign_writable,
    systemctl,
    unit_dir,
    write_unit,
)
from hawizard.ops.refusal import Refused
from hawizard.pki.record_key import ensure_key, load_key
from hawizard.plan import Plan

__all__ = [
    "BackupFailed",
    "BackupOperation",
    "BackupResult",
    "Schedule",
    "backup",
    "backup_settings",
    "code_paths",
    "foreign_writable",
    "run_backup",
    "schedule",
    "unit_dir",
    "unschedule",
]


class BackupFailed(Exception):
    """This run produced no verified backup; earlier backups are untouched."""


@dataclass
class BackupResult:
    info: SnapshotInfo
    removed: list[Path] = field(default_factory=list)
    shipped: list[ShipResult] = field(default_factory=list)  # one per `[backup] targets`

    @property
    def ok(self) -> bool:
        """The local backup is verified and every off-site copy read back right."""
        return all(s.ok for s in self.shipped)


def backup_settings(
    plan: Plan, every: str | None = None, keep: int | None = None, folder: str | None = None
) -> tuple[int, int, Path]:
    """(every seconds, keep, folder): flags first, then the plan's `[backup]`, then defaults."""
    section = getattr(plan, "backup", None)
    every = every or (section.every if section and section.every else b.DEFAULT_EVERY)
    keep = keep if keep is not None else (section.keep if section else b.DEFAULT_KEEP)
    if folder is None and section is not None and section.dir:
        out = plan.resolve(section.dir)
    elif folder is not None:
        out = Path(folder).expanduser().resolve()
    else:
        out = b.default_dir(plan)
    try:
        seconds = b.parse_every(every)
    except ValueError as exc:
        raise Refused(f"--every: {exc}", "e.g. --every 1h") from None
    if not 1 <= keep <= 10000:
        raise Refused(f"--keep {keep} is out of range", "keep 1 to 10000 backups")
    return seconds, keep, out


@dataclass
class BackupOperation:
    """`etcd backup run` as a read-only Operation (`ops.operation.drive`, `exclusive =
    False`): no plan lock and no refusal for another operation in flight, so a timer's
    backup runs during an apply or beside a stale record; its start and end still reach the
    flight recorder. Its judgement (a healthy member with quorum) is part of the run, where
    a failure is `BackupFailed` (exit 1, the line journald keeps), as before."""

    command: str
    folder: Path
    keep: int
    say: Callable[[str], None] | None = None
    title: str = "verified backup"
    record: str | None = None
    exclusive: bool = False
    plan: Plan | None = None
    result: BackupResult | None = None

    def assess(self, plan: Plan) -> bool:
        self.plan = plan
        return True

    def begin(self, dry_run: bool) -> None:
        return None

    def phases(self) -> list:
        from hawizard.steps import Phase, Step

        def apply(_local) -> None:
            assert self.plan is not None
            self.result = run_backup(self.plan, self.folder, self.keep, say=self.say)

        return [Phase("backup", [Step(None, self.title, None, apply)])]

    def finish(self, ok: bool) -> None:
        return None


def backup(
    plan: Plan,
    folder: Path,
    keep: int,
    *,
    command: str = "hawizard etcd backup run",
    say: Callable[[str], None] | None = None,
) -> BackupResult:
    """One verified backup through the driver. Raises `BackupFailed` or `Refused`."""
    from hawizard.ops.operation import drive, run_inline

    op = BackupOperation(command, folder, keep, say)
    drive(op, plan, run_inline)
    assert op.result is not None
    return op.result


def run_backup(
    plan: Plan, folder: Path, keep: int, *, say: Callable[[str], None] | None = None
) -> BackupResult:
    from hawizard.etcd.probe import cluster_health

    say = say or (lambda line: None)
    folder = safe_folder(folder)
    try:
        key = load_key(plan) or ensure_key(plan)
    except OSError as exc:
        raise BackupFailed(f"no backup: the record key cannot be made ({exc})") from None
    try:
        health = cluster_health(plan)
    except OSError as exc:
        raise BackupFailed(f"cannot use the operator's etcd client certificate ({exc})") from None
    healthy = [m for m in health.members if m.in_plan and m.healthy and not m.is_learner]
    if not healthy or not health.quorum_ok:
        raise BackupFailed(
            f"no backup: cluster {plan.cluster.name} has no healthy member with quorum "
            f"({health.summary}); earlier backups in {folder} are kept"
        )
    member = sorted(healthy, key=lambda m: m.is_leader)[0]
    out = _unused(default_path(plan).name, folder)
    # imported here: paramiko is ~30 ms, and the status round (the dashboard's first frame)
    # reads the maintenance record through this module without ever taking a snapshot
    from hawizard.remote import Host, HostKeyError, RemoteError

    try:
        with Host.from_plan(plan, member.name) as host:
            info = take_snapshot(host, plan, plan.node(member.name), out, say=say)
    except (SnapshotError, RemoteError, HostKeyError, OSError) as exc:
        raise BackupFailed(f"no backup: the snapshot from {member.name} failed: {exc}") from None
    assert info is not None
    try:
        checked = inspect_snapshot(info.path, plan)
    except BadSnapshot as exc:
        b.mark_verified(info.path, "failed", str(exc), key)
        raise BackupFailed(f"backup {info.path} failed verification: {exc}") from None
    if checked.sha256 != info.sha256:
        b.mark_verified(info.path, "failed", "sha256 changed on disk", key)
        raise BackupFailed(f"backup {info.path} changed on disk after it was written")
    b.mark_verified(
        info.path,
        "ok",
        f"sha256 + etcdutl status (revision {checked.revision})",
        key,
        {"fingerprints": offsite.fingerprints(plan)},  # what a restore needs (issue 28)
    )
    removed = b.prune(folder, plan.cluster.name, keep, key)
    for p in removed:
        say(f"removed {p.name} (keeping the newest {keep})")
    shipped = []
    if plan.backup.targets:
        meta = dict(b.load_record(info.path), keys=_live_keys(plan, info.revision))
        shipped = offsite.ship(plan, info.path, meta, key, say=say)
        b.note_offsite(info.path, [s.target for s in shipped if s.ok], key)
        for s in shipped:
            for name in s.removed:
                say(f"removed {name} from {s.target} (retention)")
    return BackupResult(info, removed, shipped)


def _live_keys(plan: Plan, revision: int | None) -> int | None:
    """How many keys the cluster held at the snapshot's revision (a count-only range read at
    that revision): what the drill's restored member must hold. None when it cannot be read
    (compacted already, or no member answers): the drill then checks the rest."""
    import base64

    from hawizard.etcd.cluster_api import ClusterAPI, EtcdRefused, GatewayUnreachable, targets_for

    if revision is None:
        return None
    zero = base64.b64encode(b"\0").decode()
    body = {"key": zero, "range_end": zero, "count_only": True, "revision": revision}
    try:
        data = ClusterAPI(plan, targets_for(plan, plan.etcd_nodes)).call("/v3/kv/range", body)
        return int(data.get("count", 0))
    except (GatewayUnreachable, EtcdRefused, OSError, ValueError):
        return None


def safe_folder(folder: Path, *, create: bool = True) -> Path:
    """`etcd.backup_folder.check_folder` as a refusal naming the field and the fix."""
    try:
        return check_folder(folder, create=create)
    except UnsafeFolder as exc:
        raise Refused(f"[backup] dir / --dir: {exc}", exc.hint) from None


def _unused(name: str, folder: Path) -> Path:
    path = folder / name
    n = 1
    while path.exists():
        n += 1
        path = folder / f"{name.removesuffix('.db')}-{n}.db"
    return path


# --- the schedule ---------------------------------------------------------------------------


def backup_command(plan: Plan, folder: Path, keep: int) -> list[str]:
    if plan.source is None:
        raise Refused("the plan has no file", "save the plan first; the timer runs it by path")
    return [
        sys.executable,
        "-m",
        "hawizard",
        "etcd",
        "backup",
        "run",
        str(Path(plan.source).resolve()),
        "--keep",
        str(keep),
        "--dir",
        str(folder),
    ]


def schedule(
    plan: Plan,
    every_s: int,
    keep: int,
    folder: Path,
    *,
    user: bool | None = None,
    units: Path | None = None,
    enable: bool = True,
) -> Schedule:
    """Write (0644) and enable the timer + service. `units` overrides the unit folder (tests)."""
    user = os.geteuid() != 0 if user is None else user
    folder = safe_folder(folder)
    if not user:
        refuse_foreign_writable(code_paths(), "the backup timer")
    try:
        ensure_key(plan)  # the sandboxed run can only read the PKI folder
    except OSError as exc:
        raise Refused(f"cannot make the backup record key: {exc}", "check the PKI folder") from None
    target = units or unit_dir(user=user)
    target.mkdir(parents=True, exist_ok=True)
    name = b.unit_name(plan)
    argv = backup_command(plan, folder, keep)
    home = b.protect_home([Path(a) for a in argv if a.startswith("/")] + read_paths(plan))
    try:
        service_text = b.render_service(plan, argv, user_unit=user, folder=folder, home=home)
        timer_text = b.render_timer(plan, every_s)
    except ValueError as exc:
        raise Refused(
            str(exc), "choose a backup folder path without spaces, quotes or control characters"
        ) from None
    service, timer = target / f"{name}.service", target / f"{name}.timer"
    write_unit(service, service_text)
    write_unit(timer, timer_text)
    drill = _write_drill_units(plan, target, user, folder)
    if not enable:
        return Schedule(service, timer, user, False, "units written, not enabled")
    ok, why = systemctl(user, "daemon-reload")
    if ok:
        ok, why = systemctl(user, "enable", "--now", f"{name}.timer")
    if ok and drill is not None:
        ok, why = systemctl(user, "enable", "--now", drill.name)
    if not ok:
        raise Refused(
            f"the units are written ({service}, {timer}) but systemd could not enable them: {why}",
            "run hawizard where systemd runs (PID 1, or a user manager for --user units), or "
            f"start `{' '.join(backup_command(plan, folder, keep))}` from your own scheduler",
        )
    return Schedule(service, timer, user, True)


def _write_drill_units(plan: Plan, target: Path, user: bool, folder: Path) -> Path | None:
    """`[backup] drill`: the restore-drill timer + service beside the backup units (issue
    28); its timer's path, or None when the plan asks for no timed drill."""
    from hawizard.etcd.drill_units import drill_unit_name, render_drill_service, render_drill_timer

    bk = plan.backup
    if not bk.drill:
        return None
    assert plan.source is not None  # backup_command refused a plan without a file
    argv = [sys.executable, "-m", "hawizard", "etcd", "backup", "drill"]
    argv.append(str(Path(plan.source).resolve()))
    read = read_paths(plan)
    if bk.drill_identity:
        identity = plan.resolve(bk.drill_identity)
        argv += ["--identity", str(identity)]
        read.append(identity)
    home = b.protect_home([Path(a) for a in argv if a.startswith("/")] + read)
    try:
        service = render_drill_service(plan, argv, user_unit=user, folder=folder, home=home)
        timer = render_drill_timer(plan, b.parse_every(bk.drill))
    except ValueError as exc:
        raise Refused(f"[backup] drill: {exc}", 'e.g. drill = "1d"') from None
    name = drill_unit_name(plan)
    write_unit(target / f"{name}.service", service)
    write_unit(target / f"{name}.timer", timer)
    return target / f"{name}.timer"


def unschedule(plan: Plan, *, user: bool | None = None, units: Path | None = None) -> list[Path]:
    from hawizard.etcd.drill_units import drill_unit_name

    user = os.geteuid() != 0 if user is None else user
    target = units or unit_dir(user=user)
    name = b.unit_name(plan)
    drill = drill_unit_name(plan)
    systemctl(user, "disable", "--now", f"{name}.timer")  # best effort: may not be running
    if (target / f"{drill}.timer").exists():
        systemctl(user, "disable", "--now", f"{drill}.timer")
    removed = []
    for p in (
        target / f"{name}.timer",
        target / f"{name}.service",
        target / f"{drill}.timer",
        target / f"{drill}.service",
    ):
        if p.exists():
            p.unlink()
            removed.append(p)
    systemctl(user, "daemon-reload")
    return removed
