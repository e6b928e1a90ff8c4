"""hawizard.pki checked with `cryptography`: subjects, SANs, usages, chains, modes, idempotence,
mismatches and renewals, CA import, every key type. (openssl's view: test_pki_openssl.py.)"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hawizard import pki
from hawizard.pki import Action, Status
from hawizard.plan import SSH, Cluster, KeyType, Node, PKISettings, Plan, Role

SERVER = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT = ExtendedKeyUsageOID.CLIENT_AUTH


def make_plan(root: Path, nodes: int = 3, key: KeyType = KeyType.ECDSA_P256, **pki_kw) -> Plan:
    members = tuple(Node(f"infra{i}", f"10.1.2.{11 + i}", ssh=SSH()) for i in range(nodes))
    return Plan(
        nodes=members,
        cluster=Cluster(name="prod", control_plane_endpoint="10.1.2.10:6443"),
        pki=PKISettings(dir=str(root / "pki"), key=key, **pki_kw),
    )


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def sans(cert: x509.Certificate) -> set[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return set(ext.get_values_for_type(x509.DNSName)) | {
        str(ip) for ip in ext.get_values_for_type(x509.IPAddress)
    }


def eku(cert: x509.Certificate) -> set:
    return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def snapshot(root: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file under root: bytes, mtime and mode — to prove a run changed nothing."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            st = p.stat()
            out[str(p.relative_to(root))] = (
                p.read_bytes(),
                st.st_mtime_ns,
                stat.S_IMODE(st.st_mode),
            )
    return out


def by_name(outcomes: list[pki.Outcome]) -> dict[str, pki.Outcome]:
    return {o.name: o for o in outcomes}


@pytest.fixture
def plan(tmp_path) -> Plan:
    return make_plan(tmp_path)


@pytest.fixture
def created(plan) -> Plan:
    outcomes = pki.create(plan)
    assert {o.action for o in outcomes} == {Action.CREATED}, outcomes
    return plan


# --- layout -----------------------------------------------------------------------------------


def test_layout_names_follow_the_seed_convention(plan):
    p = pki.paths(plan)
    root = plan.pki_dir
    assert p.etcd_ca == (root / "etcd/ca.pem", root / "etcd/ca-key.pem")
    cert, key = p.etcd_server("infra0")
    assert (cert, key) == (root / "etcd/server-infra0.pem", root / "etcd/server-infra0-key.pem")
    assert p.etcd_peer(plan.nodes[1]).cert == root / "etcd/peer-infra1.pem"
    assert p.etcd_admin.key == root / "etcd/etcd-admin-key.pem"
    assert p.apiserver_etcd_client.cert == root / "etcd/apiserver-etcd-client.pem"
    assert p.kubernetes_ca.key == root / "kubernetes/ca-key.pem"
    assert p.apiserver.cert == root / "kubernetes/apiserver.pem"
    assert p.admin.cert == root / "kubernetes/admin.pem"
    assert p.controller_manager.cert == root / "kubernetes/kube-controller-manager.pem"
    assert p.scheduler.key == root / "kubernetes/kube-scheduler-key.pem"
    assert p.sa_key == root / "kubernetes/sa.key"
    assert p.sa_pub == root / "kubernetes/sa.pub"
    assert p.encryption_config == root / "kubernetes/encryption-config.yaml"


def test_relative_pki_dir_resolves_next_to_the_plan(tmp_path):
    plan = replace(make_plan(tmp_path), pki=PKISettings(dir="pki"), source=tmp_path / "p.toml")
    assert pki.paths(plan).etcd_ca.cert == tmp_path / "pki/etcd/ca.pem"


# --- content ----------------------------------------------------------------------------------


def test_etcd_member_certs_have_exactly_the_member_sans(created):
    p = pki.paths(created)
    ca = load(p.etcd_ca.cert)
    for i, node in enumerate(created.etcd_nodes):
        expected = {f"infra{i}", f"10.1.2.{11 + i}", "localhost", "127.0.0.1", "::1"}
        for pair in (p.etcd_server(node), p.etcd_peer(node)):
            cert = load(pair.cert)
            assert sans(cert) == expected
            assert eku(cert) == {SERVER, CLIENT}
            assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == node.name
            cert.verify_directly_issued_by(ca)


def test_apiserver_sans(created):
    cert = load(pki.paths(created).apiserver.cert)
    assert sans(cert) == {
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "10.96.0.1",  # first IP of the default service CIDR 10.96.0.0/12
        "10.1.2.10",  # the control-plane endpoint (load balancer)
        "infra0",
        "infra1",
        "infra2",
        "10.1.2.11",
        "10.1.2.12",
        "10.1.2.13",
        "localhost",
        "127.0.0.1",
    }
    assert eku(cert) == {SERVER}
    cert.verify_directly_issued_by(load(pki.paths(created).kubernetes_ca.cert))


def test_apiserver_sans_follow_domain_cidr_and_dns_endpoint(tmp_path):
    base = make_plan(tmp_path, nodes=2)
    nodes = (base.nodes[0], replace(base.nodes[1], roles=(Role.ETCD,)))
    plan = replace(
        base,
        nodes=nodes,
        cluster=Cluster(control_plane_endpoint="api.example.org:443"),
        control_plane=replace(
            base.control_plane, service_cidr="10.32.0.0/16", cluster_domain="k8s.test"
        ),
    )
    pki.create(plan)
    got = sans(load(pki.paths(plan).apiserver.cert))
    assert {"kubernetes.default.svc.k8s.test", "10.32.0.1", "api.example.org"} <= got
    assert "infra1" not in got and "10.1.2.12" not in got  # etcd-only node
    assert "kubernetes.default.svc.cluster.local" not in got


def test_client_certs_subjects_and_usages(created):
    p = pki.paths(created)
    expected = {
        p.etcd_admin: ("etcd-admin", [], p.etcd_ca),
        p.apiserver_etcd_client: ("apiserver-etcd-client", [], p.etcd_ca),
        p.admin: ("admin", ["system:masters"], p.kubernetes_ca),
        p.controller_manager: ("system:kube-controller-manager", [], p.kubernetes_ca),
        p.scheduler: ("system:kube-scheduler", [], p.kubernetes_ca),
    }
    for pair, (cn, orgs, ca) in expected.items():
        cert = load(pair.cert)
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == cn
        assert [
            a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        ] == orgs
        assert eku(cert) == {CLIENT}
        assert sans(cert) == set()
        cert.verify_directly_issued_by(load(ca.cert))


def test_ca_extensions(created):
    for pair in (pki.paths(created).etcd_ca, pki.paths(created).kubernetes_ca):
        ca = load(pair.cert)
        bc = ca.extensions.get_extension_for_class(x509.BasicConstraints)
        assert bc.critical and bc.value.ca
        ku = ca.extensions.get_extension_for_class(x509.KeyUsage)
        assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
        assert ca.issuer == ca.subject
        ca.verify_directly_issued_by(ca)  # self-signed
        days = (ca.not_valid_after_utc - ca.not_valid_before_utc).days
        assert 3650 <= days <= 3651
    etcd, k8s = load(pki.paths(created).etcd_ca.cert), load(pki.paths(created).kubernetes_ca.cert)
    assert etcd.public_key() != k8s.public_key()  # two separate trust roots


def test_leaf_extensions_and_random_serials(created):
    serials = set()
    for spec in pki.leaf_specs(created):
        cert = load(spec.paths.cert)
        ca = load(pki.ca_specs(created)[spec.ca].paths.cert)
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        assert bc.critical and not bc.value.ca
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        assert ku.digital_signature and not ku.key_cert_sign and not ku.key_encipherment  # ECDSA
        ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        assert ski == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        assert aki.key_identifier == ca_ski.digest
        days = (cert.not_valid_after_utc - cert.not_valid_before_utc).days
        assert 365 <= days <= 366
        assert cert.serial_number.bit_length() > 64
        serials.add(cert.serial_number)
    assert len(serials) == len(pki.leaf_specs(created))


def test_every_private_key_matches_its_cert(created):
    for spec in [*pki.ca_specs(created).values(), *pki.leaf_specs(created)]:
        key = pki.load_private_key(spec.paths.key)
        assert key.public_key() == load(spec.paths.cert).public_key()
        assert spec.paths.key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_service_account_pair(created):
    p = pki.paths(created)
    key = serialization.load_pem_private_key(p.sa_key.read_bytes(), None)
    pub = serialization.load_pem_public_key(p.sa_pub.read_bytes())
    assert key.public_key() == pub
    assert isinstance(key, ec.EllipticCurvePrivateKey)


def test_encryption_config(created, tmp_path):
    import base64

    text = pki.paths(created).encryption_config.read_text()
    assert "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n" in text
    assert "      - secrets\n" in text
    assert text.index("- aescbc:") < text.index("- identity: {}")  # encrypt; read plain as fallback
    secret = next(ln.split(":", 1)[1].strip() for ln in text.splitlines() if "secret:" in ln)
    assert len(base64.b64decode(secret, validate=True)) == 32
    other = make_plan(tmp_path / "other")
    pki.create(other)
    assert pki.paths(other).encryption_config.read_text() != text  # a fresh random key each time


# --- modes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_modes_whatever_the_umask(tmp_path, umask):
    plan = make_plan(tmp_path, nodes=1)
    old = os.umask(umask)
    try:
        pki.create(plan)
    finally:
        os.umask(old)
    p = pki.paths(plan)
    for d in p.dirs:
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
    secrets = {p.sa_key, p.encryption_config}
    public = {p.sa_pub, p.root / ".gitignore"}  # the folder tells git to keep out
    for spec in [*pki.ca_specs(plan).values(), *pki.leaf_specs(plan)]:
        secrets.add(spec.paths.key)
        public.add(spec.paths.cert)
    for f in secrets:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    for f in public:
        assert stat.S_IMODE(f.stat().st_mode) == 0o644, f
    files = {f for f in plan.pki_dir.rglob("*") if f.is_file()}
    assert files == secrets | public  # no temporary file left behind


def test_loose_pki_dir_is_tightened(tmp_path):
    plan = make_plan(tmp_path, nodes=1)
    plan.pki_dir.mkdir(mode=0o755)
    plan.pki_dir.chmod(0o755)
    pki.create(plan)
    assert stat.S_IMODE(plan.pki_dir.stat().st_mode) == 0o700


def test_loose_key_mode_is_reported_and_fixed(created):
    key = pki.paths(created).etcd_server("infra0").key
    key.chmod(0o644)
    report = pki.check(created)
    assert report.certificate("etcd/server-infra0").status is Status.INSECURE
    assert not report.ok
    before = key.read_bytes()
    out = by_name(pki.create(created))["etcd/server-infra0"]
    assert out.action is Action.KEPT and "0644" in out.problems[0]
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and key.read_bytes() == before
    assert pki.check(created).ok


# --- idempotence and day 2 -----------------------------------------------------------------------


def test_second_create_changes_nothing(created):
    before = snapshot(created.pki_dir)
    outcomes = pki.create(created)
    assert {o.action for o in outcomes} == {Action.KEPT}
    assert all(o.status is Status.OK and not o.problems for o in outcomes)
    assert snapshot(created.pki_dir) == before
    assert pki.check(created).ok


def test_renew_on_a_healthy_pki_changes_nothing(created):
    before = snapshot(created.pki_dir)
    assert {o.action for o in pki.create(created, renew=True)} == {Action.KEPT}
    assert snapshot(created.pki_dir) == before


def test_new_member_gets_certs_from_the_existing_ca(created):
    before = snapshot(created.pki_dir)
    new = Node("infra3", "10.1.2.14", roles=(Role.ETCD,))
    bigger = created.with_nodes((*created.nodes, new))
    out = by_name(pki.create(bigger))
    assert out["etcd/server-infra3"].action is Action.CREATED
    assert out["etcd/peer-infra3"].action is Action.CREATED
    assert {o.action for n, o in out.items() if "infra3" not in n} == {Action.KEPT}
    after = snapshot(created.pki_dir)
    assert {k: v for k, v in after.items() if "infra3" not in k} == before
    ca = load(pki.paths(bigger).etcd_ca.cert)
    load(pki.paths(bigger).etcd_server("infra3").cert).verify_directly_issued_by(ca)
    assert pki.check(bigger).ok


def test_changed_address_is_reported_and_only_renew_reissues(created):
    nodes = list(created.nodes)
    nodes[1] = replace(nodes[1], address="10.1.2.99")
    moved = created.with_nodes(tuple(nodes))
    stale = {"etcd/server-infra1", "etcd/peer-infra1", "kubernetes/apiserver"}

    report = pki.check(moved)
    assert not report.ok and report.status is Status.MISMATCH
    bad = {r.spec.name for r in report.certificates if r.status is not Status.OK}
    assert bad == stale
    apiserver = report.certificate("kubernetes/apiserver")
    assert apiserver.sans_match is False and apiserver.chains_to_ca is True
    assert any("missing 10.1.2.99" in p and "unexpected 10.1.2.12" in p for p in apiserver.problems)

    before = snapshot(created.pki_dir)
    out = by_name(pki.create(moved))
    assert {n for n, o in out.items() if o.action is Action.REPORTED} == stale
    assert all(out[n].status is Status.MISMATCH and out[n].is_failure for n in stale)
    assert snapshot(created.pki_dir) == before  # reported, not touched

    out = by_name(pki.create(moved, renew=True))
    assert {n for n, o in out.items() if o.action is Action.RENEWED} == stale
    assert {o.action for n, o in out.items() if n not in stale} == {Action.KEPT}
    after = snapshot(created.pki_dir)
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {
        "etcd/server-infra1.pem",
        "etcd/server-infra1-key.pem",
        "etcd/peer-infra1.pem",
        "etcd/peer-infra1-key.pem",
        "kubernetes/apiserver.pem",
        "kubernetes/apiserver-key.pem",
    }
    assert "10.1.2.99" in sans(load(pki.paths(moved).etcd_peer("infra1").cert))
    assert pki.check(moved).ok


def test_expired_and_expiring_certs(tmp_path):
    plan = make_plan(tmp_path, nodes=1, cert_days=30)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    pki.create(plan, now=past)  # leaves: 30 days from 40 days ago
    report = pki.check(plan)
    assert report.certificate("etcd/server-infra0").status is Status.EXPIRED
    assert report.certificate("etcd/ca").status is Status.OK
    assert not report.ok
    out = by_name(pki.create(plan))
    assert out["kubernetes/admin"].action is Action.REPORTED
    assert out["kubernetes/admin"].status is Status.EXPIRED
    out = by_name(pki.create(plan, renew=True))
    assert out["kubernetes/admin"].action is Action.RENEWED
    assert pki.check(plan).ok


def test_expiring_certs_are_a_warning_renewed_on_request(tmp_path):
    plan = make_plan(tmp_path, nodes=1, cert_days=30)
    soon = dt.datetime.now(dt.UTC) - dt.timedelta(days=25)  # 5 days left of 30: < 30 // 3
    pki.create(plan, now=soon)
    report = pki.check(plan)
    admin = report.certificate("kubernetes/admin")
    assert admin.status is Status.EXPIRING and "expires in 4 days" in admin.problems[0]
    assert report.certificate("kubernetes/ca").status is Status.OK
    assert report.ok  # expiring is a warning, not a failure
    out = by_name(pki.create(plan))["kubernetes/admin"]
    assert out.action is Action.REPORTED and not out.is_failure
    out = by_name(pki.create(plan, renew=True))
    assert out["kubernetes/admin"].action is Action.RENEWED
    assert out["kubernetes/ca"].action is Action.KEPT
    assert pki.check(plan).certificate("kubernetes/admin").status is Status.OK


def test_leaf_never_outlives_its_ca(tmp_path):
    plan = make_plan(tmp_path, nodes=1, ca_days=10, cert_days=365)
    pki.create(plan)
    ca = load(pki.paths(plan).etcd_ca.cert)
    leaf = load(pki.paths(plan).etcd_admin.cert)
    assert leaf.not_valid_after_utc == ca.not_valid_after_utc


def test_cert_signed_by_another_ca_is_untrusted(created, tmp_path):
    other = make_plan(tmp_path / "other")
    pki.create(other)
    theirs, ours = pki.paths(other), pki.paths(created)
    for src, dst in ((theirs.admin, ours.admin), (theirs.etcd_admin, ours.etcd_admin)):
        shutil.copy(src.cert, dst.cert)
        shutil.copy(src.key, dst.key)
    report = pki.check(created)
    for name in ("kubernetes/admin", "etcd/etcd-admin"):
        r = report.certificate(name)
        assert r.status is Status.UNTRUSTED and r.chains_to_ca is False
    assert by_name(pki.create(created))["kubernetes/admin"].action is Action.REPORTED
    assert by_name(pki.create(created, renew=True))["kubernetes/admin"].action is Action.RENEWED
    assert pki.check(created).ok


def test_key_that_does_not_match_is_broken(created):
    p = pki.paths(created)
    shutil.copy(p.etcd_peer("infra0").key, p.etcd_server("infra0").key)
    r = pki.check(created).certificate("etcd/server-infra0")
    assert r.status is Status.BROKEN and "does not match" in r.problems[0]
    p.etcd_admin.key.unlink()
    assert pki.check(created).certificate("etcd/etcd-admin").status is Status.BROKEN
    p.admin.cert.write_text("not a certificate\n")
    assert pki.check(created).certificate("kubernetes/admin").status is Status.BROKEN
    out = by_name(pki.create(created, renew=True))
    assert {
        out[n].action for n in ("etcd/server-infra0", "etcd/etcd-admin", "kubernetes/admin")
    } == {Action.RENEWED}
    assert pki.check(created).ok


def test_missing_cert_is_issued_without_renew(created):
    p = pki.paths(created)
    p.scheduler.cert.unlink()
    assert pki.check(created).certificate("kubernetes/kube-scheduler").status is Status.MISSING
    assert by_name(pki.create(created))["kubernetes/kube-scheduler"].action is Action.CREATED
    assert pki.check(created).ok


def test_check_on_an_empty_dir_reports_everything_missing(plan):
    report = pki.check(plan)
    assert report.status is Status.MISSING
    assert {r.status for r in report.certificates} == {Status.MISSING}
    assert {f.status for f in report.files} == {Status.MISSING}
    assert not plan.pki_dir.exists()  # check never writes


def test_changed_key_type_is_a_mismatch(created):
    rsa_plan = replace(created, pki=replace(created.pki, key=KeyType.RSA_2048))
    report = pki.check(rsa_plan)
    r = report.certificate("etcd/etcd-admin")
    assert r.status is Status.MISMATCH and "rsa-2048" in r.problems[0]
    assert report.certificate("etcd/ca").status is Status.OK  # CAs are not held to the plan
    pki.create(rsa_plan, renew=True)
    assert isinstance(load(pki.paths(rsa_plan).etcd_admin.cert).public_key(), rsa.RSAPublicKey)
    # the CA stays ECDSA and still signs the RSA leaves
    assert pki.check(rsa_plan).ok


# --- the CA is never regenerated; importing one ----------------------------------------------


def test_broken_ca_is_reported_never_regenerated(created):
    p = pki.paths(created)
    other = pki.load_private_key(p.kubernetes_ca.key)
    p.etcd_ca.key.write_bytes(
        other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    p.etcd_admin.cert.unlink()
    ca_before = (p.etcd_ca.cert.read_bytes(), p.etcd_ca.key.read_bytes())
    for renew in (False, True):
        out = by_name(pki.create(created, renew=renew))
        assert out["etcd/ca"].action is Action.REPORTED and out["etcd/ca"].status is Status.BROKEN
        assert out["etcd/etcd-admin"].action is Action.FAILED
        assert "etcd CA is unusable" in out["etcd/etcd-admin"].problems[-1]
        assert out["kubernetes/admin"].action is Action.KEPT
        # leaves it signed earlier still chain to the CA cert and are kept as they are
        assert out["etcd/server-infra0"].action is Action.KEPT
        assert out["etcd/server-infra0"].status is Status.OK
        assert (p.etcd_ca.cert.read_bytes(), p.etcd_ca.key.read_bytes()) == ca_before
        assert not p.etcd_admin.cert.exists()


def test_ca_key_without_cert_is_not_overwritten(plan):
    p = pki.paths(plan)
    p.etcd_dir.mkdir(parents=True)
    p.etcd_ca.key.write_bytes(b"operator's key\n")
    out = by_name(pki.create(plan))
    assert out["etcd/ca"].action is Action.FAILED
    assert "ca.pem" in out["etcd/ca"].problems[0]
    assert out["etcd/server-infra0"].action is Action.FAILED
    assert out["kubernetes/ca"].action is Action.CREATED
    assert p.etcd_ca.key.read_bytes() == b"operator's key\n"


def _operator_ca(pair: pki.CertKey, cn: str) -> x509.Certificate:
    """A CA made outside hawizard: RSA, no SKI extension, different subject and validity."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=100))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pair.cert.parent.mkdir(parents=True, exist_ok=True)
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(pair.key, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,  # "RSA PRIVATE KEY", not PKCS#8
                serialization.NoEncryption(),
            )
        )
    return cert


def test_imported_ca_is_kept_and_signs_everything(plan):
    p = pki.paths(plan)
    imported = _operator_ca(p.etcd_ca, "Operator etcd CA")
    ca_files = (p.etcd_ca.cert.read_bytes(), p.etcd_ca.key.read_bytes())
    out = by_name(pki.create(plan))
    assert out["etcd/ca"].action is Action.KEPT
    assert out["kubernetes/ca"].action is Action.CREATED
    assert (p.etcd_ca.cert.read_bytes(), p.etcd_ca.key.read_bytes()) == ca_files
    for spec in pki.leaf_specs(plan):
        if spec.ca is pki.CA.ETCD:
            leaf = load(spec.paths.cert)
            leaf.verify_directly_issued_by(imported)
            assert leaf.issuer.rfc4514_string() == "CN=Operator etcd CA"
            assert leaf.not_valid_after_utc <= imported.not_valid_after_utc  # capped at the CA
            assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)  # plan's key type
    report = pki.check(plan)
    assert report.ok, [(r.spec.name, r.problems) for r in report.certificates if r.problems]
    assert report.certificate("etcd/ca").info.key_type == "rsa-2048"


def test_imported_non_ca_cert_is_refused(plan):
    p = pki.paths(plan)
    _operator_ca(p.kubernetes_ca, "not really a CA")
    # swap in a leaf: same key, basicConstraints CA:FALSE
    key = pki.load_private_key(p.kubernetes_ca.key)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leaf")])
    now = dt.datetime.now(dt.UTC)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    p.kubernetes_ca.cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    out = by_name(pki.create(plan))
    assert out["kubernetes/ca"].status is Status.BROKEN
    assert out["kubernetes/apiserver"].action is Action.FAILED
    assert out["etcd/ca"].action is Action.CREATED


# --- key types --------------------------------------------------------------------------------

KEY_CLASSES = {
    KeyType.ECDSA_P256: (ec.EllipticCurvePublicKey, 256, hashes.SHA256),
    KeyType.ECDSA_P384: (ec.EllipticCurvePublicKey, 384, hashes.SHA384),
    KeyType.RSA_2048: (rsa.RSAPublicKey, 2048, hashes.SHA256),
    KeyType.RSA_4096: (rsa.RSAPublicKey, 4096, hashes.SHA256),
}


@pytest.mark.parametrize("key_type", list(KeyType))
def test_every_key_type(tmp_path, key_type):
    plan = make_plan(tmp_path, nodes=1, key=key_type)
    pki.create(plan)
    cls, size, digest = KEY_CLASSES[key_type]
    is_rsa = cls is rsa.RSAPublicKey
    for spec in [*pki.ca_specs(plan).values(), *pki.leaf_specs(plan)]:
        cert = load(spec.paths.cert)
        public = cert.public_key()
        assert isinstance(public, cls) and public.key_size == size
        assert isinstance(cert.signature_hash_algorithm, digest)
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not spec.is_ca:
            assert ku.key_encipherment is is_rsa  # RSA key exchange needs keyEncipherment
    sa_pub = serialization.load_pem_public_key(pki.paths(plan).sa_pub.read_bytes())
    assert isinstance(sa_pub, cls) and sa_pub.key_size == size
    report = pki.check(plan)
    assert report.ok
    assert {r.info.key_type for r in report.certificates} == {key_type.value}


# --- inspection helpers -------------------------------------------------------------------------


def test_describe_certificate(created):
    cert = load(pki.paths(created).etcd_server("infra2").cert)
    info = pki.describe_certificate(cert)
    assert info.common_name == "infra2" and info.subject == "CN=infra2"
    assert info.issuer == "CN=etcd-ca,O=prod"
    assert info.dns_names == ("infra2", "localhost")
    assert set(info.ip_addresses) == {"10.1.2.13", "127.0.0.1", "::1"}
    assert {ipaddress.ip_address(i) for i in info.ip_addresses} == {
        ipaddress.ip_address(a) for a in ("10.1.2.13", "127.0.0.1", "::1")
    }
    assert info.fingerprint_sha256 == cert.fingerprint(hashes.SHA256()).hex(":").upper()
    assert info.key_type == "ecdsa-p256" and not info.is_ca
    assert info.extended_key_usage == ("serverAuth", "clientAuth")
    assert info.key_usage == ("digitalSignature",)
    assert 364 <= info.days_left() <= 365
    assert info.days_left(info.not_after + dt.timedelta(days=2)) == -2
    assert pki.chains_to(cert, load(pki.paths(created).etcd_ca.cert))
    assert not pki.chains_to(cert, load(pki.paths(created).kubernetes_ca.cert))


def test_report_as_dict_is_stable_and_has_no_key_material(created):
    import json

    data = pki.report_as_dict(pki.check(created))
    text = json.dumps(data)
    assert "PRIVATE" not in text
    assert data["ok"] is True and data["status"] == "ok"
    assert [c["name"] for c in data["certificates"]][:3] == [
        "etcd/ca",
        "kubernetes/ca",
        "etcd/server-infra0",
    ]
    keys = set(data["certificates"][0])
    assert all(set(c) == keys for c in data["certificates"])
    server = data["certificates"][2]
    assert server["chains_to_ca"] is True and server["sans_match"] is True
    assert server["extended_key_usage"] == ["serverAuth", "clientAuth"]
    assert set(server["sans"]) == set(server["expected_sans"])
    assert [f["name"] for f in data["files"]] == ["kubernetes/sa", "kubernetes/encryption-config"]


# --- secrets that are never rotated --------------------------------------------------------------


def test_encryption_config_is_never_regenerated(created):
    path = pki.paths(created).encryption_config
    path.write_text("kind: EncryptionConfiguration\nproviders:\n  - identity: {}\n")
    path.chmod(0o600)
    for renew in (False, True):
        out = by_name(pki.create(created, renew=renew))["kubernetes/encryption-config"]
        assert out.action is Action.REPORTED and out.status is Status.BROKEN
        assert "never regenerated" in out.problems[-1]
    assert "identity" in path.read_text() and "aescbc" not in path.read_text()


def test_sa_pub_is_derived_again_only_with_renew(created):
    p = pki.paths(created)
    key_before = p.sa_key.read_bytes()
    pub_before = p.sa_pub.read_bytes()
    p.sa_pub.unlink()
    assert by_name(pki.create(created))["kubernetes/sa"].action is Action.REPORTED
    assert not p.sa_pub.exists()
    assert by_name(pki.create(created, renew=True))["kubernetes/sa"].action is Action.RENEWED
    assert p.sa_pub.read_bytes() == pub_before and p.sa_key.read_bytes() == key_before
    assert stat.S_IMODE(p.sa_pub.stat().st_mode) == 0o644


def test_etcd_only_plan_makes_no_kubernetes_certificates_or_keys(tmp_path: Path) -> None:
    plan = make_plan(tmp_path)
    plan = replace(plan, nodes=tuple(replace(n, roles=(Role.ETCD,)) for n in plan.nodes))
    outcomes = pki.create(plan)
    assert outcomes and all(o.action is Action.CREATED for o in outcomes)
    names = {o.name for o in outcomes}
    assert "etcd/ca" in names and "etcd/etcd-admin" in names
    assert not any(n.startswith("kubernetes/") for n in names)
    layout = pki.paths(plan)
    for path in (layout.kubernetes_ca.cert, layout.admin.cert, layout.sa_key):
        assert not path.exists()
    assert not layout.encryption_config.exists()
    report = pki.check(plan)
    assert report.files == () and all(r.status is Status.OK for r in report.certificates)
    # Adding a master later makes them, and keeps the etcd files as they are.
    before = snapshot(tmp_path)
    with_master = replace(
        plan, nodes=(*plan.nodes[:2], replace(plan.nodes[2], roles=(Role.CONTROL_PLANE,)))
    )
    made = {o.name for o in pki.create(with_master) if o.action is Action.CREATED}
    assert "kubernetes/ca" in made and "kubernetes/apiserver" in made
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if k in before and "etcd" in k} == {
        k: v for k, v in before.items() if "etcd" in k
    }
