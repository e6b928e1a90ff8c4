"""The local half of certificate rotation: re-issuing leaves and swapping a CA, crash-safely.

Nothing here touches a node. `hawizard.ops.rotate` calls these between rolling restarts.

A CA rotation moves the local PKI through three states, each readable from the files alone,
so an interrupted run can always tell where it stopped:

1. `ca-next.pem`/`ca-next-key.pem` hold the new CA, `ca-trust.pem` holds old + new: members
   and clients are told to trust the bundle, `ca.pem` is still the old CA (it signs nothing
   new from here on);
2. the old pair is renamed `ca-retired-<serial>.pem`/`-key.pem` (kept, never deleted) and the
   new pair takes the `ca.pem`/`ca-key.pem` names; leaves are re-issued from it; clients
   still trust the bundle;
3. `ca-trust.pem` is removed: `ca.pem` (the new CA alone) is what everyone trusts.

`trusted_ca_file` is the one answer to "which file should a client of this CA trust now?",
for the rollouts and the health probes alike.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from hawizard.pki.inspection import chains_to, load_certificate
from hawizard.pki.issuing import Issuer, issue, make_ca
from hawizard.pki.keys import generate_key, load_private_key, private_pem, same_public_key
from hawizard.pki.layout import CertKey, Layout, paths, write_public, write_secret
from hawizard.pki.specs import CA, CertSpec, ca_specs
from hawizard.plan import Plan

__all__ = [
    "CaFiles",
    "ca_files",
    "issuer",
    "promote_next_ca",
    "reissue",
    "start_ca_rotation",
    "stop_trusting_old_ca",
    "trusted_ca_file",
    "trusted_ca_pem",
]


class CaFiles:
    """The files of one CA during a rotation (see the module docstring)."""

    def __init__(self, layout: Layout, ca: CA):
        folder = layout.etcd_dir if ca is CA.ETCD else layout.kubernetes_dir
        self.ca = ca
        self.current = layout.etcd_ca if ca is CA.ETCD else layout.kubernetes_ca
        self.next = CertKey(folder / "ca-next.pem", folder / "ca-next-key.pem")
        self.trust = folder / "ca-trust.pem"
        self.folder = folder

    def retired(self, serial: int) -> CertKey:
        stem = f"ca-retired-{serial:x}"
        return CertKey(self.folder / f"{stem}.pem", self.folder / f"{stem}-key.pem")

    def retired_pairs(self) -> list[Path]:
        return sorted(self.folder.glob("ca-retired-*.pem"))


def ca_files(plan: Plan, ca: CA) -> CaFiles:
    return CaFiles(paths(plan), ca)


def trusted_ca_file(plan: Plan, ca: CA = CA.ETCD) -> Path:
    """The bundle of old + new CA while a rotation is between its phases 1 and 3, else the CA."""
    files = ca_files(plan, ca)
    return files.trust if files.trust.exists() else files.current.cert


def trusted_ca_pem(plan: Plan, ca: CA = CA.ETCD) -> bytes:
    return trusted_ca_file(plan, ca).read_bytes()


def issuer(pair: CertKey) -> Issuer:
    return Issuer(load_certificate(pair.cert), load_private_key(pair.key))


# --- leaves -----------------------------------------------------------------------------------


def reissue(
    plan: Plan, spec: CertSpec, by: Issuer, now: dt.datetime | None = None
) -> x509.Certificate:
    """A new key and certificate for `spec` (same subject and SANs, from the spec), written
    key first: an interruption leaves a pair that fails the key check and is issued again."""
    key = generate_key(plan.pki.key)
    cert = issue(spec, key, by, plan.pki.cert_days, now)
    assert same_public_key(key, cert.public_key())
    write_secret(spec.paths.key, private_pem(key))
    write_public(spec.paths.cert, cert.public_bytes(Encoding.PEM))
    return cert


# --- the CA -----------------------------------------------------------------------------------


def start_ca_rotation(plan: Plan, ca: CA, now: dt.datetime | None = None) -> tuple[int, int]:
    """State 1: make the next CA (once) and the trust bundle; return (old, new) CA serials.

    Idempotent: a next CA that exists is kept, so a re-run never makes a third CA.
    """
    files = ca_files(plan, ca)
    old = load_certificate(files.current.cert)
    if not (files.next.cert.exists() and files.next.key.exists()):
        spec = ca_specs(plan, every=True)[ca]
        made = make_ca(spec, generate_key(plan.pki.key), plan.pki.ca_days, now)
        write_secret(files.next.key, private_pem(made.key))
        write_public(files.next.cert, made.cert.public_bytes(Encoding.PEM))
    new = load_certificate(files.next.cert)
    _write_bundle(files, old, new)
    return old.serial_number, new.serial_number


def _write_bundle(files: CaFiles, old: x509.Certificate, new: x509.Certificate) -> None:
    data = old.public_bytes(Encoding.PEM) + new.public_bytes(Encoding.PEM)
    if not files.trust.exists() or files.trust.read_bytes() != data:
        write_public(files.trust, data)


def promote_next_ca(plan: Plan, ca: CA, old_serial: int, new_serial: int) -> None:
    """State 2: the old pair renamed `ca-retired-<serial>`, the next pair renamed into place.

    Every move is a link or a rename, and each is skipped when already done, so a crash at
    any point is finished by calling this again. The old CA key is never deleted.
    """
    files = ca_files(plan, ca)
    retired = files.retired(old_serial)
    current_serial = load_certificate(files.current.cert).serial_number
    if current_serial == new_serial and not files.next.cert.exists():
        return  # done before
    if current_serial == old_serial:
        for src, dst in ((files.current.cert, retired.cert), (files.current.key, retired.key)):
            if not dst.exists() and src.exists():
                os.link(src, dst)
    if not retired.cert.exists() or not retired.key.exists():
        raise RuntimeError(
            f"cannot retire the old {ca} CA: {retired.cert.name} or its key is missing "
            f"(look in {files.folder})"
        )
    # key first, then cert: `ca-next.pem` present means "not finished", whatever the key says
    if files.next.key.exists():
        os.replace(files.next.key, files.current.key)
    if files.next.cert.exists():
        os.replace(files.next.cert, files.current.cert)
    cert = load_certificate(files.current.cert)
    key = load_private_key(files.current.key)
    if cert.serial_number != new_serial or not same_public_key(key, cert.public_key()):
        raise RuntimeError(f"the {ca} CA in {files.folder} is not the new CA after the swap")


def stop_trusting_old_ca(plan: Plan, ca: CA) -> None:
    """State 3: without the bundle, the new CA alone is trusted."""
    ca_files(plan, ca).trust.unlink(missing_ok=True)


def chains_to_current(plan: Plan, spec: CertSpec) -> bool:
    """Whether the leaf on disk was signed by the CA now in `ca.pem` (False if unreadable)."""
    try:
        cert = load_certificate(spec.paths.cert)
        key = load_private_key(spec.paths.key)
        ca_cert = load_certificate(ca_files(plan, spec.ca).current.cert)
    except (OSError, ValueError):
        return False
    return same_public_key(key, cert.public_key()) and chains_to(cert, ca_cert)
