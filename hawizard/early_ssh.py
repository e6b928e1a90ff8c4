"""SSH connections started before the rest of hawizard has even imported.

`hawizard apply` spends its first ~0.3 s importing (the plan model, paramiko, cryptography)
before it could open a connection, and every node then waits a round trip for TCP and another
for the server's identification line. SSH lets the client speak first: both sides send an
identification line as soon as the TCP connection is up (RFC 4253 §4.2), before key
exchange. So, using the standard library only, `start` reads the plan's node addresses
straight from its TOML, and one thread per node connects and sends hawizard's line while the
main thread imports; sshd meanwhile forks, answers with its line and its key-exchange offer.

`take` hands such a socket to paramiko later (`Host.connect`). paramiko does the whole key
exchange and verifies the host key against known_hosts exactly as on a fresh socket; it only
uses `IDENT` as its own identification line (it is part of the exchange hash, so it must be the
one the server saw), and `EarlySocket` swallows paramiko's copy of that line instead of
sending it twice. Nothing here changes what is trusted: a socket that was never taken, or
that waited longer than `MAX_AGE` (a prompt in between), is closed, and paramiko connects
afresh as it always did. Only a plan that loads and validates (the real loader: standard
library only) is dialled at all, so a plan `apply` refuses never reaches a node; anything odd
that validation lets through (an address that is neither an IP address nor a plain host name)
is skipped here too.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from hawizard import __version__

IDENT = f"SSH-2.0-hawizard_{__version__}"
MAX_AGE = 20.0  # seconds; sshd drops an unauthenticated connection after LoginGraceTime (120)
CONNECT_TIMEOUT = 10.0
_PLAN_LIMIT = 4 << 20  # the plan loader's own limit
_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")


class IdentMismatch(OSError):
    """paramiko was about to send an identification line other than the one sent early."""


class EarlySocket:
    """A connected socket whose identification line went out already. paramiko writes its
    own first (the same line: `local_version` is set to `IDENT`); those bytes are checked
    and dropped, everything after goes through untouched."""

    def __init__(self, sock: socket.socket, sent: bytes) -> None:
        self._sock = sock
        self._echo = sent

    def send(self, data: bytes) -> int:
        if not self._echo:
            return self._sock.send(data)
        n = min(len(data), len(self._echo))
        if bytes(data[:n]) != self._echo[:n]:
            raise IdentMismatch(
                f"paramiko's identification line {bytes(data[:n])!r} differs from the one "
                f"sent early {self._echo[:n]!r}"
            )
        self._echo = self._echo[n:]
        return n  # paramiko's write_all sends the rest (if any) in its next call

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[self.send(view) :]

    def __getattr__(self, name: str):  # recv, settimeout, close, getpeername, ...
        return getattr(self._sock, name)


@dataclass
class _Pending:
    address: str
    port: int
    started: float = field(default_factory=time.monotonic)
    sock: socket.socket | None = None
    error: OSError | None = None
    abandoned: bool = False
    done: threading.Event = field(default_factory=threading.Event)

    def run(self, timeout: float) -> None:
        try:
            sock = socket.create_connection((self.address, self.port), timeout=timeout)
            try:
                sock.sendall(f"{IDENT}\r\n".encode())
            except OSError:
                sock.close()
                raise
            with _lock:
                if self.abandoned:  # nobody will take it: the program moved on
                    sock.close()
                else:
                    self.sock = sock
        except OSError as exc:
            self.error = exc
        finally:
            self.done.set()


_lock = threading.Lock()
_pending: dict[tuple[str, int], _Pending] = {}


def start(plan_path: str | Path, *, role: str | None = None) -> int:
    """Begin connecting to the nodes of the plan at `plan_path` (those with `role`, when
    given) in background threads; return how many were started. Never raises: a plan this
    cannot read is reported by the real loader a moment later."""
    try:
        path = Path(plan_path)
        if not path.is_file() or path.stat().st_size > _PLAN_LIMIT:
            return 0
        text = path.read_text(encoding="utf-8")
        if not _valid(text, path):
            return 0
        targets = _targets(tomllib.loads(text), role)
    except (OSError, ValueError, TypeError, AttributeError, RecursionError):
        return 0
    started = 0
    with _lock:
        for address, port in targets:
            if (address, port) in _pending:
                continue
            pending = _Pending(address, port)
            _pending[(address, port)] = pending
            threading.Thread(
                target=pending.run,
                args=(CONNECT_TIMEOUT,),
                name=f"early-ssh-{address}",
                daemon=True,
            ).start()
            started += 1
    return started


def _valid(text: str, path: Path) -> bool:
    """Whether the plan loads and validates without an error: a plan that `apply` will refuse
    never makes a node see a connection (issue 25). The loader and the validator are the real
    ones, and import only the standard library (~30 ms here), so the early start keeps most of
    its head start over paramiko's import."""
    from hawizard.plan import PlanError, loads

    try:
        loads(text, path.resolve())
    except PlanError:
        return False
    return True


def _targets(raw: dict, role: str | None) -> list[tuple[str, int]]:
    out = []
    for node in raw.get("nodes", []):
        if not isinstance(node, dict):
            continue
        roles = node.get("roles")
        if role is not None and isinstance(roles, list) and role not in roles:
            continue
        address = node.get("address")
        ssh = node.get("ssh", {})
        port = ssh.get("port", 22) if isinstance(ssh, dict) else None
        if _plain_address(address) and type(port) is int and 1 <= port <= 65535:
            out.append((address, port))
    return out


def _plain_address(value: object) -> bool:
    """An IP address (no IPv6 scope) or a plain DNS name: nothing else is connected to early."""
    if not isinstance(value, str) or not value or "%" in value:
        return False
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return _HOSTNAME.fullmatch(value) is not None


def take(address: str, port: int) -> EarlySocket | None:
    """The early connection to address:port, once; None when there is none, it failed fast
    (refused, unreachable: connecting again costs nothing and reports it the usual way), or
    it is older than `MAX_AGE`. An attempt that timed out raises TimeoutError: waiting the
    whole connect timeout a second time would only double an unreachable node's delay."""
    with _lock:
        pending = _pending.pop((address, port), None)
    if pending is None:
        return None
    pending.done.wait(CONNECT_TIMEOUT + 1)
    sock = pending.sock
    if sock is None:
        if isinstance(pending.error, TimeoutError):
            raise TimeoutError(f"connecting to {address}:{port} timed out")
        return None
    if time.monotonic() - pending.started > MAX_AGE:
        sock.close()
        return None
    return EarlySocket(sock, f"{IDENT}\r\n".encode())


def close_all() -> None:
    """Close every connection nobody took (e.g. the plan failed validation), without waiting
    for attempts still under way: they close their socket themselves when they finish."""
    with _lock:
        pending = list(_pending.values())
        _pending.clear()
        for p in pending:
            p.abandoned = True
            if p.sock is not None:
                p.sock.close()
