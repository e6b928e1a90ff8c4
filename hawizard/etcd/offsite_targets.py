"""Where off-site copies are stored: a local folder, a folder over SSH, an S3 bucket.

Each store has the same five calls — `names`, `put`, `get`, `sha256`, `delete` — over flat
file names (no slashes), so the off-site logic (`etcd.offsite`) never knows which it talks
to. Every `put` is atomic where the file lands: a unique temp name in the same folder, then a
rename (local and SSH); S3 objects appear whole by the protocol. `sha256` reads the stored
bytes back (over SSH it runs `sha256sum` there), so an upload counts only once what is stored
is what was sent.

boto3 is imported only when an `s3://` target is used: nothing slow on hawizard's start, and
it is an optional extra (`pip install 'hawizard[s3]'`).
"""

from __future__ import annotations

import hashlib
import re
import shlex
from pathlib import Path
from typing import Protocol

from hawizard.localfs import atomic_write, make_private_dirs
from hawizard.plan import Plan
from hawizard.plan.backup_targets import TargetSpec, parse_target

__all__ = ["Store", "StoreError", "open_store"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


class StoreError(Exception):
    """A target could not be reached, read or written; the message names the target."""


class Store(Protocol):
    label: str

    def names(self) -> list[str]: ...
    def put(self, name: str, data: bytes) -> None: ...
    def get(self, name: str) -> bytes: ...
    def sha256(self, name: str) -> str: ...
    def delete(self, name: str) -> None: ...
    def close(self) -> None: ...


def _checked(name: str) -> str:
    if not _NAME.match(name):
        raise StoreError(f"refusing the file name {name!r} (letters, digits, . _ - only)")
    return name


class LocalStore:
    def __init__(self, spec: TargetSpec):
        self.label = spec.text
        self.folder = Path(spec.path)

    def names(self) -> list[str]:
        try:
            return sorted(p.name for p in self.folder.iterdir() if p.is_file())
        except FileNotFoundError:
            return []

    def put(self, name: str, data: bytes) -> None:
        make_private_dirs(self.folder)
        atomic_write(self.folder / _checked(name), data, 0o600)

    def get(self, name: str) -> bytes:
        return (self.folder / _checked(name)).read_bytes()

    def sha256(self, name: str) -> str:
        return hashlib.sha256(self.get(name)).hexdigest()

    def delete(self, name: str) -> None:
        (self.folder / _checked(name)).unlink(missing_ok=True)

    def close(self) -> None:
        pass


class SSHStore:
    """A folder on a host over hawizard's SSH (`remote.Host`): the plan's known_hosts, the key
    `[backup] ssh_key` (else the first node's). Commands run as the target's user, no sudo."""

    def __init__(self, spec: TargetSpec, plan: Plan):
        from hawizard.remote import Host

        self.label = spec.text
        self.folder = spec.path
        key = plan.backup.ssh_key or (plan.nodes[0].ssh.key if plan.nodes else "")
        self.host = Host(
            spec.host,
            spec.host,
            port=spec.port,
            user=spec.user,
            key_file=plan.resolve(key) if key else None,
            known_hosts=plan.resolve(plan.cluster.known_hosts),
        )

    def _run(self, script: str, stdin: bytes | None = None) -> str:
        from hawizard.remote import HostKeyError, RemoteError

        try:
            r = self.host.run(script, sudo=False, stdin=stdin, stream=False, check=True)
        except (RemoteError, HostKeyError, OSError) as exc:
            raise StoreError(f"{self.label}: {exc}") from None
        return r.stdout

    def names(self) -> list[str]:
        d = shlex.quote(self.folder)
        out = self._run(f"test -d {d} || exit 0; cd -- {d} && find . -maxdepth 1 -type f")
        return sorted(line[2:] for line in out.splitlines() if line.startswith("./"))

    def put(self, name: str, data: bytes) -> None:
        d, n = shlex.quote(self.folder), shlex.quote(_checked(name))
        self._run(
            f"umask 077; mkdir -p -- {d} && t=$(mktemp {d}/.{n}.XXXXXXXX) || exit 1; "
            f'if cat > "$t" && sync -- "$t" && mv -f -- "$t" {d}/{n}; then exit 0; fi; '
            'rm -f -- "$t"; exit 1',
            stdin=data,
        )

    def get(self, name: str) -> bytes:
        from hawizard.remote import HostKeyError, RemoteError

        try:
            return self.host.get(f"{self.folder}/{_checked(name)}", sudo=False)
        except (RemoteError, HostKeyError, OSError) as exc:
            raise StoreError(f"{self.label}: {exc}") from None

    def sha256(self, name: str) -> str:
        path = shlex.quote(f"{self.folder}/{_checked(name)}")
        return self._run(f"sha256sum -- {path}").split(" ", 1)[0]

    def delete(self, name: str) -> None:
        self._run(f"rm -f -- {shlex.quote(f'{self.folder}/{_checked(name)}')}")

    def close(self) -> None:
        self.host.close()


class S3Store:
    """An S3 bucket through boto3; the credentials come from the SDK's own chain (environment,
    ~/.aws files, instance roles) — never from the plan."""

    def __init__(self, spec: TargetSpec, plan: Plan):
        try:
            import boto3
        except ImportError:
            raise StoreError(
                f"{spec.text}: s3:// targets need the AWS SDK: pip install 'hawizard[s3]'"
            ) from None
        self.label = spec.text
        self.bucket, self.prefix = spec.bucket, spec.path
        from botocore.config import Config

        config = Config(connect_timeout=10, read_timeout=120, retries={"max_attempts": 3})
        self.client = boto3.client(
            "s3", endpoint_url=plan.backup.s3_endpoint or None, config=config
        )

    def _call(self, what: str, fn, **kwargs):
        try:
            return fn(Bucket=self.bucket, **kwargs)
        except Exception as exc:  # botocore: ClientError, EndpointConnectionError, ...
            raise StoreError(f"{self.label}: {what} failed: {exc}") from None

    def names(self) -> list[str]:
        out: list[str] = []
        token: dict = {}
        while True:
            page = self._call("listing", self.client.list_objects_v2, Prefix=self.prefix, **token)
            for item in page.get("Contents", []):
                rest = item["Key"][len(self.prefix) :]
                if "/" not in rest and rest:
                    out.append(rest)
            if not page.get("IsTruncated"):
                return sorted(out)
            token = {"ContinuationToken": page["NextContinuationToken"]}

    def put(self, name: str, data: bytes) -> None:
        self._call("upload", self.client.put_object, Key=self.prefix + _checked(name), Body=data)

    def get(self, name: str) -> bytes:
        r = self._call("download", self.client.get_object, Key=self.prefix + _checked(name))
        return r["Body"].read()

    def sha256(self, name: str) -> str:
        return hashlib.sha256(self.get(name)).hexdigest()

    def delete(self, name: str) -> None:
        self._call("delete", self.client.delete_object, Key=self.prefix + _checked(name))

    def close(self) -> None:
        pass


def open_store(plan: Plan, text: str) -> Store:
    """The store for one `[backup] targets` entry (validated again: the plan may be old)."""
    spec = parse_target(text)
    if spec.kind == "local":
        return LocalStore(spec)
    if spec.kind == "ssh":
        return SSHStore(spec, plan)
    return S3Store(spec, plan)
