"""Apiserver probes: `/livez` and `/readyz?verbose` on every master, over HTTPS with the
admin client certificate, concurrently, each request bounded by a short timeout.

A master whose apiserver is not listening (connection refused) is reported as NOT_RUNNING —
a fact about the cluster, not an error of the probe — so `hawizard status` can show a staged
control plane without failing. Nothing here raises for a bad master; every outcome is a row.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum

from hawizard.control_plane.render import APISERVER_PORT
from hawizard.pki.layout import paths
from hawizard.plan import Node, Plan

__all__ = [
    "ApiserverHealth",
    "ApiserverState",
    "client_context",
    "probe_apiserver",
    "probe_apiservers",
]

DEFAULT_TIMEOUT = 2.0
_BODY_LIMIT = 64 * 1024


class ApiserverState(StrEnum):
    READY = "ready"  # /livez and /readyz both 200
    NOT_READY = "not ready"  # alive, but /readyz fails (e.g. etcd unreachable)
    NOT_LIVE = "not live"  # answers, but /livez fails
    NOT_RUNNING = "not running"  # nothing listens on :6443 (connection refused)
    UNREACHABLE = "unreachable"  # no answer in time (host down, partition)
    ERROR = "error"  # TLS or protocol failure, or no client certificate to probe with


@dataclass(frozen=True)
class ApiserverHealth:
    node: str
    url: str
    state: ApiserverState
    livez: bool | None = None  # None: not asked / no answer
    readyz: bool | None = None
    failed_checks: tuple[str, ...] = ()  # `[-]name failed: ...` lines of /readyz?verbose
    error: str = ""
    latency_ms: float | None = None  # of the /livez request

    @property
    def ok(self) -> bool:
        return self.state is ApiserverState.READY


class _Refused(Exception):
    pass


def client_context(plan: Plan) -> ssl.SSLContext:
    """TLS context that trusts the Kubernetes CA and presents the admin client cert.

    Raises OSError/ssl.SSLError when the files are missing or unusable.
    """
    layout = paths(plan)
    ctx = ssl.create_default_context(cafile=str(layout.kubernetes_ca.cert))
    ctx.load_cert_chain(str(layout.admin.cert), str(layout.admin.key))
    return ctx


def probe_apiserver(
    plan: Plan,
    node: Node,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    port: int = APISERVER_PORT,
    context: ssl.SSLContext | None = None,
) -> ApiserverHealth:
    """Ask one master's apiserver `/livez` then `/readyz?verbose`, both within `timeout`.

    The timeout is a total deadline, not a per-read one: a server that sends a byte just
    before every read timeout (a "dripping" server) would otherwise hold the probe forever.
    """
    deadline = time.monotonic() + timeout
    host = node.url_host
    url = f"https://{host}:{port}"
    if context is None:
        try:
            context = client_context(plan)
        except (OSError, ssl.SSLError) as exc:
            return ApiserverHealth(
                node.name, url, ApiserverState.ERROR, error=f"no admin client certificate: {exc}"
            )
    try:
        start = time.monotonic()
        live_status, _ = _get(node.address, port, "/livez", deadline, context)
        latency = (time.monotonic() - start) * 1000
        if live_status != 200:
            return ApiserverHealth(
                node.name, url, ApiserverState.NOT_LIVE, livez=False, latency_ms=latency
            )
        ready_status, body = _get(node.address, port, "/readyz?verbose", deadline, context)
    except _Refused:
        return ApiserverHealth(
            node.name, url, ApiserverState.NOT_RUNNING, error="connection refused"
        )
    except TimeoutError:
        return ApiserverHealth(
            node.name, url, ApiserverState.UNREACHABLE, error=f"no answer within {timeout:g} s"
        )
    except ssl.SSLError as exc:
        return ApiserverHealth(node.name, url, ApiserverState.ERROR, error=f"TLS: {exc}")
    except (OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return ApiserverHealth(node.name, url, ApiserverState.UNREACHABLE, error=reason)
    failed = tuple(line.strip() for line in body.splitlines() if line.strip().startswith("[-]"))
    ready = ready_status == 200
    return ApiserverHealth(
        node.name,
        url,
        ApiserverState.READY if ready else ApiserverState.NOT_READY,
        livez=True,
        readyz=ready,
        failed_checks=failed,
        error="" if ready else f"/readyz answered {ready_status}",
        latency_ms=latency,
    )


def probe_apiservers(
    plan: Plan,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    port: int = APISERVER_PORT,
    nodes: tuple[Node, ...] | None = None,
) -> list[ApiserverHealth]:
    """Every master (or `nodes`) at once; rows in plan order. Bounded by about 2 x timeout."""
    nodes = plan.control_plane_nodes if nodes is None else nodes
    if not nodes:
        return []
    try:
        context: ssl.SSLContext | None = client_context(plan)
    except (OSError, ssl.SSLError):
        context = None  # each row then reports the missing certificate itself
    with ThreadPoolExecutor(max_workers=min(len(nodes), 16)) as pool:
        return list(
            pool.map(
                lambda n: probe_apiserver(plan, n, timeout=timeout, port=port, context=context),
                nodes,
            )
        )


def _get(
    address: str, port: int, path: str, deadline: float, context: ssl.SSLContext
) -> tuple[int, str]:
    """One GET that ends by `deadline` whatever the server does: a watchdog shuts the socket
    down at the deadline, which wakes any blocked handshake or read at once."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    try:
        sock = socket.create_connection((address, port), timeout=left)
    except ConnectionRefusedError:
        raise _Refused from None
    cut = threading.Event()
    # A duplicate descriptor of the same connection: `wrap_socket` detaches `sock`, but a
    # shutdown through the twin still ends the connection and wakes the blocked read.
    twin = sock.dup()

    def watchdog() -> None:
        cut.set()
        with contextlib.suppress(OSError):
            twin.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(max(deadline - time.monotonic(), 0), watchdog)
    timer.daemon = True
    timer.start()
    # The cert carries the node's address as an IP SAN: verify against the address we dialed.
    conn = http.client.HTTPSConnection(address, port, timeout=left, context=context)
    try:
        try:
            conn.sock = context.wrap_socket(sock, server_hostname=address)
        except BaseException:
            sock.close()
            raise
        conn.request("GET", path, headers={"Accept": "text/plain"})
        resp = conn.getresponse()
        return resp.status, resp.read(_BODY_LIMIT).decode(errors="replace")
    except (OSError, http.client.HTTPException):
        if cut.is_set():
            raise TimeoutError from None
        raise
    finally:
        timer.cancel()
        conn.close()
        sock.close()
        twin.close()
