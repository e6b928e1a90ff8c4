"""Read certificates back and judge them against the plan.

`describe_certificate` turns any certificate (from disk, or served by a member over TLS) into a
plain `CertInfo`; `inspect_cert` compares one on disk with its `CertSpec` and its CA and says
what, if anything, is wrong. `create` and `certs check` both decide from these reports.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes

from hawizard.localfs import read_regular_bytes
from hawizard.pki.keys import key_type_name, load_private_key, same_public_key
from hawizard.pki.layout import SECRET_MODE, mode_of
from hawizard.pki.specs import USAGE_BY_OID, CertSpec

# A cert with fewer days left than this (or than a third of its planned life, if shorter)
# shows as `expiring`: still valid, renewed by `--renew`.
RENEW_BEFORE_DAYS = 30


class Status(StrEnum):
    """Worst first; a report's status is its worst finding."""

    MISSING = "missing"
    BROKEN = "broken"
    UNTRUSTED = "untrusted"
    EXPIRED = "expired"
    MISMATCH = "mismatch"
    INSECURE = "insecure"
    EXPIRING = "expiring"
    OK = "ok"

    @property
    def is_failure(self) -> bool:
        """Everything but `ok` and `expiring` makes `certs check` exit 1."""
        return self not in (Status.OK, Status.EXPIRING)


_ORDER = list(Status)


def worst(statuses: list[Status]) -> Status:
    return min(statuses, key=_ORDER.index, default=Status.OK)


@dataclass(frozen=True)
class CertInfo:
    """What a certificate says about itself; no judgement, no key material."""

    subject: str
    common_name: str
    organizations: tuple[str, ...]
    issuer: str
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    serial: int
    not_before: dt.datetime
    not_after: dt.datetime
    fingerprint_sha256: str
    key_type: str
    is_ca: bool
    key_usage: tuple[str, ...]
    extended_key_usage: tuple[str, ...]

    @property
    def sans(self) -> tuple[str, ...]:
        return (*self.dns_names, *self.ip_addresses)

    def time_left(self, now: dt.datetime | None = None) -> dt.timedelta:
        return self.not_after - (now or dt.datetime.now(dt.UTC))

    def days_left(self, now: dt.datetime | None = None) -> int:
        """Whole days until expiry; negative once expired."""
        return self.time_left(now).days


def describe_certificate(cert: x509.Certificate) -> CertInfo:
    """Summarize any certificate, e.g. one a member presents in its TLS handshake."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        dns, ips = (), ()
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    return CertInfo(
        subject=cert.subject.rfc4514_string(),
        common_name=_attr(cert.subject, x509.NameOID.COMMON_NAME),
        organizations=tuple(
            str(a.value)
            for a in cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
        ),
        issuer=cert.issuer.rfc4514_string(),
        dns_names=dns,
        ip_addresses=ips,
        serial=cert.serial_number,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(":").upper(),
        key_type=key_type_name(cert.public_key()),  # type: ignore[arg-type]
        is_ca=is_ca,
        key_usage=_key_usage(cert),
        extended_key_usage=_extended_key_usage(cert),
    )


def load_certificate(path: Path) -> x509.Certificate:
    """The first certificate of a PEM file; ValueError if there is none."""
    try:
        return x509.load_pem_x509_certificate(read_regular_bytes(path))
    except ValueError as exc:
        raise ValueError(f"{path.name} is not a PEM certificate") from exc


def ca_certificate(spec: CertSpec) -> x509.Certificate | None:
    """The CA cert to verify leaves against, even if the CA has other problems (e.g. no key)."""
    try:
        return load_certificate(spec.paths.cert)
    except (OSError, ValueError):
        return None


def chains_to(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """True when `ca` issued `cert`: issuer name matches and the signature verifies."""
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


@dataclass
class CertReport:
    """One certificate on disk, judged against its spec and its CA."""

    spec: CertSpec
    status: Status = Status.OK
    problems: list[str] = field(default_factory=list)
    info: CertInfo | None = None
    chains_to_ca: bool | None = None  # None: not checked (no cert, or no CA to check against)
    sans_match: bool | None = None

    def add(self, status: Status, problem: str) -> None:
        self.problems.append(problem)
        self.status = worst([self.status, status])


def inspect_cert(
    spec: CertSpec,
    ca_cert: x509.Certificate | None,
    key_type: str | None,
    now: dt.datetime | None = None,
    planned_days: int | None = None,
) -> CertReport:
    """Judge the cert at `spec.paths`; for a leaf, `ca_cert` is its CA (None if unreadable).

    `key_type` is the plan's key type: a leaf of another type is a mismatch. CAs are not held
    to the plan's key type or subject, so an imported CA is accepted as it is.
    """
    now = now or dt.datetime.now(dt.UTC)
    report = CertReport(spec)
    cert_path, key_path = spec.paths
    if not cert_path.exists():
        report.add(Status.MISSING, f"{cert_path.name} does not exist")
        return report
    try:
        cert = load_certificate(cert_path)
    except (OSError, ValueError) as exc:
        report.add(Status.BROKEN, str(exc))
        return report
    info = report.info = describe_certificate(cert)
    _check_key(report, cert, key_path)
    _check_trust(report, cert, ca_cert, info)
    _check_time(report, info, now, planned_days)
    if not spec.is_ca:
        _check_identity(report, info, key_type)
    return report


def _check_key(report: CertReport, cert: x509.Certificate, key_path: Path) -> None:
    if not key_path.exists():
        report.add(Status.BROKEN, f"private key {key_path.name} is missing")
        return
    try:
        key = load_private_key(key_path)
    except (OSError, ValueError) as exc:
        report.add(Status.BROKEN, str(exc))
        return
    if not same_public_key(key, cert.public_key()):  # type: ignore[arg-type]
        report.add(Status.BROKEN, f"private key {key_path.name} does not match the certificate")
    mode = mode_of(key_path)
    if mode & ~SECRET_MODE:
        report.add(Status.INSECURE, f"{key_path.name} has mode {mode:04o}, expected 0600")


def _check_trust(
    report: CertReport, cert: x509.Certificate, ca_cert: x509.Certificate | None, info: CertInfo
) -> None:
    if report.spec.is_ca:
        if not info.is_ca:
            report.add(Status.BROKEN, "not a CA certificate (basicConstraints CA:FALSE or absent)")
        if "keyCertSign" not in info.key_usage and info.key_usage:
            report.add(Status.BROKEN, "CA key usage does not allow signing certificates")
        return
    if ca_cert is None:
        report.add(Status.UNTRUSTED, f"cannot check the chain: the {report.spec.ca} CA is unusable")
        return
    report.chains_to_ca = chains_to(cert, ca_cert)
    if not report.chains_to_ca:
        report.add(Status.UNTRUSTED, f"not signed by the {report.spec.ca} CA")


def _check_time(
    report: CertReport, info: CertInfo, now: dt.datetime, planned_days: int | None
) -> None:
    if info.not_after <= now:
        report.add(Status.EXPIRED, f"expired {info.not_after:%Y-%m-%d %H:%M} UTC")
    elif info.not_before > now:
        report.add(Status.BROKEN, f"not valid before {info.not_before:%Y-%m-%d %H:%M} UTC")
    else:
        threshold = RENEW_BEFORE_DAYS
        if planned_days:
            threshold = min(threshold, max(planned_days // 3, 1))
        if info.time_left(now) < dt.timedelta(days=threshold):
            report.add(Status.EXPIRING, f"expires in {info.days_left(now)} days")


def _check_identity(report: CertReport, info: CertInfo, key_type: str | None) -> None:
    spec = report.spec
    if info.common_name != spec.common_name:
        report.add(
            Status.MISMATCH, f"CN is {info.common_name!r}, the plan wants {spec.common_name!r}"
        )
    if set(info.organizations) != set(spec.organizations):
        report.add(
            Status.MISMATCH,
            f"O is {list(info.organizations)}, the plan wants {list(spec.organizations)}",
        )
    have = {d.lower() for d in info.dns_names}
    have |= {ipaddress.ip_address(i) for i in info.ip_addresses}
    want = set(spec.dns_names) | set(spec.ip_addresses)
    report.sans_match = have == want
    if not report.sans_match:
        missing = sorted(str(v) for v in want - have)
        extra = sorted(str(v) for v in have - want)
        parts = [f"missing {', '.join(missing)}"] if missing else []
        parts += [f"unexpected {', '.join(extra)}"] if extra else []
        report.add(Status.MISMATCH, "SANs differ from the plan: " + "; ".join(parts))
    usages = {u.value for u in spec.usages}
    if set(info.extended_key_usage) != usages:
        report.add(
            Status.MISMATCH,
            f"usages are {sorted(info.extended_key_usage)}, the plan wants {sorted(usages)}",
        )
    if info.is_ca:
        report.add(Status.MISMATCH, "a leaf certificate must not be a CA")
    if key_type and info.key_type != key_type:
        report.add(Status.MISMATCH, f"key is {info.key_type}, the plan wants {key_type}")


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


_KEY_USAGE_FLAGS = (
    ("digital_signature", "digitalSignature"),
    ("content_commitment", "nonRepudiation"),
    ("key_encipherment", "keyEncipherment"),
    ("data_encipherment", "dataEncipherment"),
    ("key_agreement", "keyAgreement"),
    ("key_cert_sign", "keyCertSign"),
    ("crl_sign", "cRLSign"),
)


def _key_usage(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(label for attr, label in _KEY_USAGE_FLAGS if getattr(ku, attr))


def _extended_key_usage(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(
        USAGE_BY_OID[oid].value if oid in USAGE_BY_OID else oid.dotted_string for oid in eku
    )
