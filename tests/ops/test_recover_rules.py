"""Recover's judgement without a node: the survivor's choice and every refusal that the
survey's facts decide (the lab test covers the SSH survey and the quorum gate for real)."""

from __future__ import annotations

import pytest

from hawizard import sidecars
from hawizard.etcd.survey import NodeSurvey, WalState
from hawizard.ops import Refused
from hawizard.ops.recover import RecoverRecord, _pick, judge, read_record
from hawizard.plan import Cluster, Node, Plan, Role, dump, load


def make_plan(tmp_path) -> Plan:
    nodes = tuple(Node(f"m{i}", f"10.9.0.{11 + i}", (Role.ETCD,)) for i in range(3))
    path = tmp_path / "plan.toml"
    dump(Plan(nodes=nodes, cluster=Cluster(name="prod")), path)
    return load(path)


def has(name: str, commit: int, cluster: str = "c1") -> NodeSurvey:
    return NodeSurvey(name, True, True, "inactive", WalState(name, cluster, 7, "", commit), commit)


def empty(name: str) -> NodeSurvey:
    return NodeSurvey(name, True, False, "inactive")


def test_the_survivor_is_the_furthest_member_of_the_cluster(tmp_path):
    plan = make_plan(tmp_path)
    nodes = [has("m0", 40), has("m1", 55), empty("m2")]
    survivor, cluster = _pick(plan, nodes, "", "c1", "plan.toml")
    assert survivor.name == "m1" and cluster == "c1"
    # another cluster's data never wins, however far it goes
    nodes = [has("m0", 40), has("m1", 9999, "c2"), empty("m2")]
    assert _pick(plan, nodes, "", "c1", "plan.toml")[0].name == "m0"
    # --from names the survivor
    assert _pick(plan, [has("m0", 40), has("m1", 55)], "m0", "c1", "p")[0].name == "m0"


def test_no_data_anywhere_is_refused_with_the_restore_command(tmp_path):
    plan = make_plan(tmp_path)
    with pytest.raises(Refused) as exc:
        _pick(plan, [empty("m0"), empty("m1"), empty("m2")], "", "", "plan.toml")
    assert "no member has etcd data" in exc.value.reason and "restore" in exc.value.hint


def test_a_survivor_of_another_cluster_is_refused(tmp_path):
    plan = make_plan(tmp_path)
    with pytest.raises(Refused) as exc:
        _pick(plan, [has("m0", 40), has("m1", 9, "c2")], "m1", "c1", "plan.toml")
    assert "not of this plan's cluster c1" in exc.value.reason
    # nobody answered for the cluster and the data disagree: refused, even with --from
    with pytest.raises(Refused) as exc:
        _pick(plan, [has("m0", 40), has("m1", 9, "c2")], "m1", "", "plan.toml")
    assert "different clusters" in exc.value.reason
    # --from a member without data
    with pytest.raises(Refused) as exc:
        _pick(plan, [has("m0", 40), empty("m1")], "m1", "c1", "plan.toml")
    assert "no usable etcd data" in exc.value.reason


def test_judge_refuses_before_any_contact(tmp_path):
    plan = make_plan(tmp_path)
    with pytest.raises(Refused) as exc:
        judge(plan, "nobody")
    assert "--from nobody" in exc.value.reason
    # an unfinished recovery from another survivor is finished first
    rec = RecoverRecord("0a1b2c3d", "20261204T000000Z", "m0", "then", "c1")
    sidecars.write_record(plan.source, "recover", rec.__dict__)
    assert read_record(plan) == rec
    with pytest.raises(Refused) as exc:
        judge(plan, "m1")
    assert "has not finished" in exc.value.reason and "etcd recover" in exc.value.hint
    sidecars.record_path(plan.source, "recover").write_text("{not json")
    with pytest.raises(Refused) as exc:
        read_record(plan)
    assert "unreadable recover record" in exc.value.reason
