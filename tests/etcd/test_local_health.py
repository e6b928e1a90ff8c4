"""A member judged on its own node: the unit's state and its own /health answer."""

from __future__ import annotations

from hawizard.etcd.local_health import judge_member


def test_a_member_is_judged_by_its_unit_and_its_own_health_answer():
    assert judge_member("active", '{"health":"true","reason":""}').state == "healthy"
    assert judge_member("active", '{"health": "false", "reason": "RAFT NO LEADER"}').state == (
        "down"
    )
    assert judge_member("inactive", "").state == "down"
    assert judge_member("failed", "").state == "down"
    # running, or not reachable, but no answer: not judged, so never counted as lost
    assert judge_member("active", "").state == "unknown"
    assert judge_member("", "").state == "unknown"
