"""Can this host run a lab? Root, and the tools — with the apt command that installs them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from hawizard.lab.errors import LabError

# tool -> the Debian package that ships it
PACKAGES = {
    "systemd-nspawn": "systemd-container",
    "nft": "nftables",
    "ip": "iproute2",
    "unshare": "util-linux",
    "nsenter": "util-linux",
    "mount": "mount",
    "ssh-keygen": "openssh-client",
    "debootstrap": "debootstrap",
    "dpkg-scanpackages": "dpkg-dev",
}
RUN_TOOLS = ("systemd-nspawn", "nft", "ip", "unshare", "nsenter", "mount", "ssh-keygen")
BUILD_TOOLS = ("debootstrap", "dpkg-scanpackages")  # base image, package repository


def require_root(euid: int | None = None) -> None:
    """Raise unless running as root. `euid` is for tests: pass a fake one to see the message."""
    if (os.geteuid() if euid is None else euid) != 0:
        raise LabError(
            "hawizard lab needs root: it creates network namespaces, a bridge, overlay mounts "
            "and containers",
            "run it as root, e.g. `sudo hawizard lab up`",
        )


def require_tools(
    tools: Iterable[str] = RUN_TOOLS, which: Callable[[str], str | None] = shutil.which
) -> None:
    """Raise naming every missing tool and the one apt command that installs them all."""
    missing = [t for t in tools if which(t) is None]
    if missing:
        packages = sorted({PACKAGES.get(t, t) for t in missing})
        raise LabError(
            f"missing {', '.join(missing)} (needed by hawizard lab)",
            f"apt-get install -y {' '.join(packages)}",
        )


Which = Callable[[str], str | None]


def require_host(euid: int | None = None, which: Which = shutil.which) -> None:
    """Everything `lab up` needs except debootstrap, which only a base build needs."""
    require_root(euid)
    require_tools(RUN_TOOLS, which)


INOTIFY_INSTANCES = Path("/proc/sys/fs/inotify/max_user_instances")
MIN_INOTIFY_INSTANCES = 1024  # each node's systemd holds several; Debian's default is 128


def ensure_inotify_instances(
    path: Path = INOTIFY_INSTANCES, minimum: int = MIN_INOTIFY_INSTANCES
) -> int | None:
    """Raise the per-user inotify instance limit to `minimum` when it is lower; return the old
    value when it was raised, else None.

    Every node's systemd (PID 1) takes several inotify instances, all counted against root on
    the host: at Debian's default of 128 a busy host with a few labs makes the next node's
    systemd die at boot with "Failed to allocate manager object: Too many open files". Raising
    the limit only allows more instances; nothing else on the host changes behaviour.
    """
    try:
        current = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    if current >= minimum:
        return None
    try:
        path.write_text(f"{minimum}\n")
    except OSError as exc:
        raise LabError(
            f"fs.inotify.max_user_instances is {current}: lab nodes' systemd would run out of "
            f"inotify instances ({exc.strerror})",
            f"sysctl -w fs.inotify.max_user_instances={minimum}",
        ) from None
    return current


def lab_unavailable() -> str | None:
    """Why a lab cannot be built and run on this host (with the fix), or None when it can:
    for tests and benchmarks that skip or stop instead of failing halfway."""
    try:
        require_root()
        require_tools((*RUN_TOOLS, *BUILD_TOOLS))
    except LabError as exc:
        return str(exc)
    return None
