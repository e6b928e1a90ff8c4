"""hawizard's certificates as the openssl CLI sees them: `openssl verify` (chain and purpose),
`openssl x509 -text` (SANs, usages, constraints), `openssl pkey` (keys), and a CA imported from
`openssl req -x509`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hawizard import pki
from hawizard.pki import Action
from hawizard.plan import Cluster, KeyType, Node, PKISettings, Plan

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")

SERVER_CLIENT = "TLS Web Server Authentication, TLS Web Client Authentication"


def openssl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *args], capture_output=True, text=True, timeout=30, check=check
    )


def extensions(cert: Path) -> dict[str, str]:
    """`openssl x509 -noout -ext …` as {"X509v3 Subject Alternative Name": "DNS:a, …", …};
    a `critical` marker is kept in the value as "critical; …"."""
    names = "subjectAltName,extendedKeyUsage,keyUsage,basicConstraints"
    out = openssl("x509", "-noout", "-ext", names, "-in", str(cert)).stdout
    result: dict[str, str] = {}
    current = ""
    for line in out.splitlines():
        if not line.startswith(" "):
            header, _, flag = line.partition(":")
            current = header.strip()
            result[current] = "critical; " if "critical" in flag else ""
        else:
            result[current] += line.strip()
    return result


def make_plan(root: Path, key: KeyType) -> Plan:
    nodes = tuple(Node(f"infra{i}", f"10.1.2.{11 + i}") for i in range(3))
    return Plan(
        nodes=nodes,
        cluster=Cluster(name="prod", control_plane_endpoint="10.1.2.10:6443"),
        pki=PKISettings(dir=str(root / "pki"), key=key),
    )


@pytest.fixture(scope="module", params=[KeyType.ECDSA_P256, KeyType.ECDSA_P384, KeyType.RSA_2048])
def plan(request, tmp_path_factory) -> Plan:
    plan = make_plan(tmp_path_factory.mktemp(request.param.value), request.param)
    pki.create(plan)
    return plan


def ca_file(plan: Plan, spec: pki.CertSpec) -> str:
    return str(pki.ca_specs(plan)[spec.ca].paths.cert)


def test_openssl_verifies_every_leaf_for_its_purposes(plan):
    for spec in pki.leaf_specs(plan):
        for purpose, usage in (("sslserver", pki.Usage.SERVER), ("sslclient", pki.Usage.CLIENT)):
            args = ["verify", "-purpose", purpose, "-CAfile", ca_file(plan, spec)]
            res = openssl(*args, str(spec.paths.cert), check=False)
            if usage in spec.usages:
                assert res.returncode == 0 and res.stdout.strip().endswith(": OK"), (spec.name, res)
            else:
                assert res.returncode != 0 and "unsuitable certificate purpose" in res.stderr


def test_openssl_rejects_the_other_ca(plan):
    p = pki.paths(plan)
    res = openssl(
        "verify", "-CAfile", str(p.kubernetes_ca.cert), str(p.etcd_admin.cert), check=False
    )
    assert res.returncode != 0
    res = openssl("verify", "-CAfile", str(p.etcd_ca.cert), str(p.apiserver.cert), check=False)
    assert res.returncode != 0


def test_openssl_sees_the_etcd_member_sans_and_usages(plan):
    p = pki.paths(plan)
    for i, node in enumerate(plan.etcd_nodes):
        for pair in (p.etcd_server(node), p.etcd_peer(node)):
            ext = extensions(pair.cert)
            assert ext["X509v3 Subject Alternative Name"] == (
                f"DNS:{node.name}, DNS:localhost, IP Address:10.1.2.{11 + i}, "
                "IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"
            )
            assert ext["X509v3 Extended Key Usage"] == SERVER_CLIENT
            assert ext["X509v3 Basic Constraints"] == "critical; CA:FALSE"
            subject = openssl(
                "x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", str(pair.cert)
            )
            assert subject.stdout.strip() == f"subject=CN={node.name}"


def test_openssl_sees_the_apiserver_sans(plan):
    ext = extensions(pki.paths(plan).apiserver.cert)
    sans = set(ext["X509v3 Subject Alternative Name"].split(", "))
    assert sans == {
        "DNS:kubernetes",
        "DNS:kubernetes.default",
        "DNS:kubernetes.default.svc",
        "DNS:kubernetes.default.svc.cluster.local",
        "DNS:infra0",
        "DNS:infra1",
        "DNS:infra2",
        "DNS:localhost",
        "IP Address:10.96.0.1",
        "IP Address:10.1.2.10",
        "IP Address:10.1.2.11",
        "IP Address:10.1.2.12",
        "IP Address:10.1.2.13",
        "IP Address:127.0.0.1",
    }
    assert ext["X509v3 Extended Key Usage"] == "TLS Web Server Authentication"


def test_openssl_sees_client_subjects(plan):
    p = pki.paths(plan)
    expected = {
        p.etcd_admin: "CN=etcd-admin",
        p.apiserver_etcd_client: "CN=apiserver-etcd-client",
        p.admin: "CN=admin,O=system:masters",
        p.controller_manager: "CN=system:kube-controller-manager",
        p.scheduler: "CN=system:kube-scheduler",
    }
    for pair, subject in expected.items():
        out = openssl("x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", str(pair.cert))
        assert out.stdout.strip() == f"subject={subject}"
        ext = extensions(pair.cert)
        assert ext["X509v3 Extended Key Usage"] == "TLS Web Client Authentication"
        assert "X509v3 Subject Alternative Name" not in ext


def test_openssl_sees_ca_constraints_and_key_usage(plan):
    rsa = plan.pki.key.value.startswith("rsa")
    for pair in (pki.paths(plan).etcd_ca, pki.paths(plan).kubernetes_ca):
        ext = extensions(pair.cert)
        assert ext["X509v3 Basic Constraints"] == "critical; CA:TRUE"
        assert "Certificate Sign, CRL Sign" in ext["X509v3 Key Usage"]
        assert openssl("verify", "-CAfile", str(pair.cert), str(pair.cert)).returncode == 0
    leaf = extensions(pki.paths(plan).etcd_admin.cert)["X509v3 Key Usage"]
    expected = "Digital Signature, Key Encipherment" if rsa else "Digital Signature"
    assert leaf == f"critical; {expected}"


def test_openssl_reads_every_key_and_it_matches_its_cert(plan):
    for spec in [*pki.ca_specs(plan).values(), *pki.leaf_specs(plan)]:
        from_key = openssl("pkey", "-in", str(spec.paths.key), "-pubout").stdout
        from_cert = openssl("x509", "-in", str(spec.paths.cert), "-noout", "-pubkey").stdout
        assert from_key == from_cert, spec.name
    p = pki.paths(plan)
    from_sa_key = openssl("pkey", "-in", str(p.sa_key), "-pubout").stdout
    assert from_sa_key == p.sa_pub.read_text()


def test_openssl_text_dump_and_validity(plan):
    text = openssl("x509", "-noout", "-text", "-in", str(pki.paths(plan).apiserver.cert)).stdout
    assert "Subject Key Identifier" in text and "Authority Key Identifier" in text
    assert (
        openssl(
            "x509", "-noout", "-checkend", "0", "-in", str(pki.paths(plan).admin.cert)
        ).returncode
        == 0
    )
    # not valid for the full CA lifetime: expires within 366 days
    res = openssl(
        "x509",
        "-noout",
        "-checkend",
        str(366 * 86400),
        "-in",
        str(pki.paths(plan).admin.cert),
        check=False,
    )
    assert res.returncode == 1


def test_ca_imported_from_openssl_req(tmp_path):
    plan = make_plan(tmp_path, KeyType.ECDSA_P256)
    p = pki.paths(plan)
    p.etcd_dir.mkdir(parents=True)
    old = os.umask(0o077)
    try:
        openssl(
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/O=Example/CN=Operator CA",
            "-days",
            "30",
            "-keyout",
            str(p.etcd_ca.key),
            "-out",
            str(p.etcd_ca.cert),
        )
    finally:
        os.umask(old)
    before = (p.etcd_ca.cert.read_bytes(), p.etcd_ca.key.read_bytes())
    outcomes = {o.name: o for o in pki.create(plan)}
    assert outcomes["etcd/ca"].action is Action.KEPT
    assert (p.etcd_ca.cert.read_bytes(), p.etcd_ca.key.read_bytes()) == before
    for spec in pki.leaf_specs(plan):
        if spec.ca is pki.CA.ETCD:
            res = openssl("verify", "-CAfile", str(p.etcd_ca.cert), str(spec.paths.cert))
            assert res.stdout.strip().endswith(": OK")
            issuer = openssl(
                "x509", "-noout", "-issuer", "-nameopt", "RFC2253", "-in", str(spec.paths.cert)
            )
            assert issuer.stdout.strip() == "issuer=CN=Operator CA,O=Example"
    assert pki.check(plan).ok
