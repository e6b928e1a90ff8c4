"""Health probes: ask every etcd member directly, over HTTPS, how it is doing.

From the operator's machine, with the operator's client certificate (`etcd-admin`) and the
etcd CA, one TLS connection per member carries three calls of etcd's JSON gateway:
`POST /v3/maintenance/status` (local facts: id, leader, raft term/index, DB size; its time
is the member's round trip), `POST /v3/cluster/member/list`, and `GET /health` (last: it needs
a quorum read, so it is the call that hangs on a sick member).

All members are probed at once; each gets one *total* deadline (connect + handshake + the
three calls), so a blackholed member costs its timeout, not three, and never delays the
others. The round also waits at most timeout + a short grace, then gives up on any straggler
and shuts its socket. The certificate each member serves is captured in the handshake (even
when it fails verification), so a stale or swapped cert shows up in `ClusterHealth`.

Optionally (`SshMode.FALLBACK`, `hawizard status --ssh-fallback`), a member the direct path
cannot reach is tried again through an SSH tunnel to its own host (`ssh_connector`); its row
then says `path = ssh`. TLS, the client cert and the three calls are the same on either path.

Only the standard library talks to the etcd members: `ssl` + `http.client` (paramiko only
carries the bytes on the SSH path).
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography import x509

from hawizard.health import ClusterHealth, ProbePath, ProbeResult, build
from hawizard.pki import (
    CertInfo,
    ca_specs,
    describe_certificate,
    leaf_specs,
    load_certificate,
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
    # http.client may write headers and body separately; without NODELAY, Nagle and the
    # server's delayed ACK add ~40 ms to every POST
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
    step = "connect"
    found: dict[str, Any] = {}

    def open_tls() -> ssl.SSLSocket:
        nonlocal step
        step = "connect"
        raw = connect(target, deadline)
        handle.attach(raw)
        step = "TLS handshake"
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
            return ProbeResult(
                name=target.name,
                endpoint=target.endpoint,
                host=target.host,
                path=path,
                served_cert=served,
                served_cert_verified=False if served else None,
                served_cert_names_host=_names_host(served, target.host) if served else None,
                elapsed_s=time.monotonic() - start,
                error=f"TLS: the served certificate fails verification ({exc.verify_message})",
            )
        found["connected"] = True
        found["connect_ms"] = (time.monotonic() - start) * 1000
        served = _served(sock)
        found["served_cert"] = served
        found["served_cert_verified"] = True
        found["served_cert_names_host"] = _names_host(served, target.host) if served else None
        conn = http.client.HTTPSConnection(target.host, target.port, timeout=timeout, context=ctx)
        conn.sock = sock  # reuse the verified connection for all three calls
        errors: list[str] = []
        for key, method, url in (
            ("status", "POST", "/v3/maintenance/status"),
            ("members", "POST", "/v3/cluster/member/list"),
            ("health", "GET", "/health"),
        ):
            if conn.sock is None:  # the member closed the connection after its last answer
                conn.sock = open_tls()
            step = f"{method} {url}"
            t0 = time.monotonic()
            body, problem = _call(conn, method, url, deadline)
            if key == "status":
                found["rtt_ms"] = (time.monotonic() - t0) * 1000
            if body is not None:
                found[key] = body
            if problem:
                errors.append(f"{url}: {problem}")
        conn.close()
        error = "; ".join(errors)
    except TimeoutError:
        error = f"no answer within {timeout:g}s (during {step})"
    except ConnectionRefusedError:
        error = "connection refused"
    except TunnelError as exc:
        error = f"SSH tunnel: {exc}"
    except ssl.SSLError as exc:
        error = f"TLS: {exc.reason or exc}"  # e.g. our client cert rejected
    except (OSError, http.client.HTTPException) as exc:
        if handle.aborted:  # the round gave up and shut the socket under us
            error = f"no answer within {timeout:g}s (during {step})"
        else:
            error = f"{step}: {_os_error(exc)}"
    return ProbeResult(
        name=target.name,
        endpoint=target.endpoint,
        host=target.host,
        path=path,
        elapsed_s=time.monotonic() - start,
        error=error,
        **found,
    )


def _call(
    conn: http.client.HTTPSConnection,
    method: str,
    url: str,
    deadline: Deadline,
) -> tuple[dict[str, Any] | None, str]:
    """One gateway call on the open connection: the decoded JSON body (even from a 503 —
    `/health` explains itself that way) and a problem text, empty when all is well."""
    sock = conn.sock  # held: http.client drops conn.sock when an answer says "close"
    assert sock is not None
    sock.settimeout(deadline.left())
    body_out = b"{}" if method == "POST" else None
    headers = {"Content-Type": "application/json"} if body_out else {}
    conn.request(method, url, body=body_out, headers=headers)
    response = conn.getresponse()
    sock.settimeout(deadline.left())
    raw = response.read(MAX_BODY)
    try:
        body = json.loads(raw)
    except ValueError:
        text = raw[:200].decode(errors="replace").strip()
        return None, f"HTTP {response.status}: {text or 'not JSON'}"
    if not isinstance(body, dict):
        return None, f"HTTP {response.status}: unexpected answer"
    if response.status != 200 and "health" not in body:
        return None, f"HTTP {response.status}: {body.get('message') or body.get('error') or body}"
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


# --- the SSH path -----------------------------------------------------------------------------


class TunnelError(OSError):
    """The SSH leg failed (host unreachable, key not trusted, login refused, channel denied)."""


def ssh_connector(plan: Plan) -> Connector:
    """Reach a member through an SSH connection to its own host: a `direct-tcpip` channel to
    the member's client address, opened from the node itself (so a firewall between the
    operator and port 2379 does not matter). Host keys are checked exactly as for every other
    SSH connection (`hawizard.remote.Host`). The channel is bridged to a socketpair so TLS
    and HTTP run over it unchanged; the bridge ends, and the SSH connection closes, when the
    probe closes its end."""

    # paramiko logs a refused channel as an ERROR; the probe result already says it, so keep
    # it off the operator's terminal unless the application configures logging itself
    logging.getLogger("paramiko").addHandler(logging.NullHandler())

    def connect(target: Target, deadline: Deadline) -> socket.socket:
        import paramiko

        from hawizard.remote import Host, HostKeyError, RemoteError, Timeouts

        left = deadline.left()
        host = Host.from_plan(
            plan, target.name, timeouts=Timeouts(connect=left, banner=left, auth=left)
        )
        try:
            chan = host.open_tunnel(target.host, target.port, timeout=deadline.left())
        except TimeoutError:
            host.close()
            raise
        except paramiko.ChannelException as exc:
            host.close()
            raise TunnelError(
                f"{target.name} could not open {target.host}:{target.port} for us "
                f"({exc.text.lower()}: refused or nothing listening)"
            ) from None
        except (HostKeyError, RemoteError, paramiko.SSHException, OSError, EOFError) as exc:
            host.close()
            raise TunnelError(str(exc) or type(exc).__name__) from None
        ours, theirs = socket.socketpair()
        threading.Thread(
            target=_bridge, args=(chan, theirs, host), daemon=True, name="etcd-probe-ssh"
        ).start()
        return ours

    return connect


def _bridge(chan: Any, sock: socket.socket, host: Any) -> None:
    """Copy bytes both ways between an SSH channel and a local socket until either ends."""
    try:
        while True:
            ready, _, _ = select.select([chan, sock], [], [], 1.0)
            if chan in ready:
                data = chan.recv(65536)
                if not data:
                    break
                sock.sendall(data)
            if sock in ready:
                data = sock.recv(65536)
                if not data:
                    break
                chan.sendall(data)
    except OSError:
        pass
    finally:
        chan.close()
        sock.close()
        host.close()


# --- a round ----------------------------------------------------------------------------------


class SshMode(StrEnum):
    """When to use the SSH path: never, for members the direct path cannot reach, always."""

    OFF = "off"
    FALLBACK = "fallback"
    ALWAYS = "always"


def probe_round(
    members: Sequence[Target],
    tls: ClientTLS,
    timeout: float = 2.0,
    *,
    ssh: Connector | None = None,
    ssh_mode: SshMode = SshMode.OFF,
) -> list[ProbeResult]:
    """Probe every member concurrently; returns in the order given.

    Direct only, the round takes at most timeout + 0.5 s. With `ssh_mode` FALLBACK, members
    the direct path could not connect to at all (refused, no route, no TCP/TLS handshake in
    time) are tried again through `ssh`, concurrently, with a fresh timeout: such a member
    may cost up to twice its timeout. ALWAYS uses only the SSH path.
    """
    if not members:
        return []
    ctx = tls.context()
    unverified = tls.context(verify=False)
    if ssh_mode is SshMode.ALWAYS and ssh is not None:
        return _concurrently(members, ctx, unverified, timeout, ssh, ProbePath.SSH)
    results = _concurrently(members, ctx, unverified, timeout, connect_direct, ProbePath.DIRECT)
    if ssh_mode is SshMode.FALLBACK and ssh is not None:
        retry = [i for i, r in enumerate(results) if not r.connected and r.served_cert is None]
        if retry:
            again = _concurrently(
                [members[i] for i in retry], ctx, unverified, timeout, ssh, ProbePath.SSH
            )
            for i, r in zip(retry, again, strict=True):
                if r.connected or r.served_cert is not None:
                    results[i] = r
                else:
                    results[i] = replace(
                        results[i], error=f"{results[i].error}; over SSH: {r.error}"
                    )
    return results


def _concurrently(
    members: Sequence[Target],
    ctx: ssl.SSLContext,
    unverified: ssl.SSLContext,
    timeout: float,
    connect: Connector,
    path: ProbePath,
) -> list[ProbeResult]:
    handles = [_Handle() for _ in members]
    pool = ThreadPoolExecutor(max_workers=len(members), thread_name_prefix="etcd-probe")
    try:
        futures = [
            pool.submit(
                probe_member,
                t,
                ctx,
                timeout,
                unverified_ctx=unverified,
                handle=h,
                connect=connect,
                path=path,
            )
            for t, h in zip(members, handles, strict=True)
        ]
        done, _ = wait(futures, timeout=timeout + ROUND_GRACE)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    results = []
    for target, future, handle in zip(members, futures, handles, strict=True):
        if future in done:
            results.append(future.result())
        else:
            handle.abort()
            results.append(
                ProbeResult(
                    target.name,
                    target.endpoint,
                    target.host,
                    path=path,
                    elapsed_s=timeout + ROUND_GRACE,
                    error=f"no answer within {timeout:g}s",
                )
            )
    return results


# --- the cluster ------------------------------------------------------------------------------


def local_certificates(plan: Plan) -> tuple[dict[str, CertInfo], dict[str, CertInfo]]:
    """(every readable cert of the local PKI by PKI name, member name -> its server cert)."""
    layout = pki_paths(plan)
    server_of = {layout.etcd_server(n).cert: n.name for n in plan.etcd_nodes}
    local: dict[str, CertInfo] = {}
    served: dict[str, CertInfo] = {}
    for spec in (*ca_specs(plan).values(), *leaf_specs(plan)):
        try:
            info = describe_certificate(load_certificate(spec.paths.cert))
        except (OSError, ValueError):
            continue  # missing or broken: `hawizard certs check` is the place to say so
        local[spec.name] = info
        if spec.paths.cert in server_of:
            served[server_of[spec.paths.cert]] = info
    return local, served


def cluster_health(
    plan: Plan,
    timeout: float | None = None,
    *,
    tls: ClientTLS | None = None,
    ssh: SshMode = SshMode.OFF,
) -> ClusterHealth:
    """One probe round against every etcd node of the plan, judged into a `ClusterHealth`.

    `timeout` bounds each member (default `plan.etcd.probe_timeout`); the whole call takes
    at most about timeout + 0.5 s however many members are down (twice that for members
    retried over SSH with `ssh=SshMode.FALLBACK`). Each member row says which path answered.
    """
    timeout = plan.etcd.probe_timeout if timeout is None else timeout
    start = time.monotonic()
    connector = ssh_connector(plan) if ssh is not SshMode.OFF else None
    # the local PKI is read while the members answer: the files cost about as much as a round
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-certs") as pool:
        certs = pool.submit(local_certificates, plan)
        results = probe_round(
            targets(plan), tls or ClientTLS.for_plan(plan), timeout, ssh=connector, ssh_mode=ssh
        )
        local, expected = certs.result()
    return build(plan, results, local, expected, duration_s=time.monotonic() - start)


class ClusterNotHealthy(Exception):
    """`wait_healthy` gave up; `health` is the last round, `reason` says what was missing."""

    def __init__(self, reason: str, health: ClusterHealth) -> None:
        super().__init__(reason)
        self.reason = reason
        self.health = health


def wait_healthy(
    plan: Plan,
    timeout: float = 60.0,
    interval: float = 1.0,
    *,
    probe_timeout: float | None = None,
    on_round: Callable[[ClusterHealth], None] | None = None,
    tls: ClientTLS | None = None,
    ssh: SshMode = SshMode.OFF,
) -> ClusterHealth:
    """Poll until `ClusterHealth.converged` (every plan member healthy, one agreed leader,
    nobody unexpected), then return that health; raise `ClusterNotHealthy` after `timeout`.

    `on_round` sees every round (progress output). Rounds never overlap; the last round
    starts no later than `timeout`, so the call returns within about timeout + probe_timeout.
    """
    probe_timeout = plan.etcd.probe_timeout if probe_timeout is None else probe_timeout
    tls = tls or ClientTLS.for_plan(plan)
    deadline = time.monotonic() + timeout
    while True:
        health = cluster_health(plan, probe_timeout, tls=tls, ssh=ssh)
        if on_round is not None:
            on_round(health)
        if health.converged:
            return health
        left = deadline - time.monotonic()
        if left <= 0:
            raise ClusterNotHealthy(why_not_healthy(health, timeout), health)
        time.sleep(min(interval, left))


def why_not_healthy(health: ClusterHealth, timeout: float) -> str:
    findings = list(health.problems) or ["no member reports a leader"]
    return f"etcd is not healthy after {timeout:g}s ({health.summary}): " + "; ".join(findings[:5])
