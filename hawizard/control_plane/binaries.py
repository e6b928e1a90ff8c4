"""The Kubernetes binaries: downloaded on each node (sha256 checked before use) or uploaded.

- `download`: the node fetches the official release file itself (dl.k8s.io). The script
  below puts it in a fresh temp dir, compares its sha256 with the plan's, and only then installs
  it into `/usr/local/bin`; a mismatch leaves the installed binary untouched.
- `upload` (air-gapped): from a local folder holding the binaries, or from
  `kubernetes-server-linux-amd64.tar.gz` whose `kubernetes/server/bin/<name>` members are
  extracted once per run (only those members, only regular files: no path in the archive can
  write outside the work folder). A sha256 in the plan is checked here as well.
"""

from __future__ import annotations

import atexit
import gzip
import hashlib
import shlex
import shutil
import tarfile
import tempfile
import threading
from pathlib import Path

from hawizard.artifacts import BinariesError
from hawizard.plan import KUBE_BINARIES

__all__ = [
    "ARCHES",
    "RELEASE_URL",
    "BinaryError",
    "LocalBinaries",
    "download_script",
    "extract_server_tarball",
    "find_local_binaries",
    "release_url",
    "sha256_file",
    "verify_sha256",
]

RELEASE_URL = "https://dl.k8s.io/release/v{version}/bin/linux/{arch}/{name}"
TARBALL_DIR = "kubernetes/server/bin"
# `uname -m` -> the architecture name in Kubernetes release URLs.
ARCHES = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "armv7l": "arm",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
}
DOWNLOAD_TIMEOUT = 600  # seconds for one binary (kube-apiserver is ~90 MB)


class BinaryError(BinariesError):
    """A binary is missing, or its sha256 is not the one the plan expects.

    A kind of `BinariesError` (as etcd's binaries raise), so `hawizard apply` reports both alike."""


def release_url(version: str, arch: str, name: str) -> str:
    return RELEASE_URL.format(version=version.removeprefix("v"), arch=arch, name=name)


def download_script(url: str, sha256: str, dest: str, *, timeout: int = DOWNLOAD_TIMEOUT) -> str:
    """A POSIX sh script: download `url`, check `sha256`, install to `dest` 0755 root:root.

    Every value is shell-quoted. The temp dir is removed whatever happens; on a mismatch the
    script names both digests and exits 1 before `dest` is touched.
    """
    q = shlex.quote
    if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256.lower()):
        raise BinaryError(f"{sha256!r} is not a sha256 (64 hex digits)")
    sha = sha256.lower()
    return (
        "set -eu\n"
        'd=$(mktemp -d "${TMPDIR:-/tmp}/hawizard.XXXXXXXX")\n'
        "trap 'rm -rf -- \"$d\"' EXIT\n"
        f"curl -fsSL --retry 3 --connect-timeout 10 --max-time {int(timeout)} "
        f'-o "$d/bin" {q(url)}\n'
        'got=$(sha256sum < "$d/bin" | cut -c1-64)\n'
        f'if [ "$got" != {q(sha)} ]; then\n'
        f'  echo "sha256 mismatch for "{q(url)}": expected "{q(sha)}", got $got" >&2\n'
        "  exit 1\n"
        "fi\n"
        f'install -m 0755 -o root -g root -- "$d/bin" {q(dest)}\n'
    )


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def verify_sha256(files: dict[str, Path], expected: dict[str, str]) -> None:
    """Raise BinaryError naming every binary whose sha256 differs from the plan's."""
    bad = []
    for name, path in files.items():
        want = expected.get(name, "").lower()
        if want and (got := sha256_file(path)) != want:
            bad.append(f"{name} ({path}): expected sha256 {want}, got {got}")
    if bad:
        raise BinaryError("sha256 mismatch: " + "; ".join(bad))


def find_local_binaries(folder: Path, names: tuple[str, ...] = KUBE_BINARIES) -> dict[str, Path]:
    """The binaries in `folder` or in its `kubernetes/server/bin` (an unpacked tarball)."""
    for base in (folder, folder / TARBALL_DIR):
        found = {n: base / n for n in names if (base / n).is_file()}
        if len(found) == len(names):
            return found
    missing = [n for n in names if not (folder / n).is_file()]
    raise BinaryError(f"{folder} lacks {', '.join(missing)} (nor has {TARBALL_DIR}/ with them)")


def extract_server_tarball(
    tarball: Path, dest: Path, names: tuple[str, ...] = KUBE_BINARIES
) -> dict[str, Path]:
    """Extract `kubernetes/server/bin/<name>` for each name into `dest` (one pass, streamed).

    Only those exact members are read, and only if they are regular files, so a link or a
    `../` path in the archive can never write anywhere else.
    """
    wanted = {f"{TARBALL_DIR}/{n}": n for n in names}
    out: dict[str, Path] = {}
    try:
        with tarfile.open(tarball, "r:*") as tar:
            for member in tar:
                name = wanted.get(member.name.removeprefix("./"))
                if name is None or name in out:
                    continue
                if not member.isreg():
                    raise BinaryError(f"{tarball}: {member.name} is not a regular file")
                src = tar.extractfile(member)
                assert src is not None  # a regular member always has data
                target = dest / name
                with src, open(target, "wb") as f:
                    shutil.copyfileobj(src, f, 1 << 20)
                target.chmod(0o755)
                out[name] = target
                if len(out) == len(names):
                    break
    except (tarfile.TarError, OSError) as exc:
        raise BinaryError(f"cannot read {tarball}: {exc}") from None
    missing = [n for n in names if n not in out]
    if missing:
        raise BinaryError(f"{tarball} has no {', '.join(f'{TARBALL_DIR}/{n}' for n in missing)}")
    return out


class LocalBinaries:
    """The upload source, resolved once per run and shared by every node's step (thread-safe).

    A tarball is extracted into a private temp folder removed when the process exits.
    """

    def __init__(self, source: Path, expected: dict[str, str] | None = None):
        self.source = source
        self.expected = dict(expected or {})
        self._lock = threading.Lock()
        self._files: dict[str, Path] | None = None
        self._sha: dict[str, str] = {}
        self._gz: dict[str, bytes] = {}
        self._gz_locks: dict[str, threading.Lock] = {}

    def files(self) -> dict[str, Path]:
        with self._lock:
            if self._files is None:
                self._files = self._resolve()
                verify_sha256(self._files, self.expected)
            return self._files

    def sha256(self, name: str) -> str:
        path = self.files()[name]
        with self._lock:
            if name not in self._sha:
                self._sha[name] = sha256_file(path)
            return self._sha[name]

    def gzipped(self, name: str) -> bytes:
        """The binary gzip-compressed, once per run for all masters: SSH throughput here is
        bound by the interpreter, so sending a third of the bytes is what makes uploads fast.
        One lock per binary: masters asking for the same one wait for a single compression,
        while different binaries compress at once (zlib releases the GIL)."""
        path = self.files()[name]
        with self._lock:
            lock = self._gz_locks.setdefault(name, threading.Lock())
        with lock:
            if name not in self._gz:
                self._gz[name] = gzip.compress(path.read_bytes(), compresslevel=1)
            return self._gz[name]

    def _resolve(self) -> dict[str, Path]:
        if self.source.is_dir():
            return find_local_binaries(self.source)
        if self.source.is_file():
            work = Path(tempfile.mkdtemp(prefix="hawizard-kube-"))
            atexit.register(shutil.rmtree, work, ignore_errors=True)
            return extract_server_tarball(self.source, work)
        raise BinaryError(
            f"control_plane.binaries = {str(self.source)!r} does not exist "
            "(a folder with the binaries, or kubernetes-server-linux-amd64.tar.gz)"
        )
