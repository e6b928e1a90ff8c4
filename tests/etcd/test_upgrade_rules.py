"""The rolling-upgrade rules, without etcd: versions, refusals, order, catching up."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_health import answered, down, health_of

from hawizard.etcd.upgrade import (
    UpgradeRefused,
    Version,
    caught_up,
    judge_cluster,
    judge_path,
    upgrade_order,
)

V = Version.parse


def with_version(result, version: str, raft_index: int | None = None):
    result.status["version"] = version
    if raft_index is not None:
        result.status["raftIndex"] = str(raft_index)
    return result


def test_versions_parse_from_what_etcd_and_packages_print():
    assert V("3.5.1") == Version(3, 5, 1)
    assert V("etcd Version: 3.4.23\nGit SHA: x") == Version(3, 4, 23)
    assert V("3.4.23-4+b4") == Version(3, 4, 23)
    assert str(V("3.5.10")) == "3.5.10" and V("3.5.10") > V("3.5.9")
    with pytest.raises(ValueError):
        V("latest")


@pytest.mark.parametrize(
    ("current", "target"),
    [("3.5.0", "3.5.1"), ("3.4.23", "3.5.1"), ("3.5.1", "3.5.1"), ("3.5.17", "3.6.0")],
)
def test_allowed_paths(current, target):
    judge_path(V(current), V(target))


def test_downgrade_is_refused_with_the_way_back():
    with pytest.raises(UpgradeRefused) as info:
        judge_path(V("3.5.1"), V("3.5.0"))
    assert "older than the cluster's 3.5.1" in info.value.reason
    assert "restore a snapshot" in info.value.hint


@pytest.mark.parametrize(("current", "target"), [("3.4.23", "3.6.0"), ("3.5.1", "4.0.0")])
def test_skipping_a_minor_is_refused_naming_the_step_between(current, target):
    with pytest.raises(UpgradeRefused) as info:
        judge_path(V(current), V(target))
    assert "skips a minor version" in info.value.reason
    step = V(current)
    assert f"latest {step.major}.{step.minor + 1}.x first" in info.value.hint


@given(
    st.tuples(st.integers(3, 4), st.integers(0, 9), st.integers(0, 30)),
    st.tuples(st.integers(3, 4), st.integers(0, 9), st.integers(0, 30)),
)
def test_a_path_is_allowed_exactly_when_it_is_forward_by_at_most_one_minor(a, b):
    current, target = Version(*a), Version(*b)
    allowed = target >= current and (
        target.major == current.major and target.minor <= current.minor + 1
    )
    try:
        judge_path(current, target)
    except UpgradeRefused:
        assert not allowed
    else:
        assert allowed


def test_judge_cluster_reads_the_one_version_and_orders_the_leader_last():
    health = health_of([with_version(answered(n), "3.5.0") for n in ("m1", "m2", "m3")])
    assert judge_cluster(health, V("3.5.1")) == V("3.5.0")
    assert upgrade_order(health, ["m1", "m2", "m3"]) == ["m2", "m3", "m1"]  # m1 leads


def test_a_member_down_or_a_third_version_is_refused():
    health = health_of([answered("m1"), answered("m2"), down("m3")])
    with pytest.raises(UpgradeRefused, match=r"not every member is healthy \(m3\)"):
        judge_cluster(health, V("3.5.2"))
    mixed = health_of(
        [
            with_version(answered("m1"), "3.5.0"),
            with_version(answered("m2"), "3.5.1"),
            with_version(answered("m3"), "3.4.23"),
        ]
    )
    with pytest.raises(UpgradeRefused, match="different etcd versions"):
        judge_cluster(mixed, V("3.5.2"))


def test_an_interrupted_upgrade_may_resume():
    mixed = health_of(
        [
            with_version(answered("m1"), "3.5.0"),
            with_version(answered("m2"), "3.5.1"),
            with_version(answered("m3"), "3.5.0"),
        ]
    )
    assert judge_cluster(mixed, V("3.5.1")) == V("3.5.0")
    # status and the dashboard show the mixed versions (a warning: the cluster is healthy)
    [warning] = [w for w in mixed.warnings if "different etcd versions" in w]
    assert "m1 3.5.0, m2 3.5.1, m3 3.5.0" in warning and mixed.state.value == "healthy"


def test_only_the_member_the_interrupted_upgrade_stopped_may_be_down():
    """Issue 29 (`upgrade@kill`): a run killed between a member's stop and its start left it
    down; its record names it, so the re-run judges the others and starts it first."""
    health = health_of(
        [
            with_version(answered("m1"), "3.5.0"),
            with_version(answered("m2"), "3.5.0"),
            down("m3"),
        ]
    )
    assert judge_cluster(health, V("3.5.1"), stopped=frozenset({"m3"})) == V("3.5.0")
    assert upgrade_order(health, ["m1", "m2", "m3"], first={"m3"}) == ["m3", "m2", "m1"]
    # a member down for any other reason (not the one the upgrade stopped) still refuses
    with pytest.raises(UpgradeRefused, match=r"not every member is healthy \(m3\)"):
        judge_cluster(health, V("3.5.1"), stopped=frozenset({"m2"}))
    two_down = health_of([with_version(answered("m1"), "3.5.0"), down("m2"), down("m3")])
    with pytest.raises(UpgradeRefused, match="not every member is healthy"):
        judge_cluster(two_down, V("3.5.1"), stopped=frozenset({"m2", "m3"}))


def test_a_cluster_that_tolerates_no_failure_is_refused():
    one = health_of([answered("m1", members=("m1",))], n=1)
    with pytest.raises(UpgradeRefused, match="tolerates no failure"):
        judge_cluster(one, V("3.5.2"))


def test_caught_up_compares_raft_indexes_with_the_leaders():
    health = health_of(
        [
            with_version(answered("m1"), "3.5.1", raft_index=1000),
            with_version(answered("m2"), "3.5.1", raft_index=990),
            with_version(answered("m3"), "3.5.1", raft_index=100),
        ]
    )
    assert caught_up(health, "m2") and not caught_up(health, "m3")
    assert not caught_up(health, "m9")
