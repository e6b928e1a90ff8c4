"""The lab's Debian base root filesystem: built once with debootstrap, cached by recipe hash.

Every node is an overlay on this one read-only tree, so a node costs ~8 MB and boots in under a
second. The cache key is a hash of the recipe (suite, packages, tweaks): change the recipe and
the next `lab up` builds a fresh base, while running labs keep the one they booted from. The
build goes into a temporary directory that is renamed into place only when complete, so an
interrupted build never leaves half a cache behind.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from hawizard.lab.errors import LabError
from hawizard.lab.preflight import BUILD_TOOLS, require_tools
from hawizard.lab.run import run

CACHE_ROOT = Path("/var/cache/hawizard/lab")
BUILD_TIMEOUT = 1200.0  # seconds; a cold debootstrap takes ~40 s on a good mirror

# Timers that would wake up on every node at once and compete for the host's cores.
QUIET_UNITS = (
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "e2scrub_all.timer",
    "fstrim.timer",
    "man-db.timer",
)

SSHD_CONFIG = """\
# hawizard lab: one per-node ed25519 host key, key-only root login, no DNS lookups.
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
MaxStartups 100:30:200
"""

BASE_HOSTS = """\
127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
"""


@dataclass(frozen=True)
class Recipe:
    """Everything that decides the content of the base image; its hash names the cache."""

    suite: str = "bookworm"
    variant: str = "minbase"
    packages: tuple[str, ...] = (
        "systemd",
        "systemd-sysv",
        "dbus",
        "openssh-server",
        "sudo",
        "iproute2",
        "curl",
        "ca-certificates",
        "procps",
        # Debian's "important" priority, so on any standard install (debootstrap's default
        # variant, the installer, cloud images); only minbase leaves it out
        "nftables",
    )
    quiet_units: tuple[str, ...] = QUIET_UNITS
    # haproxy, etcd, keepalived... are not in the image: hawizard installs them from the lab's
    # package repository (hawizard.lab.repo), as it would on a real host.
    disabled_units: tuple[str, ...] = ()
    sshd_config: str = SSHD_CONFIG
    hosts: str = BASE_HOSTS
    revision: int = 2  # bump when the customisation code below changes meaning

    def digest(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def host_mirror(sources_dir: Path = Path("/etc/apt")) -> str | None:
    """The Debian archive URI the host's apt already uses, or None to let debootstrap choose.

    Only the main archive counts (a suite without `-security`/`-updates`); no host name is ever
    hard-coded here.
    """
    files = sorted((sources_dir / "sources.list.d").glob("*.sources"))
    for f in files:
        for stanza in re.split(r"\n\s*\n", _read(f)):
            fields = _deb822(stanza)
            if "deb" not in fields.get("types", "").split():
                continue
            if any("-" not in s for s in fields.get("suites", "").split()):
                uris = fields.get("uris", "").split()
                if uris:
                    return uris[0]
    lists = [sources_dir / "sources.list", *sorted((sources_dir / "sources.list.d").glob("*.list"))]
    for f in lists:
        for line in _read(f).splitlines():
            words = re.sub(r"\[[^\]]*\]", " ", line).split()
            if len(words) >= 3 and words[0] == "deb" and "-" not in words[2]:
                return words[1]
    return None


def cached_base(recipe: Recipe | None = None, cache_root: Path = CACHE_ROOT) -> Path:
    """Where the base for this recipe lives (it may not exist yet)."""
    return cache_root / f"base-{(recipe or Recipe()).digest()}"


def ensure_base(
    recipe: Recipe | None = None, cache_root: Path = CACHE_ROOT, log: Path | None = None
) -> Path:
    """The cached base root filesystem for `recipe`, building it first when missing."""
    recipe = recipe or Recipe()
    final = cached_base(recipe, cache_root)
    if final.is_dir():
        return final
    require_tools(BUILD_TOOLS)
    cache_root.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(cache_root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second `lab up` waits for the first build
        if final.is_dir():
            return final
        _remove_stale_builds(cache_root)
        tmp = cache_root / f".build-{recipe.digest()}-{os.getpid()}"
        try:
            _debootstrap(recipe, tmp, log or cache_root / "build.log")
            customise(tmp, recipe)
            tmp.rename(final)
        finally:
            if tmp.exists():
                _discard(tmp)
    return final


def customise(root: Path, recipe: Recipe) -> None:
    """Turn a fresh debootstrap tree into a clonable node image (no identity of its own)."""
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()  # every node gets its own host key from the lab
    (root / "etc/ssh/sshd_config.d").mkdir(exist_ok=True)
    (root / "etc/ssh/sshd_config.d/hawizard-lab.conf").write_text(recipe.sshd_config)
    (root / "etc/machine-id").write_text("")  # clones must not share one id
    (root / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    resolv = root / "etc/resolv.conf"
    resolv.unlink(missing_ok=True)  # debootstrap copied the host's; nodes have no DNS
    resolv.write_text("")
    (root / "etc/hosts").write_text(recipe.hosts)
    (root / "etc/hostname").write_text("localhost\n")
    for deb in (root / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()
    # No source but the lab's own repository (each node gets its entry): nothing leaves the lab.
    (root / "etc/apt/sources.list").write_text("")
    for lists in (root / "var/lib/apt/lists").glob("*_*"):
        lists.unlink()
    systemctl = ["systemctl", f"--root={root}"]
    if recipe.disabled_units:
        run([*systemctl, "disable", *recipe.disabled_units], timeout=60)
    run([*systemctl, "mask", *recipe.quiet_units], timeout=60)


def _debootstrap(recipe: Recipe, target: Path, log: Path) -> None:
    argv = [
        "debootstrap",
        f"--variant={recipe.variant}",
        f"--include={','.join(recipe.packages)}",
        recipe.suite,
        str(target),
    ]
    mirror = host_mirror()
    if mirror:
        argv.append(mirror)
    with open(log, "w") as out:
        try:
            proc = subprocess.run(
                argv, stdout=out, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            raise LabError(
                f"debootstrap did not finish within {BUILD_TIMEOUT:.0f} s", f"see {log}"
            ) from None
    if proc.returncode != 0:
        tail = " / ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
        raise LabError(f"debootstrap failed (exit {proc.returncode}): {tail}", f"see {log}")


def _remove_stale_builds(cache_root: Path) -> None:
    """Leftovers of builds whose process is gone (we hold the lock, so none is running)."""
    for stale in cache_root.glob(".build-*"):
        _discard(stale)


def _discard(tree: Path) -> None:
    """Delete a half-built tree, unmounting first what debootstrap may have left (/proc, /sys)."""
    for mountpoint in sorted(mounts_below(tree), key=len, reverse=True):
        run(["umount", "--lazy", mountpoint], check=False)
    if mounts_below(tree):
        raise LabError(f"{tree} still has mounts; not deleting it", f"umount them below {tree}")
    shutil.rmtree(tree, ignore_errors=True)


def mounts_below(path: Path) -> list[str]:
    """Mount points at or below `path` in this mount namespace."""
    prefix = str(path.resolve())
    found = []
    for line in _read(Path("/proc/self/mountinfo")).splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            found.append(point)
    return found


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _deb822(stanza: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = ""
    for line in stanza.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if line[0].isspace() and key:
            fields[key] += " " + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
    return fields
