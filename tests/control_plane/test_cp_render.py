"""Control-plane renderers: checked by content, then by the real readers of each file —
`systemd-analyze verify` (units), `kubectl config view` (kubeconfigs)."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from hawizard import pki
from hawizard.control_plane import render
from hawizard.control_plane.render import FILES
from hawizard.plan import Cluster, ControlPlaneSettings, Node, PKISettings, Plan, Role

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


def make_plan(tmp_path: Path, *, endpoint: str = "127.0.0.60:18443", lb: str = "m0") -> Plan:
    nodes = (
        Node("m0", "127.0.0.61"),
        Node("m1", "127.0.0.62"),
        Node("m2", "127.0.0.63"),
        Node("e3", "127.0.0.64", (Role.ETCD,)),  # etcd only: in --etcd-servers, not a backend
    )
    return Plan(
        nodes=nodes,
        cluster=Cluster(name="cptest", control_plane_endpoint=endpoint),
        pki=PKISettings(dir=str(tmp_path / "pki")),
        control_plane=ControlPlaneSettings(
            service_cidr="10.32.0.0/16", cluster_domain="corp.local", load_balancer=lb
        ),
    )


def flags(unit: str) -> list[str]:
    """The ExecStart arguments, one per entry (continuation lines joined)."""
    text = unit.split("ExecStart=", 1)[1].split("\nRestart=", 1)[0]
    return text.replace("\\\n", " ").split()[1:]


# --- units: content --------------------------------------------------------------------------


def test_apiserver_unit_flags():
    plan = make_plan(Path("/x"))
    unit = render.render_apiserver_unit(plan, plan.nodes[1])
    args = flags(unit)
    expected = {
        "--advertise-address=127.0.0.62",
        "--secure-port=6443",
        "--authorization-mode=Node,RBAC",
        "--etcd-servers=https://127.0.0.61:2379,https://127.0.0.62:2379,"
        "https://127.0.0.63:2379,https://127.0.0.64:2379",
        "--etcd-cafile=/etc/kubernetes/pki/etcd/ca.pem",
        "--etcd-certfile=/etc/kubernetes/pki/etcd/apiserver-etcd-client.pem",
        "--etcd-keyfile=/etc/kubernetes/pki/etcd/apiserver-etcd-client-key.pem",
        "--encryption-provider-config=/etc/kubernetes/encryption-config.yaml",
        "--service-account-issuer=https://kubernetes.default.svc.corp.local",
        "--service-account-key-file=/etc/kubernetes/pki/sa.pub",
        "--service-account-signing-key-file=/etc/kubernetes/pki/sa.key",
        "--service-cluster-ip-range=10.32.0.0/16",
        "--audit-policy-file=/etc/kubernetes/audit-policy.yaml",
        "--audit-log-path=/var/log/kubernetes/audit.log",
        "--audit-log-maxage=30",
        "--audit-log-maxbackup=10",
        "--audit-log-maxsize=100",
        "--client-ca-file=/etc/kubernetes/pki/ca.pem",
        "--tls-cert-file=/etc/kubernetes/pki/apiserver.pem",
        "--tls-private-key-file=/etc/kubernetes/pki/apiserver-key.pem",
    }
    assert expected <= set(args), expected - set(args)
    assert len(args) == len(set(args))  # no flag given twice
    assert unit.startswith("# written by hawizard")
    assert "ExecStart=/usr/local/bin/kube-apiserver \\\n" in unit
    assert "Restart=on-failure" in unit and "WantedBy=multi-user.target" in unit
    # Every etcd member over TLS, none in clear text; the etcd CA key never appears.
    assert "http://" not in unit and "etcd/ca-key" not in unit


def test_controller_manager_and_scheduler_flags():
    plan = make_plan(Path("/x"))
    cm = flags(render.render_controller_manager_unit(plan))
    kc = "/etc/kubernetes/controller-manager.kubeconfig"
    assert {
        "--leader-elect=true",
        f"--kubeconfig={kc}",
        f"--authentication-kubeconfig={kc}",
        f"--authorization-kubeconfig={kc}",
        "--cluster-signing-cert-file=/etc/kubernetes/pki/ca.pem",
        "--cluster-signing-key-file=/etc/kubernetes/pki/ca-key.pem",
        "--root-ca-file=/etc/kubernetes/pki/ca.pem",
        "--service-account-private-key-file=/etc/kubernetes/pki/sa.key",
        "--use-service-account-credentials=true",
        "--service-cluster-ip-range=10.32.0.0/16",
    } <= set(cm)
    sched_unit = render.render_scheduler_unit(plan)
    sched = flags(sched_unit)
    kc = "/etc/kubernetes/scheduler.kubeconfig"
    assert {
        "--leader-elect=true",
        f"--kubeconfig={kc}",
        f"--authentication-kubeconfig={kc}",
        f"--authorization-kubeconfig={kc}",
    } <= set(sched)
    assert "ExecStart=/usr/local/bin/kube-scheduler \\\n" in sched_unit
    assert not any("ca-key" in f or "signing" in f for f in sched)


def test_ipv6_master_urls_are_bracketed():
    plan = make_plan(Path("/x"))
    v6 = replace(plan.nodes[0], address="fd00::61")
    plan = plan.with_nodes((v6, *plan.nodes[1:]))
    args = flags(render.render_apiserver_unit(plan, v6))
    assert "--advertise-address=fd00::61" in args
    assert any(a.startswith("--etcd-servers=https://[fd00::61]:2379,") for a in args)
    assert render.apiserver_url(v6) == "https://[fd00::61]:6443"


def test_audit_policy_parses_as_yaml():
    text = render.render_audit_policy()
    assert "kind: Policy" in text and "apiVersion: audit.k8s.io/v1" in text
    # The system python has PyYAML on this image; the project does not depend on it.
    proc = subprocess.run(
        [
            "/usr/bin/python3",
            "-c",
            "import json,sys,yaml; print(json.dumps(yaml.safe_load(sys.stdin)))",
        ],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
    )
    if proc.returncode != 0 and "No module named 'yaml'" in proc.stderr:
        pytest.skip("no PyYAML in the system python")
    import json

    doc = json.loads(proc.stdout)
    levels = [r["level"] for r in doc["rules"]]
    assert levels == ["None", "Metadata", "Request", "Metadata"]
    # Secrets are only ever logged at Metadata (no bodies), and that rule comes first.
    assert {"group": "", "resources": ["secrets", "configmaps", "serviceaccounts/token"]} in doc[
        "rules"
    ][1]["resources"]


# --- units: systemd-analyze verify -----------------------------------------------------------


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_units_pass_systemd_analyze_verify(tmp_path):
    plan = make_plan(tmp_path)
    # verify insists that ExecStart's binary exists: for this check only, the units point at
    # a stub executable in tmp_path instead of /usr/local/bin (the real binaries are not here).
    stub_dir = tmp_path / "bin"
    stub_dir.mkdir()
    for name in render.SERVICES:
        stub = stub_dir / name
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    units = {
        "kube-apiserver": render.render_apiserver_unit(plan, plan.nodes[0]),
        "kube-controller-manager": render.render_controller_manager_unit(plan),
        "kube-scheduler": render.render_scheduler_unit(plan),
    }
    paths = []
    for name, text in units.items():
        assert f"{render.BIN_DIR}/{name} " in text
        path = tmp_path / f"{name}.service"
        path.write_text(text.replace(f"{render.BIN_DIR}/", f"{stub_dir}/"))
        paths.append(str(path))
    proc = subprocess.run(
        ["systemd-analyze", "verify", *paths], capture_output=True, text=True, timeout=60
    )
    # Without systemd as PID 1 bad keys only warn: any stderr line about our units fails.
    ours = [line for line in proc.stderr.splitlines() if any(s in line for s in render.SERVICES)]
    assert proc.returncode == 0 and ours == [], proc.stderr


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_systemd_analyze_catches_a_broken_unit(tmp_path):
    """The verify check above can fail: a misspelt key is reported against our unit."""
    stub = tmp_path / "kube-scheduler"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    text = render.render_scheduler_unit(make_plan(tmp_path)).replace(
        f"{render.BIN_DIR}/", f"{tmp_path}/"
    )
    path = tmp_path / "kube-scheduler.service"
    path.write_text(text.replace("Restart=on-failure", "Restrat=on-failure"))
    proc = subprocess.run(
        ["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60
    )
    assert any("kube-scheduler.service" in line for line in proc.stderr.splitlines())


# --- kubeconfigs: kubectl config view --------------------------------------------------------


@pytest.fixture
def plan_with_pki(tmp_path):
    plan = make_plan(tmp_path)
    outcomes = pki.create(plan)
    assert not any(o.is_failure for o in outcomes)
    return plan


def kubectl(*args: str) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent"}
    return subprocess.run(
        [KUBECTL, *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


@pytest.mark.skipif(not Path(KUBECTL).exists(), reason="kubectl not installed")
@pytest.mark.parametrize(
    ("who", "user", "server"),
    [
        ("admin", "admin", "https://127.0.0.60:18443"),
        ("controller-manager", "system:kube-controller-manager", "https://127.0.0.1:6443"),
        ("scheduler", "system:kube-scheduler", "https://127.0.0.1:6443"),
    ],
)
def test_kubeconfigs_accepted_by_kubectl(plan_with_pki, tmp_path, who, user, server):
    plan = plan_with_pki
    layout = pki.paths(plan)
    pair = {
        "admin": layout.admin,
        "controller-manager": layout.controller_manager,
        "scheduler": layout.scheduler,
    }[who]
    text = render.render_kubeconfig(
        cluster=plan.cluster.name,
        server=server,
        user=user,
        ca_pem=layout.kubernetes_ca.cert.read_bytes(),
        cert_pem=pair.cert.read_bytes(),
        key_pem=pair.key.read_bytes(),
    )
    path = tmp_path / f"{who}.kubeconfig"
    path.write_text(text)
    view = kubectl("config", "view", "--kubeconfig", str(path))
    assert view.returncode == 0, view.stderr
    assert view.stdout.count("DATA+OMITTED") == 3  # CA, cert and key all seen (and hidden)

    def jsonpath(expr: str) -> str:
        proc = kubectl(
            "config", "view", "--kubeconfig", str(path), "--raw", "-o", f"jsonpath={expr}"
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    assert jsonpath("{.clusters[0].cluster.server}") == server
    assert jsonpath("{.current-context}") == f"{user}@{plan.cluster.name}"
    assert jsonpath("{.contexts[0].context.user}") == user
    assert jsonpath("{.users[0].name}") == user
    ca = base64.b64decode(jsonpath("{.clusters[0].cluster.certificate-authority-data}"))
    assert ca == layout.kubernetes_ca.cert.read_bytes()
    cert = base64.b64decode(jsonpath("{.users[0].user.client-certificate-data}"))
    assert cert == pair.cert.read_bytes()
    key = base64.b64decode(jsonpath("{.users[0].user.client-key-data}"))
    assert key == pair.key.read_bytes()


@pytest.mark.skipif(not Path(KUBECTL).exists(), reason="kubectl not installed")
def test_kubectl_rejects_a_broken_kubeconfig(tmp_path):
    """The kubectl check can fail: a kubeconfig with broken structure is refused."""
    path = tmp_path / "broken.kubeconfig"
    path.write_text("apiVersion: v1\nkind: Config\nclusters: {not: [a list\n")
    assert kubectl("config", "view", "--kubeconfig", str(path)).returncode != 0


def test_remote_layout_keeps_keys_under_pki():
    for key in (FILES.ca_key, FILES.apiserver_key, FILES.sa_key, FILES.etcd_client_key):
        assert key.startswith(FILES.pki_dir + "/")
    assert FILES.etcd_ca_cert == "/etc/kubernetes/pki/etcd/ca.pem"
    assert render.endpoint_url(make_plan(Path("/x"), endpoint="[fd00::1]:8443")) == (
        "https://[fd00::1]:8443"
    )
