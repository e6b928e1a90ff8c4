"""The operator machine's own systemd units (the backup, maintenance and recorder timers and
services): where they go, written safely, and the refusal to schedule root code that anyone
but root could change. One place for the three schedulers (`ops.backup`, `ops.maintenance`,
`ops.recorder_service`)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from hawizard.localfs import atomic_write
from hawizard.ops.refusal import Refused
from hawizard.plan import Plan

__all__ = [
    "Schedule",
    "code_paths",
    "foreign_writable",
    "read_paths",
    "refuse_foreign_writable",
    "systemctl",
    "unit_dir",
    "write_unit",
]


@dataclass(frozen=True)
class Schedule:
    """A scheduled job's unit files, and whether systemd took them."""

    service: Path
    timer: Path
    user: bool
    enabled: bool
    note: str = ""


def unit_dir(*, user: bool) -> Path:
    if user:
        base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        return Path(base) / "systemd" / "user"
    return Path("/etc/systemd/system")


def write_unit(path: Path, text: str) -> None:
    """Created with its final mode and renamed into place (`localfs.atomic_write`: a unique
    `O_EXCL|O_NOFOLLOW` temp file), so no planted `.NAME.part` symlink is ever written through."""
    atomic_write(path, text, 0o644)


def read_paths(plan: Plan) -> list[Path]:
    """What a scheduled run reads besides its code: the PKI, known_hosts, the nodes' SSH keys."""
    out = [plan.pki_dir]
    if plan.cluster.known_hosts:
        out.append(plan.resolve(plan.cluster.known_hosts))
    out += [plan.resolve(n.ssh.key) for n in plan.nodes if n.ssh.key]
    if plan.backup.ssh_key:
        out.append(plan.resolve(plan.backup.ssh_key))
    return out


def code_paths() -> list[Path]:
    """What a root timer would execute: the interpreter (each symlink and its target), the
    folders on its import path and hawizard's own files."""
    import hawizard

    paths: list[Path] = []
    exe = Path(sys.executable)
    paths.append(exe)
    seen = 0
    while exe.is_symlink() and seen < 40:
        exe = exe.parent / os.readlink(exe)
        paths.append(exe)
        seen += 1
    paths.append(Path(os.path.realpath(sys.executable)))
    paths += [Path(p) for p in sys.path if p and os.path.isdir(p)]
    package = Path(hawizard.__file__).resolve().parent
    paths.append(package)
    paths += sorted(package.rglob("*.py"))
    return paths


def foreign_writable(paths: list[Path]) -> list[str]:
    """Each path (and every folder above it) that someone other than root owns or could
    write: `path (owner uid N, mode 0775)`. A sticky folder others write (/tmp) is fine as a
    parent: nobody else can replace what root put in it."""
    problems: list[str] = []
    checked: set[Path] = set()
    for start in paths:
        p = Path(os.path.abspath(start))
        for i, q in enumerate([p, *p.parents]):
            if q in checked:
                break
            checked.add(q)
            try:
                info = os.lstat(q)
            except OSError:
                continue
            mode = stat.S_IMODE(info.st_mode)
            writable = mode & 0o022 and not (i > 0 and mode & stat.S_ISVTX)
            if stat.S_ISLNK(info.st_mode):
                writable = False  # a link's own mode means nothing; its owner does
            if info.st_uid != 0 or writable:
                problems.append(f"{q} (owner uid {info.st_uid}, mode {mode:04o})")
    return problems


def refuse_foreign_writable(paths: list[Path], what: str) -> None:
    """Refuse to schedule `what` (a root timer or service) when others could change its code."""
    bad = foreign_writable(paths)
    if bad:
        raise Refused(
            f"{what} would run as root code that others can change: "
            + "; ".join(bad[:5])
            + (f" and {len(bad) - 5} more" if len(bad) > 5 else ""),
            "install hawizard root-owned (e.g. `python3 -m venv /opt/hawizard` as root, then "
            "`/opt/hawizard/bin/pip install hawizard`) and schedule with that, or schedule "
            "--user units as the operator",
        )


def systemctl(user: bool, *args: str) -> tuple[bool, str]:
    """`systemctl [--user] ARGS`: (succeeded, the last of what it said)."""
    tool = shutil.which("systemctl")
    if tool is None:
        return False, "no systemctl on this machine"
    argv = [tool, *(["--user"] if user else []), *args]
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    return r.returncode == 0, (r.stderr.strip() or r.stdout.strip())[-300:]
