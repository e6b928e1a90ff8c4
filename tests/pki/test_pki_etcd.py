"""The certificates work for the program that reads them: a 3-member etcd cluster on loopback
addresses with mutual TLS on the client and the peer ports, reached with the etcd client certs.

Each member listens on its own address (127.0.0.11-13), so TLS hostname checks between peers
and from etcdctl really test each member's SANs.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hawizard import pki
from hawizard.plan import Cluster, Node, PKISettings, Plan, Role

BIN = Path(sys.executable).parent
ETCD = shutil.which("etcd", path=str(BIN)) or shutil.which("etcd")
ETCDCTL = shutil.which("etcdctl", path=str(BIN)) or shutil.which("etcdctl")
pytestmark = pytest.mark.skipif(not (ETCD and ETCDCTL), reason="needs etcd and etcdctl")


def free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("etcd-tls")
    nodes = tuple(Node(f"infra{i}", f"127.0.0.{11 + i}", roles=(Role.ETCD,)) for i in range(3))
    plan = Plan(nodes=nodes, cluster=Cluster(name="t"), pki=PKISettings(dir=str(root / "pki")))
    pki.create(plan)
    # An etcd-only plan makes no Kubernetes CA; the refusal test below needs one, so a plan
    # with one master (not an etcd member: the etcd files stay as they are) makes it.
    master = Node("master0", "127.0.0.20", roles=(Role.CONTROL_PLANE,))
    pki.create(Plan(nodes=(*nodes, master), cluster=plan.cluster, pki=plan.pki))
    p = pki.paths(plan)
    ports = {n.name: (free_port(n.address), free_port(n.address)) for n in nodes}
    initial = ",".join(f"{n.name}=https://{n.address}:{ports[n.name][1]}" for n in nodes)
    procs: list[subprocess.Popen] = []
    try:
        for n in nodes:
            client, peer = ports[n.name]
            server, peer_pair = p.etcd_server(n), p.etcd_peer(n)
            log = (root / f"{n.name}.log").open("wb")
            args = [
                ETCD,
                f"--name={n.name}",
                f"--data-dir={root / n.name}",
                f"--listen-client-urls=https://{n.address}:{client}",
                f"--advertise-client-urls=https://{n.address}:{client}",
                f"--listen-peer-urls=https://{n.address}:{peer}",
                f"--initial-advertise-peer-urls=https://{n.address}:{peer}",
                f"--initial-cluster={initial}",
                "--initial-cluster-state=new",
                "--initial-cluster-token=hawizard-pki-test",
                f"--cert-file={server.cert}",
                f"--key-file={server.key}",
                "--client-cert-auth",
                f"--trusted-ca-file={p.etcd_ca.cert}",
                f"--peer-cert-file={peer_pair.cert}",
                f"--peer-key-file={peer_pair.key}",
                "--peer-client-cert-auth",
                f"--peer-trusted-ca-file={p.etcd_ca.cert}",
            ]
            procs.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT))
        endpoints = ",".join(f"https://{n.address}:{ports[n.name][0]}" for n in nodes)
        yield plan, endpoints, root
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:  # throwaway data: no need to wait for a graceful leader transfer
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def etcdctl(
    plan: Plan,
    endpoints: str,
    pair: pki.CertKey,
    *args: str,
    ca: Path | None = None,
    timeout: str = "3s",
):
    p = pki.paths(plan)
    return subprocess.run(
        [
            ETCDCTL,
            f"--endpoints={endpoints}",
            f"--cacert={ca or p.etcd_ca.cert}",
            f"--cert={pair.cert}",
            f"--key={pair.key}",
            f"--command-timeout={timeout}",
            "--dial-timeout=2s",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=20,
    )


def wait_healthy(plan: Plan, endpoints: str, root: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        res = etcdctl(plan, endpoints, pki.paths(plan).etcd_admin, "endpoint", "health")
        if res.returncode == 0:
            return
        if time.monotonic() > deadline:
            logs = "\n".join(f.read_text()[-1500:] for f in sorted(root.glob("*.log")))
            pytest.fail(f"etcd never became healthy:\n{res.stderr}\n{logs}")
        time.sleep(0.3)


def test_members_form_a_cluster_over_peer_tls(cluster):
    plan, endpoints, root = cluster
    wait_healthy(plan, endpoints, root)
    res = etcdctl(plan, endpoints, pki.paths(plan).etcd_admin, "member", "list", "-w", "simple")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 3 and all(", started, " in ln for ln in lines)
    for i in range(3):
        assert f"infra{i}, https://127.0.0.{11 + i}:" in res.stdout


def test_client_certs_are_accepted(cluster):
    plan, endpoints, root = cluster
    wait_healthy(plan, endpoints, root)
    p = pki.paths(plan)
    assert etcdctl(plan, endpoints, p.apiserver_etcd_client, "put", "/k", "v").returncode == 0
    got = etcdctl(plan, endpoints, p.etcd_admin, "get", "/k", "--print-value-only")
    assert got.returncode == 0 and got.stdout.strip() == "v"


def test_a_cert_from_the_kubernetes_ca_is_refused(cluster):
    plan, endpoints, root = cluster
    wait_healthy(plan, endpoints, root)
    p = pki.paths(plan)
    first = endpoints.split(",")[0]  # one endpoint: a refusal costs one dial timeout, not three
    res = etcdctl(plan, first, p.admin, "get", "/k", timeout="1s")
    assert res.returncode != 0 and "bad certificate" in res.stderr
    # and a client that trusts the wrong CA refuses the members' server certs
    res = etcdctl(plan, first, p.etcd_admin, "get", "/k", ca=p.kubernetes_ca.cert, timeout="1s")
    assert res.returncode != 0 and "certificate signed by unknown authority" in res.stderr


def test_describe_the_cert_a_member_serves(cluster):
    """The health code's path: read the cert a member presents and compare it with the file."""
    import ssl

    from cryptography import x509

    plan, endpoints, root = cluster
    wait_healthy(plan, endpoints, root)
    p = pki.paths(plan)
    host, port = endpoints.split(",")[1].removeprefix("https://").rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=str(p.etcd_ca.cert))
    ctx.load_cert_chain(str(p.etcd_admin.cert), str(p.etcd_admin.key))
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname=host) as tls,  # checks the SAN 127.0.0.12
    ):
        der = tls.getpeercert(binary_form=True)
    served = pki.describe_certificate(x509.load_der_x509_certificate(der))
    on_disk = pki.describe_certificate(pki.load_certificate(p.etcd_server("infra1").cert))
    assert served == on_disk and served.common_name == "infra1"
    assert served.days_left() >= 364
