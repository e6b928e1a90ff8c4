"""`hawizard etcd defrag PLAN`: compact, defragment every member without a failed request, and
clear a NOSPACE alarm once the cluster fits its quota again.

Why this order: a defragmentation rewrites a member's whole backend file and blocks that
member (no read, no write) for seconds per GB, so it runs on **one member at a time,
followers first**; the member that leads is defragmented **last**, after leadership has been
handed to a member already done, so the cluster never waits on a blocked leader. Clients that
retry on another endpoint (etcd's own clients, the apiserver) see slower requests, never failed
ones. Before each next member a **guard** checks that every member answers and that a test
write (a linearizable read while NOSPACE refuses writes) takes at most
`etcd.defrag_max_write_ms`; otherwise it stops there, with every member done so far fine.

Compaction first, because only compacted history becomes free pages a defragmentation can give
back. It keeps the newest `etcd.defrag_keep_revisions` revisions (default 1000) rather than
compacting to the current revision: a watcher a little behind (an apiserver's informer after
a short hiccup) can resume instead of being cut off and forced to relist. etcd's own periodic
compaction (`auto-compaction-retention`, 1 h as hawizard renders it) keeps running as before.

NOSPACE: etcd keeps the alarm set until someone disarms it, even after the space is back. When
it is raised and, after compaction, the live data fits well inside the quota, the last phase
disarms it and proves that a write succeeds. When the live data itself is too big, the run
stops after compacting (which changes nothing a client can see) with the fix: raise
`etcd.quota_backend_bytes` (and `hawizard apply`).

Shape: an Operation as `ops/operation.py` will drive it (`command`, `title`, `assess` raising
`Refused`, `begin`, `phases`, `finish`); until that driver lands the faces take the plan lock
themselves (`hawizard.planlock`). Every call goes from the operator's machine over HTTPS with
the admin client certificate (`hawizard.etcd.maintenance`); no SSH is needed.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from hawizard.etcd.cluster_api import EtcdRefused, GatewayUnreachable
from hawizard.etcd.maintenance import Maintenance
from hawizard.health import ClusterHealth
from hawizard.ops.refusal import Refused
from hawizard.plan import Plan
from hawizard.steps import Phase, Step

__all__ = ["Defrag", "GuardTripped", "MemberReport", "blocked_summary", "fits", "ready_problems"]

SETTLE_S = 3.0  # pause after a member is back, before the guard judges the next one
WAIT_S = 60.0  # how long a defragmented member may take to be healthy and caught up again
FIT_SHARE = 0.8  # after compaction, live data above this share of the quota does not "fit"
GUARD_SAMPLES = 3  # test writes per guard; their median is judged


class GuardTripped(Exception):
    """The guard stopped the run between two members: `reason` says why."""


@dataclass
class MemberReport:
    """One member's defragmentation: sizes in bytes, `blocked_s` the seconds it served nothing."""

    name: str
    led_at_start: bool
    db_before: int
    in_use_before: int
    db_after: int | None = None
    in_use_after: int | None = None
    blocked_s: float | None = None
    finished_at: str = ""  # UTC, ISO 8601

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "led_at_start": self.led_at_start,
            "db_before": self.db_before,
            "in_use_before": self.in_use_before,
            "db_after": self.db_after,
            "in_use_after": self.in_use_after,
            "blocked_s": None if self.blocked_s is None else round(self.blocked_s, 3),
            "finished_at": self.finished_at,
        }


def member_ok(m) -> bool:
    """Healthy, or unhealthy only because of the NOSPACE alarm (etcd's /health says false
    while it is raised; that alarm is what this operation is for)."""
    if not (m.in_plan and m.in_cluster and m.reachable):
        return False
    return m.healthy or (set(m.alarms) == {"NOSPACE"} and "NOSPACE" in m.error)


def ready_problems(health: ClusterHealth) -> list[str]:
    """Why the cluster is not ready to be defragmented (empty: ready)."""
    problems = [
        f"{m.name}: {m.state.value}" + (f" ({m.error})" if m.error else "")
        for m in health.members
        if m.in_plan and not member_ok(m)
    ]
    problems += [f"{n}: in the cluster, not in the plan" for n in health.not_in_plan]
    if not health.leader_id:
        problems.append("no agreed leader")
    return problems


def fits(in_use: int, quota: int) -> bool:
    return in_use <= FIT_SHARE * quota


def _mib(n: int | None) -> str:
    return "?" if n is None else f"{n / 1024**2:.1f} MiB"


@dataclass
class Defrag:
    """The operation. `assess` judges (and raises `Refused`), `phases` does the work, the
    report fields are filled while it runs and read by the faces afterwards."""

    plan: Plan
    settle_s: float = SETTLE_S
    wait_s: float = WAIT_S
    command: str = "etcd defrag"
    # judged
    order: tuple[str, ...] = ()  # followers in plan order, then the member that leads
    leader: str = ""
    alarms: tuple[str, ...] = ()
    revision: int = 0
    compact_to: int = 0  # 0: nothing to compact
    members: dict[str, MemberReport] = field(default_factory=dict)
    # filled while running
    dry_run: bool = False
    compacted: bool | None = None
    disarmed: tuple[str, ...] = ()
    write_proved_ms: float | None = None
    guard_ms: list[float] = field(default_factory=list)
    ok: bool | None = None
    refusal: Refused | None = None

    @property
    def title(self) -> str:
        return f"defragment etcd ({len(self.order)} members, {self.leader} last)"

    def _api(self) -> Maintenance:
        return Maintenance(self.plan, timeout=max(2.0, self.plan.etcd.probe_timeout))

    # --- judge ------------------------------------------------------------------------------

    def assess(self, plan: Plan | None = None, health: ClusterHealth | None = None) -> Defrag:
        """Judge the cluster now; raise `Refused` (reason + fix) before anything changes."""
        from hawizard.etcd.probe import cluster_health

        self.plan = plan or self.plan
        health = health or cluster_health(self.plan)
        problems = ready_problems(health)
        if problems:
            raise Refused(
                "every member must be healthy before a defragmentation (each one is blocked "
                "in turn, so the others must carry the load)",
                "bring the cluster back first: `hawizard status` shows what is wrong",
                problems,
            )
        api = self._api()
        try:
            backends = [api.status(n) for n in self.plan.etcd_nodes]
        except (GatewayUnreachable, EtcdRefused) as exc:
            raise Refused(
                f"a member did not report its backend: {exc}",
                "run `hawizard status` and try again once every member answers",
            ) from None
        self.leader = health.leader_name
        names = [b.name for b in backends]
        self.order = tuple([n for n in names if n != self.leader] + [self.leader])
        self.alarms = health.alarms
        self.revision = max(b.revision for b in backends)
        keep = self.plan.etcd.defrag_keep_revisions
        self.compact_to = self.revision - keep if self.revision - keep > 1 else 0
        self.members = {
            b.name: MemberReport(b.name, b.name == self.leader, b.db_size, b.db_size_in_use)
            for b in backends
        }
        return self

    # --- run --------------------------------------------------------------------------------

    def begin(self, dry_run: bool) -> None:
        self.dry_run = dry_run

    def phases(self) -> list[Phase]:
        phases = [Phase("etcd defrag: compact", [self._compact_step()])]
        n = len(self.order)
        for i, name in enumerate(self.order, 1):
            steps = [self._guard_step(name)] if i > 1 else []
            steps.append(self._member_step(name))
            role = " (led at the start, last)" if name == self.leader else ""
            phases.append(Phase(f"etcd defrag {i}/{n}: {name}{role}", steps))
        phases.append(Phase("etcd defrag: writes", [self._writes_step()]))
        return phases

    def finish(self, ok: bool) -> dict[str, Any]:
        self.ok = ok
        return self.to_json()

    # --- the steps --------------------------------------------------------------------------

    def _compact_step(self) -> Step:
        def check(local) -> bool:
            if not self.compact_to:
                local.output(f"revision {self.revision}: nothing old enough to compact")
            return bool(self.compact_to)

        def apply(local) -> None:
            first = self.plan.node(self.order[0])
            self.compacted = self._api().compact(self.compact_to, via=first)
            kept = self.revision - self.compact_to
            local.output(
                f"compacted below revision {self.compact_to} (the newest {kept} kept)"
                if self.compacted
                else f"history below {self.compact_to} was compacted already"
            )

        return Step(None, "compact the history", check, apply, key="etcd-defrag/compact")

    def _guard_step(self, name: str) -> Step:
        def apply(local) -> None:
            self._guard(local.output, before=name)

        return Step(None, f"guard before {name}", None, apply, key=f"etcd-defrag/guard/{name}")

    def _member_step(self, name: str) -> Step:
        def apply(local) -> None:
            self._defragment(name, local.output)

        return Step(None, f"defragment {name}", None, apply, key=f"etcd-defrag/member/{name}")

    def _writes_step(self) -> Step:
        def apply(local) -> None:
            self._writes(local.output)

        return Step(None, "alarms and a test write", None, apply, key="etcd-defrag/writes")

    # --- what the steps do -------------------------------------------------------------------

    def _judge_fit(self, live: int, say) -> None:
        """The first member's size right after its defragmentation is the live data (a
        defragmentation rewrites exactly what is in use; `dbSizeInUse` right after a
        compaction still counts the pages bbolt has only marked pending). Under NOSPACE, data
        that does not fit well inside the quota cannot be helped by defragmenting: stop with
        the fix. Without the alarm, say so and go on (the space is still worth having)."""
        quota = self.plan.etcd.quota_backend_bytes
        if fits(live, quota):
            return
        share = (
            f"the live data ({_mib(live)}) is more than {FIT_SHARE:.0%} of the quota "
            f"({_mib(quota)})"
        )
        if self._nospace():
            raise self._refuse(
                f"{share} even after compaction and defragmentation: NOSPACE cannot be "
                "cleared by making room",
                "raise etcd.quota_backend_bytes in the plan (at most 8 GiB), run "
                "`hawizard apply`, then `hawizard etcd defrag` again",
            )
        say(f"{share}: raise etcd.quota_backend_bytes before etcd raises NOSPACE")

    def _refuse(self, reason: str, hint: str) -> Refused:
        """A refusal found while running (after compaction, which changes nothing a client
        sees): kept so the face reports it as one (exit 2), not as a failed step."""
        self.refusal = Refused(reason, hint)
        return self.refusal

    def _guard(self, say, *, before: str) -> None:
        """Every member answers and a test write is quick, or stop before `before`."""
        from hawizard.etcd.probe import cluster_health

        problems: list[str] = []
        for _ in range(3):  # a single slow probe round on a loaded machine is no verdict
            problems = ready_problems(cluster_health(self.plan))
            if not problems:
                break
            time.sleep(1.0)
        if problems:
            raise GuardTripped(
                f"stopped before {before}: " + "; ".join(problems[:3]) + " (the members "
                "defragmented so far are fine; run `hawizard etcd defrag` again once "
                "`hawizard status` is healthy)"
            )
        ms = self._latency_ms()
        self.guard_ms.append(ms)
        limit = self.plan.etcd.defrag_max_write_ms
        kind = "write" if not self._nospace() else "linearizable read (NOSPACE refuses writes)"
        say(f"every member answers; test {kind} {ms:.0f} ms (limit {limit} ms)")
        if ms > limit:
            raise GuardTripped(
                f"stopped before {before}: a test {kind} took {ms:.0f} ms, more than "
                f"etcd.defrag_max_write_ms = {limit} (run again when the cluster is quieter, "
                "or raise the limit in the plan)"
            )

    def _nospace(self) -> bool:
        return "NOSPACE" in self.alarms and not self.disarmed

    def _latency_ms(self) -> float:
        api = self._api()
        probe = api.test_read if self._nospace() else api.test_write
        return 1000 * statistics.median(probe() for _ in range(GUARD_SAMPLES))

    def _defragment(self, name: str, say) -> None:
        from hawizard.etcd.upgrade import hand_over_leadership

        api = self._api()
        member = self.plan.node(name)
        report = self.members[name]
        if api.status(member).is_leader:
            done = [n for n in self.order if self.members[n].blocked_s is not None]
            others = [n for n in self.order if n != name]
            to = (done or others)[-1]
            hand_over_leadership(self.plan, member, to, say)
            self._wait(lambda h: h.leader_name not in ("", name), f"{name} to hand over")
        before = api.status(member)
        report.db_before, report.in_use_before = before.db_size, before.db_size_in_use
        say(f"{name}: {_mib(before.db_size)} ({_mib(before.db_size_in_use)} in use)")
        report.blocked_s = api.defragment(member)
        report.finished_at = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        after = api.status(member)
        report.db_after, report.in_use_after = after.db_size, after.db_size_in_use
        say(
            f"{name}: {_mib(before.db_size)} → {_mib(after.db_size)}, "
            f"blocked {report.blocked_s:.2f} s"
        )
        if name == self.order[0]:
            self._judge_fit(after.db_size, say)
        self._wait(lambda h: _caught_up(h, name), f"{name} to be healthy and caught up")
        if self.settle_s and name != self.order[-1]:
            time.sleep(self.settle_s)

    def _wait(self, done, what: str) -> ClusterHealth:
        from hawizard.etcd.probe import cluster_health

        deadline = time.monotonic() + self.wait_s
        while True:
            health = cluster_health(self.plan)
            if not ready_problems(health) and done(health):
                return health
            if time.monotonic() > deadline:
                problems = ready_problems(health) or [health.summary]
                raise GuardTripped(
                    f"waited {self.wait_s:g} s for {what}: " + "; ".join(problems[:3])
                )
            time.sleep(0.5)

    def _writes(self, say) -> None:
        api = self._api()
        active = api.alarms()
        nospace = [(mid, a) for mid, a in active if a == "NOSPACE"]
        if nospace:
            quota = self.plan.etcd.quota_backend_bytes
            sizes = {n: api.status(self.plan.node(n)).db_size for n in self.order}
            too_big = {n: s for n, s in sizes.items() if not fits(s, quota)}
            if too_big:
                raise self._refuse(
                    "NOSPACE stays raised: "
                    + ", ".join(f"{n} is {_mib(s)}" for n, s in too_big.items())
                    + f" of a {_mib(quota)} quota after defragmentation",
                    "raise etcd.quota_backend_bytes in the plan and run `hawizard apply`",
                )
            for member_id, alarm in nospace:
                api.disarm(member_id, alarm)
            self.disarmed = tuple(sorted({a for _, a in nospace}))
            say("every member fits its quota again: NOSPACE disarmed")
        others = sorted({a for _, a in active if a != "NOSPACE"})
        if others:
            say(f"other alarms stay raised (not this command's to clear): {', '.join(others)}")
        self.write_proved_ms = 1000 * api.test_write()
        say(f"a test write succeeded in {self.write_proved_ms:.0f} ms")

    # --- report -----------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "refused": self.refusal is not None,
            "reason": self.refusal.reason if self.refusal else None,
            "hint": self.refusal.hint if self.refusal else None,
            "dry_run": self.dry_run,
            "order": list(self.order),
            "leader_at_start": self.leader,
            "revision": self.revision,
            "compact_to": self.compact_to or None,
            "compacted": self.compacted,
            "alarms_at_start": list(self.alarms),
            "disarmed": list(self.disarmed),
            "write_proved_ms": (
                None if self.write_proved_ms is None else round(self.write_proved_ms, 1)
            ),
            "guard_ms": [round(x, 1) for x in self.guard_ms],
            "members": [self.members[n].to_json() for n in self.order],
        }


def _caught_up(health: ClusterHealth, name: str) -> bool:
    from hawizard.etcd.member import caught_up

    return caught_up(health, name)


def blocked_summary(op: Defrag) -> str:
    """One line: each member's time blocked, in order."""
    return ", ".join(
        f"{n} {op.members[n].blocked_s:.2f} s"
        for n in op.order
        if op.members[n].blocked_s is not None
    )
