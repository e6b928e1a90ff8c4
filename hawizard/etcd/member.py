"""One etcd member's life cycle, in one place: stop, start, restart, hand leadership over,
wait until it is healthy and caught up.

Rollout, both upgrade routes (`etcd upgrade` and `apply` with new binaries), the certificate
rotation and the restore all restart members. They used to do it with their own copies of
the same few lines (two of them handing leadership over, with different ways to choose the
next leader); the copies now call these functions, so a fix to how a member is restarted or
how a leader is chosen lands everywhere at once.

Every remote command goes through `host.run`, so a dry run records it instead of running it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from hawizard.health import ClusterHealth

if TYPE_CHECKING:
    from hawizard.plan import Node, Plan

__all__ = [
    "CATCH_UP_WINDOW",
    "UNIT",
    "caught_up",
    "hand_over_leadership",
    "restart",
    "start",
    "stop",
]

UNIT = "etcd"
CATCH_UP_WINDOW = 50  # raft entries: a restarted member this close to the leader caught up


def stop(host, *, timeout: float | None = None) -> None:
    """`systemctl stop etcd` (waits for etcd's own clean shutdown)."""
    host.run(["systemctl", "stop", UNIT], timeout=timeout)


def start(host, *, timeout: float | None = None, no_block: bool = False) -> None:
    """`systemctl start etcd`. With `Type=notify` it returns once the member serves, which
    needs a quorum: `no_block` for members of a cluster that starts together."""
    host.run(["systemctl", "start", *(["--no-block"] if no_block else []), UNIT], timeout=timeout)


def restart(host, *, timeout: float | None = None) -> None:
    host.run(["systemctl", "restart", UNIT], timeout=timeout)


def hand_over_leadership(
    plan: Plan, member: Node, *, to: str = "", avoid: Iterable[str] = (), tls=None
) -> str | None:
    """If `member` leads, move leadership to `to` (default: the first healthy voting follower
    of the plan not in `avoid`) with etcd's MoveLeader. Returns the new leader's name, None
    when `member` was not leading. Raises whatever the probe or the call raised: callers
    treat a failed transfer as best effort (it only costs one short election)."""
    from hawizard.etcd.cluster_api import ClusterAPI, targets_for
    from hawizard.etcd.probe import cluster_health

    health = cluster_health(plan, tls=tls) if tls is not None else cluster_health(plan)
    if not health.member(member.name).is_leader:
        return None
    skip = set(avoid)
    target = (
        health.member(to)
        if to
        else next(
            x
            for x in health.members
            if x.in_plan
            and x.healthy
            and not x.is_leader
            and not x.is_learner
            and x.name not in skip
        )
    )
    api = ClusterAPI(plan, targets_for(plan, [member]), **({"tls": tls} if tls else {}))
    api.call("/v3/maintenance/transfer-leadership", {"targetID": str(int(target.id, 16))})
    return target.name


def caught_up(health: ClusterHealth, name: str, window: int = CATCH_UP_WINDOW) -> bool:
    """`name`'s raft index is within `window` entries of the leader's."""
    rows = {m.name: m for m in health.members}
    member, leader = rows.get(name), rows.get(health.leader_name)
    if member is None or leader is None:
        return False
    if member.raft_index is None or leader.raft_index is None:
        return False
    return member.raft_index >= leader.raft_index - window
