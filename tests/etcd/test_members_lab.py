"""Day-2 membership changes against the lab: real nodes, real etcd, checked independently.

One 3-member cluster (n1–n3, bootstrapped by the rollout) lives through the whole module, in
order: refusals while a member is down, grow 3 → 4 → 5 (the second add interrupted after
`member add` and resumed), shrink 5 → 3, a removed node re-added (old data set aside) and
another cluster's data refused, and the replacement
of a powered-off member by a fresh node. After each change the venv's own `etcdctl` (not
hawizard's probes) checks that the member list matches the plan, every endpoint is healthy
and every key written before is still there. The module resets every node it touched.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from fixtures.etcdctl import etcdctl
from fixtures.membership import Cluster, bootstrap, member_list, put_key

from hawizard.cli import main
from hawizard.etcd import render
from hawizard.etcd.membership import MembershipChange, assess, pending_path, plan_with_etcd_members
from hawizard.etcd.probe import wait_healthy
from hawizard.etcd.rollout import etcd_phases
from hawizard.journal import Journal
from hawizard.plan import Plan, Role, dump, load
from hawizard.remote import HostPool
from hawizard.steps import EventKind, Phase, Runner, Step

pytestmark = pytest.mark.lab


def member_ids(plan: Plan, endpoints=None) -> list[int]:
    return sorted(m["ID"] for m in member_list(plan, endpoints))


def assert_agrees_with_plan(c: Cluster) -> None:
    plan = c.plan
    members = member_list(plan)
    assert sorted(m.get("name", "") for m in members) == sorted(n.name for n in plan.etcd_nodes)
    assert not any(m.get("isLearner") for m in members)
    urls = sorted(u for m in members for u in m["peerURLs"])
    assert urls == sorted(render.peer_url(plan, n) for n in plan.etcd_nodes)
    health = etcdctl(plan, "endpoint", "health")
    assert health.returncode == 0, health.stderr
    assert (health.stdout + health.stderr).count("is healthy") == len(plan.etcd_nodes)
    for key, value in c.keys.items():
        got = etcdctl(plan, "get", key, "--print-value-only")
        assert got.stdout.strip() == value, (key, got.stderr)


def main_pid(lab, node: str) -> str:
    return lab.exec(node, ["systemctl", "show", "-p", "MainPID", "--value", "etcd"]).stdout.strip()


@pytest.fixture(scope="module")
def c(lab, tmp_path_factory):
    folder = tmp_path_factory.mktemp("members")
    with bootstrap(lab, folder, "/day2/before", "written-on-3-members") as cluster:
        yield cluster


# --- refusals: nothing changes --------------------------------------------------------------


def test_add_and_remove_are_refused_while_a_member_is_down(c, capsys):
    n1, n3, n4 = c.name(1), c.name(3), c.name(4)
    up = c.plan.etcd_nodes[:2]
    c.plan_with(n4)
    c.lab.exec(n3, ["systemctl", "stop", "etcd"])
    try:
        before = member_ids(c.plan, up)
        code, out = c.cli(capsys, "add", n4)
        assert code == 2 and out["refused"]
        assert f"{n3} is down" in out["impact"]["reason"]
        assert out["impact"]["suggestion"] == f"hawizard etcd replace {c.path} {n3} {n4}"
        code, out = c.cli(capsys, "remove", n1)
        assert code == 2 and "would leave 1 healthy of 2" in out["impact"]["reason"]
        assert member_ids(c.plan, up) == before
        assert not pending_path(c.path).exists()
        assert c.lab.exec(n4, ["test", "-e", "/etc/etcd"], check=False).returncode != 0
    finally:
        c.lab.exec(n3, ["systemctl", "start", "etcd"])
        wait_healthy(
            plan_with_etcd_members(c.plan, [n.name for n in c.plan.etcd_nodes[:3]]), timeout=60
        )


def test_dry_run_changes_nothing(c, capsys):
    n4 = c.name(4)
    before = member_ids(c.plan, c.plan.etcd_nodes[:3])
    capsys.readouterr()
    code = main(["etcd", "add", str(c.path), n4, "--dry-run", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["dry_run"], out
    recorded = out["result"]["recorded"]
    assert any("systemctl start --no-block etcd" in r for r in recorded[n4])
    assert any("member add" in r for r in recorded["(local)"])
    assert member_ids(c.plan, c.plan.etcd_nodes[:3]) == before
    assert not pending_path(c.path).exists()


# --- grow 3 -> 4 -> 5 ---------------------------------------------------------------------------


def test_grow_three_to_four(c, capsys):
    n1, n4 = c.name(1), c.name(4)
    pid = main_pid(c.lab, n1)
    code, out = c.cli(capsys, "add", n4)
    assert code == 0, out
    snap = Path(out["snapshot"]["path"])
    assert snap.stat().st_mode & 0o777 == 0o600 and snap.parent.stat().st_mode & 0o777 == 0o700
    assert out["impact"]["before"]["members"] == 3 and out["impact"]["after"]["members"] == 4
    assert_agrees_with_plan(c)
    # the others learnt the membership in their config, without a restart
    config = c.lab.exec(n1, ["cat", render.CONFIG_PATH]).stdout
    assert f"{n4}={render.peer_url(c.plan, c.plan.node(n4))}" in config
    assert main_pid(c.lab, n1) == pid
    assert not pending_path(c.path).exists()
    # the nodes now match the plan: `apply` finds nothing to do
    plan = c.plan
    again = Runner(HostPool(plan), journal=Journal.for_plan(plan)).run(etcd_phases(plan))
    assert again.ok and again.count("changed") == 0, again.nodes
    put_key(c, "/day2/on-four", "written-on-4-members")


def test_interrupted_add_resumes_without_a_second_member_add(c, capsys):
    """Four to five, stopped right after `member add` by an exception standing in for Ctrl-C,
    then resumed by running the same command again."""
    n5 = c.name(5)
    plan = c.plan_with(n5)
    assessment = assess(plan, "add", n5)
    assert assessment.allowed, assessment.impact.reason
    change = MembershipChange(plan, assessment)
    first_id = change.change_id
    assert change.begin() == []
    phases = change.phases()
    at = [p.title for p in phases].index("etcd member add") + 1

    def ctrl_c(_local) -> None:
        raise KeyboardInterrupt

    phases.insert(at, Phase("interrupt", [Step(None, "Ctrl-C", None, ctrl_c)]))
    stopped = Runner(HostPool(plan), journal=Journal.for_plan(plan)).run(phases)
    assert stopped.interrupted and not stopped.ok  # Ctrl-C stops the run, resumable
    url = render.peer_url(plan, plan.node(n5))
    listed = [m for m in member_list(plan, plan.etcd_nodes[:4]) if url in m["peerURLs"]]
    assert len(listed) == 1 and listed[0].get("isLearner")
    assert pending_path(c.path).exists()

    # a different change is refused while this one is unfinished
    code, out = c.cli(capsys, "remove", c.name(2))
    assert code == 2 and "has not finished" in out["impact"]["reason"]

    events: list = []
    resumed = assess(c.plan, "add", n5)
    assert resumed.allowed and resumed.impact.resume, resumed.impact.reason
    change = MembershipChange(c.plan, resumed)
    assert change.change_id == first_id  # same change, same journal key for `member add`
    change.begin()
    result = Runner(HostPool(c.plan), journal=Journal.for_plan(c.plan), listener=events.append).run(
        change.phases()
    )
    assert result.ok, result.failures
    change.finish(True)
    adds = [e for e in events if e.step == f"member add {n5} (learner)" and e.kind != "started"]
    assert [e.kind for e in adds] == [EventKind.UNCHANGED]
    assert "journal" in adds[0].text
    assert_agrees_with_plan(c)
    assert not pending_path(c.path).exists()
    put_key(c, "/day2/on-five", "written-on-5-members")


# --- shrink 5 -> 3 ------------------------------------------------------------------------------


def test_shrink_five_to_three(c, capsys):
    for name in (c.name(5), c.name(4)):
        code, out = c.cli(capsys, "remove", name)
        assert code == 0, out
        assert name not in {n.name for n in c.plan.nodes}  # etcd was its only role
        assert_agrees_with_plan(c)
        state = c.lab.exec(name, ["systemctl", "is-active", "etcd"], check=False).stdout.strip()
        enabled = c.lab.exec(name, ["systemctl", "is-enabled", "etcd"], check=False).stdout
        assert state != "active" and enabled.strip() == "disabled"
        data = c.plan.etcd.data_dir + "/member"
        assert c.lab.exec(name, ["test", "-d", data], check=False).returncode == 0  # kept
        assert any("kept, never deleted" in n for n in out["notes"])
    assert c.path.with_name("plan.toml.bak").exists()
    assert len(c.plan.etcd_nodes) == 3


def test_readding_a_removed_master_gives_it_the_role_and_sets_old_data_aside(c, capsys):
    """n4 left in the shrink, its data dir kept. Listed again as a master only, `add --yes`
    gives it the etcd role (the plan diff confirmed, `.bak` kept) and, since its WAL names a
    member this cluster removed, renames the old data dir aside and joins. It is removed
    again afterwards (as a plain etcd node of the plan) for the tests after this one."""
    n4 = c.name(4)
    plan = c.plan
    master = replace(c.spare[n4], roles=(Role.CONTROL_PLANE,))
    dump(plan.with_nodes((*plan.nodes, master)), c.path)
    data = c.plan.etcd.data_dir
    code, out = c.cli(capsys, "add", n4)
    assert code == 0, out
    assert out["impact"]["data_aside"]
    assert any("a member this cluster removed" in n for n in out["impact"]["notes"])
    assert c.plan.node(n4).roles == (Role.ETCD, Role.CONTROL_PLANE)
    backup = load(c.path.with_name("plan.toml.bak"))
    assert backup.node(n4).roles == (Role.CONTROL_PLANE,)
    assert_agrees_with_plan(c)
    aside = c.lab.exec(n4, ["sh", "-c", f"ls -d {data}.replaced-*"]).stdout.split()
    assert len(aside) == 1  # the old data kept, renamed
    assert c.lab.exec(n4, ["test", "-d", f"{aside[0]}/member/wal"], check=False).returncode == 0

    code, out = c.cli(capsys, "remove", n4)
    assert code == 0, out
    plan = c.plan
    dump(plan.with_nodes(tuple(c.spare[n4] if n.name == n4 else n for n in plan.nodes)), c.path)


def test_a_node_holding_another_clusters_data_is_still_refused(c, capsys, tmp_path):
    """Real data of another cluster (a one-member etcd run on this host) on n5: `add` reads
    its WAL, names the other cluster and changes nothing."""
    import base64
    import subprocess

    from fixtures.local_etcd import LocalEtcd

    n5 = c.name(5)
    with LocalEtcd(tmp_path / "other", members=1) as other:
        other.etcdctl("put", "/other", "cluster")
    tar = subprocess.run(
        ["tar", "-C", str(tmp_path / "other" / "data" / "m1"), "-c", "member"],
        capture_output=True,
        check=True,
    ).stdout
    data = c.plan.etcd.data_dir
    c.lab.exec(
        n5,
        ["sh", "-c", f"mkdir -p {data} && base64 -d | tar -x -C {data}"],
        input=base64.b64encode(tar).decode(),
    )
    c.plan_with(n5)
    before = member_ids(c.plan, c.plan.etcd_nodes[:3])
    code, out = c.cli(capsys, "add", n5)
    assert code == 2 and "another cluster" in out["impact"]["reason"]
    assert member_ids(c.plan, c.plan.etcd_nodes[:3]) == before
    assert c.lab.exec(n5, ["test", "-d", f"{data}/member/wal"], check=False).returncode == 0
    plan = c.plan
    dump(plan.with_nodes(tuple(n for n in plan.nodes if n.name != n5)), c.path)


# --- replace a powered-off member ------------------------------------------------------------


def test_replace_a_stopped_member_with_a_fresh_node(c, capsys):
    n3, n4 = c.name(3), c.name(4)
    c.lab.reset(n4)  # a fresh machine in place of the one with old data
    c.lab.fault(n3, "stop")
    try:
        code, out = c.cli(capsys, "replace", n3, n4)
        assert code == 0, out
        assert out["impact"]["before"]["tolerance"] == 0
        assert out["impact"]["after"]["tolerance"] == 1
        assert any(n3 in w and "unreachable" in w for w in out["warnings"])
        plan = c.plan
        assert [n.name for n in plan.etcd_nodes] == [c.name(1), c.name(2), n4]
        assert plan.node(n3).roles == (Role.CONTROL_PLANE,)  # kept as a master
        assert_agrees_with_plan(c)
    finally:
        c.lab.fault(n3, "start")


# --- a member whose data dir was lost --------------------------------------------------------


def test_lost_data_dir_is_readded_as_a_new_member(c, capsys):
    """The disk of n2 is wiped under a running cluster; systemd keeps restarting etcd, which
    recreates an empty data dir each time and panics. `add` refuses (already a member) and
    names `replace n2 n2`, which removes it, sets the data dir aside and re-adds it."""
    n2 = c.name(2)
    data = c.plan.etcd.data_dir
    c.lab.exec(n2, ["sh", "-c", f"systemctl stop etcd && rm -rf {data}/member"])
    c.lab.exec(n2, ["systemctl", "start", "--no-block", "etcd"])
    code, out = c.cli(capsys, "add", n2)
    assert code == 2 and "already a voting member" in out["impact"]["reason"]
    assert f"hawizard etcd replace {c.path} {n2} {n2}" in out["impact"]["suggestion"]
    old_id = next(
        m["ID"] for m in member_list(c.plan, [c.plan.node(c.name(1))]) if m.get("name") == n2
    )

    code, out = c.cli(capsys, "replace", n2, n2)
    assert code == 0, out
    assert_agrees_with_plan(c)
    new_id = next(m["ID"] for m in member_list(c.plan) if m.get("name") == n2)
    assert new_id != old_id  # a new member, not the old one restarted
    aside = c.lab.exec(n2, ["sh", "-c", f"ls -d {data}.replaced-*"]).stdout.split()
    assert len(aside) == 1 and any("kept as" in n for n in out["notes"])
    assert n2 in {n.name for n in c.plan.etcd_nodes}  # the plan is unchanged
