"""Files beside the plan: never written through a symlink, only regular files, atomic.

Reproduces issue 24's finding (a symlinked `plan.toml.lock` truncated its target when the
lock was taken) for the lock, the journal and every in-flight record, and checks that the
operation refuses with a message naming the file and the fix.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from hawizard import sidecars
from hawizard.journal import Journal, JournalError
from hawizard.planlock import PlanLock, PlanLocked

SECRET = "precious content that must survive\n"


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "elsewhere" / "victim.txt"
    victim.parent.mkdir()
    victim.write_text(SECRET)
    return victim


def test_a_symlinked_lock_leaves_its_target_untouched_and_refuses(tmp_path):
    plan = tmp_path / "plan.toml"
    plan.write_text("")
    victim = _victim(tmp_path)
    sidecars.lock_path(plan).symlink_to(victim)
    with pytest.raises(PlanLocked) as caught:
        PlanLock(plan, "hawizard apply plan.toml").acquire()
    assert victim.read_text() == SECRET
    message = str(caught.value)
    assert "plan.toml.lock is a symbolic link" in message and "remove it" in message


def test_a_symlinked_journal_leaves_its_target_untouched_and_refuses(tmp_path):
    plan = tmp_path / "plan.toml"
    victim = _victim(tmp_path)
    sidecars.journal_path(plan).symlink_to(victim)
    with pytest.raises(JournalError, match=r"plan\.journal\.json is a symbolic link"):
        Journal(sidecars.journal_path(plan), "sha256:x")
    assert victim.read_text() == SECRET
    assert os.path.islink(sidecars.journal_path(plan))


@pytest.mark.parametrize("kind", sorted(sidecars.RECORDS))
def test_a_symlinked_record_is_neither_read_nor_written_through(tmp_path, kind):
    plan = tmp_path / "plan.toml"
    victim = _victim(tmp_path)
    path = sidecars.record_path(plan, kind)
    path.symlink_to(victim)
    with pytest.raises(sidecars.UnsafeSidecar, match="is a symbolic link"):
        sidecars.read_record(plan, kind)
    with pytest.raises(sidecars.UnsafeSidecar, match="is a symbolic link"):
        sidecars.write_record(plan, kind, {"id": "x"})
    assert victim.read_text() == SECRET
    # still counted as an operation in flight, so nothing else starts beside it
    [found] = sidecars.in_flight(plan, "plan.toml")
    assert found.kind == kind and "is a symbolic link" in found.problem and not found.resume
    sidecars.clear_record(plan, kind)  # removes the link, never its target
    assert not os.path.lexists(path) and victim.read_text() == SECRET


def test_a_fifo_beside_the_plan_is_refused_without_hanging(tmp_path):
    plan = tmp_path / "plan.toml"
    os.mkfifo(sidecars.record_path(plan, "rotate"))
    with pytest.raises(sidecars.UnsafeSidecar, match="is a FIFO"):
        sidecars.read_record(plan, "rotate")
    os.mkfifo(sidecars.lock_path(plan))
    with pytest.raises(PlanLocked, match="is a FIFO"):
        PlanLock(plan, "x").acquire()


def test_records_are_private_atomic_and_leave_no_temp_files(tmp_path):
    plan = tmp_path / "plan.toml"
    sidecars.write_record(plan, "restore", {"id": "a", "snapshot": "s.db"})
    sidecars.write_record(plan, "restore", {"id": "b", "snapshot": "s.db"})
    path = sidecars.record_path(plan, "restore")
    assert path.name == "plan.restore.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sidecars.read_record(plan, "restore") == {"id": "b", "snapshot": "s.db"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.restore.json"]
    [found] = sidecars.in_flight(plan, "plan.toml")
    assert found.resume == "hawizard etcd restore plan.toml s.db"
    sidecars.clear_record(plan, "restore")
    assert sidecars.read_record(plan, "restore") is None


def test_a_finished_patch_record_is_not_in_flight(tmp_path):
    plan = tmp_path / "plan.toml"
    sidecars.write_record(plan, "patch", {"id": "p", "finished": "2026-01-01T00:00:00Z"})
    assert sidecars.in_flight(plan, "plan.toml") == []
    sidecars.write_record(plan, "patch", {"id": "p", "finished": "", "security_only": False})
    [found] = sidecars.in_flight(plan, "plan.toml")
    assert found.resume == "hawizard patch plan.toml --all"


def test_the_cli_refuses_a_symlinked_lock_with_exit_2(tmp_path, capsys):
    from hawizard.cli import main
    from hawizard.plan import Node, PKISettings, Plan, Role, dump

    plan = Plan(
        nodes=tuple(Node(f"n{i}", f"127.0.0.{i}", roles=(Role.ETCD,)) for i in (1, 2, 3)),
        pki=PKISettings(dir=str(tmp_path / "pki")),
    )
    path = tmp_path / "plan.toml"
    dump(plan, path)
    victim = _victim(tmp_path)
    sidecars.lock_path(path).symlink_to(victim)
    code = main(["etcd", "remove", str(path), "n2", "--yes"])
    assert code == 2
    assert "is a symbolic link" in capsys.readouterr().err
    assert victim.read_text() == SECRET
