"""The membership change's wiring, without a node or root: which phases an add, a remove and
a replace run, in which order (the joining member is added between its prepare and start
phases, by name), and what `ops.change.change` does around them — refusals, the lock, the
in-flight record, the apiserver follow-up — with a recording `run` in place of the engine.

The health is the real model's judgement of fixed probe answers (`test_members_rules`)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "etcd"))
from test_members_rules import listing, result

from hawizard.etcd.membership import MembershipChange, assess, pending_path
from hawizard.etcd.quorum_rules import Op, TargetState
from hawizard.health import build
from hawizard.ops import Refused
from hawizard.ops.change import ChangeRefused, change
from hawizard.plan import Node, PKISettings, Plan, Role, dump, load
from hawizard.planlock import PlanLock, lock_path
from hawizard.steps import RunResult

FRESH = TargetState(reachable=True, has_data=False)


@pytest.fixture
def plan(tmp_path) -> Plan:
    nodes = tuple(Node(f"m{i}", f"10.0.0.{i}", roles=(Role.ETCD,)) for i in range(1, 5))
    dump(Plan(nodes=nodes, pki=PKISettings(dir=str(tmp_path / "pki"))), tmp_path / "plan.toml")
    return load(tmp_path / "plan.toml")


def health(plan: Plan, down: str = ""):
    members = listing(["m1", "m2", "m3"])
    results = [result(n, members, up=n not in down.split()) for n in ("m1", "m2", "m3")]
    results.append(result("m4", members, up=False))
    return build(plan, results)


def titles(plan, op, node, old=None, down=""):
    a = assess(plan, op, node, old, health=health(plan, down), target=FRESH)
    assert a.allowed, a.impact.reason
    return [p.title for p in MembershipChange(plan, a).phases()]


def test_add_puts_member_add_between_prepare_and_start(plan):
    assert titles(plan, Op.ADD, "m4") == [
        "etcd snapshot",
        "etcd preflight",
        "etcd bootstrap or join",
        "etcd install",
        "etcd member add",
        "etcd start",
        "etcd promote",
        "etcd health",
        "etcd membership",
    ]


def test_remove_then_the_plan_loses_the_member(plan):
    assert titles(plan, Op.REMOVE, "m3") == [
        "etcd snapshot",
        "etcd member remove",
        "etcd stop removed member",
        "etcd membership",
        "etcd health",
        "plan",
    ]


def test_remove_says_the_kept_data_dir_needs_no_handwork_to_join_again(plan):
    """Walking the journey: the note told the operator to move the dir away by hand, while the
    `etcd add` that follows (run by the journey) renames it aside itself, as it says."""
    a = assess(plan, Op.REMOVE, "m3", health=health(plan), target=FRESH)
    change_ = MembershipChange(plan, a)
    change_.phases()
    (note,) = [n for n in change_.notes if "/var/lib/etcd on m3" in n]
    assert "kept, never deleted" in note and "move it away" not in note
    assert "`hawizard etcd add` renames it aside" in note


def test_replace_removes_first_then_adds(plan):
    got = titles(plan, Op.REPLACE, "m4", old="m3", down="m3")
    assert got.index("etcd member remove") < got.index("etcd member add") < got.index("plan")


def test_member_add_is_a_once_step_keyed_by_the_change(plan):
    a = assess(plan, Op.ADD, "m4", health=health(plan), target=FRESH)
    change_ = MembershipChange(plan, a)
    (step,) = next(p for p in change_.phases() if p.title == "etcd member add").steps
    assert step.once and step.node is None
    assert step.key.endswith(f"/{change_.change_id}") and "m4" in step.key


class Recorder:
    """`run(plan, phases)` as the engine would be called; every run succeeds."""

    def __init__(self) -> None:
        self.runs: list[list[str]] = []

    def __call__(self, plan, phases):
        self.runs.append([p.title for p in phases])
        return RunResult(dry_run=False)


def checker(plan, down=""):
    h = health(plan, down)
    return lambda p, op, node, old: assess(p, op, node, old, health=h, target=FRESH)


def test_change_runs_the_etcd_phases_then_says_why_no_apiserver_was_updated(plan):
    run = Recorder()
    outcome = change(
        plan, "remove", "m3", run=run, command="t", plan_label="p", check=checker(plan)
    )
    assert outcome.ok and len(run.runs) == 1 and run.runs[0][1] == "etcd member remove"
    assert outcome.apiserver_note == "the plan has no control-plane nodes: no apiserver to update"
    assert not pending_path(plan.source).exists()  # a completed change leaves no record


def test_a_dry_run_writes_no_record_and_runs_once(plan):
    run = Recorder()
    outcome = change(
        plan, "remove", "m3", run=run, command="t", plan_label="p", dry_run=True,
        check=checker(plan),
    )  # fmt: skip
    assert outcome.etcd is not None and len(run.runs) == 1
    assert not pending_path(plan.source).exists()


def test_refusals_come_before_anything_runs(plan):
    run = Recorder()
    with pytest.raises(Refused, match="m9 is not a node"):
        change(plan, "add", "m9", run=run, command="t", plan_label="p")
    with pytest.raises(ChangeRefused) as refused:  # m1 and m2 down: removing m3 loses quorum
        change(plan, "remove", "m3", run=run, command="t", plan_label="p",
               check=checker(plan, down="m1 m2"))  # fmt: skip
    assert not refused.value.impact.allowed
    held = "hawizard etcd add plan.toml m4"
    with PlanLock(plan.source, held), pytest.raises(Refused) as locked:
        change(plan, "remove", "m3", run=run, command="t", plan_label="p", check=checker(plan))
    assert f"being changed by `{held}`" in locked.value.reason
    assert run.runs == []


def test_confirm_sees_the_impact_and_can_stop_the_change(plan):
    run = Recorder()
    seen = []

    def no(impact):
        seen.append(impact)
        raise Refused("not confirmed")

    with pytest.raises(Refused, match="not confirmed"):
        change(plan, "remove", "m3", run=run, command="t", plan_label="p",
               check=checker(plan), confirm=no)  # fmt: skip
    assert seen and seen[0].allowed and run.runs == []
    assert not pending_path(plan.source).exists()


class Failing(Recorder):
    """The first run (etcd's phases) fails, as a step's error would make it."""

    def __call__(self, plan, phases):
        super().__call__(plan, phases)
        result = RunResult(dry_run=False)
        result.phases_not_started.append("etcd member remove")
        return result


def test_the_flight_recorder_marks_a_change_as_drive_marks_an_operation(plan):
    from hawizard.ops.recording import open_store

    open_store(plan).close()  # recording in use (a dashboard or status --record made it)
    command = "hawizard etcd remove plan.toml m3"
    change(plan, "remove", "m3", run=Recorder(), command=command, plan_label="p",
           check=checker(plan), dry_run=True)  # fmt: skip
    change(plan, "remove", "m3", run=Recorder(), command=command, plan_label="p",
           check=checker(plan))  # fmt: skip
    change(plan, "remove", "m2", run=Failing(), command="hawizard etcd remove plan.toml m2",
           plan_label="p", check=checker(plan))  # fmt: skip
    with open_store(plan, create=False) as store:
        ops = [(doc["command"], doc["phase"], doc["result"]) for _at, doc in store.ops()]
    assert ops == [  # the dry run is not recorded
        (command, "start", ""),
        (command, "end", "ok"),
        ("hawizard etcd remove plan.toml m2", "start", ""),
        ("hawizard etcd remove plan.toml m2", "end", "failed"),
    ]


def test_a_node_given_the_etcd_role_is_judged_and_run_on_the_edited_plan(tmp_path):
    """The role edit is confirmed under the driver's lock; the assessment, the run and the
    file written afterwards all see the edited plan; the in-flight record is cleared."""
    nodes = tuple(Node(f"m{i}", f"10.0.0.{i}", roles=(Role.ETCD,)) for i in range(1, 4))
    worker = Node("m4", "10.0.0.4", roles=(Role.CONTROL_PLANE,))
    path = tmp_path / "plan.toml"
    dump(Plan(nodes=(*nodes, worker), pki=PKISettings(dir=str(tmp_path / "pki"))), path)
    plan = load(path)
    diffs, judged, locks = [], [], []

    def confirm_plan_edit(diff: str) -> None:
        diffs.append(diff)
        locks.append(lock_path(path).read_text())

    def check(p, op, node, old):
        judged.append(p)
        return assess(p, op, node, old, health=health(p), target=FRESH)

    class Runs(Recorder):
        def __call__(self, plan, phases):
            self.plans = [*getattr(self, "plans", []), plan]
            return super().__call__(plan, phases)

    run = Runs()
    outcome = change(
        plan, "add", "m4", run=run, command="t", plan_label="plan.toml", check=check,
        confirm_plan_edit=confirm_plan_edit,
    )  # fmt: skip
    assert outcome.ok and len(diffs) == 1 and '"etcd"' in diffs[0]
    assert '"command": "t"' in locks[0]  # asked while the plan lock was held
    (edited,) = {id(p): p for p in [*judged, *run.plans]}.values()
    assert Role.ETCD in next(n for n in edited.nodes if n.name == "m4").roles
    assert Role.ETCD in next(n for n in load(path).nodes if n.name == "m4").roles  # written
    assert (tmp_path / "plan.toml.bak").exists()
    assert not pending_path(path).exists()
