"""`ops.rotate` decisions that need no cluster: refusals made before any probe (unknown CA,
the Kubernetes CA, an unfinished rotation of another kind), which leaves are due, and the
record of the rotation in flight. (The rotation itself: tests/ops/test_rotate_lab.py.)"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import pytest
from test_pki import make_plan

from hawizard import pki
from hawizard.ops import Refused
from hawizard.ops.rotate import RotationState, _leaves_to_rotate, assess, read_state, state_path
from hawizard.plan import dump, load


@pytest.fixture
def plan(tmp_path):
    path = tmp_path / "plan.toml"
    dump(make_plan(tmp_path), path)
    plan = load(path)
    pki.create(plan)
    return plan


@pytest.mark.parametrize(
    ("ca", "reason", "hint"),
    [
        ("root", "unknown CA 'root'", "--ca etcd or --ca kubernetes"),
        ("kubernetes", "not supported yet", "--ca etcd"),
    ],
)
def test_refused_before_any_probe(plan, ca, reason, hint):
    with pytest.raises(Refused) as exc:
        assess(plan, ca=ca)
    assert reason in exc.value.reason and hint in exc.value.hint
    assert not state_path(plan.source).exists()


def test_an_unfinished_rotation_of_another_kind_is_refused(plan):
    record = RotationState("abc", "leaf", None, "2026-01-01T00:00:00+00:00", ["etcd/etcd-admin"])
    state_path(plan.source).write_text(json.dumps(record.__dict__))
    assert read_state(plan) == record
    with pytest.raises(Refused) as exc:
        assess(plan, ca="etcd")
    assert "leaf rotation started 2026-01-01" in exc.value.reason
    assert exc.value.hint == f"run `hawizard certs rotate {plan.source} --all` to finish it first"


def test_an_unreadable_record_is_refused_with_what_to_check(plan):
    state_path(plan.source).write_text("{not json")
    with pytest.raises(Refused) as exc:
        assess(plan)
    assert "unreadable record" in exc.value.reason


def test_due_leaves_are_the_expiring_etcd_ones_minus_skipped_members(tmp_path):
    path = tmp_path / "plan.toml"
    base = make_plan(tmp_path)
    dump(replace(base, pki=replace(base.pki, cert_days=30)), path)
    plan = load(path)
    pki.create(plan, now=dt.datetime.now(dt.UTC) - dt.timedelta(days=25))
    due = _leaves_to_rotate(plan, [], False, None)
    assert "etcd/server-infra0" in due and "etcd/apiserver-etcd-client" in due
    assert not any(name.startswith("kubernetes/") for name in due)  # not rotated live
    skipped = _leaves_to_rotate(plan, ["infra1"], False, None)
    assert "etcd/server-infra1" not in skipped and "etcd/peer-infra1" not in skipped
    assert len(skipped) == len(due) - 2


def test_nothing_is_due_on_a_fresh_pki_unless_all(plan):
    assert _leaves_to_rotate(plan, [], False, None) == []
    every = _leaves_to_rotate(plan, [], True, None)
    assert every == [s.name for s in pki.leaf_specs(plan) if s.ca is pki.CA.ETCD]
