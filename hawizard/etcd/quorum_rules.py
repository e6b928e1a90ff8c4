"""Whether a membership change is safe, and what it does to quorum: pure rules, no network.

The most common etcd outages come from membership changes made at the wrong moment: a member
added while another is down (the quorum grows, the healthy count does not), two members joined
at once, a member removed while the rest cannot form a quorum. These rules decide before
anything is touched, from one `ClusterHealth` (or a hand-made `Membership` in tests), and say
what to do instead. The CLI, the dashboard's confirmation dialog and the tests share them.

Numbers are about *voting* members (learners do not vote): `quorum(voters)` must be healthy
for any change to be committed, and `tolerates` is how many more voters may fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from hawizard.plan import quorum

__all__ = [
    "ChangeImpact",
    "Member",
    "Membership",
    "Op",
    "TargetState",
    "plan_change",
]

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


@dataclass(frozen=True)
class _Verdict:
    allowed: bool
    reason: str
    suggestion: str = ""
    resume: bool = False
    notes: tuple[str, ...] = ()
    data_aside: bool = False


def _ok(
    reason: str, *, resume: bool = False, notes: tuple[str, ...] = (), data_aside: bool = False
) -> _Verdict:
    return _Verdict(True, reason, "", resume, notes, data_aside)


def _no(reason: str, suggestion: str = "") -> _Verdict:
    return _Verdict(False, reason, suggestion)


def plan_change(
    health: Any,
    op: Op | str,
    node: str,
    *,
    old: str | None = None,
    peer_url: str = "",
    old_peer_url: str = "",
    target: TargetState | None = None,
    resuming: bool = False,
    plan_path: str = "PLAN",
) -> ChangeImpact:
    """Allowed or refused (with the reason and the command to run instead), and the numbers.

    `health` is a `ClusterHealth` or a `Membership`. `node` is the member to add or remove
    (for replace: the new node, `old` the one it replaces); `peer_url`/`old_peer_url` find
    members that never started and have no name yet. `target` is what SSH showed about the
    node to add (None: not checked). `resuming` is True when this same change was started
    before and did not finish: states it left behind (a learner already added, a member
    already removed) are then continued rather than refused.
    """
    op = Op(op)
    ms = health if isinstance(health, Membership) else Membership.from_health(health)
    p = plan_path
    before = (len(ms.voters), ms.quorum, ms.healthy_voters, ms.tolerates)
    foreign = [m.name for m in ms.members if m.started and not m.in_plan]
    if foreign:
        verdict = _no(
            f"the cluster has members the plan does not list ({', '.join(foreign)}), so their "
            "health is unknown and the quorum cannot be judged",
            f"add {foreign[0]} to {p} with its address and the etcd role, then run this again",
        )
        voters, healthy = before[0], before[2]
    elif op is Op.ADD:
        verdict, after = _add(ms, node, peer_url, target, resuming, p)
    elif op is Op.REMOVE:
        verdict, after = _remove(ms, node, peer_url, resuming, p)
    else:
        if not old:
            raise ValueError("replace needs the old member's name")
        verdict, after = _replace(ms, old, old_peer_url, node, peer_url, target, resuming, p)
    if not foreign:
        voters, healthy = after
    q = quorum(voters) if voters else 0
    return ChangeImpact(
        op=op,
        node=node,
        old=old,
        allowed=verdict.allowed,
        reason=verdict.reason,
        suggestion=verdict.suggestion,
        before_members=before[0],
        after_members=voters,
        before_quorum=before[1],
        after_quorum=q,
        before_healthy=before[2],
        after_healthy=healthy,
        before_tolerance=before[3],
        after_tolerance=max(healthy - q, 0) if voters and healthy >= q else 0,
        resume=verdict.resume,
        notes=verdict.notes + _even_note(voters, verdict.allowed),
        data_aside=verdict.data_aside,
    )


def _even_note(voters: int, allowed: bool) -> tuple[str, ...]:
    if allowed and voters % 2 == 0 and voters > 0:
        return (
            f"{voters} members tolerate no more failures than {voters - 1}: "
            "an odd count is the usual target",
        )
    return ()


def _no_list() -> _Verdict:
    return _no(
        "no member answered with a member list: the cluster is down or unreachable, so no "
        "membership change can be committed",
        "",
    )


def _quorum_lost(ms: Membership, p: str) -> _Verdict:
    down = ", ".join(m.label for m in ms.voters if not m.healthy)
    return _no(
        f"the cluster has no quorum ({ms.healthy_voters} of {len(ms.voters)} members healthy, "
        f"{ms.quorum} needed; down: {down}): a membership change needs a quorum to commit",
        f"hawizard status {p}  (bring the down members back first)",
    )


def _add(
    ms: Membership,
    node: str,
    peer_url: str,
    target: TargetState | None,
    resuming: bool,
    p: str,
) -> tuple[_Verdict, tuple[int, int]]:
    voters, healthy = len(ms.voters), ms.healthy_voters
    if not ms.known:
        return _no_list(), (voters + 1, healthy + 1)
    mine = ms.find(node, peer_url)
    if mine is not None and mine.voter and mine.started:
        after = (voters, healthy)
        if resuming:
            return _ok(
                f"{node} is already a voting member: finishing the change", resume=True
            ), after
        return (
            _no(
                f"{node} is already a voting member of the cluster",
                f"hawizard status {p}  (if its data dir was lost, re-add it: "
                f"hawizard etcd replace {p} {node} {node})",
            ),
            after,
        )
    after = (voters + 1, healthy + 1)
    if not ms.quorum_ok:
        return _quorum_lost(ms, p), after
    down = [m for m in ms.voters if not m.healthy]
    if down:
        names = ", ".join(m.label for m in down)
        first = down[0].name or down[0].id
        return (
            _no(
                f"{names} {'is' if len(down) == 1 else 'are'} down: adding a member would raise "
                f"the quorum from {ms.quorum} to {quorum(voters + 1)} of {voters + 1} while only "
                f"{healthy} members are healthy, so the cluster would tolerate fewer failures",
                f"hawizard etcd replace {p} {first} {node}",
            ),
            after,
        )
    others = [m for m in ms.pending if m is not mine]
    if others:
        who = others[0]
        return (
            _no(
                f"{who.label} is still joining ({'learner' if who.started else 'not started'}): "
                "one member joins at a time",
                f"hawizard etcd add {p} {who.name}"
                if who.name
                else f"hawizard status {p}  (then finish or remove that member)",
            ),
            after,
        )
    if target is not None and not target.reachable:
        return (
            _no(
                f"cannot reach {node} over SSH: {target.error or 'no answer'}",
                f"hawizard plan check {p}",
            ),
            after,
        )
    aside: tuple[str, ...] = ()
    # A listed learner's own WAL (it ran under its new ID, then stopped) is its own data.
    own = bool(target and mine and mine.id and mine.id == target.data_member_id)
    started = mine is not None and mine.started
    if target is not None and target.has_data and not started and not own:
        stale = _stale_data(ms, node, target)
        if isinstance(stale, _Verdict):
            return stale, after
        aside = (stale,)
    if mine is not None:
        state = "learner" if mine.started else "added, not started yet"
        return _ok(
            f"{node} is in the member list already ({state})",
            resume=True,
            notes=aside,
            data_aside=bool(aside),
        ), after
    return _ok(
        f"{node} joins as a learner and is promoted once it has caught up",
        notes=aside,
        data_aside=bool(aside),
    ), after


def _stale_data(ms: Membership, node: str, target: TargetState) -> str | _Verdict:
    """The node to add holds etcd data. Data this cluster's WAL names as one of its former
    members (the cluster ID matches, the member ID is no longer listed) is set aside, renamed
    and kept: the note saying so; anything else is refused (another cluster's data, a listed
    member's, or data whose owner cannot be read), since hawizard never adopts or deletes it."""
    owner = f"member {target.data_member_id} of cluster {target.data_cluster_id}"
    listed = {m.id for m in ms.members}
    if (
        target.data_cluster_id
        and ms.cluster_id
        and target.data_cluster_id == ms.cluster_id
        and target.data_member_id not in listed
    ):
        return (
            f"{node} holds the data of {owner}, a member this cluster removed: its data dir "
            "is renamed aside (kept, never deleted) before it joins"
        )
    if target.data_cluster_id and ms.cluster_id and target.data_cluster_id != ms.cluster_id:
        why = f"{node} holds etcd data of another cluster ({owner}; this is {ms.cluster_id})"
    elif target.data_member_id in listed:
        why = f"{node} holds the data of {owner}, which is still listed as a member"
    else:
        why = f"{node} holds etcd data from an earlier membership whose owner cannot be read"
    return _no(
        f"{why}; it must join with an empty data dir and hawizard never adopts or deletes "
        "another owner's etcd data",
        f"move the data dir away on {node} (e.g. mv /var/lib/etcd /var/lib/etcd.old), "
        "then run this command again",
    )


def _remove(
    ms: Membership, node: str, peer_url: str, resuming: bool, p: str
) -> tuple[_Verdict, tuple[int, int]]:
    voters, healthy = len(ms.voters), ms.healthy_voters
    if not ms.known:
        return _no_list(), (voters, healthy)
    mine = ms.find(node, peer_url)
    if mine is None:
        if resuming:
            return _ok(f"{node} is no longer a member: finishing the change", resume=True), (
                voters,
                healthy,
            )
        return _no(f"{node} is not a member of the cluster", f"hawizard status {p}"), (
            voters,
            healthy,
        )
    after_voters = voters - (1 if mine.voter else 0)
    after_healthy = healthy - (1 if mine.voter and mine.healthy else 0)
    after = (after_voters, after_healthy)
    if not ms.quorum_ok:
        return _quorum_lost(ms, p), after
    if after_voters == 0:
        return _no(f"{node} is the last member; removing it would end the cluster"), after
    need = quorum(after_voters)
    if after_healthy < need:
        down = [m for m in ms.voters if not m.healthy and m is not mine]
        names = ", ".join(m.label for m in down)
        suggestion = (
            f"hawizard etcd remove {p} {down[0].name or down[0].id}  (remove a down member "
            f"instead), or bring {names} back first"
            if down
            else f"hawizard status {p}"
        )
        return (
            _no(
                f"removing {node} would leave {after_healthy} healthy of {after_voters} members; "
                f"a quorum of {after_voters} needs {need}",
                suggestion,
            ),
            after,
        )
    if not mine.voter:
        return _ok(f"{node} is a learner: removing it does not change the quorum"), after
    return _ok(f"{node} leaves the cluster; {after_healthy} of {after_voters} stay healthy"), after


def _replace(
    ms: Membership,
    old: str,
    old_peer_url: str,
    new: str,
    peer_url: str,
    target: TargetState | None,
    resuming: bool,
    p: str,
) -> tuple[_Verdict, tuple[int, int]]:
    """Remove first, then add: removing a dead member restores the quorum
    math; adding first to 3 members with one dead would need 3 of 4."""
    if not ms.known:
        return _no_list(), (len(ms.voters), ms.healthy_voters)
    gone = ms.find(old, old_peer_url)
    new_member = ms.find(new, peer_url) if new != old else None
    if gone is None and not resuming:
        return _no(
            f"{old} is not a member of the cluster",
            f"hawizard etcd add {p} {new}",
        ), (len(ms.voters) + 1, ms.healthy_voters + 1)
    if gone is not None:
        removal, _ = _remove(ms, old, old_peer_url, resuming, p)
        if not removal.allowed:
            return removal, (len(ms.voters), ms.healthy_voters)
        rest = ms.without(gone)
    else:
        rest = ms
    notes: tuple[str, ...] = ()
    if new == old:
        # Re-adding a member in place (its data dir lost or damaged): whatever is in its data
        # dir now (etcd recreates an empty one on every failed restart) is set aside, renamed,
        # never deleted, and the node joins as a new member with an empty one.
        if gone is not None and gone.healthy:
            notes += (
                f"{old} is healthy: re-adding it as a new member copies all data again; "
                "only needed when its data is damaged",
            )
        if target is not None and target.has_data:
            notes += (f"{old}'s data dir is renamed aside (kept, never deleted)",)
            target = replace(target, has_data=False)
    already = new_member is not None and new_member.voter and new_member.started
    if new != old and already and not resuming:
        return _no(f"{new} is already a voting member", f"hawizard etcd remove {p} {old}"), (
            len(ms.voters),
            ms.healthy_voters,
        )
    addition, after = _add(rest, new, peer_url, target, resuming, p)
    if not addition.allowed:
        if addition.suggestion.startswith("hawizard etcd replace"):
            addition = replace(addition, suggestion=f"hawizard status {p}  (one replace at a time)")
        return addition, after
    reason = f"{old} is removed first, then {new} joins as a learner and is promoted"
    during = len(rest.voters)
    note = (
        f"between the two steps the cluster has {during} members and tolerates "
        f"{max(rest.healthy_voters - quorum(during), 0) if during else 0} failures",
    )
    resume = resuming or addition.resume or gone is None
    # The addition's verdict carries over whole: a recycled NEW's stale data is set aside
    # exactly as for `add` (dropping it here left NEW starting on a removed member's data).
    return _ok(
        reason,
        resume=resume,
        notes=notes + addition.notes + note,
        data_aside=addition.data_aside,
    ), after
