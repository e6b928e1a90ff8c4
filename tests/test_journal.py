"""The journal on its own: file modes, atomic rewrites, what survives which kind of run."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from hawizard.journal import Journal, JournalError, journal_path, plan_fingerprint
from hawizard.plan import Node, Plan


def _plan(tmp_path: Path, address: str = "198.18.0.11") -> Plan:
    return Plan(nodes=(Node("infra0", address),), source=tmp_path / "prod.toml")


def test_path_mode_and_content(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    j = Journal.for_plan(plan)
    assert j.path == tmp_path / "prod.journal.json" == journal_path(plan.source)
    j.begin()
    j.record("infra0/bootstrap", "infra0", "bootstrap", changed=True, once=True)
    assert j.path.stat().st_mode & 0o777 == 0o600
    raw = json.loads(j.path.read_text())
    assert raw["plan"] == plan_fingerprint(plan)
    assert raw["once"]["infra0/bootstrap"]["changed"] is True
    assert raw["last_run"]["ok"] is False
    assert [p.name for p in tmp_path.iterdir()] == ["prod.journal.json"]  # no temp file left


def test_once_history_survives_success_and_plan_changes(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    j = Journal.for_plan(plan)
    j.begin()
    j.record("infra0/bootstrap", "infra0", "bootstrap", changed=True, once=True)
    j.record("infra0/config", "infra0", "config", changed=True)
    j.finish(ok=False, failed=["infra0: start"])

    again = Journal.for_plan(plan)
    assert again.resuming
    assert again.previous("infra0/config") is not None
    assert again.done_once("infra0/bootstrap") is not None
    again.begin()
    again.finish(ok=True)

    after = Journal.for_plan(plan)
    assert not after.resuming
    assert after.previous("infra0/config") is None  # progress is dropped after a full run
    assert after.done_once("infra0/bootstrap") is not None  # history is not

    changed = replace(plan, nodes=(Node("infra0", "198.18.0.12"),))
    assert plan_fingerprint(changed) != plan_fingerprint(plan)
    j2 = Journal.for_plan(changed)
    j2.record("infra0/config", "infra0", "config", changed=True)
    j2.finish(ok=False)
    j3 = Journal.for_plan(plan)
    j3.begin()  # another plan's progress is forgotten, its once steps are not
    assert j3.previous("infra0/config") is None
    assert j3.done_once("infra0/bootstrap") is not None


def test_unreadable_journal_stops_instead_of_forgetting(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    journal_path(plan.source).write_text("{not json")
    with pytest.raises(JournalError, match="unreadable journal"):
        Journal.for_plan(plan)


def test_plan_without_file_has_no_journal() -> None:
    with pytest.raises(JournalError, match="no file"):
        Journal.for_plan(Plan(nodes=(Node("a", "198.18.0.11"),)))
