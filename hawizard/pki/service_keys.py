"""The two Kubernetes secrets that are not certificates: the service-account key pair and the
encryption-at-rest config.

Both are created once and never rotated by hawizard: a new service-account key invalidates
every token already issued, and a new encryption key makes every stored Secret unreadable.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from hawizard.localfs import read_regular_bytes
from hawizard.pki.inspection import Status, worst
from hawizard.pki.keys import (
    generate_key,
    key_type_name,
    load_private_key,
    load_public_key,
    private_pem,
    public_pem,
    same_public_key,
)
from hawizard.pki.layout import SECRET_MODE, Layout, mode_of, write_public, write_secret
from hawizard.plan import KeyType

ENCRYPTION_KEY_BYTES = 32  # AES-256 for the aescbc provider


@dataclass
class FileReport:
    """A non-certificate PKI file (`sa.key`, `encryption-config.yaml`), judged."""

    name: str
    path: Path
    status: Status = Status.OK
    problems: list[str] = field(default_factory=list)
    detail: str = ""  # e.g. the key type; never key material

    def add(self, status: Status, problem: str) -> None:
        self.problems.append(problem)
        self.status = worst([self.status, status])


# --- service-account key pair ----------------------------------------------------------------


def create_sa_keys(layout: Layout, key_type: KeyType) -> None:
    key = generate_key(key_type)
    write_secret(layout.sa_key, private_pem(key))
    write_public(layout.sa_pub, public_pem(key))


def write_sa_pub(layout: Layout) -> None:
    """(Re)derive `sa.pub` from `sa.key`: deterministic, so it never changes a working key."""
    write_public(layout.sa_pub, public_pem(load_private_key(layout.sa_key)))


def inspect_sa_keys(layout: Layout) -> FileReport:
    report = FileReport("kubernetes/sa", layout.sa_key)
    if not layout.sa_key.exists():
        report.add(Status.MISSING, "sa.key does not exist")
        return report
    try:
        key = load_private_key(layout.sa_key)
    except (OSError, ValueError) as exc:
        report.add(Status.BROKEN, str(exc))
        return report
    report.detail = key_type_name(key)
    mode = mode_of(layout.sa_key)
    if mode & ~SECRET_MODE:
        report.add(Status.INSECURE, f"sa.key has mode {mode:04o}, expected 0600")
    if not layout.sa_pub.exists():
        report.add(Status.MISMATCH, "sa.pub is missing (derived again from sa.key by --renew)")
        return report
    try:
        pub = load_public_key(layout.sa_pub)
    except (OSError, ValueError) as exc:
        report.add(Status.MISMATCH, f"{exc} (derived again from sa.key by --renew)")
        return report
    if not same_public_key(key, pub):
        report.add(Status.MISMATCH, "sa.pub does not match sa.key (derived again by --renew)")
    return report


# --- encryption at rest -----------------------------------------------------------------------


def render_encryption_config(secret: bytes) -> str:
    """EncryptionConfiguration for Secrets: aescbc with `secret`, identity to read old data."""
    if len(secret) != ENCRYPTION_KEY_BYTES:
        raise ValueError(f"the aescbc key must be {ENCRYPTION_KEY_BYTES} bytes")
    encoded = base64.b64encode(secret).decode()
    return (
        "apiVersion: apiserver.config.k8s.io/v1\n"
        "kind: EncryptionConfiguration\n"
        "resources:\n"
        "  - resources:\n"
        "      - secrets\n"
        "    providers:\n"
        "      - aescbc:\n"
        "          keys:\n"
        "            - name: key1\n"
        f"              secret: {encoded}\n"
        "      - identity: {}\n"
    )


def create_encryption_config(layout: Layout) -> None:
    text = render_encryption_config(os.urandom(ENCRYPTION_KEY_BYTES))
    write_secret(layout.encryption_config, text.encode())


_SECRET_LINE = re.compile(r"^\s*secret:\s*(\S+)\s*$", re.MULTILINE)


def inspect_encryption_config(layout: Layout) -> FileReport:
    path = layout.encryption_config
    report = FileReport("kubernetes/encryption-config", path)
    if not path.exists():
        report.add(Status.MISSING, f"{path.name} does not exist")
        return report
    try:
        text = read_regular_bytes(path).decode()
    except (OSError, UnicodeDecodeError) as exc:
        report.add(Status.BROKEN, f"cannot read {path.name}: {exc}")
        return report
    mode = mode_of(path)
    if mode & ~SECRET_MODE:
        report.add(Status.INSECURE, f"{path.name} has mode {mode:04o}, expected 0600")
    if "kind: EncryptionConfiguration" not in text:
        report.add(Status.BROKEN, "not an EncryptionConfiguration")
    providers = [p for p in ("aescbc", "aesgcm", "secretbox", "kms") if f"- {p}:" in text]
    report.detail = ", ".join(providers) or "identity only"
    for value in _SECRET_LINE.findall(text):
        try:
            size = len(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            report.add(Status.BROKEN, "a key is not valid base64")
            continue
        if size not in (16, 24, 32):
            report.add(Status.BROKEN, f"a key is {size} bytes, expected 16, 24 or 32")
    if not providers:
        report.add(Status.BROKEN, "no encrypting provider: Secrets would be stored in clear text")
    return report
