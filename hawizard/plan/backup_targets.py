"""`[backup] targets` and `recipients`: parsed and judged here, in the plan layer, so the
plan checks and the backup code read them the same way (issue 28).

A target is where off-site copies go:
- `local:/dir` — a folder on this machine (another disk, a mounted share);
- `ssh://user@host[:port]/dir` — a folder on a host reached with hawizard's own SSH
  (host key checked against the plan's known_hosts);
- `s3://bucket/prefix` — an S3 bucket through the AWS SDK (`[backup] s3_endpoint`).

A recipient is an age X25519 public key (`age1…`); with recipients set every copy that
leaves the backup folder is encrypted to them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["BadTarget", "TargetSpec", "check_recipient", "parse_target"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$|^\[[0-9A-Fa-f:.]+\]$")
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9._/-]*$")
_EXAMPLES = '"local:/srv/etcd-backups", "ssh://backup@host:22/srv/etcd", "s3://bucket/prefix"'


class BadTarget(ValueError):
    """A target that cannot be used; the message names the fix."""


@dataclass(frozen=True)
class TargetSpec:
    text: str
    kind: str  # "local" | "ssh" | "s3"
    path: str = ""  # local and ssh: the folder; s3: the key prefix ("" or ending in "/")
    user: str = ""
    host: str = ""
    port: int = 22
    bucket: str = ""

    @property
    def label(self) -> str:
        return self.text


def parse_target(text: str) -> TargetSpec:
    """One `[backup] targets` entry, or `BadTarget` saying what is wrong and how to write it."""
    if not isinstance(text, str) or not text:
        raise BadTarget(f"an empty target; write one of {_EXAMPLES}")
    if _CONTROL.search(text):
        raise BadTarget(f"{text!r} holds a control character; write one of {_EXAMPLES}")
    if text.startswith("local:"):
        return TargetSpec(text, "local", path=_folder(text, text.removeprefix("local:")))
    if text.startswith("ssh://"):
        return _ssh(text)
    if text.startswith("s3://"):
        return _s3(text)
    raise BadTarget(f"{text!r} is not a target; write one of {_EXAMPLES}")


def _folder(text: str, path: str) -> str:
    if not path.startswith("/"):
        raise BadTarget(f"{text!r}: the folder must be absolute, e.g. /srv/etcd-backups")
    if any(part in (".", "..") for part in path.split("/")):
        raise BadTarget(f"{text!r}: give the folder without . or .. parts")
    if any(c in path for c in " '\"\\$`"):
        raise BadTarget(f"{text!r}: give a folder without spaces, quotes, $ or backslashes")
    return path.rstrip("/") or "/"


def _ssh(text: str) -> TargetSpec:
    rest = text.removeprefix("ssh://")
    where, slash, path = rest.partition("/")
    if not slash:
        raise BadTarget(f"{text!r}: name the folder, e.g. ssh://backup@host/srv/etcd")
    user, at, hostport = where.rpartition("@")
    if not at or not _USER.match(user):
        raise BadTarget(f"{text!r}: name the SSH user, e.g. ssh://backup@host/srv/etcd")
    host, port = hostport, 22
    if ":" in hostport and not hostport.endswith("]"):
        host, _, port_text = hostport.rpartition(":")
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise BadTarget(f"{text!r}: the port must be 1-65535, e.g. ssh://u@host:2222/dir")
        port = int(port_text)
    if not _HOST.match(host):
        raise BadTarget(f"{text!r}: {host!r} is not a host name or address")
    return TargetSpec(text, "ssh", _folder(text, "/" + path), user, host.strip("[]"), port)


def _s3(text: str) -> TargetSpec:
    bucket, _, prefix = text.removeprefix("s3://").partition("/")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise BadTarget(
            f"{text!r}: {bucket!r} is not an S3 bucket name (3-63 lowercase letters, digits, "
            "dots, hyphens), e.g. s3://etcd-backups/prod"
        )
    if not _PREFIX.match(prefix) or any(p in (".", "..") for p in prefix.split("/")):
        raise BadTarget(f"{text!r}: the prefix may hold letters, digits and . _ - / only")
    prefix = prefix.strip("/")
    return TargetSpec(text, "s3", path=prefix + "/" if prefix else "", bucket=bucket)


def check_recipient(text: str) -> str:
    """ "" when `text` is an age X25519 recipient, else why not (with the fix)."""
    hint = "give an age X25519 public key (`age-keygen -y identity.txt` prints it: age1...)"
    if not isinstance(text, str) or not text.startswith("age1") or _CONTROL.search(text):
        return f"{text!r} is not an age recipient; {hint}"
    try:
        from pyrage import x25519

        x25519.Recipient.from_str(text)
    except Exception:  # pyrage raises its own RecipientError for a bad checksum or length
        return f"{text!r} is not a valid age recipient (bad length or checksum); {hint}"
    return ""
