"""`hawizard etcd defrag` on the lab: 3 systemd nodes, real etcd, a live client, and NOSPACE.

1. Churn: ~110 MB of 100 KB overwrites over 20 keys (all but the newest revisions are garbage
   once compacted). `etcd defrag` runs while `KvLoop` writes and reads back through a new TLS
   connection per request, starting each request on the next endpoint: 0 failed requests, every
   acknowledged write read back, every member's DB (read with the real etcdctl) at most 60 % of
   its size before, and etcd's own "finished defragment…" journal lines put the member that led
   at the start last.
2. `etcd.quota_backend_bytes` = 48 MiB rolled out by `apply` (one member restarted at a time),
   the cluster filled until etcd refuses writes with NOSPACE, `etcd defrag` clears the alarm and
   writes are accepted again.
"""

from __future__ import annotations

import base64
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
from fixtures.etcdctl import etcdctl

from hawizard import pki
from hawizard.cli import main
from hawizard.etcd.cluster_api import ClusterAPI, EtcdRefused, targets_for
from hawizard.etcd.probe import cluster_health
from hawizard.etcd.rollout import etcd_phases
from hawizard.journal import Journal
from hawizard.lab.kv_loop import KvLoop, Trust
from hawizard.plan import Plan, dump, load
from hawizard.remote import HostPool
from hawizard.steps import Runner

pytestmark = pytest.mark.lab

MiB = 1024**2
VALUE = 100_000  # bytes per churn write
# etcd 3.5.1 logs "finished defragment"; later 3.5 releases "finished defragmenting the
# storage backend". One such line per defragmentation ("...defragmenting directory" is another).
FINISHED = re.compile(r'"ts":"([^"]+)".*"msg":"finished defragment(?:ing the storage backend)?"')


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def save(plan: Plan, path: Path) -> Plan:
    dump(plan, path)
    return load(path)


def churn(plan: Plan, total: int, keys: int, *, stop_on_nospace: bool = False) -> int:
    """`total` puts of `VALUE` bytes over `keys` keys, 4 at a time, spread over the members.
    Returns how many were accepted; with `stop_on_nospace`, stops at etcd's NOSPACE refusal."""
    nodes = list(plan.etcd_nodes)
    filler = "x" * VALUE

    def put(i: int) -> bool:
        via = nodes[i % len(nodes)]
        api = ClusterAPI(plan, targets_for(plan, [via, *nodes]), timeout=10)
        try:
            api.call("/v3/kv/put", {"key": b64(f"/churn/{i % keys}"), "value": b64(f"{i}{filler}")})
        except EtcdRefused as exc:
            if stop_on_nospace and "database space exceeded" in exc.message:
                return False
            raise
        return True

    accepted = 0
    with ThreadPoolExecutor(4) as pool:
        for start in range(0, total, 40):
            done = list(pool.map(put, range(start, min(total, start + 40))))
            accepted += sum(done)
            if not all(done):
                break
    return accepted


def db_sizes(plan: Plan) -> dict[str, int]:
    """Each member's DB size as the real etcdctl reads it."""
    out = etcdctl(plan, "endpoint", "status", "-w", "json")
    assert out.returncode == 0, out.stderr
    by_endpoint = {e["Endpoint"]: e["Status"]["dbSize"] for e in json.loads(out.stdout)}
    return {
        m.name: by_endpoint[f"https://{m.address}:{plan.etcd.client_port}"] for m in plan.etcd_nodes
    }


def finished_order(lab, plan: Plan, since: str) -> list[str]:
    """Members in the order etcd itself logged a finished defragmentation (journal ts)."""
    stamps = []
    for m in plan.etcd_nodes:
        log = lab.exec(
            m.name, ["journalctl", "-u", "etcd", "-o", "cat", "--no-pager", "--since", since]
        )
        stamps += [(ts, m.name) for ts in FINISHED.findall(log.stdout)]
    return [name for _, name in sorted(stamps)]


def node_now(lab, plan: Plan) -> str:
    return lab.exec(plan.etcd_nodes[0].name, ["date", "+%Y-%m-%d %H:%M:%S"]).stdout.strip()


@pytest.fixture(scope="module")
def cluster(lab, tmp_path_factory):
    folder = tmp_path_factory.mktemp("defrag")
    (folder / "pki").mkdir(mode=0o700)
    plan = lab.plan(nodes=3, pki_dir=folder / "pki")
    plan = save(
        replace(plan, etcd=replace(plan.etcd, defrag_keep_revisions=100)), folder / "plan.toml"
    )
    names = [n.name for n in plan.nodes]
    try:
        pki.create(plan)
        result = Runner(HostPool(plan), journal=Journal.for_plan(plan)).run(etcd_phases(plan))
        assert result.ok, result.failures
        yield plan, folder / "plan.toml"
    finally:
        lab.reset(*names)


def test_defrag_under_a_live_client_leader_last_no_failed_request(lab, cluster, capsys):
    plan, path = cluster
    assert churn(plan, total=1100, keys=20) == 1100  # ~110 MB of overwrites
    before = db_sizes(plan)
    assert min(before.values()) > 100 * MiB, before
    leader = cluster_health(plan).leader_name
    since = node_now(lab, plan)
    layout = pki.paths(plan)
    trust = Trust(layout.etcd_ca.cert, layout.etcd_admin.cert, layout.etcd_admin.key)
    endpoints = [(m.address, plan.etcd.client_port) for m in plan.etcd_nodes]
    with KvLoop(endpoints, trust, interval=0.05, rotate=True) as loop:
        code = main(["etcd", "defrag", str(path), "--yes", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, doc
    assert loop.failed == 0, loop.errors[:5]
    assert loop.ok > 20 and loop.missing() == []  # every acknowledged write is there
    after = db_sizes(plan)
    for name, size in after.items():
        assert size <= 0.6 * before[name], (name, before[name], size)
    assert doc["leader_at_start"] == leader and doc["order"][-1] == leader
    assert finished_order(lab, plan, since) == doc["order"]  # etcd's own journal lines
    assert all(m["blocked_s"] > 0 for m in doc["members"])


def test_nospace_at_48_mib_cleared_by_defrag(lab, cluster, capsys):
    plan, path = cluster
    small = save(replace(plan, etcd=replace(plan.etcd, quota_backend_bytes=48 * MiB)), path)
    result = Runner(HostPool(small), journal=Journal.for_plan(small)).run(etcd_phases(small))
    assert result.ok, result.failures
    for m in small.etcd_nodes:
        conf = lab.exec(m.name, ["cat", "/etc/etcd/etcd.conf.yml"]).stdout
        assert f"quota-backend-bytes: {48 * MiB}" in conf
    accepted = churn(small, total=2000, keys=3, stop_on_nospace=True)
    assert accepted < 2000  # etcd refused writes before the end
    assert cluster_health(small).alarms == ("NOSPACE",)
    refused = etcdctl(small, "put", "/after/nospace", "refused")
    assert "database space exceeded" in refused.stderr
    code = main(["etcd", "defrag", str(path), "--yes", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, doc
    assert doc["disarmed"] == ["NOSPACE"] and doc["write_proved_ms"] > 0
    assert cluster_health(small).alarms == ()
    put = etcdctl(small, "put", "/after/nospace", "accepted")
    assert put.returncode == 0, put.stderr
    alarms = etcdctl(small, "alarm", "list")
    assert alarms.returncode == 0 and alarms.stdout.strip() == ""
