"""The member list and a change's verdict as the quorum rules see them: plain values, no
network. `Membership.from_health` reads a probe round; tests build one by hand. The rules
that judge a change are `hawizard.etcd.quorum_rules`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from hawizard.plan import quorum

__all__ = ["ChangeImpact", "Member", "Membership", "Op", "TargetState"]

_UNSTARTED = "(unstarted "  # how `health.build` names a listed member that never started


class Op(StrEnum):
    ADD = "add"
    REMOVE = "remove"
    REPLACE = "replace"


@dataclass(frozen=True)
class Member:
    """One entry of the member list, with what the probes said about it."""

    name: str  # "" for a member added but never started
    id: str = ""  # hex
    voter: bool = True  # False: a learner
    healthy: bool = False
    peer_urls: tuple[str, ...] = ()
    in_plan: bool = True

    @property
    def started(self) -> bool:
        return bool(self.name)

    @property
    def label(self) -> str:
        return self.name or f"the unstarted member {self.id or '?'}"


@dataclass(frozen=True)
class Membership:
    """The cluster's member list as the rules see it; `known=False` when no member answered."""

    members: tuple[Member, ...] = ()
    known: bool = True
    cluster_id: str = ""  # hex; "" when the members did not agree on one (or none answered)

    @classmethod
    def from_health(cls, health: Any) -> Membership:
        """From a `hawizard.health.ClusterHealth`: every listed member (probed or not)."""
        rows = list(health.members)
        if rows and all(m.in_cluster is None for m in rows):
            return cls((), known=False)
        members = []
        for m in rows:
            if m.in_cluster is not True:
                continue  # a planned node that is not (yet) a member
            started = not (not m.in_plan and m.name.startswith(_UNSTARTED))
            members.append(
                Member(
                    name=m.name if started else "",
                    id=m.id,
                    voter=not m.is_learner,
                    healthy=bool(m.healthy and m.reachable),
                    peer_urls=tuple(m.peer_urls),
                    in_plan=m.in_plan,
                )
            )
        cluster_id = getattr(health, "cluster_id", "")
        return cls(tuple(members), known=bool(members), cluster_id=cluster_id)

    @property
    def voters(self) -> tuple[Member, ...]:
        return tuple(m for m in self.members if m.voter)

    @property
    def healthy_voters(self) -> int:
        return sum(m.healthy for m in self.voters)

    @property
    def quorum(self) -> int:
        return quorum(len(self.voters)) if self.voters else 0

    @property
    def quorum_ok(self) -> bool:
        return bool(self.voters) and self.healthy_voters >= self.quorum

    @property
    def tolerates(self) -> int:
        return self.healthy_voters - self.quorum if self.quorum_ok else 0

    @property
    def pending(self) -> tuple[Member, ...]:
        """Learners and members that were added but never started: a change in flight."""
        return tuple(m for m in self.members if not m.voter or not m.started)

    def find(self, name: str, peer_url: str = "") -> Member | None:
        """By peer URL first (an unstarted member has no name yet), then by name."""
        for m in self.members:
            if peer_url and peer_url in m.peer_urls:
                return m
        for m in self.members:
            if name and m.name == name:
                return m
        return None

    def without(self, member: Member) -> Membership:
        return replace(self, members=tuple(m for m in self.members if m is not member))


@dataclass(frozen=True)
class TargetState:
    """What SSH showed about the node to add: reachable, and whether it holds etcd data."""

    reachable: bool = True
    has_data: bool = False
    error: str = ""
    # Whose data it is, from its WAL (`hawizard.etcd.data_dir`); "" when it could not be read.
    data_member_id: str = ""
    data_cluster_id: str = ""


@dataclass(frozen=True)
class ChangeImpact:
    """The verdict on one change, with quorum and failure tolerance before and after.

    `after_*` assume the change completes and a new member is healthy. `tolerance` is how many
    more voting members may fail while the rest still form a quorum. When refused, `reason`
    says why and `suggestion` is the command to run instead (may be empty).
    """

    op: Op
    node: str
    old: str | None
    allowed: bool
    reason: str
    suggestion: str
    before_members: int
    after_members: int
    before_quorum: int
    after_quorum: int
    before_healthy: int
    after_healthy: int
    before_tolerance: int
    after_tolerance: int
    resume: bool = False
    notes: tuple[str, ...] = field(default=())
    # The node to add holds stale data of a member this cluster removed: it is renamed aside
    # (kept, never deleted) before the node joins.
    data_aside: bool = False

    @property
    def title(self) -> str:
        if self.op is Op.REPLACE:
            return f"replace {self.old} with {self.node}"
        return f"{self.op.value} {self.node}"

    @property
    def summary(self) -> str:
        """E.g. "3 → 4 members · quorum 2 → 3 · tolerates 1 → 1 failure"."""
        unit = "failure" if self.after_tolerance == 1 else "failures"
        return (
            f"{self.before_members} → {self.after_members} members · quorum "
            f"{self.before_quorum} → {self.after_quorum} · tolerates "
            f"{self.before_tolerance} → {self.after_tolerance} {unit}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "op": self.op.value,
            "node": self.node,
            "old": self.old,
            "allowed": self.allowed,
            "resume": self.resume,
            "reason": self.reason,
            "suggestion": self.suggestion,
            "summary": self.summary,
            "before": {
                "members": self.before_members,
                "quorum": self.before_quorum,
                "healthy": self.before_healthy,
                "tolerance": self.before_tolerance,
            },
            "after": {
                "members": self.after_members,
                "quorum": self.after_quorum,
                "healthy": self.after_healthy,
                "tolerance": self.after_tolerance,
            },
            "notes": list(self.notes),
            "data_aside": self.data_aside,
        }
