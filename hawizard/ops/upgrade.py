"""`hawizard etcd upgrade PLAN [--to V]`: move a running cluster to a newer etcd, one member at
a time, the leader last, never below quorum.

The use case, UI-free: judge first (every refusal before anything changes: members healthy and
on one version, no downgrade, no skipped minor, the binaries really are the version asked for),
then a verified snapshot, then one phase per member in the order the rules give
(`hawizard.etcd.upgrade`), then the cluster version etcd settled on. Each member's step checks
before it changes (running version and files on disk), so a run interrupted after any member
resumes where it stopped when it is run again; `apply` after changing `etcd.binaries` takes the
same road (`EtcdRollout`'s rolling-upgrade phase) instead of swapping files under running
members.

The upgrade in flight is recorded in `<plan stem>.upgrade.json` (target, started, and the
member between its stop and its start, written before the stop). A run killed in that window
leaves the member stopped; the same command resumes it: the judgement lets exactly that member
be down (the others must hold the quorum) and upgrades it first. A member down for any other
reason still refuses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hawizard import sidecars
from hawizard.etcd.upgrade import (
    UpgradeRefused,
    Version,
    judge_cluster,
    member_files,
    target_version,
    upgrade_member,
    upgrade_order,
)
from hawizard.ops.refusal import Refused
from hawizard.plan import Plan
from hawizard.remote_files import stale_files
from hawizard.steps import Phase, RunResult, Step

__all__ = ["Upgrade", "UpgradeOperation", "assess", "upgrade"]


@dataclass
class Upgrade:
    """A judged upgrade: who goes in which order, from which version to which."""

    plan: Plan
    current: Version
    target: Version
    order: tuple[str, ...]  # every member: followers in plan order, then the leader
    leader: str
    pending: tuple[str, ...]  # members not on `target` yet, in `order`
    snapshot_taker: Callable[[], object] | None = None
    snapshot: object | None = None
    cluster_version: dict = field(default_factory=dict)
    resumed: frozenset[str] = frozenset()  # members an interrupted run left stopped
    #: called with a member's name before its stop and "" once it is back (the record)
    on_member: Callable[[str], None] = lambda _name: None

    @property
    def snapshot_from(self) -> str:
        """The member the snapshot is taken from: the first in order that is serving."""
        return next(n for n in self.order if n not in self.resumed)

    @property
    def title(self) -> str:
        return f"upgrade etcd {self.current} -> {self.target}"

    def phases(self) -> list[Phase]:
        phases = [Phase("etcd upgrade: snapshot", [self._snapshot_step()])]
        n = len(self.order)
        for i, name in enumerate(self.order, 1):
            role = " (leader, last)" if name == self.leader else ""
            phases.append(Phase(f"etcd upgrade {i}/{n}: {name}{role}", [self._member_step(name)]))
        phases.append(Phase("etcd upgrade: cluster version", [self._version_step()]))
        return phases

    def _snapshot_step(self) -> Step:
        def check(local) -> bool:
            return self.snapshot is None and bool(self.pending)

        def apply(local) -> None:
            if self.snapshot_taker is not None:
                self.snapshot = self.snapshot_taker()
                local.output(f"snapshot: {getattr(self.snapshot, 'path', self.snapshot)}")

        return Step(None, "verified snapshot before the upgrade", check, apply)

    def _member_step(self, name: str) -> Step:
        m = self.plan.node(name)
        files = member_files(self.plan, m)
        last = self.order[-1]

        def check(host) -> bool:
            from hawizard.etcd.probe import cluster_health

            if stale_files(host, files):
                return True
            row = cluster_health(self.plan).member(name)
            return row.version != str(self.target)

        def apply(host) -> None:
            say = host.on_output or (lambda _line: None)
            if name in self.resumed:
                say(f"{name}: stopped by the interrupted upgrade; starting it on {self.target}")
            if not host.dry_run:
                self.on_member(name)
            upgrade_member(
                host,
                self.plan,
                m,
                self.target,
                files,
                hand_to=last if name != last else "",
                say=say,
            )
            if not host.dry_run:
                self.on_member("")

        return Step(
            name,
            f"upgrade etcd to {self.target}",
            check,
            apply,
            key=f"etcd-upgrade-{self.target}/{name}",
        )

    def _version_step(self) -> Step:
        def check(local) -> bool:
            if local.dry_run:
                return False
            self.cluster_version = settled_cluster_version(self.plan, self.target)
            local.output(
                f"every member runs etcd {self.target}; cluster version "
                f"{self.cluster_version.get('etcdcluster', '?')}"
            )
            return False

        return Step(None, "cluster version", check, _nothing)


def settled_cluster_version(plan: Plan, target: Version, timeout: float = 30.0) -> dict:
    """/version of a member, waited for until `etcdcluster` is the target's minor (etcd's
    leader raises it by itself shortly after the last member runs the new version)."""
    import time

    from hawizard.etcd.probe import ClientTLS
    from hawizard.etcd.upgrade import cluster_version

    ctx = ClientTLS.for_plan(plan).context()
    deadline = time.monotonic() + timeout
    answer: dict = {}
    while True:
        for m in plan.etcd_nodes:
            try:
                answer = cluster_version(plan, m, ctx, plan.etcd.probe_timeout)
                break
            except (OSError, ValueError):
                continue
        if answer.get("etcdcluster", "").startswith(f"{target.minor_line}."):
            return answer
        if time.monotonic() >= deadline:
            return answer
        time.sleep(1.0)


def assess(plan: Plan, to: str | None = None, health=None, record: dict | None = None) -> Upgrade:
    """Judge an upgrade of the running cluster to `to` (default `etcd.version`); raise
    `Refused` with the reason and the fix, before anything changed. `record`: the unfinished
    upgrade's record; the member it names as stopped may be down (it is resumed first)."""
    from hawizard.etcd.probe import cluster_health

    try:
        target = target_version(plan, to)
        health = health or cluster_health(plan)
        stopped = _stopped(record, target, health, str(plan.source or "PLAN"))
        current = judge_cluster(health, target, stopped)
    except UpgradeRefused as exc:
        raise Refused(exc.reason, exc.hint) from None
    names = [m.name for m in plan.etcd_nodes]
    order = upgrade_order(health, names, first=stopped)
    pending = tuple(n for n in order if n in stopped or health.member(n).version != str(target))
    return Upgrade(
        plan, current, target, tuple(order), health.leader_name, pending, resumed=stopped
    )


def _stopped(record: dict | None, target: Version, health, label: str) -> frozenset[str]:
    """The member the unfinished upgrade (to the same target) stopped and did not see back,
    if it is down now; refuses a record of an upgrade to another version."""
    if not record:
        return frozenset()
    if record.get("target") and record["target"] != str(target):
        raise UpgradeRefused(
            f"an upgrade to etcd {record['target']} has not finished",
            f"finish it first: `hawizard etcd upgrade {label} --to {record['target']}`",
        )
    name = record.get("member") or ""
    row = next((m for m in health.members if m.name == name and m.in_plan), None)
    return frozenset({name}) if row is not None and not row.healthy else frozenset()


def read_record(plan: Plan) -> dict | None:
    """The unfinished upgrade's record, or None; an unreadable one refuses."""
    if plan.source is None:
        return None
    try:
        return sidecars.read_record(plan.source, "upgrade")
    except (OSError, ValueError) as exc:
        raise Refused(
            f"{sidecars.record_path(plan.source, 'upgrade')}: unreadable upgrade record ({exc})",
            "it names the member an interrupted upgrade stopped; fix it, or remove it once "
            "every member is healthy",
        ) from None


@dataclass
class UpgradeOperation:
    """`etcd upgrade` as an Operation (`ops.operation.drive`): judged under the plan lock;
    its record (`.upgrade.json`) names the member between its stop and its start, so a run
    killed there resumes (each member's step re-checks, so the rest resumes by itself)."""

    command: str
    to: str | None = None
    trust_new: bool = False
    on_assessed: Callable[[Upgrade], None] | None = None
    #: A dry run writes nothing beside the plan, not even the removal of a finished record.
    dry_run: bool = False
    title: str = "etcd upgrade"
    record: str | None = "upgrade"
    upgrade: Upgrade | None = None
    data: dict = field(default_factory=dict)

    def assess(self, plan: Plan) -> bool:
        found = read_record(plan)
        self.upgrade = assess(plan, self.to, record=found)
        self.title = self.upgrade.title
        self.data = found or {}
        done = not self.upgrade.pending and found is not None
        if done and not self.dry_run and plan.source is not None:
            sidecars.clear_record(plan.source, "upgrade")  # finished, but killed before finish
        if self.upgrade.pending and self.on_assessed is not None:
            self.on_assessed(self.upgrade)
        return bool(self.upgrade.pending)

    def begin(self, dry_run: bool) -> None:
        u = self.upgrade
        assert u is not None
        u.snapshot_taker = snapshot_taker(u.plan, u.snapshot_from, trust_new=self.trust_new)
        if dry_run or u.plan.source is None:
            return
        source = u.plan.source
        self.data = {
            "target": str(u.target),
            "started": self.data.get("started") or datetime.now(UTC).isoformat(timespec="seconds"),
            "member": self.data.get("member", ""),
        }
        sidecars.write_record(source, "upgrade", self.data)

        def on_member(name: str) -> None:
            self.data["member"] = name
            sidecars.write_record(source, "upgrade", self.data)

        u.on_member = on_member

    def phases(self) -> list[Phase]:
        assert self.upgrade is not None
        return self.upgrade.phases()

    def finish(self, ok: bool) -> None:
        if ok and self.upgrade is not None and self.upgrade.plan.source is not None:
            sidecars.clear_record(self.upgrade.plan.source, "upgrade")


def upgrade(
    plan: Plan,
    run: Callable[[Plan, Sequence[Phase]], RunResult],
    *,
    command: str,
    to: str | None = None,
    dry_run: bool = False,
    trust_new: bool = False,
    confirm: Callable[[Upgrade], bool] | None = None,
    on_assessed: Callable[[Upgrade], None] | None = None,
) -> tuple[Upgrade, RunResult | None, bool]:
    """Judge and run an upgrade through the driver. Returns the upgrade, the run's result
    (None when every member is on the target already or the operator said no) and whether
    it was confirmed. Raises `Refused`; lets `OSError` (no client certificate) through."""
    from hawizard.ops.operation import drive

    op = UpgradeOperation(command, to, trust_new, on_assessed, dry_run)
    ask = None if confirm is None else (lambda o: confirm(o.upgrade))
    driven = drive(op, plan, run, dry_run=dry_run, confirm=ask)
    assert op.upgrade is not None
    return op.upgrade, driven.result, driven.confirmed


def _nothing(_target) -> None:
    return None


def snapshot_taker(plan: Plan, member: str, *, trust_new: bool = False) -> Callable[[], object]:
    """A verified snapshot from `member` (a follower), taken when the snapshot step runs."""

    def take() -> object:
        from hawizard.etcd.snapshot import take_snapshot
        from hawizard.remote import Host

        with Host.from_plan(plan, member, trust_new=trust_new) as host:
            return take_snapshot(host, plan, plan.node(member))

    return take
