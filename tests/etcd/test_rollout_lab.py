"""The etcd rollout against the lab: real nodes, real SSH, real etcd, checked independently."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from fixtures.etcdctl import etcdctl

from hawizard import digest_cache, pki
from hawizard.cli import main
from hawizard.etcd import render
from hawizard.etcd.binaries import load_binaries
from hawizard.etcd.rollout import etcd_phases
from hawizard.journal import Journal
from hawizard.plan import Plan, dump, load
from hawizard.remote import HostPool
from hawizard.steps import EventKind, Runner

pytestmark = pytest.mark.lab


def run(plan: Plan, *, dry_run: bool = False, events: list | None = None):
    pki.create(plan)
    pool = HostPool(plan, dry_run=dry_run)
    journal = Journal.for_plan(plan) if plan.source else None
    runner = Runner(pool, journal=journal, listener=events.append if events is not None else None)
    return runner.run(etcd_phases(plan))


def main_pids(lab, plan: Plan) -> dict[str, str]:
    return {
        m.name: lab.exec(
            m.name, ["systemctl", "show", "-p", "MainPID", "--value", "etcd"]
        ).stdout.strip()
        for m in plan.etcd_nodes
    }


@pytest.fixture(scope="module")
def cluster(lab, tmp_path_factory):
    """A 3-member cluster bootstrapped once by hawizard; its nodes are reset afterwards."""
    folder = tmp_path_factory.mktemp("rollout")
    (folder / "pki").mkdir(mode=0o700)
    plan = lab.plan(nodes=3, pki_dir=folder / "pki")
    dump(plan, folder / "plan.toml")
    plan = load(folder / "plan.toml")
    names = [m.name for m in plan.etcd_nodes]
    try:
        result = run(plan)
        assert result.ok, result.failures
        yield plan
    finally:
        lab.reset(*names)


def test_bootstrap_gives_three_healthy_tls_members(cluster):
    health = etcdctl(cluster, "endpoint", "health")
    assert health.returncode == 0, health.stderr
    assert (health.stdout + health.stderr).count("is healthy") == 3
    members = etcdctl(cluster, "member", "list", "-w", "simple")
    assert members.returncode == 0
    names = sorted(line.split(", ")[2] for line in members.stdout.splitlines())
    assert names == sorted(m.name for m in cluster.etcd_nodes)
    assert all(", started, " in line for line in members.stdout.splitlines())


def test_new_members_started_one_after_the_other_in_plan_order(lab, cluster):
    """etcd's first start asks every other member whether it was bootstrapped, waiting on each
    one still starting: hawizard starts a new cluster's members in order, each once the one
    before serves its peer port. The nodes share the host's clock, so their journals compare."""

    def first_line(name: str, text: str) -> float:
        out = lab.exec(name, ["journalctl", "-u", "etcd", "-o", "short-unix", "--no-pager"])
        return float(next(x for x in out.stdout.splitlines() if text in x).split()[0])

    names = [m.name for m in cluster.etcd_nodes]
    starts = [first_line(n, "starting an etcd server") for n in names]
    assert starts == sorted(starts), dict(zip(names, starts, strict=True))
    # each member's own bootstrap check was answered at once, not after a 1 s peer timeout
    for name, begun in zip(names, starts, strict=True):
        raft = first_line(name, "became follower at term 0")
        assert raft - begun < 1.0, (name, raft - begun)


def test_plain_http_and_missing_client_cert_are_refused(cluster):
    plain = etcdctl(cluster, "endpoint", "health", cert=False, scheme="http")
    assert plain.returncode != 0
    no_cert = etcdctl(cluster, "endpoint", "health", cert=False)
    assert no_cert.returncode != 0
    assert "bad certificate" in no_cert.stderr or "unhealthy" in no_cert.stderr


def test_config_flipped_to_existing_after_bootstrap(lab, cluster):
    for m in cluster.etcd_nodes:
        text = lab.exec(m.name, ["cat", render.CONFIG_PATH]).stdout
        assert render.config_state(text) is render.ClusterState.EXISTING


def test_reapply_changes_nothing_and_restarts_nothing(lab, cluster):
    put = etcdctl(cluster, "put", "/hawizard/kept", "before-reapply")
    assert put.returncode == 0, put.stderr
    pids = main_pids(lab, cluster)
    events: list = []
    result = run(cluster, events=events)
    assert result.ok
    assert result.count("changed") == 0, [e for e in events if e.kind is EventKind.CHANGED]
    assert main_pids(lab, cluster) == pids
    get = etcdctl(cluster, "get", "/hawizard/kept", "--print-value-only")
    assert get.stdout.strip() == "before-reapply"


def test_modes_on_the_nodes(lab, cluster):
    m = cluster.etcd_nodes[0]
    files = render.member_files(cluster, m)

    def stat(path: str) -> str:
        return lab.exec(m.name, ["stat", "-c", "%a %U:%G", path]).stdout.strip()

    assert stat(cluster.etcd.data_dir) == "700 etcd:etcd"
    assert stat(cluster.etcd.cert_dir) == "700 etcd:etcd"
    assert stat(files.server_key) == "600 etcd:etcd"
    assert stat(files.peer_key) == "600 etcd:etcd"
    assert stat(files.ca) == "644 root:root"
    assert stat(render.CONFIG_PATH) == "640 root:etcd"
    # The CA key never leaves the operator's machine.
    listing = lab.exec(m.name, ["ls", cluster.etcd.cert_dir]).stdout.split()
    assert "ca-key.pem" not in listing and not any("admin" in f for f in listing)
    assert lab.exec(m.name, ["systemctl", "is-enabled", "etcd"]).stdout.strip() == "enabled"
    # The node remembers each installed binary's sha256 (root's, private) by its stat key.
    assert stat(digest_cache.PATH) == "600 root:root"
    assert stat(digest_cache.PATH.rsplit("/", 1)[0]) == "700 root:root"
    cached = {
        line.split()[5]: line.split()[4]
        for line in lab.exec(m.name, ["cat", digest_cache.PATH]).stdout.splitlines()
    }
    for b in load_binaries(cluster.resolve(cluster.etcd.binaries)):
        assert cached[f"{render.UPLOAD_BIN_DIR}/{b.name}"] == b.sha256


def test_killed_member_is_restarted_by_systemd(lab, cluster):
    m = cluster.etcd_nodes[1]
    before = main_pids(lab, cluster)[m.name]
    lab.fault(m.name, "kill-etcd")
    from hawizard.etcd.probe import wait_healthy

    wait_healthy(cluster, timeout=30)
    after = main_pids(lab, cluster)[m.name]
    assert after != before and after != "0"


def test_changed_setting_rolls_one_member_at_a_time(lab, cluster):
    changed = replace(cluster, etcd=replace(cluster.etcd, metrics_port=2391))
    dump(changed, cluster.source)
    changed = load(cluster.source)
    before = main_pids(lab, changed)
    events: list = []
    try:
        result = run(changed, events=events)
        assert result.ok, result.failures
        after = main_pids(lab, changed)
        assert all(after[n] != before[n] for n in before)
        restarts = [
            e
            for e in events
            if e.step == "restart with new settings"
            and e.kind in (EventKind.STARTED, EventKind.CHANGED)
        ]
        # started n1, changed n1, started n2, changed n2, ...: never two restarts at once
        kinds = [e.kind for e in restarts]
        assert kinds == [EventKind.STARTED, EventKind.CHANGED] * 3
        assert [e.node for e in restarts[::2]] == [m.name for m in changed.etcd_nodes]
        out = lab.exec(
            changed.etcd_nodes[0].name,
            ["curl", "-s", "-m", "3", "http://127.0.0.1:2391/metrics"],
            check=False,
        )
        assert out.returncode != 0  # metrics listen on the member address, not loopback
        addr = changed.etcd_nodes[0].address
        metrics = lab.exec(
            changed.etcd_nodes[0].name, ["curl", "-s", "-m", "3", f"http://{addr}:2391/metrics"]
        )
        assert "etcd_server_has_leader 1" in metrics.stdout
    finally:
        dump(cluster, cluster.source)
        restored = run(load(cluster.source))
        assert restored.ok, restored.failures


def test_dry_run_changes_nothing_on_the_nodes(lab, tmp_path):
    plan = lab.plan(nodes=5, pki_dir=tmp_path / "pki")
    plan = plan.with_nodes(plan.nodes[3:5])
    node = plan.nodes[0].name
    result = run(plan, dry_run=True)
    assert result.ok, result.failures
    recorded = [str(r) for r in result.recorded[node]]
    assert any("/usr/local/bin/etcd" in r for r in recorded)
    # a fresh node: no unit file before, so no reload before the first start
    assert any("systemctl start --no-block etcd" in r for r in recorded)
    # Secrets are named, never shown.
    assert not any("PRIVATE KEY" in r for r in recorded)
    probe = lab.exec(node, ["sh", "-c", "ls /etc/etcd /usr/local/bin/etcd; id etcd"], check=False)
    assert probe.returncode != 0 and "No such file" in probe.stderr


def test_unreachable_node_stops_in_preflight_and_changes_nothing(lab, tmp_path):
    plan = lab.plan(nodes=5, pki_dir=tmp_path / "pki")
    plan = replace(plan.with_nodes(plan.nodes[3:5]))
    plan = replace(plan, etcd=replace(plan.etcd, probe_timeout=1.0))
    down, up = plan.nodes[1].name, plan.nodes[0].name
    lab.fault(down, "partition")
    try:
        from hawizard.remote import Timeouts

        pki.create(plan)
        pool = HostPool(plan, timeouts=Timeouts(connect=3, banner=3, auth=3))
        result = Runner(pool).run(etcd_phases(plan))
    finally:
        lab.fault(down, "heal")
    assert not result.ok
    assert [f.node for f in result.failures] == [down]
    assert result.phases_done == ["etcd preflight"]
    assert "etcd install" in result.phases_not_started
    assert lab.exec(up, ["test", "-e", "/etc/etcd"], check=False).returncode != 0


def test_changed_host_key_is_refused(lab, tmp_path):
    plan = lab.plan(nodes=5, pki_dir=tmp_path / "pki")
    target = plan.nodes[3]
    other = plan.nodes[0]
    lines = Path(plan.resolve(plan.cluster.known_hosts)).read_text().splitlines()
    forged = [line for line in lines if not line.startswith(target.address + " ")]
    forged += [
        line.replace(other.address, target.address, 1)
        for line in lines
        if line.startswith(other.address + " ")
    ]
    known = tmp_path / "known_hosts"
    known.write_text("\n".join(forged) + "\n")
    plan = replace(
        plan.with_nodes((target,)), cluster=replace(plan.cluster, known_hosts=str(known))
    )
    result = run(plan)
    assert not result.ok
    assert "HOST KEY CHANGED" in result.failures[0].error


def test_cli_apply_needs_yes_without_a_terminal(lab, tmp_path, capsys):
    plan = lab.plan(nodes=1, pki_dir=tmp_path / "pki")
    dump(plan, tmp_path / "plan.toml")
    assert main(["apply", str(tmp_path / "plan.toml")]) == 2
    assert "--yes" in capsys.readouterr().err


def test_status_reports_members_and_staged_apiservers(cluster, capsys):
    import json

    assert main(["status", str(cluster.source), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["state"] == "healthy" and data["healthy_count"] == 3
    assert data["control_plane_started"] is False
    assert [a["node"] for a in data["apiservers"]] == [m.name for m in cluster.nodes]
    # The lab stages the control plane (no Kubernetes binaries here): not running, not failed.
    assert {a["state"] for a in data["apiservers"]} == {"not running"}


def test_partitioned_member_costs_one_timeout_and_shows_unreachable(lab, cluster, capsys):
    import time

    from hawizard.etcd.probe import cluster_health, wait_healthy

    # A follower: cutting off the leader would also (rightly) show an election in progress.
    leader = wait_healthy(cluster, timeout=30).leader_name
    victim = next(m for m in cluster.etcd_nodes if m.name != leader)
    lab.fault(victim.name, "partition")  # a real nft blackhole: packets vanish, no RST
    try:
        start = time.monotonic()
        health = cluster_health(cluster, timeout=2.0)
        elapsed = time.monotonic() - start
        assert elapsed < 3.0, elapsed
        row = health.member(victim.name)
        assert not row.reachable and row.error
        assert health.healthy_count == 2 and health.tolerates == 0
        assert main(["status", str(cluster.source), "--timeout", "2"]) == 1
        assert "tolerates 0 more failures" in capsys.readouterr().out
    finally:
        lab.fault(victim.name, "heal")
    wait_healthy(cluster, timeout=60)


def test_cli_reapply_json_is_one_document_and_changes_nothing(cluster, capsys):
    import json

    # A missing local cert (one no etcd node uses) is re-issued first: that progress line
    # must go to stderr, not into the JSON.
    admin = pki.paths(cluster).admin
    admin.cert.unlink()
    admin.key.unlink()
    capsys.readouterr()
    assert main(["apply", str(cluster.source), "--yes", "--only", "etcd", "--json"]) == 0
    assert admin.cert.exists()
    data = json.loads(capsys.readouterr().out)  # stdout holds nothing but the summary
    assert data["ok"] is True and data["failures"] == []
    assert sum(n["changed"] for n in data["nodes"].values()) == 0
    assert set(data["nodes"]) >= {m.name for m in cluster.etcd_nodes}
