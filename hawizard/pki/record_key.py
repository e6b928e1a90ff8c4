"""The key that authenticates snapshot and backup records (`NAME.db.json`).

A record says which file is a verified backup of which cluster, with its sha256: `restore`
trusts it, `etcd backup list`, `status` and the dashboard count it. Unsigned, anyone who could
write the backup folder could plant a "verified" backup (issue 25). So every record hawizard
writes carries an HMAC-SHA256 over its canonical JSON, keyed by a random 32-byte key kept 0600
in the PKI folder beside the CAs (never in the plan, never on a node). A record whose HMAC does
not match is refused; an unsigned one (written by an older hawizard) is shown as unverified.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import os
import secrets
import stat
from pathlib import Path
from typing import Any

from hawizard.localfs import fsync_dir, make_private_dirs
from hawizard.plan import Plan

__all__ = ["KEY_NAME", "ensure_key", "key_path", "load_key", "sign", "verify"]

KEY_NAME = "backup-records.key"
_FIELD = "hmac"
_PREFIX = "hmac-sha256:"


def key_path(plan: Plan) -> Path:
    return plan.pki_dir / KEY_NAME


def load_key(plan: Plan) -> bytes | None:
    """The key, or None when there is none yet (or it is not a private regular file of ours:
    a key others could read or swap authenticates nothing)."""
    try:
        fd = os.open(key_path(plan), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if (
            not stat.S_ISREG(info.st_mode)
            or info.st_uid != os.geteuid()
            or stat.S_IMODE(info.st_mode) & 0o077
            or info.st_size != 64
        ):
            return None
        data = os.read(fd, 65)
    finally:
        os.close(fd)
    try:
        return bytes.fromhex(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None


def ensure_key(plan: Plan) -> bytes:
    """The key, created (0600, `O_EXCL|O_NOFOLLOW`, in a 0700 folder) when missing."""
    key = load_key(plan)
    if key is not None:
        return key
    path = key_path(plan)
    make_private_dirs(path.parent)
    new = secrets.token_bytes(32)
    try:
        fd = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
        )
    except FileExistsError:
        key = load_key(plan)
        if key is None:
            raise OSError(
                errno.EPERM,
                "exists but is not a private (0600) 64-hex-digit key file of yours; "
                "remove it to have a new one made (records signed with it become unverified)",
                str(path),
            ) from None
        return key
    with os.fdopen(fd, "w") as f:
        f.write(new.hex())
        f.flush()
        os.fsync(f.fileno())
    fsync_dir(path.parent)
    return new


def _mac(key: bytes, meta: dict[str, Any]) -> str:
    body = {k: v for k, v in meta.items() if k != _FIELD}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return _PREFIX + hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def sign(key: bytes, meta: dict[str, Any]) -> dict[str, Any]:
    """`meta` with its HMAC (any old one replaced)."""
    out = {k: v for k, v in meta.items() if k != _FIELD}
    out[_FIELD] = _mac(key, out)
    return out


def verify(key: bytes | None, meta: dict[str, Any]) -> str:
    """ "ok", "unsigned" (no HMAC: an older hawizard's record), "no-key" (signed, but this
    machine has no key to check it with) or "bad" (the HMAC does not match: refuse it)."""
    given = meta.get(_FIELD)
    if given is None:
        return "unsigned"
    if key is None:
        return "no-key"
    if not isinstance(given, str) or not hmac.compare_digest(given, _mac(key, meta)):
        return "bad"
    return "ok"
