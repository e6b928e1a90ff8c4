"""Files on a `Host`: uploads (one or many, through stdin), downloads, stat and ensure.

Nothing secret ever appears on a command line: file contents go through stdin. Uploads pass
through the Host's `_side_effect`, so a dry run records them instead.
"""

from __future__ import annotations

import gzip
import hashlib
import shlex
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hawizard import digest_cache
from hawizard.remote.errors import RemoteError

__all__ = ["SHA256_SH", "HostFiles", "Upload"]

# put_many without compression: a file this large is sent as its own chunk, not copied
_CHUNK = 1 << 20
# read_text_or_none: the exit code that means "no such file" (cat itself never exits with it).
_MISSING = 100


@dataclass(frozen=True)
class Upload:
    """One entry of `Host.put_many`: a file (exact bytes, mode, owner) or a directory.

    `sha256` is of `data`; give it when it is known already (large files), so nothing hashes
    the same bytes twice. `gzipped` is a gzip copy of `data` to send instead (large files:
    SSH throughput here is bound by the interpreter, not the network)."""

    path: str
    data: bytes = b""
    mode: int = 0o644
    owner: str = "root"
    group: str = "root"
    is_dir: bool = False
    sha256: str = ""
    gzipped: bytes | Callable[[], bytes] | None = None  # a callable is asked only when sent
    remember: bool = False  # record its verified sha256 in the node's digest cache

    @property
    def digest(self) -> str:
        return self.sha256 or hashlib.sha256(self.data).hexdigest()

    def summary(self) -> str:
        if self.is_dir:
            return shlex.join(_install_dir_argv(self.path, self.mode, self.owner, self.group))
        gz = " gzipped" if self.gzipped is not None else ""
        return (
            f"{self.path} (mode {self.mode:04o}, {self.owner}:{self.group}, "
            f"{len(self.data)} bytes{gz})"
        )


def _install_dir_argv(path: str, mode: int, owner: str, group: str) -> list[str]:
    return ["install", "-d", "-m", f"{mode:04o}", "-o", owner, "-g", group, "--", path]


class HostFiles:
    """The file part of `Host` (mixed into it): built on its `run`, `probe`, `_exec`, `_raw`,
    `_sudo_prefix` and `_side_effect`."""

    def put(
        self,
        data: bytes | str,
        remote_path: str,
        mode: int = 0o644,
        owner: str = "root",
        group: str = "root",
        *,
        gzipped: bool = False,
    ) -> None:
        """Write a file with exact mode and owner. The bytes travel on stdin into a fresh
        `mktemp -d` (0700) dir under umask 077, `install` moves them into place, and the temp
        dir is removed whatever happened. The parent directory must exist (`ensure_dir`).

        `gzipped`: `data` is gzip-compressed and unpacked on the node. Large binaries go this
        way because SSH throughput here is bound by the interpreter, not the network."""
        if isinstance(data, str):
            data = data.encode()
        size = f"{len(data)} bytes{' gzipped' if gzipped else ''}"
        summary = f"{remote_path} (mode {mode:04o}, {owner}:{group}, {size})"
        if self._side_effect("upload", summary, True) is not None:
            return
        q = shlex.quote
        install = f'install -m {mode:04o} -o {q(owner)} -g {q(group)} -- "$d/f" {q(remote_path)}'
        script = (
            'umask 077; d=$(mktemp -d "${TMPDIR:-/tmp}/hawizard.XXXXXXXX") || exit 1; '
            f'{"gzip -dc" if gzipped else "cat"} > "$d/f" && {install}; rc=$?; '
            'rm -rf -- "$d"; exit $rc'
        )
        exited, _, err = self._exec(script, sudo=True, stdin=data, timeout=None, stream=False)
        if exited != 0:
            raise RemoteError(
                self.name,
                f"upload {summary}",
                f"upload failed with exit {exited}",
                exited=exited,
                stderr=err.decode(errors="replace"),
            )

    def put_many(
        self,
        uploads: Sequence[Upload],
        *,
        first: Sequence[Sequence[str]] = (),
        timeout: float | None = None,
        digests: str = digest_cache.PATH,
    ) -> None:
        """Write a group of files and directories, in order, through one channel.

        One gzip-compressed tar stream carries every file (a large file's cached gzip copy is
        sent as is: gzip streams concatenate) into a fresh `mktemp -d` (0700) dir; the node
        checks each file's sha256 before `install` puts anything in place with its mode and
        owner, and the temp dir is removed whatever happened. `first`: commands (argv) run
        after the checks and before the installs, e.g. adding the user that will own files.
        In a dry run each command, file and directory is recorded as `run`, `put` and
        `ensure_dir` record them. Uploads marked `remember` have their sha256 (checked) kept
        in the node's digest cache (`digests`) once installed."""
        recorded = [self._side_effect("run", shlex.join(argv), True) for argv in first]
        recorded += [
            self._side_effect("run" if u.is_dir else "upload", u.summary(), True) for u in uploads
        ]
        if not recorded or any(r is not None for r in recorded):
            return
        chunks, script = _bundle(uploads, first, digests, compress=self.compress)
        exited, _, err = self._exec(script, sudo=True, stdin=chunks, timeout=timeout, stream=False)
        if exited != 0:
            raise RemoteError(
                self.name,
                f"upload {len(uploads)} file(s): {', '.join(u.path for u in uploads)}",
                f"upload failed with exit {exited}",
                exited=exited,
                stderr=err.decode(errors="replace"),
            )

    def get(self, remote_path: str, *, sudo: bool = True) -> bytes:
        """A remote file's bytes (through sudo, so root-only files work)."""
        text = shlex.join(["cat", "--", remote_path])
        exited, out, err = self._exec(text, sudo=sudo, stdin=None, timeout=None, stream=False)
        if exited != 0:
            raise self._unreadable(text, exited, err)
        return out

    def _unreadable(self, command: str, exited: int, err: bytes) -> RemoteError:
        return RemoteError(
            self.name,
            command,
            f"cannot read file (exit {exited})",
            exited=exited,
            stderr=err.decode(errors="replace"),
        )

    def download(self, remote_path: str, write: Callable[[bytes], object]) -> int:
        """Stream a remote file (through sudo) into `write` as it arrives; its size in bytes.

        Nothing is held in memory beyond one chunk: a multi-gigabyte etcd snapshot goes
        straight to disk (and to a running sha256) instead of into a bytes object.
        """
        text = shlex.join(["cat", "--", remote_path])
        prefix, secret = self._sudo_prefix()
        full = prefix + shlex.quote(text) if prefix else text
        size = 0

        def sink(chunk: bytes) -> None:
            nonlocal size
            size += len(chunk)
            write(chunk)

        exited, _, err = self._raw(full, secret, self.timeouts.command, None, out_sink=sink)
        if exited != 0:
            raise self._unreadable(text, exited, err)
        return size

    def exists(self, path: str) -> bool:
        return self.probe(["test", "-e", path]).exited == 0

    def read_text_or_none(self, path: str) -> str | None:
        """The file's text, or None when it does not exist (other failures raise)."""
        q = shlex.quote(path)
        text = f"[ -e {q} ] || exit {_MISSING}; cat -- {q}"
        exited, out, err = self._exec(text, sudo=True, stdin=None, timeout=None, stream=False)
        if exited == _MISSING:
            return None
        if exited != 0:
            raise RemoteError(
                self.name,
                f"cat -- {q}",
                f"cannot read file (exit {exited})",
                exited=exited,
                stderr=err.decode(errors="replace"),
            )
        return out.decode(errors="replace")

    def _stat(self, path: str, *, want_hash: bool) -> tuple[int, str, str, str] | None:
        """(mode, owner, group, sha256 or "") of a path, or None when it is missing."""
        q = shlex.quote(path)
        text = f"[ -e {q} ] || exit {_MISSING}; stat -c '%a %U %G %u %g' -- {q}"
        if want_hash:
            text += f" && sha256sum < {q}"
        r = self.probe(text)
        if r.exited == _MISSING:
            return None
        if r.exited != 0:
            raise RemoteError(
                self.name, text, f"cannot inspect {path}", exited=r.exited, stderr=r.stderr
            )
        lines = r.stdout.splitlines()
        mode, user, grp, uid, gid = lines[0].split()
        digest = lines[1][:64] if want_hash and len(lines) > 1 else ""
        return int(mode, 8), f"{user}/{uid}", f"{grp}/{gid}", digest

    @staticmethod
    def _same_owner(actual: str, wanted: str) -> bool:
        return wanted in actual.split("/")

    def ensure_file(
        self,
        path: str,
        data: bytes | str,
        mode: int = 0o644,
        owner: str = "root",
        group: str = "root",
    ) -> bool:
        """Upload only when content (sha256), mode or owner differ; True if it changed.

        The comparison is one remote command, so a converged host costs one round trip per
        file and a re-apply changes nothing (and restarts nothing)."""
        if isinstance(data, str):
            data = data.encode()
        st = self._stat(path, want_hash=True)
        if st is not None:
            cur_mode, cur_owner, cur_group, digest = st
            if (
                digest == hashlib.sha256(data).hexdigest()
                and cur_mode == mode
                and self._same_owner(cur_owner, owner)
                and self._same_owner(cur_group, group)
            ):
                return False
        self.put(data, path, mode=mode, owner=owner, group=group)
        return True

    def ensure_dir(
        self, path: str, mode: int = 0o755, owner: str = "root", group: str = "root"
    ) -> bool:
        """Create a directory (and missing parents) or fix its mode/owner; True if changed.
        Use 0700 for directories that hold keys."""
        st = self._stat(path, want_hash=False)
        if st is not None:
            cur_mode, cur_owner, cur_group, _ = st
            if (
                cur_mode == mode
                and self._same_owner(cur_owner, owner)
                and self._same_owner(cur_group, group)
            ):
                return False
        self.run(_install_dir_argv(path, mode, owner, group), stream=False)
        return True


#: A shell function printing the sha256 of stdin first on its line: openssl where there is one
#: (its SHA extensions make it ~4x cheaper than coreutils here), else sha256sum. Should openssl
#: fail half-way, sha256sum hashes the rest, the digest differs and the file counts as changed:
#: the safe side.
SHA256_SH = "sha256() { openssl dgst -sha256 -r 2>/dev/null || sha256sum; }"


def _bundle(
    uploads: Sequence[Upload],
    first: Sequence[Sequence[str]] = (),
    cache: str = digest_cache.PATH,
    *,
    compress: bool = True,
) -> tuple[list[bytes], str]:
    """(stdin chunks, remote script) for `put_many`. The stream is a tar archive of the files
    (named 0, 1, ... so no path from the plan ever reaches tar), compressed as a series of gzip
    members unless `compress` is off (then plain tar, large files' own bytes); the script
    unpacks it, checks every sha256, then installs in order."""
    q = shlex.quote
    chunks: list[bytes] = []
    pending = bytearray()  # small parts (headers, small files, padding) not compressed yet

    def flush() -> None:
        if pending:
            data = bytes(pending)
            chunks.append(gzip.compress(data, compresslevel=1, mtime=0) if compress else data)
            pending.clear()

    sums, installs, remembered = [], [], []
    for i, u in enumerate(uploads):
        if u.is_dir:
            installs.append(shlex.join(_install_dir_argv(u.path, u.mode, u.owner, u.group)))
            continue
        info = tarfile.TarInfo(str(i))
        info.size, info.mode = len(u.data), 0o600
        pending += info.tobuf(tarfile.USTAR_FORMAT)
        if u.gzipped is not None and compress:
            flush()
            chunks.append(u.gzipped if isinstance(u.gzipped, bytes) else u.gzipped())
        elif not compress and len(u.data) >= _CHUNK:
            flush()
            chunks.append(u.data)  # as it is: no copy into the pending buffer
        else:
            pending += u.data
        pending += b"\0" * (-len(u.data) % tarfile.BLOCKSIZE)
        sums.append(
            f's=$(sha256 < "$d/{i}"); [ "${{s%% *}}" = {q(u.digest)} ] || '
            f"{{ echo {q(f'sha256 mismatch after upload: {u.path}')} >&2; exit 1; }}"
        )
        installs.append(
            f'install -m {u.mode:04o} -o {q(u.owner)} -g {q(u.group)} -- "$d/{i}" {q(u.path)}'
        )
        if u.remember and digest_cache.cacheable(u.path):
            remembered.append(
                f'remember_digest {q(u.path)} {q(u.digest)} "$(digest_key {q(u.path)})"'
            )
    pending += b"\0" * (2 * tarfile.BLOCKSIZE)
    flush()
    script = "\n".join(
        [
            "umask 077",
            'd=$(mktemp -d "${TMPDIR:-/tmp}/hawizard.XXXXXXXX") || exit 1',
            "trap 'rm -rf -- \"$d\"' EXIT",
            f'{"gzip -dc | " if compress else ""}tar -x -f - -C "$d" || exit 1',
            SHA256_SH,
            *sums,
            "set -e",
            *(shlex.join(argv) for argv in first),
            *installs,
            *([digest_cache.shell(cache), "set +e", *remembered] if remembered else []),
        ]
    )
    return chunks, script
