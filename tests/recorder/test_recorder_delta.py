"""Rounds stored as differences (`recorder.delta`, `store.KEY_EVERY`): whatever the sequence
of rounds, what is read back is exactly what was written — members appearing and going,
leader changes, alarms, values the member did not report, a replay between key frames."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools

from fixtures.health import recorded
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hawizard.recorder import rounds
from hawizard.recorder.delta import diff, patch
from hawizard.recorder.store import Store

T0 = dt.datetime(2026, 12, 4, 3, 12, tzinfo=dt.UTC)
_PLAN, HEALTHY = recorded("lab-three-healthy")

member_changes = st.fixed_dictionaries(
    {
        "healthy": st.booleans(),
        "rtt_ms": st.none() | st.floats(0, 5000, allow_nan=False).map(lambda x: round(x, 2)),
        "raft_index": st.none() | st.integers(0, 2**40),
        "db_size": st.none() | st.integers(0, 8 << 30),
        "alarms": st.sampled_from([(), ("NOSPACE",), ("CORRUPT", "NOSPACE")]),
        "error": st.sampled_from(["", "connection refused", "no answer within 2s"]),
        "is_leader": st.booleans(),
    }
)
a_round = st.tuples(
    st.lists(member_changes, min_size=0, max_size=5),
    st.integers(1, 10_000_000),  # microseconds since the round before
    st.sampled_from(["", "7a3bbd89a4ffd520"]),
)


def build(spec, when: dt.datetime):
    changes, _step, leader = spec
    base = HEALTHY.members
    members = tuple(
        dataclasses.replace(base[i % len(base)], name=f"x11-n{i + 1}", id=f"{i + 1:016x}", **c)
        for i, c in enumerate(changes)
    )
    health = dataclasses.replace(
        HEALTHY, members=members, member_count=len(members), checked_at=when, leader_id=leader
    )
    return rounds.encode(health, vip_holders=["x11-n1"] if leader else None)


def docs_of(specs):
    when = T0
    out = []
    for spec in specs:
        when = when + dt.timedelta(microseconds=spec[1])
        out.append(build(spec, when))
    return out


@given(st.lists(a_round, min_size=2, max_size=12))
def test_patch_of_diff_gives_the_round_back(specs):
    docs = docs_of(specs)
    for prev, cur in itertools.pairwise(docs):
        assert patch(prev, diff(prev, cur)) == cur


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(a_round, min_size=1, max_size=30), st.integers(1, 7))
def test_the_store_reads_back_exactly_what_was_written(tmp_path_factory, specs, key_every):
    docs = docs_of(specs)
    path = tmp_path_factory.mktemp("delta") / "r.sqlite"
    with Store.open(path, max_days=366) as store:
        store.key_every = key_every
        for doc in docs:
            store.append_round(doc)
        back = list(store.rounds())
        assert [r.health for r in back] == [rounds.decode(d).health for d in docs]
        # any point between key frames: the exact round there
        for i in (0, len(docs) // 2, len(docs) - 1):
            when = dt.datetime.fromisoformat(docs[i]["at"])
            found = store.round_before(when)
            assert found is not None and found.health == rounds.decode(docs[i]).health
            assert [r.at for r in store.rounds(since=when)] == [
                dt.datetime.fromisoformat(d["at"]) for d in docs[i:]
            ]


def test_differences_are_small_and_key_frames_bound_them(tmp_path):
    with Store.open(tmp_path / "r.sqlite") as store:
        for i in range(400):
            health = dataclasses.replace(
                HEALTHY,
                checked_at=T0 + dt.timedelta(seconds=2 * i),
                members=tuple(
                    dataclasses.replace(m, raft_index=1000 + i, rtt_ms=5.0 + i % 7)
                    for m in HEALTHY.members
                ),
            )
            store.append_round(rounds.encode(health))
        kinds = dict(
            store._conn.execute("SELECT kind, COUNT(*) FROM entries GROUP BY kind").fetchall()
        )
        sizes = dict(
            store._conn.execute(
                "SELECT kind, AVG(LENGTH(body)) FROM entries GROUP BY kind"
            ).fetchall()
        )
    assert kinds["round"] == 3 and kinds["rdelta"] == 397  # a key frame every 150
    assert sizes["rdelta"] < sizes["round"] / 3, sizes


def test_a_store_of_whole_rounds_only_is_still_read(tmp_path):
    """A file written before differences existed (every row a whole round)."""
    docs = docs_of([([{} for _ in range(3)], 2_000_000, "7a3bbd89a4ffd520")] * 5)
    with Store.open(tmp_path / "r.sqlite") as store:
        store.key_every = 1
        for doc in docs:
            store.append_round(doc)
    with Store.open(tmp_path / "r.sqlite") as store:
        assert len(list(store.rounds())) == 5
