"""`hawizard etcd backup`: a refusal exits 2 like every other command (it exited 1 before
issue 24), on stderr or as `{"refused": true}` with --json."""

from __future__ import annotations

import json

import pytest

from hawizard.cli import main
from hawizard.plan import Node, PKISettings, Plan, Role, dump


@pytest.fixture
def plan_path(tmp_path):
    plan = Plan(
        nodes=tuple(Node(f"n{i}", f"198.18.250.{10 + i}", roles=(Role.ETCD,)) for i in (1, 2, 3)),
        pki=PKISettings(dir=str(tmp_path / "pki")),
    )
    path = tmp_path / "plan.toml"
    dump(plan, path)
    return path


@pytest.mark.parametrize("verb", ["schedule", "list"])
def test_a_refused_backup_command_exits_2(plan_path, capsys, verb):
    assert main(["etcd", "backup", verb, str(plan_path), "--every", "99y"]) == 2
    err = capsys.readouterr().err
    assert "--every: '99y' is not an interval" in err and "e.g. --every 1h" in err


def test_a_refused_schedule_in_json_is_one_document(plan_path, capsys):
    code = main(["etcd", "backup", "schedule", str(plan_path), "--every", "99y", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 2 and out["refused"] is True and out["ok"] is False
    assert "99y" in out["reason"] and out["hint"] == "e.g. --every 1h"
