"""Disaster recovery against the lab: real nodes, real etcd, judged by the venv's etcdctl.

One module, in order, on n1-n3 (then n1-n5): 1,000 keys and a snapshot; refusals that must
leave the healthy cluster untouched (etcdctl agrees); quorum lost for real (two of three
members stopped and their data dirs moved away) → `status` exit 2 → a restore interrupted
right after the data dirs were moved, resumed by running the command again → three healthy
members, one leader, a new cluster ID, every key back, old data dirs still on the nodes; then
the same on five members with three lost, from a snapshot that claims another cluster (warned,
allowed). Restore times are printed (`pytest -s`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fixtures.etcdctl import etcdctl

from hawizard import pki
from hawizard.cli import main
from hawizard.etcd.rollout import etcd_phases
from hawizard.journal import Journal
from hawizard.ops.restore import assess, execute, read_record
from hawizard.pki.record_key import load_key, sign
from hawizard.plan import Plan, dump, load
from hawizard.remote import HostPool
from hawizard.steps import Phase, Runner, Step

pytestmark = pytest.mark.lab

KEYS = 1000
DATA = "/var/lib/etcd"


def write_keys(plan: Plan, n: int = KEYS, prefix: str = "/restore/k") -> dict[str, str]:
    """n keys through `etcdctl txn` (125 puts per transaction: etcd's limit is 128)."""
    keys = {f"{prefix}{i:04d}": f"value-{i}-{'x' * (i % 17)}" for i in range(n)}
    items = list(keys.items())
    for start in range(0, n, 125):
        ops = "\n".join(f"put {k} {v}" for k, v in items[start : start + 125])
        out = _etcdctl_stdin(plan, f"\n{ops}\n\n\n", "txn")
        assert out.returncode == 0, out.stderr
    return keys


def _etcdctl_stdin(plan: Plan, text: str, *args: str):
    import subprocess

    from fixtures.etcdctl import ETCDCTL

    layout = pki.paths(plan)
    eps = ",".join(f"https://{n.url_host}:{plan.etcd.client_port}" for n in plan.etcd_nodes)
    argv = [
        str(ETCDCTL),
        f"--endpoints={eps}",
        "--command-timeout=10s",
        f"--cacert={layout.etcd_ca.cert}",
        f"--cert={layout.etcd_admin.cert}",
        f"--key={layout.etcd_admin.key}",
        *args,
    ]
    return subprocess.run(argv, input=text, capture_output=True, text=True, timeout=60)


def read_keys(plan: Plan, prefix: str = "/restore/") -> dict[str, str]:
    import base64

    out = etcdctl(plan, "get", prefix, "--prefix", "-w", "json")
    assert out.returncode == 0, out.stderr
    kvs = json.loads(out.stdout).get("kvs", [])
    return {
        base64.b64decode(kv["key"]).decode(): base64.b64decode(kv["value"]).decode() for kv in kvs
    }


def endpoint_status(plan: Plan) -> list[dict]:
    out = etcdctl(plan, "endpoint", "status", "-w", "json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def cluster_id(plan: Plan) -> int:
    ids = {s["Status"]["header"]["cluster_id"] for s in endpoint_status(plan)}
    assert len(ids) == 1, ids
    return ids.pop()


def assert_healthy(plan: Plan) -> None:
    health = etcdctl(plan, "endpoint", "health")
    assert health.returncode == 0, health.stderr
    assert (health.stdout + health.stderr).count("is healthy") == len(plan.etcd_nodes)
    leaders = {s["Status"]["leader"] for s in endpoint_status(plan)}
    assert len(leaders) == 1 and 0 not in leaders, leaders
    members = json.loads(etcdctl(plan, "member", "list", "-w", "json").stdout)["members"]
    assert sorted(m["name"] for m in members) == sorted(n.name for n in plan.etcd_nodes)


def dirs(lab, node: str) -> list[str]:
    out = lab.exec(node, ["sh", "-c", f"ls -d {DATA}* 2>/dev/null || true"]).stdout
    return sorted(out.split())


def lose(lab, plan: Plan, names: list[str]) -> None:
    """A member lost for good: etcd stopped and its data dir moved out of hawizard's sight."""
    for name in names:
        lab.exec(name, ["systemctl", "stop", "etcd"], timeout=60)
        lab.exec(name, ["mv", "-T", DATA, f"{DATA}.lost-by-test"])


def cli(*argv: str, capsys) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip().startswith("{") else {}


def bootstrap(lab, folder: Path, n: int) -> Path:
    (folder / "pki").mkdir(mode=0o700, exist_ok=True)
    path = folder / "plan.toml"
    dump(lab.plan(nodes=n, pki_dir=folder / "pki"), path)
    plan = load(path)
    pki.create(plan)
    result = Runner(HostPool(plan), journal=Journal.for_plan(plan)).run(etcd_phases(plan))
    assert result.ok, result.failures
    return path


@pytest.fixture(scope="module")
def three(lab, tmp_path_factory):
    folder = tmp_path_factory.mktemp("restore3")
    names = [n.name for n in lab.nodes[:3]]
    try:
        path = bootstrap(lab, folder, 3)
        keys = write_keys(load(path))
        yield path, keys
    finally:
        lab.reset(*names)


@pytest.fixture(scope="module")
def snapshot3(three):
    path, _keys = three
    out = path.parent / "snapshots" / "before.db"
    assert main(["etcd", "snapshot", str(path), "--out", str(out), "--json"]) == 0
    return out


def test_refusals_leave_a_healthy_cluster_untouched(lab, three, snapshot3, capsys):
    path, keys = three
    plan = load(path)
    before_id = cluster_id(plan)
    before_dirs = {n.name: dirs(lab, n.name) for n in plan.etcd_nodes}

    # healthy cluster, no force: the right tool is `replace`
    code, out = cli("etcd", "restore", str(path), str(snapshot3), "--yes", "--json", capsys=capsys)
    assert code == 2 and out["refused"], out
    assert "has quorum" in out["reason"] and "replace" in out["hint"]

    # forced, but without the second confirmation (no terminal, no --confirm-cluster)
    code, _ = cli(
        "etcd",
        "restore",
        str(path),
        str(snapshot3),
        "--yes",
        "--force-while-healthy",
        capsys=capsys,
    )
    assert code == 2

    # a truncated copy: its sha256 differs from the one recorded beside it
    cut = path.parent / "cut.db"
    cut.write_bytes(snapshot3.read_bytes()[: snapshot3.stat().st_size // 2])
    shutil.copy(snapshot3.with_name(snapshot3.name + ".json"), cut.with_name("cut.db.json"))
    code, out = cli("etcd", "restore", str(path), str(cut), "--yes", "--json", capsys=capsys)
    assert code == 2 and "sha256" in out["reason"], out

    # the same truncated file with no record beside it: `etcdutl snapshot status` rejects it
    cut.with_name("cut.db.json").unlink()
    code, out = cli("etcd", "restore", str(path), str(cut), "--yes", "--json", capsys=capsys)
    assert code == 2 and "etcdutl snapshot status" in out["reason"], out

    # no snapshot path at all: a usage error, exit 2
    with pytest.raises(SystemExit) as exc:
        main(["etcd", "restore", str(path), "--yes"])
    assert exc.value.code == 2

    # nodes untouched: etcdctl sees the same cluster, every key, no moved data dir
    assert cluster_id(plan) == before_id
    assert_healthy(plan)
    assert read_keys(plan) == keys
    assert {n.name: dirs(lab, n.name) for n in plan.etcd_nodes} == before_dirs
    assert read_record(path) is None


BLOCK_TABLE = "hawizard_test_no_client_port"


def block_client_port(lab, plan: Plan, *, on: bool) -> None:
    """Drop the client port from the operator's address (the lab gateway) inside each node's
    namespace: the cluster stays healthy, only the operator's direct probe goes blind."""
    import subprocess

    gateway = lab.record.gateway
    rules = (
        f"table inet {BLOCK_TABLE} {{\n  chain input {{\n"
        "    type filter hook input priority -150; policy accept;\n"
        f"    ip saddr {gateway} tcp dport {plan.etcd.client_port} drop\n  }}\n}}\n"
    )
    for node in plan.etcd_nodes:
        netns = ["ip", "netns", "exec", lab.node(node.name).netns]
        if on:
            subprocess.run([*netns, "nft", "-f", "-"], input=rules, text=True, check=True)
        else:
            subprocess.run([*netns, "nft", "delete", "table", "inet", BLOCK_TABLE], check=False)


def test_a_healthy_cluster_the_operator_cannot_see_is_not_restored(lab, three, snapshot3, capsys):
    """Issue 24's fail-open gate: port 2379 unreachable from the operator, cluster healthy →
    the members are judged on their nodes over SSH and the restore is refused without
    --force-while-healthy; a leftover record (a resume that never stopped a member) too."""
    from hawizard import sidecars
    from hawizard.etcd.restore import inspect_snapshot

    path, keys = three
    plan = load(path)
    before_id = cluster_id(plan)
    block_client_port(lab, plan, on=True)
    try:
        assert main(["status", str(path), "--timeout", "2"]) == 2  # blind from here
        code, out = cli(
            "etcd", "restore", str(path), str(snapshot3), "--yes", "--json", capsys=capsys
        )
        assert code == 2 and out["refused"], out
        assert "may still have quorum" in out["reason"], out
        assert "--force-while-healthy" in out["hint"]
        # a leftover record whose restore never stopped a member: judged again, refused
        sha = inspect_snapshot(snapshot3, plan).sha256
        record = {
            "id": "0badc0de",
            "stamp": "20260101T000000Z",
            "snapshot": str(snapshot3),
            "sha256": sha,
            "started": "then",
            "cluster_id_before": "",
        }
        sidecars.write_record(path, "restore", record)
        code, out = cli(
            "etcd", "restore", str(path), str(snapshot3), "--yes", "--json", capsys=capsys
        )
        assert code == 2 and "may still have quorum" in out["reason"], out
        sidecars.clear_record(path, "restore")
        for node in plan.etcd_nodes:
            active = lab.exec(node.name, ["systemctl", "is-active", "etcd"], check=False)
            assert active.stdout.strip() == "active", node.name
            assert dirs(lab, node.name) == [DATA]
    finally:
        block_client_port(lab, plan, on=False)
        sidecars.clear_record(path, "restore")
    assert cluster_id(plan) == before_id
    assert_healthy(plan)
    assert read_keys(plan) == keys


def test_quorum_lost_interrupted_restore_resumes(lab, three, snapshot3, capsys):
    path, keys = three
    plan = load(path)
    old_id = cluster_id(plan)
    n1, n2, n3 = (n.name for n in plan.etcd_nodes)
    lose(lab, plan, [n2, n3])
    assert main(["status", str(path), "--timeout", "2"]) == 2

    # a plan member that cannot be reached stops the run in preflight, with the command
    lab.fault(n3, "partition")
    try:
        code, out = cli(
            "etcd", "restore", str(path), str(snapshot3), "--yes", "--json", capsys=capsys
        )
    finally:
        lab.fault(n3, "heal")
    assert code == 2 and f"{n3} cannot be reached" in out["reason"], out
    assert f"hawizard etcd restore {path} " in out["hint"] and "drop" in out["hint"]

    # a dry run lists what would run and changes nothing
    code, out = cli(
        "etcd", "restore", str(path), str(snapshot3), "--dry-run", "--json", capsys=capsys
    )
    assert code == 0 and out["dry_run"], out
    recorded = " ".join(x for items in out["result"]["recorded"].values() for x in items)
    assert "mv -T" in recorded and "snapshot restore" in recorded
    assert dirs(lab, n1) == [DATA] and read_record(path) is None

    # interrupted right after the data dirs were moved aside (Ctrl-C stand-in)
    a = assess(plan, snapshot3)
    assert not a.resume and not a.forced and a.warnings == []

    def interrupt(phases: list[Phase]) -> list[Phase]:
        at = [p.title for p in phases].index("restore: move data dirs aside") + 1

        def ctrl_c(_local) -> None:
            raise KeyboardInterrupt

        return [
            *phases[:at],
            Phase("interrupt", [Step(None, "Ctrl-C", None, ctrl_c)]),
            *phases[at:],
        ]

    def run(p, phases):
        return Runner(HostPool(p), journal=Journal.for_plan(p)).run(phases)

    stopped = execute(a, run, extra=interrupt)
    assert stopped.result.interrupted and not stopped.ok  # Ctrl-C stops the run, resumable
    record = read_record(path)
    assert record is not None and record.sha256 == a.snapshot.sha256
    aside = f"{DATA}.before-restore-{record.stamp}"
    assert dirs(lab, n1) == sorted([aside]), "n1's data dir must have been moved, not deleted"
    for name in (n2, n3):
        assert dirs(lab, name) == [f"{DATA}.lost-by-test"]

    # the same command again resumes
    code, out = cli("etcd", "restore", str(path), str(snapshot3), "--yes", "--json", capsys=capsys)
    assert code == 0, out
    assert out["resume"] and out["restore_id"] == record.id
    with capsys.disabled():
        print(f"\n3-member restore (resumed after the interruption): {out['seconds']:.1f} s")
    assert all(m["restored"] for m in out["members"].values())
    moves = [e for e in out["result"]["nodes"].values()]
    assert moves  # per-node summaries present
    assert_healthy(plan)
    new_id = cluster_id(plan)
    assert new_id != old_id
    assert int(out["cluster_id_after"], 16) == new_id
    assert read_keys(plan) == keys
    assert dirs(lab, n1) == sorted([DATA, aside])
    for name in (n2, n3):
        assert dirs(lab, name) == sorted([DATA, f"{DATA}.lost-by-test"])
    for node in plan.etcd_nodes:
        st = lab.exec(node.name, ["stat", "-c", "%a %U:%G", DATA]).stdout.strip()
        assert st == "700 etcd:etcd"
        assert "existing" in lab.exec(node.name, ["cat", "/etc/etcd/etcd.conf.yml"]).stdout
        assert not lab.exec(
            node.name,
            [
                "sh",
                "-c",
                "ls /var/tmp/hawizard-restore-* /var/lib/hawizard/tmp/* 2>/dev/null || true",
            ],
        ).stdout.strip()
    assert out["fresh_snapshot"] and Path(out["fresh_snapshot"]["path"]).is_file()
    assert out["fresh_snapshot"]["total_keys"] >= KEYS
    assert read_record(path) is None

    # converged: apply changes nothing; a second restore is refused (quorum holds)
    result = Runner(HostPool(plan), journal=Journal.for_plan(plan)).run(etcd_phases(plan))
    assert result.ok and result.count("changed") == 0, result
    code, out = cli("etcd", "restore", str(path), str(snapshot3), "--yes", "--json", capsys=capsys)
    assert code == 2 and "has quorum" in out["reason"]


def test_five_members_three_lost(lab, tmp_path_factory, capsys):
    folder = tmp_path_factory.mktemp("restore5")
    names = [n.name for n in lab.nodes[:5]]
    lab.reset(*names)
    try:
        path = bootstrap(lab, folder, 5)
        plan = load(path)
        keys = write_keys(plan)
        snap = folder / "snap.db"
        assert main(["etcd", "snapshot", str(path), "--out", str(snap), "--json"]) == 0
        # claims to come from another cluster: allowed, but warned
        meta_path = snap.with_name("snap.db.json")
        meta = json.loads(meta_path.read_text())
        meta.update(cluster="elsewhere", node="far-away")
        # re-signed with this PKI's record key: an edited record is refused (issue 25)
        meta_path.write_text(json.dumps(sign(load_key(plan), meta)))
        old_id = cluster_id(plan)
        lose(lab, plan, names[2:])
        assert main(["status", str(path), "--timeout", "2"]) == 2
        code, out = cli("etcd", "restore", str(path), str(snap), "--yes", "--json", capsys=capsys)
        assert code == 0, out
        with capsys.disabled():
            print(f"\n5-member restore, 3 lost: {out['seconds']:.1f} s")
        assert any("elsewhere" in w for w in out["warnings"])
        assert any("far-away" in w for w in out["warnings"])
        assert_healthy(plan)
        assert cluster_id(plan) != old_id
        assert read_keys(plan) == keys
        for name in names[:2]:
            assert len([d for d in dirs(lab, name) if ".before-restore-" in d]) == 1
        for name in names[2:]:
            assert f"{DATA}.lost-by-test" in dirs(lab, name)
    finally:
        lab.reset(*names)
