"""Build certificates: a self-signed CA, and leaves signed by a CA, from a `CertSpec`.

Pure functions (no files): they take keys and return objects, which keeps them fast to test
and lets `create` decide what touches the disk.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

from hawizard.pki.keys import PrivateKey, is_rsa, signing_hash
from hawizard.pki.specs import CertSpec

# Backdate notBefore a little: a member whose clock runs a few minutes behind still accepts
# a cert issued just now.
CLOCK_SKEW = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Issuer:
    """A CA able to sign: its certificate and its private key."""

    cert: x509.Certificate
    key: PrivateKey


def subject_name(spec: CertSpec) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in spec.organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, spec.common_name))
    return x509.Name(attrs)


def make_ca(spec: CertSpec, key: PrivateKey, days: int, now: dt.datetime | None = None) -> Issuer:
    now = now or dt.datetime.now(dt.UTC)
    name = subject_name(spec)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    )
    return Issuer(builder.sign(key, signing_hash(key)), key)


def issue(
    spec: CertSpec,
    key: PrivateKey,
    ca: Issuer,
    days: int,
    now: dt.datetime | None = None,
) -> x509.Certificate:
    """Sign a leaf for `spec`; it never outlives its CA (a chain is only as valid as its root)."""
    now = now or dt.datetime.now(dt.UTC)
    not_after = min(now + dt.timedelta(days=days), ca.cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject_name(spec))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(encipher=is_rsa(key)), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                sorted((u.oid for u in spec.usages), key=lambda o: o.dotted_string)
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(_authority_key_id(ca.cert), critical=False)
    )
    if spec.sans:
        general = [x509.DNSName(d) for d in spec.dns_names]
        general += [x509.IPAddress(ip) for ip in spec.ip_addresses]
        builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
    return builder.sign(ca.key, signing_hash(ca.key))


def _key_usage(*, cert_sign: bool = False, encipher: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=encipher,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _authority_key_id(ca_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    """From the CA's own SKI when it has one (an imported CA may compute it differently)."""
    try:
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key())  # type: ignore[arg-type]
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
