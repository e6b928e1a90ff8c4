"""Judging a restore before anything changes, and the record of the restore in flight.

`assess` is everything that can refuse a restore (`hawizard.ops.restore` runs it under the
plan lock): the snapshot, the quorum gate (fails closed: a member the operator's machine
cannot see is judged on its node over SSH), every member reachable. The record
`<plan stem>.restore.json` names the restore in flight, so running the same command again
resumes it and a restore from another file is refused until it is finished.
"""

from __future__ import annotations

import shlex
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hawizard import sidecars
from hawizard.etcd import render
from hawizard.etcd.local_health import MemberVerdict, judge_on_nodes
from hawizard.etcd.restore import (
    BadSnapshot,
    SnapshotFile,
    aside_path,
    inspect_snapshot,
    new_stamp,
)
from hawizard.health import ClusterHealth
from hawizard.ops.refusal import Refused
from hawizard.plan import Node, Plan
from hawizard.remote import Host, HostKeyError, RemoteError, Timeouts

__all__ = [
    "Assessment",
    "RestoreRecord",
    "assess",
    "clear_record",
    "describe",
    "read_record",
    "record_path",
    "write_record",
]

REACH_TIMEOUTS = Timeouts(connect=5, banner=5, auth=5, command=20)


# --- the restore in flight ----------------------------------------------------------------


@dataclass(frozen=True)
class RestoreRecord:
    id: str  # 8 hex digits: in the journal keys, the token, the work dir
    stamp: str  # UTC, names the aside dirs
    snapshot: str
    sha256: str
    started: str
    cluster_id_before: str = ""


def record_path(plan_path: Path) -> Path:
    return sidecars.record_path(plan_path, "restore")


def read_record(plan_path: Path) -> RestoreRecord | None:
    path = record_path(plan_path)
    try:
        data = sidecars.read_record(plan_path, "restore")
        return None if data is None else RestoreRecord(**data)
    except (OSError, ValueError, TypeError) as exc:
        raise Refused(
            f"{path}: unreadable restore record ({exc})",
            "it names the restore in progress; fix it, or remove it only if no restore ran",
        ) from None


def write_record(plan_path: Path, record: RestoreRecord) -> None:
    sidecars.write_record(plan_path, "restore", asdict(record))


def clear_record(plan_path: Path) -> None:
    sidecars.clear_record(plan_path, "restore")


# --- judging ----------------------------------------------------------------------------------


@dataclass
class Assessment:
    plan: Plan
    snapshot: SnapshotFile
    health: ClusterHealth | None
    record: RestoreRecord
    resume: bool
    forced: bool  # the cluster had quorum and the caller insisted
    warnings: list[str] = field(default_factory=list)
    new_machines: list[str] = field(default_factory=list)  # reachable, no etcd yet: installed

    def command(self, plan_label: str) -> str:
        return shlex.join(["hawizard", "etcd", "restore", plan_label, self.record.snapshot])

    def to_json(self) -> dict[str, Any]:
        return {
            "snapshot": self.snapshot.to_json(),
            "resume": self.resume,
            "forced": self.forced,
            "restore_id": self.record.id,
            "old_data_dirs": aside_path(self.plan, self.record.stamp),
            "cluster_id_before": self.record.cluster_id_before or None,
            "health_before": self.health.summary if self.health else None,
            "warnings": self.warnings,
        }


def assess(
    plan: Plan,
    snapshot: Path | str,
    *,
    force_while_healthy: bool = False,
    trust_new: bool = False,
    probe: Callable[[Plan], ClusterHealth] | None = None,
    judge: Callable[[Plan], dict[str, MemberVerdict]] | None = None,
) -> Assessment:
    """Everything that can refuse, before anything changes; raises `Refused`.

    The quorum gate fails closed: when the operator's own probe does not see quorum, each
    member is judged on its node over SSH (`judge`, by default `judge_on_nodes`), and a member
    that cannot be judged counts as healthy. A leftover record (a resume) is judged again
    unless the journal shows its members were already stopped by that restore."""
    if plan.source is None:
        raise Refused("the plan has no file", "save the plan first: its journal lives beside it")
    if not plan.etcd_nodes:
        raise Refused("the plan has no etcd nodes to restore onto", "give nodes the etcd role")
    label = str(plan.source)
    record = read_record(plan.source)
    try:
        snap = inspect_snapshot(Path(snapshot), plan)
    except BadSnapshot as exc:
        hint = f"choose another snapshot: `hawizard etcd backup list {label}`"
        raise Refused(str(exc), hint) from None
    if record is not None and record.sha256 != snap.sha256:
        raise Refused(
            f"a restore from {record.snapshot} (started {record.started}) has not finished",
            f"finish it first: `hawizard etcd restore {label} {record.snapshot}`",
        )
    health = _probe(plan, probe)
    resume = record is not None
    forced = False
    if not (resume and _members_stopped(plan, record)):
        forced = _quorum_gate(plan, health, force_while_healthy, trust_new, judge, label)
    fresh = _reachable(plan, trust_new, label, str(snap.path))
    if record is None:
        record = RestoreRecord(
            id=uuid.uuid4().hex[:8],
            stamp=new_stamp(),
            snapshot=str(snap.path),
            sha256=snap.sha256,
            started=datetime.now(UTC).isoformat(timespec="seconds"),
            cluster_id_before=(health.cluster_id if health else "") or "",
        )
    warnings = list(snap.warnings)
    if forced:
        warnings.append(
            "the cluster is healthy: every write after the snapshot will be lost "
            f"({snap.age_s():.0f} s of changes at least)"
        )
    warnings += [
        f"{name} has no etcd yet (a new machine?): etcd, its certificates and configuration "
        "are installed first, as `apply` would"
        for name in fresh
    ]
    return Assessment(plan, snap, health, record, resume, forced, warnings, fresh)


def _members_stopped(plan: Plan, record: RestoreRecord) -> bool:
    """True once the recorded restore has stopped a member (its `once` step is journaled):
    from then on the old cluster is gone by our hand and the resume must go on."""
    from hawizard.journal import Journal, JournalError

    try:
        journal = Journal.for_plan(plan)
    except JournalError:
        return False
    return any(
        journal.done_once(f"restore/{record.id}/{m.name}/stop") is not None for m in plan.etcd_nodes
    )


def _quorum_gate(
    plan: Plan,
    health: ClusterHealth | None,
    force: bool,
    trust_new: bool,
    judge: Callable[[Plan], dict[str, MemberVerdict]] | None,
    label: str,
) -> bool:
    """Refuse while the cluster may still have quorum; True when the caller forced it."""
    hint = (
        f"replace failed members instead: `hawizard etcd replace {label} OLD NEW`; to "
        "restore anyway pass --force-while-healthy (you will be asked twice)"
    )
    if health is not None and health.quorum_ok:
        if not force:
            raise Refused(
                f"the cluster has quorum ({health.summary}); a restore would throw away every "
                "write since the snapshot",
                hint,
            )
        return True
    verdicts = (judge or (lambda p: judge_on_nodes(p, trust_new=trust_new)))(plan)
    alive = [n for n, v in verdicts.items() if v.state != "down"]
    need = len(plan.etcd_nodes) // 2 + 1
    if len(alive) < need:
        return False
    if force:
        return True
    raise Refused(
        f"the cluster may still have quorum: {len(alive)} of {len(plan.etcd_nodes)} members "
        "are healthy or could not be judged on their nodes, although the operator's machine "
        "cannot confirm it; a restore would throw away every write since the snapshot",
        hint + "; or fix the operator's access to the client port (firewall, certificate) "
        f"and check with `hawizard status {label}`",
        details=[f"{n}: {v.describe()}" for n, v in verdicts.items()],
    )


def _probe(plan: Plan, probe) -> ClusterHealth | None:
    from hawizard.etcd.probe import cluster_health

    try:
        return (probe or cluster_health)(plan)
    except OSError as exc:
        raise Refused(
            f"cannot use the operator's etcd client certificate ({exc})",
            f"hawizard certs check {plan.source}",
        ) from None


def _reachable(plan: Plan, trust_new: bool, label: str, snapshot: str) -> list[str]:
    """Every plan member must answer over SSH: a restore onto some members only would leave a
    cluster whose membership does not match the plan. Returns the members without etcd (new
    machines the operator put in the plan for lost ones): the restore installs it first."""
    unit, binary = render.UNIT_PATH, render.etcd_binary(plan)

    def check(node: Node) -> str | None:
        try:
            with Host.from_plan(plan, node, trust_new=trust_new, timeouts=REACH_TIMEOUTS) as h:
                # no sudo: both are world-readable, and a sudo password is asked for later
                r = h.probe(
                    f"test -f {shlex.quote(unit)} && test -x {shlex.quote(binary)}",
                    timeout=20,
                    sudo=False,
                )
                if r.exited != 0:
                    return f"new:{node.name}"
        except (RemoteError, HostKeyError, OSError) as exc:
            return f"{node.name} cannot be reached: {exc}"
        return None

    with ThreadPoolExecutor(max_workers=min(10, len(plan.etcd_nodes))) as pool:
        found = [p for p in pool.map(check, plan.etcd_nodes) if p]
    problems = [p for p in found if not p.startswith("new:")]
    if problems:
        names = ", ".join(p.split(":", 1)[0].split(" ", 1)[0] for p in problems)
        raise Refused(
            "; ".join(problems),
            f"bring {names} back (or install etcd with `hawizard apply {label} --only etcd "
            "--dry-run` to see what is missing), then run "
            f"`hawizard etcd restore {label} {snapshot}`; or drop {names} from the plan "
            "(remove the etcd role) first and restore onto the other members",
        )
    return [p[4:] for p in found if p.startswith("new:")]


def describe(
    plan: Plan, snap: SnapshotFile, stamp: str | None = None, health: ClusterHealth | None = None
) -> list[str]:
    """The plain facts to see before saying yes (the CLI and the dashboard dialog show them):
    revision, time, size, the data lost (the snapshot's age), where old data dirs are kept."""
    from hawizard.etcd.backup import human_age
    from hawizard.textguard import shown

    data = plan.etcd.data_dir.rstrip("/")
    kept = aside_path(plan, stamp) if stamp else f"{data}.before-restore-<UTC time>"
    lines = [
        f"snapshot {shown(snap.path)}",
        f"  revision {snap.revision} · {snap.total_keys} keys · {snap.size:,} bytes · "
        f"sha256 {snap.sha256[:16]}…",
        f"  taken {snap.taken_at.isoformat(timespec='seconds')}"
        + (f" on {shown(snap.meta['node'], 80)}" if snap.meta.get("node") else ""),
        f"  data lost: every write after it — the snapshot is {human_age(snap.age_s())} old",
        f"old data dirs are kept as {kept} on each member that has one ("
        + ", ".join(n.name for n in plan.etcd_nodes)
        + ")",
    ]
    if health is not None:
        lines.append(f"cluster now: {health.summary}")
    return lines
