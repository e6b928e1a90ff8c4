"""Where every PKI file lives under the plan's `pki.dir`, and how it is written.

Other modules ask this layout for paths (`paths(plan).etcd_server("infra0")`) instead of
building file names themselves, so the naming convention lives in exactly one place.
Files are written atomically with their final mode from the first byte: a private key is
never, not even briefly, readable by anyone but its owner.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from hawizard.localfs import fsync_dir, make_private_dirs
from hawizard.plan import Node, Plan

DIR_MODE = 0o700
SECRET_MODE = 0o600
PUBLIC_MODE = 0o644
GITIGNORE = ".gitignore"  # in a PKI folder hawizard made: `*`, the keys stay out of git


class CertKey(NamedTuple):
    """A certificate and its private key; unpacks as `cert, key = ...`."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class Layout:
    """Paths in cfssl's naming (`cfssljson -bare`): `ca.pem`, `ca-key.pem`, `<name>.pem`,
    `<name>-key.pem`."""

    root: Path

    @property
    def etcd_dir(self) -> Path:
        return self.root / "etcd"

    @property
    def kubernetes_dir(self) -> Path:
        return self.root / "kubernetes"

    @property
    def dirs(self) -> tuple[Path, ...]:
        return (self.root, self.etcd_dir, self.kubernetes_dir)

    # --- etcd -------------------------------------------------------------------------------
    @property
    def etcd_ca(self) -> CertKey:
        return _pair(self.etcd_dir, "ca")

    def etcd_server(self, member: str | Node) -> CertKey:
        return _pair(self.etcd_dir, f"server-{_name(member)}")

    def etcd_peer(self, member: str | Node) -> CertKey:
        return _pair(self.etcd_dir, f"peer-{_name(member)}")

    @property
    def etcd_admin(self) -> CertKey:
        """The operator's client certificate (etcdctl, health probes)."""
        return _pair(self.etcd_dir, "etcd-admin")

    @property
    def apiserver_etcd_client(self) -> CertKey:
        return _pair(self.etcd_dir, "apiserver-etcd-client")

    # --- Kubernetes -------------------------------------------------------------------------
    @property
    def kubernetes_ca(self) -> CertKey:
        return _pair(self.kubernetes_dir, "ca")

    @property
    def apiserver(self) -> CertKey:
        return _pair(self.kubernetes_dir, "apiserver")

    @property
    def admin(self) -> CertKey:
        return _pair(self.kubernetes_dir, "admin")

    @property
    def controller_manager(self) -> CertKey:
        return _pair(self.kubernetes_dir, "kube-controller-manager")

    @property
    def scheduler(self) -> CertKey:
        return _pair(self.kubernetes_dir, "kube-scheduler")

    @property
    def monitoring(self) -> CertKey:
        """Prometheus's client certificate for apiserver /metrics: no group, RBAC grants it."""
        return _pair(self.kubernetes_dir, "monitoring")

    @property
    def sa_key(self) -> Path:
        """Service-account signing key (kube-apiserver and kube-controller-manager)."""
        return self.kubernetes_dir / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.kubernetes_dir / "sa.pub"

    @property
    def encryption_config(self) -> Path:
        return self.kubernetes_dir / "encryption-config.yaml"


def paths(plan: Plan) -> Layout:
    return Layout(plan.pki_dir)


def _pair(folder: Path, name: str) -> CertKey:
    return CertKey(folder / f"{name}.pem", folder / f"{name}-key.pem")


def _name(member: str | Node) -> str:
    return member.name if isinstance(member, Node) else member


# --- writing --------------------------------------------------------------------------------


def ensure_dirs(layout: Layout) -> None:
    """Create the folders 0700; tighten an existing one only when it is hawizard's own.

    Folders made here get 0700 (never their parents: `make_private_dirs` creates only what
    is missing). An existing PKI folder is tightened only if it is a real folder (not a
    symlink), owned by this user, and holds nothing but hawizard's own entries: so a plan
    naming `~`, `/tmp` or a shared folder never changes that folder's mode.
    """
    created = make_private_dirs(layout.root, DIR_MODE)
    if layout.root in created:
        _ignore_in_git(layout.root)
    for d in layout.dirs:
        make_private_dirs(d, DIR_MODE)
    for d in layout.dirs:
        _tighten_if_ours(d, layout)


def _ignore_in_git(root: Path) -> None:
    """A PKI folder hawizard makes says `*` to git: the default one sits beside the plan,
    which operators version, and the CA keys in it must never be committed with it."""
    text = b"# private keys: never commit this folder (written by hawizard)\n*\n"
    write_file(root / GITIGNORE, text, PUBLIC_MODE)


# What a PKI folder of hawizard's holds (besides its files' temporary names).
_OURS = {"etcd", "kubernetes", ".hawizard.lock", "backup-records.key"}


def _tighten_if_ours(folder: Path, layout: Layout) -> None:
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or stat.S_IMODE(info.st_mode) == DIR_MODE:
        return
    if info.st_uid != os.geteuid():
        return
    if folder == layout.root:
        foreign = [n for n in os.listdir(folder) if n not in _OURS and n != GITIGNORE]
    else:
        foreign = [n for n in os.listdir(folder) if not n.endswith((".pem", ".key", ".pub",
                   ".yaml", ".tmp"))]  # fmt: skip
    if foreign:
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.fchmod(fd, DIR_MODE)
    finally:
        os.close(fd)


def write_file(path: Path, data: bytes, mode: int) -> None:
    """Write `data` to a temporary file created with `mode`, then rename it over `path`.

    `os.open(..., mode)` plus `fchmod` gives the exact mode whatever the umask, and the rename
    means a reader (or a crash) sees the old file or the new one, never half of one.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            fd = -1
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        if fd >= 0:
            os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_secret(path: Path, data: bytes) -> None:
    write_file(path, data, SECRET_MODE)


def write_public(path: Path, data: bytes) -> None:
    write_file(path, data, PUBLIC_MODE)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)
