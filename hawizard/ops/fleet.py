"""The fleet: several clusters' plans, each probed on its own, one row per cluster.

`hawizard dashboard PLAN PLAN …` (or a folder of plans) opens the fleet screen instead of
one dashboard. This module is its UI-free half: which plans make the fleet (`gather`: every
`*.toml` in a folder that loads as a plan; the files skipped, with why), and what one round
of a cluster says in a row (`row_of`, from the same `StatusReport` as `hawizard status`).
Probing is the face's job, through the same backend as the dashboard, concurrently and
bounded, so a dead cluster costs its own row's timeout and never the others'.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hawizard.ops.status import StatusReport
    from hawizard.plan import Plan

__all__ = ["FleetError", "FleetRow", "Member", "gather", "row_of"]

MIB = 1 << 20


class FleetError(ValueError):
    """A path that names no plan: the message names it and the fix."""


@dataclass(frozen=True)
class Member:
    """One cluster of the fleet: its plan file and the plan."""

    path: Path
    plan: Plan

    @property
    def name(self) -> str:
        return self.plan.cluster.name


@dataclass(frozen=True)
class FleetRow:
    """What the fleet screen shows for one cluster after a round (plain words and a state
    for the colour: "ok", "warn", "bad")."""

    state: str  # "healthy" | "degraded" | "quorum_lost"
    words: str  # "✔ HEALTHY"
    healthy: str  # "2/3": healthy voters of the voters
    all_healthy: bool  # every member of the plan healthy
    tolerance: str
    leader: str
    db: str  # the largest member's DB against the quota
    db_state: str
    cert: str  # the certificate that expires first
    cert_state: str
    backup: str
    backup_state: str
    vip: str


def gather(paths: list[str]) -> tuple[list[Member], list[tuple[Path, str]]]:
    """The plans named by `paths` (files, or folders whose `*.toml` are plans), in the order
    given (a folder's sorted by name), each once. Returns them and the folder files skipped
    with why. Raises `FleetError` for a path that does not exist or a named file that is not
    a valid plan (named files are meant, so their problems are errors)."""
    from hawizard.plan import PlanError, load

    members: list[Member] = []
    skipped: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for text in paths:
        path = Path(text).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.glob("*.toml") if p.is_file())
            if not files:
                raise FleetError(f"{text}: no *.toml plan in this folder; name plan files")
        elif path.is_file():
            files = [path]
        else:
            raise FleetError(f"{text}: no such file or folder; give plan files or a folder")
        for file in files:
            resolved = file.resolve()
            if resolved in seen:
                continue
            try:
                plan = load(file)
            except PlanError as exc:
                if path.is_dir():
                    skipped.append((file, str(exc.problems[0]) if exc.problems else "not a plan"))
                    continue
                raise FleetError(f"{text}: not a valid plan ({exc.problems[0]})") from None
            seen.add(resolved)
            members.append(Member(resolved, plan))
    if not members:
        raise FleetError("no plan to show: every file was skipped (see above)")
    return members, skipped


def row_of(report: StatusReport, now: dt.datetime | None = None) -> FleetRow:
    """One cluster's row from its round (what `hawizard status` would print, in a line)."""
    h = report.health
    now = now or dt.datetime.now(dt.UTC)
    state = h.state.value
    words = {"healthy": "✔ HEALTHY", "degraded": "▲ DEGRADED", "quorum_lost": "✖ QUORUM LOST"}
    db, db_state = _db(h)
    cert, cert_state = _first_cert(h)
    backup, backup_state = _backup(report.backup)
    holders = report.balancer.holders if report.balancer is not None else None
    vip = "–" if holders is None or not report.balancer.vip else ", ".join(holders) or "none"
    return FleetRow(
        state=state,
        words=words.get(state, state),
        healthy=f"{h.healthy_voters}/{h.voter_count}",
        all_healthy=all(m.healthy for m in h.members if m.in_plan),
        tolerance=str(h.tolerates),
        leader=h.leader_name or "none",
        db=db,
        db_state=db_state,
        cert=cert,
        cert_state=cert_state,
        backup=backup,
        backup_state=backup_state,
        vip=vip,
    )


def _db(h) -> tuple[str, str]:
    sized = [m for m in h.members if m.db_size is not None]
    if not sized:
        return "–", ""
    big = max(sized, key=lambda m: m.db_size or 0)
    pct = 100.0 * (big.db_size or 0) / big.quota_bytes if big.quota_bytes else 0.0
    state = "bad" if pct >= 90 else "warn" if pct >= 75 else "ok"
    return f"{(big.db_size or 0) / MIB:.1f} MiB ({pct:.0f}%)", state


def _first_cert(h) -> tuple[str, str]:
    if not h.certificates:
        return "–", ""
    first = min(h.certificates, key=lambda c: c.days_left)
    state = "bad" if first.days_left < 7 else "warn" if first.days_left < 30 else "ok"
    return f"{first.name} {first.days_left} d", state


def _backup(age) -> tuple[str, str]:
    if age is None or age.age_s is None:
        return "none", "warn"
    seconds = age.age_s
    text = (
        f"{seconds / 86400:.1f} d"
        if seconds >= 86400
        else f"{seconds / 3600:.1f} h"
        if seconds >= 3600
        else f"{seconds / 60:.0f} min"
    )
    return text, {"ok": "ok", "yellow": "warn"}.get(age.state, "bad")
