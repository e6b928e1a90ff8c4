"""`hawizard etcd restore PLAN SNAPSHOT`: rebuild a cluster that lost quorum from a snapshot.

The use case, UI-free (the CLI and the dashboard call `assess`, then `execute`):

1. judge (nothing changes yet): the snapshot (`etcdutl snapshot status`, the sha256 recorded
   beside it), the cluster (refused while it has quorum: then `replace` is the right tool,
   unless `force_while_healthy`), and every plan member reachable over SSH with etcd installed
   — an unreachable one stops the run with the command to run once it is back;
2. run, under the plan lock, as journaled phases on the engine: stop etcd everywhere · move
   each data dir aside (`<data_dir>.before-restore-<UTC stamp>`, never deleted) · upload the
   snapshot (gzip, sha256 checked on the node) · `etcdutl snapshot restore` per member (name,
   peer URL, full initial-cluster, fresh token, `--bump-revision`/`--mark-compacted` where the
   node's etcdutl has them) with the data dir 0700 etcd:etcd · configuration `existing` · start
   all together · wait healthy · verify `existing` · a fresh snapshot of the restored cluster.

The restore in flight is recorded in `<plan stem>.restore.json` (id, UTC stamp, snapshot and
its sha256) until it completes: running the same command again resumes it (the quorum check
is skipped then, the journal's `once` records keep stop / move / restore from running twice),
and a restore from a different file is refused until it is finished.
"""

from __future__ import annotations

import shlex
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hawizard import sidecars
from hawizard.etcd import member as etcd_member
from hawizard.etcd import render
from hawizard.etcd.local_health import MemberVerdict, judge_on_nodes
from hawizard.etcd.restore import (
    BadSnapshot,
    SnapshotFile,
    aside_path,
    inspect_snapshot,
    new_stamp,
    remote_snapshot_path,
    restore_script,
    restoring_path,
)
from hawizard.etcd.rollout import wait_converged
from hawizard.etcd.scratch import removed, sweep_script
from hawizard.etcd.snapshot import SnapshotInfo, take_snapshot
from hawizard.etcd.start_watch import watch_started
from hawizard.health import ClusterHealth
from hawizard.ops.refusal import Refused
from hawizard.plan import Node, Plan
from hawizard.remote import Host, HostKeyError, RemoteError, Timeouts
from hawizard.steps import Phase, RunResult, Step, say

__all__ = [
    "Assessment",
    "RestoreOutcome",
    "RestoreRecord",
    "RestoreRun",
    "assess",
    "clear_record",
    "describe",
    "execute",
    "read_record",
    "record_path",
]

HEALTH_TIMEOUT = 180.0
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


def _write_record(plan_path: Path, record: RestoreRecord) -> None:
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
    _reachable(plan, trust_new, label, str(snap.path))
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
    return Assessment(plan, snap, health, record, resume, forced, warnings)


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


def _reachable(plan: Plan, trust_new: bool, label: str, snapshot: str) -> None:
    """Every plan member must answer over SSH with etcd installed: a restore onto some members
    only would leave a cluster whose membership does not match the plan."""
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
                    return f"{node.name}: etcd is not installed ({binary}, {unit})"
        except (RemoteError, HostKeyError, OSError) as exc:
            return f"{node.name} cannot be reached: {exc}"
        return None

    with ThreadPoolExecutor(max_workers=min(10, len(plan.etcd_nodes))) as pool:
        problems = [p for p in pool.map(check, plan.etcd_nodes) if p]
    if problems:
        names = ", ".join(p.split(":", 1)[0].split(" ", 1)[0] for p in problems)
        raise Refused(
            "; ".join(problems),
            f"bring {names} back (or install etcd with `hawizard apply {label} --only etcd "
            "--dry-run` to see what is missing), then run "
            f"`hawizard etcd restore {label} {snapshot}`; or drop {names} from the plan "
            "(remove the etcd role) first and restore onto the other members",
        )


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


# --- the run ---------------------------------------------------------------------------------


@dataclass
class NodeReport:
    had_data: bool | None = None  # None: the move ran in an earlier run
    aside: str = ""
    restored: bool = False  # restored by this run (False: done earlier, journal)
    tool: str = ""
    bump: str = ""  # "yes" | "no" | "off"


class RestoreRun:
    """The phases of one restore; steps write what they learn into `reports`."""

    def __init__(self, assessment: Assessment, *, health_timeout: float = HEALTH_TIMEOUT):
        self.a = assessment
        self.plan = assessment.plan
        self.health_timeout = health_timeout
        self.reports: dict[str, NodeReport] = {n.name: NodeReport() for n in self.plan.etcd_nodes}
        self.health_after: Any = None
        self.healthy_at: float | None = None  # time.monotonic() when every member was healthy
        self.fresh: SnapshotInfo | None = None
        self._lock = threading.Lock()

    @property
    def id(self) -> str:
        return self.a.record.id

    def begin(self, *, dry_run: bool) -> None:
        if not dry_run:
            _write_record(self.plan.source, self.a.record)

    def finish(self, ok: bool) -> None:
        if ok:
            clear_record(self.plan.source)

    def phases(self) -> list[Phase]:
        ms = self.plan.etcd_nodes
        return [
            Phase("restore: stop etcd", [self._stop(m) for m in ms]),
            Phase("restore: move data dirs aside", [self._move_aside(m) for m in ms]),
            Phase("restore: upload snapshot", [self._upload(m) for m in ms]),
            Phase("restore: etcdutl snapshot restore", [self._restore(m) for m in ms]),
            Phase("restore: configuration", [self._config(m) for m in ms]),
            Phase("restore: start all members", [self._start(m) for m in ms]),
            Phase("restore: wait healthy", [self._wait()]),
            Phase("restore: mark existing", [self._flip(m) for m in ms]),
            Phase("restore: fresh snapshot", [self._snapshot(ms[0])]),
            Phase("restore: clean up", [self._cleanup(m) for m in ms]),
        ]

    def _key(self, m: Node, what: str) -> str:
        return f"restore/{self.id}/{m.name}/{what}"

    def _stop(self, m: Node) -> Step:
        def check(host) -> bool:
            state = host.probe(["systemctl", "is-active", "etcd"]).stdout.strip()
            return state not in ("inactive", "failed", "unknown")

        def apply(host) -> None:
            etcd_member.stop(host, timeout=120)

        return Step(m.name, "stop etcd", check, apply, key=self._key(m, "stop"), once=True)

    def _move_aside(self, m: Node) -> Step:
        data = self.plan.etcd.data_dir.rstrip("/")
        aside = aside_path(self.plan, self.a.record.stamp)
        q = shlex.quote

        def check(host) -> bool:
            r = host.probe(f"test -e {q(data)}; echo $?; test -e {q(aside)}; echo $?")
            has_data, has_aside = (line == "0" for line in r.stdout.split()[:2])
            report = self.reports[m.name]
            report.had_data = has_data or has_aside
            report.aside = aside if report.had_data else ""
            if not has_data:
                say(host, f"no data dir at {data}: nothing to keep")
            elif has_aside:
                say(host, f"{data} was moved to {aside} already")
            return has_data and not has_aside

        def apply(host) -> None:
            host.run(["mv", "-T", "--", data, aside])
            say(host, f"kept the old data dir as {aside}")

        return Step(
            m.name, "move data dir aside", check, apply, key=self._key(m, "move"), once=True
        )

    def _data_missing(self, host) -> bool:
        return not host.exists(self.plan.etcd.data_dir.rstrip("/"))

    def _upload(self, m: Node) -> Step:
        remote = remote_snapshot_path(self.id)
        sha = self.a.snapshot.sha256

        def check(host) -> bool:
            if not self._data_missing(host):
                return False  # restored already
            r = host.probe(f"sha256sum < {shlex.quote(remote)} 2>/dev/null | cut -c1-64")
            return r.stdout.strip() != sha

        def apply(host) -> None:
            # the private scratch folder, swept of what killed runs left (named)
            swept = host.run(sweep_script(keep=remote), check=False, stream=False)
            for stale in removed(getattr(swept, "stdout", "") or ""):
                say(host, f"removed {stale} (left by a killed or disconnected run)")
            host.put(self.a.snapshot.gzipped, remote, mode=0o600, gzipped=True)
            if host.dry_run:
                return
            got = host.probe(f"sha256sum < {shlex.quote(remote)} | cut -c1-64").stdout.strip()
            if got != sha:
                raise RemoteError(
                    m.name,
                    f"upload {remote}",
                    f"the uploaded snapshot's sha256 {got[:16]}… is not {sha[:16]}…",
                )
            say(host, f"uploaded {self.a.snapshot.size} bytes, sha256 checked")

        return Step(m.name, "upload snapshot", check, apply, key=self._key(m, "upload"))

    def _restore(self, m: Node) -> Step:
        script = restore_script(self.plan, m, self.id)

        def apply(host) -> None:
            r = host.run(script, timeout=600)
            facts = dict(line.partition("=")[::2] for line in r.stdout.splitlines() if "=" in line)
            report = self.reports[m.name]
            report.restored = not host.dry_run
            report.tool = facts.get("tool", "")
            report.bump = facts.get("bump", "")

        return Step(
            m.name,
            "etcdutl snapshot restore",
            self._data_missing,
            apply,
            key=self._key(m, "restore"),
            once=True,
        )

    def _config(self, m: Node) -> Step:
        text = render.render_config(self.plan, m, render.ClusterState.EXISTING)

        def check(host) -> bool:
            return host.read_text_or_none(render.CONFIG_PATH) != text

        def apply(host) -> None:
            host.put(text, render.CONFIG_PATH, mode=0o640, owner="root", group="etcd")

        return Step(m.name, "configuration (existing)", check, apply, key=self._key(m, "config"))

    def _start(self, m: Node) -> Step:
        def check(host) -> bool:
            return host.probe(["systemctl", "is-active", "etcd"]).stdout.strip() != "active"

        def apply(host) -> None:
            host.run(["systemctl", "reset-failed", "etcd"], check=False)
            host.run(["systemctl", "enable", "etcd"])
            etcd_member.start(host, no_block=True)  # together: each waits for a quorum
            if not host.dry_run:
                watch_started(host)  # exits at once: fail here, quoting its journal

        return Step(m.name, "start etcd", check, apply, key=self._key(m, "start"))

    def _wait(self) -> Step:
        def apply(local) -> None:
            self.health_after = wait_converged(self.plan, self.health_timeout)
            self.healthy_at = time.monotonic()
            local.output(str(getattr(self.health_after, "summary", "")))

        return Step(
            None, "wait until every member is healthy", None, apply, key=f"restore/{self.id}/wait"
        )

    def _flip(self, m: Node) -> Step:
        def check(host) -> bool:
            text = host.read_text_or_none(render.CONFIG_PATH)
            return text is None or render.config_state(text) is not render.ClusterState.EXISTING

        def apply(host) -> None:
            text = render.render_config(self.plan, m, render.ClusterState.EXISTING)
            host.put(text, render.CONFIG_PATH, mode=0o640, owner="root", group="etcd")

        return Step(
            m.name, "initial-cluster-state: existing", check, apply, key=self._key(m, "flip")
        )

    def _snapshot(self, m: Node) -> Step:
        def apply(host) -> None:
            self.fresh = take_snapshot(host, self.plan, m, say=lambda line: say(host, line))

        return Step(
            m.name, "snapshot of the restored cluster", None, apply, key=self._key(m, "snapshot")
        )

    def _cleanup(self, m: Node) -> Step:
        remote = remote_snapshot_path(self.id)
        work = restoring_path(self.plan, self.id)

        def check(host) -> bool:
            return host.exists(remote) or host.exists(work)

        def apply(host) -> None:
            # the uploaded copy and an (impossible by now) leftover work dir: never a data dir
            host.run(["rm", "-rf", "--", remote, work])

        return Step(m.name, "remove the uploaded snapshot", check, apply, key=self._key(m, "rm"))


# --- the whole use case ------------------------------------------------------------------------


@dataclass
class RestoreOutcome:
    ok: bool
    dry_run: bool
    result: RunResult
    assessment: Assessment
    run: RestoreRun
    seconds: float  # the whole run (from `started`)
    to_healthy: float | None = None  # from `started` to every member healthy

    def to_json(self) -> dict[str, Any]:
        a, run = self.assessment, self.run
        health = run.health_after
        return {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "seconds": round(self.seconds, 2),
            "to_healthy_s": None if self.to_healthy is None else round(self.to_healthy, 2),
            **a.to_json(),
            "cluster_id_after": getattr(health, "cluster_id", None) or None,
            "health_after": getattr(health, "summary", None),
            "members": {n: asdict(r) for n, r in run.reports.items()},
            "fresh_snapshot": run.fresh.to_json() if run.fresh else None,
        }


def execute(
    assessment: Assessment,
    run_phases: Callable[[Plan, Sequence[Phase]], RunResult],
    *,
    dry_run: bool = False,
    extra: Callable[[list[Phase]], list[Phase]] | None = None,
    started: float | None = None,
) -> RestoreOutcome:
    """Run the restore (the caller holds the plan lock: `restore` does it all). `run_phases` is the
    face's runner (live view, journal); `extra` lets tests inject a failure between phases."""
    start = time.monotonic() if started is None else started
    run = RestoreRun(assessment)
    run.begin(dry_run=dry_run)
    phases = run.phases()
    if extra is not None:
        phases = extra(phases)
    result = run_phases(assessment.plan, phases)
    if not dry_run:
        run.finish(result.ok)
    healthy = None if run.healthy_at is None else run.healthy_at - start
    return RestoreOutcome(
        result.ok, dry_run, result, assessment, run, time.monotonic() - start, healthy
    )


@dataclass
class RestoreOperation:
    """A restore as an Operation (`ops.operation.drive`): judged under the plan lock, its
    own record (`.restore.json`) is a resume, any other operation in flight refuses it."""

    command: str
    snapshot: Path | str
    force_while_healthy: bool = False
    trust_new: bool = False
    on_assessed: Callable[[Assessment], None] | None = None
    title: str = "restore"
    record: str | None = "restore"
    assessment: Assessment | None = None
    run: RestoreRun | None = None

    def assess(self, plan: Plan) -> bool:
        self.assessment = assess(
            plan,
            self.snapshot,
            force_while_healthy=self.force_while_healthy,
            trust_new=self.trust_new,
        )
        if self.on_assessed is not None:
            self.on_assessed(self.assessment)
        return True

    def begin(self, dry_run: bool) -> None:
        assert self.assessment is not None
        self.run = RestoreRun(self.assessment)
        self.run.begin(dry_run=dry_run)

    def phases(self) -> list[Phase]:
        assert self.run is not None
        return self.run.phases()

    def finish(self, ok: bool) -> None:
        assert self.run is not None
        self.run.finish(ok)


def restore(
    plan: Plan,
    snapshot: Path | str,
    run_phases: Callable[[Plan, Sequence[Phase]], RunResult],
    *,
    command: str,
    dry_run: bool = False,
    force_while_healthy: bool = False,
    trust_new: bool = False,
    on_assessed: Callable[[Assessment], None] | None = None,
    confirm: Callable[[Assessment], bool] | None = None,
    started: float | None = None,
) -> RestoreOutcome | None:
    """The whole use case through the driver; None when the operator said no. Raises
    `Refused` (the plan held, another operation in flight, the judgement)."""
    from hawizard.ops.operation import drive

    start = time.monotonic() if started is None else started
    op = RestoreOperation(command, snapshot, force_while_healthy, trust_new, on_assessed)
    ask = None if confirm is None else (lambda o: confirm(o.assessment))
    driven = drive(op, plan, run_phases, dry_run=dry_run, confirm=ask)
    if driven.result is None:
        return None
    assert op.assessment is not None and op.run is not None
    run = op.run
    healthy = None if run.healthy_at is None else run.healthy_at - start
    return RestoreOutcome(
        driven.result.ok,
        dry_run,
        driven.result,
        op.assessment,
        run,
        time.monotonic() - start,
        healthy,
    )
