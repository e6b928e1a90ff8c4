"""`hawizard etcd recover PLAN`: quorum lost, rebuild the cluster from the best survivor.

A restore (`ops/restore.py`) rebuilds every member from a snapshot and loses every write
after it. After losing 2 of 3 members the survivor usually holds newer data than the last
backup; etcd's documented path for that case is to restart it with `--force-new-cluster`
(it keeps its data and becomes a one-member cluster), then add the others back one by one.

1. judge (nothing changes): survey every plan member over SSH (`etcd/survey.py`: member and
   cluster ID, committed index and term from the WAL, revision from a copy of the db); refuse
   while the cluster may have quorum (judged as the restore gate is: on the nodes too, never
   "unreachable means lost"), when a member cannot be reached (it could not be re-added),
   when no member has data, when the survivor's cluster is not the plan's; choose the
   survivor (`survey.choose`, or `--from`); say what each path loses (this one: nothing after
   the survivor's last commit; a restore: the revisions after the newest verified backup);
2. run, journaled: stop etcd everywhere · copy the survivor's data dir aside
   (`<data_dir>.before-recover-<UTC>`, kept) · start it once with `--force-new-cluster` —
   a config copy and a unit drop-in, both under /run (gone at the next boot even if we
   die), removed before the normal restart, so the flag is never left in the unit or the
   config · wait healthy · then every other member, one at a time: its old data dir set
   aside (`.replaced-<UTC>`, kept), prepared as `etcd add` does (preflight, install,
   certificates, configuration), added as a learner, started `existing`, promoted once
   caught up · every member's configuration names the whole plan · wait healthy · a fresh
   snapshot.

The recovery in flight is recorded in `<plan stem>.recover.json` (id, stamp, survivor) until
it completes: the same command resumes it (the quorum gate is skipped once its stop ran; the
survivor stays the recorded one).
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from hawizard import sidecars
from hawizard.etcd import render
from hawizard.etcd.local_health import judge_on_nodes
from hawizard.etcd.restore import etcdutl_binary
from hawizard.etcd.survey import NodeSurvey, choose, parse_survey, survey_script
from hawizard.ops.recover_run import DROP_IN, FORCE_CONFIG, RecoverRun, rekeyed
from hawizard.ops.refusal import Refused
from hawizard.plan import Node, Plan
from hawizard.remote import Host, HostKeyError, RemoteError, Timeouts
from hawizard.steps import Phase

__all__ = [
    "DROP_IN",
    "FORCE_CONFIG",
    "RecoverOperation",
    "RecoverRecord",
    "RecoverRun",
    "Survey",
    "both_paths",
    "rekeyed",
    "survey_cluster",
]

TIMEOUTS = Timeouts(connect=5, banner=5, auth=5, command=120)


@dataclass(frozen=True)
class RecoverRecord:
    id: str
    stamp: str
    survivor: str
    started: str
    cluster_id: str = ""


def read_record(plan: Plan) -> RecoverRecord | None:
    assert plan.source is not None
    try:
        data = sidecars.read_record(plan.source, "recover")
        return None if data is None else RecoverRecord(**data)
    except (OSError, ValueError, TypeError) as exc:
        raise Refused(
            f"{sidecars.record_path(plan.source, 'recover')}: unreadable recover record ({exc})",
            "it names the recovery in progress; fix it, or remove it only if none ran",
        ) from None


# --- the survey and the judgement -------------------------------------------------------------


def survey_node(plan: Plan, node: Node, trust_new: bool = False) -> NodeSurvey:
    script = survey_script(plan.etcd.data_dir, etcdutl_binary(plan), render.etcdctl_binary(plan))
    try:
        with Host.from_plan(plan, node, trust_new=trust_new, timeouts=TIMEOUTS) as h:
            out = h.probe(script, timeout=120).stdout
    except (RemoteError, HostKeyError, OSError) as exc:
        return NodeSurvey(node.name, False, problem=str(exc))
    return parse_survey(node.name, out)


def survey_cluster(plan: Plan, trust_new: bool = False) -> list[NodeSurvey]:
    nodes = plan.etcd_nodes
    with ThreadPoolExecutor(max_workers=min(10, len(nodes))) as pool:
        return list(pool.map(lambda n: survey_node(plan, n, trust_new), nodes))


@dataclass
class Survey:
    """The judgement: what each node holds, the survivor, and what each path loses."""

    nodes: list[NodeSurvey]
    survivor: NodeSurvey
    cluster_id: str
    record: RecoverRecord
    resume: bool
    backup: dict[str, Any] | None = None  # the newest verified backup (path, revision, time)
    warnings: list[str] = field(default_factory=list)

    def losses(self) -> list[str]:
        s = self.survivor
        assert s.wal is not None
        rev = "?" if s.revision is None else str(s.revision)
        lines = [
            f"recover from {s.name}: nothing after its last commit (index {s.wal.commit}, "
            f"term {s.wal.term}, revision {rev})"
        ]
        b = self.backup
        if b is None:
            lines.append("restore: no verified backup to restore from")
        else:
            behind = (
                f"{s.revision - int(b['revision'])} revisions older"
                if s.revision is not None and isinstance(b.get("revision"), int)
                else "older by an unknown number of revisions"
            )
            lines.append(
                f"restore from the newest verified backup ({b['taken_at']}, revision "
                f"{b.get('revision', '?')}): {behind}"
            )
        return lines

    def to_json(self) -> dict[str, Any]:
        return {
            "survivor": self.survivor.name,
            "cluster_id": self.cluster_id,
            "resume": self.resume,
            "recover_id": self.record.id,
            "nodes": [n.to_json() for n in self.nodes],
            "newest_verified_backup": self.backup,
            "losses": self.losses(),
            "warnings": self.warnings,
        }


def both_paths(plan: Plan) -> str:
    """The two ways back from a quorum loss and what each loses, in one line (the dashboard's
    banner; no SSH: the survey's figures come with `recover --dry-run`)."""
    from hawizard.textguard import shown

    label = shown(str(plan.source or "PLAN"), 120)
    return (
        f"two ways back: `hawizard etcd recover {label}` keeps every write the best surviving "
        "member committed (--dry-run shows each member's data); D restores a snapshot and "
        "loses every write after it"
    )


def newest_backup(plan: Plan) -> dict[str, Any] | None:
    from hawizard.etcd.backup import backups, plan_folder
    from hawizard.pki.record_key import load_key

    try:
        found = backups(plan_folder(plan), plan.cluster.name, load_key(plan))
    except OSError:
        return None
    b = next((b for b in found if b.verified), None)
    return None if b is None else b.to_json()


def _stopped_by_us(plan: Plan, record: RecoverRecord) -> bool:
    from hawizard.journal import Journal, JournalError

    try:
        journal = Journal.for_plan(plan)
    except JournalError:
        return False
    return any(
        journal.done_once(f"recover/{record.id}/{m.name}/stop") is not None for m in plan.etcd_nodes
    )


def _quorum_gate(plan: Plan, trust_new: bool, label: str) -> str:
    """Refuse while the cluster may have quorum; returns the probe's cluster ID ("" if none)."""
    from hawizard.etcd.probe import cluster_health

    hint = f"replace the failed members instead: `hawizard etcd replace {label} OLD NEW`"
    try:
        health = cluster_health(plan)
    except OSError as exc:
        raise Refused(
            f"cannot use the operator's etcd client certificate ({exc})",
            f"hawizard certs check {label}",
        ) from None
    if health.quorum_ok:
        raise Refused(f"the cluster has quorum ({health.summary}); nothing to recover", hint)
    verdicts = judge_on_nodes(plan, trust_new=trust_new)
    alive = [n for n, v in verdicts.items() if v.state != "down"]
    if len(alive) >= len(plan.etcd_nodes) // 2 + 1:
        raise Refused(
            f"the cluster may still have quorum: {len(alive)} of {len(plan.etcd_nodes)} "
            "members are healthy or could not be judged on their nodes",
            hint + f"; check with `hawizard status {label}`",
            details=[f"{n}: {v.describe()}" for n, v in verdicts.items()],
        )
    return health.cluster_id or ""


def judge(plan: Plan, chosen: str = "", trust_new: bool = False) -> Survey:
    """Everything that can refuse, before anything changes; raises `Refused`."""
    if plan.source is None:
        raise Refused("the plan has no file", "save the plan first: its journal lives beside it")
    if len(plan.etcd_nodes) < 2:
        raise Refused("the plan has fewer than 2 etcd members", "nothing to recover")
    label = str(plan.source)
    if chosen and chosen not in {n.name for n in plan.etcd_nodes}:
        raise Refused(f"--from {chosen}: not an etcd member of the plan", "name a plan member")
    record = read_record(plan)
    resume = record is not None
    if record is not None and chosen and chosen != record.survivor:
        raise Refused(
            f"a recovery from {record.survivor} (started {record.started}) has not finished",
            f"finish it first: `hawizard etcd recover {label}`",
        )
    probed = ""
    if not (record is not None and _stopped_by_us(plan, record)):
        probed = _quorum_gate(plan, trust_new, label)
    nodes = survey_cluster(plan, trust_new)
    lost = [s for s in nodes if not s.reached]
    if lost:
        raise Refused(
            "; ".join(s.describe() for s in lost),
            "bring them back, or give the lost members new machines: edit their names and "
            f"addresses in the plan, then run `hawizard etcd recover {label}` again",
        )
    if record is not None:
        found = next((s for s in nodes if s.name == record.survivor), None)
        if found is None:
            raise Refused(
                f"the unfinished recovery's survivor {record.survivor} is no longer an etcd "
                "member of the plan",
                f"put it back in the plan and run `hawizard etcd recover {label}` to finish",
            )
        survivor, cluster = found, record.cluster_id
    else:
        survivor, cluster = _pick(plan, nodes, chosen, probed, label)
        record = RecoverRecord(
            id=uuid.uuid4().hex[:8],
            stamp=datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
            survivor=survivor.name,
            started=datetime.now(UTC).isoformat(timespec="seconds"),
            cluster_id=cluster,
        )
    return Survey(nodes, survivor, cluster, record, resume, newest_backup(plan))


def _pick(
    plan: Plan, nodes: list[NodeSurvey], chosen: str, probed: str, label: str
) -> tuple[NodeSurvey, str]:
    usable = [s for s in nodes if s.usable]
    details = [s.describe() for s in nodes]
    if not usable:
        raise Refused(
            "no member has etcd data to recover from",
            f"restore from a backup: `hawizard etcd restore {label} SNAPSHOT`",
            details=details,
        )
    ids = {s.wal.cluster_id for s in usable if s.wal}
    cluster = probed or (next(iter(ids)) if len(ids) == 1 else "")
    if not cluster:
        # nobody answered for the cluster and the data dirs disagree: which one is "ours"
        # cannot be told from here, not even for --from
        raise Refused(
            "the members' data belong to different clusters: " + ", ".join(sorted(ids)),
            "start etcd on the member you trust (it answers without quorum, naming its "
            f"cluster), or move the foreign data dir away; then `hawizard etcd recover {label}`",
            details=details,
        )
    if chosen:
        survivor = next((s for s in nodes if s.name == chosen), None)
        if survivor is None or not survivor.usable:
            raise Refused(f"--from {chosen}: it has no usable etcd data", "", details=details)
    else:
        mine = [s for s in usable if s.wal and s.wal.cluster_id == cluster]
        found = choose(mine, [n.name for n in plan.etcd_nodes])
        if found is None:
            raise Refused(f"no member holds data of cluster {cluster}", "", details=details)
        survivor = found
    assert survivor.wal is not None
    if survivor.wal.cluster_id != cluster:
        raise Refused(
            f"{survivor.name} holds data of cluster {survivor.wal.cluster_id}, not of this "
            f"plan's cluster {cluster}",
            "choose another survivor with --from NODE, or restore from a backup",
            details=details,
        )
    return survivor, cluster


# --- the Operation ------------------------------------------------------------------------------


@dataclass
class RecoverOperation:
    """A recovery as an Operation (`ops.operation.drive`); its record is `.recover.json`."""

    command: str
    chosen: str = ""
    trust_new: bool = False
    on_assessed: Any = None
    title: str = "recovery from the best survivor"
    record: str | None = "recover"
    survey: Survey | None = None
    run: RecoverRun | None = None
    plan: Plan | None = None
    started: float = field(default_factory=time.monotonic)
    problems: list[str] = field(default_factory=list)

    def assess(self, plan: Plan) -> bool:
        self.plan = plan
        self.survey = judge(plan, self.chosen, self.trust_new)
        if self.on_assessed is not None:
            self.on_assessed(self.survey)
        return True

    def begin(self, dry_run: bool) -> None:
        from hawizard import pki

        assert self.plan is not None and self.survey is not None
        # members on new machines need their certificates (as `apply` issues them)
        for outcome in pki.create(self.plan):
            if outcome.name.startswith("etcd/") and outcome.is_failure:
                why = "; ".join(outcome.problems) or outcome.status.value
                raise Refused(f"{outcome.name}: {why}", f"hawizard certs check {self.plan.source}")
        if not dry_run:
            sidecars.write_record(self.plan.source, "recover", asdict(self.survey.record))
        self.run = RecoverRun(self.plan, self.survey)

    def phases(self) -> list[Phase]:
        assert self.run is not None
        return self.run.phases()

    def finish(self, ok: bool) -> None:
        if ok and self.plan is not None and self.plan.source is not None:
            sidecars.clear_record(self.plan.source, "recover")
