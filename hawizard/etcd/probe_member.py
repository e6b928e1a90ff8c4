"""One member's probe: a TLS connection to its client URL (direct, or through the SSH
tunnel a `Connector` opens) carrying the three calls of etcd's JSON gateway, all under one
total deadline, with the certificate it serves captured even when verification fails.

See `hawizard.etcd.probe` for the round that runs these for every member at once.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from hawizard.etcd.gateway_http import BadResponse, GatewayConnection
from hawizard.health import ProbePath, ProbeResult
from hawizard.pki import (
    CertInfo,
    describe_certificate,
    trusted_ca_file,
)
from hawizard.pki import paths as pki_paths
from hawizard.plan import Plan

ROUND_GRACE = 0.5  # seconds a round waits beyond the per-member timeout before giving up
MAX_BODY = 1 << 20  # a status answer is a few hundred bytes; never read unbounded


@dataclass(frozen=True)
class Target:
    """One member to probe: its plan name and the address:port of its client URL."""

    name: str
    host: str
    port: int

    @property
    def endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"


@dataclass(frozen=True)
class ClientTLS:
    """The operator's client identity and the CA that every member's cert must chain to."""

    ca: Path
    cert: Path
    key: Path

    @classmethod
    def for_plan(cls, plan: Plan) -> ClientTLS:
        layout = pki_paths(plan)
        # during a CA rotation: the bundle of old and new CA (`pki.rotation`)
        return cls(trusted_ca_file(plan), layout.etcd_admin.cert, layout.etcd_admin.key)

    def context(self, *, verify: bool = True) -> ssl.SSLContext:
        """Verifies the chain (and expiry) but not the host name: members are dialled by
        address and a wrong name is *reported* (`served_cert_names_host`), not fatal, so the
        operator still sees the member's state. `verify=False` is only used to fetch a cert
        that failed verification, for display; no request is sent on such a connection, and
        it presents no client certificate: the operator's admin cert is only ever shown to a
        server that proved it holds a certificate of the cluster's CA."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.check_hostname = False
        if verify:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(cafile=str(self.ca))
            ctx.load_cert_chain(str(self.cert), str(self.key))
        else:
            ctx.verify_mode = ssl.CERT_NONE
        return ctx


def targets(plan: Plan) -> list[Target]:
    return [Target(n.name, n.address, plan.etcd.client_port) for n in plan.etcd_nodes]


# --- one member -------------------------------------------------------------------------------


class _Handle:
    """Lets the round shut a straggler's socket; a shut socket wakes a blocked recv at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._aborted = False

    def attach(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            if self._aborted:
                _shut(sock)

    @property
    def aborted(self) -> bool:
        return self._aborted

    def abort(self) -> None:
        with self._lock:
            self._aborted = True
            if self._sock is not None:
                _shut(self._sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class Deadline:
    """One total time budget for a member: every blocking step gets what is left of it."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.end = time.monotonic() + timeout

    def left(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return left


Connector = Callable[[Target, "Deadline"], socket.socket]


def connect_direct(target: Target, deadline: Deadline) -> socket.socket:
    """A plain TCP connection from this machine to the member's client URL."""
    raw = socket.create_connection((target.host, target.port), timeout=deadline.left())
    # a request is one write (`gateway_http`), but NODELAY keeps any split write from
    # waiting on Nagle and the server's delayed ACK (~40 ms a POST)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return raw


def probe_member(
    target: Target,
    ctx: ssl.SSLContext,
    timeout: float,
    *,
    unverified_ctx: ssl.SSLContext | None = None,
    handle: _Handle | None = None,
    connect: Connector = connect_direct,
    path: ProbePath = ProbePath.DIRECT,
) -> ProbeResult:
    """Probe one member within `timeout` seconds in total. Never raises for network trouble:
    the result's `error` says what failed and during which step. `connect` opens the byte
    stream (direct TCP, or an SSH tunnel); TLS and HTTP run over it either way."""
    start = time.monotonic()
    deadline = Deadline(timeout)
    handle = handle or _Handle()
    state = {"step": "connect"}  # what was under way when something failed
    found: dict[str, Any] = {}

    def open_tls() -> ssl.SSLSocket:
        state["step"] = "connect"
        raw = connect(target, deadline)
        handle.attach(raw)
        state["step"] = "TLS handshake"
        raw.settimeout(deadline.left())
        try:
            sock = ctx.wrap_socket(raw, server_hostname=target.host)
        except BaseException:
            raw.close()
            raise
        handle.attach(sock)
        return sock

    try:
        try:
            sock = open_tls()
        except ssl.SSLCertVerificationError as exc:
            served = _fetch_unverified(target, unverified_ctx, deadline, connect)
            return _unverified(target, path, served, time.monotonic() - start, exc)
        found["connected"] = True
        found["connect_ms"] = (time.monotonic() - start) * 1000
        served = _served(sock)
        found["served_cert"] = served
        found["served_cert_verified"] = True
        found["served_cert_names_host"] = _names_host(served, target.host) if served else None
        conn = GatewayConnection(target.host, target.port, sock)  # all three calls on it
        error = _three_calls(conn, open_tls, deadline, found, state)
    except TimeoutError:
        error = f"no answer within {timeout:g}s (during {state['step']})"
    except ConnectionRefusedError:
        error = "connection refused"
    except TunnelError as exc:
        error = f"SSH tunnel: {exc}"
    except ssl.SSLError as exc:
        error = f"TLS: {exc.reason or exc}"  # e.g. our client cert rejected
    except (OSError, BadResponse) as exc:
        if handle.aborted:  # the round gave up and shut the socket under us
            error = f"no answer within {timeout:g}s (during {state['step']})"
        else:
            error = f"{state['step']}: {_os_error(exc)}"
    return ProbeResult(
        name=target.name,
        endpoint=target.endpoint,
        host=target.host,
        path=path,
        elapsed_s=time.monotonic() - start,
        error=error,
        **found,
    )


_CALLS = (
    ("status", "POST", "/v3/maintenance/status"),
    ("members", "POST", "/v3/cluster/member/list"),
    ("health", "GET", "/health"),  # last: the quorum read that hangs on a sick member
)


def _three_calls(
    conn: GatewayConnection,
    open_tls: Callable[[], ssl.SSLSocket],
    deadline: Deadline,
    found: dict[str, Any],
    state: dict[str, str],
) -> str:
    """The gateway's three calls on one connection (a new one if the member closed it);
    their answers go into `found`. Returns what failed, "" when nothing did."""
    errors: list[str] = []
    for key, method, url in _CALLS:
        if conn.sock is None:  # the member closed the connection after its last answer
            conn.sock = open_tls()
        state["step"] = f"{method} {url}"
        t0 = time.monotonic()
        body, problem = _call(conn, method, url, deadline)
        if key == "status":
            found["rtt_ms"] = (time.monotonic() - t0) * 1000
        if body is not None:
            found[key] = body
        if problem:
            errors.append(f"{url}: {problem}")
    conn.close()
    return "; ".join(errors)


def _unverified(
    target: Target,
    path: ProbePath,
    served: CertInfo | None,
    elapsed: float,
    exc: ssl.SSLCertVerificationError,
) -> ProbeResult:
    """A member whose certificate fails verification: what it serves, and why it fails."""
    return ProbeResult(
        name=target.name,
        endpoint=target.endpoint,
        host=target.host,
        path=path,
        served_cert=served,
        served_cert_verified=False if served else None,
        served_cert_names_host=_names_host(served, target.host) if served else None,
        elapsed_s=elapsed,
        error=f"TLS: the served certificate fails verification ({exc.verify_message})",
    )


def _call(
    conn: GatewayConnection,
    method: str,
    url: str,
    deadline: Deadline,
) -> tuple[dict[str, Any] | None, str]:
    """One gateway call on the open connection: the decoded JSON body (even from a 503 —
    `/health` explains itself that way) and a problem text, empty when all is well."""
    sock = conn.sock
    assert sock is not None
    sock.settimeout(deadline.left())
    status, raw = conn.request(method, url, b"{}" if method == "POST" else None, MAX_BODY)
    try:
        body = json.loads(raw)
    except ValueError:
        text = raw[:200].decode(errors="replace").strip()
        return None, f"HTTP {status}: {text or 'not JSON'}"
    if not isinstance(body, dict):
        return None, f"HTTP {status}: unexpected answer"
    if status != 200 and "health" not in body:
        return None, f"HTTP {status}: {body.get('message') or body.get('error') or body}"
    return body, ""


def _served(sock: ssl.SSLSocket) -> CertInfo | None:
    der = sock.getpeercert(binary_form=True)
    return describe_certificate(x509.load_der_x509_certificate(der)) if der else None


def _fetch_unverified(
    target: Target, ctx: ssl.SSLContext | None, deadline: Deadline, connect: Connector
) -> CertInfo | None:
    """The cert a member serves although it failed verification: shown, never trusted.

    `ctx` presents no client certificate (the operator's is only shown to verified servers),
    so a member that requires one ends a TLS 1.2 handshake early. The handshake runs over
    memory buffers, keeping every byte the server sent: its Certificate message (plain text
    in TLS 1.2) is read from them when the handshake fails. TLS 1.3 completes the client side
    of the handshake before the server judges the (absent) client cert, so there the
    certificate comes from the finished handshake.
    """
    if ctx is None:
        return None
    try:
        with connect(target, deadline) as raw:
            raw.settimeout(deadline.left())
            incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            tls = ctx.wrap_bio(incoming, outgoing, server_hostname=target.host)
            seen = bytearray()
            while True:
                try:
                    tls.do_handshake()
                except ssl.SSLWantReadError:
                    if outgoing.pending:
                        raw.sendall(outgoing.read())
                    raw.settimeout(max(deadline.left(), 0.01))
                    chunk = raw.recv(65536)
                    if not chunk:
                        break
                    seen += chunk
                    incoming.write(chunk)
                    continue
                except ssl.SSLError:
                    break
                if outgoing.pending:  # our last flight: the server sees a whole handshake
                    raw.sendall(outgoing.read())
                der = tls.getpeercert(binary_form=True)
                return describe_certificate(x509.load_der_x509_certificate(der)) if der else None
            der = _certificate_message(bytes(seen))
            return describe_certificate(x509.load_der_x509_certificate(der)) if der else None
    except (OSError, ValueError, EOFError):
        return None


def _certificate_message(data: bytes) -> bytes | None:
    """The first certificate of a TLS 1.2 server's Certificate handshake message (RFC 5246
    7.4.2) in the raw bytes it sent, or None (TLS 1.3 encrypts it; then there is none)."""
    handshake = bytearray()
    i = 0
    while i + 5 <= len(data):
        kind, length = data[i], int.from_bytes(data[i + 3 : i + 5], "big")
        if kind == 22:  # handshake record
            handshake += data[i + 5 : i + 5 + length]
        i += 5 + length
    j = 0
    while j + 4 <= len(handshake):
        kind, length = handshake[j], int.from_bytes(handshake[j + 1 : j + 4], "big")
        body = handshake[j + 4 : j + 4 + length]
        if kind == 11 and len(body) >= 6:  # Certificate: list length (3), cert length (3)
            size = int.from_bytes(body[3:6], "big")
            der = bytes(body[6 : 6 + size])
            return der if len(der) == size else None
        j += 4 + length
    return None


def _names_host(info: CertInfo, host: str) -> bool:
    """Does the cert name the address (or DNS name) we dialled? (RFC 6125, no wildcards.)"""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host.lower() in (d.lower() for d in info.dns_names)
    return any(ipaddress.ip_address(a) == ip for a in info.ip_addresses)


def _os_error(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host ({exc.strerror})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


class TunnelError(OSError):
    """The SSH leg failed (host unreachable, key not trusted, login refused, channel denied)."""
