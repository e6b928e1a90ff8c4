"""Groups of files a node must hold, compared in one round trip and written only when stale.

Every rollout (etcd, control plane) describes what a node needs as `RemoteFile`s; `files_step`
turns a group into a step whose `check` reads the node's (mode, owner, group, sha256) of all of
them at once and whose `apply` writes only the stale ones. A converged node therefore costs one
read-only command per group and is never written to.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Callable
from dataclasses import dataclass

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

    @property
    def digest(self) -> str:
        if self.is_dir:
            return "dir"
        return self.sha256 or hashlib.sha256(self.data).hexdigest()

    def upload(self) -> Upload:
        sha = "" if self.is_dir else self.digest
        return Upload(
            self.path, self.data, self.mode, self.owner, self.group, self.is_dir, sha, self.gzipped
        )


def directory(path: str, mode: int, owner: str = "root", group: str = "root") -> RemoteFile:
    return RemoteFile(path, b"", mode, owner, group, is_dir=True)


State = tuple[int, str, str, str]  # mode, owner, group, sha256 or "dir"


def states_script(paths: list[str]) -> str:
    """A read-only shell script printing the state of each existing path (`parse_states`)."""
    script = "; ".join(
        f"[ -e {shlex.quote(p)} ] && printf '%s\\n' {shlex.quote(p)} && "
        f"stat -c '%a %U %G' -- {shlex.quote(p)} && "
        f"{{ [ -d {shlex.quote(p)} ] && echo dir || sha256 < {shlex.quote(p)}; }}"
        for p in paths
    )
    return f"{SHA256_SH}\n{script}; true"


def file_states(host, paths: list[str]) -> dict[str, State]:
    """(mode, owner, group, sha256 or "dir") of each existing path, in one read-only command."""
    return parse_states(host.probe(states_script(paths), check=True).stdout)


def parse_states(text: str) -> dict[str, State]:
    out = text.splitlines()
    states: dict[str, State] = {}
    for i in range(0, len(out) - 2, 3):
        mode, owner, group = out[i + 1].split()
        states[out[i]] = (int(mode, 8), owner, group, out[i + 2][:64])
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
