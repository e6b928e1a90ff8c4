"""The membership rules alone: allowed or refused (with the command to run instead) and the
quorum / failure-tolerance numbers before and after, without any network.

Memberships are written by hand, and also built the way production builds them: from probe
answers shaped like etcd 3.5's JSON gateway, through `hawizard.health.build`.
"""

from __future__ import annotations

import pytest

from hawizard import pki
from hawizard.etcd.membership import plan_with_etcd_members, with_membership, without_member
from hawizard.etcd.quorum_rules import Member, Membership, Op, TargetState, plan_change
from hawizard.health import ProbeResult, build
from hawizard.plan import Node, Plan, Role

PLAN = "plan.toml"


def url(name: str) -> str:
    return f"https://10.0.0.{name[1:]}:2380"


def cluster(up: str, down: str = "", learners: str = "", unstarted: str = "") -> Membership:
    """Members by name: "m1 m2" healthy voters, `down` unhealthy voters, `learners` healthy
    learners, `unstarted` added but never started (no name yet)."""
    ms = [Member(n, id=n, healthy=True, peer_urls=(url(n),)) for n in up.split()]
    ms += [Member(n, id=n, healthy=False, peer_urls=(url(n),)) for n in down.split()]
    ms += [
        Member(n, id=n, voter=False, healthy=True, peer_urls=(url(n),)) for n in learners.split()
    ]
    ms += [Member("", id=n, voter=False, peer_urls=(url(n),)) for n in unstarted.split()]
    return Membership(tuple(ms))


def change(ms, op, node, old=None, **kw):
    return plan_change(
        ms,
        op,
        node,
        old=old,
        peer_url=url(node),
        old_peer_url=url(old) if old else "",
        plan_path=PLAN,
        **kw,
    )


# --- add ------------------------------------------------------------------------------------


def test_add_to_a_healthy_cluster_is_allowed_with_the_numbers():
    i = change(cluster("m1 m2 m3"), Op.ADD, "m4", target=TargetState())
    assert i.allowed and not i.resume
    assert (i.before_members, i.after_members) == (3, 4)
    assert (i.before_quorum, i.after_quorum) == (2, 3)
    assert (i.before_tolerance, i.after_tolerance) == (1, 1)
    assert (i.before_healthy, i.after_healthy) == (3, 4)
    assert any("odd" in n for n in i.notes)  # 4 members tolerate no more than 3
    assert i.summary == "3 → 4 members · quorum 2 → 3 · tolerates 1 → 1 failure"


def test_add_four_to_five_raises_tolerance():
    i = change(cluster("m1 m2 m3 m4"), Op.ADD, "m5")
    assert i.allowed and (i.before_tolerance, i.after_tolerance) == (1, 2)
    assert not i.notes


def test_add_while_a_member_is_down_is_refused_and_suggests_replace():
    i = change(cluster("m1 m2", down="m3"), Op.ADD, "m4")
    assert not i.allowed
    assert "m3 is down" in i.reason and "quorum from 2 to 3" in i.reason
    assert i.suggestion == "hawizard etcd replace plan.toml m3 m4"
    # the numbers show why: 3 of 4 needed with only 3 healthy once m4 runs
    assert (i.after_members, i.after_quorum, i.before_tolerance) == (4, 3, 0)


def test_add_without_quorum_is_refused():
    i = change(cluster("m1", down="m2 m3"), Op.ADD, "m4")
    assert not i.allowed and "no quorum" in i.reason and "m2, m3" in i.reason


def test_add_while_another_learner_is_pending_is_refused():
    i = change(cluster("m1 m2 m3", learners="m5"), Op.ADD, "m4")
    assert not i.allowed and "one member joins at a time" in i.reason
    assert i.suggestion == "hawizard etcd add plan.toml m5"
    unstarted = change(cluster("m1 m2 m3", unstarted="m5"), Op.ADD, "m4")
    assert not unstarted.allowed and "not started" in unstarted.reason


def test_add_resumes_when_the_node_is_already_a_learner():
    for ms in (cluster("m1 m2 m3", unstarted="m4"), cluster("m1 m2 m3", learners="m4")):
        i = change(ms, Op.ADD, "m4", target=TargetState(has_data=ms.find("m4", url("m4")).started))
        assert i.allowed and i.resume, i.reason
        assert (i.before_members, i.after_members) == (3, 4)


def test_add_of_a_member_is_refused_unless_resuming():
    i = change(cluster("m1 m2 m3 m4"), Op.ADD, "m4")
    assert not i.allowed and "already a voting member" in i.reason
    assert "hawizard etcd replace plan.toml m4 m4" in i.suggestion  # the lost-data-dir case
    resumed = change(cluster("m1 m2 m3 m4"), Op.ADD, "m4", resuming=True)
    assert resumed.allowed and resumed.resume


def test_add_refuses_a_node_with_old_data_or_unreachable():
    old = change(cluster("m1 m2 m3"), Op.ADD, "m4", target=TargetState(has_data=True))
    assert not old.allowed and "earlier membership" in old.reason
    assert "move the data dir away" in old.suggestion
    gone = change(cluster("m1 m2 m3"), Op.ADD, "m4", target=TargetState(False, error="refused"))
    assert not gone.allowed and "cannot reach m4" in gone.reason


def test_stale_data_of_a_removed_member_is_set_aside_other_data_refused():
    from dataclasses import replace

    ms = replace(cluster("m1 m2 m3"), cluster_id="c1")
    removed = TargetState(has_data=True, data_member_id="m9", data_cluster_id="c1")
    ok = change(ms, Op.ADD, "m4", target=removed)
    assert ok.allowed and ok.data_aside
    assert any(
        "a member this cluster removed" in n and "kept, never deleted" in n for n in ok.notes
    )

    foreign = TargetState(has_data=True, data_member_id="m9", data_cluster_id="other")
    no = change(ms, Op.ADD, "m4", target=foreign)
    assert not no.allowed and not no.data_aside and "another cluster" in no.reason
    assert "move the data dir away" in no.suggestion

    live = TargetState(has_data=True, data_member_id="m2", data_cluster_id="c1")
    still = change(ms, Op.ADD, "m4", target=live)
    assert not still.allowed and "still listed as a member" in still.reason

    unknown_cluster = change(cluster("m1 m2 m3"), Op.ADD, "m4", target=removed)
    assert not unknown_cluster.allowed  # no agreed cluster id: nothing is provable

    clean = change(ms, Op.ADD, "m4", target=TargetState())
    assert clean.allowed and not clean.data_aside


def test_replace_onto_a_recycled_node_sets_its_stale_data_aside_like_add():
    """Issue 23 item 4: `replace m2 m4` where m4 holds the data of a member this cluster
    removed earlier. `add` sets it aside; replace dropped the verdict, so NEW started on the
    removed member's data, which etcd answers by exiting."""
    from dataclasses import replace

    ms = replace(cluster("m1 m3", down="m2"), cluster_id="c1")
    removed = TargetState(has_data=True, data_member_id="m9", data_cluster_id="c1")
    i = change(ms, Op.REPLACE, "m4", old="m2", target=removed)
    assert i.allowed and i.data_aside
    assert any("a member this cluster removed" in n for n in i.notes)
    foreign = TargetState(has_data=True, data_member_id="m9", data_cluster_id="other")
    no = change(ms, Op.REPLACE, "m4", old="m2", target=foreign)
    assert not no.allowed and "another cluster" in no.reason

    # Resumed after the learner was added but died on that stale data: still set aside.
    after = replace(cluster("m1 m3", unstarted="m4"), cluster_id="c1")
    resumed = change(after, Op.REPLACE, "m4", old="m2", target=removed, resuming=True)
    assert resumed.allowed and resumed.resume and resumed.data_aside
    # ... but a learner's own WAL (it ran under its new ID) is its own data: kept, allowed.
    own = TargetState(has_data=True, data_member_id="m4", data_cluster_id="c1")
    kept = change(after, Op.REPLACE, "m4", old="m2", target=own, resuming=True)
    assert kept.allowed and not kept.data_aside


# --- remove ---------------------------------------------------------------------------------


def test_remove_from_five_is_allowed():
    i = change(cluster("m1 m2 m3 m4 m5"), Op.REMOVE, "m5")
    assert i.allowed
    assert (i.before_members, i.after_members, i.after_quorum) == (5, 4, 3)
    assert (i.before_tolerance, i.after_tolerance) == (2, 1)


def test_remove_that_would_lose_quorum_is_refused_and_suggests_the_down_member():
    i = change(cluster("m1 m2", down="m3"), Op.REMOVE, "m1")
    assert not i.allowed
    assert "1 healthy of 2 members" in i.reason
    assert i.suggestion.startswith("hawizard etcd remove plan.toml m3")


def test_remove_of_the_dead_member_is_allowed():
    i = change(cluster("m1 m2", down="m3"), Op.REMOVE, "m3")
    assert i.allowed
    assert (i.after_members, i.after_quorum, i.after_healthy, i.after_tolerance) == (2, 2, 2, 0)


def test_remove_a_learner_keeps_the_quorum():
    i = change(cluster("m1 m2 m3", learners="m4"), Op.REMOVE, "m4")
    assert i.allowed and "learner" in i.reason
    assert (i.before_members, i.after_members, i.after_quorum) == (3, 3, 2)


def test_remove_the_last_member_or_a_stranger_is_refused():
    assert not change(cluster("m1"), Op.REMOVE, "m1").allowed
    stranger = change(cluster("m1 m2 m3"), Op.REMOVE, "m9")
    assert not stranger.allowed and "not a member" in stranger.reason
    assert change(cluster("m1 m2 m3"), Op.REMOVE, "m9", resuming=True).allowed


def test_remove_without_quorum_is_refused():
    i = change(cluster("m1", down="m2 m3"), Op.REMOVE, "m2")
    assert not i.allowed and "no quorum" in i.reason


# --- replace --------------------------------------------------------------------------------


def test_replace_a_dead_member_is_allowed_and_restores_tolerance():
    i = change(cluster("m1 m2", down="m3"), Op.REPLACE, "m4", old="m3", target=TargetState())
    assert i.allowed, i.reason
    assert (i.before_members, i.after_members) == (3, 3)
    assert (i.before_tolerance, i.after_tolerance) == (0, 1)
    assert any("between the two steps the cluster has 2 members" in n for n in i.notes)


def test_replace_with_a_second_member_down_is_refused():
    i = change(cluster("m1 m2 m3", down="m4 m5"), Op.REPLACE, "m6", old="m5")
    assert not i.allowed and "m4 is down" in i.reason
    assert "one replace at a time" in i.suggestion


def test_replace_in_place_after_a_lost_data_dir():
    lost = change(
        cluster("m1 m2", down="m3"), Op.REPLACE, "m3", old="m3", target=TargetState(has_data=False)
    )
    assert lost.allowed and (lost.after_members, lost.after_quorum) == (3, 2)
    # etcd recreates a data dir on every failed restart: it is set aside, never refused
    recreated = change(
        cluster("m1 m2", down="m3"), Op.REPLACE, "m3", old="m3", target=TargetState(has_data=True)
    )
    assert recreated.allowed and any("renamed aside" in n for n in recreated.notes)
    healthy = change(cluster("m1 m2 m3"), Op.REPLACE, "m3", old="m3", target=TargetState())
    assert healthy.allowed and any(
        "only needed when its data is damaged" in n for n in healthy.notes
    )


def test_replace_of_a_non_member_suggests_add():
    i = change(cluster("m1 m2 m3"), Op.REPLACE, "m5", old="m4")
    assert not i.allowed and i.suggestion == "hawizard etcd add plan.toml m5"


def test_replace_resumes_after_the_removal():
    i = change(cluster("m1 m2"), Op.REPLACE, "m4", old="m3", resuming=True)
    assert i.allowed and i.resume and (i.after_members, i.after_quorum) == (3, 2)


# --- from real-shaped probe answers ------------------------------------------------------------

IDS = {"m1": "101", "m2": "102", "m3": "103", "m4": "104"}


def probe_plan(n: int) -> Plan:
    return Plan(
        nodes=tuple(Node(f"m{i}", f"10.0.0.{i}", roles=(Role.ETCD,)) for i in range(1, n + 1))
    )


def listing(voters, unstarted=()) -> dict:
    members = [
        {"ID": IDS[n], "name": n, "peerURLs": [url(n)], "clientURLs": [url(n)[:-1] + "79"]}
        for n in voters
    ]
    members += [{"ID": IDS[n], "peerURLs": [url(n)], "isLearner": True} for n in unstarted]
    return {"header": {"cluster_id": "9"}, "members": members}


def result(name: str, members: dict, *, up: bool = True) -> ProbeResult:
    if not up:
        return ProbeResult(name, f"https://10.0.0.{name[1:]}:2379", f"10.0.0.{name[1:]}",
                           error="connection refused")  # fmt: skip
    status = {"header": {"cluster_id": "9", "member_id": IDS[name]}, "leader": IDS["m1"]}
    return ProbeResult(
        name,
        f"https://10.0.0.{name[1:]}:2379",
        f"10.0.0.{name[1:]}",
        connected=True,
        health={"health": "true"},
        status=status,
        members=members,
    )


def test_membership_from_health_sees_an_unstarted_learner_by_peer_url():
    members = listing(["m1", "m2", "m3"], unstarted=["m4"])
    health = build(
        probe_plan(4),
        [*(result(n, members) for n in ("m1", "m2", "m3")), result("m4", members, up=False)],
    )
    ms = Membership.from_health(health)
    assert [m.name for m in ms.voters] == ["m1", "m2", "m3"] and ms.healthy_voters == 3
    (pending,) = ms.pending
    assert pending.name == "" and pending.peer_urls == (url("m4"),)
    i = change(health, Op.ADD, "m4")
    assert i.allowed and i.resume
    other = change(health, Op.ADD, "m5")
    assert not other.allowed and "one member joins at a time" in other.reason


def test_membership_from_health_counts_a_down_member():
    members = listing(["m1", "m2", "m3"])
    health = build(
        probe_plan(3), [result("m1", members), result("m2", members), result("m3", {}, up=False)]
    )
    i = change(health, Op.ADD, "m4")
    assert not i.allowed and i.suggestion == "hawizard etcd replace plan.toml m3 m4"


def test_no_member_answering_is_refused():
    health = build(probe_plan(3), [result(n, {}, up=False) for n in ("m1", "m2", "m3")])
    assert not Membership.from_health(health).known
    for op, node in ((Op.ADD, "m4"), (Op.REMOVE, "m1")):
        i = change(health, op, node)
        assert not i.allowed and "no member answered" in i.reason


def test_a_member_unknown_to_the_plan_is_refused():
    members = listing(["m1", "m2", "m3"])
    health = build(probe_plan(2), [result("m1", members), result("m2", members)])
    i = change(health, Op.ADD, "m4")
    assert not i.allowed and "does not list (m3)" in i.reason


@pytest.mark.parametrize("op", list(Op))
def test_impact_json_has_before_and_after(op):
    i = change(cluster("m1 m2", down="m3"), op, "m3" if op is not Op.ADD else "m4", old="m3")
    data = i.to_json()
    assert (
        set(data["before"]) == set(data["after"]) == {"members", "quorum", "healthy", "tolerance"}
    )
    assert data["op"] == op.value and isinstance(data["allowed"], bool)


# --- the plan and config edits a change makes --------------------------------------------------


def test_without_member_drops_the_role_or_the_node():
    plan = Plan(
        nodes=(
            Node("m1", "10.0.0.1"),
            Node("m2", "10.0.0.2", roles=(Role.ETCD,)),
        )
    )
    after = without_member(plan, "m1")
    assert after.node("m1").roles == (Role.CONTROL_PLANE,)
    assert [n.name for n in without_member(plan, "m2").nodes] == ["m1"]


def test_view_plan_keeps_only_the_given_members():
    plan = probe_plan(4)
    assert [n.name for n in plan_with_etcd_members(plan, ["m1", "m3"]).etcd_nodes] == ["m1", "m3"]
    assert len(plan_with_etcd_members(plan, ["m1"]).nodes) == 4


def test_with_membership_changes_only_the_membership_lines():
    text = (
        '# header\nname: "m1"\ninitial-cluster: "m1=a,m2=b"\ninitial-cluster-token: "t"\n'
        'initial-cluster-state: "new"\npre-vote: true\n'
    )
    out = with_membership(text, 'initial-cluster: "m1=a,m2=b,m3=c"')
    assert out == text.replace('m2=b"', 'm2=b,m3=c"').replace('"new"', '"existing"')


# --- requests against a plan file: one change at a time, bad input ------------------------------


def plan_file(tmp_path, port: int = 1) -> Plan:
    """m1–m3 etcd on loopback addresses where nothing listens (connection refused at once),
    m4 etcd not yet a member, m5 control-plane only."""
    from hawizard.plan import EtcdSettings, PKISettings, dump, load

    nodes = tuple(Node(f"m{i}", f"127.0.0.{i + 100}", roles=(Role.ETCD,)) for i in range(1, 5))
    nodes += (Node("m5", "127.0.0.105", roles=(Role.CONTROL_PLANE,)),)
    plan = Plan(
        nodes=nodes,
        pki=PKISettings(dir=str(tmp_path / "pki")),
        etcd=EtcdSettings(client_port=port, probe_timeout=0.5),
    )
    dump(plan, tmp_path / "plan.toml")
    return load(tmp_path / "plan.toml")


def test_a_second_change_is_refused_while_one_is_unfinished(tmp_path):
    from hawizard.etcd.membership import PendingChange, assess, write_pending

    plan = plan_file(tmp_path)
    members = listing(["m1", "m2", "m3"])
    health = build(plan, [result(n, members) for n in ("m1", "m2", "m3")])
    write_pending(plan.source, PendingChange("abc", "add", "m4", None, "2030-01-01T00:00:00"))
    other = assess(plan, "remove", "m2", health=health)
    assert not other.allowed and "has not finished" in other.impact.reason
    assert other.impact.suggestion.startswith("hawizard etcd add ")
    same = assess(plan, "add", "m4", health=health, target=TargetState())
    assert same.allowed and same.pending is not None and same.pending.id == "abc"
    # removing the node whose add is unfinished is the way back, and is allowed
    assert assess(plan, "remove", "m4", health=health).impact.reason != other.impact.reason


def test_a_remove_that_wrote_the_plan_but_died_is_recognised(tmp_path):
    from hawizard.etcd.membership import (
        PendingChange,
        finished_before,
        pending_path,
        without_member,
        write_pending,
    )
    from hawizard.plan import dump, load

    plan = plan_file(tmp_path)
    write_pending(plan.source, PendingChange("abc", "remove", "m3", None, "2030-01-01T00:00:00"))
    assert not finished_before(plan, Op.REMOVE, "m3")  # the plan still lists it
    dump(without_member(plan, "m3"), plan.source)
    assert finished_before(load(plan.source), Op.REMOVE, "m3")
    assert not pending_path(plan.source).exists()


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["add", "m9"], "m9 is not a node"),
        (["add", "m5"], "m5 has no etcd role"),
        (["replace", "m5", "m4"], "m5 has no etcd role"),
    ],
)
def test_cli_bad_requests_exit_2(tmp_path, capsys, argv, needle):
    from hawizard.cli import main

    plan = plan_file(tmp_path)
    code = main(["etcd", argv[0], str(plan.source), *argv[1:], "--yes"])
    assert code == 2 and needle in capsys.readouterr().err


def test_cli_add_offers_the_etcd_role_and_needs_a_confirmation(tmp_path, capsys):
    from hawizard.cli import main

    plan = plan_file(tmp_path)
    before = plan.source.read_text()
    code = main(["etcd", "add", str(plan.source), "m5"])  # stdin is no terminal here
    err = capsys.readouterr().err
    assert code == 2 and "confirm the plan edit with --yes" in err
    assert "+roles = [\n" in err or "+roles" in err or '"etcd",' in err  # the diff is shown
    assert plan.source.read_text() == before
    assert not plan.source.with_name(plan.source.name + ".bak").exists()


def test_cli_refuses_when_no_member_answers(tmp_path, capsys):
    import json
    import socket

    from hawizard.cli import main

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    plan = plan_file(tmp_path, port)
    assert main(["etcd", "remove", str(plan.source), "m1", "--yes"]) == 2  # no PKI yet
    assert "hawizard certs check" in capsys.readouterr().err
    pki.create(plan)
    code = main(["etcd", "remove", str(plan.source), "m1", "--yes", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 2 and out["refused"] and "no member answered" in out["impact"]["reason"]
    assert main(["etcd", "snapshot", str(plan.source)]) == 2
    assert "no healthy etcd member" in capsys.readouterr().err
    assert main(["etcd"]) == 2
