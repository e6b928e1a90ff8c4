"""`hawizard monitoring export`: what it writes, checked by the real Prometheus tools
(`promtool check config`, `check rules`, `test rules` from Debian's prometheus package)."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from hawizard import monitoring as mon
from hawizard import pki
from hawizard import plan as P
from hawizard.cli import main
from hawizard.monitoring import yaml_text

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool missing: scripts/setup.sh installs prometheus"
)


def make_plan(tmp_path: Path, **monitoring) -> P.Plan:
    nodes = tuple(P.Node(f"infra{i}", f"10.1.2.{11 + i}") for i in range(3))
    plan = P.Plan(
        nodes=nodes,
        cluster=P.Cluster(name="prod", control_plane_endpoint="10.1.2.11:8443"),
        pki=P.PKISettings(dir=str(tmp_path / "pki")),
        control_plane=P.ControlPlaneSettings(load_balancer="infra0"),
        monitoring=P.MonitoringSettings(enabled=True, **monitoring),
    )
    path = tmp_path / "plan.toml"
    P.dump(plan, path)
    return P.load(path)


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PROMTOOL, *args], capture_output=True, text=True, timeout=60, check=False
    )


@needs_promtool
def test_export_passes_promtool(tmp_path, capsys):
    plan = make_plan(tmp_path)
    pki.create(plan)
    out = tmp_path / "mon"
    assert main(["monitoring", "export", str(plan.source), str(out)]) == 0
    assert "prometheus.yml" in capsys.readouterr().out
    r = promtool("check", "config", str(out / "prometheus.yml"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout + r.stderr
    r = promtool("check", "rules", str(out / "etcd-alerts.yml"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"SUCCESS: {len(mon.ALERTS)} rules found" in r.stdout
    r = promtool("test", "rules", str(out / "etcd-alerts.test.yml"))
    assert r.returncode == 0, r.stdout + r.stderr
    # TLS: the monitoring certificate, never admin's; its key private in a private folder
    tls = out / "tls"
    assert (tls.stat().st_mode & 0o777) == 0o700
    assert ((tls / "monitoring-key.pem").stat().st_mode & 0o777) == 0o600
    layout = pki.paths(plan)
    assert (tls / "monitoring.pem").read_bytes() == layout.monitoring.cert.read_bytes()
    assert layout.admin.cert.read_bytes() not in {p.read_bytes() for p in tls.iterdir()}
    assert "admin" not in (out / "prometheus.yml").read_text()


def test_scrape_targets_for_every_part(tmp_path):
    plan = make_plan(tmp_path, scrape_interval=5, node_exporter_port=9101)
    text = mon.render_scrape_config(plan)
    for member in plan.etcd_nodes:
        assert f'"{member.address}:2381"' in text and f'member: "{member.name}"' in text
        assert f'"{member.address}:6443"' in text  # apiserver
        assert f'"{member.address}:9101"' in text  # node exporter
    assert '"10.1.2.11:8405"' in text  # haproxy's exporter on the balancer
    assert 'scrape_interval: "5s"' in text and 'scrape_timeout: "4s"' in text
    assert 'cert_file: "tls/monitoring.pem"' in text
    rbac = mon.render_rbac()
    assert 'nonResourceURLs:\n      - "/metrics"' in rbac and '- "get"' in rbac
    assert "system:masters" not in rbac and "*" not in rbac


def test_alerts_cover_the_list():
    names = {a.name for a in mon.ALERTS}
    assert names == {
        "etcdMembersDown",
        "etcdInsufficientMembers",
        "etcdNoLeader",
        "etcdHighNumberOfLeaderChanges",
        "etcdHighFsyncDurations",
        "etcdHighCommitDurations",
        "etcdDatabaseQuotaLowSpace",
        "etcdHighNumberOfFailedProposals",
    }


@needs_promtool
def test_dashboard_queries_are_valid_promql(tmp_path):
    """Every panel's query, handed to promtool as a recording rule, parses."""
    plan = make_plan(tmp_path)
    doc = json.loads(mon.render_dashboard(plan))
    exprs = [t["expr"] for p in doc["panels"] for t in p["targets"]]
    assert len(exprs) == len(doc["panels"]) >= 10
    assert all('cluster="prod"' in e for e in exprs)
    rules = {
        "groups": [
            {
                "name": "d",
                "rules": [{"record": f"panel_{i}", "expr": e} for i, e in enumerate(exprs)],
            }
        ]
    }
    path = tmp_path / "panels.yml"
    path.write_text(yaml_text.dumps(rules))
    r = promtool("check", "rules", str(path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert doc["uid"] == json.loads(mon.render_dashboard(plan))["uid"]  # stable


def test_export_refuses_without_the_monitoring_certificate(tmp_path, capsys):
    plan = make_plan(tmp_path)
    assert main(["monitoring", "export", str(plan.source), str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "monitoring certificate" in err and f"hawizard certs create {plan.source}" in err
    off = replace(plan, monitoring=P.MonitoringSettings())
    P.dump(off, plan.source)
    assert main(["monitoring", "export", str(plan.source), str(tmp_path / "m")]) == 2
    assert "enabled = true" in capsys.readouterr().err
    assert not (tmp_path / "m" / "tls").exists()


@needs_promtool
def test_haproxy_exporter_frontend_only_with_monitoring(tmp_path):
    from hawizard.balancer import render

    plan = make_plan(tmp_path)
    assert "prometheus-exporter" in render.render_haproxy_config(plan)
    off = replace(plan, monitoring=P.MonitoringSettings())
    assert "prometheus" not in render.render_haproxy_config(off)
    cfg = tmp_path / "haproxy.cfg"
    text = render.render_haproxy_config(plan).replace("    chroot /var/lib/haproxy\n", "")
    cfg.write_text(text.replace("    user haproxy\n    group haproxy\n", ""))
    r = subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr


_ANY = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(_ANY)
def test_yaml_writer_round_trips(doc):
    """Whatever a value holds (quotes, colons, newlines, `{{ }}`), a YAML parser reads back
    exactly the document that was written: no value can end its line or become a key."""
    assert yaml.safe_load(yaml_text.dumps(doc)) == doc


def test_apply_adds_the_monitoring_phases_only_with_install(tmp_path):
    from hawizard.monitoring.rollout import ON_NODE, prometheus_files
    from hawizard.ops.apply import build_phases

    plan = make_plan(tmp_path)
    titles = [p.title for p in build_phases(plan)]
    assert "node exporters" not in titles
    on = replace(plan, monitoring=replace(plan.monitoring, install=True, prometheus_node="infra1"))
    titles = [p.title for p in build_phases(on)]
    assert titles[-2:] == ["node exporters", "prometheus"]
    assert "node exporters" not in [p.title for p in build_phases(on, "etcd")]
    steps = {(s.node, s.title) for p in build_phases(on)[-2:] for s in p.steps}
    for n in on.nodes:
        assert (n.name, "prometheus-node-exporter package") in steps
    assert ("infra1", "prometheus configuration") in steps
    pki.create(on)
    files = {f.path: f for f in prometheus_files(on)}
    assert {f"/etc/prometheus/{name}" for name in ON_NODE} <= set(files)
    key = files["/etc/prometheus/tls/monitoring-key.pem"]
    assert (key.mode, key.owner, key.group) == (0o640, "root", "prometheus")
    assert "/etc/prometheus/grafana-dashboard.json" not in files  # operator-side only


def test_export_never_chmods_or_writes_through_a_symlink(tmp_path, capsys):
    """Issue 25: a `tls` symlink in the export folder made export chmod its target to 0700 and
    write the monitoring key into it."""
    plan = make_plan(tmp_path)
    pki.create(plan)
    out, elsewhere = tmp_path / "mon", tmp_path / "elsewhere"
    out.mkdir(mode=0o755)
    elsewhere.mkdir(mode=0o755)
    (out / "tls").symlink_to(elsewhere)
    assert main(["monitoring", "export", str(plan.source), str(out)]) == 2
    assert "tls is a symlink" in " ".join(capsys.readouterr().err.split())
    assert list(elsewhere.iterdir()) == [] and (elsewhere.stat().st_mode & 0o777) == 0o755
    # the export folder itself a symlink: refused too, its target untouched
    (out / "tls").unlink()
    link = tmp_path / "mon-link"
    link.symlink_to(elsewhere)
    assert main(["monitoring", "export", str(plan.source), str(link)]) == 2
    assert list(elsewhere.iterdir()) == [] and (elsewhere.stat().st_mode & 0o777) == 0o755
    # a real folder: it holds the key, so it is made 0700 itself; a planted key symlink is
    # replaced (rename), never written through
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    (out / "tls").mkdir(mode=0o755)
    (out / "tls" / "monitoring-key.pem").symlink_to(victim)
    assert main(["monitoring", "export", str(plan.source), str(out)]) == 0
    assert (out.stat().st_mode & 0o777) == 0o700
    assert (out / "tls").stat().st_mode & 0o777 == 0o700
    key = out / "tls" / "monitoring-key.pem"
    assert not key.is_symlink() and (key.stat().st_mode & 0o777) == 0o600
    assert victim.read_text() == "untouched"
    assert not [p for p in (out / "tls").iterdir() if p.name.endswith(".tmp")]
