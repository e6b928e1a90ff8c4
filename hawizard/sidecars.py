"""Every file kept beside the plan, named and read and written in one place.

Beside `plan.toml` hawizard keeps: the lock (`plan.toml.lock`), the run journal
(`plan.journal.json`) and one record per kind of operation in flight (`plan.change.json`,
`plan.rotate.json`, `plan.patch.json`, `plan.restore.json`, `plan.upgrade.json`, ...). A plan
folder may be shared, and hawizard often runs as root, so a planted symlink there must never turn a
write into the truncation of some other file. Hence, for every sidecar:

- opened with `O_NOFOLLOW` (a symlink is refused, never followed) and `O_NONBLOCK`
  (a FIFO cannot hang us), then `fstat`: only a regular file is read or locked;
- written atomically: a fresh temp file (`O_EXCL | O_NOFOLLOW`, 0600, random name) in the
  same folder, `fsync`, `rename` over the old one, `fsync` of the folder, so a crash leaves
  the old file or the new one, never half; a symlink (or folder, FIFO...) found at the
  target is refused instead of replaced;
- removed with `unlink`, which never follows a symlink either.

Anything refused raises `UnsafeSidecar` (an `OSError`), whose message names the file and
the fix; the operation driver turns it into a `Refused`.

Adding a record kind: add it to `RECORDS` (file suffix, what it holds, and how the command
that resumes it is spelled), then use `read_record` / `write_record` / `clear_record`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "RECORDS",
    "RecordKind",
    "UnsafeSidecar",
    "clear_record",
    "in_flight",
    "journal_path",
    "lock_path",
    "open_lock_file",
    "read_json",
    "read_record",
    "record_path",
    "recorder_path",
    "write_json",
    "write_record",
]

MAX_SIZE = 16 << 20


class UnsafeSidecar(OSError):
    """A file beside the plan is a symlink or not a regular file: refused, never followed."""


# --- names ------------------------------------------------------------------------------------


def _plan(plan_path: str | os.PathLike[str]) -> Path:
    return Path(plan_path)


def lock_path(plan_path: str | os.PathLike[str]) -> Path:
    """`<plan>.lock` (the plan's full name plus `.lock`), beside the resolved plan."""
    path = _plan(plan_path).resolve()
    return path.with_name(path.name + ".lock")


def journal_path(plan_path: str | os.PathLike[str]) -> Path:
    path = _plan(plan_path)
    return path.with_name(f"{path.stem}.journal.json")


def recorder_path(plan_path: str | os.PathLike[str]) -> Path:
    """`<plan stem>.record.sqlite`: the flight recorder's rounds (`hawizard.recorder`)."""
    path = _plan(plan_path)
    return path.with_name(f"{path.stem}.record.sqlite")


def _rotate_resume(label: str, data: dict) -> str:
    ca = data.get("ca")
    return f"hawizard certs rotate {label}" + (f" --ca {ca}" if ca else "")


def _change_resume(label: str, data: dict) -> str:
    op, node, old = data.get("op"), data.get("node"), data.get("old")
    if op == "replace":
        return f"hawizard etcd replace {label} {old} {node}"
    return f"hawizard etcd {op} {label} {node}"


def _patch_resume(label: str, data: dict) -> str:
    return (
        f"hawizard patch {label}"
        + ("" if data.get("security_only", True) else " --all")
        + (f" --reboot={data['reboot']}" if data.get("reboot", "auto") != "auto" else "")
    )


def _restore_resume(label: str, data: dict) -> str:
    return f"hawizard etcd restore {label} {data.get('snapshot', 'SNAPSHOT')}"


def _recover_resume(label: str, data: dict) -> str:
    return f"hawizard etcd recover {label}"


def _upgrade_resume(label: str, data: dict) -> str:
    return f"hawizard etcd upgrade {label}" + (
        f" --to {data['target']}" if data.get("target") else ""
    )


@dataclass(frozen=True)
class RecordKind:
    """One kind of operation in flight: `<plan stem>.<suffix>` while it is unfinished."""

    suffix: str
    noun: str  # "a membership change"
    resume: Callable[[str, dict], str]  # (plan label, record data) -> the command that resumes

    def what(self, data: dict) -> str:
        """ "a membership change is unfinished: add n4 (started ...)" from the record."""
        text = f"{self.noun} is unfinished"
        if self.suffix == "change.json" and data.get("op"):
            text += f": {data['op']} {data.get('node')}"
        return text + (f" (started {data['started']})" if data.get("started") else "")

    def unfinished(self, data: dict) -> bool:
        """A patch record stays after a finished run (its report); the others are removed."""
        return not data.get("finished") if self.suffix == "patch.json" else True


RECORDS: dict[str, RecordKind] = {
    "change": RecordKind("change.json", "a membership change", _change_resume),
    "rotate": RecordKind("rotate.json", "a certificate rotation", _rotate_resume),
    "patch": RecordKind("patch.json", "an OS patch run", _patch_resume),
    "restore": RecordKind("restore.json", "a restore", _restore_resume),
    "recover": RecordKind("recover.json", "a recovery from a survivor", _recover_resume),
    "upgrade": RecordKind("upgrade.json", "an etcd upgrade", _upgrade_resume),
}


def record_path(plan_path: str | os.PathLike[str], kind: str) -> Path:
    path = _plan(plan_path)
    return path.with_name(f"{path.stem}.{RECORDS[kind].suffix}")


# --- safe primitives --------------------------------------------------------------------------


def _refuse(path: Path, what: str) -> UnsafeSidecar:
    return UnsafeSidecar(
        errno.ELOOP,
        f"{path} is {what}; hawizard keeps only regular files beside the plan and never "
        "follows a link there: remove it (or move it aside) and run the command again",
        str(path),
    )


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    return "not a regular file"


def _open_regular(path: Path, flags: int, mode: int = 0o600) -> int:
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refuse(path, "a symbolic link") from None
        if exc.errno in (errno.EISDIR, errno.ENXIO):
            raise _refuse(path, _kind(os.lstat(path).st_mode)) from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise _refuse(path, _kind(info.st_mode))
    os.set_blocking(fd, True)
    return fd


def open_lock_file(path: Path) -> int:
    """The lock file's descriptor (created 0600 if missing), never through a symlink."""
    return _open_regular(path, os.O_RDWR | os.O_CREAT)


def open_database_file(path: Path) -> int:
    """A descriptor on the SQLite file at `path` (created 0600 if missing, made 0600 if not),
    refused if it or its journal files are symlinks or not regular files: checked before
    SQLite opens it by name, as sqlite3 cannot be told not to follow a link."""
    for extra in ("-journal", "-wal", "-shm"):
        side = path.with_name(path.name + extra)
        try:
            mode = os.lstat(side).st_mode
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(mode):
            raise _refuse(side, _kind(mode))
    fd = _open_regular(path, os.O_RDWR | os.O_CREAT)
    os.fchmod(fd, 0o600)
    return fd


def read_bytes(path: Path) -> bytes | None:
    """The file's bytes, or None when it does not exist."""
    try:
        fd = _open_regular(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        if os.fstat(fd).st_size > MAX_SIZE:
            raise OSError(errno.EFBIG, f"larger than {MAX_SIZE >> 20} MiB", str(path))
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_json(path: Path) -> Any:
    """Parsed JSON, or None when the file does not exist. Raises `UnsafeSidecar`, `OSError`,
    `ValueError` (not JSON)."""
    raw = read_bytes(path)
    if raw is None:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_bytes(path: Path, payload: bytes) -> None:
    """Replace `path` atomically with `payload` (0600); refuses a non-regular target."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISREG(info.st_mode):
            raise _refuse(path, _kind(info.st_mode))
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    try:
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def write_json(path: Path, data: Any) -> None:
    write_bytes(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def remove(path: Path) -> None:
    """Remove the file (a symlink is removed, its target untouched)."""
    path.unlink(missing_ok=True)
    fsync_dir(path.parent)


# --- records of operations in flight ----------------------------------------------------------


def read_record(plan_path: str | os.PathLike[str], kind: str) -> dict | None:
    """The record's JSON object, or None. Raises `UnsafeSidecar`, `OSError`, `ValueError`."""
    data = read_json(record_path(plan_path, kind))
    if data is not None and not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def write_record(plan_path: str | os.PathLike[str], kind: str, data: dict) -> None:
    write_json(record_path(plan_path, kind), data)


def clear_record(plan_path: str | os.PathLike[str], kind: str) -> None:
    remove(record_path(plan_path, kind))


@dataclass(frozen=True)
class InFlight:
    """An unfinished operation found beside the plan."""

    kind: str
    path: Path
    what: str
    resume: str  # the command that resumes (or finishes) it; "" when the record is unreadable
    problem: str = ""  # why the record could not be read (then it still counts as in flight)

    def describe(self) -> str:
        return f"{self.what} (recorded in {self.path.name})"


def in_flight(plan_path: str | os.PathLike[str], label: str) -> list[InFlight]:
    """Every unfinished operation recorded beside the plan. An unreadable or unsafe record
    counts as in flight (with no resume command, and the problem)."""
    found: list[InFlight] = []
    for kind, spec in RECORDS.items():
        path = record_path(plan_path, kind)
        if not os.path.lexists(path):
            continue
        try:
            data = read_record(plan_path, kind) or {}
        except (OSError, ValueError) as exc:
            problem = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            found.append(InFlight(kind, path, spec.what({}), "", problem))
            continue
        if not spec.unfinished(data):
            continue
        found.append(InFlight(kind, path, spec.what(data), spec.resume(label, data)))
    return found
