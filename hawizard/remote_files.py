"""Groups of files a node must hold, compared in one round trip and written only when stale.

Every rollout (etcd, control plane) describes what a node needs as `RemoteFile`s; `files_step`
turns a group into a step whose `check` reads the node's (mode, owner, group, sha256) of all of
them at once and whose `apply` writes only the stale ones. A converged node therefore costs one
read-only command per group and is never written to.
"""

from __future__ import annotations

import hashlib
import shlex
import stat
from collections.abc import Callable
from dataclasses import dataclass

from hawizard import digest_cache
from hawizard.remote import SHA256_SH, Upload
from hawizard.steps import Step

__all__ = [
    "RemoteFile",
    "State",
    "directory",
    "file_states",
    "files_step",
    "parse_states",
    "stale_files",
    "states_script",
    "write_files",
]


@dataclass(frozen=True)
class RemoteFile:
    path: str
    data: bytes
    mode: int
    owner: str = "root"
    group: str = "root"
    is_dir: bool = False
    # For large files: a gzip-compressed copy of `data`, made only when an upload is needed.
    gzipped: Callable[[], bytes] | None = None
    # For large files: the sha256 of `data` when it is known already (hashed once per run).
    sha256: str = ""
    # For large files: the node remembers its digest (`hawizard.digest_cache`), so checking
    # an unchanged copy later costs a `stat` instead of hashing it.
    remember: bool = False

    @property
    def digest(self) -> str:
        if self.is_dir:
            return "dir"
        return self.sha256 or hashlib.sha256(self.data).hexdigest()

    def upload(self) -> Upload:
        sha = "" if self.is_dir else self.digest
        return Upload(
            self.path,
            self.data,
            self.mode,
            self.owner,
            self.group,
            self.is_dir,
            sha,
            self.gzipped,
            self.remember,
        )


def directory(path: str, mode: int, owner: str = "root", group: str = "root") -> RemoteFile:
    return RemoteFile(path, b"", mode, owner, group, is_dir=True)


State = tuple[int, str, str, str]  # mode, owner, group, sha256 or "dir"


_DIGESTS_MARK = "@@hawizard-digests"
_ODD_MARK = "@@hawizard-odd"


def _plain(path: str) -> bool:
    """A path `stat` and `sha256sum` print as is, one per line (absolute, no newline, no
    backslash, which `sha256sum` would escape)."""
    return path.startswith("/") and "\n" not in path and "\\" not in path


def states_script(
    paths: list[str],
    *,
    cached: frozenset[str] | set[str] = frozenset(),
    record: bool = False,
    cache: str = digest_cache.PATH,
) -> str:
    """A shell script printing the state of each existing path (`parse_states`).

    A handful of processes for the whole group, not a few per path: one `stat` for every
    path, one hashing command for every regular file (a converged node spent most of a
    re-apply starting `stat` and `openssl` once per certificate). The sha256 of a path in
    `cached` comes from the node's digest cache while the file is unchanged
    (`hawizard.digest_cache`); `record` lets the script remember the ones it had to compute
    (the script's only write; a dry run passes False and writes nothing). Paths that could
    not be printed one per line take the slow way, one at a time."""
    q = shlex.quote
    plain = [p for p in paths if _plain(p)]
    odd = [p for p in paths if not _plain(p)]
    use_cache = {p for p in cached if digest_cache.cacheable(p)}
    hashed = [p for p in plain if p not in use_cache]
    remember = " record" if record else ""
    lines = [SHA256_SH]
    if use_cache:
        lines.append(digest_cache.shell(cache))
    if plain:
        lines += [
            "set --",
            f'for p in {" ".join(q(p) for p in plain)}; do [ -e "$p" ] && set -- "$@" "$p"; done',
            "[ $# -gt 0 ] && stat -c '%a %U %G %f %n' -- \"$@\"",
        ]
    lines.append(f"echo {_DIGESTS_MARK}")
    if hashed:
        lines += [
            "set --",
            f'for p in {" ".join(q(p) for p in hashed)}; do [ -f "$p" ] && set -- "$@" "$p"; done',
            '[ $# -gt 0 ] && { openssl dgst -sha256 -r "$@" 2>/dev/null || sha256sum -- "$@"; }',
        ]
    lines += [
        f'[ -f {q(p)} ] && echo "$(cached_sha256 {q(p)}{remember}) *"{q(p)}'
        for p in plain
        if p in use_cache
    ]
    lines.append(f"echo {_ODD_MARK}")
    lines += [  # named by their place among the odd paths: they cannot be printed safely
        f"[ -e {q(p)} ] && echo {i} && stat -c '%a %U %G' -- {q(p)} && "
        f"{{ [ -d {q(p)} ] && echo dir || sha256 < {q(p)}; }}"
        for i, p in enumerate(odd)
    ]
    lines.append("true")
    return "\n".join(lines)


def file_states(
    host, paths: list[str], *, cached: frozenset[str] | set[str] = frozenset()
) -> dict[str, State]:
    """(mode, owner, group, sha256 or "dir") of each existing path, in one command; the
    digests of `cached` paths (large binaries) from the node's digest cache, which a run
    that is not a dry run keeps up to date."""
    script = states_script(paths, cached=cached, record=not getattr(host, "dry_run", False))
    return parse_states(host.probe(script, check=True).stdout, paths)


def parse_states(text: str, paths: list[str]) -> dict[str, State]:
    """What `states_script(paths)` printed: the states of the paths that exist."""
    head, _, rest = text.partition(f"{_DIGESTS_MARK}\n")
    digests_text, _, odd_text = rest.partition(f"{_ODD_MARK}\n")
    digests = {}
    for line in digests_text.splitlines():
        if len(line) > 66 and line[64] == " ":
            digests[line[66:]] = line[:64]
    states: dict[str, State] = {}
    for line in head.splitlines():
        parts = line.split(" ", 4)
        if len(parts) != 5:
            continue
        mode, owner, group, raw, path = parts
        is_dir = stat.S_ISDIR(int(raw, 16))
        states[path] = (int(mode, 8), owner, group, "dir" if is_dir else digests.get(path, ""))
    odd = [p for p in paths if not _plain(p)]
    out = odd_text.splitlines()
    for i in range(0, len(out) - 2, 3):
        mode, owner, group = out[i + 1].split()
        if out[i].isdigit() and int(out[i]) < len(odd):
            states[odd[int(out[i])]] = (int(mode, 8), owner, group, out[i + 2][:64])
    return states


def stale_files(
    host, files: list[RemoteFile], states: dict[str, State] | None = None
) -> list[RemoteFile]:
    """The files whose content, mode or owner differ on the node (missing ones included);
    `states` when they were read already in this run (one round trip less)."""
    if states is None:
        states = file_states(host, [f.path for f in files])
    return [f for f in files if states.get(f.path) != (f.mode, f.owner, f.group, f.digest)]


def write_files(host, files: list[RemoteFile], *, first: list[list[str]] | None = None) -> None:
    """Write files in order (directories first in the list, so later files have a parent),
    all through one channel: one tar stream, every sha256 checked on the node. `first`:
    commands run in that same channel before the files are installed."""
    host.put_many([f.upload() for f in files], first=first or ())
    if host.on_output is not None:
        for f in files:
            host.on_output(f"wrote {f.path} ({f.mode:04o} {f.owner}:{f.group})")


def files_step(
    node: str,
    title: str,
    files: Callable[[], list[RemoteFile]],
    *,
    after: Callable[[object, list[RemoteFile]], None] | None = None,
) -> Step:
    """A step that makes `files()` true on `node`; `after(host, written)` runs once they are
    written (a daemon-reload, noting a restart). check and apply of one step run in order on
    one worker, so the stale list passes between them without a lock."""
    stale: list[RemoteFile] = []

    def check(host) -> bool:
        stale[:] = stale_files(host, files())
        return bool(stale)

    def apply(host) -> None:
        write_files(host, stale)
        if after is not None:
            after(host, list(stale))

    return Step(node, title, check, apply)
