"""Recovery from the best survivor against the lab: real nodes, real etcd, judged by etcdctl.

One module, in order, on n1-n3: keys, a snapshot, then more acknowledged writes; a recover
while the cluster is healthy is refused and changes nothing (member list, keys, data dirs);
quorum lost for real (n2 and n3 stopped, their data dirs moved away) → `status` exit 2; n3
given another cluster's data: `--from n3` is refused; `etcd recover --yes` → three healthy
voters, every acknowledged write back (those after the snapshot included, which a restore
from it would have lost), n1's data before the recovery kept, the foreign data kept, new
writes accepted. Times are printed (`pytest -s`).
"""

from __future__ import annotations

import json
import shlex

import pytest
from fixtures.etcdctl import etcdctl
from test_restore_lab import (
    DATA,
    assert_healthy,
    bootstrap,
    cli,
    cluster_id,
    dirs,
    lose,
    read_keys,
    write_keys,
)

from hawizard.cli import main
from hawizard.plan import load
from hawizard.remote import Host

pytestmark = pytest.mark.lab


def members(plan) -> list[tuple[str, str, bool]]:
    out = etcdctl(plan, "member", "list", "-w", "json")
    assert out.returncode == 0, out.stderr
    raw = json.loads(out.stdout)["members"]
    return sorted((m["name"], hex(m["ID"]), bool(m.get("isLearner"))) for m in raw)


@pytest.fixture(scope="module")
def three(lab, tmp_path_factory):
    folder = tmp_path_factory.mktemp("recover3")
    names = [n.name for n in lab.nodes[:3]]
    try:
        path = bootstrap(lab, folder, 3)
        plan = load(path)
        before = write_keys(plan, 300, "/restore/before/")
        snap = folder / "snapshots" / "before.db"
        assert main(["etcd", "snapshot", str(path), "--out", str(snap), "--json"]) == 0
        assert main(["etcd", "backup", "run", str(path)]) == 0  # the newest verified backup
        after = write_keys(plan, 200, "/restore/after/")  # acknowledged, newer than the snapshot
        yield path, snap, {**before, **after}
    finally:
        lab.reset(*names)


def test_refused_while_quorum_holds_changes_nothing(lab, three, capsys):
    path, _snap, keys = three
    plan = load(path)
    before = (members(plan), cluster_id(plan), {n.name: dirs(lab, n.name) for n in plan.etcd_nodes})
    code, out = cli("etcd", "recover", str(path), "--yes", "--json", capsys=capsys)
    assert code == 2 and out["refused"], out
    assert "has quorum" in out["reason"] and "replace" in out["hint"]
    after = (members(plan), cluster_id(plan), {n.name: dirs(lab, n.name) for n in plan.etcd_nodes})
    assert after == before
    assert read_keys(plan) == keys
    assert not path.with_name("plan.recover.json").exists()


def lose_again(lab, plan, names: list[str], tag: str) -> None:
    """`lose` on nodes that lost a data dir before (a second name for the moved dir)."""
    for name in names:
        lab.exec(name, ["systemctl", "stop", "etcd"], timeout=60)
        lab.exec(name, ["mv", "-T", DATA, f"{DATA}.lost-by-test-{tag}"])


def foreign_data(plan, name: str, snap) -> None:
    """Another cluster's data dir on `name`: the snapshot restored with another token."""
    node = plan.node(name)
    peer = f"https://{node.url_host}:{plan.etcd.peer_port}"
    with Host.from_plan(plan, node) as h:
        h.put(snap.read_bytes(), "/root/foreign.db", mode=0o600)
        h.run(
            " && ".join(
                [
                    shlex.join(
                        [
                            "/usr/local/bin/etcdutl"
                            if h.exists("/usr/local/bin/etcdutl")
                            else "/usr/bin/etcdutl",
                            "snapshot",
                            "restore",
                            "/root/foreign.db",
                            f"--data-dir={DATA}",
                            f"--name={name}",
                            f"--initial-cluster={name}={peer}",
                            f"--initial-advertise-peer-urls={peer}",
                            "--initial-cluster-token=another-cluster",
                        ]
                    ),
                    shlex.join(["chown", "-R", "etcd:etcd", DATA]),
                    "rm -f /root/foreign.db",
                ]
            )
        )


def test_quorum_lost_recovered_from_the_survivor(lab, three, capsys):
    path, snap, keys = three
    plan = load(path)
    n1, n2, n3 = (n.name for n in plan.etcd_nodes)
    old_id = cluster_id(plan)
    lose(lab, plan, [n2, n3])
    assert main(["status", str(path), "--timeout", "2"]) == 2

    # n3 holds another cluster's data: never the survivor, even when named
    foreign_data(plan, n3, snap)
    code, out = cli("etcd", "recover", str(path), "--from", n3, "--yes", "--json", capsys=capsys)
    assert code == 2 and "not of this plan's cluster" in out["reason"], out
    assert dirs(lab, n1) == [DATA]

    # a dry run surveys and names the survivor, changing nothing
    code, out = cli("etcd", "recover", str(path), "--dry-run", "--json", capsys=capsys)
    assert code == 0 and out["survivor"] == n1, out
    # the survey read n1's data without starting it: its cluster, a commit, a revision newer
    # than the backup's; the lost members have none
    facts = {n["name"]: n for n in out["nodes"]}
    assert facts[n1]["usable"] and facts[n1]["wal"]["cluster_id"] == f"{old_id:x}"
    assert facts[n1]["wal"]["commit"] > 0
    assert not facts[n2]["usable"] and not facts[n2]["has_data"]
    backup_rev = out["newest_verified_backup"]["revision"]
    newer = facts[n1]["revision"] - backup_rev
    assert newer > 0, out  # the writes after the backup
    assert out["losses"][0].startswith(f"recover from {n1}: nothing after its last commit")
    assert f"{newer} revisions older" in out["losses"][1], out["losses"]
    assert dirs(lab, n1) == [DATA]

    code, out = cli("etcd", "recover", str(path), "--yes", "--json", capsys=capsys)
    assert code == 0, out
    with capsys.disabled():
        print(
            f"\n3-member recover: first write accepted {out['to_first_write_s']} s, 3/3 healthy "
            f"{out['to_healthy_s']} s, whole run {out['seconds']} s"
        )
    assert out["to_first_write_s"] is not None and out["to_healthy_s"] is not None
    assert out["apiservers_restarted"] == []  # the lab stages masters without binaries
    assert_healthy(plan)
    listed = members(plan)
    assert [m[0] for m in listed] == sorted([n1, n2, n3]) and not any(m[2] for m in listed)
    assert cluster_id(plan) == old_id  # the survivor keeps its cluster
    assert read_keys(plan) == keys  # every acknowledged write, after the snapshot included
    kept = [d for d in dirs(lab, n1) if ".before-recover-" in d]
    assert len(kept) == 1, dirs(lab, n1)
    assert any(".replaced-" in d for d in dirs(lab, n3))  # the foreign data kept
    assert not path.with_name("plan.recover.json").exists()
    new = write_keys(plan, 10, "/restore/new/")
    assert read_keys(plan, "/restore/new/") == new
    # the flag was never left behind
    for n in (n1, n2, n3):
        unit = lab.exec(n, ["systemctl", "cat", "etcd"]).stdout
        assert "force-new-cluster" not in unit
        conf = lab.exec(n, ["cat", "/etc/etcd/etcd.conf.yml"]).stdout
        assert "force-new-cluster" not in conf


def test_lost_machines_replaced_by_new_ones_in_the_plan(lab, three, capsys):
    """Onto new machines: n3 is gone for good, the operator edits the plan (n3's name and
    address become n4's, a machine with no etcd at all): recover installs etcd there, issues
    its certificates and never contacts n3."""
    path, _snap, _keys = three
    plan = load(path)
    n1, n2, n3 = (n.name for n in plan.etcd_nodes)
    keys = read_keys(plan)
    lose_again(lab, plan, [n2, n3], "machines")
    lab.fault(n3, "partition")  # the old machine: any contact would time out and fail
    try:
        new = lab.nodes[3]
        old = next(n for n in lab.nodes if n.name == n3)
        path.write_text(path.read_text().replace(n3, new.name).replace(old.address, new.address))
        plan = load(path)
        assert new.name in [n.name for n in plan.etcd_nodes]
        code, out = cli("etcd", "recover", str(path), "--yes", "--json", capsys=capsys)
        assert code == 0, out
    finally:
        lab.fault(n3, "heal")
    assert_healthy(plan)
    assert sorted(m[0] for m in members(plan)) == sorted([n1, n2, new.name])
    assert read_keys(plan) == keys
    assert (path.parent / "pki").exists()


def test_restore_onto_a_new_machine_edited_into_the_plan(lab, three, capsys):
    """The restore's side of the runbook: the cluster of the test before (n1, n2, n4) loses
    n2 and n4; n4's machine is gone (partitioned), the plan names n5 (no etcd at all) in its
    place: the restore installs etcd and n5's certificates there and never contacts n4."""
    path, snap, keys = three
    plan = load(path)
    n1, n2, gone = (n.name for n in plan.etcd_nodes)
    lose_again(lab, plan, [n2, gone], "restore")
    lab.fault(gone, "partition")
    try:
        new = lab.nodes[4]
        old = next(n for n in lab.nodes if n.name == gone)
        path.write_text(path.read_text().replace(gone, new.name).replace(old.address, new.address))
        plan = load(path)
        code, out = cli("etcd", "restore", str(path), str(snap), "--yes", "--json", capsys=capsys)
        assert code == 0, out
        assert any(new.name in w and "no etcd yet" in w for w in out["warnings"]), out
    finally:
        lab.fault(gone, "heal")
    assert_healthy(plan)
    assert sorted(m[0] for m in members(plan)) == sorted([n1, n2, new.name])
    before = {k: v for k, v in keys.items() if k.startswith("/restore/before/")}
    assert read_keys(plan, "/restore/before/") == before  # the snapshot's keys
    assert read_keys(plan, "/restore/after/") == {}  # what a restore loses, recover keeps


def test_five_members_three_lost_interrupted_after_force_new_cluster_resumes(lab, tmp_path, capsys):
    from hawizard.journal import Journal
    from hawizard.ops.operation import drive
    from hawizard.ops.recover import DROP_IN, RecoverOperation, read_record
    from hawizard.remote import HostPool
    from hawizard.steps import Phase, Runner, Step

    names = [n.name for n in lab.nodes[:5]]
    lab.reset(*names)
    folder = tmp_path
    try:
        path = bootstrap(lab, folder, 5)
        plan = load(path)
        keys = write_keys(plan, 200, "/restore/five/")
        lose(lab, plan, names[2:])
        assert main(["status", str(path), "--timeout", "2"]) == 2

        def ctrl_c(_local) -> None:
            raise KeyboardInterrupt

        def run(p, phases):
            at = [x.title for x in phases].index("recover: force-new-cluster") + 1
            cut = [*phases[:at], Phase("interrupt", [Step(None, "Ctrl-C", None, ctrl_c)])]
            return Runner(HostPool(p), journal=Journal.for_plan(p)).run(cut)

        op = RecoverOperation(f"hawizard etcd recover {path}")
        stopped = drive(op, plan, run)
        assert stopped.result.interrupted and not stopped.ok
        record = read_record(plan)
        assert record is not None and record.survivor in names[:2]
        survivor = record.survivor
        assert lab.exec(survivor, ["test", "-e", DROP_IN], check=False).returncode == 0

        # one operation at a time: a restore is refused while the recovery is unfinished
        code, out = cli("etcd", "restore", str(path), str(path), "--yes", "--json", capsys=capsys)
        assert code == 2 and "recovery" in out["reason"] and "recover" in out["hint"], out

        code, out = cli("etcd", "recover", str(path), "--yes", "--json", capsys=capsys)
        assert code == 0, out
        assert out["resume"] and out["survivor"] == survivor and out["recover_id"] == record.id
        with capsys.disabled():
            print(f"\n5-member recover (3 lost, resumed): 5/5 healthy in {out['seconds']} s")
        assert_healthy(plan)
        assert not any(m[2] for m in members(plan))
        assert read_keys(plan, "/restore/five/") == keys
        other = next(n for n in names[:2] if n != survivor)
        assert any(".replaced-" in d for d in dirs(lab, other))  # its old data kept
        assert any(".before-recover-" in d for d in dirs(lab, survivor))
        assert lab.exec(survivor, ["test", "-e", DROP_IN], check=False).returncode != 0
    finally:
        lab.reset(*names)


def test_the_member_with_the_newest_commit_is_chosen_over_plan_order(lab, tmp_path, capsys):
    """n1 stops first (its data kept, older); n2 and n3 go on taking writes; then n2 loses
    its data for good. Two members hold data: the survey must pick n3 (newer commit), not n1
    (first in the plan), and every write made while n1 was down must be back."""
    names = [n.name for n in lab.nodes[:3]]
    lab.reset(*names)
    try:
        path = bootstrap(lab, tmp_path, 3)
        plan = load(path)
        n1, n2, n3 = names
        early = write_keys(plan, 100, "/restore/early/")
        lab.exec(n1, ["systemctl", "stop", "etcd"], timeout=60)
        late = write_keys(plan, 100, "/restore/late/")  # n2 and n3 still a quorum
        lose(lab, plan, [n2])
        lab.exec(n3, ["systemctl", "stop", "etcd"], timeout=60)  # everything stopped now
        lab.exec(n1, ["systemctl", "start", "--no-block", "etcd"], timeout=60)  # back, alone
        code, out = cli("etcd", "recover", str(path), "--dry-run", "--json", capsys=capsys)
        assert code == 0, out
        facts = {n["name"]: n for n in out["nodes"]}
        assert facts[n3]["wal"]["commit"] > facts[n1]["wal"]["commit"], facts
        assert out["survivor"] == n3
        code, out = cli("etcd", "recover", str(path), "--yes", "--json", capsys=capsys)
        assert code == 0, out
        assert_healthy(plan)
        assert read_keys(plan, "/restore/early/") == early
        assert read_keys(plan, "/restore/late/") == late
        assert any(".replaced-" in d for d in dirs(lab, n1))  # n1's older data kept aside
    finally:
        lab.reset(*names)
