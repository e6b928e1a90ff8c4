"""One change at a time per plan: an exclusive lock on `<plan>.lock` next to the plan file.

Two membership changes running at once are how clusters lose quorum (two members joining
together, a remove racing an add). `fcntl.flock` is released by the kernel when the holder
exits, however it exits, so a crash never leaves a stale lock behind. The file is opened
through `sidecars` (never through a symlink: `UnsafeSidecar` instead). The holder writes who
it is into the file, so a refused second command can say who holds the plan and since when.

The lock file is emptied, never deleted, on release: deleting a lock file that another
process has just opened would let two holders lock two different files.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hawizard import sidecars

__all__ = ["Holder", "LockFileUnsafe", "PlanLock", "PlanLocked", "lock_path"]


def lock_path(plan_path: str | Path) -> Path:
    return sidecars.lock_path(plan_path)


@dataclass(frozen=True)
class Holder:
    command: str
    pid: int
    host: str
    user: str
    since: str  # ISO 8601, UTC

    def describe(self) -> str:
        return (
            f"`{self.command}` (pid {self.pid} on {self.host}, user {self.user}, "
            f"since {self.since})"
        )


class PlanLocked(Exception):
    """Another process holds the plan; `holder` is who (None if it did not say yet)."""

    def __init__(self, path: Path, holder: Holder | None):
        self.path = path
        self.holder = holder
        who = holder.describe() if holder else "another process"
        super().__init__(
            f"{path.name.removesuffix('.lock')} is being changed by {who}; one change at a "
            f"time: wait for it to finish (lock file {path})"
        )


class LockFileUnsafe(PlanLocked):
    """The lock file is a symlink, a FIFO, a folder...: refused, never followed. A kind of
    `PlanLocked` so every caller refuses the run the same way (nobody could take the lock)."""

    def __init__(self, path: Path, cause: OSError):
        self.path = path
        self.holder = None
        Exception.__init__(self, cause.strerror or str(cause))


class PlanLock:
    """`with PlanLock(plan_path, "hawizard etcd add plan.toml n4"):` — raises `PlanLocked`
    at once (or after `wait` seconds) when another process holds the plan."""

    def __init__(self, plan_path: str | Path, command: str, *, wait: float = 0.0):
        self.path = lock_path(plan_path)
        self.command = command
        self.wait = wait
        self._fd: int | None = None

    def acquire(self) -> PlanLock:
        try:
            fd = sidecars.open_lock_file(self.path)
        except sidecars.UnsafeSidecar as exc:
            raise LockFileUnsafe(self.path, exc) from None
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd)
                    os.close(fd)
                    raise PlanLocked(self.path, holder) from None
                time.sleep(0.2)
        holder = Holder(
            command=self.command,
            pid=os.getpid(),
            host=socket.gethostname(),
            user=getpass.getuser(),
            since=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder.__dict__) + "\n").encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> PlanLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_holder(fd: int) -> Holder | None:
    try:
        raw = os.pread(fd, 4096, 0).decode(errors="replace").strip()
        data = json.loads(raw) if raw else None
        return Holder(**data) if isinstance(data, dict) else None
    except (OSError, ValueError, TypeError):
        return None
