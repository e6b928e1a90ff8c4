"""The PKI folder is per plan by default: `<plan-stem>.pki/` beside the plan file.

One folder shared by every plan made with the defaults (the cluster name defaults too) let a
second cluster silently reuse the first one's CAs; a plan that names `pki.dir` keeps it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hawizard import plan as P
from hawizard.cli import main
from hawizard.ops import certs

NODES = ["--node", "a=10.1.2.11", "--node", "b=10.1.2.12", "--node", "c=10.1.2.13:etcd"]
INIT = [*NODES, "--endpoint", "10.1.2.10:8443", "--subnet", "10.1.2.0/24"]


def _fingerprint(plan: P.Plan, name: str) -> str:
    return certs.check(plan).certificate(name).info.fingerprint_sha256


def test_two_plans_made_with_plan_init_get_their_own_pki_and_cas(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a default that fell back to the working folder would show
    first, second = tmp_path / "prod.toml", tmp_path / "staging.toml"
    for out in (first, second):
        assert main(["plan", "init", "-o", str(out), *INIT]) == 0
        text = out.read_text()
        assert "[pki]" in text and "\ndir =" not in text
    a, b = P.load(first), P.load(second)
    assert a.cluster.name == b.cluster.name  # the defaults, as in the issue
    assert a.pki_dir == tmp_path / "prod.pki" and b.pki_dir == tmp_path / "staging.pki"

    assert main(["certs", "create", str(first)]) == 0
    assert main(["certs", "create", str(second)]) == 0
    for ca in ("etcd/ca", "kubernetes/ca"):
        assert _fingerprint(a, ca) != _fingerprint(b, ca)
    assert not (tmp_path / "plan.pki").exists()


def test_an_unsaved_plan_is_treated_as_plan_toml_in_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert P.Plan(nodes=()).pki_dir == tmp_path / "plan.pki"


def test_a_plan_that_names_its_pki_dir_keeps_it(tmp_path):
    text = P.dumps(P.Plan(nodes=(P.Node("a", "10.1.2.11"),)))
    assert "\ndir =" not in text
    old = text.replace("[pki]\n", '[pki]\ndir = "~/.local/share/hawizard/pki"\n')
    path = tmp_path / "old.toml"
    path.write_text(old)
    plan = P.load(path)
    assert plan.pki_dir == Path("~/.local/share/hawizard/pki").expanduser()
    assert 'dir = "~/.local/share/hawizard/pki"' in P.dumps(plan)  # written back unchanged
    relative = replace(plan, pki=replace(plan.pki, dir="keys"))
    assert relative.pki_dir == tmp_path / "keys"


def test_default_round_trips_and_blank_is_refused_naming_the_field(tmp_path):
    plan = P.Plan(nodes=(P.Node("a", "10.1.2.11"),))
    assert P.loads(P.dumps(plan)) == plan
    blank = replace(plan, pki=replace(plan.pki, dir="  "))
    problems = [p for p in P.validate(blank) if p.field == "pki.dir"]
    assert problems and "leave pki.dir out" in problems[0].message
    long_name = replace(plan, source=tmp_path / f"{'x' * 252}.toml")  # x….pki: 256 bytes
    assert "pki.dir" in {p.field for p in P.validate(long_name)}


def test_a_pki_folder_hawizard_makes_keeps_out_of_git(tmp_path):
    plan = replace(P.Plan(nodes=(P.Node("a", "10.1.2.11"),)), source=tmp_path / "p.toml")
    certs.create_missing(plan)
    ignore = plan.pki_dir / ".gitignore"
    assert ignore.read_text().splitlines()[-1] == "*"
    assert (plan.pki_dir / "etcd" / "ca-key.pem").is_file()
