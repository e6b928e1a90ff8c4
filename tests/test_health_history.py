"""The history behind sparklines and the events pane: bounded series and round-to-round events."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from hawizard.health import (
    BACKEND_QUOTA_BYTES,
    CertExpiry,
    ClusterHealth,
    MemberHealth,
    ProbeResult,
    State,
    build,
)
from hawizard.health_history import BARS, EventKind, History, events_between, sparkline
from hawizard.plan import Node, Plan, Role

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
IDS = {"m1": "a1", "m2": "b2", "m3": "c3"}


def member(name: str, **kw) -> MemberHealth:
    base = dict(
        name=name,
        endpoint=f"https://10.0.0.{name[1:]}:2379",
        in_plan=True,
        in_cluster=True,
        reachable=True,
        healthy=True,
        id=IDS[name],
        raft_term=2,
        raft_index=100,
        db_size=4096,
        rtt_ms=1.0,
    )
    return MemberHealth(**{**base, **kw})


def round_at(seconds: float, leader: str = "m1", members=None, certs=()) -> ClusterHealth:
    rows = members or tuple(member(n, is_leader=n == leader) for n in IDS)
    return ClusterHealth(
        members=tuple(rows),
        member_count=3,
        voter_count=3,
        healthy_count=sum(m.healthy for m in rows),
        healthy_voters=sum(m.healthy for m in rows),
        quorum=2,
        tolerates=1,
        design_tolerance=1,
        quorum_ok=True,
        state=State.HEALTHY,
        leader_id=IDS[leader] if leader else "",
        leader_name=leader,
        certificates=tuple(certs),
        checked_at=T0 + dt.timedelta(seconds=seconds),
    )


def test_first_round_is_a_baseline_then_a_leader_change_is_one_event():
    h = History()
    assert h.record(round_at(0)) == []
    (event,) = h.record(round_at(2, leader="m2"))
    assert event.kind is EventKind.LEADER and event.subject == "m2"
    assert event.text == "leader is now m2 (was m1)"
    assert event.line().startswith("12:00:02 leader")
    assert list(h.events) == [event]
    assert h.record(round_at(4, leader="m2")) == []  # same leader: nothing new
    (gap,) = h.record(round_at(6, leader=""))  # an election: no leader for a round
    assert gap.kind is EventKind.UNHEALTHY and gap.text == "no leader"
    (back,) = h.record(round_at(8, leader="m3"))
    assert back.text == "leader is now m3 (was m2)"
    assert h.record(round_at(10, leader="")) and h.record(round_at(12, leader="m3")) == []


def test_unhealthy_healthy_term_jump_and_alarms():
    sick = (member("m1", is_leader=True), member("m2", healthy=False, error="timeout"))
    before = round_at(0, members=(member("m1", is_leader=True), member("m2")))
    after = round_at(2, members=sick)
    (event,) = events_between(before, after)
    assert event.kind is EventKind.UNHEALTHY and event.text == "m2 unhealthy: timeout"
    back = events_between(after, before)
    assert [e.kind for e in back] == [EventKind.HEALTHY]

    jumped = round_at(4, members=(member("m1", is_leader=True, raft_term=9), member("m2")))
    kinds = [e.kind for e in events_between(before, jumped)]
    assert kinds == [EventKind.TERM_JUMP]
    one_more = round_at(4, members=(member("m1", is_leader=True, raft_term=3), member("m2")))
    assert events_between(before, one_more) == []  # one election is not a jump

    full = round_at(6, members=(member("m1", is_leader=True, alarms=("NOSPACE",)), member("m2")))
    assert full.alarms == ("NOSPACE",)
    (raised,) = events_between(before, full)
    assert raised.kind is EventKind.ALARM and raised.text == "alarm NOSPACE raised (m1)"
    (cleared,) = events_between(full, before)
    assert cleared.kind is EventKind.ALARM_CLEARED


def test_a_certificate_crossing_the_renewal_threshold_is_an_event_once():
    def cert(days: int) -> CertExpiry:
        return CertExpiry("etcd/server-m1", "local", "m1", T0 + dt.timedelta(days=days), days, "FP")

    h = History()
    h.record(round_at(0, certs=[cert(31)]))
    (event,) = h.record(round_at(2, certs=[cert(30)]))
    assert event.kind is EventKind.CERT_EXPIRING and "expires in 30 days" in event.text
    assert h.record(round_at(4, certs=[cert(29)])) == []


def test_series_are_bounded_by_the_window_and_follow_membership():
    h = History(window_s=10)
    for i in range(20):
        rows = tuple(member(n, raft_index=100 + 5 * i, rtt_ms=float(i)) for n in IDS)
        h.record(round_at(i, members=rows))
    assert len(h.samples("m1")) == 11  # 10 s back from the newest, both ends included
    assert h.latency("m1")[-1] == 19.0
    assert h.index_rate("m1") == [5.0] * 10
    h.record(round_at(19, members=tuple(member(n, rtt_ms=99.0) for n in IDS)))
    assert len(h.samples("m1")) == 11 and h.latency("m1")[-1] == 99.0  # same instant: replaced
    h.record(round_at(21, members=(member("m1"),)))
    assert h.samples("m2") == ()  # a removed member takes its history along


def test_alarms_and_quota_come_from_the_status_answer():
    plan = Plan(nodes=(Node("m1", "10.0.0.1", roles=(Role.ETCD,)),))
    status = {
        "header": {"cluster_id": "1", "member_id": "161"},
        "leader": "161",
        "dbSize": str(BACKEND_QUOTA_BYTES * 3 // 4),
        "errors": ["memberID:161 alarm:NOSPACE "],
    }
    members = {"members": [{"ID": "161", "name": "m1", "peerURLs": [], "clientURLs": []}]}
    result = ProbeResult(
        "m1",
        "https://10.0.0.1:2379",
        "10.0.0.1",
        connected=True,
        status=status,
        health={"health": "false", "reason": "ALARM NOSPACE"},
        members=members,
    )
    h = build(plan, [result], now=T0)
    assert h.member("m1").alarms == ("NOSPACE",)
    assert h.alarms == ("NOSPACE",)
    assert "alarm NOSPACE" in h.details
    assert h.member("m1").db_quota_pct == 75.0
    doc = h.to_json()
    assert doc["alarms"] == ["NOSPACE"] and doc["members"][0]["db_quota_pct"] == 75.0


def test_sparkline_scales_between_min_and_max_and_keeps_gaps():
    assert sparkline([1, 2, 3, None, 3], 5) == "▁▅█ █"
    assert sparkline([7, 7], 4) == BARS[0] * 2
    assert sparkline([1, 2, 3], 2) == "▁█"  # only the newest `width` values
    assert sparkline([None, None], 3) == "  "
    assert sparkline([1.0], 0) == ""


@given(st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6)), max_size=50), st.integers(0, 40))
def test_sparkline_is_never_wider_than_asked_and_uses_only_bars(values, width):
    line = sparkline(values, width)
    assert len(line) == min(len(values), width)
    assert set(line) <= set(BARS) | {" "}


def test_the_quota_forecast_comes_from_the_in_use_size_of_the_soonest_member():
    mib = 1024**2
    history = History(window_s=3600)
    for i in range(12):
        rows = tuple(
            member(n, is_leader=n == "m1", db_size=2048 * mib, db_size_in_use=int(u))
            for n, u in (
                ("m1", 1024 * mib + i * 20 * 512 * mib / 86400),  # +512 MiB/day
                ("m2", 1024 * mib + i * 20 * 128 * mib / 86400),
                ("m3", 1024 * mib),  # flat: no forecast of its own
            )
        )
        history.record(round_at(20 * i, members=rows))
    f = history.quota_forecast(2048 * mib)
    assert f is not None and abs(f.bytes_per_day - 512 * mib) < mib
    assert 1.9 < f.days_left < 2.0
    assert History().quota_forecast(2048 * mib) is None
