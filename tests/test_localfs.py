"""Local files named by the operator (issue 12): read only regular files, write atomically,
change modes only of what hawizard made, never through a symlink, never a parent folder."""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path

import pytest

from hawizard import pki
from hawizard.etcd.snapshot import _write_private
from hawizard.localfs import (
    NotRegularFile,
    atomic_write,
    make_private_dirs,
    read_regular_bytes,
    tighten_file,
)
from hawizard.plan import Cluster, Node, PKISettings, Plan


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_fifo_is_refused_at_once_not_waited_on(tmp_path):
    fifo = tmp_path / "plan.toml"
    os.mkfifo(fifo)
    start = time.monotonic()
    with pytest.raises(NotRegularFile, match="FIFO"):
        read_regular_bytes(fifo)
    with pytest.raises(NotRegularFile, match="folder"):
        read_regular_bytes(tmp_path)
    assert time.monotonic() - start < 1


def test_atomic_write_leaves_no_temp_and_sets_the_mode(tmp_path):
    target = tmp_path / "f"
    old = os.umask(0o000)
    try:
        atomic_write(target, b"one", 0o600)
        atomic_write(target, "two", 0o640)
    finally:
        os.umask(old)
    assert target.read_text() == "two" and mode(target) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_concurrent_atomic_writes_never_collide(tmp_path):
    target = tmp_path / "plan.toml"
    errors = []

    def write(i: int) -> None:
        try:
            for _ in range(20):
                atomic_write(target, f"writer {i}\n" * 100)
        except Exception as exc:  # collected: a shared temp name used to fail here
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(target.read_text().splitlines())) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["plan.toml"]


def test_tighten_never_follows_a_symlink(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    outside.chmod(0o644)
    link = tmp_path / "key.pem"
    link.symlink_to(outside)
    assert tighten_file(link, 0o600) is None
    assert mode(outside) == 0o644
    own = tmp_path / "own.pem"
    own.write_text("k")
    own.chmod(0o644)
    assert tighten_file(own, 0o600) == 0o644 and mode(own) == 0o600


def test_make_private_dirs_changes_only_what_it_creates(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    made = make_private_dirs(shared / "a" / "b")
    assert made == [shared / "a", shared / "a" / "b"]
    assert mode(shared) == 0o1777
    assert mode(shared / "a") == 0o700 and mode(shared / "a" / "b") == 0o700


def test_snapshot_out_in_a_shared_folder_keeps_that_folder_s_mode(tmp_path):
    """`etcd snapshot --out /tmp/x.db` used to make /tmp 0700."""
    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    _write_private(shared / "x.db.json", b"{}")
    assert mode(shared) == 0o1777
    assert mode(shared / "x.db.json") == 0o600
    _write_private(shared / "new" / "y.db.json", b"{}")
    assert mode(shared / "new") == 0o700 and mode(shared) == 0o1777


def _plan(folder: Path) -> Plan:
    return Plan(
        nodes=(Node("n0", "10.1.2.11"),),
        cluster=Cluster(name="t"),
        pki=PKISettings(dir=str(folder)),
    )


def test_pki_in_a_foreign_folder_does_not_change_that_folder(tmp_path):
    """A PKI folder holding someone else's files is not tightened (`pki.dir = "~"`-style)."""
    foreign = tmp_path / "home"
    foreign.mkdir()
    foreign.chmod(0o755)
    (foreign / ".bashrc").write_text("# mine\n")
    assert not any(o.is_failure for o in pki.create(_plan(foreign)))
    assert mode(foreign) == 0o755
    assert mode(foreign / "etcd") == 0o700  # what hawizard made is private


def test_pki_key_symlink_target_is_not_chmodded(tmp_path):
    plan = _plan(tmp_path / "pki")
    pki.create(plan)
    key = pki.paths(plan).etcd_server("n0").key
    elsewhere = tmp_path / "elsewhere-key.pem"
    elsewhere.write_bytes(key.read_bytes())
    elsewhere.chmod(0o644)
    key.unlink()
    key.symlink_to(elsewhere)
    pki.create(plan)
    assert mode(elsewhere) == 0o644


def test_ca_key_without_cert_is_rebuilt_from_the_key(tmp_path):
    """An interrupted `certs create` (key written, certificate not) no longer blocks every
    later run: the CA certificate is made again from the same key."""
    plan = _plan(tmp_path / "pki")
    pki.create(plan)
    layout = pki.paths(plan)
    key_before = layout.etcd_ca.key.read_bytes()
    for f in (layout.etcd_ca.cert, *(p for p in layout.etcd_dir.iterdir() if "ca" not in p.name)):
        f.unlink()
    outcomes = {o.name: o for o in pki.create(plan)}
    assert outcomes["etcd/ca"].action is pki.Action.CREATED
    assert "rebuilt" in outcomes["etcd/ca"].problems[0]
    assert layout.etcd_ca.key.read_bytes() == key_before
    assert pki.check(plan).ok
