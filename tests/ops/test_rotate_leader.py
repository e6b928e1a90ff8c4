"""Before the leader restarts, it hands leadership to a healthy follower (etcd's MoveLeader
through the JSON gateway), so the clients of a rotating cluster never wait for an election.
Checked against a real local etcd: the leader changes, to a member that was a follower."""

from __future__ import annotations

from hawizard.etcd.probe import cluster_health
from hawizard.ops.rotate import Rotation


class Lines:
    """Collects what the step would print (the runner sets `on_output` on a real Host)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.on_output = self.lines.append


def test_the_leader_hands_over_before_its_restart(etcd_cluster):
    plan = etcd_cluster.plan
    before = cluster_health(plan)
    leader = next(m.name for m in before.members if m.is_leader)
    rot = Rotation(plan, "leaf", None, [], list(plan.etcd_nodes), [], [], [], before)
    out = Lines()
    rot._hand_over_leadership(plan.node(leader), out)
    after = cluster_health(plan)
    new = next(m.name for m in after.members if m.is_leader)
    assert new != leader, out.lines
    assert out.lines == [f"leadership handed to {new}"]


def test_a_follower_hands_nothing_over(etcd_cluster):
    plan = etcd_cluster.plan
    health = cluster_health(plan)
    follower = next(m.name for m in health.members if not m.is_leader)
    leader = next(m.name for m in health.members if m.is_leader)
    rot = Rotation(plan, "leaf", None, [], list(plan.etcd_nodes), [], [], [], health)
    out = Lines()
    rot._hand_over_leadership(plan.node(follower), out)
    assert out.lines == []
    assert next(m.name for m in cluster_health(plan).members if m.is_leader) == leader
