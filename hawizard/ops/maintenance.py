"""Scheduled etcd maintenance: when a defragmentation is worth it, the record of the last run,
and the systemd timer that runs `hawizard etcd defrag PLAN --yes --if-needed`.

- `defrag_reasons`: a member qualifies when its DB file is above `[maintenance]
  defrag_above_mb` **and** less than `defrag_in_use_below` of it is live data. Both, because a
  small file is not worth blocking a member for, and a big dense one would not shrink. One
  qualifying member is enough: the run (`hawizard.ops.defrag`) then does every member, one at
  a time, the leader last, with its guard — the same Operation as a manual run.
- The last result (`<plan stem>.maintenance.json` beside the plan: when, the outcome, each
  member's DB before → after) is what `status --json` and the dashboard show. Written like
  every file beside the plan (`hawizard.sidecars`: a fresh `O_EXCL|O_NOFOLLOW` 0600 temp
  file, fsync, rename; read `O_NOFOLLOW|O_NONBLOCK`, regular files only). It is a report, not
  an operation in flight, so it is not one of `sidecars.RECORDS`.
- `schedule` / `unschedule`: the backup timer's way (`hawizard.ops.backup`): a root timer is
  refused when the code it would run is not root's alone, the service is the backup job's
  sandboxed unit (writable only the plan's folder, for the lock and this record), units
  written first (its `_write`), then `systemctl daemon-reload` and `enable --now`, with a
  refusal that says where the units are when there is no systemd to enable them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from hawizard import sidecars
from hawizard.etcd import backup as b
from hawizard.etcd import maintenance_units as units_mod
from hawizard.ops.local_units import (
    Schedule,
    code_paths,
    read_paths,
    refuse_foreign_writable,
    systemctl,
    unit_dir,
    write_unit,
)
from hawizard.ops.refusal import Refused
from hawizard.plan import MaintenanceSettings, Plan

__all__ = [
    "defrag_reasons",
    "maintenance_command",
    "outcome_of",
    "read_last",
    "record_path",
    "record_run",
    "result_record",
    "schedule",
    "unschedule",
    "write_last",
]

MIB = 1024**2


def defrag_reasons(
    sizes: dict[str, tuple[int, int]], settings: MaintenanceSettings
) -> dict[str, str]:
    """{member: why it qualifies} for the members whose (DB size, in use) meet both
    thresholds; empty: no defragmentation is needed."""
    out: dict[str, str] = {}
    for name, (db, in_use) in sizes.items():
        if db <= settings.defrag_above_mb * MIB or db <= 0:
            continue
        share = in_use / db
        if share < settings.defrag_in_use_below:
            out[name] = (
                f"{db / MIB:.1f} MiB, {share:.0%} in use "
                f"(above {settings.defrag_above_mb} MiB, under {settings.defrag_in_use_below:.0%})"
            )
    return out


def below_thresholds(sizes: dict[str, tuple[int, int]], settings: MaintenanceSettings) -> str:
    """One line saying why nothing qualifies (for the skip record and the log)."""
    largest = max(sizes.items(), key=lambda kv: kv[1][0], default=None)
    if largest is None:
        return "no member reported its backend"
    name, (db, in_use) = largest
    share = in_use / db if db else 1.0
    return (
        f"no member is above {settings.defrag_above_mb} MiB with under "
        f"{settings.defrag_in_use_below:.0%} in use (largest: {name} {db / MIB:.1f} MiB, "
        f"{share:.0%} in use)"
    )


MAX_READINGS = 120  # in-use readings kept across runs (four months of a daily timer)


def in_use_readings(plan_path: str | os.PathLike[str]) -> list[tuple[float, float]]:
    """(seconds since the epoch, largest in-use size) of the runs so far, oldest first: what
    `hawizard check` fits the quota forecast to (`hawizard.forecast`)."""
    out: list[tuple[float, float]] = []
    for item in (read_last(plan_path) or {}).get("in_use_readings") or ():
        with contextlib.suppress(TypeError, ValueError):
            at, size = item
            out.append((float(at), float(size)))
    return out[-MAX_READINGS:]


def result_record(
    outcome: str,
    reason: str,
    *,
    if_needed: bool,
    report: dict[str, Any] | None = None,
    readings: list[tuple[float, float]] | None = None,
) -> dict[str, Any]:
    """The record of one run. `outcome`: "defragmented" | "skipped" (below the thresholds) |
    "refused" (the cluster was not ready, or NOSPACE cannot be cleared) | "stopped" (the guard,
    or a failed step). `readings`: the earlier runs' in-use readings; this run's (the largest
    member's live data before it started) is appended."""
    report = report or {}
    now = dt.datetime.now(dt.UTC)
    readings = list(readings or [])
    in_use = [m.get("in_use_before") for m in report.get("members", ())]
    if in_use and all(isinstance(x, int) for x in in_use):
        readings.append((round(now.timestamp(), 1), max(in_use)))
    return {
        "in_use_readings": [list(r) for r in readings[-MAX_READINGS:]],
        "at": now.isoformat(timespec="seconds"),
        "outcome": outcome,
        "reason": reason,
        "if_needed": if_needed,
        "leader_at_start": report.get("leader_at_start"),
        "members": [
            {k: m.get(k) for k in ("name", "db_before", "db_after", "in_use_before", "blocked_s")}
            for m in report.get("members", ())
        ],
    }


def outcome_of(op: Any, result: Any) -> tuple[str, str]:
    """(outcome, reason) of a finished `Defrag` run for its record."""
    from hawizard.ops.defrag import blocked_summary

    if op.refusal is not None:
        return "refused", op.refusal.reason
    if not result.ok:
        return "stopped", "; ".join(f.error for f in result.failures)[:500]
    return "defragmented", "blocked " + (blocked_summary(op) or "none")


def record_run(
    plan: Plan, outcome: str, reason: str, *, if_needed: bool, report: dict | None = None
) -> Path | None:
    """Keep this run's result beside the plan (with the earlier runs' in-use readings plus
    this one's). None for a plan without a file. Raises OSError when it cannot be written."""
    if plan.source is None:
        return None
    doc = result_record(
        outcome,
        reason,
        if_needed=if_needed,
        report=report,
        readings=in_use_readings(plan.source),
    )
    return write_last(plan.source, doc)


# --- the record beside the plan ---------------------------------------------------------------


def record_path(plan_path: str | os.PathLike[str]) -> Path:
    path = Path(plan_path)
    return path.with_name(f"{path.stem}.maintenance.json")


def write_last(plan_path: str | os.PathLike[str], data: dict[str, Any]) -> Path:
    """Replace the record atomically (`sidecars.write_json`); a symlink or non-file at its
    place is refused (`UnsafeSidecar`, an OSError), never followed."""
    path = record_path(plan_path)
    sidecars.write_json(path, data)
    return path


def read_last(plan_path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The last run's record; None when there is none or it cannot be trusted as one (a
    symlink, a FIFO, too big, not a JSON object)."""
    try:
        doc = sidecars.read_json(record_path(plan_path))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


# --- the timer ---------------------------------------------------------------------------------


def maintenance_command(plan: Plan) -> list[str]:
    if plan.source is None:
        raise Refused("the plan has no file", "save the plan first; the timer runs it by path")
    plan_file = str(Path(plan.source).resolve())
    return [sys.executable, "-m", "hawizard", "etcd", "defrag", plan_file, "--yes", "--if-needed"]


def check_calendar(expression: str) -> str:
    """systemd's own verdict on the expression ("" when fine, or systemd-analyze is absent)."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        return ""
    try:
        r = subprocess.run(
            [tool, "calendar", expression], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return "" if r.returncode == 0 else (r.stderr.strip() or r.stdout.strip())[-200:]


def render_units(plan: Plan, *, user: bool) -> tuple[str, str]:
    """(service, timer) text, or `Refused` naming the field and the fix."""
    every = plan.maintenance.every
    if not every:
        raise Refused(
            "the plan has no maintenance schedule",
            'set [maintenance] every = "daily" (a systemd calendar expression) in the plan',
        )
    why = check_calendar(every)
    if why:
        raise Refused(
            f"maintenance.every: systemd does not accept {every!r}: {why}",
            'use e.g. "daily", "weekly" or "Sun *-*-* 03:00:00"',
        )
    argv = maintenance_command(plan)
    folder = Path(plan.source).resolve().parent  # its lock and this record live there
    home = b.protect_home([Path(a) for a in argv if a.startswith("/")] + read_paths(plan))
    try:
        service = units_mod.render_service(plan, argv, user_unit=user, folder=folder, home=home)
        timer = units_mod.render_timer(plan, every)
    except ValueError as exc:
        raise Refused(
            str(exc), "move the plan to a folder without spaces, quotes or control characters"
        ) from None
    return service, timer


def schedule(
    plan: Plan, *, user: bool | None = None, units: Path | None = None, enable: bool = True
) -> Schedule:
    """Write (0644) and enable the timer + service. `units` overrides the unit folder (tests)."""
    user = os.geteuid() != 0 if user is None else user
    if not user:
        refuse_foreign_writable(code_paths(), "the maintenance timer")
    service_text, timer_text = render_units(plan, user=user)
    target = units or unit_dir(user=user)
    target.mkdir(parents=True, exist_ok=True)
    name = units_mod.unit_name(plan)
    service, timer = target / f"{name}.service", target / f"{name}.timer"
    write_unit(service, service_text)
    write_unit(timer, timer_text)
    if not enable:
        return Schedule(service, timer, user, False, "units written, not enabled")
    ok, why = systemctl(user, "daemon-reload")
    if ok:
        ok, why = systemctl(user, "enable", "--now", f"{name}.timer")
    if not ok:
        raise Refused(
            f"the units are written ({service}, {timer}) but systemd could not enable them: {why}",
            "run hawizard where systemd runs (PID 1, or a user manager for --user units), or "
            f"start `{' '.join(maintenance_command(plan))}` from your own scheduler",
        )
    return Schedule(service, timer, user, True)


def unschedule(plan: Plan, *, user: bool | None = None, units: Path | None = None) -> list[Path]:
    user = os.geteuid() != 0 if user is None else user
    target = units or unit_dir(user=user)
    name = units_mod.unit_name(plan)
    systemctl(user, "disable", "--now", f"{name}.timer")  # may not be running
    removed = []
    for p in (target / f"{name}.timer", target / f"{name}.service"):
        if p.exists():
            p.unlink()
            removed.append(p)
    systemctl(user, "daemon-reload")
    return removed
