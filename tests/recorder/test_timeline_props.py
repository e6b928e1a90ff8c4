"""`timeline.transitions` never raises, whatever recorded rounds it is given, in any order."""

from __future__ import annotations

import dataclasses
import datetime as dt

from fixtures.health import names, recorded
from hypothesis import given, settings
from hypothesis import strategies as st

from hawizard.recorder import rounds, timeline

BASES = [recorded(n)[1] for n in names()]
T0 = dt.datetime(2026, 12, 4, tzinfo=dt.UTC)


@st.composite
def a_round(draw):
    health = draw(st.sampled_from(BASES))
    members = tuple(
        dataclasses.replace(
            m,
            healthy=draw(st.booleans()),
            raft_term=draw(st.none() | st.integers(0, 2**40)),
            alarms=tuple(draw(st.lists(st.sampled_from(["NOSPACE", "CORRUPT"]), max_size=2))),
        )
        for m in health.members
    )
    health = dataclasses.replace(
        health,
        members=members,
        leader_id=draw(st.sampled_from(["", "a1", "b2"])),
        leader_name=draw(st.sampled_from(["", "n1", "n2"])),
        checked_at=T0 + dt.timedelta(seconds=draw(st.integers(-1000, 1000))),
    )
    vip = draw(st.none() | st.lists(st.sampled_from(["lb1", "lb2"]), max_size=2))
    api = draw(st.lists(st.tuples(st.sampled_from(["m1", "m2"]), st.text(max_size=5))))
    return rounds.decode(rounds.encode(health, api, vip))


@settings(max_examples=150, deadline=None)
@given(st.lists(a_round(), max_size=8))
def test_transitions_never_raise(seq):
    entries = timeline.build(seq)
    assert all(isinstance(e.text, str) and e.text for e in entries)
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    timeline.markdown(entries, T0, T0, "c")
