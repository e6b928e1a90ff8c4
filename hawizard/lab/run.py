"""Running host commands for the lab: argument lists only, bounded, errors that say what failed."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from hawizard.lab.errors import LabError


def run(
    argv: Sequence[str],
    *,
    timeout: float = 30.0,
    check: bool = True,
    input: str | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run one command with a timeout; raise LabError with its stderr when it fails."""
    try:
        proc = subprocess.run(
            list(argv),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=cwd,
        )
    except subprocess.TimeoutExpired:
        raise LabError(f"`{' '.join(argv)}` did not finish within {timeout:.0f} s") from None
    except FileNotFoundError:
        raise LabError(f"`{argv[0]}` is not installed") from None
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise LabError(f"`{' '.join(argv)}` failed (exit {proc.returncode}): {' / '.join(detail)}")
    return proc


def ok(argv: Sequence[str], *, timeout: float = 30.0) -> bool:
    """True when the command exits 0 (for probes such as `ip link show NAME`)."""
    return run(argv, timeout=timeout, check=False).returncode == 0


def ssh_keygen(path: Path, comment: str) -> None:
    """A new passphrase-less ed25519 key pair at `path` (ssh-keygen writes the key 0600)."""
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
