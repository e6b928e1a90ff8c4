"""The lab's local apt repository: the packages hawizard installs, built once on the host.

Lab nodes have no route beyond the lab, yet hawizard installs etcd (`etcd.install =
"package"`), haproxy, keepalived and node exporters from the distribution's packages, as it
would on a real host. So the host downloads those `.deb`s once with its own apt, resolved
against the **base image's** dpkg database (exactly what a node lacks, for the nodes' suite),
into a clean directory (the named packages themselves always, even one the image has, such as
nftables: a node may have had it removed), and indexes them (`dpkg-scanpackages`, plus a
Release file written here). Every node sees that directory read-only through a bind mount, with one
`sources.list.d` entry and no other source, so nothing a node installs comes from outside the
lab.

The cache key is the package list, the suite and the base image it was resolved against; a
second `lab up` finds the directory and costs nothing. Like the base image, a build goes into a
temporary directory renamed into place only when complete.

Extend the set with `hawizard lab up --package NAME` (or `Lab.up(packages=...)`), or add to
`DEFAULT_PACKAGES` when hawizard itself starts installing something new.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hawizard.lab.errors import LabError
from hawizard.lab.rootfs import CACHE_ROOT
from hawizard.lab.run import run

# What hawizard installs from packages: etcd's package path, the balancer (issue 15: haproxy +
# keepalived, nftables), monitoring (issue 18: node exporter on every node, prometheus on one).
DEFAULT_PACKAGES: tuple[str, ...] = (
    "etcd-server",
    "etcd-client",
    "haproxy",
    "keepalived",
    "nftables",  # the balancer's VRRP firewall (issue 25: a table of hawizard's own)
    "prometheus-node-exporter",
    "prometheus",
)
MOUNT_POINT = "/srv/hawizard-lab-repo"  # where every node sees the repository (read-only)
SOURCES_PATH = "etc/apt/sources.list.d/hawizard-lab.list"  # relative to a node's root
BUILD_TIMEOUT = 900.0
_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")  # Debian policy 5.6.1


def sources_entry(mount_point: str = MOUNT_POINT) -> str:
    """The one apt source a lab node has.

    `[trusted=yes]` skips signature checks for this source only. That is acceptable here and
    nowhere else: the repository is a read-only bind mount of a directory the host's own apt
    filled from its signed Debian sources (checked by the host's apt while downloading), on the
    same machine, never a network location. Signing it again with a throw-away key would prove
    nothing more.
    """
    return (
        "# hawizard lab: the host's local repository (read-only bind mount); no other source.\n"
        f"deb [trusted=yes] file:{mount_point} ./\n"
    )


@dataclass(frozen=True)
class RepoRecipe:
    """What decides the repository's content; its hash (with the base image's) names the cache."""

    suite: str = "bookworm"
    packages: tuple[str, ...] = DEFAULT_PACKAGES
    revision: int = 2  # bump when the build code below changes meaning

    def __post_init__(self) -> None:
        bad = [p for p in self.packages if not _NAME.match(p)]
        if bad:
            raise LabError(
                f"{', '.join(map(repr, bad))} is not a Debian package name",
                "package names are lower-case letters, digits and + - . (e.g. keepalived)",
            )

    def with_packages(self, extra: tuple[str, ...]) -> RepoRecipe:
        merged = tuple(dict.fromkeys((*self.packages, *extra)))
        return RepoRecipe(self.suite, merged, self.revision)

    def digest(self, base: Path) -> str:
        text = json.dumps(
            {
                "suite": self.suite,
                "packages": sorted(self.packages),
                "base": base.name,
                "revision": self.revision,
            },
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def cached_repo(recipe: RepoRecipe, base: Path, cache_root: Path = CACHE_ROOT) -> Path:
    return cache_root / f"repo-{recipe.digest(base)}"


def ensure_repo(recipe: RepoRecipe, base: Path, cache_root: Path = CACHE_ROOT) -> Path:
    """The cached repository for `recipe` resolved against `base`, building it when missing."""
    final = cached_repo(recipe, base, cache_root)
    if (final / "Packages").is_file():
        return final
    for tool, package in (("apt-get", "apt"), ("dpkg-scanpackages", "dpkg-dev")):
        if shutil.which(tool) is None:
            raise LabError(
                f"missing {tool} (needed to build the lab's package repository)",
                f"apt-get install -y {package}",
            )
    check_suite(recipe.suite)
    cache_root.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(cache_root / ".repo-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second `lab up` waits for the first build
        if (final / "Packages").is_file():
            return final
        for stale in cache_root.glob(".repo-build-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = cache_root / f".repo-build-{recipe.digest(base)}-{os.getpid()}"
        try:
            tmp.mkdir(mode=0o755)
            check_available(recipe.packages)
            download(recipe.packages, base, tmp)
            index(tmp, recipe.suite)
            if final.exists():
                shutil.rmtree(final)  # an incomplete leftover (no Packages file)
            tmp.rename(final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return final


def check_suite(suite: str, os_release: Path = Path("/etc/os-release")) -> None:
    """The host's apt resolves for its own release: refuse to build for another suite."""
    try:
        text = os_release.read_text()
    except OSError:
        text = ""
    match = re.search(r"^VERSION_CODENAME=\"?([a-z]+)", text, re.M)
    host = match.group(1) if match else "unknown"
    if host != suite:
        raise LabError(
            f"this host runs {host}, the lab nodes {suite}: the host's apt cannot resolve "
            f"packages for {suite}",
            f"build the lab on a {suite} host",
        )


def check_available(packages: tuple[str, ...]) -> None:
    """Every package must have a candidate in the host's apt: name the ones that do not."""
    proc = run(["apt-cache", "policy", *packages], timeout=60, check=False)
    candidates: dict[str, str] = {}
    current = ""
    for line in proc.stdout.splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            current = line[:-1]
        elif line.strip().startswith("Candidate:") and current:
            candidates[current] = line.split(":", 1)[1].strip()
    missing = [p for p in packages if candidates.get(p, "(none)") == "(none)"]
    if missing:
        raise LabError(
            f"package {', '.join(missing)} is not available from this host's apt sources, "
            "so the lab's package repository cannot include it",
            "check the name (apt-cache search NAME), or run `apt-get update` on the host",
        )


def download(packages: tuple[str, ...], base: Path, dest: Path) -> None:
    """`apt-get install --download-only --reinstall` of `packages` (each one even when the base
    image has it) and every dependency the base image lacks, into `dest` only (a clean archive
    dir; the host's own cache and dpkg are untouched)."""
    (dest / "partial").mkdir(exist_ok=True)
    status = base / "var/lib/dpkg/status"
    argv = [
        "apt-get",
        "-q",
        "-y",
        "-o",
        f"Dir::State::status={status}",
        "-o",
        f"Dir::Cache::archives={dest}",
        "-o",
        "Debug::NoLocking=1",  # download-only into our own dir: the host's dpkg lock is not ours
        "-o",
        "APT::Install-Recommends=false",
        "install",
        "--download-only",
        "--reinstall",
        *packages,
    ]
    proc = run(argv, timeout=BUILD_TIMEOUT, check=False)
    if proc.returncode != 0:
        tail = " / ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise LabError(
            f"downloading the lab's packages failed (exit {proc.returncode}): {tail}",
            "run `apt-get update` on the host and try again",
        )
    shutil.rmtree(dest / "partial", ignore_errors=True)
    (dest / "lock").unlink(missing_ok=True)
    for deb in dest.glob("*.deb"):
        os.chmod(deb, 0o644)  # apt's sandbox user (_apt) on the node reads them


def index(repo: Path, suite: str) -> None:
    """A flat repository: `Packages`, `Packages.gz` and a `Release` with their checksums."""
    proc = run(["dpkg-scanpackages", "--multiversion", "."], timeout=120, cwd=repo)
    packages = proc.stdout.encode()
    (repo / "Packages").write_bytes(packages)
    (repo / "Packages.gz").write_bytes(gzip.compress(packages, mtime=0))
    (repo / "Release").write_text(release_text(repo, suite))
    for name in ("Packages", "Packages.gz", "Release"):
        os.chmod(repo / name, 0o644)


def release_text(repo: Path, suite: str) -> str:
    lines = [
        "Origin: hawizard-lab",
        "Label: hawizard-lab",
        f"Suite: {suite}",
        f"Codename: {suite}",
        f"Date: {datetime.now(UTC).strftime('%a, %d %b %Y %H:%M:%S UTC')}",
        "SHA256:",
    ]
    for name in ("Packages", "Packages.gz"):
        data = (repo / name).read_bytes()
        lines.append(f" {hashlib.sha256(data).hexdigest()} {len(data)} {name}")
    return "\n".join(lines) + "\n"


def package_names(repo: Path) -> list[str]:
    """The package names the repository offers (from its index)."""
    text = (repo / "Packages").read_text(errors="replace")
    return sorted({m.group(1) for m in re.finditer(r"^Package: (\S+)$", text, re.M)})
