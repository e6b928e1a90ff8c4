"""The PKI a run would use, for a dry run: built in a private temp folder, never in `pki.dir`.

A dry run must write nothing locally, yet its steps compare the certificates they would
upload with the nodes' copies. So the existing PKI (if any) is copied into a fresh 0700 temp
folder, `create` fills in what is missing *there*, the dry run reads that, and the folder is
removed afterwards. The temp folder lives in hawizard's private runtime folder, named by the
dry run's PID, so a killed dry run's copy (CA keys included) is swept by the next one.
Only regular files are copied (a FIFO in the PKI is refused, not read).
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from hawizard.localfs import make_private_dirs, read_regular_bytes
from hawizard.pki.create import Outcome, create
from hawizard.plan import Plan

__all__ = ["preview"]


def runtime_dir() -> Path:
    """hawizard's private runtime folder on this machine (0700, ours): `/run/hawizard` for
    root, `$XDG_RUNTIME_DIR/hawizard` or `~/.cache/hawizard/run` otherwise. Never `/tmp`: a
    killed dry run's copy of the CA keys must not sit in a shared folder (issue 25)."""
    if os.geteuid() == 0 and os.path.isdir("/run"):
        folder = Path("/run/hawizard")
    elif os.environ.get("XDG_RUNTIME_DIR"):
        folder = Path(os.environ["XDG_RUNTIME_DIR"]) / "hawizard"
    else:
        folder = Path.home() / ".cache" / "hawizard" / "run"
    make_private_dirs(folder)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if info.st_uid != os.geteuid():
            raise PermissionError(errno.EPERM, "not your own folder", str(folder))
        if stat.S_IMODE(info.st_mode) != 0o700:
            os.fchmod(fd, 0o700)
    finally:
        os.close(fd)
    return folder


def sweep_stale(folder: Path) -> list[Path]:
    """Remove dry-run folders whose process is gone (killed before it could clean up);
    returns what was removed. A folder is named `dry-run-<pid>-<random>`."""
    removed = []
    for entry in sorted(folder.glob("dry-run-*")):
        try:
            pid = int(entry.name.split("-")[2])
        except (IndexError, ValueError):
            continue
        if _alive(pid) or entry.is_symlink() or not entry.is_dir():
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def preview(
    plan: Plan, on_removed: Callable[[Path], None] | None = None
) -> Iterator[tuple[Plan, list[Outcome]]]:
    """(the plan pointed at the temp PKI, what `create` did there); the temp PKI is removed
    when the block ends. A killed dry run's leftover is swept first (`on_removed` is told).
    Raises OSError when the real PKI cannot be read."""
    base = runtime_dir()
    for gone in sweep_stale(base):
        if on_removed is not None:
            on_removed(gone)
    scratch = Path(tempfile.mkdtemp(prefix=f"dry-run-{os.getpid()}-", dir=base))  # 0700
    try:
        root = scratch / "pki"
        if os.path.lexists(plan.pki_dir):
            shutil.copytree(plan.pki_dir, root, symlinks=False, copy_function=_copy_regular)
        shown = replace(plan, pki=replace(plan.pki, dir=str(root)))
        yield shown, create(shown)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _copy_regular(src: str, dst: str) -> str:
    data = read_regular_bytes(src)
    mode = stat.S_IMODE(os.stat(src).st_mode) & 0o644
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode or 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return dst
