"""Operations mark their start and end in the flight recorder, where the plan has one."""

from __future__ import annotations

from test_operation import Fake, make_plan, runner

from hawizard import sidecars
from hawizard.ops.operation import drive
from hawizard.ops.recording import open_store


def test_no_recording_no_file(tmp_path):
    plan = make_plan(tmp_path)
    drive(Fake(), plan, runner())
    assert not sidecars.recorder_path(plan.source).exists()


def test_start_and_end_with_the_result(tmp_path):
    plan = make_plan(tmp_path)
    open_store(plan).close()  # recording in use (a dashboard or status --record made it)
    drive(Fake(command="hawizard etcd defrag plan.toml"), plan, runner(ok=True))
    drive(Fake(), plan, runner(ok=False))
    drive(Fake(), plan, runner(), dry_run=True)  # a dry run changes nothing: not recorded
    with open_store(plan, create=False) as store:
        ops = [(doc["command"], doc["phase"], doc["result"]) for _at, doc in store.ops()]
    assert ops == [
        ("hawizard etcd defrag plan.toml", "start", ""),
        ("hawizard etcd defrag plan.toml", "end", "ok"),
        ("hawizard fake plan.toml", "start", ""),
        ("hawizard fake plan.toml", "end", "failed"),
    ]


def test_a_broken_recording_never_fails_the_operation(tmp_path):
    plan = make_plan(tmp_path)
    sidecars.recorder_path(plan.source).write_bytes(b"garbage" * 1000)
    assert drive(Fake(), plan, runner()).ok
