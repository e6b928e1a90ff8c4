"""Whether a membership change is safe, and what it does to quorum: pure rules, no network.

The most common etcd outages come from membership changes made at the wrong moment: a member
added while another is down (the quorum grows, the healthy count does not), two members joined
at once, a member removed while the rest cannot form a quorum. These rules decide before
anything is touched, from one `ClusterHealth` (or a hand-made `Membership` in tests), and say
what to do instead. The CLI, the dashboard's confirmation dialog and the tests share them.

Numbers are about *voting* members (learners do not vote): `quorum(voters)` must be healthy
for any change to be committed, and `tolerates` is how many more voters may fail.

The values the rules read and return (`Op`, `Member`, `Membership`, `TargetState`,
`ChangeImpact`) live in `hawizard.etcd.quorum_model` and are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from hawizard.etcd.quorum_model import (
    ChangeImpact,
    Member,
    Membership,
    Op,
    TargetState,
)
from hawizard.plan import quorum

__all__ = [
    "ChangeImpact",
    "Member",
    "Membership",
    "Op",
    "TargetState",
    "plan_change",
]


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
        return _already_voter(node, resuming, p), (voters, healthy)
    after = (voters + 1, healthy + 1)
    refusal = _cannot_add_now(ms, node, mine, target, p)
    if refusal is not None:
        return refusal, after
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


def _already_voter(node: str, resuming: bool, p: str) -> _Verdict:
    """The node to add votes already: the end state of an add that is being resumed, or a
    mistake (then re-adding in place is the way to replace its lost data)."""
    if resuming:
        return _ok(f"{node} is already a voting member: finishing the change", resume=True)
    return _no(
        f"{node} is already a voting member of the cluster",
        f"hawizard status {p}  (if its data dir was lost, re-add it: "
        f"hawizard etcd replace {p} {node} {node})",
    )


def _cannot_add_now(
    ms: Membership, node: str, mine: Member | None, target: TargetState | None, p: str
) -> _Verdict | None:
    """Why no member may join now (no quorum, a voter down, another member still joining, the
    node unreachable), or None."""
    voters, healthy = len(ms.voters), ms.healthy_voters
    if not ms.quorum_ok:
        return _quorum_lost(ms, p)
    down = [m for m in ms.voters if not m.healthy]
    if down:
        names = ", ".join(m.label for m in down)
        first = down[0].name or down[0].id
        return _no(
            f"{names} {'is' if len(down) == 1 else 'are'} down: adding a member would raise "
            f"the quorum from {ms.quorum} to {quorum(voters + 1)} of {voters + 1} while only "
            f"{healthy} members are healthy, so the cluster would tolerate fewer failures",
            f"hawizard etcd replace {p} {first} {node}",
        )
    others = [m for m in ms.pending if m is not mine]
    if others:
        who = others[0]
        return _no(
            f"{who.label} is still joining ({'learner' if who.started else 'not started'}): "
            "one member joins at a time",
            f"hawizard etcd add {p} {who.name}"
            if who.name
            else f"hawizard status {p}  (then finish or remove that member)",
        )
    if target is not None and not target.reachable:
        return _no(
            f"cannot reach {node} over SSH: {target.error or 'no answer'}",
            f"hawizard plan check {p}",
        )
    return None


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
