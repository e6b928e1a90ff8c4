"""The plan lock: one change at a time, a clear refusal naming the holder, no stale locks."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hawizard.planlock import PlanLock, PlanLocked, lock_path


def test_second_holder_is_refused_with_the_first_ones_name(tmp_path):
    plan = tmp_path / "plan.toml"
    plan.write_text("")
    with PlanLock(plan, "hawizard etcd add plan.toml n4"):
        assert lock_path(plan).stat().st_mode & 0o777 == 0o600
        with pytest.raises(PlanLocked) as caught:
            PlanLock(plan, "hawizard etcd remove plan.toml n2").acquire()
    message = str(caught.value)
    assert "`hawizard etcd add plan.toml n4`" in message
    assert f"pid {os.getpid()}" in message and "one change at a time" in message
    assert caught.value.holder is not None and caught.value.holder.command.endswith("n4")


def test_released_lock_can_be_taken_again_and_is_emptied(tmp_path):
    plan = tmp_path / "plan.toml"
    lock = PlanLock(plan, "first").acquire()
    lock.release()
    assert lock_path(plan).read_text() == ""
    with PlanLock(plan, "second") as again:
        assert again.held
    assert not again.held


def test_lock_dies_with_its_process(tmp_path):
    """A holder killed with SIGKILL leaves no stale lock: the kernel drops flock locks."""
    plan = tmp_path / "plan.toml"
    code = textwrap.dedent(
        f"""
        import sys, time
        from hawizard.planlock import PlanLock
        PlanLock({str(plan)!r}, "hawizard etcd add plan.toml n5").acquire()
        print("locked", flush=True)
        time.sleep(60)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(PlanLocked, match=f"pid {child.pid}"):
            PlanLock(plan, "me").acquire()
    finally:
        child.kill()
        child.wait(timeout=10)
    with PlanLock(plan, "me"):
        pass


def test_wait_gives_up_after_its_bound(tmp_path):
    plan = tmp_path / "plan.toml"
    with PlanLock(plan, "holder"):
        start = time.monotonic()
        with pytest.raises(PlanLocked):
            PlanLock(plan, "waiter", wait=0.5).acquire()
        assert 0.4 < time.monotonic() - start < 3


def test_cli_refuses_a_second_change_with_exit_2(tmp_path, capsys):
    """`hawizard etcd remove` while another change holds the plan: refused before any probe."""
    from hawizard.cli import main
    from hawizard.plan import Node, PKISettings, Plan, Role, dump

    plan = Plan(
        nodes=tuple(Node(f"n{i}", f"127.0.0.{i}", roles=(Role.ETCD,)) for i in (1, 2, 3)),
        pki=PKISettings(dir=str(tmp_path / "pki")),
    )
    path = tmp_path / "plan.toml"
    dump(plan, path)
    with PlanLock(Path(path), "hawizard etcd add plan.toml n4"):
        code = main(["etcd", "remove", str(path), "n2", "--yes"])
    assert code == 2
    err = capsys.readouterr().err
    assert "is being changed by" in err and "hawizard etcd add plan.toml n4" in err
