"""`hawizard apply` input handling that needs no nodes: flags, the plan lock, pending changes.

Nothing here connects anywhere: each case is refused before the first SSH connection (the
plan's addresses are never contacted). The rollout itself is tested on the lab in
tests/etcd/test_rollout_lab.py.
"""

from __future__ import annotations

import json
from dataclasses import replace

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
