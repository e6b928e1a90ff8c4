"""`ops.patch` decisions that need no cluster: refusals before any probe, what counts as work,
the VIP check, the steps each node gets (the VIP step only on a vip-mode balancer node), and
the patch record. (The patch run itself: tests/ops/test_patch_lab.py.)"""

from __future__ import annotations

import os

import pytest
from test_plan_balancer import vip_plan

from hawizard.cli import main
from hawizard.ops import Refused
from hawizard.ops.patch import (
    NodeEntry,
    NodeSurvey,
    Patching,
    PatchRecord,
    assess,
    command_for,
    holds_address,
    record_path,
)
from hawizard.os_packages import Manager, System, Update

DEBIAN = System(Manager.APT, "debian", "bookworm")
MARKER = Update("hawizard-marker", "1.0", "1.1", ("x:bookworm-security",), True)


def survey(name: str, **kw) -> NodeSurvey:
    kw.setdefault("updates", [])
    kw.setdefault("skipped", 0)
    kw.setdefault("reboot_required", "no")
    return NodeSurvey(name, DEBIAN, **kw)


def test_refused_before_any_probe():
    plan = vip_plan()  # no file
    with pytest.raises(Refused, match="unknown --reboot value 'sometimes'"):
        assess(plan, reboot="sometimes")
    with pytest.raises(Refused, match="the plan has no file"):
        assess(plan)


def test_cli_rejects_a_bad_reboot_choice(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["patch", "plan.toml", "--reboot=sometimes"])
    assert exc.value.code == 2
    assert "invalid choice: 'sometimes'" in capsys.readouterr().err


def test_what_counts_as_work():
    assert not survey("a").has_work("auto")
    assert survey("a", updates=[MARKER]).has_work("never")
    assert survey("a", reboot_required="yes").has_work("auto")
    assert not survey("a", reboot_required="yes").has_work("never")
    assert not survey("a", reboot_required="unknown").has_work("auto")
    assert survey("a", keepalived_stopped=True).has_work("never")  # an interrupted run


def test_vip_is_matched_exactly():
    out = "lo UNKNOWN 127.0.0.1/8\neth0 UP 10.1.2.11/24 10.1.2.10/32\n"
    assert holds_address(out, "10.1.2.10")
    assert not holds_address(out, "10.1.2.1")
    assert not holds_address("eth0 UP 10.1.2.100/24\n", "10.1.2.10")
    assert not holds_address("", "10.1.2.10")


def test_one_phase_per_node_and_the_vip_step_only_on_balancer_nodes():
    plan = vip_plan(nodes=("infra0", "infra1"))
    names = [n.name for n in plan.nodes]
    p = Patching(plan, True, "auto", [survey(n, updates=[MARKER]) for n in names], names, None)
    phases = p.phases()
    assert [ph.title for ph in phases] == [f"patch {n}" for n in names]
    assert all({s.node for s in ph.steps} == {n} for ph, n in zip(phases, names, strict=True))
    titles = {ph.title: [s.title for s in ph.steps] for ph in phases}
    common = ["install security updates", "reboot if needed", "back in service"]
    assert titles["patch infra0"] == ["cluster can lose this node", "move the VIP away", *common]
    assert titles["patch infra2"] == ["cluster can lose this node", *common]


def test_the_record_round_trips_privately(tmp_path):
    path = record_path(tmp_path / "prod.toml")
    assert path.name == "prod.patch.json"
    rec = PatchRecord("abc", "2026-01-01T00:00:00.000+00:00", True, "auto")
    rec.nodes.append(NodeEntry("n1", "2026-01-01T00:00:01.000+00:00", packages=["x 1 → 2"]))
    rec.write(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert PatchRecord.read(path) == rec
    path.write_text("{not json")
    with pytest.raises(Refused, match="unreadable patch record"):
        PatchRecord.read(path)


def test_command_for():
    assert command_for("p.toml") == "hawizard patch p.toml"
    assert command_for("p.toml", True, "never") == "hawizard patch p.toml --all --reboot=never"
