"""The recorder's store and codec, fed with probe rounds recorded from a real lab
(`tests/fixtures/health`) and with synthetic rounds made from them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import stat

import pytest
from fixtures.health import recorded

from hawizard import sidecars
from hawizard.recorder import rounds, timeline
from hawizard.recorder.store import RecorderError, Store
from hawizard.recorder.timespec import TimeSpecError, parse_time

T0 = dt.datetime(2026, 12, 4, 3, 12, tzinfo=dt.UTC)


def at(health, seconds: float):
    return dataclasses.replace(health, checked_at=T0 + dt.timedelta(seconds=seconds))


def test_codec_keeps_what_the_dashboard_and_incidents_read():
    _plan, health = recorded("lab-one-member-killed")
    doc = rounds.encode(health, [("m1", "ready")], ["lb1"])
    back = rounds.decode(doc)
    assert back.health.state == health.state
    assert back.health.summary == health.summary
    assert back.health.leader_id == health.leader_id
    assert back.apiservers == (("m1", "ready"),)
    assert back.vip_holders == ("lb1",)
    for old, new in zip(health.members, back.health.members, strict=True):
        assert new.state == old.state
        assert (new.raft_term, new.raft_index, new.db_size) == (
            old.raft_term,
            old.raft_index,
            old.db_size,
        )
        assert new.error == old.error
    assert [c.days_left for c in back.health.certificates] == [
        c.days_left for c in health.certificates
    ]


def test_decode_refuses_a_foreign_row():
    with pytest.raises(rounds.BadRound):
        rounds.decode({"at": "yesterday"})


def test_store_is_0600_and_refuses_a_symlink(tmp_path):
    plan = tmp_path / "plan.toml"
    path = sidecars.recorder_path(plan)
    assert path.name == "plan.record.sqlite"
    with Store.open(path):
        pass
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    path.unlink()
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    path.symlink_to(victim)
    with pytest.raises(sidecars.UnsafeSidecar, match="symbolic link"):
        Store.open(path)
    assert victim.read_text() == "keep me"


def test_store_refuses_a_symlinked_journal(tmp_path):
    path = tmp_path / "plan.record.sqlite"
    (tmp_path / "plan.record.sqlite-wal").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(sidecars.UnsafeSidecar, match="-wal"):
        Store.open(path)


def test_a_file_that_is_not_sqlite_is_named(tmp_path):
    path = tmp_path / "plan.record.sqlite"
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(RecorderError, match="move it aside"):
        Store.open(path)


def test_rounds_come_back_in_order_within_a_span(tmp_path):
    _plan, healthy = recorded("lab-three-healthy")
    with Store.open(tmp_path / "r.sqlite") as store:
        for s in (20, 0, 10):  # appended out of order: read back by time
            store.append_round(rounds.encode(at(healthy, s)))
        store.append_op(T0 + dt.timedelta(seconds=5), "hawizard etcd defrag p.toml", "start")
        got = [r.at for r in store.rounds(T0 + dt.timedelta(seconds=5))]
        assert got == [T0 + dt.timedelta(seconds=10), T0 + dt.timedelta(seconds=20)]
        assert store.round_before(T0 + dt.timedelta(seconds=15)).at == T0 + dt.timedelta(seconds=10)
        (op,) = store.ops()
        assert op[1]["phase"] == "start"


def test_the_age_bound_drops_the_oldest(tmp_path):
    _plan, healthy = recorded("lab-three-healthy")
    with Store.open(tmp_path / "r.sqlite", max_days=1) as store:
        for day in (0, 1, 2):
            store.append_round(rounds.encode(at(healthy, day * 86400)))
        gone = store.prune(now=(T0 + dt.timedelta(days=2, hours=1)).timestamp())
        assert gone == 2
        assert [r.at for r in store.rounds()] == [T0 + dt.timedelta(days=2)]


def test_the_size_bound_holds(tmp_path):
    _plan, healthy = recorded("lab-three-healthy")
    path = tmp_path / "r.sqlite"
    with Store.open(path, max_days=366, max_mb=1) as store:
        store.key_every = 1  # whole rounds only (~1.5 KB): this tests the bound, not the encoding
        for i in range(3000):  # ~1.5 KB a round: well past 1 MiB unbounded
            store.append_round(rounds.encode(at(healthy, i)))
        store.prune(now=T0.timestamp())
        kept = list(store.rounds())
        assert 0 < len(kept) < 3000
        assert kept[-1].at == T0 + dt.timedelta(seconds=2999)  # the newest stay
        assert store._used_bytes() <= 1 << 20
    assert os.path.getsize(path) <= 1 << 20  # the file itself, freed pages given back


def test_parse_time():
    now = T0
    assert parse_time("2m", now) == T0 - dt.timedelta(minutes=2)
    assert parse_time("7d", now) == T0 - dt.timedelta(days=7)
    assert parse_time("2026-12-04T03:00:00", now) == dt.datetime(2026, 12, 4, 3, tzinfo=dt.UTC)
    with pytest.raises(TimeSpecError, match=r"--until 'soon'.*2m"):
        parse_time("soon", now, "--until")


def test_timeline_orders_down_then_up_from_recorded_rounds():
    _plan, healthy = recorded("lab-three-healthy")
    _plan, killed = recorded("lab-one-member-killed")
    seq = [at(healthy, 0), at(killed, 2), at(killed, 4), at(healthy, 6)]
    recs = [rounds.decode(rounds.encode(h)) for h in seq]
    op = (T0 + dt.timedelta(seconds=1), {"command": "x", "phase": "start"})
    entries = timeline.build(recs, [op])
    kinds = [(e.kind, (e.at - T0).total_seconds()) for e in entries]
    down = [m.name for m in killed.members if not m.healthy]
    assert kinds[0] == ("operation", 1.0)
    assert ("unhealthy", 2.0) in kinds and ("healthy", 6.0) in kinds
    assert kinds.index(("unhealthy", 2.0)) < kinds.index(("healthy", 6.0))
    texts = [e.text for e in entries if e.kind in ("unhealthy", "healthy")]
    assert texts[0].startswith(f"{down[0]} unhealthy")
    assert texts[-1] == f"{down[0]} healthy again"
    md = timeline.markdown(entries, T0, T0 + dt.timedelta(seconds=6), "x|y", recs[0])
    assert "x\\|y" in md and f"{down[0]} healthy again" in md


def test_timeline_vip_moves():
    _plan, healthy = recorded("lab-three-healthy")
    a = rounds.Round(at(healthy, 0), vip_holders=("lb1",))
    b = rounds.Round(at(healthy, 2), vip_holders=("lb2",))
    (entry,) = timeline.transitions([a, b])
    assert entry.kind == "vip" and entry.text == "VIP now held by lb2 (was lb1)"


def test_certificates_are_stored_when_they_change_and_survive_pruning(tmp_path):
    _plan, healthy = recorded("lab-three-healthy")
    assert healthy.certificates, "the recorded round has certificates"
    with Store.open(tmp_path / "r.sqlite", max_days=1) as store:
        for hour in range(0, 48, 6):
            store.append_round(rounds.encode(at(healthy, hour * 3600)))
        count = store._conn.execute("SELECT COUNT(*) FROM entries WHERE kind = 'certs'")
        assert count.fetchone()[0] == 1  # the same certificates: one row for eight rounds
        store.prune(now=(T0 + dt.timedelta(hours=47)).timestamp())
        kept = list(store.rounds())
        assert len(kept) == 4  # hours 24..42
        expected = [c.days_left for c in healthy.certificates]
        assert all([c.days_left for c in r.health.certificates] == expected for r in kept)
        mid = store.round_before(T0 + dt.timedelta(hours=31))
        assert [c.name for c in mid.health.certificates] == [c.name for c in healthy.certificates]


def test_plan_bounds_are_validated_and_named():
    from hawizard.plan import dumps, loads, validate

    plan, _ = recorded("lab-three-healthy")
    assert "record_days" not in dumps(plan)  # defaults are not written into plans
    bad = dataclasses.replace(
        plan, monitoring=dataclasses.replace(plan.monitoring, record_days=0, record_mb=-5)
    )
    fields = {p.field: p.message for p in validate(bad)}
    assert "1-366 days" in fields["monitoring.record_days"]
    assert "1-100000 MiB" in fields["monitoring.record_mb"]
    kept = dataclasses.replace(
        plan, monitoring=dataclasses.replace(plan.monitoring, record_days=3, record_mb=20)
    )
    again = loads(dumps(kept))
    assert (again.monitoring.record_days, again.monitoring.record_mb) == (3, 20)
