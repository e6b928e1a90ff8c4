"""`lab up` on a running lab keeps a plan the operator changed (found walking the demo twice).

`scripts/demo.sh` runs `lab up` every time; it used to rewrite the lab's `plan.toml`, silently
undoing a wizard save, `[monitoring] enabled = true` added on `monitoring export`'s advice, or
the membership `etcd remove` wrote. No node is needed: the writer is given the plan `lab up`
would write.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hawizard.lab.plan_writer import FRESH_NAME, STAMP_SUFFIX, write_lab_plan
from hawizard.plan import SSH, Cluster, Node, Plan, dumps, load


def lab_made(n: int = 3) -> Plan:
    nodes = tuple(
        Node(name=f"lab-n{i}", address=f"198.18.7.{10 + i}", ssh=SSH(user="root", key="k"))
        for i in range(1, n + 1)
    )
    return Plan(
        nodes=nodes, cluster=Cluster(name="lab", control_plane_endpoint="198.18.7.254:8443")
    )


def test_a_new_lab_writes_its_plan(tmp_path: Path):
    path = tmp_path / "plan.toml"
    assert write_lab_plan(lab_made(), path) is None
    assert path.read_text() == dumps(lab_made())
    assert (tmp_path / f"plan.toml{STAMP_SUFFIX}").stat().st_mode & 0o777 == 0o600


def test_a_plan_nobody_touched_follows_the_lab(tmp_path: Path):
    path = tmp_path / "plan.toml"
    write_lab_plan(lab_made(3), path)
    assert write_lab_plan(lab_made(4), path) is None  # the lab grew: its plan follows
    assert [n.name for n in load(path).nodes] == ["lab-n1", "lab-n2", "lab-n3", "lab-n4"]
    assert not (tmp_path / FRESH_NAME).exists()


def test_a_plan_the_operator_changed_is_kept_byte_for_byte(tmp_path: Path):
    path = tmp_path / "plan.toml"
    write_lab_plan(lab_made(), path)
    edited = path.read_text() + "\n[monitoring]\nenabled = true\n"
    path.write_text(edited)
    fresh = write_lab_plan(lab_made(), path)
    assert fresh == tmp_path / FRESH_NAME
    assert path.read_text() == edited
    assert fresh.read_text() == dumps(lab_made())
    # and stays kept on every later `lab up`
    assert write_lab_plan(lab_made(), path) == fresh
    assert path.read_text() == edited


def test_a_plan_saved_by_hawizard_itself_is_kept(tmp_path: Path):
    """The wizard's ctrl+s and `etcd remove` write the plan through `dump`: still the operator's."""
    path = tmp_path / "plan.toml"
    write_lab_plan(lab_made(), path)
    plan = lab_made()
    smaller = replace(plan, cluster=replace(plan.cluster, name="renamed"))
    path.write_text(dumps(smaller))
    write_lab_plan(lab_made(), path)
    assert load(path).cluster.name == "renamed"


def test_a_plan_from_before_the_stamp_is_kept_unless_it_is_the_labs(tmp_path: Path):
    path = tmp_path / "plan.toml"
    path.write_text(dumps(lab_made()))  # written by an older `lab up`: no stamp beside it
    assert write_lab_plan(lab_made(4), path) is not None  # cannot tell: the operator's wins
    assert len(load(path).nodes) == 3
    path.unlink()
    (tmp_path / FRESH_NAME).unlink()
    path.write_text(dumps(lab_made()))
    assert write_lab_plan(lab_made(), path) is None  # identical: nothing to lose
    assert (tmp_path / f"plan.toml{STAMP_SUFFIX}").is_file()
