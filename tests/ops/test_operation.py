"""The operation driver's contract, with small fake operations and no host at all (the way
k0sctl's `phase/manager_test.go` tests its manager): the lock, the judgement under the lock,
another operation in flight, confirm = no, finish on failure."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from hawizard import sidecars
from hawizard.ops import Refused
from hawizard.ops.operation import Operation, drive
from hawizard.plan import Plan
from hawizard.planlock import PlanLock, lock_path
from hawizard.steps import Phase, RunResult


@dataclass
class Fake:
    """Records every call the driver makes, in order."""

    command: str = "hawizard fake plan.toml"
    title: str = "fake operation"
    record: str | None = None
    work: bool = True
    refuse: str = ""
    calls: list[str] = field(default_factory=list)
    seen_lock: list[str] = field(default_factory=list)

    def assess(self, plan: Plan) -> bool:
        self.calls.append("assess")
        self.seen_lock.append(lock_path(plan.source).read_text())
        if self.refuse:
            raise Refused(self.refuse, "fix it")
        return self.work

    def begin(self, dry_run: bool) -> None:
        self.calls.append(f"begin(dry_run={dry_run})")

    def phases(self) -> list[Phase]:
        self.calls.append("phases")
        return [Phase("one", [])]

    def finish(self, ok: bool) -> None:
        self.calls.append(f"finish({ok})")


def make_plan(tmp_path) -> Plan:
    path = tmp_path / "plan.toml"
    path.write_text("")
    return Plan(nodes=(), source=path)


def runner(ok: bool = True, calls: list[str] | None = None):
    def run(plan, phases):
        if calls is not None:
            calls.append(f"run({len(phases)})")
        return RunResult(dry_run=False, failures=[] if ok else ["n1: step failed"])

    return run


def test_a_fake_is_an_operation():
    assert isinstance(Fake(), Operation)


def test_the_order_is_lock_assess_confirm_begin_run_finish(tmp_path):
    plan = make_plan(tmp_path)
    op = Fake()
    asked: list[str] = []

    def confirm(o) -> bool:
        asked.append(o.title)
        return True

    driven = drive(op, plan, runner(calls=op.calls), confirm=confirm)
    assert driven.ok and driven.confirmed
    assert op.calls == ["assess", "begin(dry_run=False)", "phases", "run(1)", "finish(True)"]
    assert asked == ["fake operation"]
    # judged under the lock, which named the command; released afterwards
    assert '"command": "hawizard fake plan.toml"' in op.seen_lock[0]
    assert lock_path(plan.source).read_text() == ""


def test_a_held_lock_is_one_refusal_and_nothing_is_judged(tmp_path):
    plan = make_plan(tmp_path)
    op = Fake()
    with PlanLock(plan.source, "hawizard etcd add plan.toml n4"), pytest.raises(Refused) as exc:
        drive(op, plan, runner(), confirm=lambda o: True)
    assert "hawizard etcd add plan.toml n4" in exc.value.reason
    assert "run it again" in exc.value.hint
    assert op.calls == []


def test_a_refusal_under_the_lock_runs_nothing_and_releases_the_lock(tmp_path):
    plan = make_plan(tmp_path)
    op = Fake(refuse="the cluster has no quorum")
    with pytest.raises(Refused, match="no quorum"):
        drive(op, plan, runner(), confirm=lambda o: True)
    assert op.calls == ["assess"]
    with PlanLock(plan.source, "next"):  # released
        pass


@pytest.mark.parametrize("kind", sorted(sidecars.RECORDS))
def test_another_operation_in_flight_refuses_naming_it_and_its_resume(tmp_path, kind):
    plan = make_plan(tmp_path)
    data = {"op": "add", "node": "n4", "old": None, "ca": "etcd", "snapshot": "/s/a.db"}
    sidecars.write_record(plan.source, kind, data)
    op = Fake()
    with pytest.raises(Refused) as exc:
        drive(op, plan, runner(), confirm=lambda o: True, label="plan.toml")
    assert f"plan.{kind}.json" in exc.value.reason
    resume = sidecars.RECORDS[kind].resume("plan.toml", data)
    assert exc.value.hint == f"finish it first: `{resume}`"
    assert resume.startswith("hawizard ") and "plan.toml" in resume
    assert op.calls == []
    # its own kind of record is a resume, not a conflict
    own = Fake(record=kind)
    assert drive(own, plan, runner(), confirm=lambda o: True).ok


def test_confirm_no_runs_nothing(tmp_path):
    plan = make_plan(tmp_path)
    op = Fake()
    driven = drive(op, plan, runner(calls=op.calls), confirm=lambda o: False)
    assert not driven.confirmed and driven.result is None and not driven.ok
    assert op.calls == ["assess"]


def test_nothing_to_do_asks_nothing(tmp_path):
    plan = make_plan(tmp_path)
    op = Fake(work=False)
    driven = drive(op, plan, runner(), confirm=lambda o: pytest.fail("asked"))
    assert driven.nothing_to_do and driven.result is None
    assert op.calls == ["assess"]


def test_finish_is_called_on_failure_and_when_the_run_raises(tmp_path):
    plan = make_plan(tmp_path)
    op = Fake()
    driven = drive(op, plan, runner(ok=False), confirm=lambda o: True)
    assert not driven.ok and op.calls[-1] == "finish(False)"

    def interrupted(plan, phases):
        raise KeyboardInterrupt

    op = Fake()
    with pytest.raises(KeyboardInterrupt):
        drive(op, plan, interrupted, confirm=lambda o: True)
    assert op.calls[-1] == "finish(False)"
    with PlanLock(plan.source, "next"):  # released on the way out too
        pass


def test_a_dry_run_asks_nothing_and_finishes_nothing(tmp_path):
    plan = make_plan(tmp_path)
    op = Fake()
    driven = drive(op, plan, runner(), dry_run=True, confirm=lambda o: pytest.fail("asked"))
    assert driven.ok
    assert op.calls == ["assess", "begin(dry_run=True)", "phases"]


@dataclass
class WithFollowUp(Fake):
    """A second run that depends on the first (as a membership change's apiserver update)."""

    after: Plan | None = None
    second: bool = True

    def follow_up(self, result: RunResult):
        self.calls.append(f"follow_up(ok={result.ok})")
        self.seen_lock.append(lock_path(self.after.source).read_text())
        return (self.after, [Phase("two", []), Phase("three", [])]) if self.second else None


def plan_runner(calls: list[str], fail_on: int = 0):
    """A runner that records which plan each run got; run number `fail_on` fails."""
    runs = []

    def run(plan, phases):
        runs.append(plan)
        calls.append(f"run({len(phases)})")
        failures = ["n1: step failed"] if len(runs) == fail_on else []
        return RunResult(dry_run=False, failures=failures)

    return run, runs


def test_a_follow_up_runs_after_a_successful_run_on_its_plan_under_the_same_lock(tmp_path):
    plan = make_plan(tmp_path)
    after = Plan(nodes=(), source=plan.source)
    op = WithFollowUp(after=after)
    run, runs = plan_runner(op.calls)
    driven = drive(op, plan, run, confirm=lambda o: True)
    assert driven.ok and driven.follow_up is not None
    assert op.calls == [
        "assess", "begin(dry_run=False)", "phases", "run(1)",
        "follow_up(ok=True)", "run(2)", "finish(True)",
    ]  # fmt: skip
    assert runs[0] is plan and runs[1] is after
    assert '"command": "hawizard fake plan.toml"' in op.seen_lock[-1]  # still held


def test_a_failed_follow_up_fails_the_operation_and_finish_is_told(tmp_path):
    plan = make_plan(tmp_path)
    op = WithFollowUp(after=plan)
    run, _ = plan_runner(op.calls, fail_on=2)
    driven = drive(op, plan, run, confirm=lambda o: True)
    assert driven.result.ok and not driven.follow_up.ok and not driven.ok
    assert op.calls[-1] == "finish(False)"


def test_no_follow_up_after_a_failed_run_nor_in_a_dry_run_nor_when_none_is_needed(tmp_path):
    plan = make_plan(tmp_path)
    op = WithFollowUp(after=plan)
    run, runs = plan_runner(op.calls, fail_on=1)
    assert not drive(op, plan, run, confirm=lambda o: True).ok
    assert len(runs) == 1 and "follow_up(ok=False)" not in op.calls

    op = WithFollowUp(after=plan)
    run, runs = plan_runner(op.calls)
    driven = drive(op, plan, run, dry_run=True)
    assert driven.ok and len(runs) == 1 and op.calls[-1] == "run(1)"

    op = WithFollowUp(after=plan, second=False)
    run, runs = plan_runner(op.calls)
    driven = drive(op, plan, run, confirm=lambda o: True)
    assert driven.ok and driven.follow_up is None and len(runs) == 1
    assert op.calls[-2:] == ["follow_up(ok=True)", "finish(True)"]


def test_a_symlinked_lock_is_refused_and_its_target_untouched(tmp_path):
    plan = make_plan(tmp_path)
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    lock_path(plan.source).symlink_to(victim)
    op = Fake()
    with pytest.raises(Refused, match="is a symbolic link"):
        drive(op, plan, runner(), confirm=lambda o: True)
    assert victim.read_text() == "keep\n" and op.calls == []


def test_held_refuses_while_another_operation_is_in_flight_and_lets_its_own_through(tmp_path):
    from hawizard.ops.operation import held

    plan = make_plan(tmp_path)
    sidecars.write_record(plan.source, "change", {"op": "add", "node": "n4", "old": None})
    with held(plan, "hawizard etcd add plan.toml n4", "change"):
        assert '"command": "hawizard etcd add plan.toml n4"' in lock_path(plan.source).read_text()
    with pytest.raises(Refused) as exc, held(plan, "hawizard patch plan.toml", "patch"):
        pytest.fail("ran beside an unfinished membership change")
    assert "a membership change is unfinished: add n4" in exc.value.reason
    assert "hawizard etcd add" in exc.value.hint
    assert lock_path(plan.source).read_text() == ""  # released


def test_a_membership_change_refuses_while_a_rotation_is_unfinished(tmp_path, capsys):
    """The CLI end to end (no host is reached: the refusal comes first)."""
    from hawizard.cli import main
    from hawizard.plan import Node, PKISettings, Role, dump

    plan = Plan(
        nodes=tuple(Node(f"n{i}", f"127.0.0.{i}", roles=(Role.ETCD,)) for i in (1, 2, 3)),
        pki=PKISettings(dir=str(tmp_path / "pki")),
    )
    path = tmp_path / "plan.toml"
    dump(plan, path)
    sidecars.write_record(path, "rotate", {"id": "r", "kind": "ca", "ca": "etcd"})
    assert main(["etcd", "remove", str(path), "n2", "--yes"]) == 2
    err = capsys.readouterr().err
    assert "a certificate rotation is unfinished" in err and "plan.rotate.json" in err
    assert f"hawizard certs rotate {path} --ca etcd" in err


def test_an_unreadable_record_of_another_operation_refuses_with_its_problem(tmp_path):
    plan = make_plan(tmp_path)
    sidecars.record_path(plan.source, "restore").write_text("{not json")
    op = Fake()
    with pytest.raises(Refused) as exc:
        drive(op, plan, runner(), confirm=lambda o: True, label="plan.toml")
    assert "a restore is unfinished" in exc.value.reason and "unreadable" in exc.value.reason
    assert "hawizard status plan.toml" in exc.value.hint
    assert "restore is in flight" in exc.value.hint
    assert op.calls == []


@dataclass
class ReadOnly(Fake):
    """A read-only operation (a backup, a snapshot): `exclusive = False`."""

    exclusive: bool = False

    def assess(self, plan: Plan) -> bool:
        self.calls.append("assess")
        if self.refuse:
            raise Refused(self.refuse, "fix it")
        return self.work


def test_a_read_only_operation_is_an_operation():
    assert isinstance(ReadOnly(), Operation)


@pytest.mark.parametrize("kind", sorted(sidecars.RECORDS))
def test_a_read_only_operation_runs_beside_a_held_lock_and_a_record_in_flight(tmp_path, kind):
    """A scheduled backup must not be blocked by a running apply or a stale record."""
    plan = make_plan(tmp_path)
    data = {"op": "add", "node": "n4", "old": None, "ca": "etcd", "snapshot": "/s/a.db"}
    sidecars.write_record(plan.source, kind, data)
    op = ReadOnly()
    with PlanLock(plan.source, "hawizard apply plan.toml"):
        driven = drive(op, plan, runner(calls=op.calls), confirm=lambda o: True)
        assert driven.ok
        # the other command's lock is untouched
        assert "hawizard apply plan.toml" in lock_path(plan.source).read_text()
    assert op.calls == ["assess", "begin(dry_run=False)", "phases", "run(1)", "finish(True)"]
    assert sidecars.read_record(plan.source, kind) == data  # the record is not its business


def test_a_read_only_operation_still_refuses_and_confirms_through_the_driver(tmp_path):
    plan = make_plan(tmp_path)
    refused = ReadOnly(refuse="no healthy member")
    with pytest.raises(Refused, match="no healthy member"):
        drive(refused, plan, runner(), confirm=lambda o: True)
    assert refused.calls == ["assess"]
    declined = ReadOnly()
    driven = drive(declined, plan, runner(calls=declined.calls), confirm=lambda o: False)
    assert not driven.confirmed and driven.result is None
    assert declined.calls == ["assess"]


def test_run_inline_runs_local_steps_in_order_and_counts_them():
    from hawizard.ops.operation import run_inline
    from hawizard.steps import LOCAL, Step

    seen: list[str] = []
    phases = [
        Phase("a", [Step(None, "one", None, lambda local: seen.append("one"))]),
        Phase(
            "b",
            [
                Step(None, "skip", lambda local: False, lambda local: seen.append("skip")),
                Step(None, "two", lambda local: True, lambda local: seen.append("two")),
            ],
        ),
    ]
    result = run_inline(make_plan_none(), phases)
    assert seen == ["one", "two"] and result.ok
    assert result.phases_done == ["a", "b"]
    assert (result.nodes[LOCAL].changed, result.nodes[LOCAL].unchanged) == (2, 1)
    with pytest.raises(ValueError, match="local steps only"):
        run_inline(make_plan_none(), [Phase("c", [Step("n1", "remote", None, print)])])


def test_a_failing_inline_step_propagates_and_finish_gets_false(tmp_path):
    from hawizard.ops.operation import run_inline
    from hawizard.steps import Step

    class Boom(Exception):
        pass

    def boom(local):
        raise Boom("the snapshot failed")

    @dataclass
    class Failing(ReadOnly):
        def phases(self) -> list[Phase]:
            self.calls.append("phases")
            return [Phase("one", [Step(None, "boom", None, boom)])]

    op = Failing()
    with pytest.raises(Boom):
        drive(op, make_plan(tmp_path), run_inline, confirm=lambda o: True)
    assert op.calls == ["assess", "begin(dry_run=False)", "phases", "finish(False)"]


def make_plan_none() -> Plan:
    return Plan(nodes=())
