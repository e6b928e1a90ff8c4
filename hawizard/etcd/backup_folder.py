"""The backup folder: a private folder of the operator's, and reads that cannot be tricked.

The backup job may run as root from a timer, unattended (issue 25). In a folder others can
write, a planted symlink turns root's writes into writes anywhere, a FIFO named like a record
hangs every `list` and `status`, and a planted record claims a "verified" backup. So:
- `check_folder` refuses system folders, folders others can write (group or world, sticky
  included), folders owned by someone else, symlinks, and a folder whose parents someone
  else could swap; it creates a missing folder 0700 and tightens one of ours to 0700.
- `read_record` reads only a regular file, never through a symlink, never blocking on a FIFO.
- `is_regular` says whether a name is a regular file itself (not a symlink to one).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from hawizard.localfs import is_system_folder, make_private_dirs

__all__ = ["UnsafeFolder", "check_folder", "is_regular", "read_record"]

RECORD_LIMIT = 1 << 20  # a record is a few hundred bytes


class UnsafeFolder(ValueError):
    """The folder cannot hold backups safely; `str()` says why, `hint` the fix."""

    def __init__(self, folder: Path, why: str, hint: str):
        self.folder, self.why, self.hint = folder, why, hint
        super().__init__(f"backup folder {folder} {why}")


def check_folder(folder: Path, *, create: bool = True) -> Path:
    """`folder` made safe to hold backups, or `UnsafeFolder`. Returns the absolute path."""
    folder = Path(os.path.abspath(folder))
    own = "give a folder of your own, e.g. <plan dir>/backups (created 0700)"
    if is_system_folder(folder):
        raise UnsafeFolder(folder, "is a system folder", own)
    _check_parents(folder, own)
    if create:
        make_private_dirs(folder)
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return folder  # nothing there yet (a listing): nothing to refuse
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafeFolder(folder, "is a symlink or not a folder", own) from None
        raise
    try:
        info = os.fstat(fd)
        mode = stat.S_IMODE(info.st_mode)
        if info.st_uid != os.geteuid():
            raise UnsafeFolder(folder, f"belongs to uid {info.st_uid}, not to you", own)
        if mode & stat.S_ISVTX:
            raise UnsafeFolder(folder, "is a sticky (shared) folder", own)
        if mode & 0o022:
            raise UnsafeFolder(
                folder,
                f"is writable by {'others' if mode & 0o002 else 'its group'} (mode {mode:04o})",
                f"`chmod 700 {folder}`, or {own}",
            )
        if mode & 0o077:
            os.fchmod(fd, 0o700)  # ours and not shared: backups hold every key of the cluster
    finally:
        os.close(fd)
    return folder


def _check_parents(folder: Path, hint: str) -> None:
    """Every existing parent belongs to root or to us, and nobody else can rename entries in
    it (a writable parent without the sticky bit lets anyone swap the folder for a symlink)."""
    me = os.geteuid()
    for parent in folder.parents:
        try:
            info = os.stat(parent)
        except FileNotFoundError:
            continue
        mode = stat.S_IMODE(info.st_mode)
        if info.st_uid not in (0, me):
            raise UnsafeFolder(
                folder, f"lies in {parent}, which belongs to uid {info.st_uid}", hint
            )
        if mode & 0o022 and not mode & stat.S_ISVTX:
            raise UnsafeFolder(
                folder, f"lies in {parent}, which others can write (mode {mode:04o})", hint
            )


def is_regular(path: Path) -> os.stat_result | None:
    """The file's own stat when it is a regular file (a symlink is not), else None."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return info if stat.S_ISREG(info.st_mode) else None


def read_record(path: Path) -> bytes | None:
    """A record's bytes; None when it is missing, a symlink, a FIFO or anything but a small
    regular file (`O_NONBLOCK` so opening a FIFO never waits for a writer)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > RECORD_LIMIT:
            return None
        os.set_blocking(fd, True)
        return os.read(fd, RECORD_LIMIT + 1)
    finally:
        os.close(fd)
