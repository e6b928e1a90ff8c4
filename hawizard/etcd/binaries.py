"""The etcd binaries for the air-gapped `upload` install: read, hashed and versioned once.

`etcd.binaries` names a folder holding `etcd` and `etcdctl` (and optionally `etcdutl`), or an
official release tarball (`etcd-v3.5.17-linux-amd64.tar.gz`, binaries under its top folder).

Their version is read from the binaries themselves (the Go build information every etcd 3.5+
binary carries names the `go.etcd.io/etcd/api/v3` module it was built with), else from the
release tarball's name, and `check_version` holds the plan's `etcd.version` to it before
anything is uploaded: the plan never claims one version while the nodes run another.
"""

from __future__ import annotations

import re
import tarfile
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from hawizard.artifacts import Artifact, BinariesError

REQUIRED = ("etcd", "etcdctl")
OPTIONAL = ("etcdutl",)

# Go build info: "dep\tgo.etcd.io/etcd/api/v3\tv3.5.17" (3.5 and later); 3.4 was one module.
# Found with bytes.find (a regex over 23 MB costs ten times as much), then read with a regex.
_BUILDINFO = (b"\tgo.etcd.io/etcd/api/v3\tv", b"\tgo.etcd.io/etcd\tv")
_VERSION = re.compile(rb"(\d+\.\d+\.\d+)\b")
_TARBALL = re.compile(r"etcd-v(\d+\.\d+\.\d+)-")
_LOAD_LOCK = threading.Lock()


@dataclass(frozen=True)
class Binary:
    """One binary: its bytes, sha256 and gzip copy are each made once (`Artifact`)."""

    name: str
    artifact: Artifact

    @property
    def data(self) -> bytes:
        return self.artifact.data

    @property
    def sha256(self) -> str:
        return self.artifact.sha256

    @property
    def gzipped(self) -> bytes:
        return self.artifact.gzipped()


def load_binaries(source: Path) -> tuple[Binary, ...]:
    """Required and optional binaries from a folder or tarball; clear error when incomplete.

    Cached per source: every node and every step of a run share one read, hash and gzip
    (the lock makes a caller wait for a load already under way instead of reading again)."""
    with _LOAD_LOCK:
        return _load(source.resolve())


def preload(source: Path) -> threading.Thread:
    """Read, hash and start compressing the binaries in the background (file reads, hashing
    and zlib release the GIL), e.g. while the certificates are checked; errors are left for
    the caller's own `load_binaries` to raise."""

    def work() -> None:
        try:
            for b in load_binaries(source):
                b.artifact.prepare()
        except (OSError, BinariesError):
            pass

    thread = threading.Thread(target=work, name="preload-etcd-binaries", daemon=True)
    thread.start()
    return thread


def binaries_version(source: Path) -> str | None:
    """The etcd version the binaries were built as, or None when they do not say."""
    etcd = next(b for b in load_binaries(source) if b.name == "etcd")
    for marker in _BUILDINFO:
        at = etcd.data.find(marker)
        if at >= 0 and (match := _VERSION.match(etcd.data, at + len(marker))):
            return match.group(1).decode()
    match = _TARBALL.search(source.name)
    return match.group(1) if match else None


def check_pins(source: Path, pins: dict[str, str]) -> None:
    """`etcd.sha256` (optional, like `control_plane.sha256`): each pinned binary must be in
    `source` with exactly that sha256, else BinariesError naming it; nothing is uploaded."""
    if not pins:
        return
    found = {b.name: b for b in load_binaries(source)}
    for name, expected in sorted(pins.items()):
        b = found.get(name)
        if b is None:
            raise BinariesError(f"etcd.sha256.{name}: {source} holds no {name} to check")
        if b.sha256 != expected.lower():
            raise BinariesError(
                f"etcd.sha256.{name}: {name} in {source} has sha256 {b.sha256}, not the "
                f"pinned {expected.lower()}; refusing to upload it"
            )


def check_version(source: Path, planned: str) -> str:
    """The binaries' version; BinariesError when it is known and not the plan's."""
    found = binaries_version(source)
    if found is not None and found != planned:
        raise BinariesError(
            f"etcd.version is {planned!r} but the binaries in {source} are etcd {found}: "
            f'set etcd.version = "{found}" in the plan, or point etcd.binaries at {planned}'
        )
    return found or planned


@lru_cache(maxsize=4)
def _load(source: Path) -> tuple[Binary, ...]:
    if source.is_dir():
        found = {
            n: (source / n).read_bytes() for n in (*REQUIRED, *OPTIONAL) if (source / n).is_file()
        }
    elif source.is_file() and tarfile.is_tarfile(source):
        found = _from_tarball(source)
    else:
        raise BinariesError(
            f"etcd.binaries: {source} is neither a folder with etcd and etcdctl nor a release "
            "tarball"
        )
    missing = [n for n in REQUIRED if n not in found]
    if missing:
        raise BinariesError(f"etcd.binaries: {source} has no {' or '.join(missing)}")
    return tuple(Binary(n, Artifact(n, found[n])) for n in (*REQUIRED, *OPTIONAL) if n in found)


def _from_tarball(path: Path) -> dict[str, bytes]:
    wanted = {*REQUIRED, *OPTIONAL}
    found: dict[str, bytes] = {}
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            name = member.name.rsplit("/", 1)[-1]
            # Only regular files directly under the release's top folder (no links, no paths
            # that could climb out): the bytes are read into memory, never extracted to disk.
            if name in wanted and member.isfile() and member.name.count("/") <= 1:
                fh = tar.extractfile(member)
                if fh is not None:
                    found[name] = fh.read()
    return found
