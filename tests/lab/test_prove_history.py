"""The history checker of `lab prove` as pure functions: it catches a lost acknowledged write
every time, and never flags a consistent history (hypothesis builds both)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hawizard.lab.prove.harness import judge
from hawizard.lab.prove.history import Read, Window, Write, check, max_stall, p99
from hawizard.lab.prove.operations import Outcome


def history(draws: list[tuple[int, bool]]) -> tuple[list[Write], list[Read], dict[str, str]]:
    """A sequential history: draw (key index, acknowledged?) per write; every acknowledged
    write read back right after; the final state as a correct cluster would hold it (an
    unacknowledged write is applied when its index is even: indeterminate either way)."""
    writes, reads, final = [], [], {}
    t = 0.0
    for n, (k, acked) in enumerate(draws):
        key, value = f"/p/{k}", f"v{n}"
        applied = acked or n % 2 == 0
        writes.append(Write(key, value, n, t, t + 0.01, n + 1 if acked else None))
        if applied:
            final[key] = value
        if acked:
            reads.append(Read(key, value, t + 0.02, t + 0.03))
        t += 0.1
    return writes, reads, final


draws = st.lists(st.tuples(st.integers(0, 5), st.booleans()), min_size=1, max_size=60)


@given(draws)
@settings(max_examples=300)
def test_a_consistent_history_is_never_flagged(d):
    writes, reads, final = history(d)
    found = check(writes, reads, final)
    assert found.consistent, found
    assert found.acked == sum(a for _, a in d) and found.failed == len(d) - found.acked


@given(draws, st.data())
@settings(max_examples=300)
def test_a_deleted_acknowledged_key_is_always_caught(d, data):
    writes, reads, final = history(d)
    acked_keys = sorted({w.key for w in writes if w.acked} & set(final))
    if not acked_keys:
        return
    victim = data.draw(st.sampled_from(acked_keys))
    del final[victim]
    found = check(writes, reads, final)
    assert found.lost == [victim]


@given(draws, st.data())
@settings(max_examples=200)
def test_an_older_value_is_caught_as_lost(d, data):
    writes, reads, final = history(d)
    keys = {}
    for w in writes:
        keys.setdefault(w.key, []).append(w)
    rolled = [k for k, ws in keys.items() if ws[-1].acked and len(ws) > 1]
    if not rolled:
        return
    victim = data.draw(st.sampled_from(sorted(rolled)))
    final[victim] = keys[victim][0].value
    assert victim in check(writes, reads, final).lost


def test_a_key_never_written_is_a_phantom():
    writes, reads, final = history([(0, True)])
    final["/p/ghost"] = "boo"
    found = check(writes, reads, {**final})
    assert found.phantom == ["/p/ghost"] and not found.consistent
    final["/p/0"] = "a value nobody wrote"
    assert "/p/0" in check(writes, reads, final).phantom


def test_a_read_that_goes_back_is_stale():
    w1 = Write("/p/r", "1", 0, 0.0, 0.1, 5)
    w2 = Write("/p/r", "2", 1, 0.2, 0.3, 6)
    back = Read("/p/r", "1", 0.4, 0.5)
    found = check([w1, w2], [back], {"/p/r": "2"})
    assert found.stale == ["/p/r"] and found.lost == []
    absent = Read("/p/r", None, 0.4, 0.5)
    assert check([w1, w2], [absent], {"/p/r": "2"}).stale == ["/p/r"]
    # a read that started before the acknowledgement may see either value
    early = Read("/p/r", "1", 0.25, 0.5)
    assert check([w1, w2], [early], {"/p/r": "2"}).consistent


def test_restore_window_is_declared_not_lost():
    before = Write("/p/a", "a", 0, 0.0, 0.1, 10)
    after = Write("/p/b", "b", 0, 1.0, 1.1, 12)  # above the snapshot's revision 11
    later = Write("/p/c", "c", 0, 9.0, 9.1, 12)  # after the restore finished (t=5)
    window = Window(revision=11, until=5.0)
    found = check([before, after, later], [], {"/p/a": "a", "/p/c": "c"}, window)
    assert found.consistent and found.lost == [] and found.windowed == ["/p/b"]
    # a write the snapshot holds is still required
    assert check([before, after], [], {}, window).lost == ["/p/a"]
    # and a write after the restore too
    assert check([before, later], [], {"/p/a": "a"}, window).lost == ["/p/c"]


def test_max_stall_and_p99():
    acks = [Write("/k", "v", i, t - 0.01, t, 1) for i, t in enumerate([1.0, 1.1, 3.1, 3.2])]
    assert max_stall(acks, 1.05, 3.15) == 2.0
    assert max_stall(acks, 3.15, 5.0) > 1.7  # nothing after 3.2: the stall runs to the end
    assert max_stall([], 0.0, 4.0) == 4.0
    assert p99([]) is None and p99([0.5]) == 0.5
    assert p99([i / 1000 for i in range(1, 101)]) == 0.099


def test_judge_planned_operations_must_not_fail_a_request():
    clean = check([Write("/k", "v", 0, 0, 1, 1), Write("/k2", "w", 0, 0, 1, None)], [], {"/k": "v"})
    assert judge("leader-loss", clean, Outcome(True)) == "ok"
    assert judge("defrag", clean, Outcome(True)) == "1 failed (planned)"
    lost = check([Write("/k", "v", 0, 0, 1, 1)], [], {})
    assert judge("leader-loss", lost, Outcome(True)) == "LOST 1"
    assert judge("recover", clean, Outcome(False, "not available: no module")) == "not available"
    assert judge("defrag", lost, Outcome(False, "Refused: …")) == "op failed; LOST 1"


def test_ops_are_parsed_in_the_harness_order_with_faults():
    from hawizard.cli.prove_cmd import parse_ops

    assert parse_ops("restore,defrag@kill,defrag", False) == ["defrag", "defrag@kill", "restore"]
    assert parse_ops(None, True) == []
    assert "leader-loss" in parse_ops("all", False) and "recover" in parse_ops("all", False)
    assert parse_ops("upgrade@kill:25698", False) == ["upgrade@kill:25698"]
    assert parse_ops("all,rotate-ca@kill", False).count("rotate-ca@kill") == 1
    for bad, why in (
        ("bogus", "unknown operation 'bogus'"),
        ("leader-loss@kill", "faults are kill, poweroff"),
        ("defrag@melt", "faults are"),
        ("upgrade,upgrade@kill", "one upgrade per round"),
        ("upgrade@kill:soon", "with a seed to replay"),
    ):
        with pytest.raises(ValueError, match=re.escape(why)):
            parse_ops(bad, False)


def test_bad_input_is_a_clear_error_before_any_lab(capsys):
    from hawizard.cli import main

    assert main(["lab", "prove", "--ops", "bogus"]) == 2
    err = capsys.readouterr().err
    assert "--ops: unknown operation 'bogus'" in err and "choose from: all" in err
    assert main(["lab", "prove", "--rounds", "0"]) == 2
    assert "--rounds 0" in capsys.readouterr().err
    assert main(["lab", "prove", "--name", "Bad Name", "--self-test"]) == 2
    assert "--name" in capsys.readouterr().err
