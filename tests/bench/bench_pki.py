"""Benchmark: the full PKI of a 5-node plan, made by hawizard and by the openssl CLI.

Run it as a script (it is not a timed test): `python tests/bench/bench_pki.py [--repeat N]`.

The openssl side is the old manual procedure, one `genrsa`, `req` and `x509` process per
certificate, with the same set of files: 2 CAs, a server and a peer cert per etcd member, the
etcd clients, the apiserver and the three Kubernetes clients, plus the service-account pair and
the encryption key. Both sides use RSA 2048 for a fair comparison; hawizard's default ECDSA P-256
is timed as well. Each variant runs `--repeat` times; the median is reported.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from hawizard import pki
from hawizard.plan import Cluster, KeyType, Node, PKISettings, Plan

NODES = 5


def make_plan(root: Path, key: KeyType) -> Plan:
    nodes = tuple(Node(f"infra{i}", f"10.1.2.{11 + i}") for i in range(NODES))
    return Plan(
        nodes=nodes,
        cluster=Cluster(name="bench", control_plane_endpoint="10.1.2.10:6443"),
        pki=PKISettings(dir=str(root / "pki"), key=key),
    )


def with_hawizard(root: Path, key: KeyType) -> int:
    outcomes = pki.create(make_plan(root, key))
    assert all(o.action is pki.Action.CREATED for o in outcomes), outcomes
    return sum(
        1 for o in outcomes if o.name not in ("kubernetes/sa", "kubernetes/encryption-config")
    )


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=120)


def with_openssl(root: Path) -> int:
    """The same set of files, made the manual way: three openssl processes per certificate."""
    plan = make_plan(root, KeyType.RSA_2048)
    layout = pki.paths(plan)
    for d in layout.dirs:
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
    cas = pki.ca_specs(plan)
    for spec in cas.values():
        cert, key = spec.paths
        _openssl("genrsa", "-out", str(key), "2048")
        _openssl(
            "req", "-x509", "-new", "-key", str(key), "-subj", f"/CN={spec.common_name}",
            "-days", str(plan.pki.ca_days), "-out", str(cert),
        )  # fmt: skip
    leaves = pki.leaf_specs(plan)
    for spec in leaves:
        cert, key = spec.paths
        csr = cert.with_suffix(".csr")
        ext = cert.with_suffix(".ext")
        lines = [
            "basicConstraints=critical,CA:FALSE",
            "keyUsage=critical,digitalSignature,keyEncipherment",
            "extendedKeyUsage=" + ",".join(sorted(u.value for u in spec.usages)),
        ]
        if spec.sans:
            alt = [f"DNS:{d}" for d in spec.dns_names] + [f"IP:{ip}" for ip in spec.ip_addresses]
            lines.append("subjectAltName=" + ",".join(alt))
        ext.write_text("\n".join(lines) + "\n")
        subject = "".join(f"/O={o}" for o in spec.organizations) + f"/CN={spec.common_name}"
        ca_cert, ca_key = cas[spec.ca].paths
        _openssl("genrsa", "-out", str(key), "2048")
        _openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr))
        _openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
            "-CAcreateserial", "-days", str(plan.pki.cert_days), "-extfile", str(ext),
            "-out", str(cert),
        )  # fmt: skip
    _openssl("genrsa", "-out", str(layout.sa_key), "2048")
    _openssl("rsa", "-in", str(layout.sa_key), "-pubout", "-out", str(layout.sa_pub))
    _openssl("rand", "-base64", "-out", str(layout.kubernetes_dir / "aescbc.key"), "32")
    return len(cas) + len(leaves)


def median_time(fn: Callable[[Path], int], repeat: int) -> tuple[float, int]:
    times: list[float] = []
    count = 0
    for _ in range(repeat):
        root = Path(tempfile.mkdtemp(prefix="bench-pki-"))
        try:
            start = time.perf_counter()
            count = fn(root)
            times.append(time.perf_counter() - start)
        finally:
            shutil.rmtree(root)
    return statistics.median(times), count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant (median)")
    args = parser.parse_args(argv)
    if shutil.which("openssl") is None:
        print("the openssl CLI is needed for the comparison", file=sys.stderr)
        return 2
    version = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout
    print(f"full PKI for a {NODES}-node plan, median of {args.repeat} run(s); {version.strip()}")
    openssl_s, n_openssl = median_time(with_openssl, args.repeat)
    rsa_s, n_rsa = median_time(lambda r: with_hawizard(r, KeyType.RSA_2048), args.repeat)
    ec_s, n_ec = median_time(lambda r: with_hawizard(r, KeyType.ECDSA_P256), args.repeat)
    assert n_openssl == n_rsa == n_ec, (n_openssl, n_rsa, n_ec)
    print(f"  certificates per run: {n_rsa} (+ service-account pair, encryption key)")
    print(f"  openssl CLI, rsa-2048      {openssl_s:8.3f} s")
    for label, seconds in (("rsa-2048", rsa_s), ("ecdsa-p256", ec_s)):
        ratio = openssl_s / seconds
        print(f"  hawizard,    {label:<13} {seconds:8.3f} s   openssl/hawizard = {ratio:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
