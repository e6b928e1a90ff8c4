"""Day 2: add, remove and replace etcd members without losing quorum, as phases of steps.

A change is judged first (`assess`), then run as phases on the engine, so progress, dry run
and the journal work as in `hawizard apply`:

- add NODE:      snapshot · data not its own set aside (kept) · preflight, install,
                 certificates, configuration (joining as `existing`, its initial-cluster = the
                 members plus itself) · `member add` as a learner · start (watched: a member
                 that exits fails here, quoting its journal) · promote once caught up · wait
                 healthy · the other members' initial-cluster line (membership only: nobody
                 restarts);
- remove NODE:   snapshot · `member remove` · stop and disable etcd on NODE if reachable (its
                 data dir is kept) · the remaining members' initial-cluster line · wait for a
                 leader · the plan loses NODE's etcd role (backup `<plan>.bak`);
- replace O N:   remove O first, then add N exactly as `add` does, stale data included
                 (removing a dead member restores the quorum math; adding first to 3 members
                 with one dead would need 3 of 4). O == N re-adds a member whose data dir was
                 lost, as a new member, never restarted with `new`.

One change at a time: the caller holds the plan lock (`hawizard.planlock`; `hawizard.ops.change`
does), and the change in flight is recorded (`record`) until it completes. `member add` is a
`once` journal step keyed by node, peer URL and change id, and it is idempotent by state too:
a member list that already holds the node's peer URL is reused, never added twice.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hawizard.etcd import render
from hawizard.etcd.cluster_api import ClusterAPI, EtcdRefused, GatewayUnreachable, targets_for
from hawizard.etcd.membership.assess import Assessment, peer_url_of, plan_label
from hawizard.etcd.membership.joining import joining_phases
from hawizard.etcd.membership.plan_edits import (
    in_plan_order,
    plan_with_etcd_members,
    with_membership,
    without_member,
)
from hawizard.etcd.membership.record import (
    ChangeFailed,
    PendingChange,
    clear_pending,
    command_for,
    write_pending,
)
from hawizard.etcd.quorum_rules import Op
from hawizard.etcd.rollout import EtcdRollout
from hawizard.etcd.snapshot import SnapshotInfo, take_snapshot
from hawizard.health import ClusterHealth
from hawizard.plan import Node, Plan
from hawizard.remote import ConnectError
from hawizard.steps import Phase, Step, say

HEALTH_TIMEOUT = 120.0  # seconds for the cluster to settle after a change
CATCH_UP_TIMEOUT = 300.0  # seconds a learner may take to catch up before promote gives up
RECONFIG_RETRY = 30.0  # etcd refuses reconfiguration until every voter was connected for 5 s
# etcd answers that mean "not yet", not "no".
_TRANSIENT = (
    "in sync with leader",
    "unhealthy cluster",
    "timed out",
    "leader changed",
    "no leader",
    "not enough started members",
)


@dataclass
class MembershipChange:
    """One add / remove / replace, as phases for the runner. Build it from an allowed
    `Assessment`; call `begin()` before running the phases and `finish(ok)` after."""

    plan: Plan
    assessment: Assessment
    snapshot_out: Path | None = None
    health_timeout: float = HEALTH_TIMEOUT
    catch_up_timeout: float = CATCH_UP_TIMEOUT
    change_id: str = ""
    snapshot: SnapshotInfo | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    plan_after: Plan | None = None
    _texts: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        impact = self.assessment.impact
        if not impact.allowed:
            raise ValueError(f"refused change: {impact.reason}")
        self.op = impact.op
        self.node = impact.node
        self.old = impact.old
        self.label = plan_label(self.plan)
        pending = self.assessment.pending
        self.change_id = self.change_id or (pending.id if pending else uuid.uuid4().hex[:12])
        self._pending = pending
        rows = self.assessment.health.members
        now = {m.name for m in rows if m.in_plan and m.in_cluster}
        mine = peer_url_of(self.plan, self.node)
        if any(mine in m.peer_urls for m in rows if not m.in_plan):
            now.add(self.node)  # an added learner that has not started yet
        self.members_now = in_plan_order(self.plan, now)
        leaving = self.node if self.op is Op.REMOVE else self.old
        self.leaving = leaving if leaving in now else None
        remaining = now - {leaving} if leaving else set(now)
        self.members_after = in_plan_order(
            self.plan, remaining if self.op is Op.REMOVE else remaining | {self.node}
        )
        healthy = {m.name for m in rows if m.in_plan and m.healthy and not m.is_learner}
        self._talk_to = [n for n in self.members_now if n.name in healthy and n.name != leaving]
        if not self._talk_to:
            raise ChangeFailed("no healthy member to talk to")

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def command(self) -> str:
        return command_for(self.op, self.node, self.old, self.label)

    def begin(self, *, dry_run: bool = False) -> list[str]:
        """Issue the joining member's certificates (like `apply`, also in a dry run) and,
        for a real run, record the change as in flight. Returns certificate problems."""
        problems = []
        if self.op is not Op.REMOVE:
            from hawizard import pki

            for outcome in pki.create(self.plan):
                if outcome.name.startswith("etcd/") and outcome.is_failure:
                    why = "; ".join(outcome.problems) or outcome.status.value
                    problems.append(f"{outcome.name}: {why}")
        if not dry_run and not problems and self.plan.source is not None:
            self._pending = self._pending or PendingChange(
                id=self.change_id,
                op=self.op.value,
                node=self.node,
                old=self.old,
                started=datetime.now(UTC).isoformat(timespec="seconds"),
            )
            write_pending(self.plan.source, self._pending)
        return problems

    def finish(self, ok: bool) -> None:
        """A completed change is no longer in flight; a failed one stays, to be resumed."""
        if ok and self.plan.source is not None:
            clear_pending(self.plan.source)

    # --- phases ---------------------------------------------------------------------------

    def phases(self) -> list[Phase]:
        phases = [Phase("etcd snapshot", [self._snapshot_step()])]
        if self.op in (Op.REMOVE, Op.REPLACE):
            phases += self._remove_phases()
        if self.op in (Op.ADD, Op.REPLACE):
            phases += self._add_phases()
        if self.op in (Op.REMOVE, Op.REPLACE) and self.old != self.node:
            gone = self.node if self.op is Op.REMOVE else self.old
            phases.append(Phase("plan", [self._plan_step(gone)]))
        return phases

    def _api(self) -> ClusterAPI:
        return ClusterAPI(self.plan, targets_for(self.plan, self._talk_to))

    # --- snapshot ---------------------------------------------------------------------------

    def _snapshot_step(self) -> Step:
        leader = self.assessment.health.leader_name
        source = sorted(self._talk_to, key=lambda n: n.name == leader)[0]

        def check(host) -> bool:
            taken = (self._pending.snapshot if self._pending else None) or {}
            if taken and Path(taken.get("path", "")).exists():
                say(host, f"taken when this change started: {taken['path']}")
                return False
            return True

        def apply(host) -> None:
            info = take_snapshot(
                host, self.plan, source, self.snapshot_out, say=lambda line: say(host, line)
            )
            self.snapshot = info
            if info is not None and self._pending is not None and self.plan.source is not None:
                self._pending = replace(self._pending, snapshot=info.to_json())
                write_pending(self.plan.source, self._pending)

        return Step(source.name, "snapshot before the change", check, apply)

    # --- remove -----------------------------------------------------------------------------

    def _remove_phases(self) -> list[Phase]:
        gone = self.node if self.op is Op.REMOVE else self.old
        assert gone is not None
        node = self.plan.node(gone)
        url = render.peer_url(self.plan, node)
        remaining = tuple(n for n in self.members_now if n.name != gone)

        def check(local) -> bool:
            member = self._api().find(url, gone)
            if member is None:
                local.output(f"{gone} is not in the member list (removed already)")
                return False
            self._remove_id = member.id
            return True

        def apply(local) -> None:
            api = self._api()
            _retry(lambda: api.remove(self._remove_id), RECONFIG_RETRY, local.output)
            local.output(f"removed member {gone} ({self._remove_id:x})")

        phases = [
            Phase("etcd member remove", [Step(None, f"member remove {gone}", check, apply)]),
            Phase("etcd stop removed member", [self._stop_step(node)]),
        ]
        if self.op is Op.REMOVE:
            phases += [
                Phase("etcd membership", [self._membership_step(m, remaining) for m in remaining]),
                Phase("etcd health", [self._wait_leader_step(remaining, gone)]),
            ]
        else:
            phases.append(Phase("etcd health", [self._wait_leader_step(remaining, gone)]))
        return phases

    def _stop_step(self, node: Node) -> Step:
        data_dir = self.plan.etcd.data_dir

        def check(host) -> bool:
            try:
                out = host.probe(
                    'echo "$(systemctl is-active etcd 2>/dev/null) '
                    '$(systemctl is-enabled etcd 2>/dev/null)"'
                ).stdout.split()
            except ConnectError as exc:
                line = (
                    f"{node.name} is unreachable ({exc.message}): etcd there was not stopped; "
                    "it can no longer rejoin, since it is no longer a member"
                )
                say(host, line)
                self.warnings.append(line)
                return False
            return "active" in out or "enabled" in out

        def apply(host) -> None:
            host.run(["systemctl", "disable", "--now", "etcd"], timeout=120)
            say(host, f"etcd stopped and disabled; data dir {data_dir} kept (never deleted)")

        if not (self.op is Op.REPLACE and self.old == self.node):
            self.notes.append(
                f"the data dir {data_dir} on {node.name} is kept, never deleted; if "
                f"{node.name} joins again, `hawizard etcd add` renames it aside first"
            )
        return Step(node.name, "stop and disable etcd (removed member)", check, apply)

    def _wait_leader_step(self, remaining: tuple[Node, ...], gone: str) -> Step:
        view = plan_with_etcd_members(self.plan, [n.name for n in remaining])
        # A replace resumed after its `member add` finds NEW listed already (a learner, maybe
        # one that never started): that is the change's own joiner, not a stranger.
        joiner = peer_url_of(self.plan, self.node) if self.op is Op.REPLACE else ""

        def settled(h: ClusterHealth) -> bool:
            strangers = [
                m
                for m in h.members
                if m.in_cluster and not m.in_plan and not (joiner and joiner in m.peer_urls)
            ]
            return h.quorum_ok and bool(h.leader_id) and not strangers

        def check(local) -> bool:
            return True

        def apply(local) -> None:
            h = _wait_until(view, settled, self.health_timeout, local.output)
            local.output(f"{gone} is gone from the member list; {h.summary}")

        return Step(None, f"wait for a leader without {gone}", check, apply)

    # --- add ---------------------------------------------------------------------------------

    def _add_phases(self) -> list[Phase]:
        node = self.plan.node(self.node)
        joined = self.members_after
        rollout = EtcdRollout(
            self.plan,
            members=(node,),
            joining=frozenset({node.name}),
            membership=joined,
            health_timeout=self.health_timeout,
        )
        others = tuple(n for n in joined if n.name != node.name)
        return [
            *self._joining_phases(node, rollout),
            Phase("etcd member add", [self._member_add_step(node)]),
            *rollout.start_phases(),
            Phase("etcd promote", [self._promote_step(node)]),
            Phase("etcd health", [self._wait_converged_step(joined)]),
            Phase("etcd membership", [self._membership_step(m, joined) for m in others]),
        ]

    def _joining_phases(self, node: Node, rollout: EtcdRollout) -> list[Phase]:
        """What the joining member needs before `member add` (`joining`): the same for
        `add`, for `replace` onto another node and for a member re-added in place. Its data
        dir is looked at only where the rules allowed a set-aside: data this cluster's WAL
        names as a removed member's (`data_aside`), or the re-added member's own old data."""
        in_place = self.op is Op.REPLACE and self.old == self.node
        url = render.peer_url(self.plan, node)
        return joining_phases(
            self.plan,
            node,
            rollout,
            set_aside=self.assessment.impact.data_aside or in_place,
            listed=lambda: self._api().find(url, node.name),
            notes=self.notes,
        )

    def _member_add_step(self, node: Node) -> Step:
        url = render.peer_url(self.plan, node)

        def check(local) -> bool:
            found = self._api().find(url, node.name)
            if found is not None:
                local.output(f"{node.name} is listed already ({found.hex_id}): reusing it")
                return False
            return True

        def apply(local) -> None:
            api = self._api()
            try:
                added = _retry(lambda: api.add_learner(url), RECONFIG_RETRY, local.output)
            except (EtcdRefused, GatewayUnreachable):
                # the add may have been committed although the answer was lost
                added = api.find(url, node.name)
                if added is None:
                    raise
            local.output(f"added {node.name} as a learner ({added.hex_id}, {url})")

        key = f"etcd member add/{node.name}/{url}/{self.change_id}"
        return Step(None, f"member add {node.name} (learner)", check, apply, key=key, once=True)

    def _promote_step(self, node: Node) -> Step:
        url = render.peer_url(self.plan, node)

        def check(local) -> bool:
            if local.dry_run:
                return True
            found = self._api().find(url, node.name)
            if found is None:
                raise ChangeFailed(f"{node.name} is not in the member list: the add was undone")
            return found.is_learner

        def apply(local) -> None:
            api = self._api()
            start = time.monotonic()
            found = api.find(url, node.name)
            assert found is not None
            _retry(lambda: api.promote(found.id), self.catch_up_timeout, local.output)
            local.output(f"{node.name} caught up and promoted in {time.monotonic() - start:.1f}s")

        return Step(None, f"promote {node.name} once caught up", check, apply)

    def _wait_converged_step(self, joined: tuple[Node, ...]) -> Step:
        view = plan_with_etcd_members(self.plan, [n.name for n in joined])

        def check(local) -> bool:
            return True

        def apply(local) -> None:
            h = _wait_until(view, lambda h: h.converged, self.health_timeout, local.output)
            local.output(h.summary)

        names = ", ".join(n.name for n in joined)
        return Step(None, f"wait until {names} are healthy", check, apply)

    # --- the other members' configuration --------------------------------------------------

    def _membership_step(self, m: Node, members: tuple[Node, ...]) -> Step:
        """The initial-cluster line (and `existing`) only: a running member reads neither,
        so nobody restarts; the file just tells the truth for the next bootstrap check."""
        line = f"initial-cluster: {json.dumps(render.initial_cluster(self.plan, members))}"

        def check(host) -> bool:
            try:
                text = host.read_text_or_none(render.CONFIG_PATH)
            except ConnectError as exc:
                warning = (
                    f"{m.name} is unreachable ({exc.message}): its {render.CONFIG_PATH} still "
                    "names the old members; `hawizard apply` updates it once it is back"
                )
                say(host, warning)
                self.warnings.append(warning)
                return False
            if text is None:
                raise ChangeFailed(f"{m.name} has no {render.CONFIG_PATH}: run `hawizard apply`")
            new = with_membership(text, line)
            with self._lock:
                self._texts[m.name] = new
            return new != text

        def apply(host) -> None:
            host.put(self._texts[m.name], render.CONFIG_PATH, 0o640, "root", "etcd")
            say(host, f"{render.CONFIG_PATH}: {line}")

        return Step(m.name, "membership in configuration", check, apply)

    # --- the plan ---------------------------------------------------------------------------

    def _plan_step(self, gone: str) -> Step:
        path = self.plan.source
        assert path is not None

        def check(local) -> bool:
            from hawizard.plan import load

            current = load(path)
            self.plan_after = without_member(current, gone)
            return current != self.plan_after

        def apply(local) -> None:
            from hawizard.plan import dump_with_backup, validate

            problems = [p for p in validate(self.plan_after) if p.severity.value == "error"]
            if problems:
                raise ChangeFailed(
                    f"the plan without {gone} would be invalid: "
                    + "; ".join(str(p) for p in problems)
                    + f" — edit {path} by hand"
                )
            backup = dump_with_backup(self.plan_after, path)
            clear_pending(path)  # the plan now says it: the change is complete
            what = (
                f"dropped node {gone}"
                if gone not in {n.name for n in self.plan_after.nodes}
                else f"dropped the etcd role of {gone}"
            )
            local.output(f"{path}: {what} (backup {backup.name})")

        return Step(None, f"plan: {gone} is no longer an etcd member", check, apply)


# --- helpers ------------------------------------------------------------------------------------


def _retry(fn: Callable[[], Any], timeout: float, say: Callable[[str], None]) -> Any:
    """Call `fn` until it stops failing with a transient etcd answer, at most `timeout` s."""
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        try:
            return fn()
        except (EtcdRefused, GatewayUnreachable) as exc:
            text = exc.message if isinstance(exc, EtcdRefused) else str(exc)
            transient = isinstance(exc, GatewayUnreachable) or any(t in text for t in _TRANSIENT)
            if not transient or time.monotonic() >= deadline:
                raise
            if text != last:
                say(f"etcd says: {text}; retrying for up to {timeout:g}s")
                last = text
            time.sleep(1.0)


def _wait_until(
    view: Plan,
    ready: Callable[[ClusterHealth], bool],
    timeout: float,
    say: Callable[[str], None],
) -> ClusterHealth:
    from hawizard.etcd.probe import cluster_health

    deadline = time.monotonic() + timeout
    last = ""
    while True:
        h = cluster_health(view)
        if ready(h):
            return h
        if h.summary != last:
            say(h.summary)
            last = h.summary
        if time.monotonic() >= deadline:
            findings = "; ".join(h.problems[:4]) or h.summary
            raise ChangeFailed(f"the cluster did not settle within {timeout:g}s: {findings}")
        time.sleep(1.0)
