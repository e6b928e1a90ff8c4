"""`hawizard etcd snapshot` against the lab: a real 3-member cluster, checked independently.

The snapshot must land on this machine private (0600 in a 0700 folder), carry the keys written
before it, match what etcd's own `etcdutl` says about it, and leave nothing behind on the node.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest
from fixtures.etcd_rollout import etcd_on_lab
from fixtures.etcdctl import etcdctl

from hawizard.cli import main
from hawizard.etcd.snapshot import local_etcdutl

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def plan(lab, tmp_path_factory):
    names = [n.name for n in lab.nodes[:3]]
    try:
        plan = etcd_on_lab(lab, tmp_path_factory.mktemp("snapshot"))
        put = etcdctl(plan, "put", "/day2/snapshot-proof", "value-4a7f1c-in-the-snapshot")
        assert put.returncode == 0, put.stderr
        yield plan
    finally:
        lab.reset(*names)


def snapshot(plan, *extra: str, capsys) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["etcd", "snapshot", str(plan.source), "--json", *extra])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def test_default_snapshot_is_private_verified_and_complete(lab, plan, capsys):
    code, out = snapshot(plan, capsys=capsys)
    assert code == 0, out
    info = out["snapshot"]
    path = Path(info["path"])
    assert path.parent == plan.source.parent / "snapshots"
    assert path.name.startswith(f"{plan.cluster.name}-") and path.suffix == ".db"
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == info["sha256"] and len(data) == info["size"]
    assert b"value-4a7f1c-in-the-snapshot" in data  # bbolt keeps values as they are
    assert info["revision"] >= 2 and info["total_keys"] >= 1
    # etcd's own tool agrees on revision and hash
    tool = local_etcdutl()
    assert tool is not None
    status = subprocess.run(
        [tool, "snapshot", "status", str(path), "-w", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    facts = json.loads(status.stdout)
    assert (facts["revision"], facts["hash"]) == (info["revision"], info["hash"])
    meta = json.loads(path.with_name(path.name + ".json").read_text())
    assert meta["sha256"] == info["sha256"] and meta["node"] == info["node"]
    # nothing left on the node, and the admin key never went there
    leftovers = lab.exec(
        info["node"],
        ["sh", "-c", "ls -d /var/tmp/hawizard-snapshot.* /var/lib/hawizard/tmp/* || true"],
    )
    assert leftovers.stdout.strip() == ""
    mode = lab.exec(info["node"], ["stat", "-c", "%a %U", "/var/lib/hawizard/tmp"]).stdout
    assert mode.split() == ["700", "root"]
    listing = lab.exec(info["node"], ["ls", plan.etcd.cert_dir]).stdout
    assert "admin" not in listing


def test_snapshot_to_a_chosen_path_refuses_to_overwrite(plan, tmp_path, capsys):
    out_path = tmp_path / "mine" / "backup.db"
    code, out = snapshot(plan, "--out", str(out_path), capsys=capsys)
    assert code == 0 and Path(out["snapshot"]["path"]) == out_path
    before = out_path.read_bytes()
    code, _ = snapshot(plan, "--out", str(out_path), capsys=capsys)
    assert code == 1
    assert out_path.read_bytes() == before


def test_snapshot_comes_from_a_healthy_member(lab, plan, capsys):
    code, out = snapshot(plan, capsys=capsys)
    again, out2 = snapshot(plan, capsys=capsys)  # within the same second: its own file
    assert code == again == 0
    assert out2["snapshot"]["path"] != out["snapshot"]["path"]
    down = out["snapshot"]["node"]  # the member it would be taken from: now stopped
    lab.exec(down, ["systemctl", "stop", "etcd"])
    try:
        code, out = snapshot(plan, capsys=capsys)
        assert code == 0, out
        assert out["snapshot"]["node"] != down
    finally:
        lab.exec(down, ["systemctl", "start", "etcd"])


def test_what_a_killed_snapshot_left_is_swept_and_named(lab, plan, capsys):
    """Issue 25: a killed or disconnected snapshot left a full copy of the keyspace in
    /var/tmp. A shell killed with SIGKILL half-way leaves its private folder (its owner PID
    dead) on every node; an older hawizard's /var/tmp leftover and an old uploaded restore
    snapshot sit there too. The next snapshot sweeps them and names each; a folder whose
    owner still runs (another snapshot in progress) is kept."""
    killed = (
        "umask 077; mkdir -p -m 700 /var/lib/hawizard/tmp; "
        "d=$(mktemp -d /var/lib/hawizard/tmp/snapshot.XXXXXXXX); echo $$ > $d/owner; "
        "echo keyspace > $d/snapshot.db; kill -9 $$"
    )
    plant = (
        "mkdir -p /var/tmp/hawizard-snapshot.OLDOLDOL; touch -d '-2 hours' "
        "/var/tmp/hawizard-snapshot.OLDOLDOL; echo k > /var/lib/hawizard/tmp/restore-0a1b2c3d.db; "
        "touch -d '-2 hours' /var/lib/hawizard/tmp/restore-0a1b2c3d.db; "
        "sleep 300 </dev/null >/dev/null 2>&1 & "
        "d=/var/lib/hawizard/tmp/snapshot.LIVELIVE; mkdir -p $d; echo $! > $d/owner"
    )
    names = [n.name for n in plan.nodes]
    for name in names:
        lab.exec(name, ["sh", "-c", killed], check=False)
        lab.exec(name, ["sh", "-c", plant])
    capsys.readouterr()
    assert main(["etcd", "snapshot", str(plan.source)]) == 0
    err = " ".join(capsys.readouterr().err.split())
    found = re.search(r"removed /var/tmp/hawizard-snapshot\.OLDOLDOL on (\S+) \(", err)
    assert found, err
    node = found.group(1)
    left = lab.exec(node, ["sh", "-c", "ls -d /var/lib/hawizard/tmp/* /var/tmp/hawizard-*"],
                    check=False).stdout.split()  # fmt: skip
    assert left == ["/var/lib/hawizard/tmp/snapshot.LIVELIVE"], left
    for gone in (
        "/var/tmp/hawizard-snapshot.OLDOLDOL",
        "/var/lib/hawizard/tmp/restore-0a1b2c3d.db",
    ):
        assert f"removed {gone} on {node}" in err, err
    assert "/var/lib/hawizard/tmp/snapshot." in err  # the killed run's folder, named too
    for name in names:
        lab.exec(
            name,
            [
                "sh",
                "-c",
                "kill $(cat /var/lib/hawizard/tmp/snapshot.LIVELIVE/owner) || true; "
                "rm -rf /var/lib/hawizard/tmp/* /var/tmp/hawizard-*",
            ],
        )
