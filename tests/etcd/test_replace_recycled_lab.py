"""Issue 23 item 4 against the lab: `etcd replace OLD NEW` onto a machine this cluster removed
earlier, with real nodes and real etcd, checked with the venv's own `etcdctl`.

The issue's flow, exactly: etcd on n1–n3; `etcd add n4`; `etcd remove n4`; n2 powered off;
`etcd replace n2 n4 --yes`. n4's data dir still holds the removed member's data: started on
it, etcd logs "the member has been permanently removed from the cluster" and exits 0, which
left a dead learner behind a 300 s promote wait. Now the old data dir is set aside (kept),
n4 joins, is promoted, and three healthy voters hold every key written before.

Then the failure itself, provoked for real: the same recycled-node replace (n5 for n3) run
without its set-aside phase, i.e. as the change ran before this fix. The start step must fail
within seconds quoting etcd's journal line, and running the command again must resume from
the dead learner it left: set the stale data aside, reuse the learner, promote it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from fixtures.etcdctl import etcdctl

from hawizard import pki
from hawizard.cli import main
from hawizard.etcd import render
from hawizard.etcd.membership import MembershipChange, assess, pending_path
from hawizard.etcd.rollout import etcd_phases
from hawizard.journal import Journal
from hawizard.plan import Plan, Role, dump, load
from hawizard.remote import HostPool
from hawizard.steps import EventKind, Runner

pytestmark = pytest.mark.lab

DATA = "/var/lib/etcd"  # the lab plan's etcd.data_dir (asserted in the fixture)


class Cluster:
    def __init__(self, lab, path: Path, spare: dict):
        self.lab, self.path, self.spare = lab, path, spare
        self.keys: dict[str, str] = {}

    @property
    def plan(self) -> Plan:
        return load(self.path)

    def name(self, i: int) -> str:
        return self.lab.nodes[i - 1].name

    def list_in_plan(self, name: str) -> None:
        """Put a spare node into the plan (etcd role only), as an operator would."""
        plan = self.plan
        nodes = (*(n for n in plan.nodes if n.name != name), self.spare[name])
        dump(plan.with_nodes(nodes), self.path)

    def cli(self, capsys, *argv: str) -> tuple[int, dict]:
        capsys.readouterr()
        code = main(["etcd", argv[0], str(self.path), *argv[1:], "--yes", "--json"])
        out = capsys.readouterr().out
        return code, json.loads(out) if out.strip().startswith("{") else {}

    def sh(self, node: str, script: str, check: bool = True):
        return self.lab.exec(node, ["sh", "-c", script], check=check)


def members(plan: Plan) -> list[dict]:
    out = etcdctl(plan, "member", "list", "-w", "json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["members"]


def assert_three_healthy_voters_with_every_key(c: Cluster, names: list[str]) -> None:
    plan = c.plan
    assert [n.name for n in plan.etcd_nodes] == names
    listed = members(plan)
    assert sorted(m.get("name", "") for m in listed) == sorted(names)
    assert not any(m.get("isLearner") for m in listed), listed
    health = etcdctl(plan, "endpoint", "health")
    assert health.returncode == 0, health.stderr
    assert (health.stdout + health.stderr).count("is healthy") == 3
    for key, value in c.keys.items():
        got = etcdctl(plan, "get", key, "--print-value-only")
        assert got.stdout.strip() == value, (key, got.stderr)


def put_key(c: Cluster, key: str, value: str) -> None:
    out = etcdctl(c.plan, "put", key, value)
    assert out.returncode == 0, out.stderr
    c.keys[key] = value


def recycle(c: Cluster, capsys, name: str) -> str:
    """`etcd add NAME` then `etcd remove NAME`: NAME keeps the removed member's data; the
    operator lists it in the plan again. Returns that member's ID (hex)."""
    c.list_in_plan(name)
    code, out = c.cli(capsys, "add", name)
    assert code == 0, out
    was = next(m["ID"] for m in members(c.plan) if m.get("name") == name)
    code, out = c.cli(capsys, "remove", name)
    assert code == 0, out
    assert c.sh(name, f"test -d {DATA}/member/wal", check=False).returncode == 0  # kept
    c.list_in_plan(name)
    return format(was, "x")


def aside_dirs(c: Cluster, name: str) -> list[str]:
    return c.sh(name, f"ls -d {DATA}.replaced-* 2>/dev/null", check=False).stdout.split()


@pytest.fixture(scope="module")
def c(lab, tmp_path_factory):
    folder = tmp_path_factory.mktemp("recycled")
    (folder / "pki").mkdir(mode=0o700)
    full = lab.plan(nodes=5, pki_dir=folder / "pki")
    assert full.etcd.data_dir.rstrip("/") == DATA
    spare = {n.name: replace(n, roles=(Role.ETCD,)) for n in full.nodes[3:]}
    path = folder / "plan.toml"
    dump(lab.plan(nodes=3, pki_dir=folder / "pki"), path)
    names = [n.name for n in full.nodes]
    try:
        plan = load(path)
        pki.create(plan)
        result = Runner(HostPool(plan), journal=Journal.for_plan(plan)).run(etcd_phases(plan))
        assert result.ok, result.failures
        cluster = Cluster(lab, path, spare)
        put_key(cluster, "/recycled/before", "written-on-n1-n3")
        yield cluster
    finally:
        lab.reset(*names)


def test_replace_onto_a_node_this_cluster_removed(c, capsys):
    n1, n2, n3, n4 = c.name(1), c.name(2), c.name(3), c.name(4)
    removed_id = recycle(c, capsys, n4)
    c.lab.fault(n2, "stop")
    try:
        code, out = c.cli(capsys, "replace", n2, n4)
        assert code == 0, out
        assert out["impact"]["data_aside"]
        assert any("a member this cluster removed" in n for n in out["impact"]["notes"])
        assert_three_healthy_voters_with_every_key(c, [n1, n3, n4])
        # the removed member's data, kept aside under the add path's name, WAL and all
        aside = aside_dirs(c, n4)
        assert len(aside) == 1, aside
        assert any(aside[0] in n for n in out["notes"])
        wal = c.sh(n4, f"ls {aside[0]}/member/wal/*.wal | head -n 1").stdout.strip()
        head = c.sh(n4, f"head -c 512 {wal} | base64 -w0").stdout.strip()
        from hawizard.etcd.data_dir import owner_from_script_output

        owner = owner_from_script_output(f"wal={head}")
        assert owner is not None and owner.member_id == removed_id
        assert not pending_path(c.path).exists()
        assert c.plan.node(n2).roles == (Role.CONTROL_PLANE,)  # kept as a master
        put_key(c, "/recycled/after-n4", "written-on-n1-n3-n4")
    finally:
        c.lab.fault(n2, "start")


def test_a_member_that_exits_fails_its_start_and_a_rerun_resumes(c, capsys):
    """The failure as it was: n5 recycled, n3 powered off, `replace n3 n5` run without its
    set-aside phase. n5's etcd exits 0 on the removed member's data: the start step fails
    within seconds quoting that line (no promote wait), leaving a dead learner; the same
    command run again sets the data aside, reuses the learner and promotes it."""
    n1, n3, n4, n5 = c.name(1), c.name(3), c.name(4), c.name(5)
    recycle(c, capsys, n5)
    c.lab.fault(n3, "stop")
    try:
        plan = c.plan
        assessment = assess(plan, "replace", n5, n3)
        assert assessment.allowed and assessment.impact.data_aside, assessment.impact.reason
        change = MembershipChange(plan, assessment)
        assert change.begin() == []
        phases = [p for p in change.phases() if p.title != "etcd old data aside"]
        seen: dict[tuple[str, str], float] = {}

        def clock(event) -> None:
            seen.setdefault((event.step, event.kind), event.at)

        run = Runner(HostPool(plan), journal=Journal.for_plan(plan), listener=clock)
        result = run.run(phases)
        assert not result.ok
        [failure] = result.failures
        assert (failure.node, failure.step) == (n5, "start etcd")
        assert "did not stay running" in failure.error and "exited with status 0" in failure.error
        assert "the member has been permanently removed from the cluster" in failure.error
        took = seen[("start etcd", EventKind.FAILED)] - seen[("start etcd", EventKind.STARTED)]
        assert took < 30, took  # seconds, not the 300 s promote wait
        assert ("promote " + n5 + " once caught up", EventKind.STARTED) not in seen
        url = render.peer_url(plan, plan.node(n5))
        dead = [m for m in members(plan) if url in m["peerURLs"]]
        assert len(dead) == 1 and dead[0].get("isLearner") and not dead[0].get("name")
        assert pending_path(c.path).exists()

        code, out = c.cli(capsys, "replace", n3, n5)
        assert code == 0, out
        assert out["impact"]["resume"] and out["impact"]["data_aside"]
        assert_three_healthy_voters_with_every_key(c, [n1, n4, n5])
        assert [m["ID"] for m in members(c.plan) if url in m["peerURLs"]] == [dead[0]["ID"]]
        assert len(aside_dirs(c, n5)) == 1
        assert not pending_path(c.path).exists()
    finally:
        c.lab.fault(n3, "start")
