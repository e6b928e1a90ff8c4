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

Only the standard library talks to the network here: `ssl` + `http.client`.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from hawizard.health import ClusterHealth, ProbePath, ProbeResult, build
from hawizard.pki import CertInfo, ca_specs, describe_certificate, leaf_specs, load_certificate
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
        return cls(layout.etcd_ca.cert, layout.etcd_admin.cert, layout.etcd_admin.key)

    def context(self, *, verify: bool = True) -> ssl.SSLContext:
        """Verifies the chain (and expiry) but not the host name: members are dialled by
        address and a wrong name is *reported* (`served_cert_names_host`), not fatal, so the
        operator still sees the member's state. `verify=False` is only used to fetch a cert
        that failed verification, for display; no request is sent on such a connection."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.check_hostname = False
        if verify:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(cafile=str(self.ca))
        else:
            ctx.verify_mode = ssl.CERT_NONE
        ctx.load_cert_chain(str(self.cert), str(self.key))
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


class _Deadline:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.end = time.monotonic() + timeout

    def left(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return left


def probe_member(
    target: Target,
    ctx: ssl.SSLContext,
    timeout: float,
    *,
    unverified_ctx: ssl.SSLContext | None = None,
    handle: _Handle | None = None,
) -> ProbeResult:
    """Probe one member within `timeout` seconds in total. Never raises for network trouble:
    the result's `error` says what failed and during which step."""
    start = time.monotonic()
    deadline = _Deadline(timeout)
    handle = handle or _Handle()
    step = "connect"
    found: dict[str, Any] = {}
    try:
        raw = socket.create_connection((target.host, target.port), timeout=deadline.left())
        handle.attach(raw)
        # http.client may write headers and body separately; without NODELAY Nagle and the
        # server's delayed ACK add ~40 ms to every POST
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        step = "TLS handshake"
        raw.settimeout(deadline.left())
        try:
            sock = ctx.wrap_socket(raw, server_hostname=target.host)
        except ssl.SSLCertVerificationError as exc:
            raw.close()
            served = _fetch_unverified(target, unverified_ctx, deadline)
            return ProbeResult(
                name=target.name,
                endpoint=target.endpoint,
                host=target.host,
                served_cert=served,
                served_cert_verified=False if served else None,
                served_cert_names_host=_names_host(served, target.host) if served else None,
                elapsed_s=time.monotonic() - start,
                error=f"TLS: the served certificate fails verification ({exc.verify_message})",
            )
        handle.attach(sock)
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
            step = f"{method} {url}"
            t0 = time.monotonic()
            body, problem = _call(conn, method, url, deadline, handle)
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
        path=ProbePath.DIRECT,
        elapsed_s=time.monotonic() - start,
        error=error,
        **found,
    )


def _call(
    conn: http.client.HTTPSConnection,
    method: str,
    url: str,
    deadline: _Deadline,
    handle: _Handle,
) -> tuple[dict[str, Any] | None, str]:
    """One gateway call on the open connection: the decoded JSON body (even from a 503 —
    `/health` explains itself that way) and a problem text, empty when all is well."""
    if conn.sock is None:  # the member closed the connection after the previous answer
        conn.timeout = deadline.left()
        conn.connect()
        handle.attach(conn.sock)
    sock = conn.sock  # held: http.client drops conn.sock when an answer says "close"
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
    target: Target, ctx: ssl.SSLContext | None, deadline: _Deadline
) -> CertInfo | None:
    """The cert a member serves although it failed verification: shown, never trusted."""
    if ctx is None:
        return None
    try:
        with socket.create_connection((target.host, target.port), timeout=deadline.left()) as raw:
            raw.settimeout(deadline.left())
            with ctx.wrap_socket(raw, server_hostname=target.host) as sock:
                return _served(sock)
    except (OSError, ValueError):
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


# --- a round ----------------------------------------------------------------------------------


def probe_round(
    members: Sequence[Target], tls: ClientTLS, timeout: float = 2.0
) -> list[ProbeResult]:
    """Probe every member concurrently; returns in the order given, within timeout + grace."""
    if not members:
        return []
    ctx = tls.context()
    unverified = tls.context(verify=False)
    handles = [_Handle() for _ in members]
    pool = ThreadPoolExecutor(max_workers=len(members), thread_name_prefix="etcd-probe")
    try:
        futures = [
            pool.submit(probe_member, t, ctx, timeout, unverified_ctx=unverified, handle=h)
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
    plan: Plan, timeout: float | None = None, *, tls: ClientTLS | None = None
) -> ClusterHealth:
    """One probe round against every etcd node of the plan, judged into a `ClusterHealth`.

    `timeout` bounds each member (default `plan.etcd.probe_timeout`); the whole call takes
    at most about timeout + 0.5 s however many members are down.
    """
    timeout = plan.etcd.probe_timeout if timeout is None else timeout
    start = time.monotonic()
    results = probe_round(targets(plan), tls or ClientTLS.for_plan(plan), timeout)
    local, expected = local_certificates(plan)
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
        health = cluster_health(plan, probe_timeout, tls=tls)
        if on_round is not None:
            on_round(health)
        if health.converged:
            return health
        left = deadline - time.monotonic()
        if left <= 0:
            raise ClusterNotHealthy(_why(health, timeout), health)
        time.sleep(min(interval, left))


def _why(health: ClusterHealth, timeout: float) -> str:
    findings = list(health.problems) or ["no member reports a leader"]
    return f"etcd is not healthy after {timeout:g}s ({health.summary}): " + "; ".join(findings[:5])
