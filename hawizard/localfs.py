"""Careful local file handling: read only regular files, write atomically, tighten only ours.

Why a module of its own: a plan, a known_hosts file or a PKI folder is named by the operator,
so it may be a FIFO (an unguarded `read()` hangs forever), a symlink to a file hawizard must
not touch (a `chmod` follows it), or a folder such as `/tmp` or `~` (whose mode is not ours to
change). Every local read of an operator-named file and every mode change goes through here.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path

__all__ = [
    "NotRegularFile",
    "atomic_write",
    "fsync_dir",
    "is_system_folder",
    "make_private_dirs",
    "read_regular_bytes",
    "read_regular_text",
    "tighten_file",
]


class NotRegularFile(OSError):
    """The path exists but is not a regular file (a FIFO, a device, a folder...)."""


def read_regular_bytes(path: str | os.PathLike[str], *, limit: int = 64 << 20) -> bytes:
    """The bytes of a regular file; a FIFO, device or folder is refused instead of read.

    `O_NONBLOCK` makes opening a FIFO return at once (instead of waiting for a writer), then
    `fstat` on the open descriptor (no race with a rename) decides. Symlinks to regular files
    are fine: the operator chose them.
    """
    fd = os.open(os.fspath(path), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(
                errno.EINVAL, f"not a regular file ({_kind(info.st_mode)})", os.fspath(path)
            )
        if info.st_size > limit:
            raise OSError(errno.EFBIG, f"larger than {limit >> 20} MiB", os.fspath(path))
        os.set_blocking(fd, True)
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_regular_text(path: str | os.PathLike[str], *, limit: int = 64 << 20) -> str:
    """UTF-8 text of a regular file; raises UnicodeDecodeError for other encodings."""
    return read_regular_bytes(path, limit=limit).decode("utf-8")


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a file"


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Make a rename in `folder` durable (best effort where folders cannot be opened)."""
    try:
        fd = os.open(os.fspath(folder), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike[str], data: bytes | str, mode: int = 0o644) -> None:
    """Replace `path` with `data`: unique temp file (exact `mode`), fsync, rename, fsync folder.

    A crash or `kill -9` at any point leaves the old file or the new one (and at worst a
    uniquely named temp file that no later write collides with), never half a file.
    """
    path = Path(path)
    payload = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            fd = -1
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def tighten_file(path: str | os.PathLike[str], mode: int) -> int | None:
    """Remove permission bits beyond `mode` from a regular file; the old mode if it changed.

    Never follows a symlink (`O_NOFOLLOW` + `fchmod` on what was opened), never touches
    anything but a regular file, and only ever removes bits.
    """
    try:
        fd = os.open(os.fspath(path), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOENT, errno.EACCES):
            return None  # a symlink (not ours to change), gone, or not readable by us
        raise
    try:
        info = os.fstat(fd)
        old = stat.S_IMODE(info.st_mode)
        if not stat.S_ISREG(info.st_mode) or not old & ~mode:
            return None
        os.fchmod(fd, old & mode)
        return old
    finally:
        os.close(fd)


def make_private_dirs(folder: Path, mode: int = 0o700) -> list[Path]:
    """Create `folder` and any missing parents with `mode`; return the folders created.

    Only folders made here get `mode` (whatever the umask); folders that already existed keep
    theirs, so naming `/tmp` or `~` as an output never changes a foreign folder.
    """
    missing: list[Path] = []
    p = folder
    while not os.path.lexists(p):
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    created: list[Path] = []
    for d in reversed(missing):
        try:
            os.mkdir(d, mode)
        except FileExistsError:
            continue  # made meanwhile by someone else: not ours
        created.append(d)
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
    if not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(folder))
    return created


# Folders that belong to the system or are shared by everyone: never an output folder of ours.
SYSTEM_FOLDERS = frozenset(
    [
        "/",
        "/bin",
        "/boot",
        "/dev",
        "/dev/shm",
        "/etc",
        "/home",
        "/lib",
        "/lib32",
        "/lib64",
        "/media",
        "/mnt",
        "/opt",
        "/proc",
        "/root",
        "/run",
        "/run/user",
        "/sbin",
        "/srv",
        "/sys",
        "/tmp",
        "/usr",
        "/usr/local",
        "/var",
        "/var/backups",
        "/var/cache",
        "/var/lib",
        "/var/local",
        "/var/log",
        "/var/mail",
        "/var/opt",
        "/var/spool",
        "/var/tmp",
    ]
)
_SYSTEM_TREES = ("/proc", "/sys", "/dev", "/usr", "/etc", "/boot", "/bin", "/sbin", "/lib")


def is_system_folder(path: str | os.PathLike[str]) -> bool:
    """Whether `path` (made absolute, `..` resolved, symlinks not followed) is a system or
    shared folder (`/tmp`, `/var/lib`, `~`'s parent `/home`, ...) or lies inside a system tree
    (`/etc/...`, `/usr/...`): nothing hawizard may make its own."""
    text = os.path.normpath(os.path.abspath(os.fspath(path)))
    if text in SYSTEM_FOLDERS:
        return True
    return any(text.startswith(tree + "/") for tree in _SYSTEM_TREES)
