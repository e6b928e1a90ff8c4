"""Host processes by PID *and* start time, so a recycled PID is never signalled by mistake."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

PROC = Path("/proc")


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state is [0], ppid [1], start [19])."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return text[text.rindex(")") + 2 :].split()


def start_time(pid: int) -> int:
    """Clock ticks after boot at which `pid` started; 0 when there is no such process."""
    fields = _stat(pid)
    return int(fields[19]) if fields else 0


def alive(pid: int, started: int) -> bool:
    """The very process we started is still running (zombies count as gone)."""
    if pid <= 0:
        return False
    fields = _stat(pid)
    if fields is None or fields[0] in ("Z", "X"):
        reap(pid)
        return False
    return int(fields[19]) == started


def reap(pid: int) -> None:
    """Collect the exit status when we are the parent, so no zombie lingers."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def children(pid: int) -> list[int]:
    out = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields and int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, depth first."""
    found: list[int] = []
    todo = [pid]
    while todo:
        kids = children(todo.pop())
        found.extend(kids)
        todo.extend(kids)
    return found


def ns_pid(pid: int) -> int | None:
    """The PID of `pid` as seen inside its own (innermost) PID namespace."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def signal_if_ours(pid: int, started: int, sig: signal.Signals) -> bool:
    """Send `sig` only when `pid` is still the process that started at `started`."""
    if not alive(pid, started):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
        return True
    return False
