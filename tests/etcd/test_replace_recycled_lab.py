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

import pytest
from fixtures.etcdctl import etcdctl
from fixtures.membership import Cluster, bootstrap, member_list, put_key

from hawizard.etcd import render
from hawizard.etcd.membership import MembershipChange, assess, pending_path
from hawizard.journal import Journal
from hawizard.plan import Role
from hawizard.remote import HostPool
from hawizard.steps import EventKind, Runner

pytestmark = pytest.mark.lab

DATA = "/var/lib/etcd"  # the lab plan's etcd.data_dir (asserted in the fixture)


def assert_three_healthy_voters_with_every_key(c: Cluster, names: list[str]) -> None:
    plan = c.plan
    assert [n.name for n in plan.etcd_nodes] == names
    listed = member_list(plan)
    assert sorted(m.get("name", "") for m in listed) == sorted(names)
    assert not any(m.get("isLearner") for m in listed), listed
    health = etcdctl(plan, "endpoint", "health")
    assert health.returncode == 0, health.stderr
    assert (health.stdout + health.stderr).count("is healthy") == 3
    for key, value in c.keys.items():
        got = etcdctl(plan, "get", key, "--print-value-only")
        assert got.stdout.strip() == value, (key, got.stderr)


def recycle(c: Cluster, capsys, name: str) -> str:
    """`etcd add NAME` then `etcd remove NAME`: NAME keeps the removed member's data; the
    operator lists it in the plan again. Returns that member's ID (hex)."""
    c.list_in_plan(name)
    code, out = c.cli(capsys, "add", name)
    assert code == 0, out
    was = next(m["ID"] for m in member_list(c.plan) if m.get("name") == name)
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
    with bootstrap(lab, folder, "/recycled/before", "written-on-n1-n3") as cluster:
        assert cluster.plan.etcd.data_dir.rstrip("/") == DATA
        yield cluster


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
        dead = [m for m in member_list(plan) if url in m["peerURLs"]]
        assert len(dead) == 1 and dead[0].get("isLearner") and not dead[0].get("name")
        assert pending_path(c.path).exists()

        code, out = c.cli(capsys, "replace", n3, n5)
        assert code == 0, out
        assert out["impact"]["resume"] and out["impact"]["data_aside"]
        assert_three_healthy_voters_with_every_key(c, [n1, n4, n5])
        assert [m["ID"] for m in member_list(c.plan) if url in m["peerURLs"]] == [dead[0]["ID"]]
        assert len(aside_dirs(c, n5)) == 1
        assert not pending_path(c.path).exists()
    finally:
        c.lab.fault(n3, "start")
