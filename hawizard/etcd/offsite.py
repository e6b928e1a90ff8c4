"""Off-site copies of verified backups: encrypted, recorded, retained (issue 28).

After a run verified a backup in the operator's folder, `ship` copies it to every
`[backup] targets` entry. With `[backup] recipients` set the bytes are age-encrypted
(pyrage: the real age format, which Debian's `age -d` reads) *before* they are written
anywhere, as `NAME.db.age`; the operator's identity is needed only to restore or drill.

Beside each copy goes a record `NAME.db[.age].json`, HMAC-signed with the record key
(`pki.record_key`), naming what a restore needs: the plaintext's sha256, revision, hash and
key count (as `etcdutl snapshot status` read them), the stored file's sha256 and size, and
the fingerprints of the etcd CA and of the Kubernetes encryption-at-rest config in use at
snapshot time (a snapshot is useless without the key that encrypted its Secrets). The record
holds no key name and no secret.

A copy counts only once the target's own sha256 of the stored bytes matches (read back); only
then is that target's retention applied (`retained`: keep N recent, the newest of each of M
days and of each of K ISO weeks; a pure function of names, times and a clock).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hawizard.etcd.offsite_targets import Store, StoreError, open_store
from hawizard.pki.record_key import sign, verify
from hawizard.plan import Plan

__all__ = [
    "Copy",
    "ShipResult",
    "copies",
    "decrypt",
    "encrypt",
    "fingerprints",
    "key_mismatch",
    "load_identities",
    "retained",
    "ship",
]

AGE_HEADER = b"age-encryption.org/v1\n"


def _name_re(cluster: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(cluster)}-(\d{{8}}T\d{{6}}Z)(-\d+)?\.db(\.age)?$")


# --- encryption -------------------------------------------------------------------------------


def encrypt(data: bytes, recipients: tuple[str, ...]) -> bytes:
    from pyrage import encrypt as age_encrypt
    from pyrage import x25519

    return age_encrypt(data, [x25519.Recipient.from_str(r) for r in recipients])


def load_identities(path: Path) -> list[Any]:
    """The age X25519 identities in an identity file (`age-keygen` output: comments and
    `AGE-SECRET-KEY-1…` lines). ValueError naming the file when it holds none."""
    from pyrage import x25519

    try:
        mode = path.stat().st_mode & 0o777
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"--identity {path}: cannot read it ({exc})") from None
    if mode & 0o077:  # it opens every backup: as private as an SSH key
        raise ValueError(
            f"--identity {path} is readable by others (mode {mode:04o}): `chmod 600 {path}`"
        )
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("AGE-SECRET-KEY-1"):
            try:
                found.append(x25519.Identity.from_str(line))
            except Exception:  # pyrage's IdentityError
                raise ValueError(f"--identity {path}: a malformed AGE-SECRET-KEY line") from None
    if not found:
        raise ValueError(f"--identity {path}: no AGE-SECRET-KEY-1 line (make one: age-keygen)")
    return found


def decrypt(data: bytes, identities: list[Any]) -> bytes:
    from pyrage import decrypt as age_decrypt

    try:
        return age_decrypt(data, identities)
    except Exception as exc:  # pyrage.DecryptError: wrong identity, or changed bytes
        raise ValueError(f"age decryption failed: {exc}") from None


# --- what a restore needs -----------------------------------------------------------------------


def _file_fingerprint(path: Path) -> str | None:
    try:
        return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def fingerprints(plan: Plan) -> dict[str, str | None]:
    """The etcd CA certificate's and the encryption-at-rest config's sha256 on this machine
    (None when there is none). The CA's is over its DER form, as `openssl x509 -fingerprint
    -sha256` prints it; the config's over the file (it holds the secret: only its hash leaves)."""
    from hawizard.pki.layout import paths

    layout = paths(plan)
    ca = None
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        cert = x509.load_pem_x509_certificate(layout.etcd_ca.cert.read_bytes())
        ca = "sha256:" + cert.fingerprint(hashes.SHA256()).hex()
    except (OSError, ValueError):
        pass
    return {"etcd_ca": ca, "encryption_config": _file_fingerprint(layout.encryption_config)}


def key_mismatch(plan: Plan, meta: dict[str, Any]) -> list[str]:
    """Warnings when the keys in use now are not those the record names."""
    now = fingerprints(plan)
    out = []
    for field_name, what in (
        ("etcd_ca", "the etcd CA"),
        ("encryption_config", "the Kubernetes encryption-at-rest key"),
    ):
        then = (meta.get("fingerprints") or {}).get(field_name)
        if then and then != now[field_name]:
            out.append(
                f"{what} differs from the one in use when this backup was taken ({then[:23]}…, "
                f"now {(now[field_name] or 'none')[:23]}…): keep the old one to read its data"
            )
    return out


# --- copies on a target -------------------------------------------------------------------------


@dataclass(frozen=True)
class Copy:
    """One backup file on a target, with its record (`signature`: `record_key.verify`)."""

    name: str
    taken_at: datetime
    meta: dict[str, Any]
    signature: str

    @property
    def verified(self) -> bool:
        return self.signature == "ok" and self.meta.get("file") == self.name

    @property
    def verdict(self) -> str:
        if self.signature == "bad" or (self.signature == "ok" and not self.verified):
            return "refused: record fails its signature"
        if not self.meta:
            return "unverified (no record)"
        if self.signature != "ok":
            return f"unverified ({self.signature} record)"
        return "ok"

    def to_json(self, now: datetime | None = None) -> dict[str, Any]:
        now = now or datetime.now(UTC)
        return {
            "file": self.name,
            "size": self.meta.get("size"),
            "revision": self.meta.get("revision"),
            "taken_at": self.taken_at.isoformat(timespec="seconds"),
            "age_s": round((now - self.taken_at).total_seconds(), 1),
            "encrypted": self.name.endswith(".age"),
            "verdict": self.verdict,
        }


def _stamp_time(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def copies(store: Store, cluster: str, key: bytes | None) -> list[Copy]:
    """The cluster's backups on a target, newest first (by the time in the name; a record
    that does not verify never reorders anything)."""
    pattern = _name_re(cluster)
    names = store.names()
    present = set(names)
    found = []
    for name in names:
        m = pattern.match(name)
        if not m:
            continue
        meta: dict[str, Any] = {}
        if f"{name}.json" in present:
            try:
                loaded = json.loads(store.get(f"{name}.json"))
                meta = loaded if isinstance(loaded, dict) else {}
            except (ValueError, StoreError):
                meta = {}
        sig = verify(key, meta) if meta else "unsigned"
        found.append(Copy(name, _stamp_time(m.group(1)), meta, sig))
    return sorted(found, key=lambda c: (c.taken_at, c.name), reverse=True)


def retained(
    items: list[tuple[str, datetime]], now: datetime, recent: int, daily: int, weekly: int
) -> set[str]:
    """The names to keep: the newest `recent`; the newest of each of the `daily` UTC days
    ending today; the newest of each of the `weekly` ISO weeks ending this week. Pure."""
    ordered = sorted(items, key=lambda x: (x[1], x[0]), reverse=True)
    keep = {name for name, _ in ordered[:recent]}
    today = now.astimezone(UTC).date()
    days = {today - timedelta(days=i) for i in range(daily)}
    this_monday = today - timedelta(days=today.weekday())
    weeks = {this_monday - timedelta(weeks=i) for i in range(weekly)}
    seen_days: set = set()
    seen_weeks: set = set()
    for name, when in ordered:
        day = when.astimezone(UTC).date()
        if day in days and day not in seen_days:
            seen_days.add(day)
            keep.add(name)
        monday = day - timedelta(days=day.weekday())
        if monday in weeks and monday not in seen_weeks:
            seen_weeks.add(monday)
            keep.add(name)
    return keep


# --- shipping ----------------------------------------------------------------------------------


@dataclass
class ShipResult:
    target: str
    file: str = ""
    error: str = ""
    removed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.error


def ship(
    plan: Plan,
    path: Path,
    meta: dict[str, Any],
    key: bytes,
    *,
    say: Callable[[str], None] | None = None,
    now: datetime | None = None,
) -> list[ShipResult]:
    """Copy the verified backup `path` (its record `meta`) to every target; one result each.
    A target that fails does not stop the others."""
    say = say or (lambda line: None)
    plain = path.read_bytes()
    recipients = plan.backup.recipients
    data = encrypt(plain, recipients) if recipients else plain
    name = path.name + (".age" if recipients else "")
    record = {
        "cluster": plan.cluster.name,
        "file": name,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "plain_sha256": hashlib.sha256(plain).hexdigest(),
        "plain_size": len(plain),
        "encrypted": bool(recipients),
        "recipients": list(recipients),
        "revision": meta.get("revision"),
        "hash": meta.get("hash"),
        "total_keys": meta.get("total_keys"),
        "taken_at": meta.get("taken_at"),
        "node": meta.get("node"),
        "verified_at": meta.get("verified_at"),
        "fingerprints": fingerprints(plan),
    }
    signed = json.dumps(sign(key, record), indent=2).encode() + b"\n"
    results = []
    for target in plan.backup.targets:
        result = ShipResult(target, name)
        try:
            _ship_one(plan, target, name, data, signed, record["sha256"], key, result, now)
            say(f"copied {name} to {target}" + (" (age-encrypted)" if recipients else ""))
        except (StoreError, ValueError, OSError) as exc:
            result.error = str(exc)
        results.append(result)
    return results


def _ship_one(
    plan: Plan,
    target: str,
    name: str,
    data: bytes,
    record: bytes,
    sha256: str,
    key: bytes,
    result: ShipResult,
    now: datetime | None,
) -> None:
    store = open_store(plan, target)
    try:
        store.put(name, data)
        stored = store.sha256(name)
        if stored != sha256:
            raise StoreError(f"{target}: {name} reads back as sha256 {stored}, not {sha256}")
        store.put(f"{name}.json", record)
        bk = plan.backup
        found = [c for c in copies(store, plan.cluster.name, key) if c.verified]
        keep = retained(
            [(c.name, c.taken_at) for c in found],
            now or datetime.now(UTC),
            bk.keep,
            bk.keep_daily,
            bk.keep_weekly,
        )
        for c in found:
            if c.name not in keep and c.name != name:
                store.delete(c.name)
                store.delete(f"{c.name}.json")
                result.removed.append(c.name)
    finally:
        store.close()
